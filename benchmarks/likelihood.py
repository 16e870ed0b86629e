"""Test-split likelihood of an image model, measured through its SavedModel alone: one command per row.

    python benchmarks/likelihood.py --config=vae_fashion_mnist --steps=6000 [--num_samples=10000]
    python benchmarks/likelihood.py --config=pixelcnn_fashion_mnist --steps=1500 --num_samples=0
    python benchmarks/likelihood.py --export=exports/pixelcnn_fashion_mnist --name=pixelcnn   # score only

Trains the config from scratch for exactly `--steps` steps (or `--minutes` of wall clock), exports
it, and scores every image of the split with the export's `log_likelihood(images)` signature
(zoo.metrics.likelihood, zoo-eval's code path): NLL in nats per image and bits/dim, and for VAEs
the negative ELBO beside the importance-weighted estimate. With `--num_samples` > 0 also FID/KID of
that many samples. Times `serving_default` drawing 16 images (after a warm-up call of that size).
Writes benchmarks/results/likelihood_<name>.json; benchmarks/make_table.py puts it in docs/benchmarks.md.
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  (benchmarks/common.py: Python puts a script's folder first on sys.path)

flags.DEFINE_string("config", None, "Config name in experiments/configs (trains it from scratch).")
flags.DEFINE_string("export", None, "Instead of training: score this export (model directory or version).")
flags.DEFINE_integer("steps", 0, "Train exactly this many steps (0: use --minutes).")
flags.DEFINE_float("minutes", 10.0, "Wall-clock training budget when --steps is 0.")
flags.DEFINE_multi_string("set", [], "Config overrides key=value (recorded in the result).")
flags.DEFINE_string("split", "test", "Split to score.")
flags.DEFINE_integer("num_samples", 10000, "Samples for FID/KID (0: skip; PixelCNN samples slowly).")
flags.DEFINE_integer("sample_num", 16, "Images in the timed serving_default call (0: skip).")
flags.DEFINE_string("name", None, "Row name (default: the config name, plus overrides).")
flags.DEFINE_string("workdir", os.path.join(ROOT, "runs", "benchmarks"), "Where the runs go (replaced).")
FLAGS = flags.FLAGS


def time_sampling(version_dir, num):
    """Seconds of one call of the declared samples signature drawing `num` images, after a warm-up
    call of that size (conditional models: balanced labels, as zoo-eval draws them)."""
    import tensorflow as tf

    from zoo import contract, kinds
    from zoo.metrics import sampling

    signature = contract.from_export(version_dir).evaluation_signature(kinds.SAMPLES)
    serving = tf.saved_model.load(version_dir).signatures[signature.name]
    sampling.generate_images(serving, signature, num, 0, batch_size=num)
    start = time.perf_counter()
    sampling.generate_images(serving, signature, num, num, batch_size=num)
    return round(time.perf_counter() - start, 2)


def command_line():
    parts = ["python benchmarks/likelihood.py"]
    parts += [f"--config={FLAGS.config}"] if FLAGS.config else [f"--export={FLAGS.export}"]
    if FLAGS.config:
        parts.append(f"--steps={FLAGS.steps}" if FLAGS.steps else f"--minutes={FLAGS.minutes:g}")
    parts += [f"--set={override}" for override in FLAGS.set]
    if FLAGS.num_samples != 10000:
        parts.append(f"--num_samples={FLAGS.num_samples}")
    return " ".join(parts + ([f"--name={FLAGS.name}"] if FLAGS.name else []))


def main(argv):
    del argv
    from zoo import export
    from zoo.errors import UserError
    from zoo.metrics.exports import evaluate_export

    if bool(FLAGS.config) == bool(FLAGS.export):
        raise UserError("pass exactly one of --config (train, then score) and --export (score only)")
    row = {"command": command_line(), "date": time.strftime("%Y-%m-%d"),
           "machine": common.machine(),
           "load_average_start": round(os.getloadavg()[0], 2)}
    if FLAGS.config:
        config, name, _, result = common.train_from_scratch(
            FLAGS.config, FLAGS.set, FLAGS.workdir, FLAGS.name, FLAGS.steps, FLAGS.minutes,
            eval_every=0, checkpoint_every=1000)
        version_dir = result.export_path
        row.update(steps=result.step, batch_size=config.batch_size,
                   train_seconds=round(result.step / result.steps_per_second, 1),
                   train_data=common.training_data(config))
    else:
        version_dir = export.resolve_version_dir(FLAGS.export)
        name = FLAGS.name or os.path.basename(os.path.dirname(os.path.normpath(version_dir)))
    info = export.read_info(version_dir)
    row.update(name=name, model=info.get("model"), step=info.get("step"), likelihood_kind=info.get("likelihood"))
    record = evaluate_export(version_dir, info.get("dataset", "fashion_mnist"), FLAGS.split, FLAGS.num_samples)
    if "likelihood" not in record:
        raise UserError(f"{version_dir} has no log_likelihood(images) signature to score")
    row["split"] = FLAGS.split
    row["likelihood"] = record["likelihood"]
    if "metrics" in record:
        row.update(metrics=record["metrics"], num_samples=FLAGS.num_samples, feature_model=record["feature_model"])
    if FLAGS.sample_num:
        row["sample_seconds"] = {str(FLAGS.sample_num): time_sampling(version_dir, FLAGS.sample_num)}
    row["load_average_end"] = round(os.getloadavg()[0], 2)
    out = os.path.join(ROOT, "benchmarks", "results", f"likelihood_{name.replace('/', '_')}.json")
    with open(out, "w") as f:
        json.dump(row, f, indent=2)
    nll = record["likelihood"]["nll"]
    elbo = record["likelihood"].get("negative_elbo")
    print(f"{name}: test NLL {nll['nll_nats']:.1f} nats = {nll['bits_per_dim']:.3f} bits/dim"
          + (f", -ELBO {elbo['bits_per_dim']:.3f}" if elbo else "")
          + (f", FID {record['metrics']['fid']:.2f}" if "metrics" in record else "") + f" -> {out}", flush=True)


if __name__ == "__main__":
    from experiments.common import main_with_errors

    main_with_errors(main)
