"""InfoGAN (Chen et al. 2016) on Fashion-MNIST: 62-d noise, one 10-way categorical code and two
continuous codes, mutual-information weight 1, Adam G 1e-3 / D 2e-4 (the paper's MNIST setting).

    zoo-train --config=experiments/configs/infogan_fashion_mnist.py --workdir=runs/infogan
"""

from experiments.configs._base import (
    gan_model_config,
    gan_search_space,
    shrink_for_smoke,
    trainer_config,
)


def get_config(smoke=False):
    config = gan_model_config(trainer_config("infogan"))
    config.train_steps = 6000
    config.image_every = 500
    del config.model_config["latent_dim"]  # The generator reads noise_dim + codes.
    config.model_config.noise_dim = 62
    config.model_config.categorical_codes = 10
    config.model_config.continuous_codes = 2
    config.model_config.info_weight = 1.0
    config.model_config.generator_learning_rate = 1e-3
    config.model_config.generator_width = 64
    config.model_config.discriminator_width = 64
    config.model_config.kernel_size = 5
    config.model_config.discriminator_normalization = "batch"  # "layer" or "none" for R1 or the gradient penalty.
    if smoke:
        shrink_for_smoke(config)
        config.model_config.noise_dim = 8
        config.model_config.generator_width = 8
        config.model_config.discriminator_width = 8
    return config


def search_space(hp, smoke=False):
    """zoo-tune's search space: the GAN knobs InfoGAN's train_step has (no DiffAugment; its
    generator reads noise_dim + codes, not latent_dim) and the mutual-information weight."""
    overrides = gan_search_space(hp, smoke, diffaugment=False, latent_dim=False)
    overrides["model_config.noise_dim"] = hp.Choice("noise_dim", [4, 8] if smoke else [32, 62, 100])
    overrides["model_config.info_weight"] = hp.Float("info_weight", 0.25, 2.0, sampling="log")
    return overrides
