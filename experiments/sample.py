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
FLAGS = flags.FLAGS


def sample_grid(version_dir, seeds, columns=None):
    """Calls the SavedModel's serving_default on int64 seeds; returns the uint8 grid."""
    import tensorflow as tf

    from zoo import images
    from zoo.models.base import MAX_SERVING_BATCH

    loaded = tf.saved_model.load(version_dir)
    if "serving_default" not in loaded.signatures:
        raise UserError(f"{version_dir} has no serving_default signature; it has {sorted(loaded.signatures)}")
    serving = loaded.signatures["serving_default"]
    inputs = serving.structured_input_signature[1]
    if set(inputs) != {"seed"}:
        raise UserError(f"{version_dir}'s serving_default takes {sorted(inputs)}, not seed: it is not an image generator")
    if len(seeds) > MAX_SERVING_BATCH:
        raise UserError(f"--num must be at most {MAX_SERVING_BATCH}, got {len(seeds)}")
    outputs = serving(seed=tf.constant(seeds, tf.int64))
    if "images" not in outputs:
        raise UserError(f"{version_dir}'s serving_default returns {sorted(outputs)}, not images")
    return images.make_grid(outputs["images"].numpy(), columns=columns)


def main(argv):
    del argv
    if not FLAGS.export:
        raise UserError("--export is required, e.g. --export=exports/dcgan_fashion_mnist")
    if FLAGS.num <= 0:
        raise UserError(f"--num must be a positive integer, got {FLAGS.num}")
    from zoo import export, images

    version_dir = export.resolve_version_dir(FLAGS.export, FLAGS.version)
    seeds = list(range(FLAGS.seed, FLAGS.seed + FLAGS.num))
    grid = sample_grid(version_dir, seeds, FLAGS.columns)
    images.save_png(grid, FLAGS.out)
    print(f"wrote {FLAGS.out}: {FLAGS.num} images from {version_dir} (seeds {seeds[0]}..{seeds[-1]})", flush=True)


def run():
    main_with_errors(main)


if __name__ == "__main__":
    run()
