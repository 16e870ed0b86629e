"""Tuned vs default at an equal total training budget: is a search worth its cost?

    python benchmarks/tune.py --model=dcgan --budget_steps=1200 --trials=4 --tuner=random

The default config trains `--budget_steps` steps; the search (zoo-tune's code path, zoo.tune)
spends the same total, `--budget_steps / --trials` steps per trial (Hyperband: its longest trials
get `--budget_steps / --trials`, so its total is at most about that budget), and its best trial is
compared with the default run. Both are scored identically: FID/KID of `--num_samples` images
drawn through the export against the Fashion-MNIST test split (zoo-eval's code path); the trials
were ranked on their own `--eval_samples` on the validation split held out of train (zoo-tune's
default), so the test split is seen only by the final comparison. Writes benchmarks/results/tune_<model>_<tuner>.json.
"""

import json
import os
import platform
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

flags.DEFINE_string("model", "dcgan", "Model with a search_space in experiments/configs/<model>_fashion_mnist.py.")
flags.DEFINE_enum("tuner", "random", ["random", "bayesian", "hyperband"], "keras-tuner search algorithm.")
flags.DEFINE_integer("budget_steps", 1200, "Total training steps of each side.")
flags.DEFINE_integer("trials", 4, "Trials of the search (they share the budget).")
flags.DEFINE_integer("eval_samples", 2000, "Images per trial when ranking the trials.")
flags.DEFINE_integer("num_samples", 5000, "Images of the final comparison (both sides).")
flags.DEFINE_integer("seed", 0, "Training and tuner seed.")
flags.DEFINE_string("workdir", os.path.join(ROOT, "runs", "benchmarks", "tune"), "Where the runs go (replaced).")
FLAGS = flags.FLAGS


def _score(version_dir, num_samples):
    from zoo.metrics.exports import evaluate_export

    record = evaluate_export(version_dir, "fashion_mnist", num_samples=num_samples)
    return {name: record["metrics"][name] for name in ("fid", "kid_mean", "precision", "recall")}


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines drown the progress lines.
    import tensorflow as tf

    import common  # benchmarks/common.py, beside this script
    from zoo import config as config_lib
    from zoo import train, tune

    shutil.rmtree(FLAGS.workdir, ignore_errors=True)
    per_trial = FLAGS.budget_steps // FLAGS.trials

    started = time.perf_counter()
    config = config_lib.load(f"{FLAGS.model}_fashion_mnist")
    config.train_steps, config.seed = FLAGS.budget_steps, FLAGS.seed
    result = train.train_and_evaluate(config, os.path.join(FLAGS.workdir, "default"),
                                      export_dir=os.path.join(FLAGS.workdir, "exports_default"))
    default = {"steps": result.step, "seconds": round(time.perf_counter() - started, 1),
               **_score(result.export_path, FLAGS.num_samples)}
    print(f"default: {default}", flush=True)

    started = time.perf_counter()
    search = tune.Search(model=FLAGS.model, tuner=FLAGS.tuner, objective="fid", max_trials=FLAGS.trials,
                         steps=per_trial, eval_samples=FLAGS.eval_samples, seed=FLAGS.seed,
                         hyperband_max_epochs=min(9, per_trial))
    outcome = tune.run_search(search, os.path.join(FLAGS.workdir, "search"),
                              export_dir=os.path.join(FLAGS.workdir, "exports_tuned"))
    trained = sum(row["steps"] - (_parent_steps(outcome["rows"], row) or 0) for row in outcome["rows"]
                  if row["steps"] is not None)
    tuned = {"steps_total": trained, "best_trial_steps": outcome["best"]["steps"],
             "seconds": round(time.perf_counter() - started, 1), "best_trial": outcome["best"]["trial_id"],
             "hyperparameters": outcome["best"]["hyperparameters"],
             f"search_fid_{FLAGS.eval_samples}": outcome["best"]["objective"],
             **_score(outcome["export"], FLAGS.num_samples)}
    print(f"tuned: {tuned}", flush=True)
    record = {
        "model": FLAGS.model, "tuner": FLAGS.tuner, "budget_steps": FLAGS.budget_steps, "trials": FLAGS.trials,
        "command": " ".join(["python benchmarks/tune.py"] + sys.argv[1:]), "num_samples": FLAGS.num_samples,
        "eval_samples": FLAGS.eval_samples, "split": "test", "search_split": search.split,
        "train_data": common.training_data(config),
        "default": default, "tuned": tuned, "trials_table": outcome["rows"],
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, TF {tf.__version__}",
    }
    os.makedirs(os.path.join(ROOT, "benchmarks", "results"), exist_ok=True)
    path = os.path.join(ROOT, "benchmarks", "results", f"tune_{FLAGS.model}_{FLAGS.tuner}.json")
    with open(path, "w") as f:
        json.dump(record, f, indent=2)
    print(f"| {FLAGS.model} | default | {default['steps']} | {default['seconds']:.0f} | {default['fid']:.1f} |")
    print(f"| {FLAGS.model} | {FLAGS.tuner} search, {FLAGS.trials} trials, best of {tuned['best_trial_steps']} steps "
          f"| {trained} | {tuned['seconds']:.0f} | {tuned['fid']:.1f} |")
    print(f"wrote {path}")


def _parent_steps(rows, row):
    """A Hyperband promotion resumed from its parent: only the steps beyond the parent's count."""
    parents = [other for other in rows if other["trial_id"] == row["parent"]]
    return parents[0]["steps"] if parents else None


if __name__ == "__main__":
    app.run(main)
