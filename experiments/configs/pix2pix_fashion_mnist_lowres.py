"""pix2pix (Isola et al. 2017) for 4x super-resolution of Fashion-MNIST: the edges config with
only the dataset changed.

    zoo-train --config=experiments/configs/pix2pix_fashion_mnist_lowres.py --workdir=runs/pix2pix_lowres
"""

from experiments.configs import pix2pix_fashion_mnist_edges

search_space = pix2pix_fashion_mnist_edges.search_space


def get_config(smoke=False):
    return pix2pix_fashion_mnist_edges.get_config(smoke=smoke, dataset="fashion_mnist_lowres")
