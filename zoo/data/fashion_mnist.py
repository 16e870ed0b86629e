"""Fashion-MNIST (Xiao et al. 2017, arXiv:1708.07747) read offline from the original IDX files.

Never goes through TFDS: its stock builder probes the network. The files are looked for in
`data_dir`, then $ZOO_FASHION_MNIST_DIR, then /usr/share/datasets/fashion-mnist (Debian package
`dataset-fashion-mnist`); failing all three, the 2,000-image subset shipped in this package is
used, with a warning.

Splits: "train", "validation" and "test", each sliceable like "train[:1000]". The validation split
is held out of the training file: its last `validation_size` images (default: 10,000 of the
60,000, i.e. 1/6 rounded, which for the shipped subset is its last 333 of 2,000), and "train" is
the images before them (the first 50,000). validation_size=0 holds nothing out: "train" is the
whole training file and "validation" is refused. "test" is the t10k file.
"""

import functools
import gzip
import os
import zlib

import numpy as np
import tensorflow as tf
from absl import logging

from zoo.data import base
from zoo.errors import UserError

NAME = "fashion_mnist"
LICENSE = ("MIT (Expat), Copyright 2017 Zalando SE (github.com/zalandoresearch/fashion-mnist; Debian's "
           "dataset-fashion-mnist)")
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
ENV_VAR = "ZOO_FASHION_MNIST_DIR"
SUBSET_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fashion_mnist_subset.npz")
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
NUM_CLASSES = len(CLASS_NAMES)
# File split -> (images file, labels file), each accepted with or without ".gz".
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SPLITS = (base.TRAIN, base.VALIDATION, base.TEST)  # train and validation both read the training file.
# Default validation: the last 1/6 of the training file (10,000 of 60,000; 333 of the subset's 2,000).
VALIDATION_FRACTION = (10000, 60000)
_IMAGES_MAGIC, _LABELS_MAGIC = 0x00000803, 0x00000801  # unsigned bytes, 3 and 1 dimensions.
_CONVERT_CHUNK = 10000  # images converted at once when resizing or changing channels.


def load(split: str = "train", data_dir: str | None = None, image_size: int | None = None,
         channels: int | None = None, validation_size: int | None = None) -> base.Source:
    """Returns the Fashion-MNIST `Source`; see the module docstring for where files are found and
    what the splits are."""
    image_size = base.check_image_size(image_size, NAME)
    channels = base.check_channels(channels, NAME)
    images, labels, _, where = select(split, data_dir, validation_size)
    images = _convert(images[..., np.newaxis], image_size, channels)
    return base.from_arrays(images, labels, name=NAME, split=split, num_classes=NUM_CLASSES,
                            description=f"{NAME} {split}: {len(images)} images {where}")


