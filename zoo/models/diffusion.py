"""Denoising diffusion: DDPM training (Ho et al. 2020), DDIM sampling (Song et al. 2021) inside the
SavedModel, and classifier-free guidance (Ho & Salimans 2022).

Forward process. A schedule of T noise levels beta_1..beta_T (`linear`: Ho et al.'s 1e-4..0.02 for
T = 1000, both scaled by 1000 / T for other T as in Nichol & Dhariwal 2021, so that any T ends near
pure noise, clipped at 0.999 as the cosine one is; `cosine`: Nichol & Dhariwal's alpha_bar(t) = f(t) / f(0), f(t) = cos((t/T + s)/(1 + s)
* pi/2)^2, s = 0.008, betas clipped at 0.999) gives q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0,
(1 - alpha_bar_t) I) with alpha_bar_t = prod_{s<=t} (1 - beta_s). Timesteps are indexed 0..T-1 here
(index t is the paper's t + 1).

Training. An epsilon-prediction U-Net (sinusoidal time embedding, residual blocks with group
normalization, self-attention at the lowest resolution; depth derived from the image size, so 28x28,
32x32 and 64x64 all build) minimizes ||eps - eps_theta(x_t, t)||^2 with t uniform and eps standard
normal (the "simple" loss). Class-conditional models (`class_conditional`) add a label embedding to
the time embedding and replace each label by a learned "no label" token with probability
`label_dropout`, so one network learns both the conditional and the unconditional model. An
exponential moving average of the weights (`ema_decay`) is what samples, evaluates and exports.

Sampling (DDIM, in-graph). S steps visit the timesteps t_k = floor((S - k) T / S) - 1, k = 0..S-1
(the "trailing" spacing, which starts at the noisiest level t = T - 1 and, for S = T, visits every
timestep), each step
    x0 = clip((x_t - sqrt(1 - a_t) eps) / sqrt(a_t), -1, 1);  eps = (x_t - sqrt(a_t) x0) / sqrt(1 - a_t)
    sigma = eta * sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))
    x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev - sigma^2) eps + sigma z
(a = alpha_bar; a_prev = 1 after the last step, which returns x0). eta = 0 is deterministic DDIM;
eta = 1 with S = T is DDPM's ancestral sampler exactly (the posterior mean of q(x_{t-1} | x_t, x0)
and variance beta-tilde; tested against an independent implementation). With guidance w the noise
estimate is eps_uncond + w (eps_cond - eps_uncond): w = 1 is the conditional model, w = 0 the
unconditional one, larger w trades diversity for fidelity.

Sampling (DPM-Solver++(2M), in-graph, `order` = 2; Lu et al. 2022, "DPM-Solver++: Fast Solver for
Guided Sampling of Diffusion Probabilistic Models", Algorithm 2). With alpha = sqrt(a), sigma =
sqrt(1 - a), lambda = log(alpha / sigma) and h = lambda_prev - lambda_t, the data prediction x0
(clipped as above) of the current and the previous step give
    D = (1 + 1 / (2 r)) x0 - 1 / (2 r) x0_last,   r = h_last / h
    x_prev = (sigma_prev / sigma_t) x_t - alpha_prev (exp(-h) - 1) D
a second-order multistep update at one network call per step, the standard sampler at 10-20
steps for epsilon-prediction models and the one its authors recommend under guidance. Its first
step (no previous x0) and its last (to a = 1, where lambda is infinite) are first order, which is
DDIM at eta = 0 exactly (D = x0 makes the update sqrt(a_prev) x0 + sqrt(1 - a_prev) eps): `order`
= 1 is DDIM, with eta; `order` = 2 is deterministic (eta must be 0).

Every image is a function of its own row: x_T is drawn from (seed, 0) and step k's noise from
(seed, k + 1); steps, eta, order, label and guidance are per row (a batch runs the longest row's steps,
each row moving only on its own). So the same request row gives the same image in every process and
in any batch, which TF Serving's request batching relies on.

Serving (uint8 images out): `serving_default(seed[, label])` at the default steps, eta and guidance;
`sample(seed, steps, eta[, label, guidance], order)`, every input validated in-graph.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from zoo.contract import Evaluation, Input, Interface, Signature
from zoo.trainable import TrainableModel
from zoo.data.base import IMAGE, LABEL
from zoo.errors import UserError
from zoo.models import base
from zoo.registry import register

SCHEDULES = ("linear", "cosine")
MAX_TIMESTEPS = 1000  # The most steps a `sample` request may ask for is the model's T (at most this).
MAX_GUIDANCE = 20.0
SOLVER_ORDERS = (1, 2)  # 1: DDIM (DPM-Solver++ first order, with eta); 2: DPM-Solver++(2M).
MIN_RESOLUTION = 8  # The U-Net halves the image while both sides are even and above this.


def beta_schedule(name, timesteps):
    """The betas (float64 numpy [T]) of schedule `name` ("linear" or "cosine") over `timesteps`."""
    if name == "linear":
        scale = 1000.0 / timesteps
        return np.minimum(np.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=np.float64), 0.999)
    if name == "cosine":
        s = 0.008
        steps = np.arange(timesteps + 1, dtype=np.float64) / timesteps
        f = np.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        return np.minimum(1.0 - f[1:] / f[:-1], 0.999)
    raise UserError(f"unknown noise schedule {name!r}; known: {', '.join(SCHEDULES)}")


def sampling_timesteps(steps, timesteps, k):
    """(t_k, t_{k+1}) of an S-step sampler at step k: floor((S - k) T / S) - 1 (t_{S} = -1: done).

    Integer arithmetic on tensors or numbers alike; `steps` and `k` broadcast."""
    return (steps - k) * timesteps // steps - 1, (steps - k - 1) * timesteps // steps - 1


def timestep_embedding(t, dim):
    """Sinusoidal embedding [N, dim] of (float) timesteps [N] (Vaswani et al. 2017, as in DDPM)."""
    half = dim // 2
    frequencies = tf.exp(-math.log(10000.0) * tf.range(half, dtype=tf.float32) / half)
    angles = tf.cast(t, tf.float32)[:, None] * frequencies[None, :]
    return tf.concat([tf.sin(angles), tf.cos(angles)], axis=-1)


def _groups(channels):
    """Group normalization's groups: at most 32 (Ho et al.), at least 4 channels each. With groups of
    one channel the per-channel time and label embedding added before a normalization would be
    removed by it entirely (a narrow network would then ignore t)."""
    return max(1, math.gcd(channels, min(32, channels // 4)))


class ResBlock(keras.layers.Layer):
    """GroupNorm, swish, 3x3 conv, + the time (and label) embedding, GroupNorm, swish, 3x3 conv (zero
    initialized, so the block starts as the identity), with a 1x1 shortcut when the width changes."""

    def __init__(self, in_channels, channels, **kwargs):
        super().__init__(**kwargs)
        self.norm1 = keras.layers.GroupNormalization(_groups(in_channels), epsilon=1e-5)
        self.conv1 = keras.layers.Conv2D(channels, 3, padding="same")
        self.embedding = keras.layers.Dense(channels)
        self.norm2 = keras.layers.GroupNormalization(_groups(channels), epsilon=1e-5)
        self.conv2 = keras.layers.Conv2D(channels, 3, padding="same", kernel_initializer="zeros")
        self.shortcut = keras.layers.Conv2D(channels, 1) if in_channels != channels else None

    def call(self, x, embedding):
        h = self.conv1(keras.ops.silu(self.norm1(x)))
        h = h + self.embedding(keras.ops.silu(embedding))[:, None, None, :]
        h = self.conv2(keras.ops.silu(self.norm2(h)))
        return (x if self.shortcut is None else self.shortcut(x)) + h


class SelfAttention(keras.layers.Layer):
    """Single-head self-attention over the H x W positions, residual, output projection zero-initialized."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.norm = keras.layers.GroupNormalization(_groups(channels), epsilon=1e-5)
        self.qkv = keras.layers.Dense(3 * channels)
        self.project = keras.layers.Dense(channels, kernel_initializer="zeros")

    def call(self, x):
        shape = tf.shape(x)
        h = tf.reshape(self.norm(x), [shape[0], shape[1] * shape[2], self.channels])
        q, k, v = tf.split(self.qkv(h), 3, axis=-1)
        weights = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) / math.sqrt(self.channels), axis=-1)
        out = self.project(tf.matmul(weights, v))
        return x + tf.reshape(out, shape)


