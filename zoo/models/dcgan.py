"""DCGAN (Radford et al. 2015): strided (transposed) convolutions, batch norm, ReLU/LeakyReLU.

The generator projects the latent to a small feature map and doubles its size with transposed
convolutions until it reaches the image size; the discriminator mirrors it with strided
convolutions. Both adapt to any square image whose side halves to a map of at least 4 pixels.
Batch normalization uses the statistics of the global batch under a tf.distribute strategy
(`zoo.layers.SyncBatchNormalization`), so replicas train as one device would.
"""

import keras

from zoo.errors import UserError
from zoo.layers import SyncBatchNormalization
from zoo.models import base
from zoo.models.gan import make_gan
from zoo.registry import register


def num_upsamplings(size, max_doublings=4):
    """How many times a `size` x `size` image halves evenly while staying at least 4 pixels wide."""
    doublings = 0
    while doublings < max_doublings and size % (2 ** (doublings + 1)) == 0 and size // 2 ** (doublings + 1) >= 4:
        doublings += 1
    if doublings == 0:
        raise UserError(f"DCGAN needs an even image side of at least 8 pixels, got {size}")
    return doublings


class DCGANGenerator(keras.Model):
    """Latent -> Dense to (s/2^k, s/2^k, width*2^(k-1)) -> k transposed convolutions -> tanh image."""

    def __init__(self, image_shape, width=64, kernel_size=5, **kwargs):
        super().__init__(**kwargs)
        height, _, channels = image_shape
        doublings = num_upsamplings(height)
        base = height // 2**doublings
        base_channels = width * 2 ** (doublings - 1) * 2
        self.project = keras.layers.Dense(base * base * base_channels, use_bias=False)
        self.reshape = keras.layers.Reshape((base, base, base_channels))
        self.project_norm = SyncBatchNormalization()
        # Plain lists of layers (no tuples, no None): TensorFlow checkpoints track only those.
        self.block_convs = [
            keras.layers.Conv2DTranspose(base_channels // 2 ** (level + 1), kernel_size, strides=2, padding="same",
                                         use_bias=False)
            for level in range(doublings - 1)
        ]
        self.block_norms = [SyncBatchNormalization() for _ in range(doublings - 1)]
        self.out = keras.layers.Conv2DTranspose(channels, kernel_size, strides=2, padding="same", activation="tanh")

    def call(self, z, training=False):
        x = keras.ops.relu(self.project_norm(self.reshape(self.project(z)), training=training))
        for conv, norm in zip(self.block_convs, self.block_norms):
            x = keras.ops.relu(norm(conv(x), training=training))
        return self.out(x)


def sample_normalization(**kwargs):
    """Layer normalization as WGAN-GP's reference critic does it: each sample normalized over its
    height, width and channels together, then a learned scale and offset per channel (one group
    of keras's GroupNormalization; keras's LayerNormalization would normalize each pixel over the
    channels alone). Samples stay independent, as a gradient penalty needs."""
    return keras.layers.GroupNormalization(groups=1, epsilon=1e-5, **kwargs)


# A discriminator's normalization by name. Batch statistics are those of the global batch under a
# tf.distribute strategy (`SyncBatchNormalization`). "channels" normalizes each pixel over its
# channels (keras's LayerNormalization): WGAN-GP's critic before it followed the paper, kept so
# that the two can be compared (README, Benchmarks).
NORMALIZATIONS = {"batch": SyncBatchNormalization, "layer": sample_normalization,
                  "channels": keras.layers.LayerNormalization, "none": keras.layers.Identity}


def normalization_layer(normalization):
    """The layer class (or factory) of a discriminator normalization, or a one-line UserError."""
    if normalization not in NORMALIZATIONS:
        raise UserError(f"unknown discriminator normalization {normalization!r}; available: "
                        f"{', '.join(NORMALIZATIONS)}")
    return NORMALIZATIONS[normalization]


class DCGANDiscriminator(keras.Model):
    """Image -> k strided convolutions (LeakyReLU 0.2, normalization after the first) -> one logit.

    `normalization` is "batch" (DCGAN), "layer" (per sample over H, W and C: a critic with a
    gradient penalty must treat samples independently, Gulrajani et al. 2017), "channels" or
    "none" (see NORMALIZATIONS). `output_bias=False` for a Wasserstein critic, whose loss is blind
    to a constant offset.
    """

    def __init__(self, image_shape, width=64, kernel_size=5, dropout=0.0, normalization="batch", output_bias=True,
                 **kwargs):
        super().__init__(**kwargs)
        make_norm = normalization_layer(normalization)
        doublings = num_upsamplings(image_shape[0])
        self.image_size = image_shape[0]
        # Named by depth, so that variable paths are stable ("discriminator/conv0/kernel" is the first
        # layer in any process): --freeze patterns (FreezeD) name them.
        self.convs = [
            keras.layers.Conv2D(width * 2**level, kernel_size, strides=2, padding="same", name=f"conv{level}")
            for level in range(doublings)
        ]
        self.norms = [make_norm(name=f"norm{level}") for level in range(1, doublings)]  # None after conv0.
        self.dropout_rate = float(dropout)
        self.flatten = keras.layers.Flatten()
        self.out = keras.layers.Dense(1, use_bias=output_bias, name="logit")

    @property
    def feature_dim(self):
        """Width of the flattened features the final logit layer reads."""
        size = self.image_size
        for _ in self.convs:
            size = -(-size // 2)  # "same" padding rounds up.
        return size * size * self.convs[-1].filters

    def call(self, images, training=False, seed=None):
        return self.out(self.features(images, training=training, seed=seed))

    def features(self, images, training=False, seed=None):
        """The flattened output of the convolutional trunk (what the logit layer reads)."""
        x = images
        for index, conv in enumerate(self.convs):
            x = conv(x)
            if index > 0:
                x = self.norms[index - 1](x, training=training)
            layer_seed = None if seed is None else base.fold_seed(seed, index)
            x = base.dropout(keras.ops.leaky_relu(x, 0.2), self.dropout_rate, layer_seed, training)
        return self.flatten(x)


@register("dcgan")
def dcgan(config, spec):
    """DCGAN with the paper's optimizer defaults (Adam, lr 2e-4, beta_1 0.5) from the config."""
    image_shape, num_classes = base.image_data(spec, "dcgan")
    del num_classes  # Unconditional.
    if image_shape[0] != image_shape[1]:
        raise UserError(f"DCGAN needs square images, got {image_shape[0]}x{image_shape[1]}")
    discriminator = DCGANDiscriminator(
        image_shape, config.discriminator_width, config.kernel_size, config.dropout,
        normalization=config.get("discriminator_normalization", "batch"), name="discriminator"
    )
    return make_gan("dcgan",
                    lambda name: DCGANGenerator(image_shape, config.generator_width, config.kernel_size, name=name),
                    discriminator, config, image_shape)
