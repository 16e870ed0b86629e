"""The fully connected GAN of Goodfellow et al. 2014 on Fashion-MNIST.

    zoo-train --config=experiments/configs/mlp_gan_fashion_mnist.py --workdir=runs/mlp_gan
"""

from experiments.configs._base import gan_model_config, shrink_for_smoke, trainer_config


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
