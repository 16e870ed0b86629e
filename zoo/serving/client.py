"""Clients for a running TF Serving (or a server speaking its APIs) that return numpy arrays.

    from zoo import serving
    client = serving.connect("localhost:8500", "dcgan_fashion_mnist")              # gRPC
    client = serving.connect("localhost:8501", "dcgan_fashion_mnist", "rest", label="stable")
    images = client.predict({"seed": [0, 1, 2]})["images"]                         # uint8 [3, 28, 28, 1]

Both clients first fetch the model's signatures (GetModelMetadata), once per client, and use them
to encode inputs with the signature's dtypes and to decode outputs: images come back uint8 and
strings as `bytes` objects, whatever the wire format. `RestClient` needs only the standard library
and numpy; `GrpcClient` needs tensorflow and tensorflow-serving-api.

Every failure a user can cause or meet (server unreachable, unknown model, version or label, a
request the model refuses, a response that is not what TF Serving sends) raises `ServingError`
(a `UserError`) with one line naming the protocol, host:port, model and version or label, e.g.
`grpc localhost:8500 model 'dcgan' version 3: model or version not found (Servable not found ...)`.
"""

import base64
import contextlib
import gc
import http.client
import json
import re
import urllib.parse

import numpy as np

from zoo.errors import UserError

DEFAULT_TIMEOUT = 30.0
PROTOCOLS = ("grpc", "rest")
# Large enough for 1,024 images or long texts; gRPC's default receive limit is 4 MiB.
MAX_GRPC_MESSAGE_BYTES = 64 * 1024 * 1024

# TensorFlow's DataType names (types.proto) to numpy dtypes; strings are object arrays of bytes.
NUMPY_DTYPES = {
    "DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_HALF": np.float16,
    "DT_INT8": np.int8, "DT_INT16": np.int16, "DT_INT32": np.int32, "DT_INT64": np.int64,
    "DT_UINT8": np.uint8, "DT_UINT16": np.uint16, "DT_UINT32": np.uint32, "DT_UINT64": np.uint64,
    "DT_BOOL": np.bool_, "DT_STRING": np.object_,
}


class ServingError(UserError):
    """A request to a model server failed; the message is one line naming server, model and version."""


def readable_message(text):
    """The readable part of a server's error text: the failed in-graph check's message when there is
    one (like `zoo.metrics.sampling.assertion_message`, without importing TensorFlow), else its
    first line."""
    text = str(text)
    found = re.search(r"assertion failed: \[([^\]]+)\]", text)
    if found:
        return found.group(1)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:500] if lines else "(no message)"


@contextlib.contextmanager
def gc_paused():
    """Pauses Python's cyclic garbage collector while a large tensor travels as JSON.

    Parsing or building a batch of images as JSON allocates one list per pixel row and column (50k
    lists for 64 Fashion-MNIST images); in a process that has TensorFlow loaded (a million
    long-lived objects) those allocations trigger full collections that cost ~0.2 s each, 10x the
    request itself. None of these lists form cycles, so nothing is left for the collector.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _shape(info):
    """A TensorInfo dict's shape as a list of sizes (-1 unknown), or None for an unknown rank."""
    shape = info.get("tensor_shape", {})
    if shape.get("unknown_rank"):
        return None
    return [int(dim.get("size", -1)) for dim in shape.get("dim", [])]


def _numpy_dtype(info, alias):
    dtype = info.get("dtype")
    if dtype not in NUMPY_DTYPES:
        raise ValueError(f"{alias!r} has dtype {dtype}, which this client does not handle")
    return np.dtype(NUMPY_DTYPES[dtype])


def _shape_fits(shape, expected):
    return expected is None or (len(shape) == len(expected)
                                and all(e < 0 or e == s for s, e in zip(shape, expected)))


def _to_bytes(item):
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    raise TypeError(f"expected str or bytes, got {type(item).__name__}")


def _decode_strings(value):
    """JSON strings (UTF-8 text) and {"b64": ...} objects, nested in lists, to bytes."""
    if isinstance(value, list):
        return [_decode_strings(item) for item in value]
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise ValueError(f"expected a string or {{\"b64\": ...}}, got an object with keys {sorted(value)}")
        return base64.b64decode(value["b64"], validate=True)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise ValueError(f"expected a string, got {json.dumps(value)[:40]}")


