"""Tests for zoo.metrics: distances against direct formulas, the shipped feature network on real
Fashion-MNIST, the reference cache, user errors, and PSNR/SSIM/bits-per-dim."""

import copy
import hashlib
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from scipy import linalg, ndimage

import zoo.data
from tests.helpers import REPO
from zoo import metrics
from zoo.errors import UserError
from zoo.metrics import features as features_lib
from zoo.metrics import reference as reference_lib

NUM_REAL = 2000  # Per set, for the real-data tests: small enough to stay fast.
FAST_KID = {"kid_subsets": 20, "kid_subset_size": 500}


@pytest.mark.integration  # import cost, in a fresh interpreter
def test_import_loads_no_model_or_data():
    # scipy.linalg is not checked: Keras imports scikit-learn (a keras-tuner dependency) and with it
    # scipy.linalg whenever both are installed, whatever zoo does.
    code = ("import sys, zoo.metrics; "
            "assert 'tensorflow_datasets' not in sys.modules, 'tensorflow_datasets'; "
            "assert 'zoo.data' not in sys.modules, 'zoo.data'; "
            "assert not any(name.startswith('zoo.models') for name in sys.modules), 'zoo.models'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr.strip().splitlines()[-1]


# Distances on synthetic features.


def gaussian_features(rng, count, dim, shift=0.0, scale=1.0):
    mixing = np.random.default_rng(123).normal(size=(dim, dim)) / math.sqrt(dim)
    return (rng.normal(size=(count, dim)) * scale) @ mixing + shift


def test_frechet_distance_matches_direct_computation():
    rng = np.random.default_rng(0)
    real, fake = gaussian_features(rng, 500, 8), gaussian_features(rng, 500, 8, shift=0.3, scale=1.2)
    mu1, sigma1 = real.mean(0), np.cov(real, rowvar=False)
    mu2, sigma2 = fake.mean(0), np.cov(fake, rowvar=False)
    # Tr((S1 S2)^1/2) = sum of the square roots of the eigenvalues of S1^1/2 S2 S1^1/2.
    root1 = linalg.sqrtm(sigma1).real
    eigenvalues = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
    expected = (np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2)
                - 2 * np.sum(np.sqrt(np.clip(eigenvalues, 0, None))))
    assert metrics.frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, abs=1e-3)
    assert metrics.feature_statistics(real)[0] == pytest.approx(mu1)
    np.testing.assert_allclose(metrics.feature_statistics(real)[1], sigma1)


def test_frechet_distance_of_diagonal_gaussians_is_exact():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var1, var2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    # |mu1 - mu2|^2 + sum (sqrt(v1) - sqrt(v2))^2 = 5 + (1 + 0 + 4).
    assert metrics.frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(10.0)


def test_frechet_distance_of_identical_features_is_zero_even_when_singular():
    rng = np.random.default_rng(1)
    for count in (1000, 20):  # 20 samples of 64-d features: a singular covariance.
        features = gaussian_features(rng, count, 64)
        mean, covariance = metrics.feature_statistics(features)
        assert abs(metrics.frechet_distance(mean, covariance, mean, covariance)) < 1e-3


