"""run.json: a workdir's own record of its run, which zoo-ship and the benchmarks read instead of a
training's printed output.

It holds what the checkpoints are of (model, dataset, the data's shape: what resuming and
zoo-export rebuild from) and what training the workdir has seen: `steps`, the step its last
invocation ended at (a checkpoint holds it), `seconds`, the wall clock of training summed over
every invocation (a resumed run adds its own), and `invocations`, one entry per zoo-train
invocation that trained: the steps it started and ended at, its seconds, why it stopped, the
flags it was given (None when called as a library) and its resolved config. A run that starts
without a checkpoint starts a new record. Written atomically (a new file renamed over the old),
and only by a multi-worker run's chief.
"""

import json
import os
import socket
import time

from zoo import config as config_lib

RUN_FILE = "run.json"


def path_of(workdir):
    return os.path.join(workdir, RUN_FILE)


def read(workdir):
    """The workdir's record, or None when it has none."""
    path = path_of(workdir)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _write(workdir, record):
    path = path_of(workdir)
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    os.replace(temporary, path)


def start(workdir, config, spec, fresh):
    """Records what the run is (model, dataset, data shape) at the start of an invocation, keeping
    the training history of a resumed run (`fresh`: no checkpoint was restored, a new history)."""
    previous = None if fresh else read(workdir)
    record = {"model": config.model, "dataset": config.dataset, "data": spec.to_json(),
              "steps": 0, "seconds": 0.0, "invocations": []}
    if previous and "invocations" in previous:
        record.update(steps=previous["steps"], seconds=previous["seconds"], invocations=previous["invocations"])
    _write(workdir, record)
    return record


def add_invocation(workdir, config, flags_text, start_step, end_step, seconds, stop):
    """Adds one invocation's training: the run is now at `end_step`, and `seconds` more were spent."""
    record = read(workdir)
    record["invocations"].append({
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - seconds)),
        "host": socket.gethostname(), "start_step": start_step, "end_step": end_step,
        "seconds": round(seconds, 3), "stop": stop,
        "flags": None if flags_text is None else [line for line in flags_text.splitlines() if line],
        "config": json.loads(config_lib.to_json(config))})
    record["steps"] = end_step
    record["seconds"] = round(record["seconds"] + seconds, 3)
    _write(workdir, record)
    return record


def complete(record):
    """Whether the record accounts for every step of the run: its history starts at step 0 (a run
    begun before zoo kept one starts its history where it was resumed, its earlier seconds unknown)."""
    return bool(record and record.get("invocations")) and record["invocations"][0]["start_step"] == 0
