"""WGAN-GP (Gulrajani et al. 2017, *Improved Training of Wasserstein GANs*).

A critic trained `n_critic` times per generator update on the Wasserstein loss plus a gradient
penalty on random interpolates (weight 10), Adam(1e-4, beta_1=0, beta_2=0.9). Each critic update
sees its own real batch: the model asks the trainer for `batches_per_step = n_critic` batches a
step (one tensor of n_critic * batch_size images), dealt out here: image i goes to critic update
i mod n_critic. Dealing rather than cutting the tensor into consecutive blocks keeps each critic
batch the same under a tf.distribute strategy, which gives each replica a consecutive block of the
tensor (with its share of every critic batch). The critic is DCGAN's without batch normalization
(layer norm instead), since the penalty is per sample.
"""

import keras
import tensorflow as tf

from zoo import losses
from zoo.models import base
from zoo.models.dcgan import DCGANDiscriminator, DCGANGenerator
from zoo.models.gan import GAN, generators, reject_aids
from zoo.registry import register


class WGANGP(GAN):
    """GAN with a Wasserstein critic, a gradient penalty and n_critic critic steps per step."""

    def compile(self, generator_optimizer, discriminator_optimizer, n_critic=5, gradient_penalty_weight=10.0,
                ema_decay=0.0):
        super().compile(generator_optimizer, discriminator_optimizer, loss="wasserstein", ema_decay=ema_decay)
        self.n_critic = int(n_critic)
        self.gradient_penalty_weight = float(gradient_penalty_weight)

    @property
    def batches_per_step(self):
        return self.n_critic

    def train_step(self, batch, seed):
        images = batch["image"]
        real_batches = tf.unstack(tf.reshape(images, [-1, self.n_critic, *images.shape[1:]]), axis=1)
        seeds = tf.unstack(base.split_seed(seed, 3 * self.n_critic + 2))
        for index, real_images in enumerate(real_batches):
            batch_size = tf.shape(real_images)[0]
            z = base.replica_normal([batch_size, self.latent_dim], seeds[3 * index])
            dropout_seed = seeds[3 * index + 1]
            critic = lambda images: self.discriminator(images, training=True, seed=dropout_seed)  # noqa: E731
            with tf.GradientTape() as tape:
                fake_images = self.generator(z, training=True)
                critic_loss = losses.wasserstein_discriminator_loss(critic(real_images), critic(fake_images))
                penalty = losses.gradient_penalty(critic, real_images, fake_images, seeds[3 * index + 2])
                total = critic_loss + self.gradient_penalty_weight * penalty
            base.apply_update(tape, total, self.discriminator, self.discriminator_optimizer)

        z = base.replica_normal([tf.shape(real_batches[0])[0], self.latent_dim], seeds[-2])
        with tf.GradientTape() as tape:
            fake_logits = self.discriminator(self.generator(z, training=True), training=True, seed=seeds[-1])
            generator_loss = losses.wasserstein_generator_loss(fake_logits)
        self.update_generator(tape, generator_loss)
        # -critic_loss estimates the Wasserstein distance (up to the critic's Lipschitz constant).
        return {"critic_loss": critic_loss, "gradient_penalty": penalty, "generator_loss": generator_loss,
                "wasserstein_estimate": -critic_loss}


# Aids this model declares it cannot use, and why (see `zoo.models.gan.reject_aids`).
UNSUPPORTED_AIDS = {"diffaugment": "its critic updates (and their gradient penalty) have no augmentation hook yet; "
                                   "diffaugment is in the plain GAN update (mlp-style, DCGAN, conditional)"}


@register("wgan_gp")
def wgan_gp(config, spec):
    """WGAN-GP with DCGAN networks and a layer-normalized critic."""
    image_shape, num_classes = base.image_data(spec, "wgan_gp")
    del num_classes  # Unconditional.
    reject_aids(config, "wgan_gp", UNSUPPORTED_AIDS)
    generator, ema_generator = generators(
        lambda name: DCGANGenerator(image_shape, config.generator_width, config.kernel_size, name=name), config)
    critic = DCGANDiscriminator(image_shape, config.discriminator_width, config.kernel_size,
                                normalization="layer", output_bias=False, name="discriminator")
    model = WGANGP(generator, critic, config.latent_dim, image_shape, ema_generator=ema_generator)
    adam = lambda rate: keras.optimizers.Adam(rate, beta_1=config.beta_1, beta_2=config.beta_2)  # noqa: E731
    model.compile(adam(config.generator_learning_rate), adam(config.discriminator_learning_rate),
                  n_critic=config.n_critic, gradient_penalty_weight=config.gradient_penalty_weight,
                  ema_decay=config.get("ema_decay", 0.0))
    return model