def naive_mmd(x, y):
    """Unbiased MMD^2 with the cubic polynomial kernel, by explicit loops."""
    kernel = lambda a, b: (a @ b / len(a) + 1) ** 3  # noqa: E731
    m = len(x)
    xx = sum(kernel(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(kernel(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(kernel(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_explicit_formula():
    rng = np.random.default_rng(2)
    x, y = gaussian_features(rng, 12, 5), gaussian_features(rng, 15, 5, shift=0.5)
    # One subset of all 12 samples of x and 12 of y: compare with the same draw of y.
    mean, std = metrics.kernel_inception_distance(x, y, num_subsets=1, subset_size=100, seed=3)
    draw = np.random.default_rng(3)
    x_subset = x[draw.choice(12, 12, replace=False)]
    y_subset = y[draw.choice(15, 12, replace=False)]
    assert mean == pytest.approx(naive_mmd(x_subset, y_subset), rel=1e-9)
    assert std == 0.0


def test_kid_is_unbiased_and_detects_a_shift():
    rng = np.random.default_rng(4)
    real, same = gaussian_features(rng, 3000, 32), gaussian_features(rng, 3000, 32)
    mean, std = metrics.kernel_inception_distance(real, same, num_subsets=50, subset_size=500)
    assert abs(mean) < 3 * std and abs(mean) < 0.01, (mean, std)
    shifted = gaussian_features(rng, 3000, 32, shift=0.3)
    mean, std = metrics.kernel_inception_distance(real, shifted, num_subsets=50, subset_size=500)
    assert mean > 10 * std and mean > 0.05, (mean, std)


def test_manifold_metrics_on_points_with_known_answers():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])  # 1-NN distance 1 for every real point.
    fake = np.array([[0.5], [10.0]])  # In the balls of 0 and 1; in none.
    assert metrics.precision_recall(real, fake, k=1) == (0.5, 1.0)  # Fake radius 9.5 holds all.
    # Density: 2 balls hold fakes / (k=1 * 2 fakes); coverage: balls of 0 and 1 of 4.
    assert metrics.density_coverage(real, fake, k=1) == (1.0, 0.5)


def test_manifold_metrics_of_one_distribution_and_of_a_disjoint_one():
    rng = np.random.default_rng(5)
    real, same = gaussian_features(rng, 1500, 16), gaussian_features(rng, 1500, 16)
    result = metrics.manifold_metrics(real, same, precision_recall_k=3, density_coverage_k=5)
    assert result["precision"] > 0.6 and result["recall"] > 0.6, result
    assert 0.8 < result["density"] < 1.2 and result["coverage"] > 0.9, result
    far = gaussian_features(rng, 1500, 16, shift=10.0)
    result = metrics.manifold_metrics(real, far, precision_recall_k=3, density_coverage_k=5)
    assert result == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


# The shipped feature network on real Fashion-MNIST.


@pytest.fixture(scope="module")
def extractor():
    return metrics.load_feature_extractor()


@pytest.fixture(scope="module")
def reference(extractor, tmp_path_factory):
    return metrics.reference_statistics("fashion_mnist", "test", extractor, max_examples=NUM_REAL,
                                        cache_dir=str(tmp_path_factory.mktemp("reference")))


@pytest.fixture(scope="module")
def train_images():
    """NUM_REAL training images: disjoint from the test split the reference comes from."""
    source = zoo.data.load("fashion_mnist", f"train[:{NUM_REAL}]")
    batch = next(iter(source.dataset.batch(NUM_REAL)))
    return batch["image"].numpy(), batch["label"].numpy()


def test_shipped_network_classifies_test_images(extractor):
    source = zoo.data.load("fashion_mnist", "test[:1000]")
    batch = next(iter(source.dataset.batch(1000)))
    probabilities = extractor.classify(batch["image"].numpy())
    assert probabilities.shape == (1000, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(probabilities.argmax(axis=1) == batch["label"].numpy()) > 0.88
    assert extractor.input_shape == (28, 28, 1) and extractor.feature_dim == 128
    with open(features_lib.SHIPPED_MODEL_PATH, "rb") as file:
        assert extractor.hash == hashlib.sha256(file.read()).hexdigest()[:16]
    assert os.path.getsize(features_lib.SHIPPED_MODEL_PATH) < 2_000_000


def test_features_accept_arrays_sources_and_datasets(extractor):
    source = zoo.data.load("fashion_mnist", "test[:300]")
    from_source = extractor.features(source, batch_size=128)
    from_array = extractor.features(next(iter(source.dataset.batch(300)))["image"].numpy()[..., 0])
    from_batches = extractor.features(source.dataset.map(lambda e: e["image"]).batch(64))
    assert from_source.shape == (300, 128) and from_source.dtype == np.float32
    np.testing.assert_allclose(from_array, from_source, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(from_batches, from_source, rtol=1e-4, atol=1e-4)


def test_metrics_rank_real_blurred_noise_and_collapsed_images(extractor, reference, train_images):
    images, _ = train_images
    rng = np.random.default_rng(0)
    blurred = ndimage.gaussian_filter(images.astype(np.float32), sigma=(0, 1.0, 1.0, 0))
    blurred = np.clip(np.round(blurred), 0, 255).astype(np.uint8)
    noise = rng.integers(0, 256, images.shape, dtype=np.uint8)
    collapsed = np.resize(images[:100], images.shape)  # 100 distinct images, repeated.
    results = {name: metrics.evaluate_images(data, reference, extractor, **FAST_KID)
               for name, data in (("real", images), ("blurred", blurred), ("noise", noise),
                                  ("collapsed", collapsed))}
    for name, result in results.items():
        print(name, {key: round(value, 4) for key, value in result.items()})
    real, blurred, noise, collapsed = (results[name] for name in ("real", "blurred", "noise", "collapsed"))
    assert real["num_samples"] == NUM_REAL and real["num_reference"] == reference.num_examples
    assert real["fid"] < 0.1 * blurred["fid"] and blurred["fid"] < 0.5 * noise["fid"]
    assert real["kid_mean"] < blurred["kid_mean"] < noise["kid_mean"]
    assert real["precision"] > 0.6 and real["recall"] > 0.6
    assert 0.7 < real["density"] < 1.3 and real["coverage"] > 0.8
    # Not precision or density: the network maps all noise to one tight cluster that happens
    # to lie inside a few large k-NN balls of real outliers (see FEATURE_NETWORK.md).
    assert noise["recall"] < 0.05 and noise["coverage"] < 0.05
    assert collapsed["recall"] < 0.1 and collapsed["precision"] > 0.6
    assert collapsed["coverage"] < real["coverage"] - 0.3


# The reference cache.


def test_reference_cache_hits_and_keys(extractor, tmp_path, monkeypatch):
    calls = []
    original = extractor.features

    def counting_features(images, batch_size=256):
        calls.append(1)
        return original(images, batch_size)

    monkeypatch.setattr(extractor, "features", counting_features)
    options = {"max_examples": 200, "cache_dir": str(tmp_path)}
    first = metrics.reference_statistics("fashion_mnist", "test", extractor, **options)
    second = metrics.reference_statistics("fashion_mnist", "test", extractor, **options)
    assert len(calls) == 1 and first.key == second.key
    np.testing.assert_array_equal(first.features, second.features)
    np.testing.assert_array_equal(first.covariance, second.covariance)
    assert first.features.shape == (200, 128) and first.mean.shape == (128,)
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]

    other_split = metrics.reference_statistics("fashion_mnist", "train[:300]", extractor, **options)
    other_network = copy.copy(extractor)
    other_network.hash = "0" * 16
    other_model = metrics.reference_statistics("fashion_mnist", "test", other_network, **options)
    fewer = metrics.reference_statistics("fashion_mnist", "test", extractor, max_examples=100,
                                         cache_dir=str(tmp_path))
    assert len({first.key, other_split.key, other_model.key, fewer.key}) == 4
    assert len(calls) == 4 and len(os.listdir(tmp_path)) == 4


def test_default_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(reference_lib.CACHE_ENV_VAR, str(tmp_path))
    assert metrics.default_cache_dir() == os.path.join(str(tmp_path), "reference")
    monkeypatch.delenv(reference_lib.CACHE_ENV_VAR)
    assert metrics.default_cache_dir() == os.path.expanduser("~/.cache/zoo/reference")


# User errors.


def test_shape_mismatch_names_both_shapes(extractor, reference):
    images = np.zeros((4, 32, 32, 3), np.uint8)
    with pytest.raises(UserError, match=r"images are 32x32x3 .* takes 28x28x1"):
        extractor.features(images)
    with pytest.raises(UserError, match="32x32x3"):
        metrics.evaluate_images(images, reference, extractor)
    with pytest.raises(UserError, match="uint8"):
        extractor.features(np.zeros((4, 28, 28, 1), np.float32))


def test_too_few_samples_and_bad_arguments(reference):
    features = reference.features
    with pytest.raises(UserError, match="3 samples are too few for precision_recall"):
        metrics.evaluate_features(features[:3], reference)
    assert metrics.evaluate_features(features[:3], reference, metrics=["fid", "kid"])["num_samples"] == 3
    with pytest.raises(UserError, match="at least 2"):
        metrics.feature_statistics(features[:1])
    with pytest.raises(UserError, match="at least 2"):
        metrics.kernel_inception_distance(features, features[:1])
    with pytest.raises(UserError, match="at least 4"):
        metrics.precision_recall(features, features[:3], k=3)
    with pytest.raises(UserError, match="allowed are fid, kid"):
        metrics.evaluate_features(features, reference, metrics=["inception_score"])
    with pytest.raises(UserError, match="64-d"):
        metrics.kernel_inception_distance(features, features[:, :64])


def test_load_feature_extractor_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        metrics.load_feature_extractor(str(tmp_path / "missing.keras"))
    with pytest.raises(UserError, match="allowed are"):
        metrics.load_feature_extractor(str(tmp_path / "model.onnx"))
    broken = tmp_path / "broken.weights.h5"
    broken.write_bytes(b"not hdf5")
    with pytest.raises(UserError, match="InceptionV3 weights"):
        metrics.load_feature_extractor(str(broken))


def test_user_keras_model(tmp_path):
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, strides=4)(keras.layers.Rescaling(1 / 255)(inputs))
    x = keras.layers.Dense(6, name="features")(keras.layers.Flatten()(x))
    keras.Model(inputs, keras.layers.Dense(3, name="logits")(x)).save(tmp_path / "net.keras")
    keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(
        keras.layers.Conv2D(5, 3)(inputs))).save(tmp_path / "plain.keras")

    extractor = metrics.load_feature_extractor(str(tmp_path / "net.keras"))
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    assert extractor.features(images).shape == (5, 6)
    assert extractor.classify(images).shape == (5, 3)
    plain = metrics.load_feature_extractor(str(tmp_path / "plain.keras"))
    assert plain.features(images).shape == (5, 5) and plain.hash != extractor.hash
    with pytest.raises(UserError, match="no classifier head"):
        plain.classify(images)
    with pytest.raises(UserError, match="takes 32x32x3"):
        plain.features(np.zeros((2, 28, 28, 1), np.uint8))


@pytest.mark.slow  # Builds InceptionV3 twice; the feature-network path is covered by the fast tests.
def test_inception_v3_weights_file(tmp_path):
    path = str(tmp_path / "inception.weights.h5")
    keras.applications.InceptionV3(include_top=False, pooling="avg", weights=None).save_weights(path)
    extractor = metrics.load_feature_extractor(path)
    assert extractor.feature_dim == 2048 and extractor.name == "inception_v3"
    gray = np.random.default_rng(0).integers(0, 256, (2, 28, 28, 1), dtype=np.uint8)
    features = extractor.features(gray)
    assert features.shape == (2, 2048) and np.isfinite(features).all()
    np.testing.assert_allclose(extractor.features(np.repeat(gray, 3, axis=-1)), features, rtol=1e-4, atol=1e-5)


# Reconstruction quality and likelihood units.


def test_psnr_and_ssim_on_known_inputs():
    image = np.full((2, 16, 16, 1), 100, np.uint8)
    assert np.all(np.isinf(metrics.psnr(image, image)))
    np.testing.assert_allclose(metrics.ssim(image, image), 1.0)
    brighter = image + np.uint8(10)  # MSE 100: PSNR = 10 log10(255^2 / 100).
    np.testing.assert_allclose(metrics.psnr(image, brighter), 10 * math.log10(255**2 / 100), rtol=1e-5)
    assert metrics.psnr(image[0] / 255.0, brighter[0] / 255.0, max_val=1.0) == pytest.approx(28.1308, abs=1e-3)
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (16, 16, 1)).astype(np.uint8)
    noisy = np.clip(texture + rng.normal(0, 40, texture.shape), 0, 255).astype(np.uint8)
    assert 0 < metrics.ssim(texture, noisy) < 0.9
    with pytest.raises(UserError, match="one shape"):
        metrics.psnr(image, image[:1])
    with pytest.raises(UserError, match="11x11"):
        metrics.ssim(image[:, :8, :8], image[:, :8, :8])


def test_bits_per_dim_conversions():
    assert metrics.nats_to_bits(math.log(2)) == pytest.approx(1.0)
    assert metrics.bits_per_dim(784 * 8 * math.log(2), 784) == pytest.approx(8.0)  # Uniform 8-bit.
    np.testing.assert_allclose(metrics.nats_to_bits(np.array([0.0, math.log(4)])), [0.0, 2.0])
    report = metrics.likelihood_report(784 * math.log(2), 784)
    assert report == pytest.approx({"nll_nats": 784 * math.log(2), "nll_bits": 784.0, "bits_per_dim": 1.0})
    with pytest.raises(UserError, match="num_dims"):
        metrics.bits_per_dim(1.0, 0)
