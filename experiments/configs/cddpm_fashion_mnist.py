"""Class-conditional denoising diffusion with classifier-free guidance on Fashion-MNIST's 10 classes:
the ddpm config with `class_conditional` on (labels dropped 10% of the time during training).

    zoo-train --config=experiments/configs/cddpm_fashion_mnist.py --workdir=runs/cddpm
    zoo-sample --export=exports/cddpm_fashion_mnist --num=100 --out=classes.png   # one row per class
    zoo-sample --export=exports/cddpm_fashion_mnist --parameter=guidance=3 --out=guided.png
"""

from experiments.configs import ddpm_fashion_mnist


def get_config(smoke=False):
    config = ddpm_fashion_mnist.get_config(smoke=smoke)
    config.export_name = "cddpm_fashion_mnist"
    config.model_config.class_conditional = True
    config.model_config.guidance = 2.0  # The export's default guidance (1: the conditional model alone).
    if not smoke:
        # serving_default's sampler: the fewest steps whose FID is within 5% of DDIM at 50 steps
        # (docs/benchmarks.md, "Few-step diffusion sampling", benchmarks/diffusion_samplers.py on the
        # shipped weights): DPM-Solver++(2M) at 15 steps, FID 6.53 against 6.49, a third of the time.
        config.model_config.sample_steps = 15
        config.model_config.solver_order = 2
    return config


def search_space(hp, smoke=False):
    """zoo-tune's search space: ddpm's plus the label dropout."""
    overrides = ddpm_fashion_mnist.search_space(hp, smoke)
    overrides["model_config.label_dropout"] = hp.Choice("label_dropout", [0.1, 0.2])
    return overrides
