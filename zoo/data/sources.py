"""`load(name, ...)`: Fashion-MNIST offline, image folders, text (fortunes, any file), paired
images (Fashion-MNIST tasks, paired folders), or any TFDS image dataset by name.

tensorflow_datasets is imported only when a TFDS name is asked for, never at import time.
"""

import difflib

import tensorflow as tf

from zoo.data import base, fashion_mnist, folder, paired, text
from zoo.errors import UserError

TEXT_NAMES = (text.FORTUNES, text.PREFIX + "/path/to/file.txt")
PAIRED_NAMES = (*paired.NAMES, paired.PREFIX + "/path/to/pairs")
OFFLINE_NAMES = (fashion_mnist.NAME, folder.PREFIX + "/path/to/images", *TEXT_NAMES, *PAIRED_NAMES)


def load(name: str, split: str = "train", data_dir: str | None = None,
         image_size: int | None = None, channels: int | None = None,
         sequence_length: int | None = None, direction: str | None = None,
         validation_size: int | None = None, classes=None, max_examples: int | None = None) -> base.Source:
    """Returns the `Source` for dataset `name` and `split`.

    Args:
      name: "fashion_mnist" (offline IDX files), "folder:/path/to/images", "fortunes" or
        "text:/path/to/file.txt" (bytes, see `zoo.data.text`), or a TFDS name such as "mnist",
        "cifar10" or "celeb_a" (needs a download unless already in `data_dir`). Paired images
        (see `zoo.data.paired`): "fashion_mnist_edges", "fashion_mnist_masked",
        "fashion_mnist_lowres" (from the fashion_mnist files) or "paired_folder:/path".
      split: "train", "validation" or "test" (folders: no "test"; paired folders: their train/
        val/ test/ subfolders), optionally sliced like "train[:1000]" or "validation[:1000]".
        "validation" is held out of the training data, so "train" excludes it: Fashion-MNIST
        (and its paired tasks) the last 10,000 of the 60,000 training images; folders, paired
        folders without val/, fortunes and text files a seeded or final tenth; TFDS datasets their
        own "validation" split, else the last tenth of "train". See each module.
      data_dir: where the data lives; for fashion_mnist a folder of IDX files, for fortunes a
        folder of fortune files, for TFDS its data_dir. Ignored by folder, paired_folder and text sources.
      image_size: resize images to image_size x image_size (center-cropped if not square).
      channels: 1 (grayscale) or 3 (RGB); default: what the data has.
      sequence_length: text only: bytes a model reads per window (default 128).
      direction: paired folders only: "AtoB" (default; input A, target B) or "BtoA".
      validation_size: training examples (text files: bytes) held out as "validation"; None: the
        dataset's default above; 0: none ("train" is all training data, "validation" is refused).
      classes: labelled images only: keep the examples of these class ids ("7", "0,2" or a
        sequence), in every split (so FID references come from the same classes).
      max_examples: keep the first this many examples of the training split (after `classes`);
        other splits keep all theirs, so evaluation references stay whole.
    """
    source = _load(name, split, data_dir, image_size, channels, sequence_length, direction, validation_size)
    if max_examples is not None and split.split("[")[0].strip() != base.TRAIN:
        max_examples = None
    return base.select(source, classes, max_examples)


def _load(name, split, data_dir, image_size, channels, sequence_length, direction, validation_size):
    if not isinstance(name, str) or not name:
        raise UserError(f"dataset name must be a non-empty string, got {name!r}")
    if direction is not None and not name.startswith(paired.PREFIX):
        raise UserError(f"direction applies to paired folders ({paired.PREFIX}/path: 'AtoB' or "
                        f"'BtoA'); {name} has no direction")
    if text.is_text_dataset(name):
        if image_size is not None or channels is not None:
            raise UserError(f"image_size and channels apply to image datasets; {name} is text (it takes sequence_length)")
        return text.load(name, split, sequence_length, data_dir if name == text.FORTUNES else None,
                         validation_size)
    if sequence_length is not None:
        raise UserError(f"sequence_length applies to text datasets ({', '.join(TEXT_NAMES)}); {name} is images")
    if paired.is_paired_dataset(name):
        return paired.load(name, split, data_dir, image_size, channels, direction, validation_size)
    if name == fashion_mnist.NAME:
        return fashion_mnist.load(split, data_dir, image_size, channels, validation_size)
    if name.startswith(folder.PREFIX):
        return folder.load(name[len(folder.PREFIX):], split, image_size, channels, validation_size)
    return _load_tfds(name, split, data_dir, image_size, channels, validation_size)


def license_of(name):
    """One line naming the license of dataset `name`'s data (a model card states it)."""
    if name == fashion_mnist.NAME or name in paired.NAMES:
        derived = "" if name == fashion_mnist.NAME else "pairs derived from Fashion-MNIST; "
        return derived + fashion_mnist.LICENSE
    if name == text.FORTUNES:
        return text.FORTUNES_LICENSE
    if text.is_text_dataset(name) or name.startswith((folder.PREFIX, paired.PREFIX)):
        return "the license of the user's own files"
    return f"see the TFDS catalog entry of {name!r}"


def class_names_of(name):
    """The names of dataset `name`'s classes in label order (Fashion-MNIST and its paired tasks,
    a folder's class subfolders where it exists), or () when unknown."""
    if name == fashion_mnist.NAME or name in paired.NAMES:
        return tuple(fashion_mnist.CLASS_NAMES)
    if isinstance(name, str) and name.startswith(folder.PREFIX):
        return folder.class_names(name[len(folder.PREFIX):])
    return ()


