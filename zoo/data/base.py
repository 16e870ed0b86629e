"""The `Source` record every loader returns, and helpers the loaders share.

A `Source` is a finite `tf.data.Dataset` of {"image": uint8[H, W, C], "label": int64[]}
(the features of TFDS `fashion_mnist`), or of other features for other data (text:
{"tokens": int32[L + 1]}), plus what a trainer needs to know about it. Sources
that can fetch any example by index also carry `element_at`, which lets `make_pipeline` draw
an exact, stateless permutation per epoch instead of streaming through a shuffle buffer.
"""

import dataclasses
import numbers
import re
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from zoo.errors import UserError


@dataclasses.dataclass(frozen=True)
class Source:
    """A finite dataset (labelled images, or windows of text) and its description.

    The trainer hands `image_shape` and `num_classes` to the model factory and records them in
    run.json; for data that is not images they carry the same two facts in the same places: the
    shape of one element's main feature and the number of values it takes.

    Attributes:
      name: the dataset name as the user spelled it, e.g. "fashion_mnist" or "folder:/data/faces".
      split: the split as the user spelled it, e.g. "train" or "train[:1000]".
      dataset: finite, in a fixed order; elements {"image": uint8[H, W, C], "label": int64[]}, or
        for text {"tokens": int32[sequence_length + 1]} (windows of bytes, see `zoo.data.text`).
      num_examples: the number of elements of `dataset`.
      image_shape: (H, W, C); text: the window shape (sequence_length + 1,).
      num_classes: the number of label values, or 0 when the data is unlabelled (label 0); text:
        the vocabulary size (256 bytes).
      description: one line saying where the data came from.
      element_at: optional; maps an int64 scalar index in [0, num_examples) to the element
        `dataset` yields at that position. Present for in-memory and folder sources.
      element_at_takes_batches: whether `element_at` also maps an int64 vector of indices to a
        batch of elements (in-memory sources: one gather per batch instead of one per image).
    """

    name: str
    split: str
    dataset: tf.data.Dataset
    num_examples: int
    image_shape: tuple
    num_classes: int
    description: str
    element_at: Optional[Callable[[tf.Tensor], dict]] = dataclasses.field(
        default=None, repr=False, compare=False
    )
    element_at_takes_batches: bool = dataclasses.field(default=False, repr=False, compare=False)


def from_arrays(images, labels=None, *, name="arrays", split="train", num_classes=None,
                description=None):
    """Builds an in-memory `Source` from uint8 images [N, H, W] or [N, H, W, C] (and labels [N]).

    Useful for tests and small custom data; `num_classes` defaults to max(label) + 1, or 0
    when `labels` is None.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or len(images) == 0:
        raise UserError(
            f"images for source {name!r} must be a non-empty uint8 array [N, H, W] or "
            f"[N, H, W, C], got {images.dtype} with shape {images.shape}"
        )
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if labels is None:
        labels = np.zeros(len(images), np.int64)
        num_classes = 0 if num_classes is None else num_classes
    labels = np.asarray(labels).astype(np.int64)
    if labels.shape != (len(images),):
        raise UserError(
            f"labels for source {name!r} must have shape ({len(images)},), got {labels.shape}"
        )
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    image_tensor = tf.constant(images)
    label_tensor = tf.constant(labels)

    def element_at(index):
        return {"image": tf.gather(image_tensor, index), "label": tf.gather(label_tensor, index)}

    return Source(
        name=name,
        split=split,
        dataset=tf.data.Dataset.from_tensor_slices({"image": image_tensor, "label": label_tensor}),
        num_examples=len(images),
        image_shape=tuple(images.shape[1:]),
        num_classes=int(num_classes),
        description=description or f"{name} {split}: {len(images)} images from arrays in memory",
        element_at=element_at,
        element_at_takes_batches=True,
    )


_SPLIT_PATTERN = re.compile(r"^(\w+)(?:\[\s*(-?\d+%?)?\s*:\s*(-?\d+%?)?\s*\])?$")


def parse_split(split, allowed, what):
    """Parses "train" or a TFDS-style slice "train[:1000]", "test[10%:]" into (name, slicer).

    `slicer(n)` returns the Python slice of range(n) that the split selects. `what` names the
    data in the error message, e.g. "fashion_mnist".
    """
    match = _SPLIT_PATTERN.match(split.strip()) if isinstance(split, str) else None
    if match is None or match.group(1) not in allowed:
        choices = ", ".join(repr(name) for name in allowed)
        raise UserError(
            f"unknown split {split!r} for {what}: allowed are {choices}, optionally sliced like "
            f"'{allowed[0]}[:1000]' or '{allowed[0]}[10%:]'"
        )
    start_text, stop_text = match.group(2), match.group(3)

    def bound(text, n):
        if text is None:
            return None
        if text.endswith("%"):
            percent = int(text[:-1])
            return int(round(n * percent / 100))
        return int(text)

    def slicer(n):
        return slice(bound(start_text, n), bound(stop_text, n))

    return match.group(1), slicer


def check_channels(channels, what):
    """Returns `channels` (None, 1 or 3) as an int, or raises UserError."""
    if channels is None:
        return None
    if isinstance(channels, bool) or channels not in (1, 3):
        raise UserError(f"channels={channels!r} for {what}: allowed are 1 (grayscale) or 3 (RGB)")
    return int(channels)


def check_image_size(image_size, what):
    """Returns `image_size` (None or a positive integer) as an int, or raises UserError."""
    if image_size is None:
        return None
    is_integer = isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool)
    if not is_integer or image_size <= 0:
        raise UserError(f"image_size={image_size!r} for {what}: must be a positive integer")
    return int(image_size)


def convert_channels(image, channels):
    """Converts uint8 images [..., H, W, c] with c in 1..4 (known only at run time) to `channels`.

    Alpha is dropped; gray becomes RGB by repetition; RGB becomes gray by luma weights.
    """
    source_channels = tf.shape(image)[-1]
    without_alpha = tf.cond(
        tf.logical_or(source_channels == 2, source_channels == 4),
        lambda: image[..., :-1],
        lambda: image,
    )
    is_gray = tf.shape(without_alpha)[-1] == 1
    if channels == 1:
        return tf.cond(
            is_gray,
            lambda: without_alpha[..., :1],
            lambda: tf.image.rgb_to_grayscale(without_alpha[..., :3]),
        )
    return tf.cond(
        is_gray,
        lambda: tf.repeat(without_alpha[..., :1], 3, axis=-1),
        lambda: without_alpha[..., :3],
    )


def resize_square(image, image_size):
    """Center-crops uint8 images [..., H, W, C] to a square and resizes them to `image_size`.

    Uses antialiased bilinear resizing, so shrinking averages pixels instead of skipping them.
    """
    height, width = tf.shape(image)[-3], tf.shape(image)[-2]
    side = tf.minimum(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = image[..., top:top + side, left:left + side, :]
    resized = tf.image.resize(square, [image_size, image_size], method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
