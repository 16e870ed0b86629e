"""Image-to-image quality at a fixed wall-clock training budget: one command per benchmark row.

    python benchmarks/translation.py --config=pix2pix_fashion_mnist_edges [--minutes=10]
    python benchmarks/translation.py --config=pix2pix_fashion_mnist_edges \
        --set=model_config.adversarial_weight=0.0 --name=unet_l1_fashion_mnist_edges   # the L1-only ablation

Trains the config from scratch for `--minutes` of wall clock (the trainer's max_train_seconds; no
evaluation during training), exports it, and measures through the SavedModel alone (zoo-eval's
code path) PSNR, SSIM and L1 of the outputs for the first `--num_examples` test inputs against
their targets, and FID/KID of those outputs against the test targets in the shipped feature space.
Writes benchmarks/results/translation_<name>.json; benchmarks/make_table.py turns the results into
README's table, and the row's grid (input | output | target) goes to docs/.
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  (benchmarks/common.py: Python puts a script's folder first on sys.path)

flags.DEFINE_string("config", "pix2pix_fashion_mnist_edges", "Config name in experiments/configs.")
flags.DEFINE_float("minutes", 10.0, "Wall-clock training budget.")
flags.DEFINE_integer("num_examples", 10000, "Test pairs translated and scored.")
flags.DEFINE_multi_string("set", [], "Config overrides key=value (recorded in the result).")
flags.DEFINE_string("name", None, "Row name (default: the config name, plus overrides).")
flags.DEFINE_string("workdir", os.path.join(ROOT, "runs", "benchmarks"), "Where the runs go (replaced).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from zoo.metrics import sampling
    from zoo import contract, export, images
    from zoo.metrics.exports import evaluate_export

    config, name, _, result = common.train_from_scratch(
        FLAGS.config, FLAGS.set, FLAGS.workdir, FLAGS.name, 0, FLAGS.minutes,
        eval_every=0, image_every=0, checkpoint_every=2000)
    record = evaluate_export(result.export_path, config.dataset, "test", FLAGS.num_examples)
    command = f"python benchmarks/translation.py --config={FLAGS.config} --minutes={FLAGS.minutes:g}" + "".join(
        f" --set={override}" for override in FLAGS.set) + (f" --name={FLAGS.name}" if FLAGS.name else "")
    row = {
        "name": name,
        "model": config.model,
        "dataset": config.dataset,
        "command": command,
        "budget_minutes": FLAGS.minutes,
        "steps": result.step,
        "batch_size": config.batch_size,
        "images_per_second": round(result.images_per_second, 1),
        "translation": record["translation"],
        "split": "test",
        "train_data": common.training_data(config),
        "date": time.strftime("%Y-%m-%d"),
        "machine": common.machine(),
    }
    import tensorflow as tf

    version_dir = result.export_path
    loaded = tf.saved_model.load(version_dir)
    grid, _ = sampling.preview_grid(contract.from_export(version_dir), lambda key: loaded.signatures[key], version_dir,
                                  export.read_info(version_dir), 0, 24)
    grid_path = os.path.join(ROOT, "docs", f"{name.replace('/', '_')}.png")
    images.save_png(grid, grid_path)
    row["grid"] = os.path.relpath(grid_path, ROOT)
    out = os.path.join(ROOT, "benchmarks", "results", f"translation_{name.replace('/', '_')}.json")
    with open(out, "w") as f:
        json.dump(row, f, indent=2)
    scores = record["translation"]
    print(f"{name}: {result.step} steps ({row['images_per_second']} images/s); PSNR {scores['psnr']:.2f} dB, "
          f"SSIM {scores.get('ssim', float('nan')):.4f}, L1 {scores['l1']:.4f}, FID {scores.get('fid', float('nan')):.2f} "
          f"-> {out}", flush=True)


if __name__ == "__main__":
    app.run(main)
