"""Exports: TF Serving layout, signatures and method names, zoo-free loading, determinism, atomicity."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tests import helpers, model_checks
from zoo import export
from zoo.errors import UserError
from zoo.export import saved_model

# Loads a SavedModel in a process where `import zoo` fails, and prints a digest of its images.
ZOO_FREE_SAMPLER = """
import hashlib, sys
sys.modules["zoo"] = None  # Any attempt to import zoo now raises ImportError.
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
images = loaded.signatures["serving_default"](seed=tf.constant([0, 1, 2, 3], tf.int64))["images"].numpy()
print(images.dtype, images.shape, hashlib.sha256(images.tobytes()).hexdigest())
"""


@pytest.fixture(scope="module")
def dcgan_model():
    return model_checks.build("dcgan")


def test_layout_versions_and_metadata(dcgan_model, tmp_path):
    first = export.export_model(dcgan_model, str(tmp_path), "dcgan_fashion_mnist", {"step": 7})
    second = export.export_model(dcgan_model, str(tmp_path), "dcgan_fashion_mnist")
    assert first == str(tmp_path / "dcgan_fashion_mnist" / "1") and second.endswith("/2")
    assert sorted(os.listdir(tmp_path / "dcgan_fashion_mnist")) == ["1", "2"]  # No temporaries left.
    assert {"saved_model.pb", "variables", "assets.extra"} <= set(os.listdir(first))
    info = json.load(open(os.path.join(first, "assets.extra", "zoo_export.json")))
    assert info["step"] == 7 and info["signatures"] == ["from_latent", "serving_default"]
    assert export.resolve_version_dir(str(tmp_path / "dcgan_fashion_mnist")) == second
    assert export.resolve_version_dir(str(tmp_path / "dcgan_fashion_mnist"), 1) == first
    with pytest.raises(UserError, match=r"version 5 not found .* available versions: \[1, 2\]"):
        export.resolve_version_dir(str(tmp_path / "dcgan_fashion_mnist"), 5)
    with pytest.raises(UserError, match="already exists; versions are immutable"):
        export.export_model(dcgan_model, str(tmp_path), "dcgan_fashion_mnist", version=2)


def test_signatures_and_method_names_are_tf_serving_predict(dcgan_model, tmp_path):
    path = export.export_model(dcgan_model, str(tmp_path), "m")
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(open(os.path.join(path, "saved_model.pb"), "rb").read())
    signatures = proto.meta_graphs[0].signature_def
    assert set(signatures) >= {"serving_default", "from_latent"}
    assert all(signatures[name].method_name == "tensorflow/serving/predict" for name in ("serving_default", "from_latent"))
    seed = signatures["serving_default"].inputs["seed"]
    assert seed.dtype == tf.int64.as_datatype_enum and [d.size for d in seed.tensor_shape.dim] == [-1]
    images = signatures["serving_default"].outputs["images"]
    assert images.dtype == tf.uint8.as_datatype_enum
    assert [d.size for d in images.tensor_shape.dim] == [-1, 28, 28, 1]
    assert [d.size for d in signatures["from_latent"].inputs["z"].tensor_shape.dim] == [-1, 16]
    # Only the generator is exported: no discriminator or optimizer variables.
    names = [name for name, _ in tf.train.list_variables(os.path.join(path, "variables", "variables"))]
    assert not any("discriminator" in name or "optimizer" in name for name in names), names


@pytest.mark.integration  # fresh processes without zoo
def test_same_seed_same_bytes_in_processes_that_cannot_import_zoo(dcgan_model, tmp_path):
    path = export.export_model(dcgan_model, str(tmp_path), "m")
    digests = []
    for _ in range(2):
        result = subprocess.run([sys.executable, "-c", ZOO_FREE_SAMPLER, path], capture_output=True, text=True,
                                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=120)
        assert result.returncode == 0, result.stderr
        digests.append(result.stdout.strip())
    local = tf.saved_model.load(path).signatures["serving_default"](seed=tf.constant([0, 1, 2, 3], tf.int64))["images"]
    expected = f"uint8 (4, 28, 28, 1) {hashlib.sha256(local.numpy().tobytes()).hexdigest()}"
    assert digests == [expected, expected]


def test_reloaded_export_matches_the_model(dcgan_model, tmp_path):
    path = export.export_model(dcgan_model, str(tmp_path), "m")
    seeds = tf.constant([5, 6], tf.int64)
    direct = dcgan_model.serving_signatures()["serving_default"](seeds)["images"].numpy()
    served = tf.saved_model.load(path).signatures["serving_default"](seed=seeds)["images"].numpy()
    np.testing.assert_array_equal(direct, served)


def test_a_failed_export_leaves_no_version(dcgan_model, tmp_path, monkeypatch):
    def broken_check(path, signatures):
        raise RuntimeError("simulated crash after writing")

    monkeypatch.setattr(saved_model, "_check_reload", broken_check)
    with pytest.raises(RuntimeError, match="simulated crash"):
        export.export_model(dcgan_model, str(tmp_path), "m")
    assert os.listdir(tmp_path / "m") == []


def test_sample_binary_writes_a_grid_from_the_savedmodel(dcgan_model, tmp_path):
    export.export_model(dcgan_model, str(tmp_path), "m")
    out = tmp_path / "grid.png"
    result = helpers.run_binary("sample", f"--export={tmp_path / 'm'}", "--num=16", "--seed=3", f"--out={out}")
    assert result.returncode == 0, result.stderr
    assert "16 images" in result.stdout
    from PIL import Image

    grid = np.asarray(Image.open(out))
    assert grid.shape == (4 * 30 + 2, 4 * 30 + 2)  # 4x4 tiles of 28 px with 2 px padding.
    result = helpers.run_binary("sample", f"--export={tmp_path / 'm'}", "--version=9", f"--out={out}")
    helpers.assert_one_line_error(result, "version 9 not found")
