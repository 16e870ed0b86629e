"""Transfer learning: warm starts (`init_from`) and frozen variables (`freeze`).

`init_from` names a trained model to start from:
  - a run's workdir (its newest usable checkpoint) or one checkpoint (`<workdir>/checkpoints/ckpt-N`):
    every network of the model (not the optimizers, not the step) is copied;
  - an export version dir (`exports/<name>/<version>`): the variables its signatures read, which is
    the whole model for families that export every network they train (VAE: encoder and decoder;
    PixelCNN, GPT, LSTM, diffusion) and the generator only for GANs (the discriminator starts fresh).
The new run gets fresh optimizer state and starts at step 0 in its own workdir; a resumed run
continues from its own checkpoints and never reads `init_from` again.

Variables are matched in the model's own order: a checkpoint lists each network's variables in
architecture order (`zoo.models.base.VariableList`), and an export lists the variables its
signatures capture, in the order the same model's signatures capture them when traced again.
The first variable whose shape differs (another model, width, image size, channel count or class
count) is refused in one line naming it with both shapes, unless the config's `init_partial`
patterns (regular expressions searched in variable paths) name it: then it keeps its fresh
initialization, and the start reports it. A model that keeps an average of a network's weights
(EMA) declares `averaged_networks()` ({average: network}, zoo.trainable); whichever of the pair the
source holds starts both.

`freeze` patterns (regular expressions searched in variable paths, e.g. `discriminator/conv2d/`
for FreezeD's lowest layers) mark matching variables not trainable: no optimizer step changes
them. A batch-norm layer whose gamma and beta are frozen still updates its moving statistics.
"""

import json
import os
import re

import numpy as np
import tensorflow as tf

from zoo.errors import UserError

SAVED_MODEL_FILE = "saved_model.pb"
RUN_FILE = "run.json"
CHECKPOINT_DIR = "checkpoints"


def _patterns(patterns, key):
    if isinstance(patterns, str):
        patterns = [item for item in patterns.split(",") if item.strip()]
    compiled = []
    for pattern in patterns or ():
        try:
            compiled.append(re.compile(pattern.strip()))
        except re.error as error:
            raise UserError(f"{key} pattern {pattern!r} is not a regular expression ({error})") from None
    return compiled


def _items(model):
    """{item name: variables} of the networks in the model's checkpoint (optimizers left out)."""
    return {name: list(item.values) for name, item in model.checkpoint_items().items()
            if not getattr(item, "is_optimizer", False)}


def _averaged(model):
    return dict(model.averaged_networks())


def _shape_text(shape):
    return "[" + ", ".join(str(size) for size in shape) + "]"


def describe_source(path):
    """("export" | "workdir" | "checkpoint", resolved path) of an `init_from` value, or a one-line refusal."""
    if not path:
        raise UserError("init_from is empty: pass a run's workdir, a checkpoint path or an export version dir")
    if os.path.isdir(path) and os.path.exists(os.path.join(path, SAVED_MODEL_FILE)):
        return "export", path
    if os.path.isdir(path) and os.path.isdir(os.path.join(path, CHECKPOINT_DIR)):
        return "workdir", path
    if os.path.exists(path + ".index"):
        return "checkpoint", path
    if os.path.isdir(path) and any(name.isdigit() for name in os.listdir(path)):
        versions = sorted((name for name in os.listdir(path) if name.isdigit()), key=int)
        raise UserError(f"init_from {path!r} is a model's export folder: pick a version, e.g. "
                        f"{os.path.join(path, versions[-1])}")
    raise UserError(f"init_from {path!r} is none of: a run's workdir (with checkpoints/), a checkpoint "
                    f"(<workdir>/checkpoints/ckpt-N) or an export version dir (with {SAVED_MODEL_FILE})")


def _source_model(kind, path):
    """The registered model name the source was trained as, when it records one."""
    if kind == "export":
        info = os.path.join(path, "assets.extra", "zoo_export.json")
        record_path = info if os.path.exists(info) else None
    else:
        workdir = path if kind == "workdir" else os.path.dirname(os.path.dirname(path))
        record_path = os.path.join(workdir, RUN_FILE)
    if record_path and os.path.exists(record_path):
        with open(record_path) as f:
            return json.load(f).get("model")
    return None


