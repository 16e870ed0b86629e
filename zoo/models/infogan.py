"""InfoGAN (Chen et al. 2016, *InfoGAN: Interpretable Representation Learning by Information
Maximizing Generative Adversarial Nets*).

The generator reads noise z plus structured codes: one categorical code (one-hot, 10 values) and
continuous codes uniform in [-1, 1]. An auxiliary head Q on the discriminator's trunk predicts the
codes back from generated images; maximizing that mutual-information lower bound (cross-entropy
for the categorical code, Gaussian log-likelihood with unit variance for the continuous ones) is
added, weighted, to both players' losses. DCGAN networks, the paper's learning rates (G 1e-3,
D 2e-4). With DiffAugment on, Q reads the augmented fakes, as the real/fake head does: the codes
must then survive the augmentation (a translation keeps a garment's class and shape, so the
categorical code is not blurred by it; cutout can hide what a continuous code varies).

Serving: `serving_default(seed)` draws noise and codes from the seed; `from_latent(z, categorical,
continuous)` takes them explicitly, so a client can vary one code and hold the rest.
"""

import keras
import tensorflow as tf

from zoo.data.base import IMAGE
from zoo.errors import UserError
from zoo.models import base
from zoo.models.dcgan import DCGANDiscriminator, DCGANGenerator
from zoo.models.gan import GAN, make_gan
from zoo.contract import Evaluation, Input, Interface, Signature
from zoo.registry import register


class InfoDiscriminator(base.CompositeNetwork):
    """DCGAN trunk -> (real/fake logit, Q head: categorical logits and continuous-code means)."""

    def __init__(self, image_shape, width, kernel_size, categories, continuous, normalization="batch", **kwargs):
        super().__init__(**kwargs)
        self.trunk = DCGANDiscriminator(image_shape, width, kernel_size, normalization=normalization, name="trunk")
        self.q_hidden = keras.layers.Dense(128)
        self.q_out = keras.layers.Dense(categories + continuous)
        self.categories = categories

    def call(self, images, training=False, seed=None):
        features = self.trunk.features(images, training=training, seed=seed)
        q = self.q_out(keras.ops.leaky_relu(self.q_hidden(features), 0.2))
        return self.trunk.out(features), q[:, : self.categories], q[:, self.categories :]


