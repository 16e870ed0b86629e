"""The GAN algorithm (Goodfellow et al. 2014) and its MLP networks.

`GAN` owns a generator, a discriminator and their optimizers, and alternates one discriminator
update with one generator update per step. The networks are interchangeable: `mlp_gan` uses
fully connected ones (as in the original paper), `zoo.models.dcgan` convolutional ones.
"""

import math

import keras
import tensorflow as tf

from zoo import losses
from zoo.data import augment
from zoo.errors import UserError
from zoo.models import base
from zoo.registry import register


class MLPGenerator(keras.Model):
    """Maps a latent vector to an image through fully connected ReLU layers and a tanh output."""

    def __init__(self, image_shape, hidden_units=(256, 512, 1024), **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.hidden = [keras.layers.Dense(units, activation="relu") for units in hidden_units]
        self.out = keras.layers.Dense(math.prod(self.image_shape), activation="tanh")
        self.reshape = keras.layers.Reshape(self.image_shape)

    def call(self, z, training=False):
        x = z
        for layer in self.hidden:
            x = layer(x)
        return self.reshape(self.out(x))


class MLPDiscriminator(keras.Model):
    """Scores an image with fully connected LeakyReLU layers and dropout; returns one logit."""

    def __init__(self, hidden_units=(512, 256), dropout=0.3, **kwargs):
        super().__init__(**kwargs)
        self.flatten = keras.layers.Flatten()
        self.hidden = [keras.layers.Dense(units) for units in hidden_units]
        self.activation = keras.layers.LeakyReLU(0.2)
        self.dropout_rate = float(dropout)
        self.out = keras.layers.Dense(1)

    def call(self, images, training=False, seed=None):
        x = self.flatten(images)
        for index, layer in enumerate(self.hidden):
            layer_seed = None if seed is None else tf.random.experimental.stateless_fold_in(seed, index)
            x = base.dropout(self.activation(layer(x)), self.dropout_rate, layer_seed, training)
        return self.out(x)


class GAN(keras.Model):
    """An unconditional GAN: one discriminator step, then one generator step, per batch.

    With an `ema_generator` (a second instance of the generator's architecture) and `ema_decay` > 0,
    every generator update also moves an exponential moving average of the generator's weights
    (Karras et al. 2018; Yazıcı et al. 2019); sampling, evaluation and export then read the
    average (`sampling_generator`) instead of the raw weights.
    """

    def __init__(self, generator, discriminator, latent_dim, image_shape, ema_generator=None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.ema_generator = ema_generator
        self.latent_dim = int(latent_dim)
        self.image_shape = tuple(image_shape)
        self.ema_decay = 0.0

    def compile(self, generator_optimizer, discriminator_optimizer, loss="non_saturating", real_label=1.0,
                diffaugment="", ema_decay=0.0):
        """Attaches the optimizers, the adversarial loss pair (see `zoo.losses`), one-sided label
        smoothing (`real_label` < 1), a DiffAugment policy ("color,translation,cutout") and the
        generator-EMA decay (0: off)."""
        super().compile()
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.generator_loss_fn, self.discriminator_loss_fn = losses.get_pair(loss)
        self.real_label = float(real_label)
        self.diffaugment = augment.parse_policy(diffaugment)
        # Fail at build time, not at the first step, for a loss that has no label to smooth.
        self.discriminator_loss_fn(tf.zeros([1, 1]), tf.zeros([1, 1]), real_label=self.real_label)
        if not 0.0 <= ema_decay < 1.0:
            raise UserError(f"ema_decay must be in [0, 1) (0: off), got {ema_decay}")
        if ema_decay and self.ema_generator is None:
            raise UserError(f"{self.name} was built without an ema_generator; ema_decay needs one")
        self.ema_decay = float(ema_decay)

    @property
    def sampling_generator(self):
        """The network that samples, is evaluated and is exported: the EMA copy when EMA is on."""
        return self.ema_generator if self.ema_decay else self.generator

    def build_ema(self, *inputs):
        """Builds the EMA copy from the same inputs as the generator and starts it at its weights."""
        if not self.ema_decay:
            return
        self.ema_generator(*inputs)
        for average, value in zip(self.ema_generator.variables, self.generator.variables, strict=True):
            average.assign(value)

    def update_generator(self, tape, loss):
        """The generator's optimizer step, then the EMA update when EMA is on."""
        base.apply_update(tape, loss, self.generator, self.generator_optimizer)
        if self.ema_decay:
            self._update_ema()

    def _update_ema(self):
        # The decay ramps up as in tf.train.ExponentialMovingAverage(num_updates=...), so early
        # averages are not dominated by the random initialization.
        step = tf.cast(self.generator_optimizer.iterations, tf.float32)
        decay = tf.minimum(self.ema_decay, (1.0 + step) / (10.0 + step))
        pairs = [(average.value, value.value)
                 for average, value in zip(self.ema_generator.variables, self.generator.variables, strict=True)]

        def update(strategy, decay):
            # Cross-replica context: each replica's copy of the average moves toward its own
            # (identical, synchronized) copy of the weights.
            for average, value in pairs:
                strategy.extended.update(
                    average, lambda a, v, d: a.assign(d * a + (1.0 - d) * tf.cast(v, a.dtype)),
                    args=(value, decay), group=False)

        tf.distribute.get_replica_context().merge_call(update, args=(decay,))

    def augment(self, images, seed):
        """DiffAugment of discriminator inputs (real and generated alike); identity when off."""
        return augment.diff_augment(images, self.diffaugment, seed) if self.diffaugment else images

    def build_for_training(self):
        z = tf.zeros([1, self.latent_dim])
        self.discriminator(self.generator(z))
        self.build_ema(z)
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def checkpoint_items(self):
        owners = {
            "generator": self.generator,
            "discriminator": self.discriminator,
            "generator_optimizer": self.generator_optimizer,
            "discriminator_optimizer": self.discriminator_optimizer,
        }
        if self.ema_decay:
            owners["ema_generator"] = self.ema_generator
        return {name: base.VariableList(owner) for name, owner in owners.items()}

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def train_step(self, batch, seed):
        real_images = batch["image"]
        batch_size = tf.shape(real_images)[0]
        seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 8))

        z = tf.random.stateless_normal([batch_size, self.latent_dim], seed=seeds[0])
        with tf.GradientTape() as tape:
            fake_images = self.generator(z, training=True)
            real_logits = self.discriminator(self.augment(real_images, seeds[5]), training=True, seed=seeds[1])
            fake_logits = self.discriminator(self.augment(fake_images, seeds[6]), training=True, seed=seeds[2])
            discriminator_loss = self.discriminator_loss_fn(real_logits, fake_logits, real_label=self.real_label)
        base.apply_update(tape, discriminator_loss, self.discriminator, self.discriminator_optimizer)

        z = tf.random.stateless_normal([batch_size, self.latent_dim], seed=seeds[3])
        with tf.GradientTape() as tape:
            fake_images = self.augment(self.generator(z, training=True), seeds[7])
            generator_loss = self.generator_loss_fn(self.discriminator(fake_images, training=True, seed=seeds[4]))
        self.update_generator(tape, generator_loss)
        return {"discriminator_loss": discriminator_loss, "generator_loss": generator_loss}

    def serving_signatures(self):
        """`serving_default(seed)` and `from_latent(z)`, both returning uint8 `images`."""

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="seed")])
        def serving_default(seed):
            with tf.control_dependencies([base.check_serving_batch(seed, "seed")]):
                z = base.latents_from_seeds(seed, self.latent_dim)
            return {"images": base.to_uint8(self.sampling_generator(z, training=False))}

        @tf.function(input_signature=[tf.TensorSpec([None, self.latent_dim], tf.float32, name="z")])
        def from_latent(z):
            with tf.control_dependencies([base.check_serving_batch(z, "z")]):
                z = tf.identity(z)
            return {"images": base.to_uint8(self.sampling_generator(z, training=False))}

        return {"serving_default": serving_default, "from_latent": from_latent}

    def export_info(self):
        return {"latent_dim": self.latent_dim, "image_shape": list(self.image_shape),
                "generator_weights": f"ema (decay {self.ema_decay})" if self.ema_decay else "raw"}


