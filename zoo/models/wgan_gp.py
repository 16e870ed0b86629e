"""WGAN-GP (Gulrajani et al. 2017, *Improved Training of Wasserstein GANs*).

The shared GAN update (zoo.models.gan) with the Wasserstein loss pair, `n_critic` critic updates
per generator update and a gradient penalty on random real/fake interpolates (weight 10),
Adam(1e-4, beta_1=0, beta_2=0.9). Each critic update sees its own real batch: the model asks the
trainer for `batches_per_step = n_critic` batches a step and deals them out (image i to critic
update i mod n_critic). The critic is DCGAN's without batch normalization, which mixes the samples
a per-sample penalty needs apart: layer normalization instead, each sample normalized over its
height, width and channels as in the paper's code, and no output bias (the loss is blind to it).
"""

from zoo.models import base
from zoo.models.dcgan import DCGANDiscriminator, DCGANGenerator
from zoo.models.gan import make_gan
from zoo.registry import register


@register("wgan_gp")
def wgan_gp(config, spec):
    """WGAN-GP with DCGAN networks and a layer-normalized critic."""
    image_shape, num_classes = base.image_data(spec, "wgan_gp")
    del num_classes  # Unconditional.
    critic = DCGANDiscriminator(image_shape, config.discriminator_width, config.kernel_size,
                                normalization=config.get("discriminator_normalization", "layer"), output_bias=False,
                                name="discriminator")
    return make_gan("wgan_gp",
                    lambda name: DCGANGenerator(image_shape, config.generator_width, config.kernel_size, name=name),
                    critic, config, image_shape, defaults={"loss": "wasserstein"})
