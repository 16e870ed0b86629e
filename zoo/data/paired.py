"""Pairs of images for image-to-image models (pix2pix): {"input": uint8[H, W, C], "target": ...}.

Built-in tasks made from Fashion-MNIST (splits, slicing, data_dir and the shipped-subset fallback
as for "fashion_mnist"); the target is always the original image, the input is:
- fashion_mnist_edges: its outline (the edges2shoes idea): 255 where the Sobel gradient magnitude
  (kernels [1, 2, 1] x [-1, 0, 1], unnormalized, borders replicated) is >= EDGE_THRESHOLD = 255,
  i.e. a step of 64 gray levels between neighbours; else 0. On Fashion-MNIST this keeps clean
  outlines and drops faint texture (42 of the 60,000 training images, very dark ones, get fewer
  than 30 edge pixels).
- fashion_mnist_masked: inpainting; one box set to MASK_VALUE = 128 (mid-gray, unlike the black
  background). Its sides are 1/4 to 1/2 of the image and its place uniform, a pure function of
  MASK_SEED and the example's index in its IDX file (train and validation: the training file; a
  SplitMix64 hash, no RNG state).
- fashion_mnist_lowres: 4x super-resolution; each 4x4 block replaced by its mean (area
  downsampling, rounded), i.e. downsampled by 4 and upsampled back with nearest neighbours.
Tasks are computed at the final image_size (lowres needs a multiple of 4) on the gray images;
channels=3 repeats them.

"paired_folder:/path" reads the pix2pix datasets' layout (A and B side by side in one file) or
A/ and B/ subfolders with matching file names; see `load_folder`. Its "validation" split is its
val/ subfolder when it has one, else a seeded tenth of its training pairs held out of "train".
"""

import os

import numpy as np
import tensorflow as tf

from zoo.data import base, fashion_mnist, folder
from zoo.errors import UserError

EDGES, MASKED, LOWRES = "fashion_mnist_edges", "fashion_mnist_masked", "fashion_mnist_lowres"
NAMES = (EDGES, MASKED, LOWRES)
PREFIX = "paired_folder:"
DIRECTIONS = ("AtoB", "BtoA")
FOLDER_SPLITS = ("train", "val", "test")  # Subfolders of a paired folder that are splits.
EDGE_THRESHOLD = 255
MASK_VALUE, MASK_SEED = 128, 20170711
LOWRES_FACTOR = 4
_CHUNK = 10000  # Images per numpy step, to bound temporary memory.
_SEED_OFFSET = np.uint64(MASK_SEED * 0x9E3779B97F4A7C15 % 2**64)  # Golden-ratio spread seed.
_TASKS = {EDGES: "input: Sobel edges", MASKED: "input: image with a masked box",
          LOWRES: f"input: image at 1/{LOWRES_FACTOR} resolution"}


def is_paired_dataset(name):
    """Whether `name` is read by this module: a built-in task or "paired_folder:<path>"."""
    return name in NAMES or name.startswith(PREFIX)


def load(name, split="train", data_dir=None, image_size=None, channels=None, direction=None,
         validation_size=None):
    """Returns the paired `Source` for `name` (see the module docstring)."""
    if name.startswith(PREFIX):
        return load_folder(name[len(PREFIX):], split, image_size, channels, direction, validation_size)
    if direction is not None:
        raise UserError(f"direction applies to {PREFIX}/path data only; {name} has a fixed "
                        "direction")
    return load_task(name, split, data_dir, image_size, channels, validation_size)


# Built-in tasks from Fashion-MNIST.