def resolutions(image_shape):
    """The U-Net's resolutions: halve while both sides are even and larger than MIN_RESOLUTION
    (28 -> 14 -> 7; 32 -> 16 -> 8; 64 -> 32 -> 16 -> 8)."""
    height, width = image_shape[:2]
    sizes = [(height, width)]
    while all(side % 2 == 0 and side > MIN_RESOLUTION for side in sizes[-1]):
        sizes.append((sizes[-1][0] // 2, sizes[-1][1] // 2))
    return sizes


class UNet(base.CompositeNetwork):
    """(x_t [N, H, W, C], t [N] float, labels [N] int or absent) -> predicted noise [N, H, W, C].

    One level per resolution (`resolutions`), level l `width * channel_mults[l]` wide (the last
    multiplier repeats), `num_res_blocks` residual blocks per level on the way down and one more on
    the way up (each reading a skip connection), self-attention at the lowest resolution and in the
    middle. `num_classes` > 0 adds a label embedding of num_classes + 1 entries, the last being the
    "no label" token of classifier-free guidance.
    """

    def __init__(self, image_shape, width=32, channel_mults=(1, 2, 2), num_res_blocks=1, num_classes=0, **kwargs):
        super().__init__(**kwargs)
        self.width = int(width)
        self.num_classes = int(num_classes)
        levels = len(resolutions(image_shape))
        mults = list(channel_mults) + [channel_mults[-1]] * max(0, levels - len(channel_mults))
        channels = [self.width * mult for mult in mults[:levels]]
        embedding_dim = 4 * self.width
        self.time_hidden = keras.layers.Dense(embedding_dim)
        self.time_out = keras.layers.Dense(embedding_dim)
        self.label_embedding = (keras.layers.Embedding(self.num_classes + 1, embedding_dim) if self.num_classes
                                else None)
        self.conv_in = keras.layers.Conv2D(self.width, 3, padding="same")
        # Layers kept in lists are listed for checkpoints by base.VariableList.
        self.down_blocks, self.down_attention, self.downsamples = [], [], []
        skips, current = [self.width], self.width
        for level, level_channels in enumerate(channels):
            lowest = level == levels - 1
            for _ in range(num_res_blocks):
                self.down_blocks.append(ResBlock(current, level_channels))
                self.down_attention.append(SelfAttention(level_channels) if lowest else None)
                current = level_channels
                skips.append(current)
            if not lowest:
                self.downsamples.append(keras.layers.Conv2D(current, 3, strides=2, padding="same"))
                skips.append(current)
        self.middle = [ResBlock(current, current), SelfAttention(current), ResBlock(current, current)]
        self.up_blocks, self.up_attention, self.upsamples = [], [], []
        for level in reversed(range(levels)):
            lowest = level == levels - 1
            for _ in range(num_res_blocks + 1):
                self.up_blocks.append(ResBlock(current + skips.pop(), channels[level]))
                self.up_attention.append(SelfAttention(channels[level]) if lowest else None)
                current = channels[level]
            if level:
                self.upsamples.append(keras.layers.Conv2D(current, 3, padding="same"))
        self.norm_out = keras.layers.GroupNormalization(_groups(current), epsilon=1e-5)
        self.conv_out = keras.layers.Conv2D(image_shape[-1], 3, padding="same")
        self.levels, self.num_res_blocks = levels, int(num_res_blocks)

    def call(self, inputs):
        if self.num_classes:
            x, t, labels = inputs
        else:
            x, t = inputs[:2]
        embedding = self.time_out(keras.ops.silu(self.time_hidden(timestep_embedding(t, self.width))))
        if self.num_classes:
            embedding = embedding + self.label_embedding(labels)
        h = self.conv_in(x)
        skips, blocks, downsamples = [h], iter(zip(self.down_blocks, self.down_attention)), iter(self.downsamples)
        for level in range(self.levels):
            for _ in range(self.num_res_blocks):
                block, attention = next(blocks)
                h = block(h, embedding)
                h = h if attention is None else attention(h)
                skips.append(h)
            if level < self.levels - 1:
                h = next(downsamples)(h)
                skips.append(h)
        h = self.middle[2](self.middle[1](self.middle[0](h, embedding)), embedding)
        blocks, upsamples = iter(zip(self.up_blocks, self.up_attention)), iter(self.upsamples)
        for level in reversed(range(self.levels)):
            for _ in range(self.num_res_blocks + 1):
                block, attention = next(blocks)
                h = block(tf.concat([h, skips.pop()], axis=-1), embedding)
                h = h if attention is None else attention(h)
            if level:
                size = tf.shape(skips[-1])[1:3]  # Back to the size of the level above (nearest neighbour).
                h = next(upsamples)(tf.image.resize(h, size, method="nearest"))
        return self.conv_out(keras.ops.silu(self.norm_out(h)))


class Diffusion(TrainableModel):
    """DDPM training of an epsilon-prediction network, DDIM sampling with per-row steps, eta, label
    and guidance (see the module docstring)."""

    def __init__(self, network, image_shape, betas, ema_network=None, num_classes=0, label_dropout=0.1,
                 sample_steps=50, eta=0.0, guidance=1.0, solver_order=1, **kwargs):
        super().__init__(**kwargs)
        self.network, self.ema_network = network, ema_network
        self.image_shape = tuple(int(size) for size in image_shape)
        self.betas = np.asarray(betas, np.float64)
        self.timesteps = len(self.betas)
        self.alphas_cumprod = np.cumprod(1.0 - self.betas)
        self.num_classes = int(num_classes)
        self.label_dropout = float(label_dropout)
        self.sample_steps, self.eta, self.guidance = int(sample_steps), float(eta), float(guidance)
        self.solver_order = int(solver_order)
        self.ema_decay = 0.0

    @property
    def conditional(self):
        return self.num_classes > 0

    def compile(self, optimizer, ema_decay=0.0, clip_norm=0.0):
        super().compile()
        self.network_optimizer = optimizer
        if not 0.0 <= ema_decay < 1.0:
            raise UserError(f"ema_decay must be in [0, 1) (0: off), got {ema_decay}")
        if ema_decay and self.ema_network is None:
            raise UserError(f"{self.name} was built without an ema_network; ema_decay needs one")
        self.ema_decay, self.clip_norm = float(ema_decay), float(clip_norm)

    @property
    def sampling_network(self):
        """The network that samples, is evaluated and is exported: the EMA copy when EMA is on."""
        return self.ema_network if self.ema_decay else self.network

    def _network_inputs(self, x, t, labels):
        t = tf.cast(t, tf.float32)
        return (x, t, labels) if self.conditional else (x, t)

    def build_for_training(self):
        inputs = self._network_inputs(tf.zeros([1, *self.image_shape]), tf.zeros([1]), tf.zeros([1], tf.int64))
        self.network(inputs)
        if self.ema_decay:
            self.ema_network(inputs)
            for average, value in zip(self.ema_network.variables, self.network.variables, strict=True):
                average.assign(value)
        self.network_optimizer.build(self.network.trainable_variables)

    def checkpoint_items(self):
        owners = {"network": self.network, "optimizer": self.network_optimizer}
        if self.ema_decay:
            owners["ema_network"] = self.ema_network
        return {name: base.VariableList(owner) for name, owner in owners.items()}

    def averaged_networks(self):
        """{average: network} of the checkpoint items (zoo.train.transfer starts both from either)."""
        return {"ema_network": "network"} if self.ema_decay else {}

    def call(self, inputs, training=False):
        return self.network(inputs)

    def _alpha_bar(self, t):
        """alpha_bar at integer timesteps t (any shape); 1 where t < 0 (before the first step)."""
        table = tf.constant(self.alphas_cumprod, tf.float32)
        t = tf.cast(t, tf.int32)
        return tf.where(t >= 0, tf.gather(table, tf.maximum(t, 0)), tf.ones([], tf.float32))

    def q_sample(self, x0, t, noise):
        """A draw of q(x_t | x_0) in closed form: sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise."""
        alpha_bar = self._alpha_bar(t)[:, None, None, None]
        return tf.sqrt(alpha_bar) * x0 + tf.sqrt(1.0 - alpha_bar) * noise

    def training_draws(self, images, labels, seed):
        """(t, noise, labels) of a training step, drawn from the step's seed, split in 3: timesteps (0),
        noise (1), label dropout (2); labels None when unconditional, else with the dropped ones
        replaced by the "no label" token `num_classes`."""
        seeds = tf.unstack(base.split_seed(seed, 3))
        rows = tf.shape(images)[0]
        t = base.replica_uniform([rows], seeds[0], 0, self.timesteps, dtype=tf.int32)
        noise = base.replica_normal(tf.shape(images), seeds[1])
        if self.conditional:
            dropped = base.replica_uniform([rows], seeds[2]) < self.label_dropout
            labels = tf.where(dropped, tf.constant(self.num_classes, tf.int64), tf.cast(labels, tf.int64))
        return t, noise, labels

    def denoising_loss(self, images, labels, t, noise, training=True):
        """The simple DDPM loss: mean squared error of the predicted noise."""
        predicted = self.network(self._network_inputs(self.q_sample(images, t, noise), t, labels), training=training)
        return tf.reduce_mean(tf.square(noise - predicted))

    def train_step(self, batch, seed):
        images = batch["image"]
        t, noise, labels = self.training_draws(images, batch.get("label") if self.conditional else None, seed)
        with tf.GradientTape() as tape:
            loss = self.denoising_loss(images, labels, t, noise)
        base.apply_update(tape, loss, self.network, self.network_optimizer, self.clip_norm)
        if self.ema_decay:
            base.update_ema(self.ema_network, self.network, self.ema_decay, self.network_optimizer.iterations)
        return {"loss": loss}

    # ---- sampling --------------------------------------------------------------------------------

    def predict_noise(self, network, x, t, labels=None, guidance=None):
        """eps_theta(x, t): with labels and guidance, eps_uncond + guidance (eps_cond - eps_uncond)
        (the network runs once, on the doubled batch; a batch whose guidance is all 1 needs only
        eps_cond, so only its rows run). One network call in the graph, not one per branch: tracing,
        the SavedModel and its graph optimization are half the size of a cond over two calls."""
        if not self.conditional:
            return network(self._network_inputs(x, t, None))
        guided = tf.logical_not(tf.reduce_all(tf.equal(guidance, 1.0)))
        null = tf.fill(tf.shape(labels), tf.constant(self.num_classes, tf.int64))
        batch_x, batch_t, batch_labels = tf.cond(
            guided, lambda: (tf.concat([x, x], 0), tf.concat([t, t], 0), tf.concat([labels, null], 0)),
            lambda: (x, t, labels))
        out = network(self._network_inputs(batch_x, batch_t, batch_labels))

        def combine():
            eps_conditional, eps_unconditional = tf.split(out, 2, axis=0)
            weight = guidance[:, None, None, None]
            return eps_unconditional + weight * (eps_conditional - eps_unconditional)

        return tf.cond(guided, combine, lambda: out)

    def initial_noise(self, seeds):
        """x_T of each row from (seed, 0)."""
        return self._row_normals(seeds, tf.zeros_like(seeds))

    def _row_normals(self, seeds, streams):
        def one(pair):
            return tf.random.stateless_normal(self.image_shape, seed=pair)

        pairs = tf.stack([tf.cast(seeds, tf.int64), tf.cast(streams, tf.int64)], axis=1)
        return tf.map_fn(one, pairs, fn_output_signature=tf.TensorSpec(self.image_shape, tf.float32))

    def solver_step(self, network, x, x0_last, h_last, seeds, k, steps, eta, order, labels=None, guidance=None):
        """Step k of every row (rows with steps <= k keep x): DDIM, or DPM-Solver++(2M) where the row's
        order is 2 and the step is neither its first nor its last (see the module docstring).
        Returns (x_prev, x0, h): the new x, and this step's data prediction and log-SNR step for the next."""
        k = tf.cast(k, tf.int64)
        active = k < steps
        t, t_prev = sampling_timesteps(steps, self.timesteps, k)
        t, t_prev = tf.where(active, t, 0), tf.where(active, t_prev, -1)
        a_t, a_prev = self._alpha_bar(t), self._alpha_bar(t_prev)
        eps = self.predict_noise(network, x, t, labels, guidance)
        a_t4, a_prev4 = a_t[:, None, None, None], a_prev[:, None, None, None]
        x0 = tf.clip_by_value((x - tf.sqrt(1.0 - a_t4) * eps) / tf.sqrt(a_t4), -1.0, 1.0)
        eps = (x - tf.sqrt(a_t4) * x0) / tf.sqrt(1.0 - a_t4)
        sigma = eta * tf.sqrt((1.0 - a_prev) / (1.0 - a_t) * (1.0 - a_t / a_prev))
        sigma4 = sigma[:, None, None, None]
        x_prev = tf.sqrt(a_prev4) * x0 + tf.sqrt(tf.maximum(1.0 - a_prev4 - tf.square(sigma4), 0.0)) * eps
        noisy = tf.logical_and(active, sigma > 0)
        x_prev = tf.cond(tf.reduce_any(noisy),
                         lambda: x_prev + sigma4 * self._row_normals(seeds, tf.fill(tf.shape(seeds), k + 1)),
                         lambda: x_prev)
        # DPM-Solver++(2M): lambda = log(alpha / sigma) = (log a - log(1 - a)) / 2, finite where t_prev >= 0.
        inner = t_prev >= 0
        safe_prev = tf.where(inner, a_prev, 0.5)
        h = tf.where(inner, 0.5 * (tf.math.log(safe_prev) - tf.math.log(1.0 - safe_prev))
                     - 0.5 * (tf.math.log(a_t) - tf.math.log(1.0 - a_t)), 0.0)
        second = tf.logical_and(tf.logical_and(active, inner), tf.logical_and(order == 2, k > 0))

        def multistep():
            half_inverse_r = tf.where(second, h / (2.0 * tf.where(second, h_last, 1.0)), 0.0)[:, None, None, None]
            data = (1.0 + half_inverse_r) * x0 - half_inverse_r * x0_last
            ratio = tf.sqrt((1.0 - safe_prev) / (1.0 - a_t))[:, None, None, None]
            update = ratio * x - tf.sqrt(a_prev4) * tf.math.expm1(-h)[:, None, None, None] * data
            return tf.where(second[:, None, None, None], update, x_prev)

        x_prev = tf.cond(tf.reduce_any(second), multistep, lambda: x_prev)
        keep = active[:, None, None, None]
        return tf.where(keep, x_prev, x), tf.where(keep, x0, x0_last), tf.where(active, h, h_last)

    def sample_images(self, seeds, steps, eta, labels=None, guidance=None, network=None, order=None):
        """Images in [-1, 1] [N, H, W, C] by DDIM or DPM-Solver++(2M) (see the module docstring); every
        argument per row (order: 1 or 2 per row, default the model's solver_order)."""
        network = network or self.sampling_network
        seeds = tf.convert_to_tensor(seeds, tf.int64)
        steps = tf.cast(steps, tf.int64)
        eta = tf.cast(eta, tf.float32)
        order = (tf.fill(tf.shape(seeds), tf.constant(self.solver_order, tf.int64)) if order is None
                 else tf.cast(order, tf.int64))
        if self.conditional:
            labels, guidance = tf.cast(labels, tf.int64), tf.cast(guidance, tf.float32)
        rows = tf.shape(seeds)[0]

        def run():
            def body(k, x, x0_last, h_last):
                return (k + 1, *self.solver_step(network, x, x0_last, h_last, seeds, k, steps, eta, order, labels,
                                                 guidance))

            x = self.initial_noise(seeds)
            _, x, _, _ = tf.while_loop(lambda k, *_: k < tf.reduce_max(steps), body,
                                       (tf.constant(0, tf.int64), x, tf.zeros_like(x), tf.zeros([rows], tf.float32)))
            return x

        # TensorFlow's CPU convolutions reject an empty batch; an empty request gets an empty answer.
        return tf.cond(rows > 0, run, lambda: tf.zeros([0, *self.image_shape], tf.float32))

    # ---- serving ---------------------------------------------------------------------------------

    def _checks(self, seed, steps=None, eta=None, label=None, guidance=None, order=None):
        rows = tf.shape(seed)[0]
        checks = [base.check_serving_batch(seed, "seed")]

        def per_row(value, name):
            return tf.debugging.assert_equal(tf.shape(value)[0], rows, message=f"{name}: needs one value per seed")

        if steps is not None:
            message = f"steps: every value must be between 1 and {self.timesteps} (this model's timesteps)"
            checks += [per_row(steps, "steps"),
                       tf.debugging.assert_greater_equal(steps, tf.constant(1, tf.int64), message=message),
                       tf.debugging.assert_less_equal(steps, tf.constant(self.timesteps, tf.int64), message=message)]
        for value, name, high in ((eta, "eta", 1.0), (guidance, "guidance", MAX_GUIDANCE)):
            if value is not None:
                message = f"{name}: every value must be a finite number between 0 and {high:g}"
                checks += [per_row(value, name),
                           tf.debugging.assert_greater_equal(value, 0.0, message=message),
                           tf.debugging.assert_less_equal(value, high, message=message)]  # NaN fails both.
        if order is not None:
            message = f"order: every value must be {' or '.join(map(str, SOLVER_ORDERS))} (1 DDIM, 2 DPM-Solver++(2M))"
            checks += [per_row(order, "order"),
                       tf.debugging.assert_greater_equal(order, tf.constant(min(SOLVER_ORDERS), tf.int64),
                                                         message=message),
                       tf.debugging.assert_less_equal(order, tf.constant(max(SOLVER_ORDERS), tf.int64),
                                                      message=message)]
            if eta is not None:
                checks.append(tf.debugging.Assert(
                    tf.reduce_all(tf.logical_or(order < 2, tf.equal(eta, 0.0))),
                    ["eta: DPM-Solver++(2M) (order 2) is deterministic: eta must be 0 where order is 2"]))
        if label is not None:
            message = f"label: every label must be between 0 and {self.num_classes - 1}"
            checks += [per_row(label, "label"),
                       tf.debugging.assert_non_negative(label, message=message),
                       tf.debugging.assert_less(label, tf.constant(self.num_classes, tf.int64), message=message)]
        return checks

    def serving_signatures(self):
        """`serving_default(seed[, label])` at the defaults; `sample(seed, steps, eta[, label, guidance])`."""
        seed_spec = tf.TensorSpec([None], tf.int64, name="seed")
        steps_spec = tf.TensorSpec([None], tf.int64, name="steps")
        eta_spec = tf.TensorSpec([None], tf.float32, name="eta")
        label_spec = tf.TensorSpec([None], tf.int64, name="label")
        guidance_spec = tf.TensorSpec([None], tf.float32, name="guidance")
        order_spec = tf.TensorSpec([None], tf.int64, name="order")

        def defaults(seed):
            rows = tf.shape(seed)
            return (tf.fill(rows, tf.constant(self.sample_steps, tf.int64)), tf.fill(rows, self.eta),
                    tf.fill(rows, self.guidance), tf.fill(rows, tf.constant(self.solver_order, tf.int64)))

        def images(seed, steps, eta, order, label=None, guidance=None):
            return {"images": base.to_uint8(self.sample_images(seed, steps, eta, label, guidance, order=order))}

        # serving_default calls `sample` at the defaults: the sampler is traced, saved and optimized once.
        if self.conditional:
            @tf.function(input_signature=[seed_spec, steps_spec, eta_spec, label_spec, guidance_spec, order_spec])
            def sample(seed, steps, eta, label, guidance, order):
                seed, steps, eta, label, guidance, order = base.checked(
                    self._checks(seed, steps, eta, label, guidance, order), seed, steps, eta, label, guidance, order)
                return images(seed, steps, eta, order, label, guidance)

            @tf.function(input_signature=[seed_spec, label_spec])
            def serving_default(seed, label):
                seed, label = base.checked(self._checks(seed, label=label), seed, label)
                steps, eta, guidance, order = defaults(seed)
                return sample(seed, steps, eta, label, guidance, order)
        else:
            @tf.function(input_signature=[seed_spec, steps_spec, eta_spec, order_spec])
            def sample(seed, steps, eta, order):
                seed, steps, eta, order = base.checked(self._checks(seed, steps, eta, order=order), seed, steps, eta,
                                                       order)
                return images(seed, steps, eta, order)

            @tf.function(input_signature=[seed_spec])
            def serving_default(seed):
                seed = base.checked(self._checks(seed), seed)
                steps, eta, _, order = defaults(seed)
                return sample(seed, steps, eta, order)

        return base.answering_empty_batches({"serving_default": serving_default, "sample": sample})

    def interface(self):
        """Sampling from seeds at the defaults (serving_default) or with steps/eta/guidance chosen
        per row (sample, which evaluation and the preview use, its parameters at the defaults)."""
        seed = Input("seed", "seed", "int64")
        steps = Input("steps", "parameter", "int64", default=self.sample_steps, low=1, high=self.timesteps)
        eta = Input("eta", "parameter", "float32", default=self.eta, low=0.0, high=1.0)
        inputs, default_inputs = [seed, steps, eta], [seed]
        if self.conditional:
            label = Input("label", "class_label", "int64", num_values=self.num_classes, feature=LABEL)
            guidance = Input("guidance", "parameter", "float32", default=self.guidance, low=0.0, high=MAX_GUIDANCE)
            inputs, default_inputs = [*inputs, label, guidance], [seed, label]
        inputs.append(Input("order", "parameter", "int64", default=self.solver_order, low=min(SOLVER_ORDERS),
                            high=max(SOLVER_ORDERS)))
        return Interface(
            [Signature("serving_default", default_inputs, {"images": "images"}),
             Signature("sample", inputs, {"images": "images"})],
            evaluations=[Evaluation("samples", "sample", reference=IMAGE)],
            preview="samples")

    def export_info(self):
        sampler = {1: "ddim", 2: "dpm_solver++_2m"}[self.solver_order]
        info = {"image_shape": list(self.image_shape), "timesteps": self.timesteps, "sampler": sampler,
                "default_steps": self.sample_steps, "default_eta": self.eta,
                "network_weights": f"ema (decay {self.ema_decay})" if self.ema_decay else "raw"}
        if self.conditional:
            info.update(num_classes=self.num_classes, default_guidance=self.guidance)
        return info


@register("ddpm")
def ddpm(config, spec):
    """Denoising diffusion (DDPM loss, DDIM sampler), U-Net with attention, optional classifier-free guidance."""
    image_shape, num_classes = base.image_data(spec, "ddpm")
    if config.class_conditional and num_classes < 2:
        raise UserError(f"ddpm with class_conditional=True needs labelled data with at least 2 classes; this "
                        f"dataset has {num_classes}")
    num_classes = num_classes if config.class_conditional else 0
    if not 1 <= config.timesteps <= MAX_TIMESTEPS:
        raise UserError(f"ddpm timesteps must be between 1 and {MAX_TIMESTEPS}, got {config.timesteps}")
    if not 1 <= config.sample_steps <= config.timesteps:
        raise UserError(f"ddpm sample_steps must be between 1 and timesteps ({config.timesteps}), "
                        f"got {config.sample_steps}")
    if not 0.0 <= config.eta <= 1.0 or not 0.0 <= config.guidance <= MAX_GUIDANCE:
        raise UserError(f"ddpm eta must be in [0, 1] and guidance in [0, {MAX_GUIDANCE:g}], got {config.eta} "
                        f"and {config.guidance}")
    solver_order = config.get("solver_order", 1)
    if solver_order not in SOLVER_ORDERS or (solver_order == 2 and config.eta != 0.0):
        raise UserError(f"ddpm solver_order must be one of {SOLVER_ORDERS} (1 DDIM, 2 DPM-Solver++(2M), which needs "
                        f"eta = 0), got {solver_order} with eta {config.eta}")
    if not 0.0 <= config.label_dropout < 1.0:
        raise UserError(f"ddpm label_dropout must be in [0, 1), got {config.label_dropout}")
    if config.width < 1 or config.num_res_blocks < 1 or not config.channel_mults:
        raise UserError(f"ddpm needs width >= 1, num_res_blocks >= 1 and channel_mults, got {config.width}, "
                        f"{config.num_res_blocks} and {tuple(config.channel_mults)}")
    betas = beta_schedule(config.schedule, config.timesteps)

    def make_network(name):
        return UNet(image_shape, config.width, tuple(config.channel_mults), config.num_res_blocks, num_classes,
                    name=name)

    model = Diffusion(make_network("network"), image_shape, betas,
                      ema_network=make_network("ema_network") if config.ema_decay else None,
                      num_classes=num_classes, label_dropout=config.label_dropout, sample_steps=config.sample_steps,
                      eta=config.eta, guidance=config.guidance, solver_order=solver_order)
    model.compile(keras.optimizers.Adam(config.learning_rate), ema_decay=config.ema_decay,
                  clip_norm=config.get("clip_norm", 0.0))
    return model
