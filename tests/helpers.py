"""Shared test helpers: tiny data, smoke configs, runs of the commands (in this process or a new one)."""

import contextlib
import gzip
import importlib
import io
import os
import re
import struct
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_idx(path, array, compress=True):
    """Writes a uint8 array as an IDX file (magic 0x0000080N, big-endian sizes), gzipped by default."""
    array = np.asarray(array, np.uint8)
    header = struct.pack(">I", 0x800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with open(path, "wb") as f:
        f.write(gzip.compress(header + array.tobytes()) if compress else header + array.tobytes())


def write_tiny_fashion_mnist(directory, train=256, test=64):
    subset = np.load(os.path.join(REPO, "zoo", "data", "fashion_mnist_subset.npz"))
    rng = np.random.default_rng(0)
    for split, prefix, count in (("train", "train", train), ("test", "t10k", test)):
        index = rng.permutation(len(subset[f"{split}_labels"]))[:count]
        write_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz"), subset[f"{split}_images"][index])
        write_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz"), subset[f"{split}_labels"][index])
    return str(directory)


RGB_SHAPE = (16, 16, 3)


def rgb_picture(rng, label):
    """A 16x16 RGB picture whose colour and shape depend on its class (0, 1 or 2)."""
    size = RGB_SHAPE[0]
    image = rng.integers(0, 40, RGB_SHAPE).astype(np.uint8)
    top, left = rng.integers(0, 6, 2)
    image[top:top + 8 + label, left:left + 8, label] = 200 + rng.integers(0, 55)
    return image[:size, :size]


def write_rgb_folder(root, classes=3, per_class=12, seed=0):
    """A labelled folder dataset of RGB PNGs (one subfolder per class); returns its dataset name."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label in range(classes):
        os.makedirs(os.path.join(root, f"class_{label}"), exist_ok=True)
        for index in range(per_class):
            Image.fromarray(rgb_picture(rng, label)).save(os.path.join(root, f"class_{label}", f"{index}.png"))
    return f"folder:{root}"


def smoke_config(model, data_dir, **overrides):
    """The model's fashion_mnist config in smoke mode, reading `data_dir`."""
    from zoo import config as config_lib

    config = config_lib.load(f"{model}_fashion_mnist", smoke=True)
    config.data_dir = data_dir
    for key, value in overrides.items():
        config[key] = value
    return config


# The installed name of each command module (setup.cfg's console_scripts).
COMMANDS = {"train": "zoo-train", "export": "zoo-export", "sample": "zoo-sample", "evaluate": "zoo-eval",
            "tune": "zoo-tune", "ship": "zoo-ship", "reproduce": "zoo-reproduce", "play": "zoo-play"}


def run_binary(name, *args, env=None, timeout=300, new_process=False):
    """Runs the command `experiments.<name>` with `args` from the repo root, as a user would, and
    returns a CompletedProcess (returncode, stdout, stderr). In this process by default: each command
    parses its own flags (experiments.common), so `run(argv)` is the command itself without
    Python and TensorFlow starting again; `new_process=True` runs `python -m experiments.<name>`
    (signals, resource limits, a clean interpreter)."""
    if new_process:
        full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
        return subprocess.run(
            [sys.executable, "-m", f"experiments.{name}", *args],
            cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout,
        )
    command = importlib.import_module(f"experiments.{name}")
    out, err = io.StringIO(), io.StringIO()
    with _environment(env or {}), _cwd(REPO), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = command.run([COMMANDS.get(name, name), *args])
    return subprocess.CompletedProcess([COMMANDS.get(name, name), *args], status, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _environment(values):
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update({key: str(value) for key, value in values.items()})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _cwd(path):
    saved = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(saved)


def assert_one_line_error(result, *fragments):
    """A user error: non-zero exit, no traceback, one line on stderr containing `fragments`."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if re.match(r"[\w.-]+: error: ", line)]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def run_python(code, env=None, timeout=300):
    """Runs `python -c code` from the repo root (for set-ups a binary cannot make, such as resource
    limits); returns the CompletedProcess."""
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def registered_models():
    """Every registered model a user can train (not the registry's test-only entries)."""
    from zoo import registry

    return [name for name in registry.names() if not name.startswith("test_only")]


def build_untrained(name):
    """`name` at its smoke config's size, built for serving (byte windows for text models)."""
    from tests import model_checks, text_checks
    from zoo import config as config_lib

    config = config_lib.load(config_lib.default_config_name(name, "fashion_mnist"), smoke=True)
    if config.dataset == "fortunes":  # Text models: byte windows instead of images.
        return text_checks.build(name)
    return model_checks.build_from_config(name)
