"""Tests for zoo.data: offline Fashion-MNIST, image folders, TFDS names, and the training stream."""

import gzip
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import zoo.data
from tests.helpers import write_idx
from zoo.data import fashion_mnist
from zoo.errors import UserError

HAS_DEBIAN_FILES = os.path.isdir(fashion_mnist.DEBIAN_DIR)
needs_debian_files = pytest.mark.skipif(
    not HAS_DEBIAN_FILES,
    reason=f"{fashion_mnist.DEBIAN_DIR} is absent (apt-get install dataset-fashion-mnist)",
)


def write_fashion_files(directory, num_train=30, num_test=20):
    """Writes small valid Fashion-MNIST IDX files (train gzipped, test raw); returns the arrays."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count, compress in (("train", num_train, True), ("test", num_test, False)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8)
        images_stem, labels_stem = fashion_mnist.FILES[split]
        suffix = ".gz" if compress else ""
        write_idx(os.path.join(directory, images_stem + suffix), images, compress)
        write_idx(os.path.join(directory, labels_stem + suffix), labels, compress)
        arrays[split] = (images, labels)
    return arrays


@pytest.fixture
def no_fashion_mnist_files(monkeypatch, tmp_path):
    """Makes the Debian folder and the environment variable point nowhere."""
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(tmp_path / "absent"))
    monkeypatch.delenv(fashion_mnist.ENV_VAR, raising=False)


@pytest.mark.integration  # import cost, in a fresh interpreter
def test_import_neither_loads_data_nor_imports_tfds():
    code = "import sys, zoo.data; assert 'tensorflow_datasets' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                   cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# Fashion-MNIST.


@needs_debian_files
@pytest.mark.parametrize("split, count", [("train", 50000), ("validation", 10000), ("test", 10000)])
def test_fashion_mnist_from_debian_files(monkeypatch, split, count):
    monkeypatch.delenv(fashion_mnist.ENV_VAR, raising=False)
    source = zoo.data.load("fashion_mnist", split)
    assert (source.name, source.split, source.num_examples) == ("fashion_mnist", split, count)
    assert source.image_shape == (28, 28, 1) and source.num_classes == 10
    assert fashion_mnist.DEBIAN_DIR in source.description
    assert source.dataset.element_spec == {
        "image": tf.TensorSpec((28, 28, 1), tf.uint8), "label": tf.TensorSpec((), tf.int64)}
    labels = [element["label"] for element in source.dataset.take(2000).as_numpy_iterator()]
    assert set(labels) == set(range(10))


def test_fashion_mnist_from_data_dir(tmp_path):
    arrays = write_fashion_files(tmp_path)
    # 30 training images: the last 5 (1/6) are validation, the first 25 train.
    arrays["validation"] = tuple(array[25:] for array in arrays["train"])
    arrays["train"] = tuple(array[:25] for array in arrays["train"])
    for split in ("train", "validation", "test"):
        source = zoo.data.load("fashion_mnist", split, data_dir=str(tmp_path))
        elements = list(source.dataset.as_numpy_iterator())
        images, labels = arrays[split]
        assert source.num_examples == len(images) == len(elements)
        np.testing.assert_array_equal(np.stack([e["image"][..., 0] for e in elements]), images)
        np.testing.assert_array_equal([e["label"] for e in elements], labels)
        assert str(tmp_path) in source.description


def test_fashion_mnist_slices_resizes_and_converts(tmp_path):
    arrays = write_fashion_files(tmp_path)
    source = zoo.data.load("fashion_mnist", "train[10:20]", data_dir=str(tmp_path))
    first = next(source.dataset.as_numpy_iterator())
    np.testing.assert_array_equal(first["image"][..., 0], arrays["train"][0][10])
    assert source.num_examples == 10
    assert zoo.data.load("fashion_mnist", "test[50%:]", data_dir=str(tmp_path)).num_examples == 10
    source = zoo.data.load("fashion_mnist", "test", data_dir=str(tmp_path), image_size=32,
                           channels=3)
    assert source.image_shape == (32, 32, 3)
    assert source.dataset.element_spec["image"].shape == (32, 32, 3)


def test_fashion_mnist_data_dir_missing_file(tmp_path):
    write_fashion_files(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    zoo.data.load("fashion_mnist", "train", data_dir=str(tmp_path))  # Train files are complete.
    with pytest.raises(UserError, match="t10k-labels-idx1-ubyte") as raised:
        zoo.data.load("fashion_mnist", "test", data_dir=str(tmp_path))
    assert str(tmp_path) in str(raised.value) and "\n" not in str(raised.value)


def test_fashion_mnist_corrupt_files(tmp_path):
    write_fashion_files(tmp_path)
    images_path = tmp_path / "train-images-idx3-ubyte.gz"
    data = bytearray(gzip.decompress(images_path.read_bytes()))
    images_path.write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + bytes(data[4:])))
    with pytest.raises(UserError, match="train-images-idx3-ubyte.gz is not IDX images"):
        zoo.data.load("fashion_mnist", "train", data_dir=str(tmp_path))
    images_path.write_bytes(gzip.compress(bytes(data[:-5])))
    with pytest.raises(UserError, match="train-images-idx3-ubyte.gz is truncated"):
        zoo.data.load("fashion_mnist", "train", data_dir=str(tmp_path))
    images_path.write_bytes(gzip.compress(bytes(data))[:200])
    with pytest.raises(UserError, match="cannot read .*train-images-idx3-ubyte.gz"):
        zoo.data.load("fashion_mnist", "train", data_dir=str(tmp_path))


def test_fashion_mnist_bad_split_and_options(tmp_path):
    write_fashion_files(tmp_path)
    for kwargs in ({"split": "valid"}, {"split": "train[a:]"}, {"channels": 2},
                   {"image_size": 0}, {"validation_size": -1}, {"validation_size": 30},
                   {"split": "validation", "validation_size": 0}):
        with pytest.raises(UserError):
            zoo.data.load("fashion_mnist", data_dir=str(tmp_path), **kwargs)


def test_fashion_mnist_environment_variable(monkeypatch, tmp_path):
    write_fashion_files(tmp_path)
    monkeypatch.setenv(fashion_mnist.ENV_VAR, str(tmp_path))
    assert zoo.data.load("fashion_mnist", "train").num_examples == 25  # 5 held out as validation.
    monkeypatch.setenv(fashion_mnist.ENV_VAR, str(tmp_path / "absent"))
    with pytest.raises(UserError, match=fashion_mnist.ENV_VAR):
        zoo.data.load("fashion_mnist", "train")


def test_fashion_mnist_falls_back_to_shipped_subset(no_fashion_mnist_files, caplog):
    train = zoo.data.load("fashion_mnist", "train")
    validation = zoo.data.load("fashion_mnist", "validation")
    test = zoo.data.load("fashion_mnist", "test")
    # The subset holds out proportionally: 1/6 of its 2,000 training images, as 10,000 of 60,000.
    assert (train.num_examples, validation.num_examples, test.num_examples) == (1667, 333, 1000)
    assert "apt-get install dataset-fashion-mnist" in caplog.text
    assert "subset" in train.description and train.image_shape == (28, 28, 1)
    assert "last 333 held out as validation (1/6, as 10000 of the full 60000)" in train.description
    labels = np.array([element["label"] for element in test.dataset.as_numpy_iterator()])
    np.testing.assert_array_equal(np.bincount(labels), [100] * 10)


@needs_debian_files
def test_shipped_subset_is_first_images_per_class():
    with np.load(fashion_mnist.SUBSET_PATH) as subset:
        for split in ("train", "test"):
            images, labels = fashion_mnist.read_split(fashion_mnist.DEBIAN_DIR, split)
            indices = subset[f"{split}_indices"]
            np.testing.assert_array_equal(subset[f"{split}_images"], images[indices])
            np.testing.assert_array_equal(subset[f"{split}_labels"], labels[indices])
            per_class = len(indices) // 10
            expected = np.sort(np.concatenate(
                [np.flatnonzero(labels == label)[:per_class] for label in range(10)]))
            np.testing.assert_array_equal(indices, expected)


# Image folders.


def write_png(path, size, mode, value=0):
    from PIL import Image

    os.makedirs(os.path.dirname(path), exist_ok=True)
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    pixels = np.full((size[1], size[0], channels), value, np.uint8)
    if channels == 1:
        pixels = pixels[..., 0]
    Image.fromarray(pixels, mode).save(path)


def test_folder_with_class_subfolders(tmp_path):
    write_png(str(tmp_path / "dogs" / "a.png"), (8, 8), "RGB", 10)
    write_png(str(tmp_path / "cats" / "b.png"), (8, 8), "RGBA", 20)
    write_png(str(tmp_path / "cats" / "nested" / "c.png"), (8, 8), "L", 30)
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    (tmp_path / "empty").mkdir()
    source = zoo.data.load(f"folder:{tmp_path}", validation_size=0)
    assert (source.num_examples, source.num_classes, source.image_shape) == (3, 2, (8, 8, 3))
    elements = list(source.dataset.as_numpy_iterator())
    assert [e["label"] for e in elements] == [0, 0, 1]  # cats/b, cats/nested/c, dogs/a.
    assert [int(e["image"][0, 0, 0]) for e in elements] == [20, 30, 10]
    assert all(e["image"].shape == (8, 8, 3) and e["image"].dtype == np.uint8 for e in elements)


def test_folder_resizes_and_converts_channels(tmp_path):
    write_png(str(tmp_path / "a.png"), (12, 8), "RGB", 200)
    write_png(str(tmp_path / "b.png"), (6, 6), "L", 100)
    with pytest.raises(UserError, match="image_size"):
        zoo.data.load(f"folder:{tmp_path}")
    source = zoo.data.load(f"folder:{tmp_path}", image_size=4, channels=1, validation_size=0)
    assert (source.num_classes, source.image_shape) == (0, (4, 4, 1))
    images = [e["image"] for e in source.dataset.as_numpy_iterator()]
    assert [image.shape for image in images] == [(4, 4, 1), (4, 4, 1)]
    assert np.all(images[0] == 200) and np.all(images[1] == 100)
    source = zoo.data.load(f"folder:{tmp_path}", image_size=5, channels=3)
    assert next(source.dataset.as_numpy_iterator())["image"].shape == (5, 5, 3)


def test_folder_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        zoo.data.load(f"folder:{tmp_path / 'absent'}")
    with pytest.raises(UserError, match="has no images"):
        zoo.data.load(f"folder:{tmp_path}")
    write_png(str(tmp_path / "a.png"), (8, 8), "RGB")
    with pytest.raises(UserError, match="only 'train'"):
        zoo.data.load(f"folder:{tmp_path}", split="test")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match="broken.jpg"):
        zoo.data.load(f"folder:{tmp_path}")


# TFDS names.


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("zoo.data tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_unknown_dataset(no_network):
    expected = "unknown dataset 'fashion_mnis' \\(did you mean 'fashion_mnist'\\?\\)"
    with pytest.raises(UserError, match=expected) as raised:
        zoo.data.load("fashion_mnis")
    message = str(raised.value)
    assert "fashion_mnist, folder:/path/to/images" in message and "\n" not in message
    with pytest.raises(UserError, match="unknown dataset 'no_such_thing_xyz'"):
        zoo.data.load("no_such_thing_xyz")


def test_tfds_dataset_that_needs_a_download(no_network, monkeypatch, tmp_path):
    import tensorflow_datasets as tfds

    def fail(*args, **kwargs):
        raise ConnectionError("no route to host\nmore details")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", fail)
    expected = "'mnist' .*needs a download.*ConnectionError: no route to host$"
    with pytest.raises(UserError, match=expected):
        zoo.data.load("mnist", data_dir=str(tmp_path))


def test_tfds_dataset_already_prepared(no_network, tmp_path):
    pytest.importorskip("importlib_resources", reason="needed by tensorflow_datasets to prepare")
    import tensorflow_datasets as tfds

    features = tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(8, 8, 3)),
        "label": tfds.features.ClassLabel(num_classes=3)})
    examples = tf.data.Dataset.from_tensor_slices({
        "image": np.full((6, 8, 8, 3), 7, np.uint8), "label": np.arange(6) % 3})
    tfds.dataset_builders.store_as_tfds_dataset(  # Stored as "mnist" so the name is registered.
        name="mnist", version="3.0.1", features=features, split_datasets={"train": examples},
        data_dir=str(tmp_path))
    source = zoo.data.load("mnist", "train[:4]", data_dir=str(tmp_path), image_size=4, channels=1)
    assert (source.num_examples, source.image_shape) == (4, (4, 4, 1))
    elements = list(source.dataset.as_numpy_iterator())
    assert len(elements) == 4 and all(e["image"].shape == (4, 4, 1) for e in elements)
    # No validation split of its own: the last tenth of train (here 1 of 6) is held out.
    validation = zoo.data.load("mnist", "validation", data_dir=str(tmp_path))
    assert validation.num_examples == 1 and "last 1 of the 6 training examples" in validation.description
    assert zoo.data.load("mnist", "train", data_dir=str(tmp_path)).num_examples == 5
    with pytest.raises(UserError, match="unknown split 'valid'"):
        zoo.data.load("mnist", "valid", data_dir=str(tmp_path))


# The training stream.


def numbered_source(count=50, random_access=True):
    """A source whose example i has every pixel equal to i and label i % 10."""
    images = np.repeat(np.arange(count, dtype=np.uint8), 4 * 4).reshape(count, 4, 4, 1)
    source = zoo.data.from_arrays(images, np.arange(count) % 10, name="numbered")
    if random_access:
        return source
    return zoo.data.Source(name="numbered", split="train", dataset=source.dataset,
                           num_examples=count, spec=zoo.data.DataSpec("images", image_shape=(4, 4, 1), num_classes=10),
                           description="streamed")


def example_ids(pipeline, num_batches):
    """The example numbers of the first `num_batches` batches, as an array [num_batches, B]."""
    ids = []
    for batch in pipeline.take(num_batches).as_numpy_iterator():
        image = batch["image"]
        assert image.dtype == np.float32 and -1.0 <= image.min() and image.max() <= 1.0
        ids.append(np.round((image[:, 0, 0, 0] + 1.0) * 127.5).astype(int))
        np.testing.assert_array_equal(batch["label"], ids[-1] % 10)
    return np.array(ids)


@pytest.mark.parametrize("random_access, shuffle_buffer",
                         [(True, None), (False, None), (False, 16)])
def test_pipeline_is_deterministic_and_resumable(random_access, shuffle_buffer):
    source = numbered_source(random_access=random_access)
    batch_size = 8
    steps = zoo.data.steps_per_epoch(source, batch_size)
    assert steps == 6

    def stream(seed, start_step=0, num_batches=20):
        pipeline = zoo.data.make_pipeline(source, batch_size, seed, start_step, shuffle_buffer)
        return example_ids(pipeline, num_batches)

    reference = stream(seed=3)
    assert reference.shape == (20, batch_size)
    np.testing.assert_array_equal(stream(seed=3), reference)
    assert not np.array_equal(stream(seed=4), reference)
    for epoch in range(3):  # Every example at most once per epoch, 48 of the 50.
        ids = reference[epoch * steps:(epoch + 1) * steps].ravel()
        assert len(set(ids)) == len(ids) == 48
    assert not np.array_equal(reference[:steps], reference[steps:2 * steps])
    for start_step in (1, 5, 6, 7, 13):
        resumed = stream(3, start_step, 20 - start_step)
        np.testing.assert_array_equal(resumed, reference[start_step:])


def test_pipeline_ignores_the_global_seed():
    source = numbered_source()
    try:
        tf.random.set_seed(1)
        first = example_ids(zoo.data.make_pipeline(source, 8, seed=0), 3)
        tf.random.set_seed(2)
        second = example_ids(zoo.data.make_pipeline(source, 8, seed=0), 3)
    finally:
        tf.random.set_seed(None)
    np.testing.assert_array_equal(second, first)


def test_pipeline_accepts_numpy_and_tensor_integers():
    source = numbered_source()
    expected = example_ids(zoo.data.make_pipeline(source, 8, seed=5, start_step=7), 2)
    resumed = zoo.data.make_pipeline(source, np.int64(8), np.int32(5), tf.constant(7, tf.int64))
    np.testing.assert_array_equal(example_ids(resumed, 2), expected)
    with pytest.raises(UserError, match="seed must be an integer"):
        zoo.data.make_pipeline(source, 8, seed=0.5)


def test_pipeline_batches_and_errors(tmp_path):
    write_png(str(tmp_path / "a" / "1.png"), (6, 6), "RGB", 255)
    write_png(str(tmp_path / "b" / "2.png"), (6, 6), "L", 0)
    source = zoo.data.load(f"folder:{tmp_path}", validation_size=0)
    batch = next(iter(zoo.data.make_pipeline(source, 2, seed=0)))
    assert batch["image"].shape == (2, 6, 6, 3) and batch["image"].dtype == tf.float32
    assert sorted(batch["image"].numpy()[:, 0, 0, 0]) == [-1.0, 1.0]
    assert sorted(batch["label"].numpy()) == [0, 1]
    for batch_size in (0, 3, -1):
        with pytest.raises(UserError, match="batch_size"):
            zoo.data.make_pipeline(source, batch_size, seed=0)
    with pytest.raises(UserError, match="batch_size 3 is larger than the 2 examples"):
        zoo.data.steps_per_epoch(source, 3)
