"""Likelihood of real data under an exported model, through its `log_likelihood` signature alone.

The contract every likelihood model's export follows (VAE, conditional VAE, PixelCNN):

    log_likelihood(images: uint8[N, H, W, C] [, label: int64[N]])
        -> {"log_likelihood": float32[N]  # nats per image: exact, or a lower bound (IWAE)
            [, "elbo": float32[N]]}        # VAEs: the evidence lower bound, nats per image

`evaluate_likelihood` scores a dataset split with it and reports the mean negative log-likelihood
in nats per image and bits per dimension (`zoo.metrics.quality.likelihood_report`); for a VAE the
NLL is the importance-weighted estimate (an upper bound in expectation) and the negative ELBO is
reported beside it.
"""

import math
import time

import numpy as np

from zoo.errors import UserError
from zoo.metrics import quality

SIGNATURE = "log_likelihood"


def likelihood_signature(loaded, where):
    """The export's image `log_likelihood` signature, or None when it has none."""
    signature = loaded.signatures.get(SIGNATURE)
    if signature is None:
        return None
    inputs = sorted(signature.structured_input_signature[1])
    if inputs not in (["images"], ["images", "label"]):
        return None  # e.g. a text model's log_likelihood(text): not an image likelihood.
    return signature


def evaluate_likelihood(signature, dataset, split="test", data_dir=None, max_examples=None, batch_size=256):
    """Mean NLL (nats/image, bits/dim) of `dataset`/`split` under `signature`; conditional
    signatures get each image's true label. Returns a JSON-ready dict."""
    from zoo import data

    if not 0 < batch_size <= 1024:
        raise UserError(f"--batch_size must be between 1 and 1024, got {batch_size}")
    if max_examples is not None and max_examples <= 0:
        raise UserError(f"the number of examples to score must be positive, got {max_examples}")
    conditional = "label" in signature.structured_input_signature[1]
    source = data.load(dataset, split, data_dir=data_dir)
    examples = source.dataset if max_examples is None else source.dataset.take(max_examples)
    started = time.perf_counter()
    totals, count = {}, 0
    for batch in examples.batch(batch_size):
        inputs = {"images": batch["image"]}
        if conditional:
            inputs["label"] = batch["label"]
        outputs = signature(**inputs)
        for name in ("log_likelihood", "elbo"):
            if name in outputs:
                values = outputs[name].numpy().astype(np.float64)
                if not np.all(np.isfinite(values)):
                    raise UserError(f"the export's {name} is not finite for some {dataset} {split} images")
                totals[name] = totals.get(name, 0.0) + float(values.sum())
        count += int(batch["image"].shape[0])
    num_dims = math.prod(source.image_shape)
    record = {"dataset": dataset, "split": split, "num_examples": count, "num_dims": num_dims,
              "nll": quality.likelihood_report(-totals["log_likelihood"] / count, num_dims),
              "seconds": round(time.perf_counter() - started, 1)}
    if "elbo" in totals:
        record["negative_elbo"] = quality.likelihood_report(-totals["elbo"] / count, num_dims)
    return record


def text_likelihood_signature(loaded):
    """A text model's `log_likelihood(text: string[None]) -> log_likelihood, num_tokens`, or None."""
    signature = loaded.signatures.get(SIGNATURE)
    if signature is None or sorted(signature.structured_input_signature[1]) != ["text"]:
        return None
    return signature


def evaluate_text_likelihood(signature, dataset, split="test", data_dir=None):
    """Bits per byte of the whole `split` of a text dataset (one string: every byte after the
    first is predicted), through the export's text `log_likelihood`."""
    import tensorflow as tf

    from zoo.data import text

    data, description = text.load_bytes(dataset, split, data_dir=data_dir)
    started = time.perf_counter()
    scores = signature(text=tf.constant([data]))
    total, count = float(scores["log_likelihood"].numpy()[0]), int(scores["num_tokens"].numpy()[0])
    if not math.isfinite(total) or count <= 0:
        raise UserError(f"the export's log_likelihood gave {total} nats for {count} bytes of {dataset} {split}")
    return {"dataset": dataset, "split": split, "description": description, "num_tokens": count,
            "nll_nats_per_byte": -total / count, "bits_per_byte": -total / count / math.log(2),
            "seconds": round(time.perf_counter() - started, 1)}
