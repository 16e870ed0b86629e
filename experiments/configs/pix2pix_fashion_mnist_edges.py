"""pix2pix (Isola et al. 2017) on Fashion-MNIST outlines -> images: a U-Net generator and a
PatchGAN discriminator, adversarial loss + 100 x L1. A pix2pix step (batch 32) cost about 2x a
DCGAN step (batch 64) in the same process; benchmarks/translation.py measures it at a wall-clock
budget (README: steps reached in 10 minutes).

    zoo-train --config=experiments/configs/pix2pix_fashion_mnist_edges.py --workdir=runs/pix2pix_edges
    zoo-train --config=experiments/configs/pix2pix_fashion_mnist_edges.py --workdir=runs/pix2pix_edges_l1 \
        --set=model_config.adversarial_weight=0.0   # the ablation: the same U-Net, L1 only
"""

from experiments.configs._base import gan_model_config, shrink_for_smoke, trainer_config


def get_config(smoke=False, dataset="fashion_mnist_edges"):
    config = gan_model_config(trainer_config("pix2pix", dataset))
    del config.model_config["latent_dim"]  # The noise is the U-Net's dropout, not a latent vector.
    config.batch_size = 32
    config.train_steps = 4500
    config.image_every = 500
    config.model_config.generator_width = 32
    config.model_config.discriminator_width = 32
    config.model_config.discriminator_normalization = "batch"  # "layer" or "none" for R1 or the gradient penalty.
    config.model_config.dropout = 0.5  # In the innermost up blocks of the U-Net, as in the paper.
    config.model_config.l1_weight = 100.0
    config.model_config.adversarial_weight = 1.0  # 0: L1 only, the discriminator is not trained.
    if smoke:
        shrink_for_smoke(config)
        config.model_config.generator_width = 4
        config.model_config.discriminator_width = 4
    return config


def search_space(hp, smoke=False):
    """zoo-tune's search space: the two learning rates, Adam's beta_1, the L1 weight and the widths."""
    choices = [4, 8] if smoke else [16, 32, 64]
    return {
        "model_config.generator_learning_rate": hp.Float("generator_learning_rate", 5e-5, 2e-3, sampling="log"),
        "model_config.discriminator_learning_rate": hp.Float("discriminator_learning_rate", 5e-5, 2e-3,
                                                             sampling="log"),
        "model_config.beta_1": hp.Choice("beta_1", [0.5, 0.0]),
        "model_config.l1_weight": hp.Choice("l1_weight", [10.0, 50.0, 100.0, 200.0]),
        "model_config.generator_width": hp.Choice("generator_width", choices),
        "model_config.discriminator_width": hp.Choice("discriminator_width", choices),
    }
