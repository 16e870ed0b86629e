"""The validation split every source holds out of its training data (issue 13): train and
validation are disjoint and together the old train set (checked against independent readings of
the files), their sizes, determinism, validation_size (0: nothing held out, "validation" refused
in one line), slicing, and the sources' descriptions."""

import gzip
import os

import numpy as np
import pytest
import tensorflow as tf

import zoo.data
from zoo.data import base, fashion_mnist, paired, text
from zoo.errors import UserError

DEBIAN_TRAIN_IMAGES = os.path.join(fashion_mnist.DEBIAN_DIR, "train-images-idx3-ubyte.gz")


def one_line_error(match, load, *args, **kwargs):
    with pytest.raises(UserError, match=match) as raised:
        load(*args, **kwargs)
    assert "\n" not in str(raised.value)
    return str(raised.value)


def idx_images(path):
    """The images of an IDX file, read here without zoo: gzip, 16-byte header, [N, H, W] bytes."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    count, height, width = (int.from_bytes(data[4 * i:4 * i + 4], "big") for i in (1, 2, 3))
    return np.frombuffer(data[16:], np.uint8).reshape(count, height, width)


def all_images(source, key="image"):
    """Every element's `key` of `source` as one array, in order."""
    return np.stack([element[key] for element in source.dataset.as_numpy_iterator()])


# Fashion-MNIST.


@pytest.mark.skipif(not os.path.exists(DEBIAN_TRAIN_IMAGES), reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_validation_is_the_last_10000_of_the_training_file(monkeypatch):
    monkeypatch.delenv(fashion_mnist.ENV_VAR, raising=False)
    expected = idx_images(DEBIAN_TRAIN_IMAGES)
    assert expected.shape == (60000, 28, 28)
    train = zoo.data.load("fashion_mnist", "train")
    validation = zoo.data.load("fashion_mnist", "validation")
    assert (train.num_examples, validation.num_examples) == (50000, 10000)
    train_images = train.element_at(tf.range(50000, dtype=tf.int64))["image"].numpy()[..., 0]
    validation_images = validation.element_at(tf.range(10000, dtype=tf.int64))["image"].numpy()[..., 0]
    np.testing.assert_array_equal(train_images, expected[:50000])
    np.testing.assert_array_equal(validation_images, expected[50000:])
    assert train.description.startswith("fashion_mnist train: 50000 images (first 50000 of the 60000 training "
                                        "images; last 10000 held out as validation)")
    assert validation.description.startswith("fashion_mnist validation: 10000 images (last 10000 of the 60000 "
                                             "training images, held out of train)")
    everything = zoo.data.load("fashion_mnist", "train", validation_size=0)
    assert everything.num_examples == 60000 and "none held out" in everything.description


def test_fashion_mnist_train_and_validation_partition_the_training_file(tiny_fashion_mnist):
    expected = idx_images(os.path.join(tiny_fashion_mnist, "train-images-idx3-ubyte.gz"))
    assert len(expected) == 256
    train = all_images(zoo.data.load("fashion_mnist", "train", data_dir=tiny_fashion_mnist))[..., 0]
    validation = all_images(zoo.data.load("fashion_mnist", "validation", data_dir=tiny_fashion_mnist))[..., 0]
    # 1/6 of 256 (as 10,000 of 60,000), rounded: the last 43 images.
    assert (len(train), len(validation)) == (213, 43)
    np.testing.assert_array_equal(np.concatenate([train, validation]), expected)
    again = all_images(zoo.data.load("fashion_mnist", "validation", data_dir=tiny_fashion_mnist))[..., 0]
    np.testing.assert_array_equal(again, validation)
    sliced = all_images(zoo.data.load("fashion_mnist", "validation[:5]", data_dir=tiny_fashion_mnist))[..., 0]
    np.testing.assert_array_equal(sliced, expected[213:218])
    sliced = all_images(zoo.data.load("fashion_mnist", "validation[-10%:]", data_dir=tiny_fashion_mnist))[..., 0]
    np.testing.assert_array_equal(sliced, expected[-4:])


def test_fashion_mnist_validation_size(tiny_fashion_mnist):
    load = zoo.data.load
    expected = idx_images(os.path.join(tiny_fashion_mnist, "train-images-idx3-ubyte.gz"))
    validation = all_images(load("fashion_mnist", "validation", data_dir=tiny_fashion_mnist, validation_size=56))
    np.testing.assert_array_equal(validation[..., 0], expected[200:])
    train = load("fashion_mnist", "train", data_dir=tiny_fashion_mnist, validation_size=56)
    assert train.num_examples == 200 and "first 200 of the 256 training images; last 56" in train.description
    everything = load("fashion_mnist", "train", data_dir=tiny_fashion_mnist, validation_size=0)
    np.testing.assert_array_equal(all_images(everything)[..., 0], expected)
    message = one_line_error("validation_size=0 holds nothing out of train, so there is no validation split",
                             load, "fashion_mnist", "validation", data_dir=tiny_fashion_mnist, validation_size=0)
    assert "split 'validation' of fashion_mnist" in message
    one_line_error("holds out all of its 256 training images", load, "fashion_mnist", data_dir=tiny_fashion_mnist,
                   validation_size=256)
    one_line_error("validation_size=-1 for fashion_mnist: must be 0", load, "fashion_mnist",
                   data_dir=tiny_fashion_mnist, validation_size=-1)
    one_line_error("validation_size=True", load, "fashion_mnist", data_dir=tiny_fashion_mnist, validation_size=True)
    # The test split is never part of it.
    test = load("fashion_mnist", "test", data_dir=tiny_fashion_mnist, validation_size=10)
    assert test.num_examples == 64 and test.description == f"fashion_mnist test: 64 images from {tiny_fashion_mnist}"


def test_shipped_subset_holds_out_proportionally(monkeypatch, tmp_path):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(tmp_path / "absent"))
    monkeypatch.delenv(fashion_mnist.ENV_VAR, raising=False)
    with np.load(fashion_mnist.SUBSET_PATH) as subset:
        expected = subset["train_images"]
    train = zoo.data.load("fashion_mnist", "train")
    validation = zoo.data.load("fashion_mnist", "validation")
    assert (train.num_examples, validation.num_examples) == (1667, 333)
    np.testing.assert_array_equal(np.concatenate([all_images(train), all_images(validation)])[..., 0], expected)
    assert "last 333 held out as validation (1/6, as 10000 of the full 60000)" in train.description
    assert "shipped subset" in validation.description


