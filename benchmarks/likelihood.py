"""Test-split likelihood of an exported image model, measured through the SavedModel alone.

    python benchmarks/likelihood.py --export=exports/pixelcnn_fashion_mnist [--split=test] [--out=row.json]

Scores every image of the split with the export's `log_likelihood(images: uint8[N,H,W,C])`
signature (nats per image) and reports the mean negative log-likelihood in nats per image and in
bits per dimension, then times `serving_default` drawing `--sample_num` images (after one warm-up
call of the same size, so tracing and first-call allocations are not counted). The export's own
record says whether its likelihood is exact or a bound. Prints one JSON object; `--out` also writes
it. The machine's load average is recorded beside the numbers, because other work slows timings.
"""

import json
import math
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

flags.DEFINE_string("export", None, "Model directory (latest version) or version directory of the export.")
flags.DEFINE_string("dataset", None, "Dataset to score (default: the one the export was trained on).")
flags.DEFINE_string("split", "test", "Split to score, e.g. test or train[:10000].")
flags.DEFINE_integer("batch_size", 500, "Images per log_likelihood call.")
flags.DEFINE_integer("sample_num", 16, "Images drawn in the timed serving_default call (0: skip).")
flags.DEFINE_string("out", None, "Also write the JSON here.")
FLAGS = flags.FLAGS


def score_split(log_likelihood, source, batch_size):
    """Sum of log p (nats) over every image of `source`, and the image count."""
    total, count = 0.0, 0
    for batch in source.dataset.batch(batch_size):
        scores = log_likelihood(images=batch["image"])["log_likelihood"].numpy().astype("float64")
        total += float(scores.sum())
        count += len(scores)
    return total, count


def time_sampling(serving, num):
    """Seconds of one serving_default call drawing `num` images, after a warm-up call of that size."""
    import numpy as np
    import tensorflow as tf

    serving(seed=tf.constant(np.arange(num, dtype=np.int64)))
    start = time.perf_counter()
    images = serving(seed=tf.constant(np.arange(num, 2 * num, dtype=np.int64)))["images"]
    return time.perf_counter() - start, list(images.shape)


def main(argv):
    del argv
    import tensorflow as tf

    from zoo import data, export, metrics
    from zoo.errors import UserError

    if not FLAGS.export:
        raise UserError("--export is required: the exported model directory, e.g. exports/pixelcnn_fashion_mnist")
    version_dir = export.resolve_version_dir(FLAGS.export)
    info = export.read_info(version_dir)
    loaded = tf.saved_model.load(version_dir)
    if "log_likelihood" not in loaded.signatures:
        raise UserError(f"{version_dir} has no log_likelihood signature; it has {sorted(loaded.signatures)}")
    dataset = FLAGS.dataset or info.get("dataset")
    if not dataset:
        raise UserError(f"{version_dir} does not record its dataset: pass --dataset")
    load_average = os.getloadavg()[0]
    source = data.load(dataset, FLAGS.split)
    start = time.perf_counter()
    total, count = score_split(loaded.signatures["log_likelihood"], source, FLAGS.batch_size)
    scoring_seconds = time.perf_counter() - start
    num_dims = math.prod(source.image_shape)
    row = {
        "export": version_dir,
        "model": info.get("model"),
        "step": info.get("step"),
        "likelihood": info.get("likelihood"),
        "dataset": dataset,
        "split": FLAGS.split,
        "num_images": count,
        **metrics.likelihood_report(-total / count, num_dims),
        "num_dims": num_dims,
        "scoring_seconds": round(scoring_seconds, 1),
    }
    if FLAGS.sample_num:
        seconds, shape = time_sampling(loaded.signatures["serving_default"], FLAGS.sample_num)
        row.update(sample_seconds=round(seconds, 2), sample_shape=shape)
    row.update(machine=f"{platform.machine()} {os.cpu_count()} cores", tensorflow=tf.__version__,
               load_average_start=round(load_average, 2), load_average_end=round(os.getloadavg()[0], 2))
    text = json.dumps(row, indent=2)
    print(text)
    if FLAGS.out:
        with open(FLAGS.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    from experiments.common import main_with_errors

    main_with_errors(main)
