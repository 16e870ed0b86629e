"""Real-data reference statistics for the image metrics, computed once and cached on disk.

    reference = reference_statistics("fashion_mnist", "test", extractor)
    reference.mean, reference.covariance   # for FID
    reference.features                     # float32 [M, D], for KID, precision/recall, density/coverage

The cache lives in `cache_dir`, else $ZOO_CACHE_DIR/reference, else ~/.cache/zoo/reference. Its
key covers the dataset name, split, size options, number of examples and where they came from
(the source's description, which for "train" and "validation" says which part of the training data
they are, so another validation_size is another key),
the examples used, the feature network's file hash and the preprocessing version; any change
computes new statistics. Files are written to a temporary name and renamed, so concurrent runs
never read a half-written file.
"""

import dataclasses
import hashlib
import json
import os
import re
import tempfile

import numpy as np
from absl import logging

from zoo.errors import UserError
from zoo.metrics import distances

CACHE_ENV_VAR = "ZOO_CACHE_DIR"
FORMAT_VERSION = 1  # Bump when what is cached, or how examples are chosen, changes.
SELECTION_SEED = 0


@dataclasses.dataclass(frozen=True)
class ReferenceStatistics:
    """Features of real data: their Gaussian statistics and the sample itself.

    Attributes:
      mean: float64 [D]. covariance: float64 [D, D]. features: float32 [M, D].
      num_examples: M, the examples used. dataset_size: the examples in the split.
      key: the cache key (hex). description: one line on what the data and network were.
      extractor_hash: the feature network's hash; fakes must be measured with the same network.
    """

    mean: np.ndarray
    covariance: np.ndarray
    features: np.ndarray
    num_examples: int
    dataset_size: int
    key: str
    description: str
    extractor_hash: str


def default_cache_dir():
    """$ZOO_CACHE_DIR/reference if set, else ~/.cache/zoo/reference."""
    root = os.environ.get(CACHE_ENV_VAR) or os.path.join(os.path.expanduser("~"), ".cache", "zoo")
    return os.path.join(root, "reference")


def reference_statistics(dataset, split, extractor, data_dir=None, max_examples=10000,
                         cache_dir=None, image_size=None, channels=None, batch_size=256, feature="image",
                         direction=None, validation_size=None, classes=None):
    """Returns the ReferenceStatistics of `dataset`/`split` in `extractor`'s feature space.

    Args:
      dataset, split, data_dir, image_size, channels: as for zoo.data.load.
      extractor: a FeatureExtractor (see load_feature_extractor).
      max_examples: use at most this many examples, a fixed random subset of the split (all of
        it when None or when the split is smaller). Mean, covariance and the feature sample all
        come from these examples.
      cache_dir: where cached statistics live; default: see default_cache_dir().
      feature: the element feature holding the real images ("image"; paired data: "target").
      direction: paired folders only, as for zoo.data.load.
      validation_size: as for zoo.data.load (how much of the training data "validation" holds).
      classes: as for zoo.data.load: only these classes' images (a model trained on them is
        compared with them; the source's description, part of the cache key, names them).
    """
    import zoo.data  # noqa: PLC0415  (zoo.data imports tensorflow)

    if max_examples is not None and (isinstance(max_examples, bool) or max_examples < 2):
        raise UserError(f"max_examples={max_examples!r}: must be at least 2, or None for all")
    options = {"direction": direction} if direction else {}
    source = zoo.data.load(dataset, split, data_dir, image_size=image_size, channels=channels,
                           validation_size=validation_size, classes=classes, **options)
    count = source.num_examples if max_examples is None else min(max_examples, source.num_examples)
    if feature not in source.dataset.element_spec:
        raise UserError(f"{dataset} has no {feature!r} images (its elements hold {', '.join(source.dataset.element_spec)})")
    key = _cache_key(source, count, extractor, feature if not direction else f"{feature}:{direction}")
    safe_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{source.name}-{source.split}")[-80:]
    cache_dir = cache_dir or default_cache_dir()
    path = os.path.join(cache_dir, f"{safe_name}-{key[:16]}.npz")
    cached = _read(path, key)
    if cached is not None:
        return cached
    features = extractor.features(_selected_images(source, count, feature), batch_size=batch_size)
    mean, covariance = distances.feature_statistics(features)
    description = (f"{source.description}; {len(features)} used; features of {extractor.name} "
                   f"({extractor.hash})")
    statistics = ReferenceStatistics(
        mean=mean, covariance=covariance, features=features.astype(np.float32),
        num_examples=len(features), dataset_size=source.num_examples, key=key,
        description=description, extractor_hash=extractor.hash)
    _write(path, statistics)
    return statistics


def _cache_key(source, count, extractor, feature="image"):
    fields = {
        "format": FORMAT_VERSION,
        "dataset": source.name,
        "split": source.split,
        "image_shape": list(source.image_shape),
        "dataset_size": source.num_examples,
        # Says where the files were read from and, for train and validation, which part of the
        # training data the split is (how many are held out): another validation_size, another key.
        "origin": source.description,
        "num_examples": count,
        "selection_seed": SELECTION_SEED,
        "extractor_hash": extractor.hash,
        "preprocessing_version": extractor.preprocessing_version,
    }
    if feature != "image":  # Keys of image data stay what they were, so existing caches still hit.
        fields["feature"] = feature
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _selected_images(source, count, feature="image"):
    """The uint8 images of a fixed random subset of `count` examples, in dataset order."""
    images = source.dataset.map(lambda element: element[feature])
    if count == source.num_examples:
        return images
    chosen = np.zeros(source.num_examples, bool)
    chosen[np.random.default_rng(SELECTION_SEED).choice(source.num_examples, count, replace=False)] = True
    batches = []
    for start, batch in zip(range(0, source.num_examples, 1024), images.batch(1024)):
        batches.append(batch.numpy()[chosen[start:start + len(batch)]])
    return np.concatenate(batches)


def _read(path, key):
    """Returns the statistics cached at `path` under `key`, or None if absent or unreadable."""
    if not os.path.isfile(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            return ReferenceStatistics(
                mean=data["mean"], covariance=data["covariance"], features=data["features"],
                num_examples=int(data["num_examples"]), dataset_size=int(data["dataset_size"]),
                key=key, description=str(data["description"]),
                extractor_hash=str(data["extractor_hash"]))
    except (OSError, ValueError, KeyError) as error:
        logging.warning("Ignoring unreadable reference statistics %s (%s): recomputing.", path, error)
        return None


def _write(path, statistics):
    """Writes `statistics` to `path` atomically; a failure only costs a recomputation later."""
    directory = os.path.dirname(path)
    temporary = None
    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, suffix=".tmp", delete=False) as file:
            temporary = file.name
            np.savez(file, **{field.name: getattr(statistics, field.name)
                              for field in dataclasses.fields(statistics)})
        os.replace(temporary, path)
    except OSError as error:
        logging.warning("Could not cache reference statistics in %s (%s).", path, error)
        if temporary is not None and os.path.exists(temporary):
            os.remove(temporary)
