"""Test set-up: two logical CPU devices (for MirroredStrategy) and deterministic ops."""

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
def model_exports(tmp_path_factory):
    """{model name: version dir}: every registered model at smoke size, untrained, exported once per
    test session into one export root, as a deployment holds them (TF Serving's models.config and
    batching parameters beside them). Read-only: a test that changes an export copies it first."""
    from tests import helpers
    from zoo import export

    root = tmp_path_factory.mktemp("model_exports")
    return {name: export.export_model(helpers.build_untrained(name), str(root), name)
            for name in helpers.registered_models()}
