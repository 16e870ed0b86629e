"""Variational autoencoders (Kingma & Welling 2013) and conditional VAEs (Sohn et al. 2015).

A convolutional encoder gives q(z|x) = N(mean, exp(log_var)); a convolutional decoder gives
p(x|z) over the 256 pixel levels as a discretized logistic per pixel (Salimans et al. 2017, one
component): the decoder outputs a mean and a log-scale per pixel, and the probability of level k is
the logistic mass of its bin. That makes the ELBO a bound on the log-likelihood of the *discrete*
8-bit data, so its bits/dim compare directly with PixelCNN's and with the 4.59 bits/dim of
independent per-pixel categoricals. Training maximizes E_q[log p(x|z)] - beta * KL(q(z|x) || N(0, I))
with the reparameterization z = mean + exp(log_var / 2) * eps, eps from the step's stateless seed
(drawn for the global batch, `zoo.models.base.replica_normal`).

No batch normalization anywhere: a likelihood must not depend on what else is in the batch.

Serving (uint8 images in and out; conditional models take `label: int64[None]` in every signature):
- `serving_default(seed)`: z from each seed (as for GANs) decoded; images are the decoder's mean.
- `encode(images) -> mean, log_var`; `decode(z) -> images` (also as `from_latent`, the zoo-wide
  latent -> images name); `reconstruct(images) -> images` (decode the posterior mean).
- `log_likelihood(images) -> log_likelihood, elbo` in nats per image: the importance-weighted bound
  of Burda et al. 2016 with `importance_samples` samples (log mean_k p(x, z_k) / q(z_k|x)) and the
  ELBO averaged over the same samples. The noise is fixed (the same eps_k for every image), so the
  estimate is deterministic and independent of the batch an image arrives in.
"""

import inspect
import math

import keras
import tensorflow as tf

from zoo.data.base import IMAGE, LABEL
from zoo.errors import UserError
from zoo.models import base
from zoo.models.dcgan import num_upsamplings
from zoo.contract import Evaluation, Input, Interface, Signature
from zoo.trainable import TrainableModel
from zoo.registry import register

# Half the width of one pixel level on the [-1, 1] scale (256 levels: 2 / 255 apart).
HALF_BIN = 1.0 / 255.0
MIN_LOG_SCALE = -7.0
# The number of importance samples `log_likelihood` may be exported with (memory: K decoder passes).
MAX_IMPORTANCE_SAMPLES = 5000


def to_unit_range(pixels):
    """uint8 levels 0..255 (any dtype) -> float32 in [-1, 1], the pipeline's scale."""
    return tf.cast(pixels, tf.float32) / 127.5 - 1.0


def discretized_logistic_log_prob(x, mean, log_scale):
    """log P(x) per pixel, x on the 256 levels of [-1, 1], under a logistic(mean, exp(log_scale))
    whose mass is binned to those levels; the edge levels take the tails (Salimans et al. 2017).

    Sums to exactly 1 over the 256 levels (tested). All arguments broadcast; returns float32.
    """
    log_scale = tf.maximum(log_scale, MIN_LOG_SCALE)
    centered = x - mean
    inverse_scale = tf.exp(-log_scale)
    plus = inverse_scale * (centered + HALF_BIN)
    minus = inverse_scale * (centered - HALF_BIN)
    log_cdf_plus = plus - tf.nn.softplus(plus)  # log sigmoid(plus): the lowest level's mass.
    log_one_minus_cdf_minus = -tf.nn.softplus(minus)  # log(1 - sigmoid(minus)): the highest level's.
    # An inner bin's mass sigmoid(plus) - sigmoid(minus) equals
    # sigmoid(plus) * (1 - sigmoid(minus)) * (1 - exp(minus - plus)): stable in log space even
    # where both sigmoids round to the same float.
    inner = log_cdf_plus + log_one_minus_cdf_minus + tf.math.log(-tf.math.expm1(minus - plus))
    return tf.where(x < -1.0 + HALF_BIN, log_cdf_plus, tf.where(x > 1.0 - HALF_BIN, log_one_minus_cdf_minus, inner))


def gaussian_log_prob(z, mean, log_var):
    """log N(z; mean, exp(log_var)) summed over the last axis."""
    return -0.5 * tf.reduce_sum(math.log(2 * math.pi) + log_var + tf.square(z - mean) * tf.exp(-log_var), axis=-1)


