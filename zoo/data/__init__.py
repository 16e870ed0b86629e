"""Datasets for the zoo: Fashion-MNIST offline, image folders, text as bytes (the Debian fortunes,
any file), any TFDS image dataset by name.

    source = zoo.data.load("fashion_mnist", split="train")
    batches = zoo.data.make_pipeline(source, batch_size=64, seed=0, start_step=step)

Importing this package loads no data and does not import tensorflow_datasets.
"""

from zoo.data.base import Source, from_arrays
from zoo.data.pipeline import make_pipeline, steps_per_epoch
from zoo.data.sources import load

__all__ = ["Source", "from_arrays", "load", "make_pipeline", "steps_per_epoch"]
