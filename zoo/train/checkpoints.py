"""Checkpoint files of a run: finding them by their files, telling a usable one (readable, finite)
from a damaged one, and restoring the newest usable one with the damaged ones set aside."""

import glob
import os
import re

import numpy as np
import tensorflow as tf

from zoo.errors import UserError


def restore(checkpoint, path, workdir):
    try:
        checkpoint.restore(path).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        raise UserError(f"checkpoint {path} in {workdir!r} does not match this config ({first_line(error)}): "
                        f"pass a new --workdir")


def first_line(error):
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


_CHECKPOINT_INDEX = re.compile(r"^ckpt-(\d+)\.index$")
DAMAGED_DIR = "damaged"


def checkpoint_paths(directory):
    """The checkpoint prefixes in `directory`, newest (highest step) first, found by their index
    files (not by the `checkpoint` state file, which may itself be damaged)."""
    found = []
    for path in glob.glob(os.path.join(glob.escape(directory), "ckpt-*.index")):
        match = _CHECKPOINT_INDEX.match(os.path.basename(path))
        if match:
            found.append((int(match.group(1)), path[:-len(".index")]))
    return [path for _, path in sorted(found, reverse=True)]


def checkpoint_problem(path):
    """None when every tensor of checkpoint `path` reads back and every float tensor is finite;
    otherwise a short reason ("unreadable (DataLossError: ...)" or "non-finite in <variable>")."""
    try:
        reader = tf.train.load_checkpoint(path)
        for name, dtype in sorted(reader.get_variable_to_dtype_map().items()):
            value = reader.get_tensor(name)
            if dtype.is_floating and not np.all(np.isfinite(value)):
                return f"non-finite values in {name}"
    except Exception as error:  # noqa: BLE001  A damaged file raises anything from IndexError to DataLossError.
        return f"unreadable ({first_line(error)})"
    return None


def last_finite_checkpoint(directory):
    """The newest checkpoint in `directory` that reads back with finite values, or None."""
    return next((path for path in checkpoint_paths(directory) if checkpoint_problem(path) is None), None)


def _set_aside(directory, damaged):
    """Moves damaged checkpoints' files into `directory`/damaged/ and rewrites the state file
    over the checkpoints that remain, so the CheckpointManager continues from the good one."""
    from tensorflow.python.checkpoint import checkpoint_management

    aside = os.path.join(directory, DAMAGED_DIR)
    os.makedirs(aside, exist_ok=True)
    for prefix in damaged:
        for file in glob.glob(glob.escape(prefix) + ".*"):
            os.replace(file, os.path.join(aside, os.path.basename(file)))
    remaining = list(reversed(checkpoint_paths(directory)))  # Oldest first, as the manager keeps them.
    timestamps = [os.path.getmtime(path + ".index") for path in remaining]
    checkpoint_management.update_checkpoint_state_internal(
        directory, remaining[-1], all_model_checkpoint_paths=remaining, save_relative_paths=True,
        all_model_checkpoint_timestamps=timestamps, last_preserved_timestamp=min(timestamps) - 1)
    return aside


def restore_newest_usable(checkpoint, directory, workdir, set_aside=True):
    """Restores the newest checkpoint that reads back with finite values; returns its path (None
    when `directory` holds none). Newer damaged ones are named in a warning and, with
    `set_aside`, moved to damaged/; when none is usable, a one-line UserError names them all."""
    problems = []
    for path in checkpoint_paths(directory):
        problem = checkpoint_problem(path)
        if problem is None:
            restore(checkpoint, path, workdir)
            if problems:
                where = f"; moved to {_set_aside(directory, [bad for bad, _ in problems])}" if set_aside else ""
                named = ", ".join(f"{os.path.basename(bad)} is {why}" for bad, why in problems)
                print(f"warning: {named}: resuming from {os.path.basename(path)} instead{where}", flush=True)
            return path
        problems.append((path, problem))
    if problems:
        named = "; ".join(f"{os.path.basename(bad)} is {why}" for bad, why in problems)
        raise UserError(f"no usable checkpoint in {directory!r} ({named}): pass a new --workdir")
    return None
