"""TF Serving's server-side files beside the exports: models.config and the batching parameters.

`<export_root>/models.config` is a text-format `tensorflow.serving.ModelServerConfig` listing
every model directory under the export root (`--model_config_file`). Each model keeps its
version policy and version labels across updates:

- Without labels a model is served at `latest` (1 version) unless a policy was chosen; removing
  its last label returns it there.
- Version labels (`stable`, `canary`, ...) point at versions that must be loaded: TF Serving
  refuses a label on a version it does not serve. So a labelled model whose policy is `specific`
  (the policy zoo picks for labelled models) serves exactly its labelled versions plus its
  latest; an explicit `latest:N` or `all` is kept when it covers the labels and refused otherwise.
- `base_path` is where the server sees the model: `/models/<name>` in docker-compose.yml,
  where exports/ is mounted at /models (`--serving_base_path` changes it).

`<export_root>/batching_parameters.txt` is a text-format `BatchingParameters` (for
`--enable_batching --batching_parameters_file`), written once and then left to the user.

Every write goes to a temporary file renamed over the old one: TF Serving, polling the config
(`--model_config_file_poll_wait_seconds`), never reads half a file.
"""

import os
import re

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
)
from tensorflow_serving.config import (
    file_system_storage_path_source_pb2,
    model_server_config_pb2,
)

from zoo.errors import UserError
from zoo.export.saved_model import list_versions

MODELS_CONFIG = "models.config"
BATCHING_FILE = "batching_parameters.txt"
DEFAULT_BASE_PATH = "/models"
_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")

# The CPU starting point of TF Serving's batching guide ("Performance tuning: CPU-only"):
# num_batch_threads = cores, batch_timeout_micros = 0 (then try 1-10 ms), a large max_batch_size.
# zoo caps max_batch_size at MAX_SERVING_BATCH: every signature refuses larger batches in-graph,
# so a bigger merged batch would fail requests that were each valid.
BATCHING_TEMPLATE = """\
# TF Serving batching parameters for zoo exports (tensorflow_model_server --enable_batching
# --batching_parameters_file=/models/batching_parameters.txt). Written once by zoo-export; edit freely.
#
# CPU starting point (TF Serving batching guide, "CPU-only"): one batch thread per core, no batch
# timeout (a batch is formed from whatever is queued when a thread is free), and a large
# max_batch_size. Then try batch_timeout_micros between 1000 and 10000 under your real load:
# 0 may stay best. max_batch_size must stay <= {max_batch} (zoo signatures refuse larger batches),
# and a single request larger than it is refused by the server. num_batch_threads is the core count
# of the machine that wrote this file: set it to the serving machine's.
max_batch_size {{ value: {max_batch} }}
batch_timeout_micros {{ value: 0 }}
num_batch_threads {{ value: {threads} }}
max_enqueued_batches {{ value: 1000 }}
"""


_SERVER_PROTOS = {}


