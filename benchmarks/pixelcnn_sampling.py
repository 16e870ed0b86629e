"""PixelCNN sampling speed of the shipped export, before and after the per-layer caches.

    python -m benchmarks.pixelcnn_sampling [--batches=2,16] [--repeats=3] [--note=...]

(from the repository root, with the venv's python; `python benchmarks/pixelcnn_sampling.py`
is the same). zoo is imported as a user imports it: nothing here edits sys.path.

Three SavedModels are called through `serving_default(seed)`, seeds 0..batch-1:
- before: the shipped export as it is (exports/pixelcnn_fashion_mnist/<version>), whose sampler
  computes the vertical stack once per row over rows 0..i and, for every pixel, the whole
  horizontal stack and head over columns 0..j;
- crop only: the same weights re-exported with a sampler that crops both to the window the logits
  read (`GatedPixelCNN.reach()`): the vertical stack over rows i-reach..i, the horizontal stack over
  columns j-reach..j, the head at column j alone (`CroppedPixelCNN` below; measured, not shipped);
- after: the same weights re-exported with today's sampler (zoo.models.pixelcnn: each layer of each
  stack computes only the new row or pixel from its cached rows or pixels, the per-pixel part as
  matrix products).
The re-exports build the model of the export's config fresh, restore its variables from the export
as `zoo-train --init_from=<export>` restores them (zoo.train.transfer) and write it with
zoo.export.export_model into a temporary directory; nothing under exports/ changes. Each is checked
to score images as the shipped export does (log_likelihood of the before images).
Per batch size: one warm-up call of each, then --repeats timed calls of each, interleaved (the
machine is shared: the ratio of the two in one run is the result; the best call of each is kept).
Each row records how many images equal the shipped export's, pixel for pixel.
Writes benchmarks/results/pixelcnn_sampling.json (rendered into docs/benchmarks.md by make_table.py).
"""

import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = flags.FLAGS
VARIANTS = ("before", "crop_only", "after")


def define_flags():
    """The flags (defined only when run as a script, so importing this module defines none)."""
    flags.DEFINE_string("export", os.path.join(ROOT, "exports", "pixelcnn_fashion_mnist"), "The shipped export.")
    flags.DEFINE_integer("version", 2, "Version of the export.")
    flags.DEFINE_list("batches", ["2", "16"], "Images per request, one row each.")
    flags.DEFINE_integer("repeats", 3, "Timed calls of each export and batch (after one warm-up call).")
    flags.DEFINE_string("note", "", "What else ran on the machine (recorded verbatim).")
    flags.DEFINE_string("out", os.path.join(ROOT, "benchmarks", "results", "pixelcnn_sampling.json"), "Result file.")


def cropped_model_class():
    """PixelCNN whose sampler crops each stack to the receptive field (idea (a) of issue 35), for
    the "crop only" column: exact for the same reason the caches are (nothing outside the window
    `reach()` computes reaches the logits), but it still runs every layer over the whole window."""
    import tensorflow as tf

    from zoo.models import pixelcnn

    class CroppedPixelCNN(pixelcnn.PixelCNN):
        def sample_levels(self, uniforms):
            network, (height, width, channels) = self.network, self.image_shape
            reach = network.reach()
            batch_size = tf.shape(uniforms)[0]

            def row_step(i, levels):
                top = tf.maximum(0, i - reach)
                feeds = network.vertical_feeds(pixelcnn.network_inputs(levels[:, top:i + 1]), last_row=True)

                def column_step(j, row):
                    left = tf.maximum(0, j - reach)
                    h = pixelcnn.network_inputs(row[:, :, left:j + 1])
                    for index, feed in enumerate(feeds):
                        h = network.horizontal(index, h, feed[:, :, left:j + 1])
                    h = h[:, :, -1:]  # The head at column j alone.
                    logits = network.head_out(tf.nn.relu(network.head_hidden(tf.nn.relu(h))))
                    logits = tf.reshape(logits, [-1, channels, pixelcnn.LEVELS])
                    pixel = pixelcnn.inverse_cdf_sample(logits, uniforms[:, i, j])
                    at_column = tf.equal(tf.range(width), j)[None, None, :, None]
                    return j + 1, tf.where(at_column, pixel[:, None, None, :], row)

                _, row = tf.while_loop(lambda j, row: j < width, column_step,
                                       (tf.constant(0), tf.zeros([batch_size, 1, width, channels], tf.int32)))
                at_row = tf.equal(tf.range(height), i)[None, :, None, None]
                return i + 1, tf.where(at_row, row, levels)

            def sample():
                _, levels = tf.while_loop(lambda i, levels: i < height, row_step,
                                          (tf.constant(0), tf.zeros([batch_size, height, width, channels], tf.int32)))
                return levels

            return tf.cond(batch_size > 0, sample, lambda: tf.zeros([0, height, width, channels], tf.int32))

    return CroppedPixelCNN