def _object_array(nested):
    """An object array of the nested lists' leaves (numpy would split bytes or keep lists)."""
    shape, level = [], nested
    while isinstance(level, list):
        shape.append(len(level))
        level = level[0] if level else None
    array = np.empty(shape, dtype=object)
    flat = []

    def walk(value, depth):
        if depth == len(shape):
            if isinstance(value, list):
                raise ValueError("lists nested unevenly")
            flat.append(value)
            return
        if not isinstance(value, list) or len(value) != shape[depth]:
            raise ValueError("lists nested unevenly")
        for item in value:
            walk(item, depth + 1)

    walk(nested, 0)
    array.reshape(-1)[:] = flat if flat else []
    return array


def json_to_array(value, info, alias):
    """A JSON value (as TF Serving writes a tensor) to a numpy array of the TensorInfo's dtype.
    Raises ValueError when it does not fit: wrong type, ragged lists, out-of-range integers."""
    dtype = _numpy_dtype(info, alias)
    if dtype == object:
        return _object_array(_decode_strings(value))
    try:
        raw = np.asarray(value)
    except ValueError as error:
        raise ValueError(f"lists nested unevenly ({error})") from None
    allowed = "b" if dtype.kind == "b" else "iu" if dtype.kind in "iu" else "iuf"
    if raw.dtype.kind not in allowed or (raw.dtype.kind == "b" and dtype.kind != "b"):
        raise ValueError(f"expected {info.get('dtype')} values, got {raw.dtype} ({json.dumps(value)[:60]})")
    array = raw.astype(dtype)
    if dtype.kind in "iu" and not np.array_equal(array, raw):
        raise ValueError(f"values out of range for {info.get('dtype')}")
    return array


def _array_to_json(array):
    """A numpy array to nested JSON lists; bytes become {"b64": ...} (TF Serving decodes those)."""
    if array.dtype == object:
        def encode(value):
            if isinstance(value, list):
                return [encode(item) for item in value]
            return {"b64": base64.b64encode(value).decode("ascii")}
        return encode(array.tolist())
    return array.tolist()


