"""Against a real tensorflow_model_server, when one is on PATH (it cannot be installed on the machines
this project is developed on; the tests there use zoo.serving.local_server instead)."""

import os
import shutil
import socket
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

from tests import model_checks
from zoo import export, serving
from zoo.serving.client import ServingError

BINARY = shutil.which("tensorflow_model_server")
pytestmark = [pytest.mark.integration, pytest.mark.skipif(
    BINARY is None, reason="tensorflow_model_server is not on PATH (TF Serving's binary; install it or run inside "
                           "the tensorflow/serving image to run this test)")]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real server with zoo's models.config, batching file and warm-up, over dcgan and cgan."""
    root = tmp_path_factory.mktemp("exports")
    dcgan = export.export_model(model_checks.build("dcgan"), str(root), "dcgan")
    cgan = export.export_model(model_checks.build("cgan"), str(root), "cgan")
    export.update_models_config(str(root), "dcgan", labels={"stable": 1}, base_path=str(root))
    grpc_port, rest_port = _free_port(), _free_port()
    process = subprocess.Popen(
        [BINARY, f"--port={grpc_port}", f"--rest_api_port={rest_port}",
         f"--model_config_file={os.path.join(root, export.MODELS_CONFIG)}",
         "--allow_version_labels_for_unavailable_models=true", "--enable_model_warmup=true", "--enable_batching=true",
         f"--batching_parameters_file={os.path.join(root, export.BATCHING_FILE)}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                statuses = [serving.connect(f"127.0.0.1:{rest_port}", name, "rest", timeout=5).status()
                            for name in ("dcgan", "cgan")]
                if all(any(s["state"] == "AVAILABLE" for s in status.values()) for status in statuses):
                    break
            except ServingError:
                pass
            if process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"tensorflow_model_server did not come up:\n{process.stdout.read()[-3000:]}")
            time.sleep(1)
        yield {"grpc": grpc_port, "rest": rest_port, "dcgan": dcgan, "cgan": cgan}
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize("protocol, format", [("grpc", None), ("rest", "row"), ("rest", "columnar")])
def test_real_server_serves_the_same_images(server, protocol, format):
    client = serving.connect(f"127.0.0.1:{server[protocol]}", "dcgan", protocol, label="stable")
    images = client.predict({"seed": [0, 1, 0]}, **({"format": format} if format else {}))["images"]
    direct = tf.saved_model.load(server["dcgan"]).signatures["serving_default"](
        seed=tf.constant([0, 1, 0], tf.int64))["images"].numpy()
    np.testing.assert_array_equal(images, direct)


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_real_server_refuses_a_bad_label_naming_the_input(server, protocol):
    client = serving.connect(f"127.0.0.1:{server[protocol]}", "cgan", protocol)
    with pytest.raises(ServingError, match="label"):
        client.predict({"seed": [0], "label": [99]})
