"""Stand-ins for tensorflow_model_server, built on the SavedModel loader, for tests and benchmarks
on machines where the server binary cannot run. They answer TF Serving's gRPC and REST APIs for
the exports under one root, so the same clients (and curl) work against either.

    server, port = start_grpc_server("exports")           # PredictionService + ModelService
    with server:                                          # or server.stop() when done
        images = connect(f"127.0.0.1:{port}", "dcgan_fashion_mnist").predict({"seed": [0, 1]})

    server, port = start_rest_server("exports", port=8501)   # /v1/models/...:predict, metadata, status
    server.stop()

    python -m zoo.serving.local_server exports --grpc_port=8500 --rest_port=8501   # until Ctrl-C

This module is the protocol side (PredictionService/ModelService servicers, the REST API, the
servers); which versions are served and how they are loaded and run is zoo.serving.local_models.
What they share with TF Serving: `<export_root>/models.config` (names, version policies, version
labels; each `base_path` is read as `<export_root>/<basename of base_path>`, since the config
holds the path inside the container), or without it every `<export_root>/<name>/` at its latest
version; how (name, version, label) resolve and fail (unknown model or version: NOT_FOUND / HTTP
404; unknown label: INVALID_ARGUMENT / HTTP 400, as tensorflow_serving's ServerCore answers); the
REST encoding of tensorflow_serving/util/json_tensor.cc (row and columnar requests, answers in the
request's format, {"b64": ...} for binary strings in, and out for outputs named `*_bytes`); and
error codes and messages close to the server's. Differences: servers bind 127.0.0.1 only; the
config and the version directories are read once at start (no polling); request batching
(`--enable_batching --batching_parameters_file`, as the server's flags) is zoo.serving.batching's
Python scheduler with the server's rules, not its C++ one; there is no warm-up, Classify, Regress
or MultiInference; outputs are computed in full before output_filter;
a version whose graph holds ops zoo's own exports never use (file access, Python calls) is refused
at start unless --trust_export (zoo.export.trust; TF Serving runs any graph); one holding a function
compiled by XLA is refused at start unless --xla_cpu_compilation_enabled (TF Serving's flag; without
it the server loads the version and fails the first request that reaches the function).
"""

import argparse
import http.server
import json
import os
import re
import threading
import urllib.parse
from concurrent import futures

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from zoo.errors import UserError
from zoo.serving.client import MAX_GRPC_MESSAGE_BYTES, gc_paused, json_to_array
from zoo.serving.local_models import (
    DEFAULT_SIGNATURE,
    LocalModels,
    StatusError,
    invalid_argument,
)

# TF Serving's mapping of status codes to HTTP (model_servers/http_server.cc).
HTTP_STATUS = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400, "NOT_FOUND": 404,
               "ALREADY_EXISTS": 409, "ABORTED": 409, "PERMISSION_DENIED": 403, "UNAUTHENTICATED": 401,
               "RESOURCE_EXHAUSTED": 429, "UNIMPLEMENTED": 501, "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504,
               "CANCELLED": 499}
_PREDICT_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)", re.IGNORECASE)
_MODEL_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?", re.IGNORECASE)


def _as_models(export_root):
    # A LocalModels (or a BatchingModels over one) as given, else the LocalModels of a directory.
    return LocalModels(export_root) if isinstance(export_root, (str, bytes, os.PathLike)) else export_root


class LocalServer:
    """A running local server. `port` is the bound port; `models` the LocalModels it answers from.
    Stop it with `stop()` (or its alias `shutdown()`), or use it as a context manager."""

    def __init__(self, kind, port, models, stop):
        self.kind, self.port, self.models, self._stop = kind, port, models, stop

    def stop(self):
        """Stops answering and frees the port; safe to call twice."""
        if self._stop is not None:
            stop, self._stop = self._stop, None
            stop()

    shutdown = stop

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def __repr__(self):
        return f"LocalServer({self.kind} 127.0.0.1:{self.port}, {self.models.export_root!r})"


# gRPC ----------------------------------------------------------------------------------------------


def _spec_of(model_spec):
    version = model_spec.version.value if model_spec.HasField("version") else None
    return model_spec.name, version, model_spec.version_label or None