def load_task(name, split="train", data_dir=None, image_size=None, channels=None, validation_size=None):
    """Returns the in-memory `Source` of built-in task `name` (one of NAMES)."""
    if name not in NAMES:
        raise UserError(f"unknown paired task {name!r}: allowed are {', '.join(NAMES)}")
    image_size = base.check_image_size(image_size, name)
    channels = base.check_channels(channels, name)
    if name == LOWRES and image_size is not None and image_size % LOWRES_FACTOR:
        raise UserError(
            f"image_size={image_size} for {name}: must be a multiple of {LOWRES_FACTOR}")
    images, _, indices, where = fashion_mnist.select(split, data_dir, validation_size, what=name)
    targets = fashion_mnist._convert(images[..., np.newaxis], image_size, None)[..., 0]
    if name == EDGES:
        inputs = edge_map(targets)
    elif name == MASKED:
        inputs = mask(targets, indices)
    else:
        inputs = low_resolution(targets)
    inputs, targets = inputs[..., np.newaxis], targets[..., np.newaxis]
    if channels == 3:
        inputs, targets = np.repeat(inputs, 3, axis=-1), np.repeat(targets, 3, axis=-1)
    description = (f"{name} {split}: {len(indices)} pairs ({_TASKS[name]}, target: image) made "
                   f"from {fashion_mnist.NAME} images {where}")
    return from_pair_arrays(inputs, targets, name=name, split=split, description=description)


def from_pair_arrays(inputs, targets, *, name, split, description):
    """An in-memory paired `Source` from uint8 arrays [N, H, W, C]; element_at gathers batches."""
    input_tensor, target_tensor = tf.constant(inputs), tf.constant(targets)

    def element_at(index):
        return {base.INPUT: tf.gather(input_tensor, index),
                base.TARGET: tf.gather(target_tensor, index)}

    return base.Source(
        name=name,
        split=split,
        dataset=tf.data.Dataset.from_tensor_slices({base.INPUT: input_tensor,
                                                    base.TARGET: target_tensor}),
        num_examples=len(targets),
        spec=base.DataSpec(base.PAIRED_IMAGES, image_shape=targets.shape[1:],
                           input_shape=inputs.shape[1:]),
        description=description,
        element_at=element_at,
        element_at_takes_batches=True,
    )


def edge_map(images):
    """Binary outlines (0 or 255) of gray uint8 images [N, H, W]: Sobel magnitude >= threshold."""
    chunks = []
    for start in range(0, len(images), _CHUNK):
        p = np.pad(images[start:start + _CHUNK].astype(np.int32), ((0, 0), (1, 1), (1, 1)), "edge")
        gx = (p[:, :-2, 2:] + 2 * p[:, 1:-1, 2:] + p[:, 2:, 2:]
              - p[:, :-2, :-2] - 2 * p[:, 1:-1, :-2] - p[:, 2:, :-2])
        gy = (p[:, 2:, :-2] + 2 * p[:, 2:, 1:-1] + p[:, 2:, 2:]
              - p[:, :-2, :-2] - 2 * p[:, :-2, 1:-1] - p[:, :-2, 2:])
        chunks.append(np.where(gx * gx + gy * gy >= EDGE_THRESHOLD ** 2, 255, 0).astype(np.uint8))
    return np.concatenate(chunks)