def _checkpoint_values(kind, path):
    """{item name: [arrays]} of every network in a zoo checkpoint."""
    from zoo.train import checkpoints

    if kind == "workdir":
        found = checkpoints.checkpoint_paths(os.path.join(path, CHECKPOINT_DIR))
        if not found:
            raise UserError(f"init_from {path!r} holds no checkpoint")
        path = found[0]
    try:
        reader = tf.train.load_checkpoint(path)
    except (tf.errors.OpError, ValueError) as error:
        raise UserError(f"init_from {path!r} cannot be read ({str(error).splitlines()[0]})") from None
    pattern = re.compile(r"^(\w+)/values/(\d+)/\.ATTRIBUTES/VARIABLE_VALUE$")
    values = {}
    for key in reader.get_variable_to_shape_map():
        match = pattern.match(key)
        if match:
            values.setdefault(match.group(1), {})[int(match.group(2))] = key
    return path, {name: [reader.get_tensor(keys[index]) for index in sorted(keys)] for name, keys in values.items()}


def _tf_variable(variable):
    """The TensorFlow variable behind a Keras variable (itself for a TensorFlow one)."""
    value = getattr(variable, "value", variable)
    return value if isinstance(value, tf.Variable) else variable


def _signature_reads(model, items):
    """{signature: [Keras variables]} in the order each traced signature captures them.

    Capture order is the order in which tracing first reads each variable: the same code traces
    the same order in every process (unlike a function's `.variables`, which is unordered)."""
    by_handle = {}
    for group in items.values():
        for variable in group:
            by_handle[id(_tf_variable(variable).handle)] = variable
    reads = {}
    for key, function in model.serving_signatures().items():
        concrete = function.get_concrete_function()
        reads[key] = [by_handle[id(external)] for external, _ in concrete.graph.captures if id(external) in by_handle]
    return reads


def _export_reads(path):
    """{signature: [checkpoint keys]} of an export, in the order its functions captured them (the
    SavedModel's bound inputs), and a reader of the values."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(path, SAVED_MODEL_FILE), "rb") as f:
        saved.ParseFromString(f.read())
    graph = saved.meta_graphs[0].object_graph_def
    children = {child.local_name: child.node_id for child in graph.nodes[0].children}
    if "captured_variables" not in children:
        raise UserError(f"init_from {path!r} was not written by zoo-export (no captured variables): re-export it")
    key_of = {child.node_id: f"captured_variables/{child.local_name}/.ATTRIBUTES/VARIABLE_VALUE"
              for child in graph.nodes[children["captured_variables"]].children}
    reads = {}
    for name, node_id in children.items():
        node = graph.nodes[node_id]
        kind = node.WhichOneof("kind")
        if kind == "bare_concrete_function":
            function = node.bare_concrete_function.concrete_function_name
        elif kind == "function" and node.function.concrete_functions:
            function = node.function.concrete_functions[0]
        else:
            continue
        reads[name] = [key_of[bound] for bound in graph.concrete_functions[function].bound_inputs if bound in key_of]
    return reads, tf.train.load_checkpoint(os.path.join(path, "variables", "variables"))


class _Plan:
    """Which target variable gets which value; refusals and partial starts."""

    def __init__(self, source, partial):
        self.source = source
        self.partial = partial
        self.assignments = []  # (variable, value)
        self.fresh = []  # Paths kept at their initialization (allowed by init_partial).

    def allowed(self, variable):
        return any(pattern.search(variable.path) for pattern in self.partial)

    def pair(self, variable, value):
        if value is None or tuple(variable.shape) != tuple(value.shape):
            if self.allowed(variable):
                self.fresh.append(variable.path)
                return
            got = "no value" if value is None else f"shape {_shape_text(value.shape)}"
            raise UserError(
                f"init_from {self.source!r} does not fit: {variable.path} has shape {_shape_text(variable.shape)}, "
                f"the source {got} (another model, width, image size, channels or class count?); list the "
                f"variables to start fresh in init_partial if that is intended")
        self.assignments.append((variable, np.asarray(value)))

    def extra(self, count, what):
        if count:
            raise UserError(f"init_from {self.source!r} does not fit: it holds {count} more {what} than this "
                            f"model (another model or depth?)")


class Report(str):
    """warm_start's one-line report; `fresh` names the networks the source did not hold."""

    fresh = ()


