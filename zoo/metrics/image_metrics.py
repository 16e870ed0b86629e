"""Sample-quality metrics of generated images against real-data reference statistics.

    extractor = load_feature_extractor()
    reference = reference_statistics("fashion_mnist", "test", extractor)
    metrics = evaluate_images(generated_uint8_images, reference, extractor)
    # {"fid": ..., "kid_mean": ..., "kid_std": ..., "precision": ..., "recall": ...,
    #  "density": ..., "coverage": ..., "num_samples": ..., "num_reference": ...}

Sample sizes: FID is biased upwards at small N (compare FIDs only at one N; 10,000 is usual;
below about 2,000 samples, or fewer samples than feature dimensions, it mostly measures N).
KID is unbiased at any N. Precision/recall and density/coverage need more samples than k.
"""

import numpy as np
from absl import logging

from zoo.errors import UserError
from zoo.metrics import distances

ALL_METRICS = ("fid", "kid", "precision_recall", "density_coverage")


def evaluate_images(images, reference, extractor, *, metrics=ALL_METRICS, batch_size=256,
                    kid_subsets=100, kid_subset_size=1000, precision_recall_k=3,
                    density_coverage_k=5, seed=0):
    """Returns the metrics of uint8 `images` [N, H, W, C] (or a tf.data.Dataset of them).

    Args:
      reference: ReferenceStatistics computed with the same `extractor`.
      extractor: the FeatureExtractor that computes the images' features.
      metrics: a subset of ALL_METRICS; "kid" gives kid_mean and kid_std, "precision_recall"
        precision and recall, "density_coverage" density and coverage.
      kid_subsets, kid_subset_size, seed: see distances.kernel_inception_distance.
      precision_recall_k, density_coverage_k: the k of the k-NN balls (3 and 5 in the papers).
    """
    if reference.extractor_hash != extractor.hash:
        raise UserError(
            f"reference statistics were computed with feature network {reference.extractor_hash} "
            f"but the images go through {extractor.name} ({extractor.hash}): use the same network")
    metrics = _check_metrics(metrics)
    features = extractor.features(images, batch_size=batch_size)
    return evaluate_features(
        features, reference, metrics=metrics, kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size, precision_recall_k=precision_recall_k,
        density_coverage_k=density_coverage_k, seed=seed)


def evaluate_features(features, reference, *, metrics=ALL_METRICS, kid_subsets=100,
                      kid_subset_size=1000, precision_recall_k=3, density_coverage_k=5, seed=0):
    """Like evaluate_images, for features [N, D] already computed with the reference's network."""
    metrics = _check_metrics(metrics)
    features = np.asarray(features)
    if features.ndim != 2:
        raise UserError(f"features must be an array [N, D], got shape {features.shape}")
    count = len(features)
    needed = {"fid": 2, "kid": 2, "precision_recall": precision_recall_k + 1,
              "density_coverage": 1}
    minimum = max(needed[name] for name in metrics)
    if count < minimum:
        which = [name for name in metrics if needed[name] == minimum]
        raise UserError(f"{count} samples are too few for {', '.join(which)}: at least "
                        f"{minimum} are needed (FID and KID need 2, precision/recall more than "
                        f"k={precision_recall_k}); 10,000 is usual")
    if features.shape[1:] != reference.features.shape[1:]:
        raise UserError(f"features are {features.shape[1:]} but the reference features are "
                        f"{reference.features.shape[1:]}: use the reference's feature network")
    result = {"num_samples": count, "num_reference": int(reference.num_examples)}
    if "fid" in metrics:
        if count < features.shape[1]:
            logging.warning("FID from %d samples, fewer than the %d feature dimensions: it is "
                            "strongly biased upwards; compare only FIDs of equal sample counts.",
                            count, features.shape[1])
        mean, covariance = distances.feature_statistics(features)
        result["fid"] = distances.frechet_distance(mean, covariance, reference.mean,
                                                   reference.covariance)
    if "kid" in metrics:
        result["kid_mean"], result["kid_std"] = distances.kernel_inception_distance(
            reference.features, features, num_subsets=kid_subsets, subset_size=kid_subset_size,
            seed=seed)
    wants_pr, wants_dc = "precision_recall" in metrics, "density_coverage" in metrics
    if wants_pr or wants_dc:
        result.update(distances.manifold_metrics(
            reference.features, features,
            precision_recall_k=precision_recall_k if wants_pr else None,
            density_coverage_k=density_coverage_k if wants_dc else None))
    return result


def _check_metrics(metrics):
    if isinstance(metrics, str):
        metrics = (metrics,)
    unknown = [name for name in metrics if name not in ALL_METRICS]
    if unknown or not metrics:
        raise UserError(f"unknown metrics {unknown or metrics!r}: allowed are "
                        f"{', '.join(ALL_METRICS)}")
    return tuple(metrics)
