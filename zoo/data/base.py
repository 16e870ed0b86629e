"""The `Source` record every loader returns, and helpers the loaders share.

A `Source` is a finite `tf.data.Dataset` whose elements its `DataSpec` describes: labelled
images {"image": uint8[H, W, C], "label": int64[]} (the features of TFDS `fashion_mnist`), pairs
of images {"input", "target"}, or text windows {"tokens": int32[L + 1]}. Sources
that can fetch any example by index also carry `element_at`, which lets `make_pipeline` draw
an exact, stateless permutation per epoch instead of streaming through a shuffle buffer.
"""

import dataclasses
import math
import numbers
import re
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from zoo.errors import UserError


# Feature names of source elements. Images: {IMAGE, LABEL}; paired images: {INPUT, TARGET};
# text: {TOKENS}. Shared code reads features by these names or by what a model declares.
IMAGE, LABEL, INPUT, TARGET, TOKENS = "image", "label", "input", "target", "tokens"
# Kinds of data, as a model factory sees them (`DataSpec.kind`).
IMAGES, PAIRED_IMAGES, TEXT = "images", "paired_images", "text"
KINDS = {
    IMAGES: "images with labels ({image: uint8[H, W, C], label: int64})",
    PAIRED_IMAGES: "pairs of images ({input: uint8[H, W, C], target: uint8[H, W, C]})",
    TEXT: "windows of bytes ({tokens: int32[sequence_length + 1]})",
}


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What one element of a source is: the facts a model factory builds from, kept in run.json.

    Attributes:
      kind: IMAGES, PAIRED_IMAGES or TEXT.
      image_shape: images: (H, W, C) of `image`; paired images: (H, W, C) of `target`.
      input_shape: paired images: (H, W, C) of `input`.
      num_classes: images: the number of label values (0: unlabelled).
      sequence_length: text: the bytes a model reads per window (elements hold one more).
      vocabulary_size: text: the number of token values (256 bytes).
    """

    kind: str
    image_shape: tuple = ()
    input_shape: tuple = ()
    num_classes: int = 0
    sequence_length: int = 0
    vocabulary_size: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown data kind {self.kind!r}; known: {', '.join(KINDS)}")
        object.__setattr__(self, "image_shape", tuple(int(d) for d in self.image_shape))
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))

    def require(self, kind, model, dataset=None):
        """Raises a one-line UserError unless this data is of `kind` (what `model` trains on)."""
        if self.kind != kind:
            where = f"{dataset} gives" if dataset else "the data is"
            raise UserError(f"{model} trains on {KINDS[kind]}, but {where} {KINDS[self.kind]}")
        return self

    @property
    def element_bytes(self):
        """About how many bytes one element holds (to size shuffle buffers)."""
        if self.kind == TEXT:
            return 4 * (self.sequence_length + 1)
        return math.prod(self.image_shape) + math.prod(self.input_shape or (0,))

    def to_json(self):
        record = {"kind": self.kind}
        for field in dataclasses.fields(self)[1:]:
            value = getattr(self, field.name)
            if value:
                record[field.name] = list(value) if isinstance(value, tuple) else value
        return record

    @classmethod
    def from_json(cls, record):
        """A DataSpec from `to_json`'s record; run.json files written before specs existed held
        image_shape and num_classes only (image data)."""
        if "kind" not in record:
            return cls(IMAGES, image_shape=record["image_shape"], num_classes=record.get("num_classes", 0))
        return cls(**record)


@dataclasses.dataclass(frozen=True)
class Source:
    """A finite dataset (labelled images, pairs of images, or windows of text) and its description.

    Attributes:
      name: the dataset name as the user spelled it, e.g. "fashion_mnist" or "folder:/data/faces".
      split: the split as the user spelled it, e.g. "train" or "train[:1000]".
      dataset: finite, in a fixed order; elements as `spec.kind` says (see KINDS).
      num_examples: the number of elements of `dataset`.
      spec: what an element is (`DataSpec`).
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
    spec: DataSpec
    description: str
    element_at: Optional[Callable[[tf.Tensor], dict]] = dataclasses.field(
        default=None, repr=False, compare=False
    )
    element_at_takes_batches: bool = dataclasses.field(default=False, repr=False, compare=False)

    @property
    def image_shape(self):
        """(H, W, C) of the images a model outputs (paired: the target); () for text."""
        return self.spec.image_shape

    @property
    def num_classes(self):
        """Label values of image data (0: unlabelled or not images)."""
        return self.spec.num_classes


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
        spec=DataSpec(IMAGES, image_shape=images.shape[1:], num_classes=int(num_classes)),
        description=description or f"{name} {split}: {len(images)} images from arrays in memory",
        element_at=element_at,
        element_at_takes_batches=True,
    )


