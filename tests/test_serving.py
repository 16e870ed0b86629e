"""Serving: the gRPC and REST clients against the local TF Serving stand-ins: same bytes as the
SavedModel, versions, labels, metadata, status, and one-line errors for every failure."""

import base64
import http.client
import http.server
import json
import socket
import threading

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from tests import model_checks
from zoo import export, serving
from zoo.errors import UserError
from zoo.serving import local_server
from zoo.serving.client import ServingError

TRANSPORTS = ["grpc", "rest-row", "rest-columnar"]
PROTOCOLS = ["grpc", "rest"]
# Strings for the string model: not UTF-8, empty, and UTF-8 text.
TEXTS = [b"\x00\xffbinary", b"", "h\u00e9llo w\u00f6rld".encode("utf-8")]


class _StringModel(tf.Module):
    """string -> string signature; `echo_bytes` ends in _bytes, so TF Serving's REST API writes it as
    {"b64": ...}, while `upper` is written as text."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        return {"echo_bytes": tf.strings.join([text, b"\xfe"]), "upper": tf.strings.upper(text),
                "length": tf.strings.length(text)}


def _perturb(model):
    """Moves the generator's first kernel, so a second export draws different images."""
    kernel = model.sampling_generator.trainable_variables[0]
    kernel.assign_add(tf.random.stateless_normal(kernel.shape, seed=[7, 7]) * 0.5)


def _write_config(root, entries):
    config = model_server_config_pb2.ModelServerConfig()
    for name, policy, labels in entries:
        entry = config.model_config_list.config.add(name=name, base_path=f"/models/{name}", model_platform="tensorflow")
        if policy:
            entry.model_version_policy.specific.versions.extend(policy)
        for label, version in labels.items():
            entry.version_labels[label] = version
    (root / "models.config").write_text(text_format.MessageToString(config))


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """dcgan versions 1 and 2 (different weights), cgan 1, strings 1, and a models.config serving
    both dcgan versions with labels stable -> 1, canary -> 2."""
    root = tmp_path_factory.mktemp("exports")
    dcgan = model_checks.build("dcgan")
    paths = {("dcgan", 1): export.export_model(dcgan, str(root), "dcgan")}
    _perturb(dcgan)
    paths[("dcgan", 2)] = export.export_model(dcgan, str(root), "dcgan")
    paths[("cgan", 1)] = export.export_model(model_checks.build("cgan"), str(root), "cgan")
    strings = _StringModel()
    paths[("strings", 1)] = str(root / "strings" / "1")
    tf.saved_model.save(strings, paths[("strings", 1)], signatures={"serving_default": strings.serve})
    _write_config(root, [("dcgan", [1, 2], {"stable": 1, "canary": 2}), ("cgan", None, {}), ("strings", None, {})])
    return root, paths


@pytest.fixture(scope="module")
def servers(exports):
    """Both local servers over one LocalModels: {"grpc": port, "rest": port}."""
    # strings/1 is a hand-written SavedModel, not a zoo export (StringUpper is no op of zoo's own exports).
    models = local_server.LocalModels(str(exports[0]), trust_export=True)
    grpc_server, grpc_port = local_server.start_grpc_server(models)
    rest_server, rest_port = local_server.start_rest_server(models)
    with grpc_server, rest_server:
        yield {"grpc": grpc_port, "rest": rest_port}


def _direct(exports, model, version, signature="serving_default", **inputs):
    """What calling the SavedModel's signature in this process gives."""
    loaded = tf.saved_model.load(exports[1][(model, version)])
    return {key: value.numpy() for key, value in loaded.signatures[signature](**inputs).items()}


def _predict(servers, transport, model, inputs, signature="serving_default", **spec):
    protocol, _, format = transport.partition("-")
    with serving.connect(f"127.0.0.1:{servers[protocol]}", model, protocol, **spec) as client:
        return client.predict(inputs, signature=signature, **({"format": format} if format else {}))