def test_paired_tasks_hold_out_the_same_images_and_mask_by_file_index(tiny_fashion_mnist):
    expected = idx_images(os.path.join(tiny_fashion_mnist, "train-images-idx3-ubyte.gz"))
    train = zoo.data.load("fashion_mnist_masked", data_dir=tiny_fashion_mnist)
    validation = zoo.data.load("fashion_mnist_masked", "validation", data_dir=tiny_fashion_mnist)
    assert (train.num_examples, validation.num_examples) == (213, 43)
    targets = np.concatenate([all_images(train, "target"), all_images(validation, "target")])[..., 0]
    np.testing.assert_array_equal(targets, expected)
    # Validation example i is image 213 + i of the training file; its box is that index's box,
    # as it is with nothing held out.
    everything = zoo.data.load("fashion_mnist_masked", data_dir=tiny_fashion_mnist, validation_size=0)
    np.testing.assert_array_equal(all_images(validation, "input"), all_images(everything, "input")[213:])
    edges = zoo.data.load("fashion_mnist_edges", "validation[:3]", data_dir=tiny_fashion_mnist)
    np.testing.assert_array_equal(all_images(edges, "input")[..., 0], paired.edge_map(expected[213:216]))
    assert "held out of train" in edges.description
    one_line_error("validation_size=0 holds nothing out", zoo.data.load, "fashion_mnist_lowres", "validation",
                   data_dir=tiny_fashion_mnist, validation_size=0)


# Image folders.


def folder_files(root):
    """Every image under `root`, read here with Pillow: {relative path: pixel bytes}."""
    from PIL import Image

    found = {}
    for parent, _, names in os.walk(root):
        for name in names:
            with Image.open(os.path.join(parent, name)) as image:
                found[os.path.relpath(os.path.join(parent, name), root)] = np.asarray(image.convert("RGB")).tobytes()
    return found


