"""Test set-up: two logical CPU devices (for MirroredStrategy) and deterministic ops; under
pytest-xdist (`make test` runs one worker per core) each worker computes with one intra-op thread,
so the workers share the cores instead of oversubscribing them."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "ZOO_CACHE_DIR" not in os.environ:  # Reference statistics are cached per test session.
    import tempfile

    os.environ["ZOO_CACHE_DIR"] = tempfile.mkdtemp(prefix="zoo-test-cache-")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(_cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
tf.config.experimental.enable_op_determinism()
if os.environ.get("PYTEST_XDIST_WORKER"):
    tf.config.threading.set_intra_op_parallelism_threads(1)


@pytest.fixture(scope="session")
def tiny_fashion_mnist(tmp_path_factory):
    """A data_dir of 256 train / 64 test real Fashion-MNIST images as IDX files (from the shipped subset)."""
    from tests import helpers

    return helpers.write_tiny_fashion_mnist(tmp_path_factory.mktemp("fashion_mnist"))


@pytest.fixture(scope="session")
def rgb_folder(tmp_path_factory):
    """folder:<root>: a user's 16x16 RGB dataset of 3 classes x 12 PNGs (class subfolders)."""
    from tests import helpers

    return helpers.write_rgb_folder(str(tmp_path_factory.mktemp("rgb")))


@pytest.fixture(scope="session")
def model_exports(tmp_path_factory, worker_id):
    """{model name: version dir}: every registered model at smoke size, untrained, exported once per
    test session into one export root, as a deployment holds them (TF Serving's models.config and
    batching parameters beside them). Read-only: a test that changes an export copies it first.
    Under pytest-xdist the workers share one build in the run's common temporary directory: each
    model is exported by the first worker to reach it (a lock per model; workers walk the models
    in different orders, so two that need the fixture at once build it together), and the serving
    files are written once all are there."""
    import contextlib
    import fcntl
    import json

    from tests import helpers
    from zoo import export
    from zoo.export import serving_config

    names = helpers.registered_models()
    if worker_id == "master":  # Not under xdist.
        root = tmp_path_factory.mktemp("model_exports")
        return {name: export.export_model(helpers.build_untrained(name), str(root), name) for name in names}

    shared = tmp_path_factory.getbasetemp().parent  # Common to the workers of this run.
    root = shared / "model_exports"
    root.mkdir(exist_ok=True)

    @contextlib.contextmanager
    def locked(path):
        with open(path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    worker = int(worker_id.removeprefix("gw") or 0)
    paths = {}
    for name in (names if worker % 2 == 0 else names[::-1]):
        done = shared / f"model_exports.{name}.json"
        with locked(shared / f"model_exports.{name}.lock"):
            if not done.exists():
                path = export.export_model(helpers.build_untrained(name), str(root), name, serving_files=False)
                done.write_text(json.dumps(path))
            paths[name] = json.loads(done.read_text())
    with locked(shared / "model_exports.lock"):
        if not (root / "models.config").exists():
            serving_config.update_models_config(str(root))
            serving_config.write_batching_parameters(str(root))
    return paths