def warm_start(model, config):
    """Copies `config.init_from` into `model` (built); returns a one-line `Report`."""
    kind, path = describe_source(config.init_from)
    source_model = _source_model(kind, path)
    if source_model and source_model != config.model:
        raise UserError(f"init_from {path!r} holds a {source_model!r} model; this run trains {config.model!r}")
    plan = _Plan(path, _patterns(config.get("init_partial", ()), "init_partial"))
    items = _items(model)
    averaged = _averaged(model)
    filled = set()
    if kind == "export":
        source_reads, reader = _export_reads(path)
        paired = {}
        for key, variables in _signature_reads(model, items).items():
            if key not in source_reads:
                raise UserError(f"init_from {path!r} does not fit: it has no {key!r} signature (it has "
                                f"{', '.join(sorted(source_reads))}); another model?")
            keys = source_reads[key]
            for index, variable in enumerate(variables):
                if id(variable) not in paired:
                    paired[id(variable)] = variable
                    plan.pair(variable, reader.get_tensor(keys[index]) if index < len(keys) else None)
            plan.extra(max(0, len(keys) - len(variables)), f"variables read by {key}")
        owner_of = {id(variable): name for name, group in items.items() for variable in group}
        filled = {owner_of[key] for key in paired}
        what = f"export {path} ({len(paired)} variables its signatures read)"
    else:
        path, values = _checkpoint_values(kind, path)
        for name, group in items.items():
            source = values.get(name)
            if source is None:
                continue
            for index, variable in enumerate(group):
                plan.pair(variable, source[index] if index < len(source) else None)
            plan.extra(max(0, len(source) - len(group)), f"values of {name}")
            filled.add(name)
        if not filled:
            raise UserError(f"init_from {path!r} holds none of this model's networks ({', '.join(items)})")
        what = f"checkpoint {path} ({', '.join(sorted(filled))})"
    for variable, value in plan.assignments:
        variable.assign(value)
    # An average and its network start from whichever of the two the source holds.
    copied = []
    for average, network in averaged.items():
        if average in filled and network not in filled:
            source, target = average, network
        elif network in filled and average not in filled:
            source, target = network, average
        else:
            continue
        for value, variable in zip(items[source], items[target], strict=True):
            variable.assign(value)
        copied.append(f"{target} from {source}")
        filled.add(target)
    fresh = sorted(set(items) - filled)
    parts = [f"initialized from {what}"]
    if copied:
        parts.append("copied " + ", ".join(copied))
    if fresh:
        parts.append("fresh: " + ", ".join(fresh))
    if plan.fresh:
        parts.append(f"kept fresh by init_partial: {', '.join(plan.fresh)}")
    report = Report("; ".join(parts))
    report.fresh = tuple(fresh)
    return report


def freeze(model, config, fresh=()):
    """Marks the variables matching `config.freeze` not trainable; returns a one-line report, or None.
    `fresh`: networks a warm start just left at their random initialization; freezing those keeps
    random weights (a discriminator layer frozen after a start from a generator-only export is not
    FreezeD), which the report says."""
    patterns = _patterns(config.get("freeze", ()), "freeze")
    if not patterns:
        return None
    averages = set(_averaged(model))  # Never trained by an optimizer: not counted either way.
    items = {name: group for name, group in _items(model).items() if name not in averages}
    variables = [variable for group in items.values() for variable in group]
    frozen = {}  # id -> variable: a variable two patterns match is frozen (and counted) once.
    for pattern in patterns:
        matched = [variable for variable in variables if pattern.search(variable.path)]
        if not matched:
            examples = ", ".join(variable.path for variable in variables[:6])
            raise UserError(f"freeze pattern {pattern.pattern!r} matches no variable; paths look like: {examples}")
        frozen.update((id(variable), variable) for variable in matched)
    for variable in frozen.values():
        variable.trainable = False
    trainable = [variable for variable in variables if variable.trainable]

    def weights(group):
        return sum(int(np.prod(variable.shape)) for variable in group)

    report = (f"frozen: {len(frozen)} variables ({weights(frozen.values()):,} weights) matching "
              f"{', '.join(pattern.pattern for pattern in patterns)}; trainable: {len(trainable)} variables "
              f"({weights(trainable):,} weights)")
    random = sorted({name for name in fresh for variable in items.get(name, ()) if id(variable) in frozen})
    if random:
        report += (f"; note: the frozen variables of {', '.join(random)} were not in init_from and stay at their "
                   "random initialization (start from a run to freeze trained layers)")
    return report
