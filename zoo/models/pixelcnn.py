"""Gated PixelCNN (van den Oord et al. 2016, *Conditional Image Generation with PixelCNN Decoders*).

An autoregressive model of the 8-bit pixels in raster order: p(x) = prod_i p(x_i | x_<i), each
factor a 256-way softmax over the pixel's levels, so log p(image) is exact (no bound) and training
minimizes it directly (nats per dimension; bits/dim = nats/dim / ln 2).

Causality comes from the shapes of the convolutions, not from masked weights: a vertical stack
sees only rows above the current one, a horizontal stack only the current row up to the current
pixel, and each layer feeds the vertical stack into the horizontal one. Together they see every
earlier pixel in the receptive field, so there is no blind spot (the original PixelCNN's stacked
masked 3x3 convolutions never see part of the region above and to the right). The first layer
(7x7, mask type A) excludes the current pixel; every later layer (type B) includes the previous
layer's features at it. Both stacks use the gated activation tanh(a) * sigmoid(b); the horizontal
stack is residual.

With C > 1 channels the channels of one pixel are modelled independently given all earlier
pixels (the paper's R -> G -> B ordering within a pixel is not implemented); with Fashion-MNIST's
one channel the model is the paper's.

Serving: `serving_default(seed)` samples inside the graph (a tf.while_loop over rows, and inside it
over columns) and `log_likelihood(images)` scores uint8 images in nats, exactly. A sampled image is
a function of its seed alone: one uniform per pixel, drawn from the seed, picks the level by
inverting the conditional's CDF. Sampling does not re-run the network per pixel: each layer caches
the rows (vertical stack) or pixels (horizontal stack) its kernel reads and computes only the new
one (Ramachandran et al. 2017), the per-pixel layers as matrix products (`PixelCNN.sample_levels`;
benchmarks/pixelcnn_sampling.py measures it against the sampler before the caches and against
cropping both stacks to the receptive field, `GatedPixelCNN.reach`). (Convolutions over a different
batch or shape, and a matrix product in place of a convolution, may round the logits differently in
the last bit; a uniform that close to a CDF boundary would pick the neighbouring level. Tests compare
batches of 1 and 3, and the cached sampler with the one before it, exactly.)
"""

import math

import keras
import tensorflow as tf

from zoo.data.base import IMAGE
from zoo.errors import UserError
from zoo.models import base
from zoo.contract import Evaluation, Input, Interface, Signature
from zoo.trainable import TrainableModel
from zoo.registry import register

LEVELS = 256


def to_levels(images):
    """Images in [-1, 1] (the training pipeline's scale) -> integer levels 0..255."""
    return tf.cast(base.to_uint8(images), tf.int32)  # round((x + 1) * 127.5), as exported images are.


def network_inputs(levels):
    """Integer levels -> the float inputs the network reads, in [-1, 1]."""
    return tf.cast(levels, tf.float32) / 127.5 - 1.0


def _transpose_levels(levels, perm):
    """int32 pixel levels (0..255) transposed through float32, where every level is exact: oneDNN's
    rewrite of an integer transpose logs an error-level line ("supports DT_INT32 only on platforms
    with AVX-512") on CPUs it does not accelerate, which zoo's commands would print."""
    return tf.cast(tf.transpose(tf.cast(levels, tf.float32), perm), tf.int32)


def _gate(x):
    """The gated activation tanh(a) * sigmoid(b) over the two halves of the channels."""
    a, b = tf.split(x, 2, axis=-1)
    return tf.tanh(a) * tf.sigmoid(b)


