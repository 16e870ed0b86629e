"""Feature networks trained on the user's own labelled images, and the resolver evaluation uses.

    extractor = resolve_feature_extractor(None, "folder:/data/faces")   # trains once, then cached
    result = train_feature_network(source, "faces_features.keras")     # what the tool runs

`resolve_feature_extractor` picks the feature space of a dataset: a given --feature_model, else
the shipped Fashion-MNIST network for 28x28x1 images, else a small classifier trained on the
dataset's labelled training split and cached in $ZOO_CACHE_DIR/feature_networks (default
~/.cache/zoo/feature_networks). The network is the shipped one's recipe (see FEATURE_NETWORK.md)
with one conv block per halving of the image size. Nothing here imports keras or zoo.data at
import time.
"""

import dataclasses
import hashlib
import json
import os
import re
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import logging

from zoo.errors import UserError
from zoo.metrics import features as features_lib
from zoo.metrics import reference as reference_lib

# Bump when anything about how a network is trained changes: it is part of the cache key.
RECIPE_VERSION = 1
MIN_IMAGE_SIZE = 16
FINAL_WIDTH, MIN_WIDTH = 128, 16  # Conv channels double per block up to 128 in the last.
DROPOUT = 0.3
LONG_RUN_STEPS = 1000  # Training steps from which batch norm keeps Keras' default momentum.
HOLDOUT_FRACTION = 0.1  # Of each class, held out to measure accuracy when there is no test split.
# The recipe of networks trained automatically for evaluation (resolve_feature_extractor): at
# least 300 steps of 16 images, 10 epochs of larger sets, at most 5,000 images (a fixed subset).
# 300 64x64 RGB images: about 40 CPU-seconds; 5,000: about 7 CPU-minutes (see FEATURE_NETWORK.md).
AUTO_RECIPE = {"epochs": 10, "batch_size": 16, "learning_rate": 2e-3, "seed": 0,
               "max_examples": 5000, "min_steps": 300}
CACHE_SUBDIR = "feature_networks"
UNLABELLED_HINT = (
    "pass --feature_model: a .keras classifier taking uint8-valued float images [N, H, W, C] with "
    f"a layer named {features_lib.FEATURES_LAYER!r} (e.g. trained with "
    "tools/train_feature_network.py --dataset=folder:/labelled/copy), or InceptionV3 .h5 weights")


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """What train_feature_network did.

    Attributes:
      path: the .keras file written.
      accuracy: on `test_source`, the held-out images, or else the training images, as
        accuracy_on says: "test", "held-out" or "training".
      num_train, num_evaluated: images trained on and measured. seconds: training time (fit).
    """

    path: str
    accuracy: float
    accuracy_on: str
    num_train: int
    num_evaluated: int
    seconds: float


def build_feature_network(image_shape, num_classes, seed=None, name="features_network",
                          batch_norm_momentum=0.99):
    """The feature classifier for square images `image_shape` (H, H, C), H >= 16, C in {1, 3}.

    Conv blocks (3x3 conv, batch norm, ReLU, 2x2 max pool) halve the image while it is at least
    7 pixels (28 -> 3 in 3 blocks of 32, 64, 128 channels; 64 -> 4 in 4 blocks of 16 to 128),
    then Flatten, a 128-d ReLU layer named "features", dropout 0.3 and `num_classes` logits.
    Inputs are pixel values 0..255 as floats. `seed`: None draws the initial weights from Keras'
    global generator, an int fixes them. `batch_norm_momentum`: of the moving statistics.
    """
    import keras  # noqa: PLC0415  (keeps `import zoo.metrics` light)

    size, _, channels = _check_image_shape(image_shape)

    def initializer(index):
        return keras.initializers.GlorotUniform(seed=None if seed is None else seed * 1000 + index)

    num_blocks, reduced = 0, size
    while reduced >= 7:
        num_blocks, reduced = num_blocks + 1, reduced // 2
    inputs = keras.Input((size, size, channels), name="pixels")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale")(inputs)
    for block in range(num_blocks):
        width = max(MIN_WIDTH, FINAL_WIDTH >> (num_blocks - 1 - block))
        x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False,
                                kernel_initializer=initializer(block), name=f"conv{block}")(x)
        x = keras.layers.BatchNormalization(momentum=batch_norm_momentum, name=f"norm{block}")(x)
        x = keras.layers.ReLU(name=f"relu{block}")(x)
        x = keras.layers.MaxPooling2D(name=f"pool{block}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(features_lib.SHIPPED_FEATURE_DIM, activation="relu",
                           kernel_initializer=initializer(100), name=features_lib.FEATURES_LAYER)(x)
    x = keras.layers.Dropout(DROPOUT, seed=seed, name="features_dropout")(x)
    logits = keras.layers.Dense(num_classes, kernel_initializer=initializer(101),
                                name=features_lib.LOGITS_LAYER)(x)
    return keras.Model(inputs, logits, name=name)


