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
from zoo.models.gan import GAN, reject_aids
from zoo.registry import register


def keras_io_generator(image_shape, latent_dim):
    height, _, channels = image_shape
    doublings = num_upsamplings(height, max_doublings=3)
    size = height // 2**doublings
    layers = [keras.Input((latent_dim,)), keras.layers.Dense(size * size * 128), keras.layers.Reshape((size, size, 128))]
    for level in range(doublings):
        layers += [keras.layers.Conv2DTranspose(128 * 2**level, 4, strides=2, padding="same"), keras.layers.LeakyReLU(0.2)]
    layers.append(keras.layers.Conv2D(channels, 5, padding="same", activation="tanh"))
    return keras.Sequential(layers, name="generator")


class KerasIODiscriminator(keras.Model):
    """Conv(64)-Conv(128)-Conv(128), stride 2, LeakyReLU 0.2; flatten; dropout 0.2; one logit."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.convs = [keras.layers.Conv2D(filters, 4, strides=2, padding="same") for filters in (64, 128, 128)]
        self.flatten = keras.layers.Flatten()
        self.out = keras.layers.Dense(1)

    def call(self, images, training=False, seed=None, groups=1):
        """`groups`: how many batches `images` concatenates (see `zoo.models.base.dropout`)."""
        x = images
        for conv in self.convs:
            x = keras.ops.leaky_relu(conv(x), 0.2)
        return self.out(base.dropout(self.flatten(x), 0.2, seed, training, groups=groups))


class KerasIODCGAN(GAN):
    """GAN whose train_step follows keras-io's: inverted, noisy labels and one combined D batch."""

    def train_step(self, batch, seed):
        real_images = batch["image"]
        batch_size = tf.shape(real_images)[0]
        seeds = tf.unstack(base.split_seed(seed, 5))

        z = base.replica_normal([batch_size, self.latent_dim], seeds[0])
        # One batch of fakes then reals: the label noise and dropout masks are those of the global
        # fakes then the global reals (groups=2), whatever the number of replicas.
        combined = tf.concat([self.generator(z, training=True), real_images], axis=0)
        labels = tf.concat([tf.ones([batch_size, 1]), tf.zeros([batch_size, 1])], axis=0)
        labels += 0.05 * base.replica_uniform([2 * batch_size, 1], seeds[1], groups=2)
        with tf.GradientTape() as tape:
            logits = self.discriminator(combined, training=True, seed=seeds[2], groups=2)
            discriminator_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
        base.apply_update(tape, discriminator_loss, self.discriminator, self.discriminator_optimizer)

        z = base.replica_normal([batch_size, self.latent_dim], seeds[3])
        with tf.GradientTape() as tape:
            logits = self.discriminator(self.generator(z, training=True), training=True, seed=seeds[4])
            # "Misleading labels": generated images labelled real (0).
            generator_loss = tf.reduce_mean(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.zeros_like(logits), logits=logits))
        base.apply_update(tape, generator_loss, self.generator, self.generator_optimizer)
        return {"discriminator_loss": discriminator_loss, "generator_loss": generator_loss}


# A baseline reproduces keras-io's recipe as published: no aid may change it.
UNSUPPORTED_AIDS = {"diffaugment": "it reproduces keras-io's published recipe, which has no augmentation",
                    "ema_decay": "it reproduces keras-io's published recipe, which samples the raw generator"}


@register("keras_io_dcgan", not_shipped="a benchmark baseline: the keras-io recipe re-implemented to compare "
          "the zoo's DCGAN against, not a model to use (dcgan ships instead)")
def keras_io_dcgan(config, spec):
    """keras-io's DCGAN recipe (see the module docstring), for benchmark comparisons."""
    image_shape, num_classes = base.image_data(spec, "keras_io_dcgan")
    del num_classes  # Unconditional.
    reject_aids(config, "keras_io_dcgan", UNSUPPORTED_AIDS)
    model = KerasIODCGAN(keras_io_generator(image_shape, config.latent_dim), KerasIODiscriminator(name="discriminator"),
                         config.latent_dim, image_shape)
    model.compile(
        generator_optimizer=keras.optimizers.Adam(config.generator_learning_rate),
        discriminator_optimizer=keras.optimizers.Adam(config.discriminator_learning_rate),
    )
    return model