class GatedPixelCNN(keras.Model):
    """Image in [-1, 1] [N, H, W, C] -> logits [N, H, W, C, 256] of each pixel given earlier ones.

    Layer 0 (type A, `first_kernel_size`): the vertical stack reads the k//2 rows above (k wide),
    the horizontal stack the k//2 pixels to the left. Layers 1.. (type B, `kernel_size`): the
    vertical stack reads the previous vertical features of rows i-k//2..i (which themselves see
    only rows above i), the horizontal stack its features at columns j-k//2..j. Nothing is padded
    below, and the horizontal stack pads only on the left, so each layer's output at (i, j) reads
    only its input's rows i-k//2..i (layer 0: ..i-1), columns j-k//2..j+k//2, in the vertical stack
    and columns j-k//2..j (layer 0: ..j-1) of row i in the horizontal one: the sampler caches exactly
    those (`vertical_row`,
    `pixel_logits`), and `reach` sums them into the window of the logits.
    """

    def __init__(self, image_shape, filters=64, num_layers=6, kernel_size=3, first_kernel_size=7, head_units=256,
                 **kwargs):
        super().__init__(**kwargs)
        self.channels = int(image_shape[-1])
        self.kernel_sizes = [first_kernel_size] + [kernel_size] * (num_layers - 1)
        # Layers kept in lists, which TensorFlow's object graph skips: checkpoints list every
        # variable through base.VariableList instead.
        self.vertical_convs = [
            keras.layers.Conv2D(2 * filters, (k // 2 if index == 0 else k // 2 + 1, k), padding="valid")
            for index, k in enumerate(self.kernel_sizes)
        ]
        self.horizontal_convs = [
            keras.layers.Conv2D(2 * filters, (1, k // 2 if index == 0 else k // 2 + 1), padding="valid")
            for index, k in enumerate(self.kernel_sizes)
        ]
        self.vertical_to_horizontal = [keras.layers.Conv2D(2 * filters, 1) for _ in self.kernel_sizes]
        self.horizontal_outputs = [keras.layers.Conv2D(filters, 1) for _ in self.kernel_sizes]
        self.head_hidden = keras.layers.Conv2D(head_units, 1)
        self.head_out = keras.layers.Conv2D(self.channels * LEVELS, 1)

    def vertical(self, index, v, last_row_feed=False):
        """Layer `index` of the vertical stack: (next vertical features, its feed to the horizontal
        stack), the feed for the last row only if `last_row_feed` (all the sampler needs)."""
        pad = self.kernel_sizes[index] // 2
        conv = self.vertical_convs[index](tf.pad(v, [[0, 0], [pad, 0], [pad, pad], [0, 0]]))
        if index == 0:
            conv = conv[:, :-1]  # One row too many: dropping the last makes row i read rows i-k//2..i-1.
        return _gate(conv), self.vertical_to_horizontal[index](conv[:, -1:] if last_row_feed else conv)

    def horizontal(self, index, h, feed):
        """Layer `index` of the horizontal stack, given the vertical stack's feed at the same positions."""
        pad = self.kernel_sizes[index] // 2
        conv = self.horizontal_convs[index](tf.pad(h, [[0, 0], [0, 0], [pad, 0], [0, 0]]))
        if index == 0:
            conv = conv[:, :, :-1]  # Column j reads columns j-k//2..j-1: not the pixel itself.
        out = self.horizontal_outputs[index](_gate(conv + feed))
        return out if index == 0 else h + out

    def vertical_feeds(self, x, last_row=False):
        """The feed of every layer's vertical stack into the horizontal one, for all of `x`'s rows
        (or its last row only)."""
        feeds, v = [], x
        for index in range(len(self.kernel_sizes)):
            v, feed = self.vertical(index, v, last_row_feed=last_row)
            feeds.append(feed)
        return feeds

    def horizontal_logits(self, x, feeds):
        """Logits from the horizontal stack over `x` given the vertical feeds at the same positions."""
        h = x
        for index, feed in enumerate(feeds):
            h = self.horizontal(index, h, feed)
        logits = self.head_out(keras.ops.relu(self.head_hidden(keras.ops.relu(h))))
        shape = tf.shape(logits)
        return tf.reshape(logits, tf.concat([shape[:3], [self.channels, LEVELS]], axis=0))

    def call(self, x, training=False):
        return self.horizontal_logits(x, self.vertical_feeds(x))

    def reach(self):
        """How far the logits at (i, j) see, from the kernel sizes: rows i-reach..i-1 within reach
        columns on either side, and the reach pixels left of (i, j) in row i; nothing else.

        Each layer's kernel reaches k//2 further (layer 0 up and sideways in the vertical stack, left
        in the horizontal one; every later layer one step of k//2 in each), so reach is their sum.
        """
        return sum(k // 2 for k in self.kernel_sizes)

    def vertical_row(self, index, rows):
        """Layer `index` of the vertical stack at one row r, from exactly the rows its kernel reads
        there [N, k//2 (layer 0) or k//2 + 1, W, channels]: layer 0 reads the input's rows r-k//2..r-1,
        each later layer the previous layer's features at rows r-k//2..r. Returns (vertical features,
        feed to the horizontal stack) of row r, [N, 1, W, .]; as `vertical` computes them for row r."""
        pad = self.kernel_sizes[index] // 2
        conv = self.vertical_convs[index](tf.pad(rows, [[0, 0], [0, 0], [pad, pad], [0, 0]]))
        return _gate(conv), self.vertical_to_horizontal[index](conv)

    def pixel_weights(self):
        """The horizontal stack's and the head's kernels as the matrices of one output position
        ([taps * in, out], taps in column order: the layout of `pixel_logits`' windows) with their
        biases, read in the order `call` reads them."""
        layers = [layer for pair in zip(self.horizontal_convs, self.horizontal_outputs) for layer in pair]
        return [(tf.reshape(layer.kernel, [-1, layer.filters]), tf.convert_to_tensor(layer.bias))
                for layer in layers + [self.head_hidden, self.head_out]]

    def pixel_logits(self, weights, windows, h_windows, feeds):
        """The horizontal stack and the head at one pixel (i, j), as matrix products: the 1-row
        convolutions there read a fixed window of columns, here flattened to [N, taps * channels].

        `weights`: `pixel_weights()`. `windows`: the network's input at the k//2 pixels left of (i, j)
        (layer 0's window) [N, k//2 * channels]; `h_windows[l - 1]`: layer l-1's features at the k//2
        pixels left of (i, j), for each later layer l; `feeds`: every layer's vertical feed at (i, j),
        [N, 2 * filters] each. Returns (logits [N, channels, 256], each later layer's window for
        (i, j + 1)), zeros standing for the padding left of column 0 as in `horizontal`.
        """
        def dense(x, kernel_bias):
            return tf.nn.bias_add(tf.matmul(x, kernel_bias[0]), kernel_bias[1])

        h, next_windows = None, []
        for index, k in enumerate(self.kernel_sizes):
            conv_weights, output_weights = weights[2 * index], weights[2 * index + 1]
            if index == 0:
                conv = dense(windows, conv_weights)  # Not the pixel itself: type A.
            else:
                taps = tf.concat([h_windows[index - 1], h], axis=1)
                next_windows.append(h if k // 2 == 1 else taps[:, h.shape[-1]:])
                conv = dense(taps, conv_weights)
            out = dense(_gate(conv + feeds[index]), output_weights)
            h = out if index == 0 else h + out
        logits = dense(tf.nn.relu(dense(tf.nn.relu(h), weights[-2])), weights[-1])
        return tf.reshape(logits, [-1, self.channels, LEVELS]), next_windows


def uniforms_from_seeds(seeds, image_shape):
    """One uniform in [0, 1) per pixel and channel for each int64 seed; a pure function of the seed.

    Each image's uniforms come from its own seed (seed, 0), never from the batch it arrives in, so
    the same seed draws the same image in every request (as `base.latents_from_seeds` does for latents).
    """
    def one(seed):
        return tf.random.stateless_uniform(image_shape, seed=tf.stack([seed, tf.constant(0, tf.int64)]))

    seeds = tf.convert_to_tensor(seeds, tf.int64)
    return tf.map_fn(one, seeds, fn_output_signature=tf.TensorSpec(image_shape, tf.float32))


def inverse_cdf_sample(logits, uniforms):
    """The level whose softmax CDF interval holds each uniform: logits [..., 256], uniforms [...] -> int32.

    One uniform per pixel drawn up front replaces a categorical draw per pixel, so sampling needs
    no per-image random op inside the loop and stays batch-independent.
    """
    cdf = tf.math.cumsum(tf.nn.softmax(logits, axis=-1), axis=-1)
    below = tf.reduce_sum(tf.cast(cdf < uniforms[..., None], tf.int32), axis=-1)
    return tf.minimum(below, LEVELS - 1)  # A uniform above a CDF that rounds to just under 1.


class PixelCNN(TrainableModel):
    """A gated PixelCNN trained by maximum likelihood: one optimizer step per batch on the exact NLL."""

    def __init__(self, network, image_shape, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.image_shape = tuple(int(size) for size in image_shape)

    def compile(self, optimizer):
        """Attaches the network's optimizer."""
        super().compile()
        self.network_optimizer = optimizer

    def build_for_training(self):
        self.network(tf.zeros([1, *self.image_shape]))
        self.network_optimizer.build(self.network.trainable_variables)

    def checkpoint_items(self):
        owners = {"network": self.network, "optimizer": self.network_optimizer}
        return {name: base.VariableList(owner) for name, owner in owners.items()}

    def call(self, x, training=False):
        return self.network(x, training=training)

    def log_likelihood_of_levels(self, levels):
        """log p(image) in nats per image [N] for integer levels [N, H, W, C]: the sum over pixels
        of the log softmax at the true level."""
        logits = self.network(network_inputs(levels), training=False)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=levels, logits=logits)
        return -tf.reduce_sum(nll, axis=[1, 2, 3])

    def train_step(self, batch, seed):
        del seed  # The loss is exact: nothing random in the update.
        levels = to_levels(batch["image"])
        with tf.GradientTape() as tape:
            logits = self.network(network_inputs(levels), training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=levels, logits=logits))
        base.apply_update(tape, loss, self.network, self.network_optimizer)
        return {"loss": loss, "bits_per_dim": loss / math.log(2.0)}

    def sample_levels(self, uniforms):
        """Ancestral sampling in raster order: integer levels [N, H, W, C] from `uniforms` of that shape.

        Every layer keeps what it computed before (Ramachandran et al. 2017, *Fast Generation for
        Convolutional Autoregressive Models*) and computes only what is new: once per row, each layer
        of the vertical stack computes that row alone from the k//2 rows above it that it cached (and,
        above layer 0, the new row of the layer below: `vertical_row`); once per pixel, each layer of
        the horizontal stack computes that pixel alone from the k//2 pixels to its left that it cached
        (and the new pixel of the layer below: `pixel_logits`, where a one-position
        convolution is a matrix product, which on CPU costs far less than a convolution call). The
        caches start as zeros, the padding the network sees above row 0 and left of column 0, so
        each pixel's logits are the ones `call` gives the finished image (to rounding: see the
        module docstring).
        """
        height, width, channels = self.image_shape
        network = self.network
        kernel_sizes = network.kernel_sizes
        filters = network.horizontal_outputs[0].filters
        batch_size = tf.shape(uniforms)[0]
        uniforms_by_row = tf.transpose(uniforms, [1, 2, 0, 3])  # [H, W, N, C]: one gather per pixel.

        def row_step(i, rows, above, v_windows):
            """Row i from the input's k//2 rows above it (`above`) and each vertical layer l >= 1's
            window of layer l-1's features at the k//2 rows above it (`v_windows`)."""
            feeds, next_v_windows, v = [], [], None
            for index, k in enumerate(kernel_sizes):
                window = above if index == 0 else tf.concat([v_windows[index - 1], v], axis=1)
                if index > 0:
                    next_v_windows.append(window[:, 1:])
                v, feed = network.vertical_row(index, window)
                feeds.append(feed)
            feeds = tf.transpose(tf.concat(feeds, axis=-1)[:, 0], [1, 0, 2])  # [W, N, layers * 2 * filters]
            weights = network.pixel_weights()  # Read after the vertical stack's, in `call`'s order.
            row_uniforms = tf.gather(uniforms_by_row, i)

            def column_step(j, row, left, h_windows):
                logits, h_windows = network.pixel_logits(
                    weights, left, h_windows, tf.split(tf.gather(feeds, j), len(kernel_sizes), axis=-1))
                pixel = inverse_cdf_sample(logits, tf.gather(row_uniforms, j))  # [N, C]
                left = tf.concat([left[:, channels:], network_inputs(pixel)], axis=1)
                return j + 1, row.write(j, pixel), left, h_windows

            _, row, _, _ = tf.while_loop(
                lambda j, *_: j < width, column_step,
                (tf.constant(0), tf.TensorArray(tf.int32, size=width, element_shape=[None, channels]),
                 tf.zeros([batch_size, kernel_sizes[0] // 2 * channels]),
                 [tf.zeros([batch_size, k // 2 * filters]) for k in kernel_sizes[1:]]))
            row = _transpose_levels(row.stack(), [1, 0, 2])  # [N, W, C]
            above = tf.concat([above[:, 1:], network_inputs(row)[:, None]], axis=1)
            return i + 1, rows.write(i, row), above, next_v_windows

        def sample():
            _, rows, _, _ = tf.while_loop(
                lambda i, *_: i < height, row_step,
                (tf.constant(0), tf.TensorArray(tf.int32, size=height, element_shape=[None, width, channels]),
                 tf.zeros([batch_size, kernel_sizes[0] // 2, width, channels]),
                 [tf.zeros([batch_size, k // 2, width, filters]) for k in kernel_sizes[1:]]))
            return _transpose_levels(rows.stack(), [1, 0, 2, 3])

        # TensorFlow's CPU convolutions reject an empty batch; an empty request gets an empty answer.
        return tf.cond(batch_size > 0, sample, lambda: tf.zeros([0, height, width, channels], tf.int32))

    def serving_signatures(self):
        """`serving_default(seed)` -> uint8 `images` sampled in-graph; `log_likelihood(images)` -> nats."""
        height, width, channels = self.image_shape

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="seed")])
        def serving_default(seed):
            with tf.control_dependencies([base.check_serving_batch(seed, "seed")]):
                uniforms = uniforms_from_seeds(seed, self.image_shape)
            return {"images": tf.cast(self.sample_levels(uniforms), tf.uint8)}

        # Any H, W, C pass the signature so that a wrong size fails in-graph with a message naming
        # the input and the shape this model scores, not with a client-side binding error.
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, None], tf.uint8, name="images")])
        def log_likelihood(images):
            checks = [
                base.check_serving_batch(images, "images"),
                tf.debugging.assert_equal(
                    tf.shape(images)[1:], tf.constant([height, width, channels]),
                    message=f"images: must be uint8 [N, {height}, {width}, {channels}] (this model's image shape)"),
            ]
            with tf.control_dependencies(checks):
                # The checked shape made static: a convolution that cannot see its input's channels
                # is compiled by XLA (Keras's grouped-conv path), which TF Serving does not run by default.
                levels = tf.ensure_shape(tf.cast(images, tf.int32), [None, height, width, channels])
            # TensorFlow's CPU convolutions reject an empty batch; an empty request gets an empty answer.
            scores = tf.cond(tf.shape(levels)[0] > 0, lambda: self.log_likelihood_of_levels(levels),
                             lambda: tf.zeros([0], tf.float32))
            return {"log_likelihood": scores}

        return base.answering_empty_batches({"serving_default": serving_default, "log_likelihood": log_likelihood})

    def interface(self):
        """Sampling from seeds and the exact likelihood of images."""
        images = Input("images", "image", "uint8", self.image_shape, feature=IMAGE)
        return Interface(
            [Signature("serving_default", [Input("seed", "seed", "int64")], {"images": "images"}),
             Signature("log_likelihood", [images], {"log_likelihood": "log_likelihood"})],
            evaluations=[Evaluation("samples", "serving_default", reference=IMAGE),
                         Evaluation("image_likelihood", "log_likelihood")],
            preview="samples")

    def export_info(self):
        return {"image_shape": list(self.image_shape), "likelihood": "exact"}


@register("pixelcnn")
def pixelcnn(config, spec):
    """Gated PixelCNN with a 256-way softmax per pixel, Adam on the exact negative log-likelihood."""
    image_shape, num_classes = base.image_data(spec, "pixelcnn")
    del num_classes  # Unconditional.
    for key in ("kernel_size", "first_kernel_size"):
        if config[key] < 3 or config[key] % 2 == 0:
            raise UserError(f"pixelcnn {key} must be odd and at least 3, got {config[key]}")
    if config.num_layers < 1 or config.filters < 1 or config.head_units < 1:
        raise UserError(f"pixelcnn needs num_layers, filters and head_units >= 1, got {config.num_layers}, "
                        f"{config.filters} and {config.head_units}")
    network = GatedPixelCNN(image_shape, config.filters, config.num_layers, config.kernel_size,
                            config.first_kernel_size, config.head_units, name="network")
    model = PixelCNN(network, image_shape)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    return model