def _server_proto(message_name):
    """TF Serving's `BatchingParameters` (session_bundle_config.proto, fields 1-7) and
    `MonitoringConfig` (monitoring_config.proto), which tensorflow-serving-api does not ship: built
    here with the server's field names, numbers and types, so a file with a misspelt or mistyped
    field fails to parse here as it would in the server."""
    if not _SERVER_PROTOS:
        from google.protobuf import wrappers_pb2

        pool = descriptor_pool.DescriptorPool()
        wrappers = descriptor_pb2.FileDescriptorProto()
        wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
        pool.Add(wrappers)
        file = descriptor_pb2.FileDescriptorProto(name="zoo_tf_serving_files.proto", package="tensorflow.serving",
                                                  syntax="proto3", dependency=["google/protobuf/wrappers.proto"])
        field = descriptor_pb2.FieldDescriptorProto
        optional, repeated = field.LABEL_OPTIONAL, field.LABEL_REPEATED
        batching = file.message_type.add(name="BatchingParameters")
        for number, (name, kind) in enumerate([
                ("max_batch_size", "Int64Value"), ("batch_timeout_micros", "Int64Value"),
                ("max_enqueued_batches", "Int64Value"), ("num_batch_threads", "Int64Value"),
                ("thread_pool_name", "StringValue")], start=1):
            batching.field.add(name=name, number=number, type=field.TYPE_MESSAGE, label=optional,
                               type_name=f".google.protobuf.{kind}")
        batching.field.add(name="allowed_batch_sizes", number=6, type=field.TYPE_INT64, label=repeated)
        batching.field.add(name="pad_variable_length_inputs", number=7, type=field.TYPE_BOOL, label=optional)
        prometheus = file.message_type.add(name="PrometheusConfig")
        prometheus.field.add(name="enable", number=1, type=field.TYPE_BOOL, label=optional)
        prometheus.field.add(name="path", number=2, type=field.TYPE_STRING, label=optional)
        monitoring = file.message_type.add(name="MonitoringConfig")
        monitoring.field.add(name="prometheus_config", number=1, type=field.TYPE_MESSAGE, label=optional,
                             type_name=".tensorflow.serving.PrometheusConfig")
        pool.Add(file)
        for name in ("BatchingParameters", "MonitoringConfig"):
            _SERVER_PROTOS[name] = message_factory.GetMessageClass(
                pool.FindMessageTypeByName(f"tensorflow.serving.{name}"))
    return _SERVER_PROTOS[message_name]


def parse_batching_parameters(text):
    """Parses a batching parameters file's text; raises text_format.ParseError on a bad field."""
    return text_format.Parse(text, _server_proto("BatchingParameters")())


def parse_monitoring_config(text):
    """Parses a --monitoring_config_file's text; raises text_format.ParseError on a bad field."""
    return text_format.Parse(text, _server_proto("MonitoringConfig")())


def write_batching_parameters(export_root, threads=None):
    """Writes the CPU starting point unless the file exists (the user may have tuned it); returns its path."""
    from zoo.signatures import MAX_SERVING_BATCH

    path = os.path.join(export_root, BATCHING_FILE)
    if not os.path.exists(path):
        _atomic_write(path, BATCHING_TEMPLATE.format(max_batch=MAX_SERVING_BATCH, threads=threads or os.cpu_count() or 1))
    return path


def _atomic_write(path, text):
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w") as f:
        f.write(text)
    os.replace(temporary, path)


def read_models_config(export_root):
    """The ModelServerConfig in `<export_root>/models.config`, or an empty one."""
    config = model_server_config_pb2.ModelServerConfig()
    path = os.path.join(export_root, MODELS_CONFIG)
    if os.path.exists(path):
        with open(path) as f:
            try:
                text_format.Parse(f.read(), config)
            except text_format.ParseError as error:
                raise UserError(f"{path} is not a valid ModelServerConfig text proto: {error}") from None
    return config


def parse_version_policy(text):
    """`latest`, `latest:N`, `all` or `specific:V1,V2,...` -> ModelVersionPolicy."""
    policy = file_system_storage_path_source_pb2.FileSystemStoragePathSourceConfig.ServableVersionPolicy()
    kind, _, argument = text.partition(":")
    if kind == "latest" and (not argument or argument.isdigit() and int(argument) > 0):
        policy.latest.num_versions = int(argument or 1)
    elif kind == "all" and not argument:
        policy.all.SetInParent()
    elif kind == "specific" and argument and all(part.isdigit() and int(part) > 0 for part in argument.split(",")):
        policy.specific.versions.extend(sorted({int(part) for part in argument.split(",")}))
    else:
        raise UserError(f"--version_policy={text!r}: use latest, latest:N, all, or specific:V1,V2 "
                        f"(positive version numbers)")
    return policy


def describe_policy(policy):
    kind = policy.WhichOneof("policy_choice")
    if kind == "latest":
        return f"latest:{policy.latest.num_versions}"
    if kind == "specific":
        return "specific:" + ",".join(map(str, policy.specific.versions))
    return kind or "latest:1"


