"""What every benchmark script shares: the machine line of a result row, what a row trained on, and
training a config from scratch for a step count or a wall-clock budget.

Rows report numbers on the test split (recorded as "split" in each row); the training data is the
"train" split, which leaves out the validation split held out of it (recorded as "train_data").
Rows recorded before the hold-out existed have no "train_data": they trained on all the training
data (for Fashion-MNIST, all 60,000 images)."""

import os
import platform
import re
import shlex
import shutil
import subprocess
import sys


def machine():
    """`x86_64 2 cores, TF 2.21.0, Keras 3.15.1`: where a row was measured."""
    import keras
    import tensorflow as tf

    return f"{platform.machine()} {os.cpu_count()} cores, TF {tf.__version__}, Keras {keras.__version__}"


def machine_id():
    """Which boot of which machine a row ran on (the kernel's boot id, shortened): rows of one date
    may come from different machines, whose speeds differ; rows with one id ran on one machine."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()[:8]
    except OSError:
        return None


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


SUMMARY = re.compile(r"^trained \S+ on \S+: steps (\d+)->(\d+) in (?:(\d+)h)?(\d+)m(\d+)s")


def training_seconds(log_lines):
    """(steps, wall seconds) of a run from the zoo-train summary lines of its log (resumed runs add up)."""
    steps, seconds = 0, 0.0
    for line in log_lines:
        match = SUMMARY.match(line.strip())
        if match:
            steps = int(match.group(2))
            seconds += int(match.group(3) or 0) * 3600 + int(match.group(4)) * 60 + int(match.group(5))
    if not steps:
        raise SystemExit("no training summary line in the log: did the run finish?")
    return steps, seconds
