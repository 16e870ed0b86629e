"""Sample quality at a fixed wall-clock training budget: one command per benchmark row.

    python benchmarks/quality.py --config=dcgan_fashion_mnist [--minutes=10] [--num_samples=10000]
    python benchmarks/quality.py --config=dcgan_fashion_mnist --steps=4000 --set=model_config.ema_decay=0.999

Trains the config from scratch for `--minutes` of wall-clock time (the trainer's
max_train_seconds; no evaluation during training, so the whole budget trains), or for exactly
`--steps` steps (ablations of training aids: equal steps isolate an aid's effect from its cost
and from machine noise; images/s in the row gives the cost), exports it, and
measures FID, KID, precision, recall, density and coverage of `--num_samples` images drawn through
the SavedModel against the Fashion-MNIST test split in the shipped feature space (zoo-eval's code
path). Writes benchmarks/results/quality_<config>.json; benchmarks/make_table.py turns the results
into README's table.
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  (benchmarks/common.py: Python puts a script's folder first on sys.path)

flags.DEFINE_string("config", "dcgan_fashion_mnist", "Config name in experiments/configs.")
flags.DEFINE_float("minutes", 10.0, "Wall-clock training budget.")
flags.DEFINE_integer("steps", 0, "Train exactly this many steps instead of a wall-clock budget (0: use --minutes).")
flags.DEFINE_integer("num_samples", 10000, "Generated images for the metrics.")
flags.DEFINE_multi_string("set", [], "Config overrides key=value (recorded in the result).")
flags.DEFINE_string("name", None, "Row name (default: the config name, plus overrides).")
flags.DEFINE_string("workdir", os.path.join(ROOT, "runs", "benchmarks"), "Where the runs go (replaced).")
FLAGS = flags.FLAGS


def label_accuracy(version_dir, per_label=1000):
    """Conditional models: how often the shipped classifier head recognizes the requested label."""
    import numpy as np
    import tensorflow as tf

    from zoo import contract, kinds
    from zoo.metrics import load_feature_extractor, sampling

    interface = contract.from_export(version_dir)
    signature = interface.evaluation_signature(kinds.SAMPLES)
    serving = tf.saved_model.load(version_dir).signatures[signature.name]
    classifier = load_feature_extractor()
    accuracy = {}
    for label in range(classifier.num_classes):
        pixels = sampling.generate_images(serving, signature, per_label, 2 * 10**9, batch_size=per_label // 4,
                                          labels=np.full(per_label, label))
        accuracy[str(label)] = float(np.mean(classifier.classify(pixels).argmax(axis=-1) == label))
    accuracy["mean"] = float(np.mean(list(accuracy.values())))
    return accuracy


def main(argv):
    del argv

    from zoo import contract, kinds
    from zoo.metrics.exports import evaluate_export

    # A budget other than 10 minutes names its row (and file), so the 10- and 60-minute rows coexist.
    row_name = FLAGS.name or (f"{'+'.join([FLAGS.config, *FLAGS.set])}_{FLAGS.minutes:g}min"
                              if not FLAGS.steps and FLAGS.minutes != 10 else None)
    config, name, _, result = common.train_from_scratch(
        FLAGS.config, FLAGS.set, FLAGS.workdir, row_name, FLAGS.steps, FLAGS.minutes,
        eval_every=0, image_every=0, checkpoint_every=2000)
    conditional = contract.from_export(result.export_path).evaluation_signature(kinds.SAMPLES).input_with(
        contract.CLASS_LABEL) is not None
    record = evaluate_export(result.export_path, config.dataset, "test", FLAGS.num_samples)
    budget = f"--steps={FLAGS.steps}" if FLAGS.steps else f"--minutes={FLAGS.minutes:g}"
    command = f"python benchmarks/quality.py --config={FLAGS.config} {budget}" + "".join(
        f" --set={override}" for override in FLAGS.set) + (f" --name={FLAGS.name}" if FLAGS.name else "") + (
        f" --num_samples={FLAGS.num_samples}" if FLAGS.num_samples != 10000 else "")
    row = {
        "name": name,
        "model": config.model,
        "command": command,
        "budget_minutes": None if FLAGS.steps else FLAGS.minutes,
        "budget_steps": FLAGS.steps or None,
        "seconds": round(result.step / result.steps_per_second, 1) if result.steps_per_second else None,
        "steps": result.step,
        "batch_size": config.batch_size,
        "images_per_second": round(result.images_per_second, 1),
        "metrics": record["metrics"],
        "num_samples": FLAGS.num_samples,
        "split": "test",
        "train_data": common.training_data(config),
        "feature_model": record["feature_model"],
        "date": time.strftime("%Y-%m-%d"),
        "machine": common.machine(),
        "machine_id": common.machine_id(),
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = os.path.join(ROOT, "benchmarks", "results", f"quality_{name.replace('/', '_')}.json")
    if conditional:
        row["label_accuracy"] = label_accuracy(result.export_path)
    with open(out, "w") as f:
        json.dump(row, f, indent=2)
    metrics = record["metrics"]
    print(f"{name}: {result.step} steps ({row['images_per_second']} images/s); "
          f"FID {metrics['fid']:.2f}, KID {metrics['kid_mean']:.3f}, precision {metrics['precision']:.3f}, "
          f"recall {metrics['recall']:.3f} -> {out}", flush=True)


if __name__ == "__main__":
    app.run(main)