def reject_aids(config, model_name, aids=("diffaugment",)):
    """One clear line when a config switches on a training aid this model's train_step lacks."""
    enabled = [aid for aid in aids if config.get(aid)]
    if enabled:
        raise UserError(f"{model_name} cannot use {', '.join(enabled)}: {AIDS_AVAILABLE[enabled[0]]}")


AIDS_AVAILABLE = {
    "diffaugment": "available for mlp_gan, dcgan and cgan",
    "ema_decay": "available for mlp_gan, dcgan, cgan, wgan_gp and infogan",
}


def generators(make_generator, config):
    """The generator and, when `config.ema_decay` > 0, its EMA copy: `make_generator(name)` twice."""
    ema = make_generator("ema_generator") if config.get("ema_decay", 0.0) else None
    return make_generator("generator"), ema


def make_gan(make_generator, discriminator, config, image_shape, model_class=None, **model_kwargs):
    """A compiled `model_class` (default `GAN`) with Adam optimizers from `config`.

    `make_generator(name)` builds the generator network (called twice when EMA is on).
    """
    generator, ema_generator = generators(make_generator, config)
    model = (model_class or GAN)(generator, discriminator, config.latent_dim, image_shape,
                                 ema_generator=ema_generator, **model_kwargs)
    model.compile(
        generator_optimizer=keras.optimizers.Adam(config.generator_learning_rate, beta_1=config.beta_1),
        discriminator_optimizer=keras.optimizers.Adam(config.discriminator_learning_rate, beta_1=config.beta_1),
        loss=config.loss,
        real_label=config.get("real_label", 1.0),
        diffaugment=config.get("diffaugment", ""),
        ema_decay=config.get("ema_decay", 0.0),
    )
    return model


@register("mlp_gan")
def mlp_gan(config, image_shape, num_classes):
    """The fully connected GAN of Goodfellow et al. 2014 (ReLU/LeakyReLU in place of maxout)."""
    del num_classes  # Unconditional.
    discriminator = MLPDiscriminator(config.discriminator_units, config.dropout, name="discriminator")
    return make_gan(lambda name: MLPGenerator(image_shape, config.generator_units, name=name), discriminator,
                    config, image_shape)
