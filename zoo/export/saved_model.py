"""Writes a model's serving signatures as a SavedModel version that TF Serving loads.

A version directory appears only when complete: the SavedModel is written to a hidden temporary
directory beside the versions (TF Serving ignores names that are not integers), reloaded and
called once, then renamed to the next integer version. A crash leaves at most a hidden `.tmp-*`.
"""

import json
import os
import shutil
import time

import numpy as np
import tensorflow as tf

from zoo import export_record
from zoo import signatures as signatures_lib
from zoo.errors import TrainingDiverged, UserError
from zoo.export import trust, warmup
# The record beside each version; re-exported here (zoo.export.INFO_FILE, zoo.export.read_info).
from zoo.export_record import INFO_FILE, read_info  # noqa: F401


def list_versions(model_dir):
    """The positive integer versions under `model_dir`, ascending ([] if it does not exist)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(name) for name in os.listdir(model_dir) if name.isdigit() and int(name) > 0)


def latest_version(model_dir):
    """The highest integer version under `model_dir`, or None."""
    versions = list_versions(model_dir)
    return versions[-1] if versions else None


def resolve_version_dir(export, version=None):
    """`export` may be a model directory (pick `version` or the latest) or a version directory."""
    if os.path.isfile(os.path.join(export, "saved_model.pb")):
        if version is not None:
            raise UserError(f"{export} is already a version directory; drop --version or pass its parent")
        return export
    versions = list_versions(export)
    if not versions:
        raise UserError(f"no SavedModel versions under {export!r}: expected {export}/<version>/saved_model.pb")
    if version is None:
        return os.path.join(export, str(versions[-1]))
    if version not in versions:
        raise UserError(f"version {version} not found under {export!r}; available versions: {versions}")
    return os.path.join(export, str(version))


class _ExportModule(tf.Module):
    """Holds the signatures and exactly the variables they read.

    The variables are the TensorFlow variables the traced functions capture, tracked directly:
    tracking the Keras networks instead saves them under the Keras wrappers, which TensorFlow's own
    loader maps back, but the C++ / TF1 loader (TF Serving, `saved_model_cli run`) then never
    initialises the captured handles ("Could not find variable ... does not exist"; keras-team/keras
    #19274, #20095). Keras's ExportArchive tracks them the same way.
    """

    def __init__(self, concrete_functions):
        super().__init__()
        seen, variables = set(), []
        for function in concrete_functions.values():
            for variable in function.variables:
                if id(variable) not in seen:
                    seen.add(id(variable))
                    variables.append(variable)
        self.captured_variables = variables
        for name, function in concrete_functions.items():
            setattr(self, name, function)


def _check_reload(path, signatures):
    """Checks the SavedModel as TF Serving will use it: only ops a stock build runs, every
    signature present with method Predict, and every warm-up request answered (by the graph-mode
    session loader TF Serving uses, not the Python object loader), with a batch dimension on
    every output."""
    from zoo.export import compat

    problems = compat.unservable_ops(path)
    if problems:
        raise RuntimeError("export check failed: TF Serving cannot run these ops or functions: "
                           + "; ".join(f"{op} ({reason})" for op, reason in problems.items()))
    methods = compat.method_names(path)
    missing = sorted(set(signatures) - set(methods))
    if missing:
        raise RuntimeError(f"export check failed: signatures {missing} missing after reload of {path}")
    other = {key: method for key, method in methods.items() if method != "tensorflow/serving/predict"}
    if other:
        raise RuntimeError(f"export check failed: signatures {other} are not Predict signatures "
                           f"(tensorflow/serving/predict), which TF Serving's REST and gRPC Predict call")
    for signature, outputs in compat.replay_in_session(path, warmup.read(path)):
        for name, value in outputs.items():
            if value.ndim == 0 or value.shape[0] != 1:
                raise RuntimeError(f"export check failed: {signature} output {name!r} has shape {value.shape} for a "
                                   f"batch of 1; TF Serving's batching needs a batch dimension on every output")


def check_declared(interface, signatures):
    """Raises ValueError unless the model's declared interface describes exactly its serving
    functions: the same signatures, each input with a compatible dtype and shape, in order."""
    if sorted(signature.name for signature in interface.signatures) != sorted(signatures):
        raise ValueError(f"the model declares signatures {sorted(s.name for s in interface.signatures)} but serves "
                         f"{sorted(signatures)}")
    for declared in interface.signatures:
        function = signatures[declared.name]
        specs = list(function.input_signature)
        if [spec.name for spec in specs] != [spec.name for spec in declared.inputs]:
            raise ValueError(f"{declared.name}: declared inputs {[spec.name for spec in declared.inputs]}, served "
                             f"{[spec.name for spec in specs]}")
        for spec, expected in zip(specs, declared.inputs):
            wanted = expected.tensor_spec()
            if spec.dtype != wanted.dtype or not spec.shape.is_compatible_with(wanted.shape):
                raise ValueError(f"{declared.name} input {spec.name}: declared {wanted.dtype.name}{wanted.shape}, "
                                 f"served {spec.dtype.name}{spec.shape}")


def export_model(model, export_dir, name, info=None, version=None, extra_files=None, serving_files=True):
    """Writes `model.serving_signatures()` to `<export_dir>/<name>/<version>`; returns that path.

    The version holds TF Serving's warm-up requests (assets.extra/tf_serving_warmup_requests),
    replayed here before the rename. With `serving_files`, `<export_dir>/models.config` is then
    refreshed over every model there and the batching parameters file written if missing
    (zoo.export.serving_config).

    `version` defaults to one past the highest existing version. An existing version is never
    overwritten. `extra_files` maps file names to JSON-ready records written beside zoo_export.json
    in assets.extra (e.g. zoo-tune's model_card.json), inside the same atomic rename.
    """
    model_dir = os.path.join(export_dir, name)
    os.makedirs(model_dir, exist_ok=True)
    if version is None:
        version = (latest_version(model_dir) or 0) + 1
    if version <= 0:
        raise UserError(f"--version must be a positive integer, got {version}")
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final):
        raise UserError(f"{final} already exists; versions are immutable: pick another --version or omit it")

    for variable in getattr(model, "variables", ()):  # Never an export of weights that diverged.
        if tf.as_dtype(variable.dtype).is_floating and not np.all(np.isfinite(variable.numpy())):
            raise TrainingDiverged(f"refusing to export {name}: {variable.path} holds non-finite values")
    signatures = signatures_lib.answering_empty_batches(model.serving_signatures())  # Idempotent.
    interface = model.interface()
    check_declared(interface, signatures)
    temporary = os.path.join(model_dir, f".tmp-{version}-{os.getpid()}-{int(time.time())}")
    try:
        concrete = {key: function.get_concrete_function() for key, function in signatures.items()}
        tf.saved_model.save(_ExportModule(concrete), temporary, signatures=concrete)
        os.makedirs(os.path.join(temporary, "assets.extra"), exist_ok=True)
        # The model's own facts (latent size, classes, codes) always; the caller's on top.
        record = {"name": name, "version": version, "signatures": sorted(signatures), **model.export_info(),
                  **(info or {}), export_record.INTERFACE_KEY: interface.to_json()}
        with open(os.path.join(temporary, INFO_FILE), "w") as f:
            json.dump(record, f, indent=2, sort_keys=True)
        for file_name, content in (extra_files or {}).items():
            with open(os.path.join(temporary, "assets.extra", file_name), "w") as f:
                json.dump(content, f, indent=2, sort_keys=True)
        warmup.write(temporary, warmup.requests(name, interface))
        _check_reload(temporary, signatures)
        problem = trust.first_problem(temporary)
        if problem is not None:  # Served by this process; refused by others without --trust_export.
            print(f"note: {name} version {version}: op {problem[0]} in {problem[1]} {problem[2]}: other zoo "
                  f"processes refuse to run it without --trust_export until zoo/export/allowed_ops.py lists it",
                  flush=True)
        os.rename(temporary, final)
        trust.mark_written(final)  # zoo wrote it: loading it in this process is not checked again.
    finally:
        if os.path.exists(temporary):
            shutil.rmtree(temporary, ignore_errors=True)
    if serving_files:
        from zoo.export import serving_config

        serving_config.update_models_config(export_dir)
        serving_config.write_batching_parameters(export_dir)
    return final
