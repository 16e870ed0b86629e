"""Tests for zoo.data.paired: the Fashion-MNIST image-to-image tasks and paired image folders."""

import os

import numpy as np
import pytest

import zoo.data
from tests.helpers import write_idx
from zoo.data import paired, sources
from zoo.errors import UserError


def load_all(source):
    """(inputs, targets) of every element of `source`, as uint8 arrays [N, H, W, C]."""
    elements = list(source.dataset.as_numpy_iterator())
    return (np.stack([e["input"] for e in elements]), np.stack([e["target"] for e in elements]))


def one_line_error(match, load, *args, **kwargs):
    """Calls `load`; asserts a one-line UserError matching `match`; returns its message."""
    with pytest.raises(UserError, match=match) as raised:
        load(*args, **kwargs)
    assert "\n" not in str(raised.value)
    return str(raised.value)


def sobel_edges(image, threshold=255):
    """Hand-written Sobel (borders replicated) of one gray image [H, W], thresholded to 0/255."""
    height, width = image.shape
    padded = np.pad(image.astype(float), 1, mode="edge")
    kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)
    edges = np.zeros((height, width), np.uint8)
    for y in range(height):
        for x in range(width):
            window = padded[y:y + 3, x:x + 3]
            gx, gy = np.sum(window * kx), np.sum(window * kx.T)
            edges[y, x] = 255 if np.hypot(gx, gy) >= threshold else 0
    return edges


def write_train_idx(directory, images):
    write_idx(os.path.join(directory, "train-images-idx3-ubyte.gz"), images)
    write_idx(os.path.join(directory, "train-labels-idx1-ubyte.gz"), np.arange(len(images)) % 10)
    return str(directory)


# Fashion-MNIST tasks.


def test_edges_of_step_images(tmp_path):
    step = np.zeros((28, 28), np.uint8)
    step[:, 14:] = 200  # A vertical step: edges on the two columns beside it.
    faint = np.zeros((28, 28), np.uint8)
    faint[10:, :] = 40  # A step of 40 gray levels: magnitude 160, below the threshold.
    noise = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    data_dir = write_train_idx(tmp_path, np.stack([step, faint, noise]))
    source = zoo.data.load("fashion_mnist_edges", data_dir=data_dir, validation_size=0)
    assert source.spec.kind == "paired_images" and source.num_examples == 3
    assert source.spec.image_shape == source.spec.input_shape == (28, 28, 1)
    inputs, targets = load_all(source)
    np.testing.assert_array_equal(targets[..., 0], [step, faint, noise])
    expected_step = np.zeros((28, 28), np.uint8)
    expected_step[:, 13:15] = 255
    np.testing.assert_array_equal(inputs[0, ..., 0], expected_step)
    assert not inputs[1].any()
    for image, edges in zip((step, faint, noise), inputs[..., 0]):
        np.testing.assert_array_equal(edges, sobel_edges(image))


def test_edges_of_fashion_mnist(tiny_fashion_mnist):
    source = zoo.data.load("fashion_mnist_edges", "test[:6]", data_dir=tiny_fashion_mnist)
    inputs, targets = load_all(source)
    assert set(np.unique(inputs)) <= {0, 255}
    for edges, image in zip(inputs[..., 0], targets[..., 0]):
        np.testing.assert_array_equal(edges, sobel_edges(image))
        assert 0.05 < np.mean(edges > 0) < 0.6  # Outlines, neither empty nor everything.


def test_masked_box_depends_only_on_the_index(tiny_fashion_mnist):
    full = load_all(zoo.data.load("fashion_mnist_masked", data_dir=tiny_fashion_mnist))
    again = load_all(zoo.data.load("fashion_mnist_masked", data_dir=tiny_fashion_mnist))
    sliced = load_all(zoo.data.load("fashion_mnist_masked", "train[100:120]",
                                    data_dir=tiny_fashion_mnist))
    np.testing.assert_array_equal(again[0], full[0])
    np.testing.assert_array_equal(sliced[0], full[0][100:120])
    np.testing.assert_array_equal(sliced[1], full[1][100:120])
    inputs, targets = full[0][..., 0], full[1][..., 0]
    top, left, height, width = paired.mask_boxes(np.arange(len(inputs)), 28, 28)
    assert np.all((7 <= height) & (height <= 14) & (7 <= width) & (width <= 14))
    assert np.all((top >= 0) & (top + height <= 28) & (left >= 0) & (left + width <= 28))
    assert len(set(zip(top, left, height, width))) > 200  # Boxes vary between examples.
    for i, (image, target) in enumerate(zip(inputs, targets)):
        box = np.zeros((28, 28), bool)
        box[top[i]:top[i] + height[i], left[i]:left[i] + width[i]] = True
        assert np.all(image[box] == paired.MASK_VALUE)
        np.testing.assert_array_equal(image[~box], target[~box])
        rows, columns = np.nonzero(image != target)  # Independently: changes lie in the box.
        assert box[rows, columns].all()


