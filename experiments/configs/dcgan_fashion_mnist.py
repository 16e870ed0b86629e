"""DCGAN (Radford et al. 2015) on Fashion-MNIST, sized for about 10 minutes on 2 CPU cores.

    zoo-train --config=experiments/configs/dcgan_fashion_mnist.py --workdir=runs/dcgan
"""

from experiments.configs._base import shrink_for_smoke, trainer_config


def get_config(smoke=False):
    config = trainer_config("dcgan")
    config.batch_size = 64
    config.train_steps = 6000
    config.image_every = 500
    config.model_config.latent_dim = 100
    config.model_config.generator_width = 64
    config.model_config.discriminator_width = 64
    config.model_config.kernel_size = 5
    config.model_config.dropout = 0.0
    config.model_config.loss = "non_saturating"
    config.model_config.real_label = 1.0
    config.model_config.generator_learning_rate = 2e-4
    config.model_config.discriminator_learning_rate = 2e-4
    config.model_config.beta_1 = 0.5
    if smoke:
        shrink_for_smoke(config)
        config.model_config.latent_dim = 16
        config.model_config.generator_width = 8
        config.model_config.discriminator_width = 8
    return config
