"""Distances between sets of features [N, D]: FID, KID, precision/recall, density/coverage.

Pure numpy (scipy for the matrix square root). Pairwise distances are computed in float32
chunks of rows, so 10,000 x 10,000 sets need a few hundred MB at most, never the full matrix.
"""

import warnings

import numpy as np

from zoo.errors import UserError

_CHUNK_ELEMENTS = 1 << 24  # Floats per chunk of a distance matrix: 64 MB in float32.


def _as_features(features, what, min_count):
    features = np.asarray(features)
    if features.ndim != 2 or not np.issubdtype(features.dtype, np.number):
        raise UserError(f"{what} must be a numeric array [N, D], got shape {features.shape}")
    if len(features) < min_count:
        raise UserError(f"{what} has {len(features)} samples: at least {min_count} are needed")
    return features


def feature_statistics(features):
    """Returns (mean float64 [D], covariance float64 [D, D]) of features [N, D], N >= 2."""
    features = _as_features(features, "features", 2).astype(np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """Fréchet distance between Gaussians N(mu1, sigma1) and N(mu2, sigma2) (Heusel et al. 2017).

    d^2 = |mu1 - mu2|^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)). As in the reference
    implementation (bioinf-jku/TTUR, pytorch-fid), a singular product is retried with `eps` added
    to both diagonals, and a negligible imaginary part of the square root is dropped.
    """
    from scipy import linalg  # noqa: PLC0415  (imported when used: scipy is slow to import)

    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise UserError(f"Fréchet distance needs means [D] and covariances [D, D] of one D, got "
                        f"{mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape}")
    diff = mu1 - mu2
    with warnings.catch_warnings():  # A singular product is normal (dead ReLUs); handled below.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            largest = np.max(np.abs(covmean.imag))
            raise UserError(f"Fréchet distance: the covariance product has a large imaginary square "
                            f"root component ({largest:.3g}); use more samples than feature dimensions")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def kernel_inception_distance(real, fake, num_subsets=100, subset_size=1000, seed=0):
    """KID (Bińkowski et al. 2018): unbiased MMD^2 with kernel k(x, y) = (x.y / D + 1)^3.

    Averages the estimate over `num_subsets` random subsets of `subset_size` samples of each set
    (clipped to the smaller set); returns (mean, standard deviation over subsets). Unbiased: two
    samples of one distribution give a mean near 0, possibly negative.
    """
    real = _as_features(real, "real features", 2)
    fake = _as_features(fake, "fake features", 2)
    _check_same_dim(real, fake)
    if num_subsets < 1:
        raise UserError(f"KID num_subsets={num_subsets}: must be at least 1")
    size = min(int(subset_size), len(real), len(fake))
    if size < 2:
        raise UserError(f"KID subset_size={subset_size}: at least 2 samples per subset are needed")
    dim = real.shape[1]
    rng = np.random.default_rng(seed)
    estimates = np.empty(num_subsets)
    for subset in range(num_subsets):
        x = real[rng.choice(len(real), size, replace=False)].astype(np.float64)
        y = fake[rng.choice(len(fake), size, replace=False)].astype(np.float64)
        k_xx = (x @ x.T / dim + 1) ** 3
        k_yy = (y @ y.T / dim + 1) ** 3
        k_xy = (x @ y.T / dim + 1) ** 3
        within = ((k_xx.sum() - np.trace(k_xx)) + (k_yy.sum() - np.trace(k_yy))) / (size * (size - 1))
        estimates[subset] = within - 2 * k_xy.sum() / (size * size)
    return float(estimates.mean()), float(estimates.std())


def precision_recall(real, fake, k=3):
    """Improved precision and recall (Kynkäänniemi et al. 2019), k-NN manifolds with k=3.

    Precision: the fraction of fake samples inside some real sample's ball (radius: its distance
    to its k-th nearest real neighbour). Recall: the fraction of real samples inside some fake
    sample's ball. Returns (precision, recall); each set needs more than k samples.
    """
    result = manifold_metrics(real, fake, precision_recall_k=k)
    return result["precision"], result["recall"]


def density_coverage(real, fake, k=5):
    """Density and coverage (Naeem et al. 2020), balls around real samples only, k=5.

    Density: the mean number of real balls holding a fake sample, over k (about 1 when fakes
    match; unbounded). Coverage: the fraction of real balls holding at least one fake sample.
    Returns (density, coverage); the real set needs more than k samples.
    """
    result = manifold_metrics(real, fake, density_coverage_k=k)
    return result["density"], result["coverage"]


def manifold_metrics(real, fake, precision_recall_k=None, density_coverage_k=None):
    """Precision/recall and/or density/coverage in one pass over the real-fake distances.

    Returns a dict with "precision", "recall" (when precision_recall_k is given) and "density",
    "coverage" (when density_coverage_k is given).
    """
    ks = [k for k in (precision_recall_k, density_coverage_k) if k is not None]
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise UserError(f"k={k!r} for nearest neighbours: must be a positive integer")
    largest_k = max(ks, default=1)
    real = _as_features(real, "real features", largest_k + 1)
    fake = _as_features(fake, "fake features",
                        precision_recall_k + 1 if precision_recall_k is not None else 1)
    _check_same_dim(real, fake)
    # Distances do not change under a shift; centring keeps float32 squared norms small.
    center = real.mean(axis=0, dtype=np.float64)
    real = (real - center).astype(np.float32)
    fake = (fake - center).astype(np.float32)
    real_radii = _kth_neighbour_distances(real, sorted(set(ks)))
    result = {}
    if precision_recall_k is not None:
        real_pr = real_radii[precision_recall_k]
        fake_pr = _kth_neighbour_distances(fake, [precision_recall_k])[precision_recall_k]
        fake_in_real = np.zeros(len(fake), bool)
        real_in_fake = np.zeros(len(real), bool)
    if density_coverage_k is not None:
        real_dc = real_radii[density_coverage_k]
        balls_holding = np.zeros(len(fake), np.int64)
        nearest_fake = np.full(len(real), np.inf, np.float32)
    for start, distances in _distance_chunks(fake, real):  # [chunk of fake, all real].
        rows = slice(start, start + len(distances))
        if precision_recall_k is not None:
            fake_in_real[rows] = (distances <= real_pr).any(axis=1)
            real_in_fake |= (distances <= fake_pr[rows, np.newaxis]).any(axis=0)
        if density_coverage_k is not None:
            balls_holding[rows] = (distances <= real_dc).sum(axis=1)
            np.minimum(nearest_fake, distances.min(axis=0), out=nearest_fake)
    if precision_recall_k is not None:
        result["precision"] = float(fake_in_real.mean())
        result["recall"] = float(real_in_fake.mean())
    if density_coverage_k is not None:
        result["density"] = float(balls_holding.sum() / (density_coverage_k * len(fake)))
        result["coverage"] = float((nearest_fake <= real_dc).mean())
    return result


def _check_same_dim(real, fake):
    if real.shape[1] != fake.shape[1]:
        raise UserError(f"real features are {real.shape[1]}-d but fake features are "
                        f"{fake.shape[1]}-d: compute both with one feature network")


def _distance_chunks(rows, columns):
    """Yields (start, squared Euclidean distances float32 [chunk, len(columns)]) over `rows`."""
    column_norms = np.einsum("ij,ij->i", columns, columns)
    chunk = max(1, _CHUNK_ELEMENTS // max(1, len(columns)))
    for start in range(0, len(rows), chunk):
        block = rows[start:start + chunk]
        distances = block @ columns.T
        distances *= -2
        distances += np.einsum("ij,ij->i", block, block)[:, np.newaxis]
        distances += column_norms
        np.maximum(distances, 0, out=distances)
        yield start, distances


def _kth_neighbour_distances(features, ks):
    """Returns {k: squared distance from each sample to its k-th nearest other sample}."""
    radii = {k: np.empty(len(features), np.float32) for k in ks}
    for start, distances in _distance_chunks(features, features):
        rows = np.arange(len(distances))
        distances[rows, start + rows] = 0  # Exactly, whatever the float32 rounding.
        # Index k of the sorted row skips the sample itself (distance 0) at index 0.
        smallest = np.partition(distances, ks, axis=1)
        for k in ks:
            radii[k][start:start + len(distances)] = smallest[:, k]
    return radii
