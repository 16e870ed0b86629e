"""Conditional VAE on Fashion-MNIST's 10 classes: the VAE config plus a label embedding read by
both the encoder and the decoder.

    zoo-train --config=experiments/configs/cvae_fashion_mnist.py --workdir=runs/cvae --export_dir=exports
    zoo-sample --export=exports/cvae_fashion_mnist --num=100 --out=classes.png   # one row per class
"""

from experiments.configs import vae_fashion_mnist


def get_config(smoke=False):
    config = vae_fashion_mnist.get_config(smoke=smoke)
    config.model = "cvae"
    config.export_name = "cvae_fashion_mnist"
    config.model_config.embedding_dim = 16
    return config


def search_space(hp, smoke=False):
    """zoo-tune's search space: the VAE's plus the label embedding's size."""
    overrides = vae_fashion_mnist.search_space(hp, smoke)
    overrides["model_config.embedding_dim"] = hp.Choice("embedding_dim", [4, 8] if smoke else [8, 16, 32])
    return overrides