def _answer(context, work):
    """Runs `work()`; a StatusError becomes the RPC's status (and ends the call)."""
    try:
        return work()
    except StatusError as error:
        code, message = error.code, error.message
    context.abort(grpc.StatusCode[code], message)


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, models):
        self.models = models

    def Predict(self, request, context):
        def work():
            name, version, label = _spec_of(request.model_spec)
            inputs = {}
            for alias, proto in request.inputs.items():
                try:
                    inputs[alias] = tf.make_ndarray(proto)
                except (ValueError, TypeError) as error:
                    raise invalid_argument(f"tensor parsing error: {alias} ({error})") from None
            signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
            version, outputs = self.models.predict(name, inputs, version, label, signature_name,
                                                   tuple(request.output_filter))
            response = predict_pb2.PredictResponse()
            response.model_spec.name, response.model_spec.signature_name = name, signature_name
            response.model_spec.version.value = version
            for alias, value in outputs.items():
                response.outputs[alias].CopyFrom(tf.make_tensor_proto(value))
            return response

        return _answer(context, work)

    def GetModelMetadata(self, request, context):
        def work():
            fields = set(request.metadata_field)
            if not fields:
                raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
            for field in fields - {"signature_def"}:
                raise invalid_argument(f"Metadata field {field} is not supported")
            return self.models.metadata(*_spec_of(request.model_spec))

        return _answer(context, work)


class _ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, models):
        self.models = models

    def GetModelStatus(self, request, context):
        return _answer(context, lambda: self.models.status(*_spec_of(request.model_spec)))


def start_grpc_server(export_root, port=0, max_workers=64):
    """Serves PredictionService (Predict, GetModelMetadata) and ModelService (GetModelStatus) on
    127.0.0.1:`port` (0: any free port). `export_root` is a directory or a LocalModels (to share
    loaded models with a REST server; a zoo.serving.batching.BatchingModels to batch requests).
    `max_workers` bounds the requests in flight at once (a request waiting for its batch holds one).
    Returns (LocalServer, bound port)."""
    models = _as_models(export_root)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers), options=[
        ("grpc.max_send_message_length", MAX_GRPC_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE_BYTES),
    ])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_PredictionService(models), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(_ModelService(models), server)
    try:
        bound = server.add_insecure_port(f"127.0.0.1:{port}")
    except RuntimeError:
        bound = 0
    if not bound:
        raise UserError(f"cannot serve gRPC on 127.0.0.1:{port}: the port is taken")
    server.start()
    return LocalServer("grpc", bound, models, lambda: server.stop(grace=None).wait()), bound


# REST ----------------------------------------------------------------------------------------------


def _is_b64(value):
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _value_to_array(value, info, where):
    try:
        return json_to_array(value, info, where)
    except ValueError as error:
        raise invalid_argument(f"{where}: {error}") from None


def _instances_to_arrays(instances, infos):
    """Row format: a list of per-example objects (or bare values for one input), stacked per input."""
    if not isinstance(instances, list):
        raise invalid_argument("Excepting 'instances' to be an list/array")
    if not instances:
        raise invalid_argument("No values in 'instances' array")
    named = isinstance(instances[0], dict) and not _is_b64(instances[0])
    if not named and len(infos) > 1:
        raise invalid_argument("instances is a plain list, but expecting list of objects as multiple input tensors "
                       f"required as per tensorinfo_map ({','.join(sorted(infos))})")
    columns = {alias: [] for alias in infos}
    for index, element in enumerate(instances):
        is_object = isinstance(element, dict) and not _is_b64(element)
        if named and not is_object:
            raise invalid_argument(f"Expecting object but got list at item {index} of input list")
        if not named and is_object:
            raise invalid_argument(f"Expecting value/list but got object at item {index} of input list")
        items = element if named else {next(iter(infos)): element}
        for alias, value in items.items():
            if alias not in infos:
                raise invalid_argument(f"Failed to process element: {index} key: {alias} of 'instances' list. Error: "
                               f"JSON object: does not have named input: {alias}")
            array = _value_to_array(value, infos[alias], f"element {index} of 'instances', input {alias}")
            if columns[alias] and columns[alias][0].shape != array.shape:
                raise invalid_argument(f"Failed to process element: {index} key: {alias} of 'instances' list. Error: "
                               f"Expecting shape {list(columns[alias][0].shape)} but got: {list(array.shape)}")
            columns[alias].append(array)
        if set(items) != set(infos):
            raise invalid_argument(f"Failed to process element: {index} of 'instances' list. JSON object keys must be "
                           f"equal to: {','.join(sorted(infos))}")
    return {alias: np.stack(arrays) for alias, arrays in columns.items()}


