"""WGAN-GP (Gulrajani et al. 2017) on Fashion-MNIST: n_critic 5, penalty weight 10, Adam(1e-4, 0, 0.9).

    zoo-train --config=experiments/configs/wgan_gp_fashion_mnist.py --workdir=runs/wgan_gp
"""

from experiments.configs._base import gan_aids, gan_search_space, shrink_for_smoke, trainer_config


def get_config(smoke=False):
    config = gan_aids(trainer_config("wgan_gp"))
    config.batch_size = 64  # Per critic update; each step reads n_critic batches.
    config.train_steps = 2000
    config.image_every = 250
    config.log_every = 50
    config.checkpoint_every = 250
    config.model_config.latent_dim = 100
    config.model_config.generator_width = 64
    config.model_config.discriminator_width = 64
    config.model_config.kernel_size = 5
    config.model_config.discriminator_normalization = "layer"  # Per sample, over H, W and C.
    config.model_config.loss = "wasserstein"
    config.model_config.n_critic = 5
    config.model_config.gradient_penalty_weight = 10.0
    config.model_config.generator_learning_rate = 1e-4
    config.model_config.discriminator_learning_rate = 1e-4
    config.model_config.beta_1 = 0.0
    config.model_config.beta_2 = 0.9
    if smoke:
        shrink_for_smoke(config)
        config.model_config.latent_dim = 16
        config.model_config.generator_width = 8
        config.model_config.discriminator_width = 8
        config.model_config.n_critic = 2
    return config


def search_space(hp, smoke=False):
    """zoo-tune's search space: the Wasserstein loss is WGAN-GP itself, so no loss kind; Adam's
    beta_2, critic updates and the penalty weight instead (Gulrajani et al. 2017 use 0.9, 5 and 10)."""
    overrides = gan_search_space(hp, smoke, losses=(), diffaugment=False)
    overrides["model_config.beta_2"] = hp.Choice("beta_2", [0.9, 0.99])
    overrides["model_config.n_critic"] = hp.Choice("n_critic", [1, 2] if smoke else [2, 5])
    overrides["model_config.gradient_penalty_weight"] = hp.Float("gradient_penalty_weight", 1.0, 20.0, sampling="log")
    return overrides
