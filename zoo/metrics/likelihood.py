"""Likelihood of real data under an exported model, through the signature it declares for it.

An image_likelihood signature (`zoo.contract`) takes an image (and a class label when
conditional) and returns per-image nats: a log-likelihood (exact, or a lower bound such as IWAE)
and optionally an ELBO. A text_likelihood signature takes a text and returns its total
log-likelihood and the number of predicted tokens.

`evaluate_likelihood` scores a dataset split with it and reports the mean negative log-likelihood
in nats per image and bits per dimension (`zoo.metrics.quality.likelihood_report`); for a VAE the
NLL is the importance-weighted estimate (an upper bound in expectation) and the negative ELBO is
reported beside it.
"""

import math
import time

import numpy as np

from zoo import contract
from zoo.errors import UserError
from zoo.metrics import quality, sampling


def evaluate_likelihood(function, signature, dataset, split="test", max_examples=None, batch_size=256, options=None):
    """Mean NLL (nats/image, bits/dim) of `dataset`/`split` under an image_likelihood signature:
    each declared input is fed the data feature it names (the image, and its label when
    conditional). Returns a JSON-ready dict."""
    from zoo import data

    if not 0 < batch_size <= 1024:
        raise UserError(f"--batch_size must be between 1 and 1024, got {batch_size}")
    if max_examples is not None and max_examples <= 0:
        raise UserError(f"the number of examples to score must be positive, got {max_examples}")
    source = data.load(dataset, split, **{key: value for key, value in (options or {}).items() if value is not None})
    examples = source.dataset if max_examples is None else source.dataset.take(max_examples)
    outputs_read = {role: signature.output_with(role) for role in (contract.LOG_LIKELIHOOD, contract.ELBO)}
    started = time.perf_counter()
    totals, count = {}, 0
    for batch in examples.batch(batch_size):
        rows = int(next(iter(batch.values())).shape[0])
        outputs = function(**{spec.name: batch[spec.feature] for spec in signature.inputs if spec.feature},
                           **sampling.parameter_defaults(signature, rows))
        for role, name in outputs_read.items():
            if name is not None:
                values = outputs[name].numpy().astype(np.float64)
                if not np.all(np.isfinite(values)):
                    raise UserError(f"the export's {name} is not finite for some {dataset} {split} images")
                totals[role] = totals.get(role, 0.0) + float(values.sum())
        count += rows
    num_dims = math.prod(signature.input_with(contract.IMAGE).shape)
    record = {"dataset": dataset, "split": split, "num_examples": count, "num_dims": num_dims,
              "nll": quality.likelihood_report(-totals[contract.LOG_LIKELIHOOD] / count, num_dims),
              "seconds": round(time.perf_counter() - started, 1)}
    if contract.ELBO in totals:
        record["negative_elbo"] = quality.likelihood_report(-totals[contract.ELBO] / count, num_dims)
    return record


def evaluate_text_likelihood(function, signature, dataset, split="test", data_dir=None, validation_size=None):
    """Bits per byte of the whole `split` of a text dataset (one string: every byte after the
    first is predicted), through a text_likelihood signature."""
    import tensorflow as tf

    from zoo.data import text

    data, description = text.load_bytes(dataset, split, data_dir=data_dir, validation_size=validation_size)
    started = time.perf_counter()
    scores = function(**{signature.input_with(contract.TEXT).name: tf.constant([data])},
                      **sampling.parameter_defaults(signature, 1))
    total = float(scores[signature.output_with(contract.LOG_LIKELIHOOD)].numpy()[0])
    count = int(scores[signature.output_with(contract.NUM_TOKENS)].numpy()[0])
    if not math.isfinite(total) or count <= 0:
        raise UserError(f"the export's log-likelihood gave {total} nats for {count} bytes of {dataset} {split}")
    return {"dataset": dataset, "split": split, "description": description, "num_tokens": count,
            "nll_nats_per_byte": -total / count, "bits_per_byte": -total / count / math.log(2),
            "seconds": round(time.perf_counter() - started, 1)}
