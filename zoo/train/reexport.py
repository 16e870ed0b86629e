"""Re-exporting a version's weights with today's code, without the workdir that trained it.

After an upgrade of zoo (a faster sampler, a new signature, a new evaluation an export declares),
an export's weights can be served through the new code: the model is rebuilt from the config the
export was trained with, at the data shape its record keeps, its variables are restored as
`zoo-train --init_from=<export>` restores them (zoo.train.transfer: a variable that does not fit is
refused), and the new version keeps the source's step and evaluation and names its source.
`compare` then calls every signature both versions have on the same rows. `zoo-export
--from_export` and `zoo-ship --reexport` are the commands.
"""

import json
import os

import numpy as np

from zoo import config as config_lib
from zoo import export, registry
from zoo.data import base as data_base
from zoo.errors import UserError
from zoo.train import transfer

# What the new version's record keeps of the source's: what it was trained on and how far.
KEPT = ("model", "dataset", "data_options", "step", "checkpoint", "evaluation", "eval_metric")


def _spec_from_record(record):
    """The DataSpec an export was built for, from the shape facts its record keeps."""
    fields = {key: record[key] for key in ("image_shape", "input_shape", "num_classes", "sequence_length",
                                           "vocabulary_size") if key in record}
    kind = (data_base.TEXT if "sequence_length" in fields else data_base.PAIRED_IMAGES if "input_shape" in fields
            else data_base.IMAGES)
    for key in ("image_shape", "input_shape"):
        if key in fields:
            fields[key] = tuple(fields[key])
    return data_base.DataSpec(kind, **fields)


def read_record(source):
    path = os.path.join(source, export.INFO_FILE)
    if not os.path.exists(path):
        raise UserError(f"{source}: not a zoo export version directory (no {export.INFO_FILE})")
    with open(path) as f:
        return json.load(f)


def source_config(source, record, spec=None, overrides=()):
    """(config, the name or path it was loaded from) of the run that trained `source`."""
    if spec is None:
        named = record.get("name")
        if named and config_lib.config_exists(named):
            spec = named
        elif "model" in record and "dataset" in record:
            spec = config_lib.default_config_name(record["model"], record["dataset"])
        else:
            raise UserError(f"{source} records no model and dataset: pass --config, the config it was trained with")
    config = config_lib.apply_overrides(config_lib.load(spec), list(overrides))
    if record.get("model", config.model) != config.model:
        raise UserError(f"--config={spec} builds a {config.model!r} model; {source} holds a {record['model']!r} model")
    return config, spec


def reexport(source, export_root, name=None, spec=None, overrides=(), version=None, log=print):
    """Exports `source`'s weights rebuilt with today's code under `export_root`; returns the new version dir."""
    record = read_record(source)
    config, spec = source_config(source, record, spec, overrides)
    config.init_from = source
    model = registry.get(config.model)(config.model_config, _spec_from_record(record))
    model.build_for_training()
    log(f"{spec}: {transfer.warm_start(model, config)}")
    info = {"model": config.model, "dataset": config.dataset, **{key: record[key] for key in KEPT if key in record},
            **model.export_info(),
            "reexported_from": {"name": record.get("name"), "version": record.get("version"), "config": spec}}
    name = name or record.get("name") or config.export_name
    return export.export_model(model, export_root, name, info, version, serving_files=False)


def compare(source, path, rows=2):
    """{signature: one line} for every signature of `path`: new, inputs changed, same outputs, or how
    they differ from `source`'s on the same `rows` example rows (seeds 0..rows-1)."""
    import tensorflow as tf

    from zoo import contract
    from zoo.export import trust

    before, after = contract.from_export(source), contract.from_export(path)
    old, new = trust.load(source), tf.saved_model.load(path)
    lines = {}
    for signature in after.signatures:
        if signature.name not in {s.name for s in before.signatures}:
            lines[signature.name] = "new"
            continue
        previous = before.signature(signature.name)
        if [spec.name for spec in previous.inputs] != [spec.name for spec in signature.inputs]:
            lines[signature.name] = (f"inputs changed ({', '.join(s.name for s in previous.inputs)} -> "
                                     f"{', '.join(s.name for s in signature.inputs)})")
            continue
        request = signature.example_request(rows)
        seed = signature.input_with(contract.SEED)
        if seed is not None:
            request[seed.name] = np.arange(rows, dtype=seed.numpy_dtype())
        outputs = [{key: value.numpy() for key, value in loaded.signatures[signature.name](
            **{key: tf.constant(value) for key, value in request.items()}).items()} for loaded in (old, new)]
        differences = []
        for key in sorted(set(outputs[0]) & set(outputs[1])):
            a, b = outputs[0][key], outputs[1][key]
            if a.shape != b.shape:
                differences.append(f"{key} shape {list(a.shape)} -> {list(b.shape)}")
            elif a.dtype == object:
                if not np.array_equal(a, b):
                    differences.append(f"{key} in {int(np.sum(a != b))} of {a.size} values")
            elif not np.array_equal(a, b):
                gap = np.abs(a.astype(np.float64) - b.astype(np.float64))
                differences.append(f"{key} max |difference| {gap.max():.3g} in {100 * np.mean(gap > 0):.2f}% of values")
        lines[signature.name] = (("same outputs" if not differences else "differ: " + "; ".join(differences))
                                 + f" on {rows} example rows")
    return lines