# (top, left, height, width) rows of the 28x28 boxes of indices 0, 1 and 59999.
GOLDEN_BOXES = np.array([[11, 3, 18], [18, 1, 8], [12, 8, 8], [8, 9, 13]])


def test_mask_boxes_are_fixed_across_processes_and_versions():
    # Golden values: the boxes are a pure function of (MASK_SEED, index), not of any RNG state.
    top, left, height, width = paired.mask_boxes([0, 1, 59999], 28, 28)
    np.testing.assert_array_equal(np.stack([top, left, height, width]), GOLDEN_BOXES)
    again = paired.mask_boxes(np.array([59999, 0]), 28, 28)
    np.testing.assert_array_equal(np.stack(again), GOLDEN_BOXES[:, [2, 0]])


def test_masked_scales_with_image_size(tiny_fashion_mnist):
    source = zoo.data.load("fashion_mnist_masked", "test[:20]", data_dir=tiny_fashion_mnist,
                           image_size=56, channels=3)
    assert source.spec.image_shape == source.spec.input_shape == (56, 56, 3)
    inputs, targets = load_all(source)
    for channel in (1, 2):
        np.testing.assert_array_equal(inputs[..., channel], inputs[..., 0])
    masked = (inputs != targets)[..., 0]
    for image_mask in masked:
        rows, columns = np.nonzero(image_mask)
        assert rows.max() - rows.min() < 28 and columns.max() - columns.min() < 28


def test_lowres_is_block_means(tiny_fashion_mnist):
    source = zoo.data.load("fashion_mnist_lowres", "train[:32]", data_dir=tiny_fashion_mnist)
    inputs, targets = load_all(source)
    assert inputs.shape == targets.shape == (32, 28, 28, 1)
    blocks_in = inputs[..., 0].reshape(32, 7, 4, 7, 4).astype(float)
    blocks_target = targets[..., 0].reshape(32, 7, 4, 7, 4).astype(float)
    assert np.all(blocks_in == blocks_in[:, :, :1, :, :1])  # Constant on every 4x4 block.
    assert np.all(np.abs(blocks_in[:, :, 0, :, 0] - blocks_target.mean(axis=(2, 4))) <= 0.5)
    source = zoo.data.load("fashion_mnist_lowres", "test[:4]", data_dir=tiny_fashion_mnist,
                           image_size=32)
    assert source.spec.image_shape == (32, 32, 1)
    inputs, _ = load_all(source)
    blocks = inputs.reshape(4, 8, 4, 8, 4, 1)
    assert np.all(blocks == blocks[:, :, :1, :, :1])
    one_line_error("image_size=30 for fashion_mnist_lowres: must be a multiple of 4",
                   zoo.data.load, "fashion_mnist_lowres", data_dir=tiny_fashion_mnist,
                   image_size=30)


def test_task_errors(tiny_fashion_mnist):
    one_line_error("unknown split 'val' for fashion_mnist_edges", zoo.data.load,
                   "fashion_mnist_edges", "val", data_dir=tiny_fashion_mnist)
    one_line_error("selects none of the 213 images of train", zoo.data.load, "fashion_mnist_masked",
                   "train[300:]", data_dir=tiny_fashion_mnist)  # 43 of the 256 are validation.
    one_line_error("direction applies to paired folders", zoo.data.load, "fashion_mnist_edges",
                   data_dir=tiny_fashion_mnist, direction="BtoA")
    one_line_error("direction applies to paired folders", zoo.data.load, "fashion_mnist",
                   direction="AtoB")
    one_line_error("sequence_length applies to text", zoo.data.load, "fashion_mnist_lowres",
                   sequence_length=16)
    one_line_error("channels=2", zoo.data.load, "fashion_mnist_edges", channels=2)
    message = one_line_error("unknown dataset 'fashion_mnist_edge' \\(did you mean "
                             "'fashion_mnist_edges'\\?\\)", zoo.data.load, "fashion_mnist_edge")
    for name in (*paired.NAMES, "paired_folder:/path/to/pairs"):
        assert name in sources.OFFLINE_NAMES and name in message


# Paired folders.


def write_image(path, pixels):
    from PIL import Image

    os.makedirs(os.path.dirname(path), exist_ok=True)
    pixels = np.asarray(pixels, np.uint8)
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(path)


