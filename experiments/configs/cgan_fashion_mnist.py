"""Class-conditional DCGAN (projection discriminator) on Fashion-MNIST's 10 classes.

    zoo-train --config=experiments/configs/cgan_fashion_mnist.py --workdir=runs/cgan
    zoo-sample --export=exports/cgan_fashion_mnist --num=100 --out=classes.png   # one row per class
"""

from experiments.configs._base import gan_model_config, shrink_for_smoke, trainer_config


def get_config(smoke=False):
    config = gan_model_config(trainer_config("cgan"))
    config.train_steps = 6000
    config.image_every = 500
    config.model_config.embedding_dim = 16
    config.model_config.generator_width = 64
    config.model_config.discriminator_width = 64
    config.model_config.kernel_size = 5
    if smoke:
        shrink_for_smoke(config)
        config.model_config.latent_dim = 16
        config.model_config.generator_width = 8
        config.model_config.discriminator_width = 8
    return config