def train_feature_network(source, output, *, epochs=10, batch_size=128, learning_rate=2e-3,
                          seed=0, test_source=None, holdout_fraction=HOLDOUT_FRACTION,
                          max_examples=None, min_steps=0, verbose=0, name="features_network"):
    """Trains a feature network on a labelled image Source and saves it to `output` (.keras).

    Adam with cosine decay to 0, sparse softmax cross-entropy, random horizontal flips. The
    accuracy is measured on `test_source` if given, else on a stratified `holdout_fraction` of
    `source` kept out of training (0: on the training images). At most `max_examples` images
    (a fixed random subset) are used; small sets train for more epochs, to at least `min_steps`
    steps. A seed gives the same network on one machine whatever the global random state.
    """
    import keras  # noqa: PLC0415

    num_classes = int(source.num_classes)
    if num_classes < 2:
        raise UserError(f"{source.name} has {num_classes} classes: a feature network trains on "
                        "labelled images of at least 2 classes")
    _check_image_shape(source.image_shape, source.name)
    images, labels = _arrays(source, max_examples, seed)
    if labels.min() < 0 or labels.max() >= num_classes:
        raise UserError(f"{source.name} has labels outside 0..{num_classes - 1}")
    if test_source is not None:
        train_images, train_labels = images, labels
        test_images, test_labels = _arrays(test_source, max_examples, seed)
        accuracy_on = "test"
    else:
        held_out = _holdout_mask(labels, holdout_fraction, seed)
        train_images, train_labels = images[~held_out], labels[~held_out]
        test_images, test_labels = images[held_out], labels[held_out]
        accuracy_on = "held-out" if held_out.any() else "training"
        if not held_out.any():
            test_images, test_labels = train_images, train_labels

    count = len(train_images)
    batch_size = max(1, min(batch_size, count))
    steps_per_epoch = count // batch_size
    epochs = max(epochs, -(-min_steps // steps_per_epoch))
    rng = np.random.default_rng(seed)  # Own generator: training never touches global seeds.
    order = np.concatenate([rng.permutation(count)[:steps_per_epoch * batch_size]
                            for _ in range(epochs)])
    image_tensor, label_tensor = tf.constant(train_images), tf.constant(train_labels)

    def example(position, index):
        key = tf.stack([tf.constant(seed, tf.int64), position])  # Each epoch flips other images.
        image = tf.image.stateless_random_flip_left_right(tf.gather(image_tensor, index), key)
        return tf.cast(image, tf.float32), tf.gather(label_tensor, index)

    train = (tf.data.Dataset.from_tensor_slices(order).enumerate()
             .map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
             .batch(batch_size, drop_remainder=True)
             .prefetch(tf.data.AUTOTUNE))
    schedule = keras.optimizers.schedules.CosineDecay(
        learning_rate, decay_steps=max(1, epochs * steps_per_epoch))
    # Keras' default momentum 0.99 lets the moving statistics of batch norm lag for ~500 steps:
    # short runs use 0.9, or the network is near chance in inference mode.
    momentum = 0.99 if epochs * steps_per_epoch >= LONG_RUN_STEPS else 0.9
    model = build_feature_network(source.image_shape, num_classes, seed, name, momentum)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=False,  # XLA is slower than oneDNN for this small network on CPU.
    )
    if verbose:
        print(f"training {model.count_params():,} parameters for {epochs} epochs on {count:,} "
              f"images of {source.name}", flush=True)
    start = time.time()
    # Quietly, one Keras epoch of all steps: small sets run many epochs of few steps each.
    fit_epochs = epochs if verbose else 1
    model.fit(train, epochs=fit_epochs, steps_per_epoch=epochs * steps_per_epoch // fit_epochs,
              shuffle=False, verbose=2 if verbose else 0)
    seconds = time.time() - start
    _, accuracy = model.evaluate(test_images.astype(np.float32), test_labels,
                                 batch_size=256, verbose=0)

    # Save a fresh copy without optimizer state: half the size, and nothing to compile on load.
    saved = build_feature_network(source.image_shape, num_classes, None, name, momentum)
    saved.set_weights(model.get_weights())
    _save_atomically(saved, output)
    return TrainingResult(path=os.fspath(output), accuracy=float(accuracy),
                          accuracy_on=accuracy_on, num_train=count,
                          num_evaluated=len(test_images), seconds=seconds)


def resolve_feature_extractor(feature_model, dataset, data_dir=None, image_size=None,
                              channels=None, train_split="train", cache_dir=None, validation_size=None):
    """Returns the FeatureExtractor to evaluate images of `dataset` with.

    `feature_model` if given (see load_feature_extractor); else the shipped network for 28x28x1
    images (or when `dataset` is None); else a network trained on the labelled `train_split` of
    `dataset` (AUTO_RECIPE; "train" never holds the validation split that `validation_size`
    holds out, so validation scores come from a network that has not seen those images), cached
    in `cache_dir` (default: feature_network_cache_dir()) under a key of the data's files or
    origin, which of them were trained on, image size, channels and the recipe. Unlabelled
    datasets of other shapes raise a one-line UserError.
    """
    if feature_model is not None or dataset is None:
        return features_lib.load_feature_extractor(feature_model)
    import zoo.data  # noqa: PLC0415  (zoo.data is imported only when needed)

    source = zoo.data.load(dataset, train_split, data_dir, image_size=image_size,
                           channels=channels, validation_size=validation_size)
    shape = tuple(source.image_shape)
    if shape == (28, 28, 1):
        return features_lib.load_feature_extractor(None)
    if len(shape) != 3:
        raise UserError(f"dataset {dataset!r} is not images: image metrics need a feature network "
                        "for images")
    if source.num_classes < 2:
        labels = "is unlabelled" if source.num_classes == 0 else "has a single class"
        raise UserError(
            f"dataset {dataset!r} ({'x'.join(map(str, shape))} images) has no shipped feature "
            f"network and {labels}, so none can be trained on it: {UNLABELLED_HINT}")
    _check_image_shape(shape, dataset)
    key = data_key(source)
    directory = cache_dir or feature_network_cache_dir()
    path = os.path.join(directory, f"{key[:16]}.keras")
    name = f"{source.name} (trained {key[:12]})"
    record = _read_record(path, key)
    extractor = _load_cached(path) if record is not None else None
    if extractor is not None:
        print(f"reusing the feature network trained on {source.name} ({record['accuracy_on']} "
              f"accuracy {record['accuracy']:.3f}): {path}", flush=True)
    else:
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as error:
            raise UserError(f"cannot create the feature network cache {directory} ({error}): set "
                            f"{reference_lib.CACHE_ENV_VAR} to a writable folder") from None
        # One line, begun now and finished when training is done.
        print(f"training a feature network on {source.name} (once: it is cached) ...", end=" ",
              flush=True)
        try:
            result = train_feature_network(source, path, **AUTO_RECIPE)
        except BaseException:
            print(flush=True)  # Ends the line before the error.
            raise
        _write_record(path, key, source, result)
        extractor = features_lib.load_feature_extractor(path)
        print(f"done in {result.seconds:.0f} s on {result.num_train} images, {result.accuracy_on} "
              f"accuracy {result.accuracy:.3f} on {result.num_evaluated} images: {path}",
              flush=True)
    extractor.name = name
    return extractor


def feature_network_cache_dir():
    """$ZOO_CACHE_DIR/feature_networks if set, else ~/.cache/zoo/feature_networks."""
    return os.path.join(os.path.dirname(reference_lib.default_cache_dir()), CACHE_SUBDIR)


def data_key(source):
    """The sha256 (hex) naming a network trained on `source` with AUTO_RECIPE.

    Folders: each image file's path relative to the folder, size and modification time; other
    datasets (Fashion-MNIST, TFDS; fixed files): name and description (which says where the
    files are). Always: split, image shape, classes, size (for a folder, with its files, it fixes
    which files the held-out validation split took) and the recipe and its version.
    """
    from zoo.data import folder  # noqa: PLC0415

    fields = {"recipe_version": RECIPE_VERSION, "recipe": AUTO_RECIPE,
              "preprocessing_version": features_lib.PREPROCESSING_VERSION,
              "split": source.split, "image_shape": list(source.image_shape),
              "num_classes": int(source.num_classes), "num_examples": int(source.num_examples)}
    if source.name.startswith(folder.PREFIX):
        root = os.path.expanduser(source.name[len(folder.PREFIX):])
        fields["files"] = _folder_files(root, folder.IMAGE_EXTENSIONS)
    else:
        fields["dataset"] = source.name
        fields["origin"] = source.description
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _folder_files(root, extensions):
    """[relative path, size, mtime_ns] of the image files under `root`, as zoo.data.folder
    finds them."""
    files = []
    for parent, subdirs, names in os.walk(root):
        subdirs[:] = sorted(name for name in subdirs if not name.startswith("."))
        for name in sorted(names):
            if name.startswith(".") or not name.lower().endswith(extensions):
                continue
            path = os.path.join(parent, name)
            stat = os.stat(path)
            files.append([os.path.relpath(path, root), stat.st_size, stat.st_mtime_ns])
    return sorted(files)


def _check_image_shape(shape, what=None):
    shape = tuple(int(size) for size in shape)
    square = len(shape) == 3 and shape[0] == shape[1] >= MIN_IMAGE_SIZE
    if not square or shape[2] not in (1, 3):
        where = f" of {what}" if what else ""
        raise UserError(f"images{where} are {'x'.join(map(str, shape))}: a feature network trains "
                        f"on square images of at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} with 1 "
                        "or 3 channels (pass image_size or channels to convert them)")
    return shape


def _arrays(source, max_examples, seed):
    """(images uint8 [N, H, W, C], labels int64 [N]) of `source`, at most `max_examples` of them
    (a fixed random subset, in dataset order)."""
    from zoo.data.base import IMAGE, LABEL

    total = source.num_examples
    keep = np.ones(total, bool)
    if max_examples is not None and total > max_examples:
        keep[:] = False
        keep[np.random.default_rng(seed).choice(total, max_examples, replace=False)] = True
    images, labels, start = [], [], 0
    for batch in source.dataset.batch(1024):
        chosen = keep[start:start + len(batch[LABEL])]
        images.append(batch[IMAGE].numpy()[chosen])
        labels.append(batch[LABEL].numpy()[chosen])
        start += len(chosen)
    return np.concatenate(images), np.concatenate(labels).astype(np.int64)


def _holdout_mask(labels, fraction, seed):
    """Marks round(fraction * n) images of each class with at least 2 images (at least one)."""
    held_out = np.zeros(len(labels), bool)
    if fraction <= 0:
        return held_out
    rng = np.random.default_rng(seed + 1)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) >= 2:
            count = min(len(members) - 1, max(1, round(fraction * len(members))))
            held_out[rng.choice(members, count, replace=False)] = True
    return held_out


def _save_atomically(model, path):
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp.keras")
    os.close(handle)
    try:
        model.save(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _load_cached(path):
    """The cached network at `path`, or None when it cannot be loaded (it is then retrained)."""
    try:
        return features_lib.load_feature_extractor(path)
    except UserError as error:
        logging.warning("Ignoring the unreadable cached feature network %s (%s): retraining.",
                        path, error)
        return None


def _record_path(path):
    return re.sub(r"\.keras$", ".json", path)


def _read_record(path, key):
    """The training record of the cached network at `path`, or None if absent or not for `key`."""
    try:
        with open(_record_path(path)) as file:
            record = json.load(file)
    except (OSError, ValueError):
        return None
    if record.get("key") != key or not os.path.isfile(path):
        return None
    return record


def _write_record(path, key, source, result):
    """Writes the record after the network: a record always describes a complete network."""
    record = {"key": key, "dataset": source.name, "split": source.split,
              "description": source.description, "recipe_version": RECIPE_VERSION,
              **dataclasses.asdict(result)}
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp.json")
    with os.fdopen(handle, "w") as file:
        json.dump(record, file, indent=2)
    os.replace(temporary, _record_path(path))