def _inputs_to_arrays(inputs, infos):
    """Columnar format: {alias: tensor} (extra keys ignored, as TF Serving does), or one bare tensor."""
    if not isinstance(inputs, dict) or _is_b64(inputs):
        if len(infos) > 1:
            raise invalid_argument("inputs is a plain value/list, but expecting an object as multiple input tensors "
                           f"required as per tensorinfo_map ({','.join(sorted(infos))})")
        alias = next(iter(infos))
        return {alias: _value_to_array(inputs, infos[alias], f"input {alias}")}
    arrays = {}
    for alias, info in infos.items():
        if alias not in inputs:
            raise invalid_argument(f"Missing named input: {alias} in 'inputs' object.")
        arrays[alias] = _value_to_array(inputs[alias], info, f"input {alias}")
    return arrays


def _tensor_json(array, as_bytes):
    """A numpy array as TF Serving writes it: nested lists; strings as {"b64": ...} for `*_bytes`
    outputs and as text otherwise (bytes that are not UTF-8 come out with replacement characters)."""
    if array.dtype != object:
        return array.tolist()
    import base64

    def encode(value):
        if isinstance(value, list):
            return [encode(item) for item in value]
        if as_bytes:
            return {"b64": base64.b64encode(value).decode("ascii")}
        return value.decode("utf-8", "replace")

    return encode(array.tolist())


def _outputs_json(outputs, row):
    if row:
        batch = None
        for alias, array in outputs.items():
            if array.ndim == 0:
                raise invalid_argument(f"Tensor name: {alias} has no shape information ")
            if batch is not None and array.shape[0] != batch:
                raise invalid_argument(f"Tensor name: {alias} has inconsistent batch size: {array.shape[0]} "
                               f"expecting: {batch}")
            batch = array.shape[0]
        columns = {alias: _tensor_json(array, alias.endswith("_bytes")) for alias, array in outputs.items()}
        if len(columns) == 1:
            return {"predictions": next(iter(columns.values()))}
        return {"predictions": [{alias: column[i] for alias, column in columns.items()} for i in range(batch)]}
    columns = {alias: _tensor_json(array, alias.endswith("_bytes")) for alias, array in outputs.items()}
    return {"outputs": next(iter(columns.values())) if len(columns) == 1 else columns}


class RestApi:
    """TF Serving's REST API over LocalModels, without the HTTP: `handle(method, path, body)` returns
    the JSON text of a successful answer or raises StatusError."""

    def __init__(self, models):
        self.models = models

    def handle(self, method, path, body=b""):
        with gc_paused():  # Large JSON tensors: see zoo.serving.client.gc_paused.
            return self._handle(method, path, body)

    def _handle(self, method, path, body):
        predict = _PREDICT_PATH.fullmatch(path) if method == "POST" else None
        model = _MODEL_PATH.fullmatch(path) if method == "GET" else None
        if not (predict or model):
            if not path.lower().startswith("/v1/"):
                raise StatusError("NOT_FOUND", f"no handler for {method} {path}")
            raise invalid_argument(f"Malformed request: {method} {path}")
        if model and not model.group(1):
            raise invalid_argument("Missing model name in request.")
        match = predict or model
        name = urllib.parse.unquote(match.group(1))
        version = int(match.group(2)) if match.group(2) else None
        label = urllib.parse.unquote(match.group(3)) if match.group(3) else None
        if predict:
            if predict.group(4).lower() != "predict":
                raise StatusError("UNIMPLEMENTED", f"{predict.group(4)} is not served by zoo's local server")
            answer = self._predict(name, version, label, body)
        elif model.group(4):
            response = self.models.metadata(name, version, label)
            signature_map = get_model_metadata_pb2.SignatureDefMap()
            response.metadata["signature_def"].Unpack(signature_map)
            answer = {"model_spec": self._proto_json(response.model_spec),
                      "metadata": {"signature_def": self._proto_json(signature_map)}}
        else:
            answer = self._proto_json(self.models.status(name, version, label))
        return json.dumps(answer)

    @staticmethod
    def _proto_json(message):
        # As TF Serving prints protos: field names as in the .proto, default values included.
        return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                         always_print_fields_with_no_presence=True)

    def _predict(self, name, version, label, body):
        if not body:
            raise invalid_argument("JSON Parse error: The document is empty")
        try:
            request = json.loads(body)
        except (UnicodeDecodeError, ValueError) as error:
            raise invalid_argument(f"JSON Parse error: {error}") from None
        if not isinstance(request, dict):
            raise invalid_argument(f"JSON Value: {body[:80]!r} Is not object")
        signature_name = request.get("signature_name", DEFAULT_SIGNATURE)
        if not isinstance(signature_name, str):
            raise invalid_argument("JSON Value: not formatted correctly. 'signature_name' key must be a string value.")
        version = self.models.resolve(name, version, label)
        infos = self.models.signature_inputs(name, version, signature_name)
        if not infos:
            raise invalid_argument(f"Failed to get input map for signature: {signature_name or 'DEFAULT'}")
        if "instances" in request and "inputs" in request:
            raise invalid_argument("Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist")
        if "instances" in request:
            arrays, row = _instances_to_arrays(request["instances"], infos), True
        elif "inputs" in request:
            arrays, row = _inputs_to_arrays(request["inputs"], infos), False
        else:
            raise invalid_argument("Missing 'inputs' or 'instances' key")
        _, outputs = self.models.predict(name, arrays, version, signature_name=signature_name)
        return _outputs_json(outputs, row)