class InfoGAN(GAN):
    """GAN + mutual-information term between the codes and the generated images."""

    def __init__(self, generator, discriminator, latent_dim, image_shape, noise_dim, categories, continuous,
                 info_weight=1.0, **kwargs):
        super().__init__(generator, discriminator, latent_dim, image_shape, **kwargs)
        self.noise_dim, self.categories, self.continuous = int(noise_dim), int(categories), int(continuous)
        self.info_weight = float(info_weight)

    def _latent(self, z, categorical, continuous):
        return tf.concat([z, tf.one_hot(categorical, self.categories), continuous], axis=-1)

    def _draw(self, batch_size, seed):
        seeds = tf.unstack(base.split_seed(seed, 3))
        z = base.replica_normal([batch_size, self.noise_dim], seeds[0])
        categorical = base.replica_uniform([batch_size], seeds[1], maxval=self.categories, dtype=tf.int64)
        continuous = base.replica_uniform([batch_size, self.continuous], seeds[2], minval=-1.0, maxval=1.0)
        return z, categorical, continuous

    def _info_loss(self, categorical, continuous, category_logits, continuous_means):
        cross_entropy = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=categorical, logits=category_logits))
        gaussian = 0.5 * tf.reduce_mean(tf.reduce_sum(tf.square(continuous_means - continuous), axis=-1))
        return cross_entropy + gaussian

    # The hooks of the shared update (zoo.models.gan.GAN.train_step): fake samples carry their
    # codes, the discriminator's Q head predicts them, and both players add the information term.

    def fake(self, batch, seed):
        z, categorical, continuous = self._draw(tf.shape(batch[IMAGE])[0], seed)
        images = self.generator(self._latent(z, categorical, continuous), training=True)
        return {"images": images, "categorical": categorical, "continuous": continuous}

    def discriminate(self, sample, augment_seed, seed):
        logits, category_logits, continuous_means = self.discriminator(
            self.augment(sample["images"], augment_seed), training=True, seed=seed)
        return {"logits": logits, "category_logits": category_logits, "continuous_means": continuous_means}

    def _weighted_info_loss(self, fake, fake_outputs):
        loss = self._info_loss(fake["categorical"], fake["continuous"], fake_outputs["category_logits"],
                               fake_outputs["continuous_means"])
        return loss if self.info_weight == 1.0 else self.info_weight * loss

    def extra_discriminator_losses(self, real, fake, real_outputs, fake_outputs):
        return {"discriminator_info_loss": self._weighted_info_loss(fake, fake_outputs)}

    def extra_generator_losses(self, batch, fake, fake_outputs):
        del batch
        return {"info_loss": self._weighted_info_loss(fake, fake_outputs)}

    def _codes_from_seeds(self, seeds):
        """Categorical and continuous codes as pure functions of each seed (like the noise)."""
        def one(seed):
            categorical = tf.random.stateless_uniform([], seed=tf.stack([seed, tf.constant(1, tf.int64)]),
                                                      maxval=self.categories, dtype=tf.int64)
            continuous = tf.random.stateless_uniform([self.continuous], seed=tf.stack([seed, tf.constant(2, tf.int64)]),
                                                     minval=-1.0, maxval=1.0)
            return categorical, continuous

        return tf.map_fn(one, seeds, fn_output_signature=(tf.TensorSpec([], tf.int64),
                                                          tf.TensorSpec([self.continuous], tf.float32)))

    def _images(self, z, categorical, continuous):
        latent = self._latent(z, categorical, continuous)
        return {"images": base.to_uint8(self.sampling_generator(latent, training=False))}

    def serving_signatures(self):
        """`serving_default(seed)`, and `from_latent(z, categorical, continuous)` with explicit codes."""

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="seed")])
        def serving_default(seed):
            with tf.control_dependencies([base.check_serving_batch(seed, "seed")]):
                z = base.latents_from_seeds(seed, self.noise_dim)
                categorical, continuous = self._codes_from_seeds(seed)
            return self._images(z, categorical, continuous)

        @tf.function(input_signature=[tf.TensorSpec([None, self.noise_dim], tf.float32, name="z"),
                                      tf.TensorSpec([None], tf.int64, name="categorical"),
                                      tf.TensorSpec([None, self.continuous], tf.float32, name="continuous")])
        def from_latent(z, categorical, continuous):
            message = f"categorical: every code must be between 0 and {self.categories - 1}"
            checks = [
                base.check_serving_batch(z, "z"),
                tf.debugging.assert_equal(tf.shape(categorical)[0], tf.shape(z)[0],
                                          message="categorical: needs one code per row of z"),
                tf.debugging.assert_equal(tf.shape(continuous)[0], tf.shape(z)[0],
                                          message="continuous: needs one row per row of z"),
                tf.debugging.assert_non_negative(categorical, message=message),
                tf.debugging.assert_less(categorical, tf.constant(self.categories, tf.int64), message=message),
            ]
            z, categorical, continuous = base.checked(checks, z, categorical, continuous)
            return self._images(z, categorical, continuous)

        return base.answering_empty_batches({"serving_default": serving_default, "from_latent": from_latent})

    def interface(self):
        """`serving_default(seed)` draws noise and codes from the seed; `from_latent` takes them."""
        inputs = [Input("z", "latent", "float32", (self.noise_dim,)),
                  Input("categorical", "categorical_code", "int64", num_values=self.categories),
                  Input("continuous", "uniform_code", "float32", (self.continuous,), low=-1.0, high=1.0)]
        return Interface(
            [Signature("serving_default", [Input("seed", "seed", "int64")], {"images": "images"}),
             Signature("from_latent", inputs, {"images": "images"})],
            evaluations=[Evaluation("samples", "serving_default", reference=IMAGE)],
            preview="samples")

    def export_info(self):
        return {**super().export_info(), "latent_dim": self.noise_dim, "categorical_codes": self.categories,
                "continuous_codes": self.continuous}


@register("infogan")
def infogan(config, spec):
    """InfoGAN with DCGAN networks: one categorical code and `continuous_codes` uniform codes."""
    image_shape, num_classes = base.image_data(spec, "infogan")
    del num_classes  # Unsupervised: the categorical code is learned, not given.
    if config.categorical_codes < 2 or config.continuous_codes < 0:
        raise UserError(f"infogan needs categorical_codes >= 2 and continuous_codes >= 0, got "
                        f"{config.categorical_codes} and {config.continuous_codes}")
    latent_dim = config.noise_dim + config.categorical_codes + config.continuous_codes
    discriminator = InfoDiscriminator(image_shape, config.discriminator_width, config.kernel_size,
                                      config.categorical_codes, config.continuous_codes,
                                      normalization=config.get("discriminator_normalization", "batch"),
                                      name="discriminator")
    config = config.copy_and_resolve_references()
    config.latent_dim = latent_dim
    return make_gan("infogan", lambda name: DCGANGenerator(image_shape, config.generator_width, config.kernel_size, name=name),
                    discriminator, config, image_shape, model_class=InfoGAN,
                    noise_dim=config.noise_dim, categories=config.categorical_codes,
                    continuous=config.continuous_codes, info_weight=config.info_weight)
