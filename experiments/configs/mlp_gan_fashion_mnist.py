"""The fully connected GAN of Goodfellow et al. 2014 on Fashion-MNIST.

    zoo-train --config=experiments/configs/mlp_gan_fashion_mnist.py --workdir=runs/mlp_gan
"""

from experiments.configs._base import (
    gan_model_config,
    gan_search_space,
    shrink_for_smoke,
    trainer_config,
)


def get_config(smoke=False):
    config = gan_model_config(trainer_config("mlp_gan"))
    config.train_steps = 10000
    config.model_config.generator_units = (256, 512, 1024)
    config.model_config.discriminator_units = (512, 256)
    config.model_config.dropout = 0.3
    if smoke:
        shrink_for_smoke(config)
        config.model_config.latent_dim = 16
        config.model_config.generator_units = (32,)
        config.model_config.discriminator_units = (32,)
    return config


def search_space(hp, smoke=False):
    """zoo-tune's search space: the GAN knobs, the hidden layers' sizes and the discriminator's dropout."""
    overrides = gan_search_space(hp, smoke, widths=False)
    scale = hp.Choice("units_scale", [1, 2] if smoke else [1, 2, 4])  # Multiplies (64, 128, 256) / (128, 64).
    base = 16 if smoke else 64
    overrides["model_config.generator_units"] = (base * scale, 2 * base * scale, 4 * base * scale)
    overrides["model_config.discriminator_units"] = (2 * base * scale, base * scale)
    overrides["model_config.dropout"] = hp.Choice("dropout", [0.0, 0.3])
    return overrides