def random_image(rng, height, width, channels):
    return rng.integers(0, 256, (height, width, channels), dtype=np.uint8)


def write_side_by_side(directory, count, height=5, width=4, channels=3, seed=0):
    """Writes `count` files A|B (B = 255 - A); returns the A halves [count, H, W, C]."""
    rng = np.random.default_rng(seed)
    halves = np.stack([random_image(rng, height, width, channels) for _ in range(count)])
    for i, a in enumerate(halves):
        write_image(os.path.join(directory, f"{i:03d}.png"), np.concatenate([a, 255 - a], axis=1))
    return halves


def write_a_b(directory, count, height=6, width=6, channels_a=1, channels_b=1, seed=0):
    """Writes A/i.png and B/i.png; returns (A images, B images)."""
    rng = np.random.default_rng(seed)
    a_images = np.stack([random_image(rng, height, width, channels_a) for _ in range(count)])
    b_images = np.stack([random_image(rng, height, width, channels_b) for _ in range(count)])
    for i, (a, b) in enumerate(zip(a_images, b_images)):
        write_image(os.path.join(directory, "A", f"{i}.png"), a)
        write_image(os.path.join(directory, "B", f"{i}.png"), b)
    return a_images, b_images


def test_side_by_side_with_split_subfolders(tmp_path):
    train = write_side_by_side(tmp_path / "train", 3)
    test = write_side_by_side(tmp_path / "test", 2, seed=1)
    name = f"paired_folder:{tmp_path}"
    source = zoo.data.load(name, validation_size=0)
    assert (source.num_examples, source.spec.image_shape, source.spec.input_shape) == (
        3, (5, 4, 3), (5, 4, 3))
    inputs, targets = load_all(source)
    np.testing.assert_array_equal(inputs, train)
    np.testing.assert_array_equal(targets, 255 - train)
    inputs, targets = load_all(zoo.data.load(name, "test", direction="BtoA"))
    np.testing.assert_array_equal(inputs, 255 - test)
    np.testing.assert_array_equal(targets, test)
    inputs, _ = load_all(zoo.data.load(name, "train[1:]", validation_size=0))
    np.testing.assert_array_equal(inputs, train[1:])
    message = one_line_error("unknown split 'val'", zoo.data.load, name, "val")
    assert "train/, test/" in message and "'train', 'test'" in message


def test_a_b_folders_without_splits(tmp_path):
    a_images, b_images = write_a_b(tmp_path, 3)
    name = f"paired_folder:{tmp_path}"
    source = zoo.data.load(name, validation_size=0)
    assert source.spec.image_shape == source.spec.input_shape == (6, 6, 1)
    inputs, targets = load_all(source)
    np.testing.assert_array_equal(inputs, a_images)
    np.testing.assert_array_equal(targets, b_images)
    inputs, targets = load_all(zoo.data.load(name, "train[:2]", direction="BtoA", validation_size=0))
    np.testing.assert_array_equal(inputs, b_images[:2])
    np.testing.assert_array_equal(targets, a_images[:2])
    message = one_line_error("unknown split 'test'", zoo.data.load, name, "test")
    assert "no train/ val/ test/ subfolders" in message


def test_a_b_folders_gray_to_rgb(tmp_path):
    a_images, b_images = write_a_b(tmp_path / "val", 2, 4, 8, channels_a=1, channels_b=3)
    name = f"paired_folder:{tmp_path}"
    source = zoo.data.load(name, "val")
    assert (source.spec.input_shape, source.spec.image_shape) == ((4, 8, 1), (4, 8, 3))
    inputs, targets = load_all(source)
    np.testing.assert_array_equal(inputs, a_images)
    np.testing.assert_array_equal(targets, b_images)
    source = zoo.data.load(name, "val", direction="BtoA")
    assert (source.spec.input_shape, source.spec.image_shape) == ((4, 8, 3), (4, 8, 1))
    source = zoo.data.load(name, "val", channels=3)
    inputs, _ = load_all(source)
    assert source.spec.input_shape == (4, 8, 3)
    np.testing.assert_array_equal(inputs, np.repeat(a_images, 3, axis=-1))


def test_image_size_crops_and_resizes_both_halves(tmp_path):
    write_image(str(tmp_path / "a.png"), np.concatenate(
        [np.full((8, 8, 3), 50), np.full((8, 8, 3), 200)], axis=1))
    write_image(str(tmp_path / "b.png"), np.concatenate(
        [np.full((10, 6, 1), 70), np.full((10, 6, 1), 90)], axis=1))
    name = f"paired_folder:{tmp_path}"
    one_line_error("differ in size .*a.png holds 8x8.*b.png holds 6x10.*image_size",
                   zoo.data.load, name)
    source = zoo.data.load(name, image_size=4, validation_size=0)
    assert source.spec.image_shape == source.spec.input_shape == (4, 4, 3)
    inputs, targets = load_all(source)
    assert np.all(inputs[0] == 50) and np.all(targets[0] == 200)
    assert np.all(inputs[1] == 70) and np.all(targets[1] == 90)


