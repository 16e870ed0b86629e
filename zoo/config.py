"""Experiment configs: small Python files with `get_config(smoke=False) -> ml_collections.ConfigDict`.

A config holds the trainer's fields (model, dataset, batch_size, train_steps, seed, ...) and the
model's hyperparameters under `model_config`. `smoke=True` shrinks it to a few tiny steps for tests.
"""

import ast
import importlib
import importlib.util
import json
import os
import re

import ml_collections

from zoo.errors import UserError

CONFIG_PACKAGE = "experiments.configs"


def default_config_name(model, dataset):
    """`<model>_<dataset>` for a named dataset; for folders and other data `<model>_fashion_mnist`,
    or the model's first config when it has none for Fashion-MNIST (text models: `gpt_fortunes`)."""
    if _config_exists(f"{model}_{dataset}"):
        return f"{model}_{dataset}"
    if _config_exists(f"{model}_fashion_mnist"):
        return f"{model}_fashion_mnist"
    own = [name for name in available_configs() if name.startswith(f"{model}_")]
    return own[0] if own else f"{model}_fashion_mnist"


def config_exists(name):
    """Whether `name` is one of the configs in experiments/configs."""
    return _config_exists(name)


def _config_exists(name):
    # Dataset names such as "text:/data/book.txt" are no module name (find_spec would raise).
    return name.isidentifier() and importlib.util.find_spec(f"{CONFIG_PACKAGE}.{name}") is not None


def available_configs():
    package = importlib.import_module(CONFIG_PACKAGE)
    folder = os.path.dirname(package.__file__)
    return sorted(f[:-3] for f in os.listdir(folder) if f.endswith(".py") and not f.startswith("_"))


def config_module(spec):
    """The Python module of a config file path (`experiments/configs/dcgan_fashion_mnist.py`) or name."""
    if spec.endswith(".py") or os.sep in spec:
        if not os.path.isfile(spec):
            raise UserError(f"config file {spec!r} does not exist; available configs: {', '.join(available_configs())}")
        module_spec = importlib.util.spec_from_file_location("zoo_user_config", spec)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module
    if not _config_exists(spec):
        raise UserError(f"unknown config {spec!r}; available configs: {', '.join(available_configs())}")
    return importlib.import_module(f"{CONFIG_PACKAGE}.{spec}")


def load(spec, smoke=False):
    """Loads a config from a file path (`experiments/configs/dcgan_fashion_mnist.py`) or a name."""
    module = config_module(spec)
    if not hasattr(module, "get_config"):
        raise UserError(f"config {spec!r} has no get_config() function")
    return module.get_config(smoke=smoke)


def apply_overrides(config, overrides):
    """Applies `key=value` strings (dotted keys, Python literals) to `config`, refusing unknown keys."""
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep:
            raise UserError(f"override {override!r} must look like key=value, e.g. model_config.latent_dim=64")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        *path, leaf = key.split(".")
        node = config
        for part in path:
            node = node.get(part) if isinstance(node, ml_collections.ConfigDict) else None
        if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
            raise UserError(f"unknown config key {key!r}; known keys: {', '.join(sorted(flat_keys(config)))}")
        try:
            node[leaf] = value
        except TypeError as error:  # ConfigDict keeps each field's type.
            raise UserError(f"config key {key!r} cannot take {raw!r}: {str(error).splitlines()[0]}") from None
    return config


def flat_keys(config, prefix=""):
    for key, value in config.items():
        if isinstance(value, ml_collections.ConfigDict):
            yield from flat_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def to_json(config):
    return json.dumps(config.to_dict(), indent=2, sort_keys=True)


def from_json(text):
    return ml_collections.ConfigDict(json.loads(text))


def export_name(model, dataset):
    """`dcgan_fashion_mnist`; folders become `dcgan_<folder name>`, text files `gpt_<file name
    without extension>`; TFDS versions/splits are dropped."""
    if dataset.startswith("folder:"):
        dataset = os.path.basename(os.path.normpath(dataset[len("folder:"):])) or "folder"
    elif dataset.startswith("text:"):
        dataset = os.path.splitext(os.path.basename(dataset[len("text:"):]))[0] or "text"
    return f"{model}_{_name_part(dataset.split(':')[0].split('/')[0])}"


def _name_part(text):
    """`text` as a piece of an export name: runs of anything but letters, digits and _ become _."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", text)


def subset_suffix(classes=None, max_examples=None, train_split="train"):
    """What a run trained on when it is a part of its dataset, for its export name, so that a model
    fine-tuned on 200 sneakers never becomes a new version of the model trained on everything:
    `_classes7_first200`, `_classes0_2_4`, `_train_1pct`; "" for the whole training split."""
    parts = []
    if classes is not None and str(classes).strip().lower() not in ("", "all"):
        parts.append("classes" + _name_part(str(classes).strip()).strip("_"))
    if max_examples is not None:
        parts.append(f"first{int(max_examples)}")
    if train_split and train_split.strip() != "train":
        parts.append(_name_part(train_split.strip().replace("%", "pct")).strip("_"))
    return "".join("_" + part for part in parts)
