"""samples: images a generator draws from seeds (and class labels), compared with the real images
of the split in a feature space: FID, KID, precision/recall, density/coverage, and for a
conditional generator the accuracy of its classes."""

import time

import numpy as np

from zoo import contract
from zoo.kinds import features
from zoo.kinds.base import Kind, Objective

NAME = "samples"
_CARD_METRICS = ("fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage")


class Samples(Kind):
    name = NAME
    fills = frozenset({contract.SEED, contract.CLASS_LABEL, contract.PARAMETER})
    needs = contract.SEED
    outputs = (contract.IMAGES,)
    objectives = (Objective("fid", ("metrics", "fid"), metric="fid"),
                  Objective("kid", ("metrics", "kid_mean"), metric="kid_mean"))
    draws = True
    preview = True
    intended_use = ("Drawing samples and measuring them without training; a starting point for fine-tuning; a "
                    "reference for serving and client tests. Not a state-of-the-art model.")

    def measure(self, request):
        from zoo import metrics
        from zoo.metrics import sampling

        if not request.num_samples:
            return {}
        signature, options = request.signature, request.options
        first_seed = sampling.EVAL_FIRST_SEED if request.first_seed is None else request.first_seed
        extractor = features.extractor(request.feature_model, request.dataset, options)
        reference = features.reference(extractor, request.dataset, request.split, request.reference_examples,
                                       request.evaluation.reference, options)
        sampling.parameter_defaults(signature, 0, request.parameters)  # A bad parameter fails before sampling.
        started = time.perf_counter()
        images = sampling.generate_images(request.function, signature, request.num_samples, first_seed,
                                          request.batch_size, parameters=request.parameters)
        seconds = time.perf_counter() - started
        record = {
            "num_samples": request.num_samples,
            "first_seed": first_seed,
            "feature_model": {"name": extractor.name, "hash": extractor.hash},
            "reference": {"num_examples": reference.num_examples, "key": reference.key,
                          "description": reference.description},
            "metrics": metrics.evaluate_images(images, reference, extractor),
            "sampling_seconds": round(seconds, 2),  # Wall time of drawing the samples through the signature.
        }
        label = signature.input_with(contract.CLASS_LABEL)
        if label is not None and extractor.num_classes == label.num_values:
            record["label_accuracy"] = _label_accuracy(images, label, extractor, request)
        return record

    def training_measurement(self, config, interface, evaluation, functions):
        from zoo.metrics import sampling

        signature = interface.signature(evaluation.signature)
        function = functions[evaluation.signature]
        return features.ImageSetMeasurement(
            config, evaluation.reference, lambda: sampling.generate_images(function, signature, config.eval_samples),
            f"{config.eval_samples} samples vs {config.dataset} {config.eval_split}")

    def training_protocol(self, config):
        return f"{config.eval_samples:,} samples vs the {config.eval_split} split"

    def card_metrics(self, record, values):
        for name in _CARD_METRICS:
            if name in record.get("metrics", {}):
                values[name] = record["metrics"][name]
        if "label_accuracy" in record:
            values["label_accuracy"] = record["label_accuracy"]["accuracy"]
            values["label_accuracy_real"] = record["label_accuracy"]["real_accuracy"]

    def headline(self, metrics):
        parts = []
        if "fid" in metrics:
            parts.append(f"FID {metrics['fid']:.1f}")
        if "label_accuracy" in metrics:
            parts.append(f"label accuracy {metrics['label_accuracy']:.2f}")
        return parts

    def protocol(self, record):
        if not record.get("num_samples"):
            return []
        return [f"{record['num_samples']:,} samples vs {record['reference']['num_examples']:,} real images, "
                f"features {record['feature_model']['name']} {record['feature_model']['hash']}"]

    def summary(self, record, split):
        parts = []
        if "metrics" in record:
            parts.append(f"({record['num_samples']} samples, features {record['feature_model']['hash']}): "
                         f"{format_metrics(record['metrics'])}")
        if "label_accuracy" in record:
            accuracy = record["label_accuracy"]
            parts.append(f"label accuracy {accuracy['accuracy']:.3f} (real {split.split('[')[0]} images: "
                         f"{accuracy['real_accuracy']:.3f})")
        return parts

    def limitations(self, dataset, image_shape):
        return [FEATURE_NETWORK_LIMIT, image_limit(dataset, image_shape)]


FEATURE_NETWORK_LIMIT = ("FID/KID here use zoo's Fashion-MNIST feature network, not InceptionV3: comparable across "
                         "zoo's cards and benchmarks, not with published FIDs.")


def image_limit(dataset, image_shape):
    return (f"Only {dataset}-like images ({'x'.join(map(str, image_shape))}); any other input is out of "
            "distribution.")


def format_metrics(values):
    """zoo-eval's text of sample metrics: `FID 41.30  KID 0.0312±0.0011  precision 0.712 ...`."""
    parts = [f"FID {values['fid']:.2f}"]
    if "kid_mean" in values:
        parts.append(f"KID {values['kid_mean']:.4f}±{values['kid_std']:.4f}")
    for name in ("precision", "recall", "density", "coverage"):
        if name in values:
            parts.append(f"{name} {values[name]:.3f}")
    return "  ".join(parts)


def _label_accuracy(images, label, extractor, request):
    """How often the feature network's classifier names the class a conditional generator was asked
    for (sample i has label i mod num_values, as generate_images draws them), beside the same
    classifier's accuracy on the split's real labelled images (the ceiling it can reach)."""
    from zoo import data
    from zoo.metrics import sampling

    requested = np.arange(len(images)) % label.num_values
    predicted = extractor.classify(images, request.batch_size).argmax(axis=-1)
    source = data.load(request.dataset, request.split,
                       **{key: value for key, value in request.options.items() if value is not None})
    count = min(request.reference_examples, source.num_examples)
    real_images, real_labels = sampling.examples_of(source, count, [request.evaluation.reference, label.feature])
    real_predicted = extractor.classify(real_images, request.batch_size).argmax(axis=-1)
    return {
        "accuracy": float(np.mean(predicted == requested)),
        "per_class": [float(np.mean(predicted[requested == value] == value)) for value in range(label.num_values)],
        "real_accuracy": float(np.mean(real_predicted == real_labels.reshape(-1))),
        "num_real": int(count),
        "classifier": {"name": extractor.name, "hash": extractor.hash},
    }


SAMPLES = Samples()
