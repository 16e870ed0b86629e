"""Evaluating an export through its SavedModel signatures alone (zoo-eval).

What is measured is what the export declares (`zoo.contract`, recorded in assets.extra):
- samples: FID, KID, precision/recall, density/coverage of `num_samples` samples against the real
  split (0 samples: skipped, e.g. for a PixelCNN, whose in-graph sampling takes minutes per
  thousand images on a CPU);
- image_likelihood: NLL of the split in nats and bits/dim;
- text_likelihood: bits per byte of the held-out text;
- translation: PSNR, SSIM, L1 and FID/KID of the outputs for the split's inputs against its targets.
"""

import time

import numpy as np

from zoo import contract
from zoo.errors import UserError


def evaluate_export(version_dir, dataset, split="test", num_samples=10000, first_seed=None, batch_size=256,
                    feature_model=None, data_dir=None, reference_examples=10000, likelihood_examples=None,
                    data_options=None, parameters=None, trust_export=False):
    """Returns the evaluation record of a SavedModel version (see the module docstring).

    Sample metrics go under "metrics" (with the sample count, seeds, feature network hash and
    reference description); conditional generators get balanced labels (image i: label i mod the
    declared number of classes). Likelihoods go under "likelihood": for images, of the split's
    first `likelihood_examples` images (None: all). Translation metrics go under "translation",
    over the split's first `num_samples` pairs. `data_options` (image_size, channels, direction,
    validation_size) read the data as the model was trained on it. `split` "test" gives the numbers
    to report; "validation" (held out of train) is what selection reads. `parameters` ({name:
    number}) sets the evaluated signatures' parameter inputs (e.g. a sampler's step count) instead of
    their declared defaults; the record says which were set. An export this process did not write
    must pass zoo.export.trust unless `trust_export`.
    """
    from zoo.export import trust
    from zoo.metrics import likelihood

    if not 0 < batch_size <= 1024:
        raise UserError(f"--batch_size must be between 1 and 1024, got {batch_size}")
    if num_samples < 0:
        raise UserError(f"--num_samples must be 0 (no sample metrics) or positive, got {num_samples}")
    interface = contract.from_export(version_dir)
    options = {"data_dir": data_dir, **(data_options or {})}
    started = time.perf_counter()
    loaded = trust.load(version_dir, trust_export)
    record = {"export": version_dir, "dataset": dataset, "split": split}
    if parameters:
        record["parameters"] = dict(parameters)
    if options.get("validation_size") is not None:  # What "train" and "validation" hold.
        record["validation_size"] = options["validation_size"]
    if options.get("classes") is not None:  # The real images are these classes' only.
        record["classes"] = options["classes"]
    for evaluation in interface.evaluations:
        signature = interface.signature(evaluation.signature)
        function = loaded.signatures[evaluation.signature]
        if evaluation.kind == contract.SAMPLES and num_samples:
            record.update(_sample_metrics(function, signature, evaluation, dataset, split, num_samples, first_seed,
                                          batch_size, feature_model, reference_examples, options, parameters))
        elif evaluation.kind == contract.IMAGE_LIKELIHOOD:
            record["likelihood"] = likelihood.evaluate_likelihood(function, signature, dataset, split,
                                                                  likelihood_examples, batch_size, options)
        elif evaluation.kind == contract.TEXT_LIKELIHOOD:
            record["likelihood"] = likelihood.evaluate_text_likelihood(function, signature, dataset, split, data_dir,
                                                                       options.get("validation_size"))
        elif evaluation.kind == contract.TRANSLATION and num_samples:
            record["translation"] = _translation_metrics(function, signature, evaluation, dataset, split, num_samples,
                                                         batch_size, feature_model, reference_examples, options)
    if not {"metrics", "likelihood", "translation"} & set(record):
        declared = ", ".join(evaluation.kind for evaluation in interface.evaluations) or "nothing"
        raise UserError(f"--num_samples=0 leaves nothing to measure: {version_dir} declares {declared}")
    record["seconds"] = round(time.perf_counter() - started, 1)
    return record


def _extractor(feature_model, dataset, options):
    """The feature network: --feature_model, the shipped one for 28x28x1 data, or one trained
    (once, cached) on a labelled dataset's training split."""
    from zoo import metrics

    keys = ("data_dir", "image_size", "channels", "validation_size")
    return metrics.resolve_feature_extractor(feature_model, dataset, **{key: options.get(key) for key in keys})


def _reference(extractor, dataset, split, reference_examples, feature, options):
    from zoo import metrics

    # max_examples limits a training split; the reference always reads its whole split (up to reference_examples).
    return metrics.reference_statistics(dataset, split, extractor, max_examples=reference_examples, feature=feature,
                                        **{key: value for key, value in options.items() if key != "max_examples"})


