"""Rebuilds zoo/data/fashion_mnist_subset.npz, the Fashion-MNIST subset shipped with the package.

The subset is the first 200 training images of each class and the first 100 test images of
each class, in file order (so 2,000 + 1,000 images), taken from the original IDX files:

    python tools/make_fashion_mnist_subset.py [--source_dir=/usr/share/datasets/fashion-mnist]

It holds uint8 arrays train_images [2000, 28, 28], train_labels [2000], test_images [1000, 28, 28],
test_labels [1000], and train_indices / test_indices: each image's position in the full split.
Rebuilding from the same files gives the same arrays.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from zoo.data import fashion_mnist  # noqa: E402  (after the path setup above)

PER_CLASS = {"train": 200, "test": 100}


def first_per_class(labels, per_class):
    """Indices of the first `per_class` examples of each label, in file order."""
    chosen = np.concatenate([np.flatnonzero(labels == label)[:per_class]
                             for label in range(fashion_mnist.NUM_CLASSES)])
    return np.sort(chosen)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source_dir", default=fashion_mnist.DEBIAN_DIR,
                        help="folder with the four Fashion-MNIST IDX files (.gz or not)")
    parser.add_argument("--output", default=fashion_mnist.SUBSET_PATH)
    args = parser.parse_args()
    arrays = {}
    for split, per_class in PER_CLASS.items():
        images, labels = fashion_mnist.read_split(args.source_dir, split)
        indices = first_per_class(labels, per_class)
        arrays[f"{split}_images"] = images[indices]
        arrays[f"{split}_labels"] = labels[indices].astype(np.uint8)
        arrays[f"{split}_indices"] = indices.astype(np.int32)
    np.savez_compressed(args.output, **arrays)
    print(f"wrote {args.output}: {os.path.getsize(args.output)} bytes, "
          + ", ".join(f"{key} {value.shape}" for key, value in arrays.items()))


if __name__ == "__main__":
    main()
