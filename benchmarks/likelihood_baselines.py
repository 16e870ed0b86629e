"""Reference points for the likelihood rows, computed on the same test data the models are scored on.

    python benchmarks/likelihood_baselines.py

Images (Fashion-MNIST test split, bits per pixel): independent per-pixel 256-way categoricals fitted
on the train split (add-one smoothing: the floor any model must be far below), and the lossless
codecs PNG (per image, compression level 9) and xz (all test images as one stream, preset 9e).
Text (the fortunes test split, bits per byte): an order-0 byte model fitted on train, and gzip,
bzip2 and xz of the whole test split. A codec's size is an honest code length, so a model with fewer
bits per dimension compresses this data better than that codec would.

Writes benchmarks/results/likelihood_baselines.json.
"""

import bz2
import gzip
import io
import json
import lzma
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def image_baselines():
    import numpy as np
    from PIL import Image

    from zoo import data

    def pixels(split):
        batches = data.load("fashion_mnist", split).dataset.batch(5000)
        return np.concatenate([batch["image"].numpy() for batch in batches])

    train, test = pixels("train"), pixels("test")
    fitted_on = data.load("fashion_mnist", "train").description
    dims = math.prod(test.shape[1:])
    flat_train, flat_test = train.reshape(len(train), -1), test.reshape(len(test), -1)
    counts = np.ones((dims, 256))  # Add-one smoothing.
    for position in range(dims):
        counts[position] += np.bincount(flat_train[:, position], minlength=256)
    log2_probs = np.log2(counts / counts.sum(axis=1, keepdims=True))
    categorical = -log2_probs[np.arange(dims)[None, :], flat_test].sum() / flat_test.size
    png_bytes = 0
    for image in test[..., 0]:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG", optimize=True, compress_level=9)
        png_bytes += len(buffer.getvalue())
    xz_bytes = len(lzma.compress(test.tobytes(), preset=9 | lzma.PRESET_EXTREME))
    return {
        "data": f"fashion_mnist test split, {len(test)} images of {dims} pixels",
        "split": "test",
        "train_data": fitted_on,
        "bits_per_dim": {
            "independent_categorical": round(float(categorical), 4),
            "png": round(8 * png_bytes / test.size, 4),
            "xz": round(8 * xz_bytes / test.size, 4),
        },
    }


def text_baselines():
    import numpy as np

    from zoo.data import text

    (train, fitted_on), test = text.load_bytes("fortunes", "train"), text.load_bytes("fortunes", "test")[0]
    counts = np.bincount(np.frombuffer(train, np.uint8), minlength=256) + 1.0
    log2_probs = np.log2(counts / counts.sum())
    unigram = -log2_probs[np.frombuffer(test, np.uint8)].mean()
    return {
        "data": f"fortunes test split, {len(test)} bytes",
        "split": "test",
        "train_data": fitted_on,
        "bits_per_byte": {
            "order0_bytes": round(float(unigram), 4),
            "gzip": round(8 * len(gzip.compress(test, 9)) / len(test), 4),
            "bzip2": round(8 * len(bz2.compress(test, 9)) / len(test), 4),
            "xz": round(8 * len(lzma.compress(test, preset=9 | lzma.PRESET_EXTREME)) / len(test), 4),
        },
    }


def main():
    started = time.perf_counter()
    result = {"command": "python benchmarks/likelihood_baselines.py", "images": image_baselines()}
    try:
        result["text"] = text_baselines()
    except Exception as error:  # The fortunes package may be missing; images still count.
        result["text"] = {"skipped": str(error).splitlines()[0]}
    result["seconds"] = round(time.perf_counter() - started, 1)
    out = os.path.join(ROOT, "benchmarks", "results", "likelihood_baselines.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