def test_paired_folder_errors(tmp_path):
    name = f"paired_folder:{tmp_path}"
    one_line_error("does not exist", zoo.data.load, f"paired_folder:{tmp_path / 'absent'}")
    one_line_error("has no images", zoo.data.load, name)
    write_image(str(tmp_path / "odd.png"), np.zeros((4, 7, 3)))
    one_line_error(f"{tmp_path / 'odd.png'} is 7x4: .*even width", zoo.data.load, name)
    os.remove(tmp_path / "odd.png")
    write_a_b(tmp_path, 2)
    write_image(str(tmp_path / "A" / "extra.png"), np.zeros((6, 6, 1)))
    one_line_error(f"{tmp_path / 'A' / 'extra.png'} has no pair: expected "
                   f"{tmp_path / 'B' / 'extra.png'}", zoo.data.load, name)
    write_image(str(tmp_path / "B" / "extra.png"), np.zeros((5, 8, 1)))
    one_line_error(f"{tmp_path / 'A' / 'extra.png'} is 6x6 but its pair "
                   f"{tmp_path / 'B' / 'extra.png'} is 8x5", zoo.data.load, name)
    os.remove(tmp_path / "A" / "extra.png")
    one_line_error(f"{tmp_path / 'B' / 'extra.png'} has no pair", zoo.data.load, name)
    os.remove(tmp_path / "B" / "extra.png")
    (tmp_path / "B" / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "A" / "broken.jpg").write_bytes(b"not a jpeg")
    one_line_error("cannot read image .*broken.jpg", zoo.data.load, name)
    os.remove(tmp_path / "A" / "broken.jpg")
    os.remove(tmp_path / "B" / "broken.jpg")
    assert zoo.data.load(name, validation_size=0).num_examples == 2
    assert zoo.data.load(name).num_examples == zoo.data.load(name, "validation").num_examples == 1
    one_line_error("direction='AB' .*'AtoB' or 'BtoA'", zoo.data.load, name, direction="AB")
    one_line_error("selects none of its 2 pairs", zoo.data.load, name, "train[5:]", validation_size=0)
    os.rename(tmp_path / "B", tmp_path / "C")
    one_line_error("has A/ but no B/", zoo.data.load, name)


# The training stream.


def check_batches(pipeline, batch_size, shape, num_batches=3):
    batches = list(pipeline.take(num_batches).as_numpy_iterator())
    for batch in batches:
        assert set(batch) == {"input", "target"}
        for value in batch.values():
            assert value.dtype == np.float32 and value.shape == (batch_size, *shape)
            assert -1.0 <= value.min() and value.max() <= 1.0
    return batches


def test_pipeline_over_paired_folder(tmp_path):
    write_side_by_side(tmp_path, 7, channels=1)
    source = zoo.data.load(f"paired_folder:{tmp_path}")
    first = check_batches(zoo.data.make_pipeline(source, 3, seed=4), 3, (5, 4, 1))
    second = check_batches(zoo.data.make_pipeline(source, 3, seed=4), 3, (5, 4, 1))
    for one, two in zip(first, second):
        np.testing.assert_array_equal(one["input"], two["input"])
        # B = 255 - A, so the pairs stay aligned through shuffling: target = -input.
        np.testing.assert_allclose(one["target"], -one["input"], atol=1e-6)


def test_pipeline_over_fashion_mnist_task(tiny_fashion_mnist):
    source = zoo.data.load("fashion_mnist_lowres", data_dir=tiny_fashion_mnist, channels=3)
    assert source.element_at_takes_batches
    first = check_batches(zoo.data.make_pipeline(source, 16, seed=7, start_step=5), 16,
                          (28, 28, 3))
    second = check_batches(zoo.data.make_pipeline(source, 16, seed=7, start_step=5), 16,
                           (28, 28, 3))
    for one, two in zip(first, second):
        np.testing.assert_array_equal(one["input"], two["input"])
        np.testing.assert_array_equal(one["target"], two["target"])
    other = check_batches(zoo.data.make_pipeline(source, 16, seed=8, start_step=5), 16,
                          (28, 28, 3))
    assert not np.array_equal(other[0]["target"], first[0]["target"])
