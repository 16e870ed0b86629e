"""The models a local stand-in for tensorflow_model_server answers for (zoo.serving.local_server):
which models and versions are served (models.config: names, version policies, labels, resolved
exactly as the export side writes them, zoo.export.serving_config), how (name, version, label)
resolve and fail like TF Serving's ServerCore, and Predict / metadata / status on versions loaded
as TF Serving loads them (graph-mode session loader, SignatureDef tensor names).
"""

import os
import threading

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2
from tensorflow_serving.config.file_system_storage_path_source_pb2 import (
    FileSystemStoragePathSourceConfig,
)

from zoo.errors import UserError
from zoo.export import compat, serving_config, trust
from zoo.export.saved_model import list_versions
from zoo.export.serving_config import MODELS_CONFIG

ModelVersionPolicy = FileSystemStoragePathSourceConfig.ServableVersionPolicy
DEFAULT_SIGNATURE = "serving_default"
_GRPC_CODES = {code.value[0]: code.name for code in grpc.StatusCode}


class StatusError(Exception):
    """A request the server refuses; `code` is a gRPC status name (NOT_FOUND, INVALID_ARGUMENT, ...)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def invalid_argument(message):
    return StatusError("INVALID_ARGUMENT", message)


class _Model:
    """One models.config entry: where its versions are, its version policy, and its labels."""

    def __init__(self, name, path, policy=None, labels=None):
        self.name, self.path, self.labels = name, path, dict(labels or {})
        self.policy = policy if policy is not None else ModelVersionPolicy()  # Unset: latest 1, as TF Serving.

    def versions(self):
        """The served versions: integer directories on disk, filtered by the version policy."""
        return serving_config.served_versions(self.policy, list_versions(self.path))


def _read_config(export_root):
    """{name: _Model} from `<export_root>/models.config`, or every model directory at its latest version."""
    path = os.path.join(export_root, MODELS_CONFIG)
    if not os.path.exists(path):
        names = sorted(entry for entry in os.listdir(export_root)
                       if not entry.startswith(".") and list_versions(os.path.join(export_root, entry)))
        return {name: _Model(name, os.path.join(export_root, name)) for name in names}
    config = serving_config.read_models_config(export_root)
    if config.WhichOneof("config") != "model_config_list":
        raise UserError(f"{path}: only a model_config_list is supported")
    models = {}
    for entry in config.model_config_list.config:
        if not entry.name or not entry.base_path:
            raise UserError(f"{path}: every config needs a name and a base_path")
        if entry.model_platform not in ("", "tensorflow"):
            raise UserError(f"{path}: model {entry.name!r} has platform {entry.model_platform!r}; "
                            "only 'tensorflow' is served")
        # base_path is the path inside the server's container: the model's directory name is what counts.
        local = os.path.join(export_root, os.path.basename(os.path.normpath(entry.base_path)))
        models[entry.name] = _Model(entry.name, local, entry.model_version_policy, entry.version_labels)
    return models


class LocalModels:
    """The models a local server answers for, loaded as TF Serving loads them (the graph-mode
    SavedModel loader into a session: restore op, init op; signatures run by the tensor names in
    their SignatureDefs, never through Python objects of the export) on first use (or all
    at once with `preload=True`) and kept. Thread-safe. Requests resolve like TF Serving's:

        version = models.resolve("dcgan", label="stable")    # StatusError on an unknown name
        version, outputs = models.predict("dcgan", {"seed": np.array([0, 1])}, version=version)

    A version label must point at a served version, or construction fails (TF Serving refuses such
    a config too). So does a served version whose graph holds ops zoo's own exports never use (file
    access, Python calls: zoo.export.trust), unless `trust_export`, and one holding a function
    compiled by XLA unless `xla_cpu_compilation_enabled` (tensorflow_model_server's flag of that name,
    off by default: without it the server fails the first request that reaches such a function); such
    a version that appears after the start is refused when a request first needs it
    (FAILED_PRECONDITION), never loaded.
    """

    def __init__(self, export_root, preload=False, trust_export=False, xla_cpu_compilation_enabled=False):
        if not os.path.isdir(export_root):
            raise UserError(f"export root {export_root!r} is not a directory")
        self.export_root, self._trust_export = export_root, trust_export
        self._xla_enabled = xla_cpu_compilation_enabled
        self._models = _read_config(export_root)
        self._loaded = {}
        self._checked = set()  # Version dirs that passed zoo.export.trust (each is checked once).
        self._lock = threading.Lock()
        for model in self._models.values():
            served = model.versions()
            for label, version in model.labels.items():
                if version not in served:
                    raise UserError(f"{os.path.join(export_root, MODELS_CONFIG)}: label {label!r} of model "
                                    f"{model.name!r} points at version {version}, which is not served "
                                    f"(served versions: {served})")
            for version in served:  # Before anything is loaded: a loaded version's restore op has run.
                self._check(os.path.join(model.path, str(version)))
            if preload:
                for version in served:
                    self._load(model.name, version)

    def names(self):
        return sorted(self._models)

    def versions(self, name):
        """The served versions of `name`, ascending ([] for an unknown name)."""
        return self._models[name].versions() if name in self._models else []

    def resolve(self, name, version=None, label=None):
        """The version a request for (name, version or label, or neither: the latest) is answered by."""
        if label:
            if name not in self._models or label not in self._models[name].labels:
                raise invalid_argument(f"Unrecognized servable version label: {label}")
            version = self._models[name].labels[label]
        versions = self.versions(name)
        if version is None:
            if not versions:
                raise StatusError("NOT_FOUND", f"Servable not found for request: Latest({name})")
            return versions[-1]
        if version not in versions:
            raise StatusError("NOT_FOUND", f"Servable not found for request: Specific({name}, {version})")
        return version

    def _load(self, name, version):
        """(session, {signature name: SignatureDef proto}) for a served version, cached."""
        key = (name, version)
        with self._lock:
            if key not in self._loaded:
                path = os.path.join(self._models[name].path, str(version))
                try:  # A version that appeared after the start (TF Serving serves new versions) too.
                    self._check(path)
                except UserError as error:
                    raise StatusError("FAILED_PRECONDITION", str(error)) from None
                graph = tf.Graph()
                session = tf.compat.v1.Session(graph=graph)
                with graph.as_default():
                    meta_graph = compat.load_into_session(session, path)
                self._loaded[key] = (session, dict(meta_graph.signature_def))
            return self._loaded[key]

    def _check(self, path):
        if path not in self._checked:
            trust.check(path, self._trust_export)
            compiled = [] if self._xla_enabled else compat.xla_compiled_functions(path)
            if compiled:
                raise UserError(f"refusing to serve {path}: function {compiled[0]} is compiled by XLA (jit_compile=True), "
                                f"which tensorflow_model_server runs only with --xla_cpu_compilation_enabled (off by "
                                f"default); pass that flag, or re-export without XLA")
            self._checked.add(path)

    def signature_defs(self, name, version):
        """{signature name: SignatureDef proto} of a resolved version (what GetModelMetadata returns)."""
        return self._load(name, version)[1]

    def signature_inputs(self, name, version, signature_name):
        """{input alias: TensorInfo dict (proto JSON)} of one signature; INVALID_ARGUMENT if there is none."""
        signature_name = signature_name or DEFAULT_SIGNATURE
        defs = self.signature_defs(name, version)
        if signature_name not in defs:
            raise invalid_argument(f'Serving signature name: "{signature_name}" not found in signature def')
        return {alias: json_format.MessageToDict(info, preserving_proto_field_name=True)
                for alias, info in defs[signature_name].inputs.items()}

    def predict(self, name, inputs, version=None, label=None, signature_name=None, output_filter=()):
        """Runs a signature on {alias: numpy array}; returns (version, {output alias: numpy array}).

        Raises StatusError as TF Serving's Predict would: unknown model/version (NOT_FOUND), unknown
        label, signature, input or output alias, wrong dtype or shape, a failed in-graph check
        (INVALID_ARGUMENT, with the TensorFlow message)."""
        version, session, feed, fetch = self.prepare(name, inputs, version, label, signature_name, output_filter)
        return version, self.run(session, fetch, feed)

    def prepare(self, name, inputs, version=None, label=None, signature_name=None, output_filter=()):
        """Checks a Predict request as `predict` does; returns (version, session, feed, fetch), the
        feed keyed by graph tensor name and the fetch {output alias: tensor name}."""
        version = self.resolve(name, version, label)
        signature_name = signature_name or DEFAULT_SIGNATURE
        session, defs = self._load(name, version)
        if signature_name not in defs:
            raise invalid_argument(f'Serving signature key "{signature_name}" not found.')
        signature = defs[signature_name]
        specs = signature.inputs
        if set(inputs) != set(specs):
            raise invalid_argument(f"input size does not match signature: {len(inputs)}!={len(specs)} "
                           f"len({{{','.join(sorted(inputs))}}}) != len({{{','.join(sorted(specs))}}}). Sent extra: "
                           f"{{{','.join(sorted(set(inputs) - set(specs)))}}}. Missing but required: "
                           f"{{{','.join(sorted(set(specs) - set(inputs)))}}}.")
        outputs = list(signature.outputs)
        for alias in output_filter:
            if alias not in outputs:
                raise invalid_argument(f"output tensor alias not found in signature: {alias} Outputs expected to be in "
                               f"the set {{{','.join(sorted(outputs))}}}.")
        if len(set(output_filter)) != len(output_filter):
            raise invalid_argument(f"duplicate output tensor alias in output_filter: {sorted(output_filter)}")
        feed = {}
        for alias, value in inputs.items():
            info, value = specs[alias], np.asarray(value)
            dtype = tf.dtypes.as_dtype(info.dtype)
            if value.dtype != np.dtype(dtype.as_numpy_dtype):
                given = "string" if value.dtype == object else value.dtype.name
                raise invalid_argument(f"{alias}: expects arg to be {dtype.name} but {given} is provided")
            shape = tf.TensorShape(None if info.tensor_shape.unknown_rank else
                                   [d.size if d.size >= 0 else None for d in info.tensor_shape.dim])
            if not shape.is_compatible_with(value.shape):
                raise invalid_argument(f"{alias}: expects shape {shape} but got {list(value.shape)}")
            feed[info.name] = value
        fetch = {alias: signature.outputs[alias].name for alias in (output_filter or outputs)}
        return version, session, feed, fetch

    @staticmethod
    def run(session, fetch, feed):
        """Runs a prepared request; an in-graph failure becomes the StatusError TF Serving answers."""
        try:
            return session.run(fetch, feed)
        except tf.errors.OpError as error:
            raise StatusError(_GRPC_CODES.get(error.error_code, "UNKNOWN"), error.message.strip()) from None

    def metadata(self, name, version=None, label=None):
        """TF Serving's GetModelMetadataResponse: the resolved model_spec and the packed SignatureDefMap."""
        version = self.resolve(name, version, label)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = name
        response.model_spec.version.value = version
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in self.signature_defs(name, version).items():
            signature_map.signature_def[key].CopyFrom(signature)
        response.metadata["signature_def"].Pack(signature_map)
        return response

    def status(self, name, version=None, label=None):
        """TF Serving's GetModelStatusResponse: every served version (or the one asked for) AVAILABLE."""
        if label:
            version = self.resolve(name, label=label)
        versions = self.versions(name)
        if not versions:
            raise StatusError("NOT_FOUND", f"Could not find any versions of model {name}")
        if version is not None and version not in versions:
            raise StatusError("NOT_FOUND", f"Could not find version {version} of model {name}")
        response = get_model_status_pb2.GetModelStatusResponse()
        for served in versions if version is None else [version]:
            entry = response.model_version_status.add(version=served)
            entry.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
            entry.status.SetInParent()  # error_code OK, as TF Serving fills it.
        return response