# The validation split is held out of the training data (see `validation_count` and the loaders):
# tuning, the best checkpoint and early stopping read it; the test split is for reported numbers.
TRAIN, VALIDATION, TEST = "train", "validation", "test"
VALIDATION_DENOMINATOR = 10  # Default: a tenth of the training examples (rounded, at least 1).
VALIDATION_SEED = 20250101  # Seeds the hash that picks held-out examples where order means nothing.

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


def check_validation_size(validation_size, what):
    """Returns `validation_size` (None or an integer >= 0) as an int, or raises UserError."""
    if validation_size is None:
        return None
    is_integer = isinstance(validation_size, numbers.Integral) and not isinstance(validation_size, bool)
    if not is_integer or validation_size < 0:
        raise UserError(f"validation_size={validation_size!r} for {what}: must be 0 (hold nothing out of "
                        "train) or a positive number of training examples to hold out as validation")
    return int(validation_size)


def validation_count(total, validation_size, what, unit="images", default=None):
    """How many of the `total` training examples are held out as the validation split.

    `validation_size` None: `default` if given, else a tenth of `total` rounded half up, at least
    1 while at least 1 stays in train (so 0 when total < 2). An explicit size must leave at least
    one example in train.
    """
    if validation_size is None:
        if default is not None:
            return int(default)
        return max(1, (total + VALIDATION_DENOMINATOR // 2) // VALIDATION_DENOMINATOR) if total >= 2 else 0
    if validation_size >= total:
        raise UserError(f"validation_size={validation_size} for {what} holds out all of its {total} training "
                        f"{unit}, leaving none to train on: pass a smaller one (0 holds nothing out)")
    return validation_size


def refuse_empty_validation(split, what, total, validation_size, unit="images"):
    """Raises the one-line UserError for asking `split` (a validation split) when nothing is held out."""
    if validation_size == 0:
        raise UserError(f"split {split!r} of {what}: validation_size=0 holds nothing out of train, so there is "
                        "no validation split (pass a positive validation_size, or another split)")
    raise UserError(f"split {split!r} of {what}: its {total} training {unit} are too few to hold out a "
                    "validation split (at least 2 are needed, one stays in train): add data or pass another split")


def held_out_mask(total, count, seed=VALIDATION_SEED):
    """Bool [total]: the `count` positions with the smallest SplitMix64 hash of (seed, position).

    A fixed, seeded choice spread over the whole range (folder images sorted by path are grouped
    by class, fortunes by topic), the same in every process and numpy version; a larger count
    holds out a superset of a smaller one.
    """
    z = np.arange(total, dtype=np.uint64) + np.uint64(seed * 0x9E3779B97F4A7C15 % 2**64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    mask = np.zeros(total, bool)
    mask[np.argsort(z, kind="stable")[:count]] = True
    return mask


def training_part(base_split, split, total, count, what, validation_size, *, seeded, unit="images"):
    """Positions (int64, ascending) among `total` training examples of "train" or "validation"
    when `count` are held out: the last `count` (seeded False) or `held_out_mask`'s (seeded True)."""
    if base_split == VALIDATION and count == 0:
        refuse_empty_validation(split, what, total, validation_size, unit)
    if seeded:
        mask = held_out_mask(total, count)
        return np.flatnonzero(mask if base_split == VALIDATION else ~mask)
    return np.arange(total - count, total) if base_split == VALIDATION else np.arange(total - count)


def holdout_note(base_split, total, count, unit="images", how="last"):
    """Says which part of the training data a "train" or "validation" split is, e.g. "first 50000 of
    the 60000 training images; last 10000 held out as validation". `how`: "last" or "seeded"."""
    if count == 0:
        return f"all {total} training {unit}; none held out as validation"
    if how == "last":
        if base_split == VALIDATION:
            return f"last {count} of the {total} training {unit}, held out of train"
        return f"first {total - count} of the {total} training {unit}; last {count} held out as validation"
    if base_split == VALIDATION:
        return f"{count} of the {total} training {unit} picked by a seeded hash, held out of train"
    return f"{total - count} of the {total} training {unit}; {count} picked by a seeded hash held out as validation"


def parse_classes(classes, what="classes"):
    """A tuple of class ids from "7", "0,2,4", an int or a sequence; None or "" for all classes."""
    if classes is None or classes == "" or classes == ():
        return None
    items = classes.split(",") if isinstance(classes, str) else (classes if isinstance(classes, (list, tuple)) else [classes])
    try:
        values = tuple(sorted({int(str(item).strip()) for item in items}))
    except ValueError:
        raise UserError(f"{what} must be class ids like 7 or 0,2,4, got {classes!r}") from None
    if not values or values[0] < 0:
        raise UserError(f"{what} must be class ids >= 0 like 7 or 0,2,4, got {classes!r}")
    return values


def select(source, classes=None, max_examples=None):
    """The examples of `source` whose label is in `classes` (None: all), the first `max_examples`
    of them (None: all), in the source's order. The source keeps its spec (a model conditioned on
    labels keeps every class's embedding) and says what was selected in its description."""
    classes = parse_classes(classes)
    if max_examples is not None and (not isinstance(max_examples, numbers.Integral) or max_examples <= 0):
        raise UserError(f"max_examples must be a positive integer, got {max_examples!r}")
    if classes is None and max_examples is None:
        return source
    if classes is not None:
        if source.spec.kind != IMAGES or not source.spec.num_classes:
            raise UserError(f"classes select labelled images; {source.name} has no class labels "
                            f"({KINDS[source.spec.kind]})")
        unknown = [value for value in classes if value >= source.spec.num_classes]
        if unknown:
            raise UserError(f"classes {', '.join(map(str, unknown))} not in {source.name}: its classes are "
                            f"0..{source.spec.num_classes - 1}")
        if source.element_at_takes_batches:  # In memory: one gather.
            labels = source.element_at(tf.range(source.num_examples, dtype=tf.int64))[LABEL].numpy()
        else:
            labels = np.fromiter(source.dataset.map(lambda element: element[LABEL]).as_numpy_iterator(), np.int64,
                                 count=source.num_examples)
        indices = np.flatnonzero(np.isin(labels, classes))
    else:
        indices = np.arange(source.num_examples)
    if max_examples is not None:
        indices = indices[:max_examples]
    if len(indices) == 0:
        raise UserError(f"{source.name} {source.split} has no examples of classes {', '.join(map(str, classes))}")
    index_table = tf.constant(indices, tf.int64)
    if source.element_at is not None:
        parent = source.element_at

        def element_at(index):
            return parent(tf.gather(index_table, index))

        dataset = tf.data.Dataset.from_tensor_slices(index_table).map(
            parent if not source.element_at_takes_batches else element_at_one(parent),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        element_at = None
        keep = np.zeros(source.num_examples, bool)
        keep[indices] = True
        keep_table = tf.constant(keep)
        dataset = source.dataset.enumerate().filter(lambda index, element: tf.gather(keep_table, index)).map(
            lambda index, element: element)
    selected = []
    if classes is not None:
        selected.append(f"class{'es' if len(classes) > 1 else ''} {','.join(map(str, classes))}")
    if max_examples is not None:
        selected.append(f"at most {max_examples}")
    return dataclasses.replace(
        source, dataset=dataset, num_examples=len(indices), element_at=element_at,
        description=f"{source.description}; selected {' and '.join(selected)}: {len(indices)} examples")


def element_at_one(parent):
    """A scalar-index `element_at` from one that maps index vectors to batches."""
    def one(index):
        return {key: value[0] for key, value in parent(index[None]).items()}
    return one
