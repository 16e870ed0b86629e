"""Gated PixelCNN (van den Oord et al. 2016) on Fashion-MNIST pixels, 256-way softmax per pixel,
sized for about 10 minutes on 2 CPU cores.

    zoo-train --config=experiments/configs/pixelcnn_fashion_mnist.py --workdir=runs/pixelcnn
"""

from experiments.configs._base import shrink_for_smoke, trainer_config


def get_config(smoke=False):
    config = trainer_config("pixelcnn")
    config.batch_size = 32
    # A step took 0.76 CPU-seconds (measured on a shared 2-core machine), so 1,500 steps (0.8
    # epochs) should take about 10 minutes on 2 idle cores; test bits/dim is still falling there.
    config.train_steps = 1500
    config.image_every = 500  # A 64-image grid draws its 784 pixels one after another: seconds, not ms.
    config.model_config.filters = 64
    config.model_config.num_layers = 6  # Gated layers, the 7x7 type-A layer included.
    config.model_config.kernel_size = 3
    config.model_config.first_kernel_size = 7
    config.model_config.head_units = 256
    config.model_config.learning_rate = 1e-3
    if smoke:
        shrink_for_smoke(config)
        config.model_config.filters = 8
        config.model_config.num_layers = 2
        config.model_config.head_units = 16
    return config


def search_space(hp, smoke=False):
    """zoo-tune's search space: learning rate, filters, depth and the output head's width."""
    return {
        "model_config.learning_rate": hp.Float("learning_rate", 1e-4, 3e-3, sampling="log"),
        "model_config.filters": hp.Choice("filters", [4, 8] if smoke else [32, 64, 96]),
        "model_config.num_layers": hp.Choice("num_layers", [2, 3] if smoke else [4, 6, 8]),
        "model_config.head_units": hp.Choice("head_units", [8, 16] if smoke else [128, 256]),
    }
