"""Sample-quality metrics: FID, KID, precision/recall, density/coverage in a feature space;
PSNR/SSIM; likelihoods in nats and bits per dimension.

    from zoo import metrics
    extractor = metrics.load_feature_extractor()    # the shipped Fashion-MNIST network
    extractor = metrics.resolve_feature_extractor(None, "folder:/faces")  # or one trained on it
    reference = metrics.reference_statistics("fashion_mnist", "test", extractor)  # cached
    result = metrics.evaluate_images(uint8_images, reference, extractor)  # {"fid": ..., ...}

Importing this package loads no model and no data.
"""

from zoo.metrics.distances import (
    density_coverage,
    feature_statistics,
    frechet_distance,
    kernel_inception_distance,
    manifold_metrics,
    precision_recall,
)
from zoo.metrics.feature_training import (
    build_feature_network,
    feature_network_cache_dir,
    resolve_feature_extractor,
    train_feature_network,
)
from zoo.metrics.features import FeatureExtractor, load_feature_extractor
from zoo.metrics.image_metrics import ALL_METRICS, evaluate_features, evaluate_images
from zoo.metrics.quality import bits_per_dim, likelihood_report, nats_to_bits, psnr, ssim
from zoo.metrics.reference import ReferenceStatistics, default_cache_dir, reference_statistics

__all__ = [
    "ALL_METRICS",
    "FeatureExtractor",
    "ReferenceStatistics",
    "bits_per_dim",
    "build_feature_network",
    "default_cache_dir",
    "density_coverage",
    "evaluate_features",
    "evaluate_images",
    "feature_network_cache_dir",
    "feature_statistics",
    "frechet_distance",
    "kernel_inception_distance",
    "likelihood_report",
    "load_feature_extractor",
    "manifold_metrics",
    "nats_to_bits",
    "precision_recall",
    "psnr",
    "reference_statistics",
    "resolve_feature_extractor",
    "ssim",
    "train_feature_network",
]
