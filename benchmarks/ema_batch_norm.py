"""What an EMA generator should do with its batch-norm statistics, measured on one run.

    python benchmarks/ema_batch_norm.py --config=dcgan_fashion_mnist --minutes=10

Trains the config with a generator EMA (`--ema_decay`, batch-norm statistics averaged like the
weights) for a wall-clock budget, then scores, from the same final checkpoint, four exports that
differ only in the batch-norm statistics their generator normalizes with:
- raw: the live generator (no EMA), for scale;
- average: the averaged weights with averaged statistics (ema_batch_norm="average");
- copy: the averaged weights with the live generator's statistics (ema_batch_norm="copy");
- recompute: the averaged weights with statistics re-estimated by running them in training mode
  on `--recompute_batches` batches of fresh latents (the mean of the batch means and variances).
Each is scored with zoo-eval's code path on the validation split (a choice of default, so not
the test split): FID/KID/precision/recall of `--num_samples` images. Writes
benchmarks/results/ema_batch_norm_<config>.json.
"""

import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  (benchmarks/common.py: Python puts a script's folder first on sys.path)

flags.DEFINE_string("config", "dcgan_fashion_mnist", "Config name in experiments/configs (a GAN with batch norm).")
flags.DEFINE_float("minutes", 10.0, "Wall-clock training budget.")
flags.DEFINE_integer("steps", 0, "Train exactly this many steps instead (0: use --minutes).")
flags.DEFINE_float("ema_decay", 0.999, "The generator EMA's decay.")
flags.DEFINE_integer("num_samples", 5000, "Generated images per variant.")
flags.DEFINE_integer("recompute_batches", 50, "Batches of 256 latents that re-estimate the statistics.")
flags.DEFINE_multi_string("set", [], "Further config overrides key=value.")
flags.DEFINE_string("workdir", os.path.join(ROOT, "runs", "benchmarks"), "Where the run goes (replaced).")
FLAGS = flags.FLAGS


def recompute_statistics(generator, latent_dim, batches, batch_size=256, seed=12345):
    """Sets every batch-norm layer's moving statistics to the mean, over `batches` training-mode
    passes of fresh latents, of its batch means and variances (layers see the statistics of the
    re-estimated layers before them, as when sampling)."""
    import keras
    import tensorflow as tf

    norms = [layer for layer in generator._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.moving_mean.assign(tf.zeros_like(norm.moving_mean))
        norm.moving_variance.assign(tf.zeros_like(norm.moving_variance))
    for index in range(batches):
        for norm in norms:  # moving <- m * moving + (1 - m) * batch with m = k / (k + 1): the running mean.
            norm.momentum = index / (index + 1)
        z = tf.random.stateless_normal([batch_size, latent_dim], seed=[seed, index])
        generator(z, training=True)
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum


def main(argv):
    del argv
    from zoo import export, train
    from zoo.metrics.exports import evaluate_export
    from zoo.models import base

    overrides = [f"model_config.ema_decay={FLAGS.ema_decay}", *FLAGS.set]
    config, name, workdir, result = common.train_from_scratch(
        FLAGS.config, overrides, FLAGS.workdir, f"ema_batch_norm_{FLAGS.config}", FLAGS.steps, FLAGS.minutes,
        eval_every=0, image_every=0, checkpoint_every=2000)
    model, _, step = train.restore_model(workdir)
    ema, live = model.ema_generator, model.generator
    averaged = [variable.numpy() for variable in base.batch_norm_statistics(ema)]
    rows = {}
    with tempfile.TemporaryDirectory() as exports:
        for variant in ("raw", "average", "copy", "recompute"):
            statistics = base.batch_norm_statistics(ema)
            for variable, value in zip(statistics, averaged):
                variable.assign(value)
            if variant == "copy":
                for variable, value in zip(statistics, base.batch_norm_statistics(live)):
                    variable.assign(value)
            elif variant == "recompute":
                recompute_statistics(ema, model.latent_dim, FLAGS.recompute_batches)
            model.ema_decay = 0.0 if variant == "raw" else FLAGS.ema_decay  # What sampling_generator reads.
            path = export.export_model(model, exports, variant, serving_files=False)
            record = evaluate_export(path, config.dataset, "validation", FLAGS.num_samples)
            rows[variant] = record["metrics"]
            metrics = record["metrics"]
            print(f"{variant}: FID {metrics['fid']:.2f}, KID {metrics['kid_mean']:.3f}, precision "
                  f"{metrics['precision']:.3f}, recall {metrics['recall']:.3f}", flush=True)
    budget = f"--steps={FLAGS.steps}" if FLAGS.steps else f"--minutes={FLAGS.minutes:g}"
    row = {
        "name": name,
        "command": f"python benchmarks/ema_batch_norm.py --config={FLAGS.config} {budget}"
                   + "".join(f" --set={override}" for override in FLAGS.set),
        "steps": step,
        "ema_decay": FLAGS.ema_decay,
        "recompute_batches": FLAGS.recompute_batches,
        "variants": rows,
        "num_samples": FLAGS.num_samples,
        "split": "validation",
        "train_data": common.training_data(config),
        "feature_model": record["feature_model"],
        "date": time.strftime("%Y-%m-%d"),
        "machine": common.machine(),
    }
    out = os.path.join(ROOT, "benchmarks", "results", f"ema_batch_norm_{FLAGS.config}.json")
    with open(out, "w") as f:
        json.dump(row, f, indent=2)
    best = min(rows, key=lambda variant: rows[variant]["fid"])
    print(f"ema_batch_norm {FLAGS.config}: {step} steps; lowest FID {rows[best]['fid']:.2f} with {best} -> {out}",
          flush=True)


if __name__ == "__main__":
    app.run(main)
