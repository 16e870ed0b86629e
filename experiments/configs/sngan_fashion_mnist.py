"""SN-GAN (Miyato et al. 2018) on Fashion-MNIST: spectrally normalized standard-CNN discriminator,
DCGAN generator, hinge loss, Adam(2e-4, 0.5, 0.999), one discriminator update per step (the
paper's setting C). The generator is narrower than dcgan's (width 32, 4x4 kernels as in the
paper's standard CNN; latent 64) so that its export stays small, and so is the discriminator
(width 32: at 64 its stride-1 layers cost about five times the multiply-adds of dcgan's discriminator).

    zoo-train --config=experiments/configs/sngan_fashion_mnist.py --workdir=runs/sngan
"""

from experiments.configs._base import gan_model_config, gan_search_space, shrink_for_smoke, trainer_config


def get_config(smoke=False):
    config = gan_model_config(trainer_config("sngan"))
    config.train_steps = 6000
    config.image_every = 500
    config.model_config.latent_dim = 64
    config.model_config.loss = "hinge"
    config.model_config.beta_2 = 0.999
    config.model_config.generator_width = 32
    config.model_config.discriminator_width = 32
    config.model_config.kernel_size = 4
    if smoke:
        shrink_for_smoke(config)
        config.model_config.latent_dim = 16
        config.model_config.generator_width = 8
        config.model_config.discriminator_width = 8
    return config


def search_space(hp, smoke=False):
    """zoo-tune's search space: the GAN knobs (hinge among the losses) and Adam's beta_2."""
    overrides = gan_search_space(hp, smoke)
    overrides["model_config.beta_2"] = hp.Choice("beta_2", [0.9, 0.999])
    return overrides
