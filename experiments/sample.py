"""zoo-sample: draws a PNG grid from an exported SavedModel alone (no checkpoint, no model code).

    zoo-sample --export=exports/dcgan_fashion_mnist --num=64 --seed=0 --out=grid.png
"""

from absl import flags

from experiments.common import main_with_errors
from zoo.errors import UserError

flags.DEFINE_string("export", None, "Model directory (exports/<name>) or a version directory.")
flags.DEFINE_integer("version", None, "Version to load (default: the highest).")
flags.DEFINE_integer("num", 64, "Number of images: one per seed.")
flags.DEFINE_integer("seed", 0, "First seed; image i uses seed + i.")
flags.DEFINE_integer("columns", None, "Grid columns (default: a square grid).")
flags.DEFINE_string("out", "grid.png", "Output PNG path.")
flags.DEFINE_integer("label", None, "Conditional models: draw every image of this class (default: one row per class).")
FLAGS = flags.FLAGS


def sample_grid(version_dir, first_seed, num, columns=None, label=None):
    """Calls the SavedModel's serving_default alone; returns (uint8 grid, description).

    Conditional models (seed, label) draw `label` for every image, or one row per class.
    """
    import numpy as np
    import tensorflow as tf

    from zoo import export, images
    from zoo.metrics import sampling
    from zoo.models.base import MAX_SERVING_BATCH

    loaded = tf.saved_model.load(version_dir)
    if "serving_default" not in loaded.signatures:
        raise UserError(f"{version_dir} has no serving_default signature; it has {sorted(loaded.signatures)}")
    serving = loaded.signatures["serving_default"]
    inputs = sampling.check_image_signature(serving, version_dir)
    conditional = "label" in inputs
    if not conditional and label is not None:
        raise UserError(f"--label needs a conditional model; {version_dir} takes only seeds")
    num_classes = export.read_info(version_dir).get("num_classes")
    if conditional and label is None:
        if not num_classes:
            raise UserError(f"{version_dir} does not record num_classes: pass --label")
        columns = max(1, num // num_classes)
        labels = np.repeat(np.arange(num_classes), columns)
        num, what = len(labels), f"one row per class ({num_classes} classes)"
    elif conditional:
        if num_classes and not 0 <= label < num_classes:
            raise UserError(f"--label must be between 0 and {num_classes - 1}, got {label}")
        labels, what = np.full(num, label), f"label {label}"
    else:
        labels, what = None, "unconditional"
    if num > MAX_SERVING_BATCH:
        raise UserError(f"--num must be at most {MAX_SERVING_BATCH}, got {num}")
    seeds = np.arange(first_seed, first_seed + num, dtype=np.int64)
    try:
        pixels = sampling.call_generator(serving, seeds, labels)
    except tf.errors.InvalidArgumentError as error:
        raise UserError(f"{version_dir} refused the request: {sampling.assertion_message(error)}") from None
    return images.make_grid(pixels, columns=columns), f"{num} images, {what}, seeds {seeds[0]}..{seeds[-1]}"


def main(argv):
    del argv
    if not FLAGS.export:
        raise UserError("--export is required, e.g. --export=exports/dcgan_fashion_mnist")
    if FLAGS.num <= 0:
        raise UserError(f"--num must be a positive integer, got {FLAGS.num}")
    from zoo import export, images

    version_dir = export.resolve_version_dir(FLAGS.export, FLAGS.version)
    grid, what = sample_grid(version_dir, FLAGS.seed, FLAGS.num, FLAGS.columns, FLAGS.label)
    images.save_png(grid, FLAGS.out)
    print(f"wrote {FLAGS.out}: {what}, from {version_dir}", flush=True)


def run():
    main_with_errors(main)


if __name__ == "__main__":
    run()
