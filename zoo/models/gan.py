"""The GAN algorithm (Goodfellow et al. 2014), the one update every GAN of zoo trains with, and
the MLP networks.

`GAN` owns a generator, a discriminator and their optimizers, and alternates `n_critic`
discriminator updates with one generator update per step. Every GAN of zoo is this class or a
subclass that declares what it varies by overriding hooks, never the update: `zoo.models.cgan`
(samples carry class labels), `zoo.models.infogan` (latent codes and a mutual-information term for
both players), `zoo.models.pix2pix` (an input image as the condition, an L1 term),
`zoo.models.keras_io_dcgan` (keras-io's loss pair); WGAN-GP and SN-GAN are configurations (loss,
critic updates, penalty, networks). The networks are interchangeable: `mlp_gan` uses fully
connected ones (as in the original paper), `zoo.models.dcgan` convolutional ones.
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
from zoo.trainable import TrainableModel
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


class GAN(TrainableModel):
    """A GAN trained by the one adversarial update every GAN of zoo shares (`train_step`).

    What a GAN varies is declared, not copied:
    - conditioning, through the sample hooks: `real(batch)` and `fake(batch, seed)` return a sample
      ({"images": ..., plus whatever conditions the discriminator or feeds an extra term: a class
      label, an input image, latent codes}); `discriminate(sample, augment_seed, seed)` returns the
      discriminator's outputs ({"logits": ..., plus any auxiliary head});
    - the loss pair: `loss` names a `zoo.losses` pair; a model with a recipe of its own overrides
      `discriminator_loss` / `generator_loss`;
    - extra terms of either player (`extra_discriminator_losses`, `extra_generator_losses`:
      InfoGAN's mutual information, pix2pix's L1) and `adversarial_weight`;
    - critic iterations per step (`n_critic`; each reads its own real batch, see `batches_per_step`);
    - penalties on the discriminator: the gradient penalty on real/fake interpolates (WGAN-GP) and
      R1 on real data (Mescheder et al. 2018), lazily every `r1_interval` steps if asked
      (Karras et al. 2020, StyleGAN2: the penalty times the interval, every interval-th update);
    - the aids: DiffAugment of every discriminator input, an EMA of the generator (with
      `ema_decay` > 0 sampling, evaluation and export read the average, `sampling_generator`),
      one-sided label smoothing (`real_label` < 1) and TTUR (the optimizers' own learning rates).
    A model that cannot use an aid says why in `unsupported_aids`, and `make_gan` refuses the aid
    with that reason; every other GAN takes every aid.
    """

    # {aid: why this model cannot use it} (see AIDS); `make_gan` refuses those in one line.
    unsupported_aids = {}

    # The weight of the adversarial term in the generator's objective. Models with extra generator
    # losses may lower it; at 0 the discriminator is neither called nor updated (an ablation).
    adversarial_weight = 1.0

    def __init__(self, generator, discriminator, latent_dim, image_shape, ema_generator=None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.ema_generator = ema_generator
        self.latent_dim = int(latent_dim)
        self.image_shape = tuple(image_shape)
        self.ema_decay = 0.0
        self.n_critic = 1

    def compile(self, generator_optimizer, discriminator_optimizer, loss="non_saturating", real_label=1.0,
                diffaugment="", ema_decay=0.0, n_critic=1, gradient_penalty_weight=0.0, r1_gamma=0.0, r1_interval=1,
                ema_batch_norm="average"):
        """Attaches the optimizers, the adversarial loss pair (see `zoo.losses`), one-sided label
        smoothing (`real_label` < 1), a DiffAugment policy ("color,translation,cutout"), the
        generator-EMA decay (0: off) and what the average does with batch-norm statistics
        (EMA_BATCH_NORM), the critic updates per step, the gradient-penalty weight and R1's gamma
        (0: off; the penalty is gamma / 2 * E||grad D(x)||^2) with its interval."""
        super().compile()
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.loss_kind = loss
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
        if ema_batch_norm not in EMA_BATCH_NORM:
            raise UserError(f"unknown ema_batch_norm {ema_batch_norm!r}; available: {', '.join(EMA_BATCH_NORM)}")
        self.ema_batch_norm = ema_batch_norm
        if int(n_critic) != n_critic or n_critic < 1:
            raise UserError(f"n_critic must be a whole number of at least 1, got {n_critic}")
        if gradient_penalty_weight < 0 or r1_gamma < 0:
            raise UserError(f"gradient_penalty_weight and r1_gamma must be >= 0 (0: off), got "
                            f"{gradient_penalty_weight} and {r1_gamma}")
        if int(r1_interval) != r1_interval or r1_interval < 1:
            raise UserError(f"r1_interval must be a whole number of at least 1 (1: every step), got {r1_interval}")
        self.n_critic = int(n_critic)
        self.gradient_penalty_weight = float(gradient_penalty_weight)
        self.r1_gamma, self.r1_interval = float(r1_gamma), int(r1_interval)

    @property
    def sampling_generator(self):
        """The network that samples, is evaluated and is exported: the EMA copy when EMA is on."""
        return self.ema_generator if self.ema_decay else self.generator

    @property
    def batches_per_step(self):
        """Real batches a step reads: one per critic update."""
        return self.n_critic

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
        copied = base.batch_norm_statistics(self.ema_generator) if self.ema_batch_norm == "copy" else ()
        base.update_ema(self.ema_generator, self.generator, self.ema_decay, self.generator_optimizer.iterations,
                        copied=copied)

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

    # ---- the update ------------------------------------------------------------------------------

    def train_step(self, batch, seed):
        """`n_critic` discriminator updates, each on its own real batch, then one generator update.

        The step's seed splits into 10 + 7 * (n_critic - 1) seeds. The first discriminator update
        draws its fake sample from seed 0, its dropout on real and fake samples from 1 and 2, the
        DiffAugment of real and fake samples from 5 and 6, its penalties from 8 and its loss from
        9; update k > 0 takes the same seven from 10 + 7 * (k - 1) on. The generator update draws
        its fake sample from 3, the discriminator's dropout from 4 and DiffAugment from 7.
        """
        critic_batches = deal(batch, self.n_critic)
        seeds = tf.unstack(base.split_seed(seed, 10 + 7 * (self.n_critic - 1)))
        results = {}
        if self.adversarial_weight:
            for index, critic_batch in enumerate(critic_batches):
                slots = (0, 1, 2, 5, 6, 8, 9) if index == 0 else range(10 + 7 * (index - 1), 10 + 7 * index)
                results.update(self._discriminator_update(critic_batch, *(seeds[slot] for slot in slots)))

        generator_batch = critic_batches[0]
        with tf.GradientTape() as tape:
            fake = self.fake(generator_batch, seeds[3])
            terms, fake_outputs = [], None
            if self.adversarial_weight:
                fake_outputs = self.discriminate(fake, seeds[7], seeds[4])
                results["generator_loss"] = self.generator_loss(fake_outputs)
                weight = self.adversarial_weight
                terms.append(results["generator_loss"] if weight == 1.0 else weight * results["generator_loss"])
            extra = self.extra_generator_losses(generator_batch, fake, fake_outputs)
            results.update(extra)
            terms.extend(extra.values())
            if not terms:
                raise ValueError(f"{self.name} has no generator loss: adversarial_weight is 0 and no extra loss")
            generator_objective = terms[0] if len(terms) == 1 else tf.add_n(terms)
        self.update_generator(tape, generator_objective)
        return results

    def _discriminator_update(self, batch, fake_seed, real_dropout_seed, fake_dropout_seed, real_augment_seed,
                              fake_augment_seed, penalty_seed, loss_seed):
        with tf.GradientTape() as tape:
            fake = self.fake(batch, fake_seed)
            real = self.real(batch)
            real_outputs = self.discriminate(real, real_augment_seed, real_dropout_seed)
            fake_outputs = self.discriminate(fake, fake_augment_seed, fake_dropout_seed)
            discriminator_loss = self.discriminator_loss(real_outputs, fake_outputs, loss_seed)
            terms = {**self.extra_discriminator_losses(real, fake, real_outputs, fake_outputs),
                     **self._penalties(real, fake, real_augment_seed, real_dropout_seed, penalty_seed)}
            objective = tf.add_n([discriminator_loss, *terms.values()]) if terms else discriminator_loss
        base.apply_update(tape, objective, self.discriminator, self.discriminator_optimizer)
        results = {"discriminator_loss": discriminator_loss, **terms}
        if self.loss_kind == "wasserstein":
            # The negated critic loss estimates the Wasserstein-1 distance (for a 1-Lipschitz critic).
            results["wasserstein_estimate"] = -discriminator_loss
        return results

    def _penalties(self, real, fake, augment_seed, dropout_seed, seed):
        """{name: weighted penalty} of the discriminator on this update's samples; the condition of
        an interpolate is the real sample's (its label, its input image)."""

        def score(images):
            return self.discriminate({**real, "images": images}, augment_seed, dropout_seed)["logits"]

        terms = {}
        if self.gradient_penalty_weight:
            terms["gradient_penalty"] = self.gradient_penalty_weight * losses.gradient_penalty(
                score, real["images"], fake["images"], seed)
        if self.r1_gamma:
            weight = 0.5 * self.r1_gamma * self.r1_interval

            def r1():
                return weight * losses.r1_penalty(score, real["images"])

            if self.r1_interval == 1:
                terms["r1_penalty"] = r1()
            else:  # Lazy: every r1_interval-th discriminator update, scaled by the interval.
                due = tf.equal(self.discriminator_optimizer.iterations % self.r1_interval, 0)
                terms["r1_penalty"] = tf.cond(due, r1, lambda: tf.zeros([]))
        return terms

    # ---- the declared parts: a conditional, image-to-image or code-learning GAN overrides these --

    def real(self, batch):
        """The real sample of `batch` that the discriminator learns to accept: here its images."""
        return {"images": batch[IMAGE]}

    def fake(self, batch, seed):
        """A generated sample for `batch` (training mode), every random draw from `seed`: here the
        images of one latent vector per real image."""
        batch_size = tf.shape(self.real(batch)["images"])[0]
        z = base.replica_normal([batch_size, self.latent_dim], seed)
        return {"images": self.generator(z, training=True)}

    def discriminate(self, sample, augment_seed, seed):
        """The discriminator's outputs (training mode) on a real or fake sample, after DiffAugment
        drawn from `augment_seed`; `seed` drives the discriminator's dropout. {"logits": ...}."""
        return {"logits": self.discriminator(self.augment(sample["images"], augment_seed), training=True, seed=seed)}

    def discriminator_loss(self, real_outputs, fake_outputs, seed):
        """The discriminator's adversarial loss (`seed` for a recipe with random targets)."""
        del seed
        return self.discriminator_loss_fn(real_outputs["logits"], fake_outputs["logits"], real_label=self.real_label)

    def generator_loss(self, fake_outputs):
        """The generator's adversarial loss."""
        return self.generator_loss_fn(fake_outputs["logits"])

    def extra_discriminator_losses(self, real, fake, real_outputs, fake_outputs):
        """{name: scalar} terms added to the discriminator's objective (and reported); none here."""
        del real, fake, real_outputs, fake_outputs
        return {}

    def extra_generator_losses(self, batch, fake, fake_outputs):
        """{name: scalar} terms added to the generator's objective (and reported); none here.
        `fake_outputs` is None when the adversarial term is off."""
        del batch, fake, fake_outputs
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

        return base.answering_empty_batches({"serving_default": serving_default, "from_latent": from_latent})

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


# The training aids a GAN's config can switch on (model_config keys) and their "off" values. Every
# GAN takes each of them unless its class declares why not (`GAN.unsupported_aids`).
AIDS = {"diffaugment": "", "ema_decay": 0.0, "real_label": 1.0, "r1_gamma": 0.0, "gradient_penalty_weight": 0.0}
PENALTIES = ("r1_gamma", "gradient_penalty_weight")

# What the generator's EMA does with its batch-norm statistics (the moving means and variances the
# averaged weights normalize with when sampling): "average" them like the weights, or "copy" the
# live generator's. benchmarks/ema_batch_norm.py measures both, and re-estimating them for the
# averaged weights, on one run.
EMA_BATCH_NORM = ("average", "copy")


def deal(batch, n):
    """`n` batches from a batch dict of n times the size: example i goes to batch i mod n (so that
    each replica's contiguous share of the tensor holds its share of every batch)."""
    if n == 1:
        return [batch]
    parts = {key: tf.unstack(tf.reshape(value, [-1, n, *value.shape[1:]]), axis=1) for key, value in batch.items()}
    return [{key: value[index] for key, value in parts.items()} for index in range(n)]


def uses_batch_norm(network):
    """Whether any layer of `network` normalizes with batch statistics (mixing a batch's samples)."""
    return bool(base.batch_norm_statistics(network))


def check_aids(config, model_name, model_class, discriminator):
    """One clear line for an aid this GAN cannot use: one its class declares unsupported (with the
    reason it gives), or a per-sample penalty on a discriminator that mixes samples."""
    for aid, off in AIDS.items():
        if config.get(aid, off) != off and aid in model_class.unsupported_aids:
            raise UserError(f"{model_name} cannot use {aid}: {model_class.unsupported_aids[aid]}")
    for aid in PENALTIES:
        if config.get(aid, 0.0) and uses_batch_norm(discriminator):
            raise UserError(
                f"{model_name} cannot use {aid} with a batch-normalized discriminator: batch statistics mix the "
                f"samples, and the penalty needs one score per sample; set model_config.discriminator_normalization "
                f"to layer or none")


def generators(make_generator, config):
    """The generator and, when `config.ema_decay` > 0, its EMA copy: `make_generator(name)` twice."""
    ema = make_generator("ema_generator") if config.get("ema_decay", 0.0) else None
    return make_generator("generator"), ema


def make_gan(model_name, make_generator, discriminator, config, image_shape, model_class=None, defaults=None,
               **model_kwargs):
    """A compiled `model_class` (default `GAN`) with Adam optimizers and every aid from `config`
    (refused in one line where the class declares it cannot use it).

    `make_generator(name)` builds the generator network (called twice when EMA is on). `defaults`
    gives the model's own values for keys its older configs did not record (WGAN-GP's loss).
    """
    model_class = model_class or GAN
    config = {**(defaults or {}), **config}  # The recorded values over the model's own defaults.
    check_aids(config, model_name, model_class, discriminator)
    generator, ema_generator = generators(make_generator, config)
    model = model_class(generator, discriminator, config.get("latent_dim", 0), image_shape,
                        ema_generator=ema_generator, **model_kwargs)

    def adam(rate):
        return keras.optimizers.Adam(rate, beta_1=config["beta_1"], beta_2=config.get("beta_2", 0.999))

    model.compile(
        generator_optimizer=adam(config["generator_learning_rate"]),
        discriminator_optimizer=adam(config["discriminator_learning_rate"]),
        loss=config.get("loss", "non_saturating"),
        real_label=config.get("real_label", 1.0),
        diffaugment=config.get("diffaugment", ""),
        ema_decay=config.get("ema_decay", 0.0),
        n_critic=config.get("n_critic", 1),
        gradient_penalty_weight=config.get("gradient_penalty_weight", 0.0),
        r1_gamma=config.get("r1_gamma", 0.0),
        r1_interval=config.get("r1_interval", 1),
        ema_batch_norm=config.get("ema_batch_norm", "average"),
    )
    return model


@register("mlp_gan")
def mlp_gan(config, spec):
    """The fully connected GAN of Goodfellow et al. 2014 (ReLU/LeakyReLU in place of maxout)."""
    image_shape, num_classes = base.image_data(spec, "mlp_gan")
    del num_classes  # Unconditional.
    discriminator = MLPDiscriminator(config.discriminator_units, config.dropout, name="discriminator")
    return make_gan("mlp_gan", lambda name: MLPGenerator(image_shape, config.generator_units, name=name),
                    discriminator, config, image_shape)