def test_folder_validation_is_a_seeded_tenth_disjoint_from_train(rgb_folder):
    files = folder_files(rgb_folder[len("folder:"):])
    assert len(files) == 36
    train = zoo.data.load(rgb_folder)
    validation = zoo.data.load(rgb_folder, "validation")
    assert (train.num_examples, validation.num_examples) == (32, 4)
    train_bytes = [image.tobytes() for image in all_images(train)]
    validation_bytes = [image.tobytes() for image in all_images(validation)]
    assert not set(train_bytes) & set(validation_bytes)
    assert sorted(train_bytes + validation_bytes) == sorted(files.values())
    # Fixed: the same images in another load, and a larger size holds out a superset.
    assert [image.tobytes() for image in all_images(zoo.data.load(rgb_folder, "validation"))] == validation_bytes
    larger = [image.tobytes() for image in all_images(zoo.data.load(rgb_folder, "validation", validation_size=9))]
    assert len(larger) == 9 and set(validation_bytes) <= set(larger)
    # Spread over the classes (a sorted listing groups them), and labels kept.
    labels = [int(element["label"]) for element in zoo.data.load(rgb_folder, "validation", validation_size=9)
              .dataset.as_numpy_iterator()]
    assert len(set(labels)) > 1
    assert "4 of the 36 training images picked by a seeded hash, held out of train" in validation.description
    assert "32 of the 36 training images; 4 picked by a seeded hash held out as validation" in train.description
    sliced = [image.tobytes() for image in all_images(zoo.data.load(rgb_folder, "validation[1:3]"))]
    assert sliced == validation_bytes[1:3]
    everything = zoo.data.load(rgb_folder, validation_size=0)
    assert everything.num_examples == 36 and everything.image_shape == (16, 16, 3)
    one_line_error("validation_size=0 holds nothing out", zoo.data.load, rgb_folder, "validation", validation_size=0)


def test_tiny_folders_train_or_refuse_in_one_line(tmp_path):
    from PIL import Image

    os.makedirs(tmp_path / "one")
    Image.fromarray(np.full((4, 4, 3), 9, np.uint8)).save(tmp_path / "one" / "a.png")
    name = f"folder:{tmp_path / 'one'}"
    source = zoo.data.load(name)
    assert source.num_examples == 1 and "all 1 training images; none held out" in source.description
    one_line_error("its 1 training images are too few to hold out a validation split", zoo.data.load, name,
                   "validation")
    one_line_error("validation_size=1 .* holds out all of its 1 training images", zoo.data.load, name,
                   validation_size=1)
    Image.fromarray(np.full((4, 4, 3), 200, np.uint8)).save(tmp_path / "one" / "b.png")
    train, validation = zoo.data.load(name), zoo.data.load(name, "validation")
    assert train.num_examples == validation.num_examples == 1
    assert {int(all_images(train)[0, 0, 0, 0]), int(all_images(validation)[0, 0, 0, 0])} == {9, 200}


# Paired folders.


def write_pairs(directory, count, seed):
    """`count` side-by-side 4x8 gray files; returns their A halves."""
    from PIL import Image

    os.makedirs(directory, exist_ok=True)
    halves = np.random.default_rng(seed).integers(0, 256, (count, 4, 4), dtype=np.uint8)
    for i, a in enumerate(halves):
        Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(os.path.join(directory, f"{i:02d}.png"))
    return halves


def test_paired_folder_validation_is_val_or_held_out_of_train(tmp_path):
    train_halves = write_pairs(tmp_path / "train", 20, seed=0)
    name = f"paired_folder:{tmp_path}"
    train = all_images(zoo.data.load(name), "input")[..., 0]
    validation_source = zoo.data.load(name, "validation")
    validation = all_images(validation_source, "input")[..., 0]
    assert (len(train), len(validation)) == (18, 2)
    assert "held out of train" in validation_source.description
    assert sorted(map(bytes, np.concatenate([train, validation]))) == sorted(map(bytes, train_halves))
    assert not {bytes(a) for a in train} & {bytes(a) for a in validation}
    np.testing.assert_array_equal(all_images(zoo.data.load(name, "validation"), "input")[..., 0], validation)
    # With a val/ folder, validation is that folder and train keeps all of train/.
    val_halves = write_pairs(tmp_path / "val", 3, seed=1)
    np.testing.assert_array_equal(all_images(zoo.data.load(name, "validation"), "input")[..., 0], val_halves)
    np.testing.assert_array_equal(all_images(zoo.data.load(name, "val"), "input")[..., 0], val_halves)
    np.testing.assert_array_equal(all_images(zoo.data.load(name), "input")[..., 0], train_halves)
    one_line_error("has its own validation split \\(val/\\)", zoo.data.load, name, validation_size=4)
    assert zoo.data.load(name, "validation", validation_size=0).num_examples == 3