def _one_line(error, *fragments):
    message = str(error)
    assert "\n" not in message and "Traceback" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _http(port, method, path, body=None):
    """(status, decoded JSON) of one raw request."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=None if body is None else json.dumps(body))
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_same_seed_same_images_as_the_savedmodel(exports, servers, transport):
    seeds = [0, 1, 2, 0]
    images = _predict(servers, transport, "dcgan", {"seed": seeds})["images"]
    expected = _direct(exports, "dcgan", 2, seed=tf.constant(seeds, tf.int64))["images"]
    assert images.dtype == np.uint8 and images.shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(images, expected)
    z = np.random.default_rng(0).standard_normal([3, 16]).astype(np.float32)
    from_latent = _predict(servers, transport, "dcgan", {"z": z}, signature="from_latent")["images"]
    np.testing.assert_array_equal(from_latent, _direct(exports, "dcgan", 2, "from_latent", z=tf.constant(z))["images"])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_conditional_labels_reach_the_model(exports, servers, transport):
    seeds, labels = [5, 5, 6], [0, 9, 3]
    images = _predict(servers, transport, "cgan", {"seed": seeds, "label": labels})["images"]
    expected = _direct(exports, "cgan", 1, seed=tf.constant(seeds, tf.int64), label=tf.constant(labels, tf.int64))
    np.testing.assert_array_equal(images, expected["images"])
    assert not np.array_equal(images[0], images[1])  # Same seed, other label: another image.


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_versions_and_labels_select_the_export(exports, servers, protocol):
    seeds = tf.constant([3, 4], tf.int64)
    first, second = (_direct(exports, "dcgan", version, seed=seeds)["images"] for version in (1, 2))
    assert not np.array_equal(first, second)
    for spec, expected in [({"version": 1}, first), ({"version": 2}, second), ({"label": "stable"}, first),
                           ({"label": "canary"}, second), ({}, second)]:
        images = _predict(servers, protocol, "dcgan", {"seed": [3, 4]}, **spec)["images"]
        np.testing.assert_array_equal(images, expected, err_msg=str(spec))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_metadata_lists_the_signatures_and_status_the_versions(servers, protocol):
    host = f"127.0.0.1:{servers[protocol]}"
    with serving.connect(host, "dcgan", protocol) as client:
        signatures = client.metadata()
        assert {"serving_default", "from_latent"} <= set(signatures)
        default = signatures["serving_default"]
        assert default["method_name"] == "tensorflow/serving/predict"
        assert default["inputs"]["seed"]["dtype"] == "DT_INT64"
        assert default["outputs"]["images"]["dtype"] == "DT_UINT8"
        assert [int(dim["size"]) for dim in default["outputs"]["images"]["tensor_shape"]["dim"]] == [-1, 28, 28, 1]
        available = {"state": "AVAILABLE", "error_code": "OK", "error_message": ""}
        assert client.status() == {1: available, 2: available}
    assert serving.connect(host, "dcgan", protocol, label="canary").status() == {2: available}
    assert serving.connect(host, "cgan", protocol).status() == {1: available}
    assert set(serving.connect(host, "cgan", protocol).metadata()["serving_default"]["inputs"]) == {"seed", "label"}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_refused_request_names_the_input(servers, transport):
    protocol = transport.partition("-")[0]
    with pytest.raises(ServingError) as error:
        _predict(servers, transport, "cgan", {"seed": [0, 1], "label": [3, 99]})
    _one_line(error.value, f"{protocol} 127.0.0.1:{servers[protocol]} model 'cgan' latest version",
              "refused the request: label: every label must be between 0 and 9")
    with pytest.raises(ServingError) as error:
        _predict(servers, transport, "dcgan", {"seed": np.arange(1025)}, version=1)
    _one_line(error.value, "model 'dcgan' version 1", "seed: batch size must be between 0 and 1024")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unknown_model_version_and_label(servers, protocol):
    host = f"127.0.0.1:{servers[protocol]}"
    with pytest.raises(ServingError) as error:
        serving.connect(host, "nope", protocol).predict({"seed": [0]})
    _one_line(error.value, f"{protocol} {host} model 'nope' latest version: model not found", "Latest(nope)")
    with pytest.raises(ServingError) as error:
        serving.connect(host, "dcgan", protocol, version=7).predict({"seed": [0]})
    _one_line(error.value, f"{host} model 'dcgan' version 7: model or version not found", "Specific(dcgan, 7)")
    with pytest.raises(ServingError) as error:
        serving.connect(host, "dcgan", protocol, label="prod").status()
    _one_line(error.value, f"{host} model 'dcgan' label 'prod': label not found")
    with pytest.raises(ServingError) as error:
        serving.connect(host, "dcgan", protocol).predict({"seed": [0]}, signature="decode")
    _one_line(error.value, "no signature 'decode'; the model has ['from_latent', 'serving_default']")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_unreachable_server_is_one_line(protocol):
    port = _free_port()
    with pytest.raises(ServingError) as error:
        serving.connect(f"127.0.0.1:{port}", "dcgan", protocol, version=3, timeout=10).predict({"seed": [0]})
    _one_line(error.value, f"{protocol} 127.0.0.1:{port} model 'dcgan' version 3: server unreachable")


class _BrokenServer(http.server.BaseHTTPRequestHandler):
    """Answers metadata like TF Serving and every predict with `server.reply` (status, body bytes)."""

    def do_GET(self):
        self._send(200, json.dumps(self.server.metadata).encode())

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(*self.server.reply)

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("reply, fragment", [
    ((200, b"<html>busy</html>"), "malformed response: not JSON ('<html>busy</html>')"),
    ((200, b'{"outputs": []}'), "malformed response: no 'predictions' key (keys ['outputs'])"),
    ((200, b'{"predictions": "abc"}'), "malformed response: 'predictions' is not a list"),
    ((200, b'{"predictions": [[1, 2, 3]]}'), "malformed response: output 'images' has shape [1, 3]"),
    ((200, b'{"predictions": [[[[256]]]]}'), "malformed response: output 'images': values out of range"),
    ((200, b'{"predictions": [[1], [1, 2]]}'), "malformed response: output 'images': lists nested unevenly"),
    ((502, b"<html>bad gateway</html>"), "HTTP 502 (<html>bad gateway</html>)"),
])
def test_a_malformed_response_is_one_line(servers, reply, fragment):
    _, metadata = _http(servers["rest"], "GET", "/v1/models/dcgan/versions/1/metadata")
    broken = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BrokenServer)
    broken.metadata, broken.reply = metadata, reply
    thread = threading.Thread(target=broken.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        host = f"127.0.0.1:{broken.server_port}"
        with pytest.raises(ServingError) as error:
            serving.connect(host, "dcgan", "rest", version=1).predict({"seed": [0]}, format="row")
        _one_line(error.value, f"rest {host} model 'dcgan' version 1: {fragment}")
    finally:
        broken.shutdown()
        broken.server_close()


def test_rest_strings_travel_as_b64_and_text(exports, servers):
    expected = _direct(exports, "strings", 1, text=tf.constant(TEXTS))
    instances = [{"b64": base64.b64encode(text).decode()} for text in TEXTS]
    status, answer = _http(servers["rest"], "POST", "/v1/models/strings:predict", {"instances": instances})
    assert status == 200, answer
    for row, echo, upper in zip(answer["predictions"], expected["echo_bytes"], expected["upper"]):
        assert row["echo_bytes"] == {"b64": base64.b64encode(echo).decode()}  # _bytes: base64.
        assert row["upper"] == upper.decode("utf-8", "replace")  # Other strings: text.
    assert [row["length"] for row in answer["predictions"]] == expected["length"].tolist()
    for transport in TRANSPORTS:
        outputs = _predict(servers, transport, "strings", {"text": TEXTS})
        assert outputs["echo_bytes"].dtype == object and outputs["echo_bytes"].tolist() == [t + b"\xfe" for t in TEXTS]
        assert outputs["length"].dtype == np.int32 and outputs["length"].tolist() == [8, 0, 13]
    # Text (not b64) in: UTF-8 strings; the non-UTF-8 echo survives only as b64.
    outputs = _predict(servers, "rest-columnar", "strings", {"text": ["h\u00e9llo", "abc"]})
    assert outputs["upper"].tolist() == ["H\u00e9LLO".encode(), b"ABC"]


def test_rest_server_follows_tf_serving_request_rules(servers):
    port = servers["rest"]
    status, answer = _http(port, "POST", "/v1/models/cgan:predict", {"instances": [1, 2], "inputs": {}})
    assert status == 400 and "only one of 'inputs' or 'instances'" in answer["error"]
    status, answer = _http(port, "POST", "/v1/models/cgan:predict", {"instances": [1, 2]})
    assert status == 400 and "instances is a plain list" in answer["error"]
    status, answer = _http(port, "POST", "/v1/models/cgan:predict", {"instances": [{"seed": 1.5, "label": 1}]})
    assert status == 400 and "input seed" in answer["error"] and "DT_INT64" in answer["error"]
    status, answer = _http(port, "POST", "/v1/models/nope:predict", {"instances": [1]})
    assert (status, answer) == (404, {"error": "Servable not found for request: Latest(nope)"})
    status, answer = _http(port, "POST", "/v1/models/dcgan/labels/prod:predict", {"instances": [1]})
    assert (status, answer) == (400, {"error": "Unrecognized servable version label: prod"})
    status, answer = _http(port, "POST", "/v1/models/dcgan/versions/1:predict", {"inputs": [0, 1]})
    assert status == 200 and np.asarray(answer["outputs"]).shape == (2, 28, 28, 1)  # One input, one output: bare.
    status, answer = _http(port, "GET", "/v1/models/dcgan/labels/canary")
    assert answer == {"model_version_status": [
        {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    status, answer = _http(port, "GET", "/v1/models/dcgan/metadata")
    assert answer["model_spec"] == {"name": "dcgan", "signature_name": "", "version": "2"}
    assert "serving_default" in answer["metadata"]["signature_def"]["signature_def"]


def test_grpc_output_filter_and_resolved_model_spec(servers):
    with grpc.insecure_channel(f"127.0.0.1:{servers['grpc']}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest(output_filter=["length"])
        request.model_spec.name = "strings"
        request.inputs["text"].CopyFrom(tf.make_tensor_proto(TEXTS, tf.string))
        response = stub.Predict(request, timeout=30)
        assert list(response.outputs) == ["length"] and tf.make_ndarray(response.outputs["length"]).tolist() == [8, 0, 13]
        assert (response.model_spec.name, response.model_spec.version.value) == ("strings", 1)
        assert response.model_spec.signature_name == "serving_default"
        request.output_filter[:] = ["missing"]
        with pytest.raises(grpc.RpcError) as error:
            stub.Predict(request, timeout=30)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "output tensor alias not found in signature: missing" in error.value.details()


def test_local_models_policies_and_labels(exports, tmp_path):
    (tmp_path / "dcgan").symlink_to(exports[0] / "dcgan")
    models = local_server.LocalModels(str(tmp_path))  # No models.config: every model, latest version.
    assert models.names() == ["dcgan"] and models.versions("dcgan") == [2] and models.resolve("dcgan") == 2
    with pytest.raises(local_server.StatusError) as error:
        models.resolve("dcgan", version=1)
    assert error.value.code == "NOT_FOUND"
    _write_config(tmp_path, [("dcgan", None, {"stable": 1})])  # Default policy: latest only.
    with pytest.raises(UserError, match="label 'stable' of model 'dcgan' points at version 1, which is not served"):
        local_server.LocalModels(str(tmp_path))
    (tmp_path / "models.config").write_text(
        'model_config_list { config { name: "gen" base_path: "/elsewhere/dcgan/" '
        "model_version_policy { latest { num_versions: 2 } } } }")
    models = local_server.LocalModels(str(tmp_path))  # base_path's last component, under the root.
    assert models.names() == ["gen"] and models.versions("gen") == [1, 2]


def test_client_argument_errors_are_one_line(servers):
    host = f"127.0.0.1:{servers['rest']}"
    with pytest.raises(ServingError) as error:
        serving.connect(host, "dcgan", "rest", version=1, label="stable")
    _one_line(error.value, f"rest {host} model 'dcgan' version 1: pass a version or a label, not both")
    with pytest.raises(ServingError, match="not host:port"):
        serving.connect("http://localhost", "dcgan")
    client = serving.connect(host, "cgan", "rest")
    with pytest.raises(ServingError) as error:
        client.predict({"seed": [0, 1]})
    _one_line(error.value, "takes inputs ['label', 'seed']; missing ['label'], unexpected []")
    with pytest.raises(ServingError) as error:
        client.predict({"seed": [0, 1], "label": [2]}, format="row")
    _one_line(error.value, "format='row' needs every input to have the same, non-zero first dimension")
    with pytest.raises(ServingError) as error:
        client.predict({"seed": [0.5], "label": [2]})
    _one_line(error.value, "input 'seed' must be DT_INT64, got float64 values")