def _first_line(error):
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def _load_tfds(name, split, data_dir, image_size, channels, validation_size=None):
    """Loads a TFDS dataset already prepared in `data_dir`, or downloads and prepares it."""
    import tensorflow_datasets as tfds  # Imported here: slow, and only TFDS names need it.

    image_size = base.check_image_size(image_size, name)
    channels = base.check_channels(channels, name)
    validation_size = base.check_validation_size(validation_size, name)
    builder_names = tfds.list_builders()  # Reads the local registry; no network.
    if name.split("/")[0].split(":")[0] not in builder_names:
        close = difflib.get_close_matches(name, list(builder_names) + [fashion_mnist.NAME, *paired.NAMES], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UserError(
            f"unknown dataset {name!r}{hint}: available offline: {', '.join(OFFLINE_NAMES)}; with "
            "internet any TFDS image dataset (e.g. mnist, cifar10, celeb_a; "
            "tfds.list_builders() lists all)"
        )
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # TFDS raises many types for a bad config or version.
        raise UserError(f"dataset {name!r}: {_first_line(error)}") from None
    if not builder.is_prepared():
        try:
            builder.download_and_prepare()
        except Exception as error:  # Network, missing optional packages, disk: all user-fixable.
            raise UserError(
                f"dataset {name!r} is not in {builder.data_dir} and needs a download, which "
                f"failed (is this machine offline?): {_first_line(error)}"
            ) from None
    info = builder.info
    if "image" not in info.features:
        raise UserError(
            f"dataset {name!r} has no 'image' feature (it has {', '.join(info.features)}): "
            "only image datasets are supported"
        )
    tfds_split, holdout = _tfds_split(name, split, info, validation_size)
    try:
        num_examples = int(info.splits[tfds_split].num_examples)
    except (KeyError, ValueError, AssertionError) as error:
        available = ", ".join([*info.splits, *([] if base.VALIDATION in info.splits else [base.VALIDATION])])
        raise UserError(
            f"unknown split {split!r} for {name!r}: available are {available} "
            f"({_first_line(error)})"
        ) from None
    if num_examples == 0:
        raise UserError(f"split {split!r} of {name!r} selects none of its examples")
    dataset = builder.as_dataset(split=tfds_split, shuffle_files=False)
    image_shape = tuple(info.features["image"].shape)
    has_label = "label" in info.features
    num_classes = int(getattr(info.features["label"], "num_classes", 0) or 0) if has_label else 0
    if channels is None:
        channels = 1 if image_shape[-1] in (1, 2) else 3
    if image_size is None:
        if image_shape[0] is None or image_shape[0] != image_shape[1]:
            raise UserError(
                f"dataset {name!r} has images of shape {image_shape}, not one square size: "
                "pass image_size to center-crop and resize them"
            )
        image_size = image_shape[0]

    def to_element(example):
        image = base.convert_channels(example["image"], channels)
        if image_shape[:2] != (image_size, image_size):
            image = base.resize_square(image, image_size)
        image = tf.ensure_shape(image, [image_size, image_size, channels])
        label = tf.cast(example["label"], tf.int64) if has_label else tf.constant(0, tf.int64)
        return {"image": image, "label": label}

    dataset = dataset.map(to_element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return base.Source(
        name=name,
        split=split,
        dataset=dataset,
        num_examples=num_examples,
        spec=base.DataSpec(base.IMAGES, image_shape=(image_size, image_size, channels), num_classes=num_classes),
        description=f"{name} {split}: {num_examples} images{holdout} from TFDS in {builder.data_dir}",
    )


def _tfds_split(name, split, info, validation_size):
    """(the TFDS split string to read, a note for the description) for zoo's `split`.

    A dataset with its own "validation" split reads its splits as they are. Otherwise
    "validation" is the last `validation_size` (default a tenth, rounded, at least 1) examples of
    "train" and "train" the ones before, both as absolute TFDS slices ("train[:n]", "train[n:]").
    """
    match = base._SPLIT_PATTERN.match(split.strip()) if isinstance(split, str) else None
    base_split = match.group(1) if match else None
    if base.VALIDATION in info.splits:
        if validation_size:
            raise UserError(f"validation_size={validation_size} for {name!r}: it has its own validation split, so "
                            "nothing is held out of train (leave validation_size unset)")
        return split, " (its own validation split)" if base_split == base.VALIDATION else ""
    if base_split not in (base.TRAIN, base.VALIDATION) or base.TRAIN not in info.splits:
        return split, ""  # Other splits (and datasets without train) read as TFDS has them.
    _, slicer = base.parse_split(split, (base.TRAIN, base.VALIDATION), name)
    total = int(info.splits[base.TRAIN].num_examples)
    count = base.validation_count(total, validation_size, name)
    positions = base.training_part(base_split, split, total, count, name, validation_size, seeded=False)
    selected = range(int(positions[0]), int(positions[-1]) + 1)[slicer(len(positions))] if len(positions) else []
    if len(selected) == 0:
        raise UserError(f"split {split!r} of {name!r} selects none of its {len(positions)} {base_split} examples")
    note = base.holdout_note(base_split, total, count, "examples")
    return f"{base.TRAIN}[{selected.start}:{selected.stop}]", f" ({note})"
