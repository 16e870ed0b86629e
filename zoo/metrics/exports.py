"""Evaluating an exported image generator through its SavedModel signature alone (zoo-eval)."""

import time

from zoo.errors import UserError


def evaluate_export(version_dir, dataset, split="test", num_samples=10000, first_seed=None, batch_size=256,
                    feature_model=None, data_dir=None, reference_examples=10000, num_classes=None,
                    likelihood_examples=None):
    """Returns the evaluation record of a SavedModel version: metrics of `num_samples` images drawn
    through its `serving_default` signature against `dataset`/`split`, with the sample count, seeds,
    feature network hash and reference description. A conditional generator needs `num_classes`
    (labels are balanced: image i gets label i mod num_classes).

    Exports with a `log_likelihood(images)` signature (see zoo.metrics.likelihood) also get the
    likelihood of the split's first `likelihood_examples` images (None: all) under the key "likelihood".
    """
    import tensorflow as tf

    from zoo import metrics
    from zoo.metrics import likelihood, sampling

    if not 0 < batch_size <= 1024:
        raise UserError(f"--batch_size must be between 1 and 1024, got {batch_size}")
    if num_samples <= 0:
        raise UserError(f"--num_samples must be a positive integer, got {num_samples}")
    first_seed = sampling.EVAL_FIRST_SEED if first_seed is None else first_seed
    started = time.perf_counter()
    extractor = metrics.load_feature_extractor(feature_model)
    loaded = tf.saved_model.load(version_dir)
    if "serving_default" not in loaded.signatures:
        raise UserError(f"{version_dir} has no serving_default signature (it has {sorted(loaded.signatures)})")
    serving = loaded.signatures["serving_default"]
    sampling.check_image_signature(serving, version_dir)
    reference = metrics.reference_statistics(dataset, split, extractor, data_dir=data_dir,
                                             max_examples=reference_examples)
    images = sampling.generate_images(serving, num_samples, first_seed, batch_size, num_classes)
    values = metrics.evaluate_images(images, reference, extractor)
    likelihood_record = None
    log_likelihood = likelihood.likelihood_signature(loaded, version_dir)
    if log_likelihood is not None:
        likelihood_record = likelihood.evaluate_likelihood(log_likelihood, dataset, split, data_dir,
                                                           likelihood_examples, batch_size)
    record = {
        "export": version_dir,
        "dataset": dataset,
        "split": split,
        "num_samples": num_samples,
        "first_seed": first_seed,
        "feature_model": {"name": extractor.name, "hash": extractor.hash},
        "reference": {"num_examples": reference.num_examples, "key": reference.key,
                      "description": reference.description},
        "metrics": values,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if likelihood_record is not None:
        record["likelihood"] = likelihood_record
    return record
