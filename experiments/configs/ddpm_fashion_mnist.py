"""Denoising diffusion (DDPM training, DDIM sampling) on Fashion-MNIST, sized for CPU training.

    zoo-train --config=experiments/configs/ddpm_fashion_mnist.py --workdir=runs/ddpm
    zoo-sample --export=exports/ddpm_fashion_mnist --num=64 --out=ddpm.png
    zoo-sample --export=exports/ddpm_fashion_mnist --parameter=steps=10 --out=ddpm_10_steps.png
"""

from experiments.configs._base import shrink_for_smoke, trainer_config


def diffusion_model_config(config):
    """The diffusion hyperparameters shared by the unconditional and the class-conditional config."""
    config.model_config.class_conditional = False
    config.model_config.timesteps = 1000  # T of Ho et al. 2020.
    config.model_config.schedule = "linear"  # or "cosine" (Nichol & Dhariwal 2021).
    config.model_config.width = 16  # U-Net levels 28x28 (16 channels), 14x14 (32), 7x7 (32, attention).
    config.model_config.channel_mults = (1, 2, 2)
    config.model_config.num_res_blocks = 1
    # Ho et al. used 2e-4 over 800k steps; a CPU run of a few thousand steps uses 1e-3, as keras-io's
    # DDIM example does.
    config.model_config.learning_rate = 1e-3
    config.model_config.clip_norm = 1.0  # Ho et al. clip gradients to norm 1.
    # The EMA of the weights is what samples, evaluates and exports (Ho et al.: 0.9999 over 800k
    # steps; a CPU run of a few thousand steps needs a shorter window).
    config.model_config.ema_decay = 0.999
    config.model_config.label_dropout = 0.1  # Classifier-free guidance's unconditional share (conditional only).
    # The export's defaults: DDIM steps, eta (0: deterministic) and guidance (conditional only).
    config.model_config.sample_steps = 50
    config.model_config.eta = 0.0
    config.model_config.guidance = 1.0
    # The export's default sampler: 1 DDIM (with eta), 2 DPM-Solver++(2M) (Lu et al. 2022; eta 0).
    config.model_config.solver_order = 1
    return config


def get_config(smoke=False):
    config = trainer_config("ddpm")
    config.batch_size = 64
    config.train_steps = 10000
    config.image_every = 1000  # A 64-image grid runs the 50-step sampler: seconds, not milliseconds.
    diffusion_model_config(config)
    if not smoke:
        # serving_default's sampler: the fewest steps whose FID is within 5% of DDIM at 50 steps
        # (docs/benchmarks.md, "Few-step diffusion sampling", benchmarks/diffusion_samplers.py on the
        # shipped weights): DPM-Solver++(2M) at 10 steps, FID 30.3 against DDIM's 32.7 at 50.
        config.model_config.sample_steps = 10
        config.model_config.solver_order = 2
    if smoke:
        shrink_for_smoke(config)
        config.model_config.width = 8
        config.model_config.channel_mults = (1, 2)
        config.model_config.timesteps = 20
        config.model_config.sample_steps = 4
    return config


def search_space(hp, smoke=False):
    """zoo-tune's search space: learning rate, width, depth and the noise schedule."""
    return {
        "model_config.learning_rate": hp.Float("learning_rate", 5e-5, 2e-3, sampling="log"),
        "model_config.width": hp.Choice("width", [8, 16] if smoke else [16, 32, 48]),
        "model_config.num_res_blocks": hp.Choice("num_res_blocks", [1, 2]),
        "model_config.schedule": hp.Choice("schedule", ["linear", "cosine"]),
    }
