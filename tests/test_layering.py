"""Layers import downward only (ARCHITECTURE.md, issue 34): data, losses, metrics and export never
import zoo.models, nor do the modules below it; zoo.contract and zoo.export never import each other.
Checked twice: on the source (every import statement, function-level ones included) and in a fresh
interpreter (what importing a layer actually loads)."""

import ast
import json
import os

import pytest

from tests import helpers
from tests.helpers import REPO

# Modules below zoo.models: none of them may import it, at any level.
BELOW_MODELS = ["zoo/data", "zoo/losses.py", "zoo/export", "zoo/metrics", "zoo/kinds", "zoo/contract.py",
                "zoo/random_draws.py", "zoo/signatures.py", "zoo/trainable.py", "zoo/export_record.py",
                "zoo/errors.py"]
# Pairs of layers that must not import each other (either direction).
APART = [("zoo/contract.py", "zoo/export")]


def _module_name(path):
    """zoo/export/cards.py -> zoo.export.cards; zoo/export/__init__.py and zoo/export -> zoo.export."""
    relative = os.path.relpath(path, REPO)
    parts = (relative[:-len(".py")] if relative.endswith(".py") else relative).split(os.sep)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path):
    return os.path.basename(path) == "__init__.py"


def imported_modules(source, module, is_package=False):
    """(line, dotted name) of every module `source` (the text of `module`) imports, wherever the
    import statement is (module level, inside a function or a branch): `import a.b` gives a.b,
    `from a import b` gives a and a.b (b may be a submodule), relative imports are resolved, and
    `importlib.import_module("a.b")` / `__import__("a.b")` with a constant name count too."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module
            found.append((node.lineno, origin))
            found += [(node.lineno, f"{origin}.{alias.name}") for alias in node.names if alias.name != "*"]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
            if name in ("import_module", "__import__"):
                found.append((node.lineno, node.args[0].value))
    return found


def _within(name, layer):
    """Whether dotted module `name` is the module `layer` or inside it (zoo.export_record is not
    inside zoo.export)."""
    return name == layer or name.startswith(layer + ".")


def violations(path, source):
    """One line per import in `source` (the file at `path`, relative to the repository) that goes
    against the layering: a module below zoo.models importing it, or one side of APART the other."""
    module, package = _module_name(os.path.join(REPO, path)), _is_package(path)
    found = []
    below = any(_within(module, _module_name(os.path.join(REPO, layer))) for layer in BELOW_MODELS)
    for line, name in imported_modules(source, module, package):
        if below and _within(name, "zoo.models"):
            found.append(f"{path}:{line}: imports {name} (below zoo.models)")
        for first, second in APART:
            for here, there in ((first, second), (second, first)):
                here_module, there_module = (_module_name(os.path.join(REPO, part)) for part in (here, there))
                if _within(module, here_module) and _within(name, there_module):
                    found.append(f"{path}:{line}: imports {name} ({here} and {there} never import each other)")
    return found


def _python_files(layer):
    path = os.path.join(REPO, layer)
    if path.endswith(".py"):
        yield path
        return
    for parent, subdirs, files in os.walk(path):
        subdirs[:] = [name for name in subdirs if name != "__pycache__"]
        yield from (os.path.join(parent, name) for name in sorted(files) if name.endswith(".py"))


def test_no_lower_layer_imports_zoo_models_and_contract_and_export_stay_apart():
    layers = sorted({*BELOW_MODELS, *(layer for pair in APART for layer in pair)})
    files = [path for layer in layers for path in _python_files(layer)]
    assert len(files) > 30  # The scan reads the packages, not an empty list.
    found = [problem for path in files
             for problem in violations(os.path.relpath(path, REPO), open(path).read())]
    assert not found, "imports against the layering:\n" + "\n".join(found)


@pytest.mark.parametrize("path, source", [
    ("zoo/data/pipeline.py", "def load():\n    from zoo import models\n"),
    ("zoo/data/pipeline.py", "import zoo.models.base\n"),
    ("zoo/losses.py", "if True:\n    from zoo.models.gan import GAN\n"),
    ("zoo/metrics/features.py", "import importlib\nimportlib.import_module('zoo.models')\n"),
    ("zoo/export/cards.py", "from ..models import base\n"),  # Relative: zoo.models.
    ("zoo/export/warmup.py", "def requests():\n    from zoo import contract\n"),
    ("zoo/export/__init__.py", "from zoo.contract import Interface\n"),
    ("zoo/contract.py", "def from_export(path):\n    from zoo.export import saved_model\n"),
    ("zoo/contract.py", "import zoo.export\n"),
    ("zoo/trainable.py", "from zoo.models.base import VariableList\n"),
])
def test_the_layering_check_finds_a_violating_import(path, source):
    assert violations(path, source), source


@pytest.mark.parametrize("path, source", [
    ("zoo/contract.py", "from zoo import export_record\nfrom zoo.export_record import read_info\n"),
    ("zoo/export/saved_model.py", "from zoo import export_record, signatures\nfrom zoo.errors import UserError\n"),
    ("zoo/models/gan.py", "from zoo import contract\nfrom zoo.export import saved_model\n"),  # Above both.
    ("zoo/train/trainer.py", "from zoo import contract, export, registry\n"),
])
def test_the_layering_check_allows_downward_imports(path, source):
    assert violations(path, source) == []


def _loaded_after(code):
    """The zoo modules a fresh interpreter holds after running `code`."""
    result = helpers.run_python(code + "\nimport json, sys\n"
                                "print(json.dumps(sorted(name for name in sys.modules if name.startswith('zoo'))))")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.integration  # what importing loads, in a fresh interpreter
def test_importing_data_losses_metrics_and_export_leaves_zoo_models_out():
    loaded = _loaded_after("import sys, zoo.data, zoo.losses, zoo.metrics, zoo.export")
    assert {"zoo.data", "zoo.losses", "zoo.metrics", "zoo.export"} <= set(loaded)
    assert not [name for name in loaded if _within(name, "zoo.models")], loaded


@pytest.mark.integration  # what importing loads, in a fresh interpreter
def test_importing_export_leaves_contract_out_and_the_contract_leaves_export_out():
    loaded = _loaded_after("import zoo.export\nfrom zoo.export import cards, floors, saved_model, trust, warmup")
    assert "zoo.export.saved_model" in loaded and "zoo.contract" not in loaded, loaded
    # Declaring and validating an interface loads zoo.kinds; still nothing of zoo.export.
    loaded = _loaded_after(
        "from zoo import contract\n"
        "contract.Interface([contract.Signature('serving_default', [contract.Input('s', 'seed', 'int64')],"
        " {'o': 'images'})], [contract.Evaluation('samples', 'serving_default', reference='image')], preview='samples')")
    assert "zoo.kinds" in loaded, loaded
    assert not [name for name in loaded if _within(name, "zoo.export")], loaded