def _sample_metrics(function, signature, evaluation, dataset, split, num_samples, first_seed, batch_size,
                    feature_model, reference_examples, options, parameters=None):
    from zoo import metrics
    from zoo.metrics import sampling

    first_seed = sampling.EVAL_FIRST_SEED if first_seed is None else first_seed
    extractor = _extractor(feature_model, dataset, options)
    reference = _reference(extractor, dataset, split, reference_examples, evaluation.reference, options)
    sampling.parameter_defaults(signature, 0, parameters)  # A bad parameter fails before the reference is read.
    started = time.perf_counter()
    images = sampling.generate_images(function, signature, num_samples, first_seed, batch_size, parameters=parameters)
    seconds = time.perf_counter() - started
    record = {
        "num_samples": num_samples,
        "first_seed": first_seed,
        "feature_model": {"name": extractor.name, "hash": extractor.hash},
        "reference": {"num_examples": reference.num_examples, "key": reference.key,
                      "description": reference.description},
        "metrics": metrics.evaluate_images(images, reference, extractor),
        "sampling_seconds": round(seconds, 2),  # Wall time of drawing the samples through the signature.
    }
    label = signature.input_with(contract.CLASS_LABEL)
    if label is not None and extractor.num_classes == label.num_values:
        record["label_accuracy"] = _label_accuracy(images, label, extractor, evaluation, dataset, split,
                                                   reference_examples, batch_size, options)
    return record


def _label_accuracy(images, label, extractor, evaluation, dataset, split, reference_examples, batch_size, options):
    """How often the feature network's classifier names the class a conditional generator was asked
    for (sample i has label i mod num_values, as generate_images draws them), beside the same
    classifier's accuracy on the split's real labelled images (the ceiling it can reach)."""
    from zoo import data
    from zoo.metrics import sampling

    requested = np.arange(len(images)) % label.num_values
    predicted = extractor.classify(images, batch_size).argmax(axis=-1)
    source = data.load(dataset, split, **{key: value for key, value in options.items() if value is not None})
    count = min(reference_examples, source.num_examples)
    real_images, real_labels = sampling.examples_of(source, count, [evaluation.reference, label.feature])
    real_predicted = extractor.classify(real_images, batch_size).argmax(axis=-1)
    return {
        "accuracy": float(np.mean(predicted == requested)),
        "per_class": [float(np.mean(predicted[requested == value] == value)) for value in range(label.num_values)],
        "real_accuracy": float(np.mean(real_predicted == real_labels.reshape(-1))),
        "num_real": int(count),
        "classifier": {"name": extractor.name, "hash": extractor.hash},
    }


def _translation_metrics(function, signature, evaluation, dataset, split, num_examples, batch_size, feature_model,
                         reference_examples, options):
    """PSNR/SSIM/L1 of outputs vs targets, pair by pair, and FID/KID of the outputs against the
    targets' statistics (skipped, with the reason, where no feature network applies)."""
    from zoo import data, metrics
    from zoo.metrics import sampling

    source = data.load(dataset, split, **{key: value for key, value in options.items() if value is not None})
    count = min(num_examples, source.num_examples)
    image = signature.input_with(contract.IMAGE)
    inputs, targets = sampling.examples_of(source, count, [image.feature, evaluation.reference])
    outputs = sampling.translate(function, signature, inputs, batch_size)
    if outputs.shape != targets.shape:
        raise UserError(f"the export's outputs are {outputs.shape[1:]} but {dataset} {split} targets are "
                        f"{targets.shape[1:]}: pass the data options it was trained with")
    errors = np.abs(outputs.astype(np.float64) - targets.astype(np.float64)) / 255.0
    record = {"num_examples": count, "description": source.description,
              "psnr": float(np.mean(metrics.psnr(outputs, targets))),
              "l1": float(errors.mean())}
    if min(targets.shape[1:3]) >= 11:
        record["ssim"] = float(np.mean(metrics.ssim(outputs, targets)))
    try:
        extractor = _extractor(feature_model, dataset, options)
    except UserError as error:
        record["fid_skipped"] = str(error)
        return record
    reference = _reference(extractor, dataset, split, reference_examples, evaluation.reference, options)
    values = metrics.evaluate_images(outputs, reference, extractor, metrics=("fid", "kid"),
                                     kid_subset_size=min(1000, count, reference.num_examples))
    record.update(fid=values["fid"], kid_mean=values["kid_mean"], kid_std=values["kid_std"],
                  feature_model={"name": extractor.name, "hash": extractor.hash},
                  reference={"num_examples": reference.num_examples, "description": reference.description})
    return record
