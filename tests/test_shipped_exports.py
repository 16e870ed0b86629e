"""The trained exports shipped in exports/: one per registered model (or a stated reason), each
loadable as TF Serving loads it, its signatures as its model card says, its warm-up replayed, served
by the stand-in server from exports/models.config, and its card's numbers in README.

`-m slow` re-scores every shipped export with the card's own zoo-eval command and compares.
"""

import json
import math
import os
import shlex

import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from zoo import contract, registry
from zoo.export import cards, compat, floors, saved_model, serving_config, warmup
from zoo.serving.local_models import LocalModels

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPORTS = os.path.join(ROOT, "exports")
README = os.path.join(ROOT, "README.md")
LIMIT_BYTES = 100_000_000  # Issue 30: the shipped exports stay under 100 MB in git in total.
# Re-scoring the same weights with the same seeds and feature network repeats every number up to
# the float summation order of the machine's kernels: 1% relative is far above that noise and far
# below any change of the weights, the data or the protocol.
RESCORE_TOLERANCE = 0.01


def shipped():
    """[(name, version_dir, card)]: the newest version with a model card of each model in exports/."""
    found = []
    for name in sorted(os.listdir(EXPORTS)):
        model_dir = os.path.join(EXPORTS, name)
        for version in reversed(saved_model.list_versions(model_dir)):
            card = cards.read(os.path.join(model_dir, str(version)))
            if card is not None:
                found.append((name, os.path.join(model_dir, str(version)), card))
                break
    return found


SHIPPED = shipped()
NAMES = [name for name, _, _ in SHIPPED]


def _readme():
    with open(README) as f:
        return f.read()


def test_every_registered_model_ships_an_export_or_says_why_not():
    models = {card["model"] for _, _, card in SHIPPED}
    not_shipped = registry.not_shipped()
    zoo_models = {name for name in registry.names() if registry.get(name).__module__.startswith("zoo.models.")}
    missing = sorted(zoo_models - set(not_shipped) - models)  # Not the ones other tests register.
    assert not missing, f"registered models without a shipped export: {missing}"
    readme = _readme()
    for name, why in not_shipped.items():
        assert name not in models
        assert f"`{name}` ships no export" in readme, f"README must say that {name} is not shipped and why ({why})"


def test_shipped_total_is_small_and_stated_in_readme():
    total = sum(_bytes_without_card(version_dir) for _, version_dir, _ in SHIPPED)
    assert 0 < total < LIMIT_BYTES
    assert sum(cards.directory_bytes(version_dir) for _, version_dir, _ in SHIPPED) < LIMIT_BYTES  # With the cards.
    assert f"{total / 1e6:.1f} MB" in _readme(), f"README must state the shipped total, {total / 1e6:.1f} MB"


def _bytes_without_card(version_dir):
    return sum(os.path.getsize(os.path.join(folder, file)) for folder, _, files in os.walk(version_dir)
               for file in files if not file.startswith("model_card."))


def _tensor_table(specs):
    return {name: [spec.dtype.name, [-1 if dim is None else dim for dim in spec.shape.as_list()]]
            for name, spec in specs.items()}