class _Client:
    """What both protocols share: naming the target, input encoding, output checks, errors."""

    protocol = None

    def __init__(self, host_port, model, version=None, label=None, timeout=DEFAULT_TIMEOUT):
        self.host_port, self.model, self.version, self.label = host_port, model, version, label
        self.timeout = timeout
        if not isinstance(host_port, str) or not re.fullmatch(r"[^\s/:]+:\d+|\[[0-9a-fA-F:.]+\]:\d+", host_port):
            raise ServingError(f"{self.protocol}: server address {host_port!r} is not host:port (e.g. localhost:8500)")
        if not model or not isinstance(model, str):
            raise self.error(f"model name must be a non-empty string, got {model!r}")
        if version is not None and label is not None:
            raise self.error("pass a version or a label, not both")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
            raise self.error(f"version must be a non-negative integer, got {version!r}")
        if label is not None and (not isinstance(label, str) or not label):
            raise self.error(f"label must be a non-empty string, got {label!r}")
        self._signatures = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Releases the connection, if the protocol keeps one."""

    def where(self):
        """`rest localhost:8501 model 'dcgan' version 3` (or `label 'stable'`, or `latest version`)."""
        target = (f"version {self.version}" if self.version is not None
                  else f"label {self.label!r}" if self.label is not None else "latest version")
        return f"{self.protocol} {self.host_port} model {self.model!r} {target}"

    def error(self, what):
        return ServingError(f"{self.where()}: {' '.join(str(what).split())}")

    def _not_found(self, message):
        what = ("model or version not found" if self.version is not None
                else "model or label not found" if self.label is not None else "model not found")
        return self.error(f"{what} ({readable_message(message)})")

    def _invalid_argument(self, message):
        if "Unrecognized servable version label" in message:
            return self.error(f"label not found ({readable_message(message)})")
        return self.error(f"the server refused the request: {readable_message(message)}")

    def metadata(self):
        """The model's signatures as TF Serving describes them (SignatureDefMap in proto JSON):
        {name: {"inputs": {alias: {"dtype": "DT_INT64", "tensor_shape": {...}, "name": ...}},
        "outputs": {...}, "method_name": ...}}. Fetched once per client."""
        if self._signatures is None:
            self._signatures = self._fetch_signatures()
        return self._signatures

    def _signature(self, name):
        signatures = self.metadata()
        if name not in signatures:
            public = sorted(key for key in signatures if not key.startswith("__"))
            raise self.error(f"no signature {name!r}; the model has {public}")
        signature = signatures[name]
        if not isinstance(signature, dict) or not isinstance(signature.get("inputs", {}), dict) \
                or not isinstance(signature.get("outputs", {}), dict):
            raise self.error(f"malformed metadata: signature {name!r} is not a SignatureDef")
        return signature

    def _encode_inputs(self, inputs, signature, signature_name):
        """Checks names, dtypes and shapes against the signature; returns {alias: numpy array}."""
        expected = signature.get("inputs", {})
        if not isinstance(inputs, dict):
            raise self.error(f"inputs must be a dict of input name to values, got {type(inputs).__name__}")
        missing, extra = sorted(set(expected) - set(inputs)), sorted(set(inputs) - set(expected))
        if missing or extra:
            raise self.error(f"signature {signature_name!r} takes inputs {sorted(expected)}; "
                             f"missing {missing}, unexpected {extra}")
        arrays = {}
        for alias, value in inputs.items():
            info = expected[alias]
            try:
                dtype = _numpy_dtype(info, alias)
            except ValueError as error:
                raise self.error(error) from None
            if dtype == object:
                raw = np.asarray(value, dtype=object)
                try:
                    array = np.vectorize(_to_bytes, otypes=[object])(raw) if raw.size else raw
                except TypeError as error:
                    raise self.error(f"input {alias!r}: {error}") from None
            else:
                raw = np.asarray(value)
                if raw.dtype.kind not in "biuf" or (raw.dtype.kind == "f" and dtype.kind in "iub"):
                    raise self.error(f"input {alias!r} must be {info.get('dtype')}, got {raw.dtype} values")
                array = raw.astype(dtype)
                if dtype.kind in "iu" and not np.array_equal(array, raw):
                    raise self.error(f"input {alias!r} has values out of range for {info.get('dtype')}")
            if not _shape_fits(array.shape, _shape(info)):
                raise self.error(f"input {alias!r} has shape {list(array.shape)}, but signature "
                                 f"{signature_name!r} takes {_shape(info)} (-1: any size)")
            arrays[alias] = array
        return arrays

    def _check_outputs(self, outputs, signature, signature_name):
        """Every signature output is present with the signature's dtype and a fitting shape."""
        expected = signature.get("outputs", {})
        if set(outputs) != set(expected):
            raise self.error(f"malformed response: outputs {sorted(outputs)}, but signature {signature_name!r} "
                             f"has {sorted(expected)}")
        for alias, array in outputs.items():
            if array.dtype != _numpy_dtype(expected[alias], alias):
                raise self.error(f"malformed response: output {alias!r} is {array.dtype}, but the signature "
                                 f"says {expected[alias].get('dtype')}")
            if not _shape_fits(array.shape, _shape(expected[alias])):
                raise self.error(f"malformed response: output {alias!r} has shape {list(array.shape)}, but the "
                                 f"signature says {_shape(expected[alias])}")
        return outputs


