"""A zoo-tune search at a wall-clock budget per trial: which recipe gives the best quality per CPU-minute?

    python benchmarks/search.py --config=dcgan_fashion_mnist_fast --minutes=10 --trials=6

Runs (or resumes, or just reads when finished) the search that

    zoo-tune --config=<config> --tuner=<tuner> --max_trials=<trials> --steps=1000000 \\
        --set=max_train_seconds=<minutes*60> --set=image_every=0 --set=checkpoint_every=2000 \\
        --export_dir= --directory=<directory>

runs: every trial trains the config with the trial's hyperparameters for `--minutes` of wall
clock (no sample grids, a checkpoint every 2,000 steps: what benchmarks/quality.py's rows do) and
is scored by FID of 2,000 samples against the validation split held out of train. The test split
is not read: the chosen recipe becomes the config's defaults, and benchmarks/quality.py measures
it on test like every other row. Writes benchmarks/results/search_<config>.json for make_table.py.
Trials run one after another and measure wall clock, so run nothing else on the machine meanwhile.
"""

import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  (benchmarks/common.py: Python puts a script's folder first on sys.path)

flags.DEFINE_string("config", "dcgan_fashion_mnist_fast", "Config (in experiments/configs) declaring search_space(hp).")
flags.DEFINE_float("minutes", 10.0, "Wall-clock training budget of each trial.")
flags.DEFINE_integer("trials", 6, "Trials of the search.")
flags.DEFINE_enum("tuner", "random", ["random", "bayesian"], "keras-tuner search algorithm (Hyperband counts steps, "
                  "not seconds).")
flags.DEFINE_integer("eval_samples", 2000, "Images per trial for its validation FID.")
flags.DEFINE_integer("seed", 0, "Training and tuner seed.")
flags.DEFINE_string("directory", None, "The search's directory (default runs/tune_<config>); kept, so a rerun resumes.")
FLAGS = flags.FLAGS


def search_settings(config_name, minutes, trials, tuner, eval_samples, seed):
    """The zoo.tune.Search the module docstring's zoo-tune command makes."""
    from zoo import config as config_lib
    from zoo import tune

    return tune.Search(model=config_lib.load(config_name).model, config=config_name, tuner=tuner,
                       max_trials=trials, steps=10**6, eval_samples=eval_samples, seed=seed,
                       overrides=(f"max_train_seconds={round(minutes * 60)}", "image_every=0", "checkpoint_every=2000"))


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from zoo import tune

    directory = FLAGS.directory or os.path.join(ROOT, "runs", f"tune_{FLAGS.config}")
    search = search_settings(FLAGS.config, FLAGS.minutes, FLAGS.trials, FLAGS.tuner, FLAGS.eval_samples, FLAGS.seed)
    outcome = tune.run_search(search, directory, export_dir=None)
    command = (f"python benchmarks/search.py --config={FLAGS.config} --minutes={FLAGS.minutes:g} "
               f"--trials={FLAGS.trials}" + (f" --tuner={FLAGS.tuner}" if FLAGS.tuner != "random" else "")
               + (f" --eval_samples={FLAGS.eval_samples}" if FLAGS.eval_samples != 2000 else "")
               + (f" --seed={FLAGS.seed}" if FLAGS.seed else ""))
    result = {"config": FLAGS.config, "command": command, "minutes": FLAGS.minutes, "tuner": FLAGS.tuner,
              "objective": search.objective, "split": search.split, "eval_samples": search.eval_samples,
              "eval_reference_examples": search.eval_reference_examples, "search": search.record(),
              "trials": outcome["rows"], "best": outcome["best"], "date": time.strftime("%Y-%m-%d"),
              "machine": common.machine(), "machine_id": common.machine_id()}
    out = os.path.join(ROOT, "benchmarks", "results", f"search_{FLAGS.config}.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    best = outcome["best"]
    print(f"search of {FLAGS.config}: best trial {best['trial_id']} of {len(outcome['rows'])}, validation FID "
          f"{best['objective']:.2f} after {best['steps']} steps -> {out}", flush=True)


if __name__ == "__main__":
    app.run(main)