@pytest.mark.parametrize("name", NAMES)
def test_shipped_export_matches_its_card(name):
    _, version_dir, card = SHIPPED[NAMES.index(name)]
    assert card["name"] == name and str(card["version"]) == os.path.basename(version_dir)
    info = saved_model.read_info(version_dir)
    assert info["name"] == name and info["version"] == card["version"] and info["model"] == card["model"]
    assert info["step"] == card["training"].get("exported_step", card["training"]["steps"])
    assert info["step"] <= card["training"]["steps"]
    # The signatures as TensorFlow's Python loader sees them, against the card's table.
    loaded = tf.saved_model.load(version_dir)
    seen = {}
    for key, function in loaded.signatures.items():
        _, inputs = function.structured_input_signature
        seen[key] = {"inputs": _tensor_table(inputs), "outputs": _tensor_table(function.structured_outputs)}
    assert seen == card["signatures"]
    assert sorted(signature.name for signature in contract.from_export(version_dir).signatures) == sorted(seen)
    # Only what a stock tensorflow_model_server runs (core ops, no Python, no XLA-compiled function).
    assert compat.unservable_ops(version_dir) == {}
    # The size the card states is the version without the card files.
    assert card["size_bytes"] == _bytes_without_card(version_dir)
    # No discriminator or optimizer state: every variable is read by a serving signature.
    assert loaded.captured_variables and not any(word in variable.name.lower() for variable in loaded.captured_variables
                   for word in ("discriminator", "critic", "optimizer", "adam", "momentum"))
    assert card["metrics"] and all(math.isfinite(value) for value in card["metrics"].values())
    assert card["headline"] == cards.headline(card["metrics"]) and card["headline"]
    with open(cards.card_path(version_dir, markdown=True)) as f:  # The page says what the JSON says.
        assert f.read() == cards.render_markdown(card)
    assert shlex.split(card["training"]["reproduce"])[0] == "zoo-train"
    assert f"--train_steps={card['training']['steps']}" in card["training"]["reproduce"]


FLOORS = floors.load(EXPORTS)


@pytest.mark.parametrize("name", NAMES)
def test_shipped_card_meets_its_quality_floor(name):
    """Every shipped export declares a floor; a card worse than it fails, unless the manifest lists
    the export as below its floor with exactly the numbers its card states (a known shortfall)."""
    _, _, card = SHIPPED[NAMES.index(name)]
    assert name in FLOORS["floors"], f"{name} declares no quality floor in exports/{floors.FLOORS_FILE}"
    missed = floors.shortfalls(name, card["metrics"], FLOORS)
    declared = FLOORS.get("below_floor", {}).get(name)
    if declared is None:
        assert not missed, f"{name} is below its floor: {missed}"
        return
    assert missed, f"{name} meets its floor now: remove it from below_floor in exports/{floors.FLOORS_FILE}"
    for metric, value in declared.items():
        assert card["metrics"][metric] == pytest.approx(value, abs=1e-4), (
            f"{name}'s card states {metric} {card['metrics'][metric]}, below_floor says {value}")


def test_floors_and_uses_name_shipped_exports_or_configs():
    from zoo import config as config_lib

    configs = {config_lib.load(name).export_name for name in config_lib.available_configs()}
    named = set(FLOORS["floors"]) | set(FLOORS.get("below_floor", {}))
    named |= {name for use in FLOORS["uses"].values() for name in use["exports"]}
    assert named <= set(NAMES) | configs, sorted(named - set(NAMES) - configs)
    assert set(FLOORS.get("below_floor", {})) <= set(NAMES)
    for use in FLOORS["uses"].values():  # A use ranks by a metric its exports' floors bound.
        assert all(use["metric"] in FLOORS["floors"][name] for name in use["exports"]), use


def test_readme_recommends_per_use_the_best_export_that_meets_its_floor():
    readme = _readme()
    chosen = floors.recommended(FLOORS, {name: card["metrics"] for name, _, card in SHIPPED})
    assert set(chosen) == set(FLOORS["uses"])
    for use, pick in chosen.items():
        rows = [line for line in readme.splitlines() if line.startswith(f"| {use} |")]
        assert rows, f"README recommends nothing for {use!r}"
        if pick is None:
            assert "none yet" in rows[0]
        else:
            assert f"[`{pick[0]}`]" in rows[0], f"README's {use!r} row {rows[0]!r}, the cards choose {pick[0]}"


@pytest.mark.parametrize("name", NAMES)
def test_readme_model_table_shows_the_card(name):
    _, version_dir, card = SHIPPED[NAMES.index(name)]
    readme = _readme()
    link = os.path.relpath(cards.card_path(version_dir, markdown=True), ROOT)
    rows = [line for line in readme.splitlines() if line.startswith("|") and f"]({link})" in line]
    assert rows, f"README's model table has no row linking {link}"
    assert card["headline"] in rows[0], f"README shows {rows[0]!r}, the card says {card['headline']!r}"


