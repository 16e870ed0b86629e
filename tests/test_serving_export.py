"""TF Serving compatibility of every registered model's export, checked without the server binary.

Each model is exported once per test session (smoke size, conftest.model_exports) into one export root, as a
deployment would hold them.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from tests import helpers
from zoo import contract, export, registry
from zoo.errors import UserError
from zoo.export import compat, serving_config, warmup
from zoo.models.base import MAX_SERVING_BATCH

MODELS = [name for name in registry.names() if not name.startswith("test_only")]
PREDICT = "tensorflow/serving/predict"


@pytest.fixture(scope="module")
def exports(model_exports):
    """{model name: version dir}, all under one export root (conftest's session-wide exports)."""
    return model_exports


@pytest.mark.parametrize("name", MODELS)
def test_signatures_are_batched_predict_signatures(exports, name):
    """Every signature is a Predict signature (what TF Serving's REST and gRPC Predict call) whose
    inputs and outputs all have a leading batch dimension (TF Serving's batching concatenates
    requests along it and refuses scalars)."""
    version_dir = exports[name]
    methods = compat.method_names(version_dir)
    assert "serving_default" in methods
    assert set(methods.values()) == {PREDICT}, methods
    loaded = tf.saved_model.load(version_dir)
    for key, function in loaded.signatures.items():
        for input_name, spec in function.structured_input_signature[1].items():
            assert spec.shape.rank >= 1 and spec.shape[0] is None, f"{key} input {input_name}: {spec}"
        for output_name, spec in function.structured_outputs.items():
            assert spec.shape.rank >= 1 and spec.shape[0] is None, f"{key} output {output_name}: {spec.shape}"


@pytest.mark.parametrize("name", MODELS)
def test_graph_uses_only_ops_a_stock_tf_serving_build_runs(exports, name):
    ops = compat.graph_ops(exports[name])
    assert {"StatefulPartitionedCall", "ReadVariableOp"} <= ops  # The op list is really read.
    assert compat.unservable_ops(exports[name]) == {}


@pytest.mark.parametrize("name", MODELS)
def test_warmup_file_has_one_request_per_signature_and_replays(exports, name):
    version_dir = exports[name]
    logs = warmup.read(version_dir)
    signatures = [log.predict_log.request.model_spec.signature_name for log in logs]
    assert signatures[0] == "serving_default"
    assert sorted(signatures) == sorted(compat.method_names(version_dir))
    assert all(log.predict_log.request.model_spec.name == name for log in logs)
    results = warmup.replay(tf.saved_model.load(version_dir), logs)
    assert [signature for signature, _ in results] == signatures
    for signature, outputs in results:
        assert outputs and all(value.shape[0] == 1 for value in outputs.values()), (signature, outputs)


class _SeedModel:
    """A model whose serving_default(seed) returns {"images": images_of(seed)}, exported as is."""

    def __init__(self, images_of):
        self.images_of = images_of

    def serving_signatures(self):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="seed")])
        def serving_default(seed):
            return {"images": self.images_of(seed)}

        return {"serving_default": serving_default}

    def interface(self):
        return contract.Interface([contract.Signature(
            "serving_default", [contract.Input("seed", "seed", "int64")], {"images": "images"})])

    def export_info(self):
        return {}


def test_unservable_ops_are_found_and_refused_at_export(tmp_path):
    python_model = _SeedModel(lambda seed: tf.numpy_function(lambda s: s * 2, [seed], tf.int64))
    with pytest.raises(RuntimeError, match="PyFunc .*calls back into Python"):
        export.export_model(python_model, str(tmp_path), "python_model")
    assert os.listdir(tmp_path / "python_model") == []  # No version, no temporary left.


def test_xla_compiled_functions_are_found_and_refused_at_export(tmp_path):
    doubled = tf.function(lambda seed: seed * 2, jit_compile=True)
    with pytest.raises(RuntimeError, match=r"function \S+ \(compiled by XLA.*--xla_cpu_compilation_enabled"):
        export.export_model(_SeedModel(doubled), str(tmp_path), "xla_model")
    assert os.listdir(tmp_path / "xla_model") == []


