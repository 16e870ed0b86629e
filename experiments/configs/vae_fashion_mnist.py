"""Convolutional VAE on Fashion-MNIST with a discretized-logistic decoder (256 levels per pixel).

    zoo-train --config=experiments/configs/vae_fashion_mnist.py --workdir=runs/vae --export_dir=exports
    zoo-eval --export=exports/vae_fashion_mnist           # ELBO and importance-weighted NLL, bits/dim, FID
    zoo-sample --export=exports/vae_fashion_mnist --interpolate --out=interpolation.png
"""

from experiments.configs._base import shrink_for_smoke, trainer_config


def get_config(smoke=False):
    config = trainer_config("vae")
    config.batch_size = 64
    config.train_steps = 6000
    config.log_every = 100
    config.checkpoint_every = 1000
    config.image_every = 1000
    config.model_config.latent_dim = 32
    config.model_config.width = 32
    config.model_config.hidden_units = 512
    config.model_config.beta = 1.0  # ELBO weight of the KL term (beta-VAE, Higgins et al. 2017, when > 1).
    config.model_config.learning_rate = 1e-3
    config.model_config.clip_norm = 100.0  # Global gradient-norm clip (0: none); guards early steps.
    # Samples of the importance-weighted likelihood bound in the exported log_likelihood signature
    # (Burda et al. 2016 evaluate with 5000; cost grows linearly).
    config.model_config.importance_samples = 100
    if smoke:
        shrink_for_smoke(config)
        config.model_config.latent_dim = 4
        config.model_config.width = 4
        config.model_config.hidden_units = 16
        config.model_config.importance_samples = 4
    return config


def search_space(hp, smoke=False):
    """zoo-tune's search space: learning rate, latent size, widths and the KL weight (beta < 1 trades
    sample quality for likelihood, so tuning on bits/dim keeps it near 1)."""
    return {
        "model_config.learning_rate": hp.Float("learning_rate", 1e-4, 3e-3, sampling="log"),
        "model_config.latent_dim": hp.Choice("latent_dim", [2, 4] if smoke else [16, 32, 64]),
        "model_config.width": hp.Choice("width", [4, 8] if smoke else [16, 32, 64]),
        "model_config.hidden_units": hp.Choice("hidden_units", [8, 16] if smoke else [256, 512]),
        "model_config.beta": hp.Float("beta", 0.5, 2.0, sampling="log"),
    }