def mask_boxes(indices, height, width):
    """(top, left, box height, box width) int arrays of the masks of examples `indices`."""
    indices = np.asarray(indices, np.uint64)
    box_height = _span(_uniform(indices, 0), max(1, height // 4), max(1, height // 2))
    box_width = _span(_uniform(indices, 1), max(1, width // 4), max(1, width // 2))
    top = _span(_uniform(indices, 2), 0, height - box_height)
    left = _span(_uniform(indices, 3), 0, width - box_width)
    return top, left, box_height, box_width


def mask(images, indices):
    """Copies of gray uint8 images [N, H, W], the box of each example's index set to MASK_VALUE."""
    height, width = images.shape[1:3]
    top, left, box_height, box_width = mask_boxes(indices, height, width)
    rows, columns = np.arange(height)[None], np.arange(width)[None]
    in_rows = (rows >= top[:, None]) & (rows < (top + box_height)[:, None])
    in_columns = (columns >= left[:, None]) & (columns < (left + box_width)[:, None])
    return np.where(in_rows[:, :, None] & in_columns[:, None, :], np.uint8(MASK_VALUE), images)


def low_resolution(images):
    """Gray uint8 images [N, H, W] with each LOWRES_FACTOR-square block set to its rounded mean."""
    n, height, width = images.shape
    f = LOWRES_FACTOR
    blocks = images.reshape(n, height // f, f, width // f, f).astype(np.int32).sum(axis=(2, 4))
    means = ((blocks + f * f // 2) // (f * f)).astype(np.uint8)  # Rounded half up.
    return np.repeat(np.repeat(means, f, axis=1), f, axis=2)


def _uniform(indices, stream):
    """Floats in [0, 1), a pure function of (MASK_SEED, stream, index): SplitMix64's mixer."""
    z = indices * np.uint64(4) + np.uint64(stream) + _SEED_OFFSET
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / 2.0 ** 53


def _span(uniform, low, high):
    """Integers uniform in [low, high] from floats in [0, 1)."""
    return (low + np.floor(uniform * (high - low + 1))).astype(np.int64)


# Paired folders.


def load_folder(directory, split="train", image_size=None, channels=None, direction=None,
                validation_size=None):
    """A `Source` over the image pairs in `directory`, decoded lazily like `zoo.data.folder`.

    Splits are the train/ val/ test/ subfolders, or the folder itself as "train" when it has
    none. "validation" (or "val") is val/ when present; otherwise it is held out of the training
    pairs: the `validation_size` (default a tenth, at least 1 while one stays in train) picked by
    `base.held_out_mask` over the pairs in sorted order, and "train" is the rest (validation_size=0:
    nothing held out). A folder with val/ takes no validation_size. A split holds side-by-side
    files (A left half, B right half; the width must be even) or A/ and B/ subfolders with the
    same file names. direction "AtoB" (default) reads input
    from A and target from B, "BtoA" the reverse. Without image_size all pairs must share one
    size; with it both images are center-cropped and resized. channels default: the first pair's.
    """
    what = PREFIX + directory
    if direction is None:
        direction = "AtoB"
    if direction not in DIRECTIONS:
        raise UserError(f"direction={direction!r} for {what}: allowed are 'AtoB' or 'BtoA'")
    image_size = base.check_image_size(image_size, what)
    channels = base.check_channels(channels, what)
    root = os.path.expanduser(directory)
    if not os.path.isdir(root):
        raise UserError(f"paired folder {directory!r} does not exist or is not a directory")
    validation_size = base.check_validation_size(validation_size, what)
    split_dirs = {name: os.path.join(root, name) for name in FOLDER_SPLITS
                  if os.path.isdir(os.path.join(root, name))}
    if split_dirs:
        note = f"it has subfolders {', '.join(name + '/' for name in split_dirs)}"
    else:
        split_dirs, note = {"train": root}, "no train/ val/ test/ subfolders: the folder is 'train'"
    allowed = list(split_dirs)
    if "val" in split_dirs or "train" in split_dirs:
        allowed.append(base.VALIDATION)
    if "val" not in split_dirs and "train" in split_dirs:
        note += "; 'validation' is held out of train"
    base_split, slicer = base.parse_split(split, tuple(allowed), f"{what} ({note})")
    own_validation = "val" in split_dirs
    if own_validation and base_split == base.VALIDATION:
        base_split = "val"
    if own_validation and validation_size:
        raise UserError(f"validation_size={validation_size} for {what}: it has its own validation split "
                        "(val/), so nothing is held out of train (leave validation_size unset)")
    holds_out = not own_validation and base_split in (base.TRAIN, base.VALIDATION)
    split_dir = split_dirs[base.TRAIN if holds_out else base_split]
    pairs, layout = _index_pairs(split_dir)
    # Sizes and channels come from every pair of the folder, so train and validation agree.
    sizes = [_pair_size(a, b) for a, b in pairs]
    if image_size is None:
        for (a, _), size in zip(pairs, sizes):
            if size != sizes[0]:
                raise UserError(
                    f"pairs in {split_dir!r} differ in size ({pairs[0][0]} holds {sizes[0][0]}x"
                    f"{sizes[0][1]} images, {a} holds {size[0]}x{size[1]}): pass image_size to "
                    "center-crop and resize them")
        height, width = sizes[0][1], sizes[0][0]
    else:
        height = width = image_size
    first_a, first_b = pairs[0]
    channels_a = channels or folder._channels_of(first_a)
    channels_b = channels or (folder._channels_of(first_b) if first_b else channels_a)
    holdout = ""
    if holds_out:
        total = len(pairs)
        count = base.validation_count(total, validation_size, what, "pairs")
        chosen = base.training_part(base_split, split, total, count, what, validation_size, seeded=True,
                                    unit="pairs")
        pairs = [pairs[i] for i in chosen]
        holdout = f"; {base.holdout_note(base_split, total, count, 'pairs', 'seeded')}"
    whole = len(pairs)
    pairs = pairs[slicer(whole)]
    if not pairs:
        raise UserError(f"split {split!r} of {what} selects none of its {whole} pairs")
    a_paths = tf.constant([a for a, _ in pairs])
    b_paths = tf.constant([b or "" for _, b in pairs])

    def finish(image, channels):
        if image_size is not None:
            image = base.resize_square(image, image_size)
        return tf.ensure_shape(image, [height, width, channels])

    def element_at(index):
        a_path = tf.gather(a_paths, index)
        if layout == "side by side":
            both = _decode(a_path, channels_a)
            half = tf.shape(both)[1] // 2
            a, b = both[:, :half], both[:, half:]
        else:
            a, b = _decode(a_path, channels_a), _decode(tf.gather(b_paths, index), channels_b)
        a, b = finish(a, channels_a), finish(b, channels_b)
        if direction == "BtoA":
            a, b = b, a
        return {base.INPUT: a, base.TARGET: b}

    dataset = tf.data.Dataset.range(len(pairs)).map(
        element_at, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    input_channels, target_channels = channels_a, channels_b
    if direction == "BtoA":
        input_channels, target_channels = channels_b, channels_a
    return base.Source(
        name=what,
        split=split,
        dataset=dataset,
        num_examples=len(pairs),
        spec=base.DataSpec(base.PAIRED_IMAGES, image_shape=(height, width, target_channels),
                           input_shape=(height, width, input_channels)),
        description=f"{what} {split}: {len(pairs)} pairs ({layout}, {direction}{holdout}) from {split_dir}",
        element_at=element_at,
    )


def _index_pairs(split_dir):
    """Returns ([(A path, B path or None for side by side)], layout) of the pairs in `split_dir`."""
    has_a, has_b = (os.path.isdir(os.path.join(split_dir, name)) for name in ("A", "B"))
    if has_a != has_b:
        present, absent = ("A", "B") if has_a else ("B", "A")
        raise UserError(f"{split_dir!r} has {present}/ but no {absent}/: paired folders hold "
                        "A/ and B/ with matching file names, or A|B side-by-side images")
    if not has_a:
        paths = folder._images_under(split_dir)
        if not paths:
            raise UserError(f"paired folder {split_dir!r} has no images: looked recursively "
                            f"for {', '.join(folder.IMAGE_EXTENSIONS)} files")
        return [(path, None) for path in paths], "side by side"
    names = {}
    for side in ("A", "B"):
        side_dir = os.path.join(split_dir, side)
        names[side] = {os.path.relpath(path, side_dir) for path in folder._images_under(side_dir)}
    for side, other in (("A", "B"), ("B", "A")):
        unpaired = sorted(names[side] - names[other])
        if unpaired:
            raise UserError(f"{os.path.join(split_dir, side, unpaired[0])} has no pair: expected "
                            f"{os.path.join(split_dir, other, unpaired[0])} with the same name")
    if not names["A"]:
        raise UserError(f"paired folder {split_dir!r} has no images in A/ and B/")
    pairs = [(os.path.join(split_dir, "A", name), os.path.join(split_dir, "B", name))
             for name in sorted(names["A"])]
    return pairs, "A/ and B/ folders"


def _pair_size(a_path, b_path):
    """(width, height) of each image of a pair, from the file headers; UserError if they differ."""
    width, height = folder._image_size(a_path)
    if b_path is None:
        if width % 2:
            raise UserError(f"{a_path} is {width}x{height}: side-by-side pairs need an even width "
                            "(A the left half, B the right half)")
        return width // 2, height
    b_width, b_height = folder._image_size(b_path)
    if (b_width, b_height) != (width, height):
        raise UserError(f"{a_path} is {width}x{height} but its pair {b_path} is "
                        f"{b_width}x{b_height}: the two images of a pair must be the same size")
    return width, height


def _decode(path, channels):
    """Decodes an image file (tensor path) to uint8 [H, W, channels] inside the graph."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=0, dtype=tf.uint8,
                               expand_animations=False)
    return base.convert_channels(image, channels)