# Loads every export where `import zoo` fails, the way TF Serving does (graph-mode session loader,
# tensors fed and fetched by their SignatureDef names), replays its warm-up records with only
# TensorFlow and tensorflow-serving-api, and prints a digest of each output.
ZOO_FREE_REPLAY = """
import hashlib, json, sys
sys.modules["zoo"] = None
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
tf.config.experimental.enable_op_determinism()  # As the test process runs (tests/conftest.py).
digests = {}
for version_dir in sys.argv[1:]:
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], version_dir)
        for record in tf.compat.v1.io.tf_record_iterator(version_dir + "/assets.extra/tf_serving_warmup_requests"):
            request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
            signature = meta_graph.signature_def[request.model_spec.signature_name]
            feed = {signature.inputs[k].name: tf.make_ndarray(v) for k, v in request.inputs.items()}
            outputs = session.run({k: v.name for k, v in signature.outputs.items()}, feed)
            for key, value in sorted(outputs.items()):
                # Strings: object arrays, whose tobytes() would be addresses.
                data = repr(value.tolist()).encode() if value.dtype == object else value.tobytes()
                digests[f"{version_dir}:{request.model_spec.signature_name}:{key}"] = hashlib.sha256(data).hexdigest()
print(json.dumps(digests))
"""


@pytest.mark.integration  # a fresh process without zoo
def test_every_export_loads_and_serves_in_a_process_that_cannot_import_zoo(exports):
    import hashlib

    result = subprocess.run([sys.executable, "-c", ZOO_FREE_REPLAY, *exports.values()], check=False, capture_output=True,
                            text=True, timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), cwd="/")
    assert result.returncode == 0, result.stderr[-3000:]
    digests = json.loads(result.stdout.strip().splitlines()[-1])
    expected = {}
    for version_dir in exports.values():
        for signature, outputs in warmup.replay(tf.saved_model.load(version_dir), warmup.read(version_dir)):
            for key, value in outputs.items():
                data = repr(value.tolist()).encode() if value.dtype == object else value.tobytes()
                expected[f"{version_dir}:{signature}:{key}"] = hashlib.sha256(data).hexdigest()
    # Same requests, same bytes: TF Serving's loading path without zoo, and TF2's object loader.
    assert digests == expected


def test_keras_networks_must_not_be_what_the_export_tracks(tmp_path):
    """Why zoo.export tracks the captured variables: a module tracking a Keras network saves a
    SavedModel that TensorFlow's Python loader serves but TF Serving's session loader cannot
    (the variables are never restored). The export check replays through the latter."""
    import keras

    network = keras.Sequential([keras.layers.Dense(2)])
    network.build((None, 3))
    module = tf.Module()
    module.network = network
    module.serve = tf.function(lambda x: {"y": network(x)}, input_signature=[tf.TensorSpec([None, 3], tf.float32,
                                                                                            name="x")])
    tf.saved_model.save(module, str(tmp_path / "1"), signatures={"serving_default": module.serve})
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = "serving_default"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones([1, 3], np.float32)))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    assert tf.saved_model.load(str(tmp_path / "1")).signatures["serving_default"](x=tf.ones([1, 3]))["y"].shape == (1, 2)
    with pytest.raises(tf.errors.FailedPreconditionError, match="Could not find variable"):
        compat.replay_in_session(str(tmp_path / "1"), [log])


@pytest.mark.integration  # TensorFlow's saved_model_cli, a fresh process
def test_saved_model_cli_runs_serving_default(exports, tmp_path):
    saved_model_cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    np.save(tmp_path / "seed.npy", np.array([3, 4], np.int64))
    np.save(tmp_path / "label.npy", np.array([1, 7], np.int64))
    out = tmp_path / "out"
    result = subprocess.run(
        [saved_model_cli, "run", "--dir", exports["cgan"], "--tag_set", "serve", "--signature_def", "serving_default",
         "--inputs", f"seed={tmp_path / 'seed.npy'};label={tmp_path / 'label.npy'}", "--outdir", str(out)],
        check=False, capture_output=True, text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-3000:]
    images = np.load(out / "images.npy")
    direct = tf.saved_model.load(exports["cgan"]).signatures["serving_default"](
        seed=tf.constant([3, 4], tf.int64), label=tf.constant([1, 7], tf.int64))["images"].numpy()
    assert images.dtype == np.uint8 and images.shape == (2, 28, 28, 1)
    np.testing.assert_array_equal(images, direct)


