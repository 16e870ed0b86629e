"""Tests for zoo.metrics.feature_training: feature networks trained on a labelled image folder,
cached and reused, separating its classes; the resolver's choices and its user errors."""

import contextlib
import io
import json
import os
import time

import keras
import numpy as np
import pytest
from PIL import Image

import zoo.data
from zoo import metrics
from zoo.errors import UserError
from zoo.metrics import feature_training
from zoo.metrics import features as features_lib

SIZE = 32
CLASSES = ("0_disc", "1_square", "2_cross")  # Sorted: folder labels follow the names.
PER_CLASS = 30


def shapes(label, count, seed, size=SIZE):
    """uint8 [count, size, size, 3]: a bright shape of class `label` at a random place, size and
    colour on a dark noisy background."""
    rng = np.random.default_rng([seed, label])
    rows, cols = np.mgrid[:size, :size]
    images = rng.integers(0, 80, (count, size, size, 3)).astype(np.uint8)
    for image in images:
        radius = rng.integers(size // 6, size // 3)
        row, col = rng.integers(radius, size - radius, 2)
        if label == 0:
            mask = (rows - row) ** 2 + (cols - col) ** 2 < radius ** 2
        elif label == 1:
            mask = (abs(rows - row) < radius) & (abs(cols - col) < radius)
        else:
            mask = (abs(rows - row) <= radius // 3) | (abs(cols - col) <= radius // 3)
        image[mask] = rng.integers(150, 256, 3)
    return images


def write_folder(root, labelled=True, seed=0):
    for label, name in enumerate(CLASSES):
        directory = root / name if labelled else root
        directory.mkdir(parents=True, exist_ok=True)
        for index, image in enumerate(shapes(label, PER_CLASS, seed)):
            Image.fromarray(image).save(directory / f"{name}{index:02d}.png")
    return f"folder:{root}"


def resolve_quietly(*args, **kwargs):
    """(extractor, printed text, seconds) of resolve_feature_extractor."""
    output = io.StringIO()
    start = time.time()
    with contextlib.redirect_stdout(output):
        extractor = metrics.resolve_feature_extractor(*args, **kwargs)
    return extractor, output.getvalue(), time.time() - start


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The first resolve of a labelled RGB folder: it trains and caches a network."""
    root = tmp_path_factory.mktemp("feature_networks")
    dataset = write_folder(root / "shapes")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_CACHE_DIR", str(root / "cache"))
        extractor, printed, seconds = resolve_quietly(None, dataset)
        yield {"dataset": dataset, "extractor": extractor, "printed": printed,
               "seconds": seconds, "cache": root / "cache", "root": root}


def test_trains_once_then_reuses_the_cache(trained, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(trained["cache"]))
    first = trained["extractor"]
    assert first.input_shape == (SIZE, SIZE, 3) and first.feature_dim == 128
    assert first.num_classes == len(CLASSES)
    assert os.path.dirname(first.path) == str(trained["cache"] / "feature_networks")
    assert os.path.isfile(first.path)
    printed = trained["printed"]
    assert printed.count("\n") == 1 and printed.startswith("training a feature network")
    assert "held-out accuracy" in printed and first.path in printed
    assert trained["dataset"] in first.name

    second, printed, seconds = resolve_quietly(None, trained["dataset"])
    assert printed.count("\n") == 1 and printed.startswith("reusing") and first.path in printed
    assert (second.path, second.hash, second.name) == (first.path, first.hash, first.name)
    assert seconds < 5 < trained["seconds"], (seconds, trained["seconds"])


def test_trained_network_separates_the_classes(trained):
    extractor = trained["extractor"]
    with open(extractor.path.replace(".keras", ".json")) as file:
        record = json.load(file)
    assert record["accuracy_on"] == "held-out" and record["num_evaluated"] == 9
    images = np.concatenate([shapes(label, 30, seed=1) for label in range(len(CLASSES))])
    labels = np.repeat(np.arange(len(CLASSES)), 30)
    accuracy = np.mean(extractor.classify(images).argmax(1) == labels)
    assert accuracy > 0.8, accuracy  # Chance: 1/3.


def test_fid_within_a_class_is_far_below_fid_between_classes(trained):
    extractor = trained["extractor"]

    def statistics(images):
        return metrics.feature_statistics(extractor.features(images))

    discs = shapes(0, 200, seed=2)
    halves = statistics(discs[:100]), statistics(discs[100:])
    same = metrics.frechet_distance(*halves[0], *halves[1])
    for label in (1, 2):
        different = metrics.frechet_distance(*halves[0], *statistics(shapes(label, 100, seed=2)))
        assert 4 * same < different, (label, same, different)


def test_the_cache_key_follows_the_files(trained, tmp_path):
    def key(dataset, **options):
        return feature_training.data_key(zoo.data.load(dataset, "train", **options))

    first = key(trained["dataset"])
    assert key(trained["dataset"]) == first
    assert key(trained["dataset"], image_size=16) != first
    assert key(trained["dataset"], channels=1) != first
    other = write_folder(tmp_path / "shapes")  # Same names, other times: another network.
    assert key(other) != first


def test_unlabelled_folder_needs_a_feature_model(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    dataset = write_folder(tmp_path / "faces", labelled=False)
    with pytest.raises(UserError) as error:
        metrics.resolve_feature_extractor(None, dataset)
    message = str(error.value)
    assert "\n" not in message and "--feature_model" in message, message
    assert "no shipped feature network" in message and "unlabelled" in message
    assert not (tmp_path / "cache").exists()


def test_28x28x1_data_and_given_models_resolve_as_before(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    shipped_hash = features_lib.file_hash(features_lib.SHIPPED_MODEL_PATH)
    extractor = metrics.resolve_feature_extractor(None, "fashion_mnist")
    assert (extractor.name, extractor.hash) == ("fashion_mnist", shipped_hash)
    gray = tmp_path / "gray"
    gray.mkdir()
    for index, image in enumerate(shapes(0, 3, seed=0, size=28)):
        Image.fromarray(image[..., 0]).save(gray / f"{index}.png")
    assert metrics.resolve_feature_extractor(None, f"folder:{gray}").hash == shipped_hash
    given = metrics.resolve_feature_extractor(features_lib.SHIPPED_MODEL_PATH, "folder:/nowhere")
    assert given.hash == shipped_hash
    assert not (tmp_path / "cache").exists()


def test_images_of_another_shape_give_one_line(trained):
    shipped = metrics.load_feature_extractor()
    with pytest.raises(UserError, match=r"^images are 32x32x3 but .* takes 28x28x1[^\n]*$"):
        shipped.features(shapes(0, 2, seed=0))
    with pytest.raises(UserError, match=r"^images are 28x28x1 but .* takes 32x32x3[^\n]*$"):
        trained["extractor"].features(np.zeros((2, 28, 28, 1), np.uint8))


def test_architecture_of_28x28x1_is_the_shipped_one():
    shipped = keras.models.load_model(features_lib.SHIPPED_MODEL_PATH, compile=False)
    built = feature_training.build_feature_network((28, 28, 1), 10, seed=0)

    def layers(model):
        return [(layer.name, type(layer).__name__, tuple(layer.output.shape))
                for layer in model.layers]

    assert layers(built) == layers(shipped)
    assert built.count_params() == shipped.count_params() == 242218
    wide = feature_training.build_feature_network((64, 64, 3), 5, seed=0)
    widths = [layer.filters for layer in wide.layers if layer.name.startswith("conv")]
    assert widths == [16, 32, 64, 128]
    assert wide.get_layer("flatten").output.shape[-1] == 4 * 4 * 128


def test_training_is_deterministic_and_checks_its_data(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 16, 16, 1), dtype=np.uint8)
    source = zoo.data.from_arrays(images, np.arange(40) % 2)
    weights = []
    for attempt in range(2):
        keras.utils.set_random_seed(attempt)  # The global state must not matter.
        result = feature_training.train_feature_network(
            source, tmp_path / f"{attempt}.keras", epochs=1, batch_size=16, seed=3)
        assert (result.num_train, result.num_evaluated, result.accuracy_on) == (36, 4, "held-out")
        weights.append(keras.models.load_model(result.path, compile=False).get_weights())
    for first, second in zip(*weights):
        np.testing.assert_array_equal(first, second)
    with pytest.raises(UserError, match="at least 2 classes"):
        feature_training.train_feature_network(zoo.data.from_arrays(images), tmp_path / "x.keras")
    small = zoo.data.from_arrays(images[:, :8, :8], np.arange(40) % 2)
    with pytest.raises(UserError, match="at least 16x16"):
        feature_training.train_feature_network(small, tmp_path / "x.keras")
