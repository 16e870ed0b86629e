"""What the benchmark scripts share: the machine line of a result row (zoo.machine, as model cards
record it), what a row trained on, training a config from scratch for a step count or a wall-clock
budget, and running a zoo command line as a process.

Scripts run as `python benchmarks/<script>.py` import this as `import common` (Python puts a
script's folder first on sys.path) and zoo as any user does: it must be installed (`make setup`).

Rows report numbers on the test split (recorded as "split" in each row); the training data is the
"train" split, which leaves out the validation split held out of it (recorded as "train_data").
Rows recorded before the hold-out existed have no "train_data": they trained on all the training
data (for Fashion-MNIST, all 60,000 images)."""

import os
import shlex
import shutil
import subprocess
import sys

from zoo.machine import machine, machine_id  # noqa: F401  (the scripts' common.machine(), common.machine_id())


def training_data(config):
    """One line saying what `config` trains on: its "train" split's description (which part of the
    training data it is, after the validation hold-out)."""
    from zoo import data

    return data.load_for(config, "train").description


def train_from_scratch(config_name, overrides, workdir_root, name=None, steps=0, minutes=10.0, **settings):
    """Trains `config_name` (+ `overrides`, key=value) in a fresh `<workdir_root>/<name>` for exactly
    `steps` steps, or for `minutes` of wall clock when `steps` is 0, and exports it there.

    `settings` set trainer fields (checkpoint_every, eval_every, image_every, ...). Returns
    (config, name, workdir, TrainResult); `name` defaults to the config name joined with the overrides.
    """
    from zoo import config as config_lib
    from zoo import train

    config = config_lib.apply_overrides(config_lib.load(config_name), overrides)
    config.train_steps = steps or 10**9
    config.max_train_seconds = 0 if steps else int(minutes * 60)
    for key, value in settings.items():
        config[key] = value
    name = name or "+".join([config_name, *overrides])
    workdir = os.path.join(workdir_root, name.replace("/", "_"))
    shutil.rmtree(workdir, ignore_errors=True)
    result = train.train_and_evaluate(config, workdir, export_dir=os.path.join(workdir, "exports"))
    return config, name, workdir, result


def run_zoo_command(command, log_path=None):
    """Runs a zoo command line (a list starting with a console script such as "zoo-train") with this
    Python's scripts, echoing its output without TensorFlow's start-up noise (and appending all of it
    to `log_path`); a failure ends the caller with one line naming the command. Returns the lines."""
    binary = os.path.join(os.path.dirname(sys.executable), command[0])
    print("$ " + shlex.join(command), flush=True)
    process = subprocess.Popen([binary, *command[1:]], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    with open(log_path, "a") if log_path else open(os.devnull, "w") as log:
        for line in process.stdout:
            lines.append(line)
            log.write(line)
            if not line.startswith(("I0000", "W0000", "WARNING: All log")):
                print(line, end="", flush=True)
    if process.wait() != 0:
        raise SystemExit(f"failed ({process.returncode}): {shlex.join(command)}")
    return lines