def test_models_config_lists_every_model_for_tf_serving(exports):
    root = os.path.dirname(os.path.dirname(exports["dcgan"]))
    config = model_server_config_pb2.ModelServerConfig()
    with open(os.path.join(root, export.MODELS_CONFIG)) as f:
        text_format.Parse(f.read(), config)
    entries = {model.name: model for model in config.model_config_list.config}
    assert sorted(entries) == sorted(MODELS)
    for name, model in entries.items():
        assert model.base_path == f"/models/{name}" and model.model_platform == "tensorflow"
        assert model.model_version_policy.latest.num_versions == 1


def test_batching_parameters_parse_and_fit_the_signature_limit(exports):
    root = os.path.dirname(os.path.dirname(exports["dcgan"]))
    with open(os.path.join(root, export.BATCHING_FILE)) as f:
        parameters = serving_config.parse_batching_parameters(f.read())
    assert 1 <= parameters.max_batch_size.value <= MAX_SERVING_BATCH
    assert parameters.num_batch_threads.value >= 1 and parameters.HasField("batch_timeout_micros")
    with pytest.raises(text_format.ParseError, match="max_batch_sise"):
        serving_config.parse_batching_parameters("max_batch_sise { value: 8 }")


# ---- models.config: labels and version policies ----------------------------------------------


def _fake_versions(root, name, versions):
    for version in versions:
        os.makedirs(root / name / str(version))
        (root / name / str(version) / "saved_model.pb").write_bytes(b"")


def _entry(root, name):
    config = serving_config.read_models_config(str(root))
    return next(model for model in config.model_config_list.config if model.name == name)


def test_labels_keep_their_versions_served(tmp_path):
    _fake_versions(tmp_path, "gan", [1, 2])
    serving_config.update_models_config(str(tmp_path), "gan", labels={"stable": 1, "canary": 2})
    entry = _entry(tmp_path, "gan")
    assert dict(entry.version_labels) == {"stable": 1, "canary": 2}
    assert list(entry.model_version_policy.specific.versions) == [1, 2]
    # A new version is served too (it is the latest); promoting canary drops version 1.
    _fake_versions(tmp_path, "gan", [3])
    serving_config.update_models_config(str(tmp_path))
    assert list(_entry(tmp_path, "gan").model_version_policy.specific.versions) == [1, 2, 3]
    serving_config.update_models_config(str(tmp_path), "gan", labels={"stable": 2, "canary": 3})
    assert list(_entry(tmp_path, "gan").model_version_policy.specific.versions) == [2, 3]
    serving_config.update_models_config(str(tmp_path), "gan", unlabel=["canary", "stable"])
    assert _entry(tmp_path, "gan").model_version_policy.latest.num_versions == 1


def test_policy_and_base_path_survive_updates_and_removed_models_drop(tmp_path):
    _fake_versions(tmp_path, "a", [1, 2, 3])
    _fake_versions(tmp_path, "b", [1])
    serving_config.update_models_config(str(tmp_path), "a", version_policy="latest:2", base_path="/srv/zoo")
    _fake_versions(tmp_path, "c", [5])
    serving_config.update_models_config(str(tmp_path))
    assert _entry(tmp_path, "a").model_version_policy.latest.num_versions == 2
    assert _entry(tmp_path, "c").base_path == "/srv/zoo/c"
    import shutil

    shutil.rmtree(tmp_path / "b")
    names = [m.name for m in serving_config.update_models_config(str(tmp_path)).model_config_list.config]
    assert names == ["a", "c"]


