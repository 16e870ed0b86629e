"""Evaluating an export through its SavedModel signatures alone (zoo-eval).

- Image generators (`serving_default(seed[, label]) -> images`): FID, KID, precision/recall,
  density/coverage of `num_samples` samples against the real split (0 samples: skipped, e.g. for a
  PixelCNN, whose in-graph sampling takes minutes per thousand images on a CPU).
- Image likelihood models (`log_likelihood(images[, label])`): NLL of the split in nats and bits/dim.
- Text models (`log_likelihood(text)`): bits per byte of the held-out text.
"""

import time

from zoo.errors import UserError


def evaluate_export(version_dir, dataset, split="test", num_samples=10000, first_seed=None, batch_size=256,
                    feature_model=None, data_dir=None, reference_examples=10000, num_classes=None,
                    likelihood_examples=None):
    """Returns the evaluation record of a SavedModel version (see the module docstring).

    Sample metrics go under "metrics" (with the sample count, seeds, feature network hash and
    reference description); a conditional generator needs `num_classes` (labels are balanced:
    image i gets label i mod num_classes). Likelihoods go under "likelihood": for images, of the
    split's first `likelihood_examples` images (None: all).
    """
    import tensorflow as tf

    from zoo.metrics import likelihood

    if not 0 < batch_size <= 1024:
        raise UserError(f"--batch_size must be between 1 and 1024, got {batch_size}")
    if num_samples < 0:
        raise UserError(f"--num_samples must be 0 (no sample metrics) or positive, got {num_samples}")
    started = time.perf_counter()
    loaded = tf.saved_model.load(version_dir)
    record = {"export": version_dir, "dataset": dataset, "split": split}
    text_signature = likelihood.text_likelihood_signature(loaded)
    if text_signature is not None:
        record["likelihood"] = likelihood.evaluate_text_likelihood(text_signature, dataset, split, data_dir)
    else:
        if num_samples:
            record.update(_sample_metrics(loaded, version_dir, dataset, split, num_samples, first_seed, batch_size,
                                          feature_model, data_dir, reference_examples, num_classes))
        image_signature = likelihood.likelihood_signature(loaded, version_dir)
        if image_signature is not None:
            record["likelihood"] = likelihood.evaluate_likelihood(image_signature, dataset, split, data_dir,
                                                                  likelihood_examples, batch_size)
        if not num_samples and image_signature is None:
            raise UserError(f"--num_samples=0 leaves nothing to measure: {version_dir} has no log_likelihood signature")
    record["seconds"] = round(time.perf_counter() - started, 1)
    return record


def _sample_metrics(loaded, version_dir, dataset, split, num_samples, first_seed, batch_size, feature_model,
                    data_dir, reference_examples, num_classes):
    from zoo import metrics
    from zoo.metrics import sampling

    first_seed = sampling.EVAL_FIRST_SEED if first_seed is None else first_seed
    if "serving_default" not in loaded.signatures:
        raise UserError(f"{version_dir} has no serving_default signature (it has {sorted(loaded.signatures)})")
    serving = loaded.signatures["serving_default"]
    sampling.check_image_signature(serving, version_dir)
    extractor = metrics.load_feature_extractor(feature_model)
    reference = metrics.reference_statistics(dataset, split, extractor, data_dir=data_dir,
                                             max_examples=reference_examples)
    images = sampling.generate_images(serving, num_samples, first_seed, batch_size, num_classes)
    return {
        "num_samples": num_samples,
        "first_seed": first_seed,
        "feature_model": {"name": extractor.name, "hash": extractor.hash},
        "reference": {"num_examples": reference.num_examples, "key": reference.key,
                      "description": reference.description},
        "metrics": metrics.evaluate_images(images, reference, extractor),
    }
