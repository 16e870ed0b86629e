"""keras-io's "DCGAN overriding train_step" recipe on Fashion-MNIST: the benchmark baseline.

    zoo-train --config=experiments/configs/keras_io_dcgan_fashion_mnist.py --workdir=runs/keras_io_dcgan
"""

from experiments.configs._base import gan_aids, shrink_for_smoke, trainer_config


def get_config(smoke=False):
    config = gan_aids(trainer_config("keras_io_dcgan"))  # Each aid refused: keras-io's recipe has none.
    config.batch_size = 32
    config.train_steps = 12000
    config.image_every = 1000
    config.model_config.latent_dim = 128
    config.model_config.generator_learning_rate = 1e-4
    config.model_config.discriminator_learning_rate = 1e-4
    config.model_config.beta_1 = 0.9  # Keras's Adam defaults, as keras-io leaves them.
    if smoke:
        shrink_for_smoke(config)
        config.model_config.latent_dim = 16
    return config
