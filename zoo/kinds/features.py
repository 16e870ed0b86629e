"""The feature network and reference statistics the image-comparing kinds (samples, translation)
share, at evaluation and during training."""


def extractor(feature_model, dataset, options):
    """The feature network: --feature_model, the shipped one for 28x28x1 data, or one trained
    (once, cached) on a labelled dataset's training split."""
    from zoo import metrics

    keys = ("data_dir", "image_size", "channels", "validation_size")
    return metrics.resolve_feature_extractor(feature_model, dataset, **{key: options.get(key) for key in keys})


def reference(extractor, dataset, split, reference_examples, feature, options):
    """Cached statistics of `feature` of the split's first `reference_examples` examples."""
    from zoo import metrics

    # max_examples limits a training split; the reference always reads its whole split (up to reference_examples).
    return metrics.reference_statistics(dataset, split, extractor, max_examples=reference_examples, feature=feature,
                                        **{key: value for key, value in options.items()
                                           if key not in ("max_examples", "sequence_length")})


class ImageSetMeasurement:
    """FID/KID of a fixed set of images (`draw()`) against the reference statistics of
    config.eval_split, during training."""

    summaries = ("fid", "kid_mean", "kid_std")

    def __init__(self, config, feature, draw, what):
        from zoo import data

        options = data.options_of(config)
        self.extractor = extractor(config.get("feature_model"), config.dataset, options)
        self.reference = reference(self.extractor, config.dataset, config.eval_split,
                                   config.eval_reference_examples, feature, options)
        self.draw, self.what = draw, what

    def measure(self):
        from zoo import metrics

        values = metrics.evaluate_images(self.draw(), self.reference, self.extractor, metrics=("fid", "kid"))
        return {"fid": float(values["fid"]), "kid_mean": float(values["kid_mean"]),
                "kid_std": float(values["kid_std"])}

    def describe(self, entry):
        return f"fid={entry['fid']:.3f} kid={entry['kid_mean']:.4f}±{entry['kid_std']:.4f} ({self.what})"
