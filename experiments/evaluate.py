"""zoo-eval: measures an exported image generator against real data (FID, KID, precision/recall,
density/coverage), sampling through the SavedModel's serving signature alone.

    zoo-eval --export=exports/dcgan_fashion_mnist --dataset=fashion_mnist --num_samples=10000 [--split=test]

Prints one line and writes JSON (metrics, sample count, feature network hash, dataset split, seed).
"""

import json
import os
import time

from absl import flags

from experiments.common import main_with_errors
from zoo.errors import UserError

flags.DEFINE_string("export", None, "Model directory (exports/<name>) or a version directory.")
flags.DEFINE_integer("version", None, "Version to evaluate (default: the highest).")
flags.DEFINE_string("dataset", None, "Real data to compare with (default: the dataset the export was trained on).")
flags.DEFINE_string("split", "test", "Split of the real data.")
flags.DEFINE_string("data_dir", None, "Directory with the dataset's files.")
flags.DEFINE_integer("num_samples", 10000, "Generated images (seeds first_seed .. first_seed+N-1).")
flags.DEFINE_integer("reference_examples", 10000, "Real images used (a fixed subset of the split).")
flags.DEFINE_integer("first_seed", None, "First seed of the generated images (default: 10**9).")
flags.DEFINE_integer("batch_size", 256, "Images per signature call (at most 1024).")
flags.DEFINE_string("feature_model", None, "Feature network: default the shipped Fashion-MNIST one; "
                    "a .keras model file or InceptionV3 .h5 weights.")
flags.DEFINE_string("out", None, "JSON path (default: <export>/eval/<version>-<dataset>-<split>.json).")
FLAGS = flags.FLAGS


def evaluate_export(version_dir, dataset, split="test", num_samples=10000, first_seed=None, batch_size=256,
                    feature_model=None, data_dir=None, reference_examples=10000):
    """Returns the evaluation record of a SavedModel version (see the module docstring)."""
    import tensorflow as tf

    from zoo import metrics
    from zoo.metrics import sampling

    if not 0 < batch_size <= 1024:
        raise UserError(f"--batch_size must be between 1 and 1024, got {batch_size}")
    if num_samples <= 0:
        raise UserError(f"--num_samples must be a positive integer, got {num_samples}")
    first_seed = sampling.EVAL_FIRST_SEED if first_seed is None else first_seed
    started = time.perf_counter()
    extractor = metrics.load_feature_extractor(feature_model)
    loaded = tf.saved_model.load(version_dir)
    if "serving_default" not in loaded.signatures:
        raise UserError(f"{version_dir} has no serving_default signature (it has {sorted(loaded.signatures)})")
    serving = loaded.signatures["serving_default"]
    sampling.check_image_signature(serving, version_dir)
    reference = metrics.reference_statistics(dataset, split, extractor, data_dir=data_dir,
                                             max_examples=reference_examples)
    images = sampling.generate_images(serving, num_samples, first_seed, batch_size)
    values = metrics.evaluate_images(images, reference, extractor)
    return {
        "export": version_dir,
        "dataset": dataset,
        "split": split,
        "num_samples": num_samples,
        "first_seed": first_seed,
        "feature_model": {"name": extractor.name, "hash": extractor.hash},
        "reference": {"num_examples": reference.num_examples, "key": reference.key,
                      "description": reference.description},
        "metrics": values,
        "seconds": round(time.perf_counter() - started, 1),
    }


def format_metrics(values):
    parts = [f"FID {values['fid']:.2f}"]
    if "kid_mean" in values:
        parts.append(f"KID {values['kid_mean']:.4f}±{values['kid_std']:.4f}")
    for name in ("precision", "recall", "density", "coverage"):
        if name in values:
            parts.append(f"{name} {values[name]:.3f}")
    return "  ".join(parts)


def main(argv):
    del argv
    if not FLAGS.export:
        raise UserError("--export is required, e.g. --export=exports/dcgan_fashion_mnist")
    from zoo import export

    version_dir = export.resolve_version_dir(FLAGS.export, FLAGS.version)
    info_path = os.path.join(version_dir, export.INFO_FILE)
    info = json.load(open(info_path)) if os.path.exists(info_path) else {}
    dataset = FLAGS.dataset or info.get("dataset") or "fashion_mnist"
    record = evaluate_export(version_dir, dataset, FLAGS.split, FLAGS.num_samples, FLAGS.first_seed,
                             FLAGS.batch_size, FLAGS.feature_model, FLAGS.data_dir, FLAGS.reference_examples)
    model_dir, version = os.path.split(os.path.normpath(version_dir))
    safe_dataset = dataset.replace("/", "_").replace(":", "_")
    out = FLAGS.out or os.path.join(model_dir, "eval", f"{version}-{safe_dataset}-{FLAGS.split}.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(record, f, indent=2)
    print(f"{os.path.basename(model_dir)}/{version} vs {dataset} {FLAGS.split} ({FLAGS.num_samples} samples, "
          f"features {record['feature_model']['hash']}): {format_metrics(record['metrics'])} -> {out}", flush=True)


def run():
    main_with_errors(main)


if __name__ == "__main__":
    run()