class RestClient(_Client):
    """TF Serving's REST API (https://www.tensorflow.org/tfx/serving/api_rest), standard library only.

    `predict(inputs, format="row")` sends `{"instances": [...]}` (one object per example, or bare
    values when the signature has one input) and reads `predictions`; `format="columnar"` sends
    `{"inputs": {...}}` and reads `outputs`. Binary strings travel as {"b64": ...}. One HTTP/1.1
    connection per request, so a client can be shared between threads.
    """

    protocol = "rest"

    def _path(self, suffix=""):
        path = "/v1/models/" + urllib.parse.quote(self.model, safe="")
        if self.version is not None:
            path += f"/versions/{self.version}"
        elif self.label is not None:
            path += "/labels/" + urllib.parse.quote(self.label, safe="")
        return path + suffix

    def _request(self, method, path, body=None):
        """Sends one request; returns the decoded JSON object of a 200 answer, raises ServingError otherwise."""
        host, port = self.host_port.rsplit(":", 1)
        connection = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=self.timeout)
        try:
            data = None if body is None else json.dumps(body).encode("utf-8")
            connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            status, raw = response.status, response.read()
        except TimeoutError:
            raise self.error(f"no answer within {self.timeout} s") from None
        except http.client.HTTPException as error:
            raise self.error(f"malformed response: not HTTP ({type(error).__name__}: {error}); is "
                             f"{self.host_port} TF Serving's REST port (8501) and not its gRPC port?") from None
        except OSError as error:
            raise self.error(f"server unreachable ({error.strerror or error})") from None
        finally:
            connection.close()
        try:
            answer = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            snippet = raw[:80].decode("utf-8", "replace")
            if status != 200:
                raise self.error(f"HTTP {status} ({snippet})") from None
            raise self.error(f"malformed response: not JSON ({snippet!r})") from None
        if status != 200:
            message = answer.get("error", raw[:200]) if isinstance(answer, dict) else raw[:200]
            if status == 404:
                raise self._not_found(message)
            if status == 400:
                raise self._invalid_argument(str(message))
            raise self.error(f"HTTP {status} ({readable_message(message)})")
        if not isinstance(answer, dict):
            raise self.error(f"malformed response: expected a JSON object, got {type(answer).__name__}")
        return answer

    def _fetch_signatures(self):
        answer = self._request("GET", self._path("/metadata"))
        try:
            signatures = answer["metadata"]["signature_def"]["signature_def"]
        except (KeyError, TypeError):
            raise self.error(f"malformed response: metadata without metadata.signature_def.signature_def "
                             f"(keys {sorted(answer)})") from None
        if not isinstance(signatures, dict):
            raise self.error("malformed response: signature_def is not an object")
        return signatures

    def status(self):
        """{version: {"state": "AVAILABLE", "error_code": "OK", "error_message": ""}} (GetModelStatus)."""
        answer = self._request("GET", self._path())
        try:
            return {int(entry["version"]): {"state": entry["state"],
                                            "error_code": entry.get("status", {}).get("error_code", "OK"),
                                            "error_message": entry.get("status", {}).get("error_message", "")}
                    for entry in answer["model_version_status"]}
        except (KeyError, TypeError, ValueError, AttributeError):
            raise self.error(f"malformed response: status without model_version_status entries "
                             f"({json.dumps(answer)[:80]})") from None

    def predict(self, inputs, signature="serving_default", format="columnar"):
        """{input name: array-like} -> {output name: numpy array} through `:predict`."""
        with gc_paused():
            return self._predict(inputs, signature, format)

    def _predict(self, inputs, signature, format):
        if format not in ("row", "columnar"):
            raise self.error(f"format must be 'row' or 'columnar', got {format!r}")
        info = self._signature(signature)
        arrays = self._encode_inputs(inputs, info, signature)
        body = {"signature_name": signature}
        if format == "columnar":
            values = {alias: _array_to_json(array) for alias, array in arrays.items()}
            body["inputs"] = next(iter(values.values())) if len(values) == 1 else values
        else:
            batches = {array.shape[0] if array.ndim else None for array in arrays.values()}
            if len(batches) != 1 or None in batches or 0 in batches:
                raise self.error("format='row' needs every input to have the same, non-zero first dimension; "
                                 f"got shapes { {alias: list(a.shape) for alias, a in arrays.items()} }: "
                                 "use format='columnar'")
            columns = {alias: _array_to_json(array) for alias, array in arrays.items()}
            if len(columns) == 1:
                body["instances"] = next(iter(columns.values()))
            else:
                body["instances"] = [{alias: column[i] for alias, column in columns.items()}
                                     for i in range(batches.pop())]
        answer = self._request("POST", self._path(":predict"), body)
        return self._check_outputs(self._decode_outputs(answer, info, format), info, signature)

    def _decode_outputs(self, answer, signature, format):
        expected = signature.get("outputs", {})
        key = "predictions" if format == "row" else "outputs"
        if key not in answer:
            raise self.error(f"malformed response: no {key!r} key (keys {sorted(answer)})")
        value = answer[key]
        if format == "row":
            if not isinstance(value, list):
                raise self.error(f"malformed response: 'predictions' is not a list ({json.dumps(value)[:60]})")
            if len(expected) == 1:
                values = {next(iter(expected)): value}
            else:
                if not all(isinstance(row, dict) and set(row) == set(expected) for row in value):
                    raise self.error(f"malformed response: each prediction should be an object with keys "
                                     f"{sorted(expected)}")
                values = {alias: [row[alias] for row in value] for alias in expected}
        elif len(expected) == 1:
            values = {next(iter(expected)): value}
        else:
            if not isinstance(value, dict):
                raise self.error(f"malformed response: 'outputs' should be an object with keys {sorted(expected)}")
            values = value
        outputs = {}
        for alias, item in values.items():
            if alias not in expected:
                continue  # _check_outputs names the mismatch.
            try:
                outputs[alias] = json_to_array(item, expected[alias], alias)
            except ValueError as error:
                raise self.error(f"malformed response: output {alias!r}: {error}") from None
        return outputs