# Text.


def test_text_file_is_train_then_validation_then_test(tmp_path):
    data = bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8))
    (tmp_path / "t.bin").write_bytes(data)
    name = f"text:{tmp_path / 't.bin'}"
    train, _ = text.load_bytes(name, "train")
    validation, origin = text.load_bytes(name, "validation")
    test, _ = text.load_bytes(name, "test")
    assert (len(train), len(validation), len(test)) == (1620, 180, 200)  # Validation: a tenth of 1800.
    assert train == data[:1620] and validation == data[1620:1800] and test == data[1800:]
    assert "last 180 of the 1800 training bytes, held out of train" in origin
    assert text.load_bytes(name, "validation", validation_size=50)[0] == data[1750:1800]
    assert text.load_bytes(name, "train", validation_size=0)[0] == data[:1800]
    assert text.load_bytes(name, "validation[:10]")[0] == data[1620:1630]
    source = zoo.data.load(name, "validation", sequence_length=8)
    assert source.num_examples == 180 - 8
    one_line_error("validation_size=0 holds nothing out", zoo.data.load, name, "validation", validation_size=0)


FORTUNES = b"".join(b"Fortune number %d.\n%%\n" % index for index in range(60))


def test_fortunes_validation_is_a_seeded_tenth_of_the_training_fortunes(tmp_path):
    (tmp_path / "numbers").write_bytes(FORTUNES)
    every = text.split_fortunes(FORTUNES)
    test = [fortune for index, fortune in enumerate(every) if index % 10 == 9]
    training = [fortune for index, fortune in enumerate(every) if index % 10 != 9]
    train = text.split_fortunes(text.load_bytes("fortunes", "train", str(tmp_path))[0])
    validation = text.split_fortunes(text.load_bytes("fortunes", "validation", str(tmp_path))[0])
    assert (len(train), len(validation)) == (49, 5)  # A tenth of the 54 training fortunes.
    assert not set(validation) & set(train) and not set(validation) & set(test)
    assert sorted(train + validation) == sorted(training)
    assert validation == [fortune for fortune in training if fortune in set(validation)]  # In file order.
    assert text.split_fortunes(text.load_bytes("fortunes", "validation", str(tmp_path))[0]) == validation
    three = text.split_fortunes(text.load_bytes("fortunes", "validation", str(tmp_path), validation_size=3)[0])
    assert len(three) == 3 and set(three) <= set(validation)


# TFDS.


def test_tfds_dataset_with_its_own_validation_split(tmp_path):
    pytest.importorskip("importlib_resources", reason="needed by tensorflow_datasets to prepare")
    import tensorflow_datasets as tfds

    features = tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(4, 4, 1)),
                                           "label": tfds.features.ClassLabel(num_classes=2)})

    def examples(value, count):
        return tf.data.Dataset.from_tensor_slices({"image": np.full((count, 4, 4, 1), value, np.uint8),
                                                   "label": np.arange(count) % 2})

    tfds.dataset_builders.store_as_tfds_dataset(
        name="mnist", version="3.0.1", features=features,
        split_datasets={"train": examples(1, 10), "validation": examples(2, 3)}, data_dir=str(tmp_path))
    # Stored as "mnist" so the name is registered; its registered features are 28x28, hence image_size.
    train = zoo.data.load("mnist", "train", data_dir=str(tmp_path), image_size=4)
    validation = zoo.data.load("mnist", "validation[:2]", data_dir=str(tmp_path), image_size=4)
    assert (train.num_examples, validation.num_examples) == (10, 2)
    assert np.all(all_images(validation) == 2) and "its own validation split" in validation.description
    one_line_error("has its own validation split", zoo.data.load, "mnist", data_dir=str(tmp_path), image_size=4,
                   validation_size=3)