def default_validation_size(total):
    """The images held out of a training file of `total` images by default: 1/6, rounded."""
    numerator, denominator = VALIDATION_FRACTION
    return (total * numerator + denominator // 2) // denominator


def select(split="train", data_dir=None, validation_size=None, what=NAME):
    """The gray images uint8[N, 28, 28] and labels int64[N] of `split`, their positions in the IDX
    file they come from (train and validation: the training file), and where they are from
    ("(first 50000 of the 60000 training images; ...) from <dir>"; test: "from <dir>"). `what`
    names the data in error messages."""
    base_split, slicer = base.parse_split(split, SPLITS, what)
    validation_size = base.check_validation_size(validation_size, what)
    file_split = base.TEST if base_split == base.TEST else base.TRAIN
    images, labels, origin = _find_arrays(file_split, data_dir)
    total = len(images)
    if file_split == base.TEST:
        indices, part = np.arange(total), f"the {total} test images"
        where = f"from {origin}"
    else:
        count = base.validation_count(total, validation_size, what,
                                      default=default_validation_size(total))
        indices = base.training_part(base_split, split, total, count, what, validation_size, seeded=False)
        part = base.holdout_note(base_split, total, count)
        if validation_size is None and count and total != VALIDATION_FRACTION[1]:
            part += " (1/6, as 10000 of the full 60000)"
        where = f"({part}) from {origin}"
    whole = len(indices)
    indices = indices[slicer(whole)]
    if len(indices) == 0:
        raise UserError(f"split {split!r} of {what} selects none of the {whole} images of "
                        f"{base_split} ({part}) in {origin}")
    return images[indices], labels[indices], indices, where


def _find_arrays(split, data_dir):
    """Returns (images uint8[N, H, W], labels int64[N], origin) from the first place with them."""
    if data_dir is not None:
        return (*read_split(_require_dir(data_dir, split, "data_dir"), split), data_dir)
    if os.environ.get(ENV_VAR):
        directory = os.environ[ENV_VAR]
        return (*read_split(_require_dir(directory, split, ENV_VAR), split), directory)
    if _split_paths(DEBIAN_DIR, split) is not None:
        return (*read_split(DEBIAN_DIR, split), DEBIAN_DIR)
    logging.warning(
        "Fashion-MNIST files not found in $%s or %s: using the 2,000-image training subset "
        "(1,000 test images) shipped in %s. For the full 70,000 images run "
        "`apt-get install dataset-fashion-mnist` or pass data_dir= a folder with the IDX files.",
        ENV_VAR, DEBIAN_DIR, SUBSET_PATH)
    with np.load(SUBSET_PATH) as subset:
        images, labels = subset[f"{split}_images"], subset[f"{split}_labels"].astype(np.int64)
    origin = f"the shipped subset {SUBSET_PATH} (full data: apt-get install dataset-fashion-mnist)"
    return images, labels, origin


def _split_paths(directory, split):
    """Returns the (images, labels) paths of `split` in `directory`, or None if one is missing."""
    paths = []
    for stem in FILES[split]:
        found = [os.path.join(directory, stem + suffix) for suffix in (".gz", "")]
        found = [path for path in found if os.path.isfile(path)]
        if not found:
            return None
        paths.append(found[0])
    return tuple(paths)


def _require_dir(directory, split, what):
    if _split_paths(directory, split) is None:
        expected = " and ".join(f"{stem}[.gz]" for stem in FILES[split])
        raise UserError(
            f"{what} {directory!r} lacks the Fashion-MNIST {split} files: expected {expected}"
        )
    return directory


def read_split(directory, split):
    """Returns (images uint8[N, H, W], labels int64[N]) of `split` from the IDX files there."""
    images_path, labels_path = _split_paths(directory, split)
    images = read_idx(images_path, _IMAGES_MAGIC)
    labels = read_idx(labels_path, _LABELS_MAGIC)
    if len(images) != len(labels):
        raise UserError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels"
        )
    if labels.size and labels.max() >= NUM_CLASSES:
        raise UserError(f"{labels_path} has label {labels.max()}: allowed are 0..{NUM_CLASSES - 1}")
    return images, labels.astype(np.int64)


def read_idx(path, magic):
    """Reads an IDX file (gzip-compressed or not) of unsigned bytes into a read-only array."""
    stat = os.stat(path)
    return _read_idx_cached(os.path.abspath(path), magic, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _read_idx_cached(path, magic, size, mtime_ns):
    """Parses one IDX file; the size and mtime in the key make a changed file be read again."""
    del size, mtime_ns
    expected = "IDX images (magic 2051)" if magic == _IMAGES_MAGIC else "IDX labels (magic 2049)"
    try:
        with open(path, "rb") as file:
            data = file.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise UserError(f"cannot read {path}: {error} (expected gzip or raw {expected})") from None
    num_dims = magic & 0xFF
    header_size = 4 + 4 * num_dims
    found_magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if found_magic != magic or len(data) < header_size:
        raise UserError(f"{path} is not {expected}: found magic {found_magic}")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(num_dims))
    if len(data) != header_size + int(np.prod(shape)):
        raise UserError(
            f"{path} is truncated or corrupt: header says shape {shape} "
            f"({header_size + int(np.prod(shape))} bytes) but it has {len(data)} bytes"
        )
    return np.frombuffer(data, np.uint8, offset=header_size).reshape(shape)


def _convert(images, image_size, channels):
    """Resizes / changes channels of uint8[N, 28, 28, 1] images in chunks, if asked to."""
    needs_resize = image_size is not None and image_size != images.shape[1]
    if not needs_resize and channels in (None, 1):
        return images
    chunks = []
    for start in range(0, len(images), _CONVERT_CHUNK):
        chunk = tf.constant(images[start:start + _CONVERT_CHUNK])
        if needs_resize:
            chunk = base.resize_square(chunk, image_size)
        if channels == 3:
            chunk = tf.repeat(chunk, 3, axis=-1)
        chunks.append(chunk.numpy())
    return np.concatenate(chunks)