class GrpcClient(_Client):
    """TF Serving's gRPC API: PredictionService.Predict / GetModelMetadata, ModelService.GetModelStatus.

    Tensors travel as TensorProtos (`tf.make_tensor_proto` / `tf.make_ndarray`), so any dtype and
    any bytes arrive exactly. The channel opens lazily and is reused: call `close()` (or use the
    client as a context manager) when done.
    """

    protocol = "grpc"

    def __init__(self, host_port, model, version=None, label=None, timeout=DEFAULT_TIMEOUT):
        super().__init__(host_port, model, version, label, timeout)
        self._channel = None

    def close(self):
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def _stub(self, kind):
        import grpc
        from tensorflow_serving.apis import (
            model_service_pb2_grpc,
            prediction_service_pb2_grpc,
        )

        if self._channel is None:
            self._channel = grpc.insecure_channel(self.host_port, options=[
                ("grpc.max_send_message_length", MAX_GRPC_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE_BYTES),
                ("grpc.enable_http_proxy", 0),  # A proxy in the environment must not capture localhost.
            ])
        stub = (prediction_service_pb2_grpc.PredictionServiceStub if kind == "prediction"
                else model_service_pb2_grpc.ModelServiceStub)
        return stub(self._channel)

    def _model_spec(self, spec, signature_name=None):
        spec.name = self.model
        if self.version is not None:
            spec.version.value = self.version
        elif self.label is not None:
            spec.version_label = self.label
        if signature_name is not None:
            spec.signature_name = signature_name

    def _call(self, method, request):
        """Calls one RPC, turning gRPC errors into ServingError."""
        import grpc

        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as error:
            code, details = error.code(), error.details() or ""
            if code == grpc.StatusCode.NOT_FOUND:
                raise self._not_found(details) from None
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                raise self._invalid_argument(details) from None
            if code == grpc.StatusCode.UNAVAILABLE:
                raise self.error(f"server unreachable ({readable_message(details)})") from None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise self.error(f"no answer within {self.timeout} s") from None
            raise self.error(f"{code.name} ({readable_message(details)})") from None

    def _fetch_signatures(self):
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._model_spec(request.model_spec)
        response = self._call(self._stub("prediction").GetModelMetadata, request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        if "signature_def" not in response.metadata or not response.metadata["signature_def"].Unpack(signature_map):
            raise self.error("malformed response: metadata without a SignatureDefMap under 'signature_def'")
        # The same dict the REST API returns (proto JSON with the proto's field names).
        return json_format.MessageToDict(signature_map, preserving_proto_field_name=True).get("signature_def", {})

    def status(self):
        """{version: {"state": "AVAILABLE", "error_code": "OK", "error_message": ""}} (GetModelStatus)."""
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._model_spec(request.model_spec)
        response = self._call(self._stub("model").GetModelStatus, request)
        states = get_model_status_pb2.ModelVersionStatus.State
        result = {}
        for entry in response.model_version_status:
            code = entry.status.DESCRIPTOR.fields_by_name["error_code"].enum_type.values_by_number.get(
                entry.status.error_code)
            result[entry.version] = {"state": states.Name(entry.state), "error_code": code.name if code else
                                     str(entry.status.error_code), "error_message": entry.status.error_message}
        return result

    def predict(self, inputs, signature="serving_default", format=None):
        """{input name: array-like} -> {output name: numpy array} through Predict. `format` exists
        for symmetry with RestClient and is ignored: gRPC has one format."""
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        info = self._signature(signature)
        arrays = self._encode_inputs(inputs, info, signature)
        request = predict_pb2.PredictRequest()
        self._model_spec(request.model_spec, signature)
        for alias, array in arrays.items():
            dtype = tf.string if array.dtype == object else tf.as_dtype(array.dtype)
            request.inputs[alias].CopyFrom(tf.make_tensor_proto(array, dtype=dtype, shape=array.shape))
        response = self._call(self._stub("prediction").Predict, request)
        outputs = {}
        for alias, proto in response.outputs.items():
            try:
                outputs[alias] = tf.make_ndarray(proto)
            except (ValueError, TypeError) as error:
                raise self.error(f"malformed response: output {alias!r} is not a valid tensor ({error})") from None
        return self._check_outputs(outputs, info, signature)


def connect(host_port, model, protocol="grpc", version=None, label=None, timeout=DEFAULT_TIMEOUT):
    """A GrpcClient or RestClient for `model` at `host_port` (TF Serving: gRPC 8500, REST 8501)."""
    if protocol == "grpc":
        return GrpcClient(host_port, model, version=version, label=label, timeout=timeout)
    if protocol == "rest":
        return RestClient(host_port, model, version=version, label=label, timeout=timeout)
    raise ServingError(f"protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
