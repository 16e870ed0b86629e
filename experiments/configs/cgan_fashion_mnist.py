"""Class-conditional DCGAN (projection discriminator) on Fashion-MNIST's 10 classes: DCGAN's
config plus a label embedding.

    zoo-train --config=experiments/configs/cgan_fashion_mnist.py --workdir=runs/cgan
    zoo-sample --export=exports/cgan_fashion_mnist --num=100 --out=classes.png   # one row per class
"""

from experiments.configs import dcgan_fashion_mnist
from experiments.configs._base import gan_search_space


def get_config(smoke=False):
    config = dcgan_fashion_mnist.get_config(smoke=smoke)
    config.model = "cgan"
    config.export_name = "cgan_fashion_mnist"
    del config.model_config["dropout"]  # The projection discriminator uses the plain DCGAN trunk.
    config.model_config.embedding_dim = 16
    return config


def search_space(hp, smoke=False):
    """zoo-tune's search space: the DCGAN knobs plus the label embedding's size."""
    overrides = gan_search_space(hp, smoke)
    overrides["model_config.embedding_dim"] = hp.Choice("embedding_dim", [4, 8] if smoke else [8, 16, 32])
    return overrides
