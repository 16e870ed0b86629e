"""Drawing a fixed set of images from any seed -> images function (a SavedModel signature or a
model's own serving function), in bounded batches."""

import numpy as np

from zoo.errors import UserError

# Evaluation seeds start here, far from the seeds users and sample grids use (0, 1, 2, ...).
EVAL_FIRST_SEED = 10**9


def check_image_signature(signature, where):
    """Raises UserError unless `signature` takes `seed` and returns `images`."""
    inputs = sorted(signature.structured_input_signature[1]) if hasattr(signature, "structured_input_signature") \
        else [spec.name for spec in signature.input_signature]
    outputs = sorted(signature.structured_outputs) if hasattr(signature, "structured_outputs") else None
    if inputs != ["seed"] or (outputs is not None and "images" not in outputs):
        raise UserError(f"{where} is not an image generator: its serving_default takes {inputs} and returns "
                        f"{outputs}, but zoo-eval needs seed: int64[None] -> images: uint8[None,H,W,C]")


def generate_images(serving, num_samples, first_seed=EVAL_FIRST_SEED, batch_size=256):
    """uint8 images [num_samples, H, W, C] from seeds first_seed, first_seed+1, ... ."""
    import tensorflow as tf

    batches = []
    for start in range(0, num_samples, batch_size):
        seeds = tf.range(first_seed + start, first_seed + min(start + batch_size, num_samples), dtype=tf.int64)
        batches.append(serving(seed=seeds)["images"].numpy())
    images = np.concatenate(batches)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise UserError(f"the generator returned {images.dtype} {images.shape}, not uint8 images [N, H, W, C]")
    return images
