"""SN-GAN (Miyato et al. 2018, *Spectral Normalization for Generative Adversarial Networks*).

The discriminator is the paper's "standard CNN" (its Table 3), sized by the image: per halving a
3x3 stride-1 and a 4x4 stride-2 convolution of width * 2**level channels, then a 3x3 convolution
of width * 2**halvings channels and a dense logit, LeakyReLU 0.1 between them and no other
normalization: every layer's kernel is divided by its spectral norm
(`zoo.layers.SpectralNormalization`, one power iteration per training call), which bounds the
discriminator's Lipschitz constant without a penalty or batch statistics. The generator is
DCGAN's (batch norm, ReLU, transposed convolutions), as in the paper's standard CNN. The loss is
the hinge pair and the optimizer Adam(2e-4, beta_1 0.5, beta_2 0.999) with one discriminator
update per step: the paper's setting C (Table 1), the cheapest of the settings it reports.

Serving is the GAN's: `serving_default(seed)` and `from_latent(z)` -> uint8 `images`.
"""

import keras

from zoo.errors import UserError
from zoo.layers import SpectralNormalization
from zoo.models import base
from zoo.models.dcgan import DCGANGenerator, num_upsamplings
from zoo.models.gan import make_gan
from zoo.registry import register


class SNDiscriminator(keras.Model):
    """The standard CNN of Miyato et al. 2018 with spectrally normalized layers; one logit."""

    def __init__(self, image_shape, width=64, **kwargs):
        super().__init__(**kwargs)
        halvings = num_upsamplings(image_shape[0], max_doublings=3)
        specs = []
        for level in range(halvings):
            specs += [(width * 2**level, 3, 1), (width * 2**level, 4, 2)]
        specs.append((width * 2**halvings, 3, 1))
        # Named by position, so that variable paths ("discriminator/conv0/conv/kernel") are the same in
        # every process, for --freeze patterns.
        self.convs = [SpectralNormalization(keras.layers.Conv2D(filters, kernel, strides=strides, padding="same",
                                                                name="conv"), name=f"conv{index}")
                      for index, (filters, kernel, strides) in enumerate(specs)]
        self.flatten = keras.layers.Flatten()
        self.out = SpectralNormalization(keras.layers.Dense(1, name="dense"), name="logit")

    def call(self, images, training=False, seed=None):
        del seed  # No dropout: nothing random in this discriminator.
        x = images
        for conv in self.convs:
            x = keras.ops.leaky_relu(conv(x, training=training), 0.1)
        return self.out(self.flatten(x), training=training)


@register("sngan")
def sngan(config, spec):
    """SN-GAN: DCGAN generator, spectrally normalized standard-CNN discriminator, hinge loss."""
    image_shape, num_classes = base.image_data(spec, "sngan")
    del num_classes  # Unconditional.
    if image_shape[0] != image_shape[1]:
        raise UserError(f"sngan needs square images, got {image_shape[0]}x{image_shape[1]}")
    discriminator = SNDiscriminator(image_shape, config.discriminator_width, name="discriminator")
    return make_gan("sngan",
                    lambda name: DCGANGenerator(image_shape, config.generator_width, config.kernel_size, name=name),
                    discriminator, config, image_shape)