def reexport(version_dir, workdir, name, cropped=False):
    """The export's weights in a freshly built model, exported with today's signatures (or the crop
    only sampler); its path."""
    import keras

    from zoo import config as config_lib
    from zoo import export, registry
    from zoo.data import DataSpec
    from zoo.train import transfer

    with open(os.path.join(version_dir, "assets.extra", "zoo_export.json")) as f:
        record = json.load(f)
    config = config_lib.load(config_lib.default_config_name(record["model"], record["dataset"]))
    config.init_from = version_dir
    model = registry.get(config.model)(config.model_config, DataSpec("images", image_shape=tuple(record["image_shape"])))
    if cropped:  # The same network under the other sampler (its optimizer is never exported).
        model = cropped_model_class()(model.network, model.image_shape)
        model.compile(optimizer=keras.optimizers.Adam())
    model.build_for_training()
    print(f"{name}: {transfer.warm_start(model, config)}", flush=True)
    info = {key: record[key] for key in ("model", "dataset", "data_options", "step", "config") if key in record}
    return export.export_model(model, workdir, name, info, version=1, serving_files=False)


def call(serving, batch):
    import tensorflow as tf

    seeds = tf.constant(list(range(batch)), tf.int64)
    started = time.perf_counter()
    images = serving(seed=seeds)["images"].numpy()
    return time.perf_counter() - started, images


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    import tensorflow as tf

    from zoo.machine import machine, machine_id

    load_at_start = os.getloadavg()[0]
    shipped = os.path.join(FLAGS.export, str(FLAGS.version))
    export_name = f"{os.path.basename(os.path.normpath(FLAGS.export))}/{FLAGS.version}"
    rows = []
    with tempfile.TemporaryDirectory(prefix="pixelcnn_sampling_") as workdir:
        paths = {"before": shipped, "crop_only": reexport(shipped, workdir, "crop_only", cropped=True),
                 "after": reexport(shipped, workdir, "after")}
        loaded = {key: tf.saved_model.load(path) for key, path in paths.items()}
        servings = {key: model.signatures["serving_default"] for key, model in loaded.items()}
        for batch in (int(value) for value in FLAGS.batches):
            images, seconds = {}, {key: [] for key in VARIANTS}
            for key in VARIANTS:
                _, images[key] = call(servings[key], batch)  # Warm-up.
            for _ in range(FLAGS.repeats):
                for key in VARIANTS:
                    elapsed, again = call(servings[key], batch)
                    assert np.array_equal(again, images[key]), f"{key}: the same seeds gave other images"
                    seconds[key].append(elapsed)
            scores = {key: loaded[key].signatures["log_likelihood"](images=tf.constant(images["before"]))[
                "log_likelihood"].numpy() for key in VARIANTS}
            row = {"export": export_name, "images": batch}
            for key in VARIANTS:
                best = min(seconds[key])
                row[key] = {"seconds": round(best, 4), "all_seconds": [round(value, 4) for value in seconds[key]],
                            "same_images": int(sum(np.array_equal(a, b) for a, b in zip(images[key], images["before"]))),
                            "log_likelihood_max_difference": float(np.max(np.abs(scores[key] - scores["before"])))}
            row["speedup"] = round(row["before"]["seconds"] / row["after"]["seconds"], 2)
            row["crop_only_speedup"] = round(row["before"]["seconds"] / row["crop_only"]["seconds"], 2)
            print(f"{batch} images: before {row['before']['seconds']:.2f} s, crop only {row['crop_only']['seconds']:.2f} s "
                  f"({row['crop_only_speedup']:.2f}x), after {row['after']['seconds']:.2f} s ({row['speedup']:.2f}x); "
                  f"same images: {row['after']['same_images']} of {batch} (crop only {row['crop_only']['same_images']})",
                  flush=True)
            rows.append(row)
    flags_text = f" --batches={','.join(FLAGS.batches)} --repeats={FLAGS.repeats}"
    result = {
        "command": f"python -m benchmarks.pixelcnn_sampling{flags_text}",
        "seeds": "0..batch-1",
        "rows": rows,
        "note": FLAGS.note,
        "load_average_1m": {"start": round(load_at_start, 2), "end": round(os.getloadavg()[0], 2)},
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "machine_id": machine_id(),
    }
    with open(FLAGS.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"-> {FLAGS.out}", flush=True)


if __name__ == "__main__":
    define_flags()
    app.run(main)
