"""translation: an image-to-image model's outputs for the split's inputs against its targets, pair
by pair (PSNR, SSIM, L1) and as a set in a feature space (FID/KID vs the targets' statistics)."""

import numpy as np

from zoo import contract
from zoo.errors import UserError
from zoo.kinds import features
from zoo.kinds.base import Kind, Objective
from zoo.kinds.samples import FEATURE_NETWORK_LIMIT, image_limit

NAME = "translation"
_CARD_METRICS = ("psnr", "ssim", "l1", "fid", "kid_mean", "kid_std")


class Translation(Kind):
    name = NAME
    fills = frozenset({contract.IMAGE, contract.PARAMETER})
    needs = contract.IMAGE
    outputs = (contract.IMAGES,)
    objectives = (Objective("translation_l1", (NAME, "l1")),
                  Objective("translation_fid", (NAME, "fid"), metric="fid"),
                  Objective("translation_kid", (NAME, "kid_mean"), metric="kid_mean"))
    draws = True
    preview = True
    intended_use = ("Trying image-to-image translation on 28x28 grayscale images without training; a baseline to "
                    "compare training recipes with; serving and client tests.")

    def measure(self, request):
        """PSNR/SSIM/L1 of outputs vs targets, pair by pair, and FID/KID of the outputs against the
        targets' statistics (skipped, with the reason, where no feature network applies)."""
        from zoo import data, metrics
        from zoo.metrics import sampling

        if not request.num_samples:
            return {}
        signature, options, dataset, split = request.signature, request.options, request.dataset, request.split
        source = data.load(dataset, split, **{key: value for key, value in options.items() if value is not None})
        count = min(request.num_samples, source.num_examples)
        image = signature.input_with(contract.IMAGE)
        inputs, targets = sampling.examples_of(source, count, [image.feature, request.evaluation.reference])
        outputs = sampling.translate(request.function, signature, inputs, request.batch_size)
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
            extractor = features.extractor(request.feature_model, dataset, options)
        except UserError as error:
            record["fid_skipped"] = str(error)
            return {NAME: record}
        reference = features.reference(extractor, dataset, split, request.reference_examples,
                                       request.evaluation.reference, options)
        values = metrics.evaluate_images(outputs, reference, extractor, metrics=("fid", "kid"),
                                         kid_subset_size=min(1000, count, reference.num_examples))
        record.update(fid=values["fid"], kid_mean=values["kid_mean"], kid_std=values["kid_std"],
                      feature_model={"name": extractor.name, "hash": extractor.hash},
                      reference={"num_examples": reference.num_examples, "description": reference.description})
        return {NAME: record}

    def training_measurement(self, config, interface, evaluation, functions):
        from zoo import data
        from zoo.metrics import sampling

        signature = interface.signature(evaluation.signature)
        function = functions[evaluation.signature]
        source = data.load(config.dataset, config.eval_split, **data.options_of(config))
        inputs, = sampling.examples_of(source, min(config.eval_samples, source.num_examples),
                                       [signature.input_with(contract.IMAGE).feature])
        return features.ImageSetMeasurement(
            config, evaluation.reference, lambda: sampling.translate(function, signature, inputs),
            f"{config.eval_samples} samples vs {config.dataset} {config.eval_split}")

    def training_protocol(self, config):
        return f"{config.eval_samples:,} samples vs the {config.eval_split} split"

    def card_metrics(self, record, values):
        # Prefixed `translation_` only where a sample metric of the same name exists.
        for name in _CARD_METRICS:
            if name in record.get(NAME, {}):
                values[name if name not in values else f"translation_{name}"] = record[NAME][name]

    def headline(self, metrics):
        parts = []
        if "psnr" in metrics:
            parts.append(f"PSNR {metrics['psnr']:.2f} dB")
            if "ssim" in metrics:
                parts.append(f"SSIM {metrics['ssim']:.3f}")
        return parts

    def protocol(self, record):
        return [f"{record[NAME]['num_examples']:,} pairs"] if NAME in record else []

    def summary(self, record, split):
        return [format_translation(record[NAME])] if NAME in record else []

    def limitations(self, dataset, image_shape):
        return [FEATURE_NETWORK_LIMIT, image_limit(dataset, image_shape)]


def format_translation(record):
    text = f"PSNR {record['psnr']:.2f} dB"
    if "ssim" in record:
        text += f"  SSIM {record['ssim']:.4f}"
    text += f"  L1 {record['l1']:.4f}"
    if "fid" in record:
        text += f"  FID {record['fid']:.2f}  KID {record['kid_mean']:.4f}±{record['kid_std']:.4f}"
    else:
        text += f"  (FID skipped: {record['fid_skipped']})"
    return text + f" ({record['num_examples']} pairs)"


TRANSLATION = Translation()