@pytest.mark.parametrize("kwargs, fragment", [
    ({"labels": {"stable": 9}}, "has no version 9"),
    ({"labels": {"9lives": 1}}, "starting with a letter"),
    ({"unlabel": ["canary"]}, "has no version label 'canary'"),
    ({"labels": {"stable": 1}, "version_policy": "latest:1"}, "would not serve labelled versions [1]"),
    ({"version_policy": "newest"}, "use latest, latest:N, all, or specific"),
])
def test_bad_label_or_policy_is_one_clear_error(tmp_path, kwargs, fragment):
    _fake_versions(tmp_path, "gan", [1, 2])
    with pytest.raises(UserError) as error:
        serving_config.update_models_config(str(tmp_path), "gan", **kwargs)
    assert fragment in str(error.value) and "\n" not in str(error.value)
    assert not os.path.exists(tmp_path / export.MODELS_CONFIG)  # Nothing half-written.


def test_zoo_export_moves_labels_without_exporting(tmp_path):
    _fake_versions(tmp_path, "gan", [1, 2])
    result = helpers.run_binary("export", f"--export_dir={tmp_path}", "--name=gan", "--label=stable=1",
                                "--label=canary=2")
    assert result.returncode == 0, result.stderr
    assert "gan served at specific:1,2, labels canary=2, stable=1" in result.stdout
    assert dict(_entry(tmp_path, "gan").version_labels) == {"stable": 1, "canary": 2}
    helpers.assert_one_line_error(
        helpers.run_binary("export", f"--export_dir={tmp_path}", "--name=gan", "--label=canary"),
        "--label=canary labels the version this run exports")
    helpers.assert_one_line_error(
        helpers.run_binary("export", f"--export_dir={tmp_path}", "--name=gan", "--label=stable=7"),
        "model 'gan' has no version 7")
    helpers.assert_one_line_error(
        helpers.run_binary("export", f"--export_dir={tmp_path / 'none'}", "--name=gan", "--label=stable=1"),
        "is not a directory")
    helpers.assert_one_line_error(
        helpers.run_binary("export", f"--export_dir={tmp_path}", "--name=gan", "--label=Stable!"), "'Stable!'")


# ---- the deployment files ------------------------------------------------------------------------


def test_docker_compose_serves_the_files_zoo_export_writes():
    with open(os.path.join(helpers.REPO, "docker-compose.yml")) as f:
        compose = yaml.safe_load(f)
    serving = compose["services"]["serving"]
    assert "tensorflow/serving" in serving["image"] and serving["entrypoint"] == ["tensorflow_model_server"]
    flags = dict(flag.lstrip("-").split("=", 1) for flag in serving["command"])
    assert flags["port"] == "8500" and flags["rest_api_port"] == "8501"
    assert {"8500:8500", "8501:8501"} <= set(serving["ports"])
    mounts = dict(volume.rsplit(":", 1)[0].split(":") for volume in serving["volumes"])
    assert mounts["./exports"] == serving_config.DEFAULT_BASE_PATH
    assert flags["model_config_file"] == f"/models/{export.MODELS_CONFIG}"
    assert flags["batching_parameters_file"] == f"/models/{export.BATCHING_FILE}"
    assert flags["enable_batching"] == "true" and flags["enable_model_warmup"] == "true"
    monitoring_host = next(host for host, inside in mounts.items() if inside == flags["monitoring_config_file"])
    with open(os.path.join(helpers.REPO, monitoring_host)) as f:
        monitoring = serving_config.parse_monitoring_config(f.read())
    assert monitoring.prometheus_config.enable
    prometheus_mount = compose["services"]["prometheus"]["volumes"][0].split(":")[0]
    with open(os.path.join(helpers.REPO, prometheus_mount)) as f:
        scrape = yaml.safe_load(f)["scrape_configs"][0]
    assert scrape["metrics_path"] == monitoring.prometheus_config.path
    assert scrape["static_configs"][0]["targets"] == [f"serving:{flags['rest_api_port']}"]
