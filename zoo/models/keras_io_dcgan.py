"""The keras-io "DCGAN overriding train_step" example, re-implemented as a benchmark baseline.

Source: keras-io examples/generative/dcgan_overriding_train_step.py (CelebA 64x64). Kept: its
layer pattern (Dense -> transposed convolutions of 128/256/... filters with LeakyReLU 0.2 and no
batch norm; a 64/128/128 strided-convolution discriminator with dropout 0.2), its latent size
(128), its optimizers (Adam 1e-4, Keras defaults otherwise), batch size 32, and its training
recipe: the discriminator labels real images 0 and generated ones 1, with uniform label noise of
0.05 added ("important trick"), and binary cross-entropy. Adapted: the number of upsamplings
follows the image size (2 for 28x28 instead of 3 for 64x64), and the output is tanh since zoo's
data lies in [-1, 1] (keras-io scales to [0, 1] with a sigmoid).
"""

import keras
import tensorflow as tf

from zoo.models import base
from zoo.models.dcgan import num_upsamplings
from zoo.models.gan import GAN, make_gan
from zoo.registry import register


def keras_io_generator(image_shape, latent_dim, name="generator"):
    height, _, channels = image_shape
    doublings = num_upsamplings(height, max_doublings=3)
    size = height // 2**doublings
    layers = [keras.Input((latent_dim,)), keras.layers.Dense(size * size * 128), keras.layers.Reshape((size, size, 128))]
    for level in range(doublings):
        layers += [keras.layers.Conv2DTranspose(128 * 2**level, 4, strides=2, padding="same"), keras.layers.LeakyReLU(0.2)]
    layers.append(keras.layers.Conv2D(channels, 5, padding="same", activation="tanh"))
    return keras.Sequential(layers, name=name)


class KerasIODiscriminator(keras.Model):
    """Conv(64)-Conv(128)-Conv(128), stride 2, LeakyReLU 0.2; flatten; dropout 0.2; one logit."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.convs = [keras.layers.Conv2D(filters, 4, strides=2, padding="same") for filters in (64, 128, 128)]
        self.flatten = keras.layers.Flatten()
        self.out = keras.layers.Dense(1)

    def call(self, images, training=False, seed=None):
        x = images
        for conv in self.convs:
            x = keras.ops.leaky_relu(conv(x), 0.2)
        return self.out(base.dropout(self.flatten(x), 0.2, seed, training))


def _cross_entropy(labels, logits):
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)


class KerasIODCGAN(GAN):
    """The shared GAN update with keras-io's loss pair: inverted, noisy labels.

    keras-io scores one batch of fakes then reals; here the discriminator scores them in two calls,
    which is the same function (it has no batch statistics) with other dropout draws. The loss is
    the mean over both halves, as over keras-io's combined batch.
    """

    unsupported_aids = {aid: "it reproduces keras-io's published recipe, which has none of the aids"
                        for aid in ("diffaugment", "ema_decay", "real_label", "r1_gamma", "gradient_penalty_weight")}

    def discriminator_loss(self, real_outputs, fake_outputs, seed):
        """Real images labelled 0 and generated ones 1, plus uniform label noise of 0.05 ("important trick")."""
        real_logits, fake_logits = real_outputs["logits"], fake_outputs["logits"]
        noise = 0.05 * base.replica_uniform([tf.shape(real_logits)[0], 2], seed)
        real = _cross_entropy(tf.zeros_like(real_logits) + noise[:, :1], real_logits)
        fake = _cross_entropy(tf.ones_like(fake_logits) + noise[:, 1:], fake_logits)
        return 0.5 * (tf.reduce_mean(real) + tf.reduce_mean(fake))

    def generator_loss(self, fake_outputs):
        """"Misleading labels": generated images labelled real (0)."""
        logits = fake_outputs["logits"]
        return tf.reduce_mean(_cross_entropy(tf.zeros_like(logits), logits))


@register("keras_io_dcgan", not_shipped="a benchmark baseline: the keras-io recipe re-implemented to compare "
          "the zoo's DCGAN against, not a model to use (dcgan ships instead)")
def keras_io_dcgan(config, spec):
    """keras-io's DCGAN recipe (see the module docstring), for benchmark comparisons."""
    image_shape, num_classes = base.image_data(spec, "keras_io_dcgan")
    del num_classes  # Unconditional.
    return make_gan("keras_io_dcgan", lambda name: keras_io_generator(image_shape, config.latent_dim, name),
                    KerasIODiscriminator(name="discriminator"), config, image_shape, model_class=KerasIODCGAN,
                    defaults={"beta_1": 0.9})  # keras-io keeps Adam's defaults.