@pytest.mark.integration  # every shipped model loaded again (each export replayed its warm-up when written)
def test_models_config_serves_every_shipped_model_and_the_stand_in_server_answers_its_warm_up():
    """What `make serve-local` serves: every model of exports/models.config, each answering its own
    warm-up requests through the session loader TF Serving uses, with finite numbers."""
    configured = serving_config.read_models_config(EXPORTS).model_config_list.config
    assert sorted(entry.name for entry in configured) == sorted(NAMES)
    models = LocalModels(EXPORTS)
    for name, version_dir, _ in SHIPPED:
        assert models.resolve(name) == int(os.path.basename(version_dir))
        for log in warmup.read(version_dir):
            request = log.predict_log.request
            inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
            _, outputs = models.predict(name, inputs, signature_name=request.model_spec.signature_name)
            for key, value in outputs.items():
                assert value.shape[0] == 1, (name, key, value.shape)
                if np.issubdtype(value.dtype, np.floating):
                    assert np.all(np.isfinite(value)), (name, key)


def test_zoo_sample_draws_from_a_shipped_export_with_nothing_trained(tmp_path):
    """The first thing `make demo` does."""
    name = next(name for name, _, card in SHIPPED if card["config"] == "dcgan_fashion_mnist")
    result = helpers.run_binary("sample", f"--export={os.path.join(EXPORTS, name)}", "--num=16",
                                f"--out={tmp_path / 'grid.png'}")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "grid.png").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_zoo_sample_on_every_shipped_export(name, tmp_path):
    result = helpers.run_binary("sample", f"--export={os.path.join(EXPORTS, name)}", "--num=8",
                                f"--out={tmp_path / 'grid.png'}")
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_rescoring_a_shipped_export_repeats_its_card(name, tmp_path):
    _, version_dir, card = SHIPPED[NAMES.index(name)]
    command = shlex.split(card["evaluation"]["command"])
    assert command[0] == "zoo-eval"
    out = tmp_path / "eval.json"
    result = helpers.run_binary("evaluate", *[word if not word.startswith("--export=") else f"--export={version_dir}"
                                              for word in command[1:]], f"--out={out}")
    assert result.returncode == 0, result.stderr
    with open(out) as f:
        measured = cards.metrics_of(json.load(f))
    assert sorted(measured) == sorted(card["metrics"])
    for metric, value in card["metrics"].items():
        assert measured[metric] == pytest.approx(value, rel=RESCORE_TOLERANCE, abs=1e-6), metric


def _python_snippet(heading, next_heading):
    """The first ```python block of README between two headings, as a user would paste it."""
    readme = _readme()
    section = readme[readme.index(heading):readme.index(next_heading)]
    code = section[section.index("```python\n") + len("```python\n"):]
    return code[:code.index("```")]


@pytest.mark.integration  # a fresh process without zoo
def test_readme_first_screen_snippet_runs_as_pasted_without_zoo():
    """The five lines under README's "Quick start", in a process where zoo cannot be imported."""
    code = _python_snippet("## Quick start", "## Shipped models")
    assert len(code.strip().splitlines()) <= 5
    result = helpers.run_python('import sys\nsys.modules["zoo"] = None\n' + code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "(3, 28, 28, 1) <dtype: 'uint8'>"


@pytest.mark.integration  # a fresh process without zoo
def test_readme_python_snippet_runs_on_the_shipped_exports_without_zoo():
    """README's "Shipped models" snippet, as a user pastes it, in a process where zoo cannot be imported."""
    code = _python_snippet("## Shipped models", "## Models")
    result = helpers.run_python('import sys\nsys.modules["zoo"] = None\n' + code + "\nprint(images.shape, images.dtype)")
    assert result.returncode == 0, result.stderr
    text, shapes = result.stdout.strip().rsplit("\n", 1)  # The generated text may hold newlines of its own.
    assert shapes == "(3, 28, 28, 1) <dtype: 'uint8'>"
    assert text.startswith("The ") and len(text) > len("The ")