class _RestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # Keep-alive, as TF Serving: every answer has a Content-Length.

    def do_GET(self):
        self._answer("GET")

    def do_POST(self):
        self._answer("POST")

    def _answer(self, method):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urllib.parse.urlsplit(self.path).path
        try:
            status, text = 200, self.server.api.handle(method, path, body)
        except StatusError as error:
            status, text = HTTP_STATUS.get(error.code, 500), json.dumps({"error": error.message})
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass  # One line per request on stderr would drown test and benchmark output.


def start_rest_server(export_root, port=0):
    """Serves TF Serving's REST API (predict, metadata, status) on 127.0.0.1:`port` (0: any free
    port) from a daemon thread. `export_root` is a directory or a LocalModels. Returns
    (LocalServer, bound port)."""
    models = _as_models(export_root)
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _RestHandler)
    except OSError as error:
        raise UserError(f"cannot serve REST on 127.0.0.1:{port}: {error.strerror or error}") from None
    server.daemon_threads = True
    server.api = RestApi(models)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=f"zoo-rest-{server.server_port}", daemon=True)
    thread.start()

    def stop():
        server.shutdown()
        server.server_close()
        thread.join()

    return LocalServer("rest", server.server_port, models, stop), server.server_port


def main(argv=None):
    """`python -m zoo.serving.local_server EXPORT_ROOT [--grpc_port=8500] [--rest_port=8501] [--trust_export]`."""
    parser = argparse.ArgumentParser(prog="zoo.serving.local_server", description=__doc__.splitlines()[0])
    parser.add_argument("export_root")
    parser.add_argument("--grpc_port", type=int, default=8500, help="gRPC port (negative: none)")
    parser.add_argument("--rest_port", type=int, default=8501, help="REST port (negative: none)")
    parser.add_argument("--preload", action="store_true", help="load every served version before answering")
    parser.add_argument("--trust_export", action="store_true", help="serve versions whose graphs hold ops zoo's "
                        "own exports never use (file access, Python calls; zoo.export.trust)")
    parser.add_argument("--xla_cpu_compilation_enabled", action="store_true", help="serve versions holding functions "
                        "compiled by XLA (jit_compile=True), as tensorflow_model_server's flag of that name")
    parser.add_argument("--enable_batching", action="store_true", help="batch concurrent requests to one signature "
                        "(zoo.serving.batching), as tensorflow_model_server --enable_batching")
    parser.add_argument("--batching_parameters_file", default=None, help="a BatchingParameters text file (default "
                        "with --enable_batching: EXPORT_ROOT/batching_parameters.txt if present, else TF Serving's defaults)")
    args = parser.parse_args(argv)
    try:
        if args.batching_parameters_file and not args.enable_batching:
            raise UserError("--batching_parameters_file needs --enable_batching")
        models = LocalModels(args.export_root, preload=args.preload, trust_export=args.trust_export,
                             xla_cpu_compilation_enabled=args.xla_cpu_compilation_enabled)
        if args.enable_batching:
            from zoo.serving import batching

            models = batching.BatchingModels(models, batching.options_for(args.export_root, args.batching_parameters_file))
        servers = []
        if args.grpc_port >= 0:
            servers.append(start_grpc_server(models, args.grpc_port)[0])
        if args.rest_port >= 0:
            servers.append(start_rest_server(models, args.rest_port)[0])
    except UserError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    for server in servers:
        print(f"serving {server.kind} on 127.0.0.1:{server.port}: {', '.join(models.names()) or 'no models'}", flush=True)
    if args.enable_batching:
        print(f"batching: {models.options.describe()}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
