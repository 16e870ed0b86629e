"""Datasets for the zoo: Fashion-MNIST offline, image folders, text as bytes (the Debian fortunes,
any file), any TFDS image dataset by name.

    source = zoo.data.load("fashion_mnist", split="train")
    batches = zoo.data.make_pipeline(source, batch_size=64, seed=0, start_step=step)

Every source has a "validation" split held out of its training data ("train" excludes it; see
`load`): selection (tuning, the best checkpoint, early stopping) reads it, and "test" is kept for
the numbers a README reports. `validation_size` changes how much is held out (0: nothing).

Importing this package loads no data and does not import tensorflow_datasets.
"""

from zoo.data.base import DataSpec, Source, from_arrays
from zoo.data.pipeline import make_pipeline, steps_per_epoch
from zoo.data.sources import class_names_of, license_of, load

# The config keys that say how a dataset is read (passed to `load` when set).
OPTIONS = ("data_dir", "image_size", "channels", "sequence_length", "direction", "validation_size", "classes",
           "max_examples")


def options_of(config):
    """{key: value} of the reading options `config` sets (for `load`)."""
    return {key: config.get(key) for key in OPTIONS if config.get(key) is not None}


def load_for(config, split):
    """`load(config.dataset, split)` with the reading options the config sets."""
    return load(config.dataset, split, **options_of(config))


__all__ = ["OPTIONS", "load_for", "options_of", "DataSpec", "Source", "from_arrays", "license_of", "load", "make_pipeline", "steps_per_epoch"]