def test_tfds_without_validation_holds_out_the_last_tenth_of_train(tmp_path):
    pytest.importorskip("importlib_resources", reason="needed by tensorflow_datasets to prepare")
    import tensorflow_datasets as tfds

    features = tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(4, 4, 1)),
                                           "label": tfds.features.ClassLabel(num_classes=20)})
    values = np.arange(20, dtype=np.uint8)
    tfds.dataset_builders.store_as_tfds_dataset(
        name="mnist", version="3.0.1", features=features, data_dir=str(tmp_path),
        split_datasets={"train": tf.data.Dataset.from_tensor_slices(
            {"image": np.repeat(values, 16).reshape(20, 4, 4, 1), "label": values.astype(np.int64)})})

    def pixels(split, **options):
        source = zoo.data.load("mnist", split, data_dir=str(tmp_path), image_size=4, **options)
        return [int(value) for value in all_images(source)[:, 0, 0, 0]]

    # TFDS's own order of its train split (it shuffles examples when it stores them), read with TFDS.
    stored = [int(example["image"][0, 0, 0]) for example in tfds.builder_from_directory(
        str(tmp_path / "mnist" / "3.0.1")).as_dataset(split="train", shuffle_files=False).as_numpy_iterator()]
    assert sorted(stored) == list(range(20))
    assert pixels("train") == stored[:18]
    assert pixels("validation") == stored[18:]
    assert pixels("validation", validation_size=5) == stored[15:]
    assert pixels("validation[1:]", validation_size=5) == stored[16:]
    assert pixels("train[-2:]", validation_size=5) == stored[13:15]
    assert pixels("train", validation_size=0) == stored
    one_line_error("validation_size=0 holds nothing out", zoo.data.load, "mnist", "validation",
                   data_dir=str(tmp_path), image_size=4, validation_size=0)


# What reads the data: options, reference statistics.


def test_validation_size_is_a_data_option_and_a_config_key():
    from zoo import config as config_lib

    assert "validation_size" in zoo.data.OPTIONS
    config = config_lib.load("dcgan_fashion_mnist")
    assert config.validation_size is None and config.eval_split == "validation"
    config_lib.apply_overrides(config, ["validation_size=500"])
    assert zoo.data.options_of(config)["validation_size"] == 500


def test_reference_statistics_key_on_the_held_out_part(tiny_fashion_mnist, tmp_path):
    from types import SimpleNamespace

    from zoo.metrics import reference

    extractor = SimpleNamespace(hash="0" * 16, preprocessing_version=1, name="fake",
                                features=lambda images, batch_size: np.asarray(
                                    [np.asarray(image, np.float64).reshape(-1)[:4] for image in images]))

    def statistics(split, **options):
        return reference.reference_statistics("fashion_mnist", split, extractor, data_dir=tiny_fashion_mnist,
                                              max_examples=None, cache_dir=str(tmp_path), **options)

    default = statistics("validation")
    assert default.num_examples == 43 and "held out of train" in default.description
    assert statistics("validation").key == default.key  # Cached under the same key.
    other = statistics("validation", validation_size=20)
    assert other.num_examples == 20 and other.key != default.key
    assert statistics("train").key not in (default.key, other.key)
    assert statistics("train", validation_size=20).key != statistics("train").key
    assert statistics("test", validation_size=20).key == statistics("test").key  # Test is not held out.


def test_held_out_mask_is_fixed():
    # Golden values: the choice is a pure function of (VALIDATION_SEED, position), not of numpy's RNG.
    mask = base.held_out_mask(36, 4)
    assert list(np.flatnonzero(mask)) == [17, 20, 23, 31]
    assert list(np.flatnonzero(base.held_out_mask(20, 2))) == [2, 17]
    assert set(np.flatnonzero(mask)) <= set(np.flatnonzero(base.held_out_mask(36, 9)))
    assert base.validation_count(10, None, "x") == 1 and base.validation_count(1, None, "x") == 0
    assert base.validation_count(15, None, "x") == 2 and base.validation_count(2, None, "x") == 1
