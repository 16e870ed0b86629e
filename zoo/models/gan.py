"""The GAN algorithm (Goodfellow et al. 2014) and its MLP networks.

`GAN` owns a generator, a discriminator and their optimizers, and alternates one discriminator
update with one generator update per step. The networks are interchangeable: `mlp_gan` uses
fully connected ones (as in the original paper), `zoo.models.dcgan` convolutional ones. Other GANs
reuse the update by overriding its hooks (`zoo.models.pix2pix`: what is generated from a batch,
what the discriminator sees, an extra L1 loss).
"""

import math

import keras
import tensorflow as tf

from zoo import losses
from zoo.data import augment
from zoo.errors import UserError
from zoo.data.base import IMAGE
from zoo.models import base
from zoo.contract import Evaluation, Input, Interface, Signature
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
            layer_seed = None if seed is None else base.fold_seed(seed, index)
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
        base.update_ema(self.ema_generator, self.generator, self.ema_decay, self.generator_optimizer.iterations)

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

    def averaged_networks(self):
        """{average: network} of the checkpoint items (zoo.train.transfer starts both from either)."""
        return {"ema_generator": "generator"} if self.ema_decay else {}

    def call(self, z, training=False):
        return self.generator(z, training=training)

    # The weight of the adversarial term in the generator's objective. Models with extra generator
    # losses may lower it; at 0 the discriminator is neither called nor updated (an ablation).
    adversarial_weight = 1.0

    def train_step(self, batch, seed):
        """One discriminator update, then one generator update; subclasses change the hooks below.

        The step's seed splits into 8: fake images for the discriminator (0) and the generator (3),
        discriminator dropout on real (1) and fake (2, 4) images, DiffAugment of real (5) and
        fake (6, 7) images.
        """
        seeds = tf.unstack(base.split_seed(seed, 8))
        results = {}
        if self.adversarial_weight:
            with tf.GradientTape() as tape:
                fake_images = self.generate(batch, seeds[0])
                real_logits = self.discriminate(self.real_images(batch), batch, seeds[5], seeds[1])
                fake_logits = self.discriminate(fake_images, batch, seeds[6], seeds[2])
                discriminator_loss = self.discriminator_loss_fn(real_logits, fake_logits, real_label=self.real_label)
            base.apply_update(tape, discriminator_loss, self.discriminator, self.discriminator_optimizer)
            results["discriminator_loss"] = discriminator_loss

        with tf.GradientTape() as tape:
            fake_images = self.generate(batch, seeds[3])
            terms = []
            if self.adversarial_weight:
                fake_logits = self.discriminate(fake_images, batch, seeds[7], seeds[4])
                results["generator_loss"] = self.generator_loss_fn(fake_logits)
                weight = self.adversarial_weight
                terms.append(results["generator_loss"] if weight == 1.0 else weight * results["generator_loss"])
            extra = self.extra_generator_losses(batch, fake_images)
            results.update(extra)
            terms.extend(extra.values())
            if not terms:
                raise ValueError(f"{self.name} has no generator loss: adversarial_weight is 0 and no extra loss")
            generator_objective = terms[0] if len(terms) == 1 else tf.add_n(terms)
        self.update_generator(tape, generator_objective)
        return results

    # Hooks of `train_step`: a conditional or image-to-image GAN overrides these, not the update.

    def real_images(self, batch):
        """The real images of `batch` that the discriminator learns to accept."""
        return batch["image"]

    def generate(self, batch, seed):
        """Generated images for `batch` (training mode), every random draw from `seed`: here one
        latent vector per real image."""
        batch_size = tf.shape(self.real_images(batch))[0]
        z = base.replica_normal([batch_size, self.latent_dim], seed)
        return self.generator(z, training=True)

    def discriminate(self, images, batch, augment_seed, seed):
        """The discriminator's logits (training mode) for real or generated `images` of `batch`,
        after DiffAugment drawn from `augment_seed`; `seed` drives the discriminator's dropout."""
        return self.discriminator(self.augment(images, augment_seed), training=True, seed=seed)

    def extra_generator_losses(self, batch, fake_images):
        """{name: scalar} terms added to the generator's objective (and reported); none here."""
        del batch, fake_images
        return {}

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

    def interface(self):
        """`serving_default(seed)` samples (the preview and FID/KID); `from_latent(z)` decodes."""
        seed = Input("seed", "seed", "int64")
        latent = Input("z", "latent", "float32", (self.latent_dim,))
        return Interface(
            [Signature("serving_default", [seed], {"images": "images"}),
             Signature("from_latent", [latent], {"images": "images"})],
            evaluations=[Evaluation("samples", "serving_default", reference=IMAGE)],
            preview="samples")

    def export_info(self):
        return {"latent_dim": self.latent_dim, "image_shape": list(self.image_shape),
                "generator_weights": f"ema (decay {self.ema_decay})" if self.ema_decay else "raw"}


# The training aids a GAN's config can switch on (model_config keys), each checked by `reject_aids`.
AIDS = ("diffaugment", "ema_decay")


def reject_aids(config, model_name, unsupported):
    """One clear line when a config switches on a training aid that this model declares it cannot
    use: `unsupported` maps aid -> the reason, which the message gives."""
    for aid in AIDS:
        if config.get(aid) and aid in unsupported:
            raise UserError(f"{model_name} cannot use {aid}: {unsupported[aid]}")


def generators(make_generator, config):
    """The generator and, when `config.ema_decay` > 0, its EMA copy: `make_generator(name)` twice."""
    ema = make_generator("ema_generator") if config.get("ema_decay", 0.0) else None
    return make_generator("generator"), ema


def make_gan(make_generator, discriminator, config, image_shape, model_class=None, **model_kwargs):
    """A compiled `model_class` (default `GAN`) with Adam optimizers from `config`.

    `make_generator(name)` builds the generator network (called twice when EMA is on).
    """
    generator, ema_generator = generators(make_generator, config)
    model = (model_class or GAN)(generator, discriminator, config.get("latent_dim", 0), image_shape,
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
def mlp_gan(config, spec):
    """The fully connected GAN of Goodfellow et al. 2014 (ReLU/LeakyReLU in place of maxout)."""
    image_shape, num_classes = base.image_data(spec, "mlp_gan")
    del num_classes  # Unconditional.
    discriminator = MLPDiscriminator(config.discriminator_units, config.dropout, name="discriminator")
    return make_gan(lambda name: MLPGenerator(image_shape, config.generator_units, name=name), discriminator,
                    config, image_shape)
