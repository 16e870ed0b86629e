"""DCGAN (Radford et al. 2015) on Fashion-MNIST, sized for about 10 minutes on 2 CPU cores.

    zoo-train --config=experiments/configs/dcgan_fashion_mnist.py --workdir=runs/dcgan
"""

from experiments.configs._base import (
    gan_model_config,
    gan_search_space,
    shrink_for_smoke,
    trainer_config,
)


def get_config(smoke=False):
    config = gan_model_config(trainer_config("dcgan"))
    config.train_steps = 6000
    config.image_every = 500
    config.model_config.generator_width = 64
    config.model_config.discriminator_width = 64
    config.model_config.kernel_size = 5
    config.model_config.discriminator_normalization = "batch"  # "layer" or "none" for R1 or the gradient penalty.
    config.model_config.dropout = 0.0
    if smoke:
        shrink_for_smoke(config)
        config.model_config.latent_dim = 16
        config.model_config.generator_width = 8
        config.model_config.discriminator_width = 8
    return config


def search_space(hp, smoke=False):
    """zoo-tune's search space: learning rates, Adam's beta_1, widths, latent size, loss, DiffAugment, EMA."""
    return gan_search_space(hp, smoke)
