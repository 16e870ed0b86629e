"""Drawing a fixed set of images from any seed -> images function (a SavedModel signature or a
model's own serving function), in bounded batches. Conditional generators (`seed`, `label`) get
balanced labels: image i has label i mod num_classes."""

import numpy as np

from zoo.errors import UserError

# Evaluation seeds start here, far from the seeds users and sample grids use (0, 1, 2, ...).
EVAL_FIRST_SEED = 10**9


def signature_inputs(signature):
    """Sorted input names of a SavedModel signature or a tf.function with an input signature."""
    if hasattr(signature, "structured_input_signature"):
        return sorted(signature.structured_input_signature[1])
    return sorted(spec.name for spec in signature.input_signature)


def check_image_signature(signature, where):
    """Raises UserError unless `signature` maps seed (and optionally label) to `images`."""
    inputs = signature_inputs(signature)
    outputs = sorted(signature.structured_outputs) if hasattr(signature, "structured_outputs") else None
    if inputs not in (["seed"], ["label", "seed"]) or (outputs is not None and "images" not in outputs):
        raise UserError(f"{where} is not an image generator: its serving_default takes {inputs} and returns "
                        f"{outputs}, but this needs seed: int64[None] (and label) -> images: uint8[None,H,W,C]")
    return inputs


def assertion_message(error):
    """The message of the in-graph check that failed, from a TF InvalidArgumentError's text."""
    import re

    found = re.search(r"assertion failed: \[([^\]]+)\]", str(error))
    return found.group(1) if found else str(error).strip().splitlines()[0]


def call_generator(serving, seeds, labels=None):
    """uint8 images for int64 `seeds` (and `labels` for a conditional generator)."""
    import tensorflow as tf

    kwargs = {"seed": tf.constant(seeds, tf.int64)}
    if labels is not None:
        kwargs["label"] = tf.constant(labels, tf.int64)
    return serving(**kwargs)["images"].numpy()


def generate_images(serving, num_samples, first_seed=EVAL_FIRST_SEED, batch_size=256, num_classes=None):
    """uint8 images [num_samples, H, W, C] from seeds first_seed, first_seed+1, ... ."""
    conditional = "label" in signature_inputs(serving)
    if conditional and not num_classes:
        raise UserError("a conditional generator needs its number of classes (num_classes) to draw labels")
    batches = []
    for start in range(first_seed, first_seed + num_samples, batch_size):
        seeds = np.arange(start, min(start + batch_size, first_seed + num_samples), dtype=np.int64)
        batches.append(call_generator(serving, seeds, seeds % num_classes if conditional else None))
    images = np.concatenate(batches)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise UserError(f"the generator returned {images.dtype} {images.shape}, not uint8 images [N, H, W, C]")
    return images