def served_versions(policy, available):
    """The versions of `available` (sorted ints) that `policy` serves, as TF Serving picks them."""
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return list(available)
    if kind == "specific":
        return [version for version in available if version in set(policy.specific.versions)]
    return list(available[-(policy.latest.num_versions or 1):]) if kind == "latest" else list(available[-1:])


def check_label(label):
    if not _LABEL.match(label):
        raise UserError(f"version label {label!r}: use letters, digits, '_' or '-', starting with a letter")


def update_models_config(export_root, name=None, labels=None, unlabel=(), version_policy=None, base_path=None):
    """Rewrites `<export_root>/models.config` over every model directory there; returns the config.

    `labels` ({label: version}) and `unlabel` change `name`'s version labels; `version_policy`
    (text, see parse_version_policy) sets its policy. Other models keep what they had; models
    whose directory has gone are dropped; new ones are added at `latest`. `base_path` is the
    server's path of export_root (default: the one the file already uses, else /models).
    """
    if not os.path.isdir(export_root):
        raise UserError(f"export root {export_root!r} is not a directory (--export_dir)")
    config = read_models_config(export_root)
    previous = {model.name: model for model in config.model_config_list.config}
    if base_path is None:
        existing = [os.path.dirname(model.base_path.rstrip("/")) for model in previous.values()]
        base_path = existing[0] if existing else DEFAULT_BASE_PATH
    names = sorted(entry for entry in os.listdir(export_root)
                   if not entry.startswith(".") and list_versions(os.path.join(export_root, entry)))
    if name is not None and name not in names:
        raise UserError(f"no model {name!r} with versions under {export_root!r}; models there: {names or 'none'}")
    updated = model_server_config_pb2.ModelServerConfig()
    for model_name in names:
        model = updated.model_config_list.config.add()
        if model_name in previous:
            model.CopyFrom(previous[model_name])
        model.name = model_name
        model.base_path = f"{base_path.rstrip('/')}/{model_name}"
        model.model_platform = "tensorflow"
        available = list_versions(os.path.join(export_root, model_name))
        explicit = False
        if model_name == name:
            for label in unlabel:
                if label not in model.version_labels:
                    raise UserError(f"model {name!r} has no version label {label!r}; "
                                    f"labels: {dict(model.version_labels) or 'none'}")
                del model.version_labels[label]
            for label, version in (labels or {}).items():
                check_label(label)
                if version not in available:
                    raise UserError(f"label {label}={version}: model {name!r} has no version {version}; "
                                    f"versions: {available}")
                model.version_labels[label] = version
            if version_policy is not None:
                model.model_version_policy.CopyFrom(parse_version_policy(version_policy))
                explicit = True
            elif unlabel and not model.version_labels:
                # The labels kept their versions served; without labels, back to the newest.
                model.model_version_policy.Clear()
        # Labels of versions deleted from disk would make the server refuse the whole config.
        for label, version in list(model.version_labels.items()):
            if version not in available:
                del model.version_labels[label]
        _fit_policy(model, available, explicit)
    _atomic_write(os.path.join(export_root, MODELS_CONFIG), text_format.MessageToString(updated))
    return updated


def _fit_policy(model, available, explicit):
    labelled = sorted(set(model.version_labels.values()))
    policy = model.model_version_policy
    kind = policy.WhichOneof("policy_choice")
    if not labelled:
        if kind is None:
            policy.latest.num_versions = 1
        return
    missing = sorted(set(labelled) - set(served_versions(policy, available)))
    if explicit and missing:
        raise UserError(f"--version_policy={describe_policy(policy)} would not serve labelled versions {missing} "
                        f"of {model.name!r} (labels {dict(model.version_labels)}); TF Serving refuses labels on "
                        f"versions it does not serve")
    if not explicit and (kind in (None, "specific") or missing):
        policy.ClearField("specific")
        policy.specific.versions.extend(sorted(set(labelled) | {available[-1]}))