def gaussian_kl(mean, log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) summed over the last axis (closed form)."""
    return 0.5 * tf.reduce_sum(tf.exp(log_var) + tf.square(mean) - 1.0 - log_var, axis=-1)


class LabelInput(keras.layers.Layer):
    """Concatenates a learned label embedding to a feature vector (identity when unconditional)."""

    def __init__(self, num_classes, embedding_dim, **kwargs):
        super().__init__(**kwargs)
        self.embedding = keras.layers.Embedding(num_classes, embedding_dim) if num_classes else None

    def call(self, features, labels=None):
        if self.embedding is None:
            return features
        return tf.concat([features, self.embedding(labels)], axis=-1)


def split_inputs(inputs):
    """A network's input: `x` alone, or `(x, labels)` for a conditional network.

    One positional input (a tuple when conditional) rather than an optional `labels` argument:
    Keras traces `call` with its first input alone when it lists a layer's functions for a
    SavedModel, and a conditional network must not be traced without labels.
    """
    return inputs if isinstance(inputs, (tuple, list)) else (inputs, None)


class ConvEncoder(base.CompositeNetwork):
    """Image (and label) -> strided convolutions -> dense -> (mean, log_var) of q(z|x)."""

    def __init__(self, image_shape, latent_dim, width=32, hidden_units=256, num_classes=0, embedding_dim=16,
                 **kwargs):
        super().__init__(**kwargs)
        doublings = num_upsamplings(image_shape[0])
        self.convs = [keras.layers.Conv2D(width * 2**level, 4, strides=2, padding="same")
                      for level in range(doublings)]
        self.flatten = keras.layers.Flatten()
        self.label_input = LabelInput(num_classes, embedding_dim)
        self.hidden = keras.layers.Dense(hidden_units)
        self.out = keras.layers.Dense(2 * latent_dim)
        self.latent_dim = latent_dim

    def call(self, inputs):
        x, labels = split_inputs(inputs)
        for conv in self.convs:
            x = keras.ops.leaky_relu(conv(x), 0.2)
        x = keras.ops.leaky_relu(self.hidden(self.label_input(self.flatten(x), labels)), 0.2)
        mean, log_var = tf.split(self.out(x), 2, axis=-1)
        return mean, log_var


class ConvDecoder(base.CompositeNetwork):
    """z (and label) -> dense -> transposed convolutions -> per-pixel (mean, log_scale)."""

    def __init__(self, image_shape, latent_dim, width=32, hidden_units=256, num_classes=0, embedding_dim=16,
                 **kwargs):
        super().__init__(**kwargs)
        height, _, channels = image_shape
        doublings = num_upsamplings(height)
        size, self.base_channels = height // 2**doublings, width * 2 ** (doublings - 1)
        self.label_input = LabelInput(num_classes, embedding_dim)
        self.hidden = keras.layers.Dense(hidden_units)
        self.project = keras.layers.Dense(size * size * self.base_channels)
        self.reshape = keras.layers.Reshape((size, size, self.base_channels))
        self.convs = [keras.layers.Conv2DTranspose(self.base_channels // 2**level, 4, strides=2, padding="same")
                      for level in range(doublings)]
        self.out = keras.layers.Conv2D(2 * channels, 3, padding="same")
        self.latent_dim = latent_dim

    def call(self, inputs):
        z, labels = split_inputs(inputs)
        x = keras.ops.leaky_relu(self.hidden(self.label_input(z, labels)), 0.2)
        x = self.reshape(keras.ops.leaky_relu(self.project(x), 0.2))
        for conv in self.convs:
            x = keras.ops.leaky_relu(conv(x), 0.2)
        mean, log_scale = tf.split(self.out(x), 2, axis=-1)
        return tf.tanh(mean), log_scale


class VAE(TrainableModel):
    """Encoder + decoder trained on the (beta-weighted) ELBO; `num_classes` > 0 makes it conditional."""

    def __init__(self, encoder, decoder, latent_dim, image_shape, num_classes=0, beta=1.0, importance_samples=100,
                 clip_norm=0.0, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.latent_dim, self.image_shape = int(latent_dim), tuple(image_shape)
        self.num_classes, self.beta = int(num_classes), float(beta)
        self.importance_samples = int(importance_samples)
        self.num_dims = math.prod(self.image_shape)
        self.clip_norm = float(clip_norm)  # Of the global batch's gradient (0: none).

    @property
    def conditional(self):
        return self.num_classes > 0

    def _inputs(self, x, labels):
        return (x, labels) if self.conditional else x

    def compile(self, optimizer):
        super().compile()
        self.vae_optimizer = optimizer

    def build_for_training(self):
        labels = tf.zeros([1], tf.int64) if self.conditional else None
        self.encoder(self._inputs(tf.zeros([1, *self.image_shape]), labels))
        self.decoder(self._inputs(tf.zeros([1, self.latent_dim]), labels))
        self.vae_optimizer.build(self.trainable_variables)

    def checkpoint_items(self):
        return {"encoder": base.VariableList(self.encoder), "decoder": base.VariableList(self.decoder),
                "optimizer": base.VariableList(self.vae_optimizer)}

    def reconstruction_log_prob(self, images, z, labels=None):
        """log p(x|z) in nats per image, `images` in [-1, 1]."""
        mean, log_scale = self.decoder(self._inputs(z, labels))
        return tf.reduce_sum(discretized_logistic_log_prob(images, mean, log_scale), axis=[1, 2, 3])

    def train_step(self, batch, seed):
        images = batch["image"]
        labels = batch["label"] if self.conditional else None
        with tf.GradientTape() as tape:
            mean, log_var = self.encoder(self._inputs(images, labels))
            eps = base.replica_normal([tf.shape(mean)[0], self.latent_dim], seed)
            z = mean + tf.exp(0.5 * log_var) * eps
            reconstruction = tf.reduce_mean(self.reconstruction_log_prob(images, z, labels))
            kl = tf.reduce_mean(gaussian_kl(mean, log_var))
            loss = -(reconstruction - self.beta * kl) / self.num_dims
        # The encoder's and decoder's weights.
        base.apply_update(tape, loss, self, self.vae_optimizer, clip_norm=self.clip_norm)
        negative_elbo = kl - reconstruction  # beta = 1: a bound on the NLL whatever beta trains.
        return {"loss": loss, "reconstruction_nats": -reconstruction, "kl_nats": kl,
                "bits_per_dim": negative_elbo / (self.num_dims * math.log(2))}

    # ---- serving -------------------------------------------------------------------------------

    def _image_checks(self, images, labels):
        height, width, channels = self.image_shape
        checks = [
            base.check_serving_batch(images, "images"),
            tf.debugging.assert_equal(
                tf.shape(images)[1:], tf.constant([height, width, channels]),
                message=f"images: must be uint8 [N, {height}, {width}, {channels}]"),
        ]
        return checks + self._label_checks(labels, images)

    def _label_checks(self, labels, batch_like):
        if not self.conditional:
            return []
        message = f"label: every label must be between 0 and {self.num_classes - 1}"
        return [
            tf.debugging.assert_equal(tf.shape(labels)[0], tf.shape(batch_like)[0],
                                      message="label: needs one label per input row"),
            tf.debugging.assert_non_negative(labels, message=message),
            tf.debugging.assert_less(labels, tf.constant(self.num_classes, tf.int64), message=message),
        ]

    def _checked(self, checks, x, labels):
        """`base.checked` for (x, labels), where labels is None for an unconditional model."""
        if labels is None:
            return base.checked(checks, x), None
        return base.checked(checks, x, labels)

    def _checked_images(self, images, labels):
        """Images and labels after their checks, the images with their checked shape made static: a
        convolution that cannot see its input's channels is compiled by XLA (Keras's grouped-conv
        path), which TF Serving does not run by default."""
        images, labels = self._checked(self._image_checks(images, labels), images, labels)
        return tf.ensure_shape(images, [None, *self.image_shape]), labels

    def _decode_images(self, z, labels):
        mean, _ = self.decoder(self._inputs(z, labels))
        return {"images": base.to_uint8(mean)}

    def _log_likelihood(self, images, labels):
        """(IWAE bound, ELBO) in nats per image with `importance_samples` fixed noise draws."""
        x = to_unit_range(images)
        mean, log_var = self.encoder(self._inputs(x, labels))
        samples = self.importance_samples
        eps = tf.random.stateless_normal([samples, self.latent_dim], seed=tf.constant([0, 0], tf.int64))

        def log_weight(eps_k):
            z = mean + tf.exp(0.5 * log_var) * eps_k
            return (self.reconstruction_log_prob(x, z, labels) + gaussian_log_prob(z, 0.0, 0.0)
                    - gaussian_log_prob(z, mean, log_var))

        log_weights = tf.map_fn(log_weight, eps, fn_output_signature=tf.TensorSpec([None], tf.float32))
        iwae = tf.reduce_logsumexp(log_weights, axis=0) - math.log(samples)
        return {"log_likelihood": iwae, "elbo": tf.reduce_mean(log_weights, axis=0)}

    def serving_signatures(self):
        """See the module docstring; every signature checks its inputs in-graph."""
        image_spec = tf.TensorSpec([None, None, None, None], tf.uint8, name="images")
        z_spec = tf.TensorSpec([None, self.latent_dim], tf.float32, name="z")
        seed_spec = tf.TensorSpec([None], tf.int64, name="seed")
        label_spec = [tf.TensorSpec([None], tf.int64, name="label")] if self.conditional else []

        def sample(seed, labels):
            seed, labels = self._checked([base.check_serving_batch(seed, "seed"), *self._label_checks(labels, seed)],
                                         seed, labels)
            return self._decode_images(base.latents_from_seeds(seed, self.latent_dim), labels)

        def decode(z, labels):
            z, labels = self._checked([base.check_serving_batch(z, "z"), *self._label_checks(labels, z)], z, labels)
            return self._decode_images(z, labels)

        def encode(images, labels):
            images, labels = self._checked_images(images, labels)
            mean, log_var = self.encoder(self._inputs(to_unit_range(images), labels))
            return {"mean": mean, "log_var": log_var}

        def reconstruct(images, labels):
            images, labels = self._checked_images(images, labels)
            mean, _ = self.encoder(self._inputs(to_unit_range(images), labels))
            return self._decode_images(mean, labels)

        def log_likelihood(images, labels):
            images, labels = self._checked_images(images, labels)
            return self._log_likelihood(images, labels)

        def signature(fn, first_spec):
            """`fn(x, labels)` as a tf.function of (<first_spec.name>[, label]): clients call the
            signature by those names, so the Python parameters must carry them too."""
            specs = [first_spec, *label_spec]

            def call(*args):
                return fn(args[0], args[1] if self.conditional else None)

            call.__signature__ = inspect.Signature(
                [inspect.Parameter(spec.name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for spec in specs])
            return tf.function(call, input_signature=specs)

        decode_fn = signature(decode, z_spec)
        return base.answering_empty_batches({
            "serving_default": signature(sample, seed_spec),
            "decode": decode_fn,
            "from_latent": decode_fn,
            "encode": signature(encode, image_spec),
            "reconstruct": signature(reconstruct, image_spec),
            "log_likelihood": signature(log_likelihood, image_spec),
        })

    def interface(self):
        """Sampling, decoding, encoding, reconstruction and the likelihood, each with the label
        when conditional; evaluated by FID/KID of samples and by the likelihood of the data."""
        labels = ([Input("label", "class_label", "int64", num_values=self.num_classes, feature=LABEL)]
                  if self.conditional else [])
        images = Input("images", "image", "uint8", self.image_shape, feature=IMAGE)
        seed, latent = Input("seed", "seed", "int64"), Input("z", "latent", "float32", (self.latent_dim,))
        return Interface(
            [Signature("serving_default", [seed, *labels], {"images": "images"}),
             Signature("decode", [latent, *labels], {"images": "images"}),
             Signature("from_latent", [latent, *labels], {"images": "images"}),
             Signature("encode", [images, *labels], {"mean": "mean", "log_var": "log_var"}),
             Signature("reconstruct", [images, *labels], {"images": "images"}),
             Signature("log_likelihood", [images, *labels], {"log_likelihood": "log_likelihood", "elbo": "elbo"})],
            evaluations=[Evaluation("samples", "serving_default", reference=IMAGE),
                         Evaluation("image_likelihood", "log_likelihood")],
            preview="samples")

    def export_info(self):
        info = {"latent_dim": self.latent_dim, "image_shape": list(self.image_shape), "beta": self.beta,
                "likelihood": f"importance-weighted bound, {self.importance_samples} samples"}
        if self.conditional:
            info["num_classes"] = self.num_classes
        return info


def _make_vae(config, image_shape, num_classes):
    if image_shape[0] != image_shape[1]:
        raise UserError(f"the VAE needs square images, got {image_shape[0]}x{image_shape[1]}")
    if config.beta <= 0:
        raise UserError(f"beta must be positive, got {config.beta}")
    if not 1 <= config.importance_samples <= MAX_IMPORTANCE_SAMPLES:
        raise UserError(f"importance_samples must be between 1 and {MAX_IMPORTANCE_SAMPLES}, "
                        f"got {config.importance_samples}")
    kwargs = dict(latent_dim=config.latent_dim, width=config.width, hidden_units=config.hidden_units,
                  num_classes=num_classes, embedding_dim=config.get("embedding_dim", 16))
    model = VAE(ConvEncoder(image_shape, name="encoder", **kwargs), ConvDecoder(image_shape, name="decoder", **kwargs),
                config.latent_dim, image_shape, num_classes=num_classes, beta=config.beta,
                importance_samples=config.importance_samples, clip_norm=config.get("clip_norm") or 0.0)
    model.compile(keras.optimizers.Adam(config.learning_rate))
    return model


@register("vae")
def vae(config, spec):
    """Convolutional VAE with a discretized-logistic decoder (unconditional)."""
    image_shape, num_classes = base.image_data(spec, "vae")
    del num_classes  # Unconditional: labels are ignored.
    return _make_vae(config, image_shape, 0)


@register("cvae")
def cvae(config, spec):
    """Conditional VAE: encoder and decoder both read a label embedding."""
    image_shape, num_classes = base.image_data(spec, "cvae")
    if num_classes < 2:
        raise UserError(f"cvae needs labelled data with at least 2 classes; this dataset has {num_classes}")
    return _make_vae(config, image_shape, num_classes)
