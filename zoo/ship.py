"""Shipping and reproducing trained exports (what zoo-ship and zoo-reproduce do, as functions).

Shipping reads a training's own record (run.json: the step it is at, the wall seconds of all its
invocations, the flags and config of each) and its export, writes the model card from them and a
zoo-eval record of that version, and copies the version into an export root as its next version.
Reproducing retrains from a card's step-bounded command and compares the new numbers with the card's.

A wall-clock budget stops at a machine-dependent step, so a card's reproduce command is the
step-bounded one (`--train_steps=<the step the run reached>`; no model's update depends on
train_steps): the same updates on any machine.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import time

from zoo import config as config_lib
from zoo import contract, data, export, kinds, registry
from zoo.errors import UserError
from zoo.export import cards, floors, saved_model, serving_config
from zoo.machine import machine
from zoo.train import run_record

# Config keys that say how long to train, which the invocations of one run may change.
LENGTH_KEYS = ("train_steps", "max_train_seconds")
# The relative difference a reproduction may show per metric: what changing only the seed did to the
# DCGAN aids baseline (benchmarks/results/quality_aids_baseline*.json: FID 50.5 vs 49.6, 2%; KID 6%;
# recall 13%), since a GAN amplifies the summation-order differences of CPU kernels over thousands of steps.
DEFAULT_TOLERANCE = 0.15


def train_command(config_name, length, overrides, workdir):
    """The zoo-train command of a shipped run: `length` (["--train_steps=N"], a budget, or []) and
    the --set overrides, exporting into <workdir>/exports."""
    return ["zoo-train", f"--config={config_name}", *length, *(f"--set={item}" for item in overrides),
            f"--workdir={workdir}", f"--export_dir={workdir}/exports"]


def reproduce_command(config_name, steps, overrides):
    """The step-bounded command a card gives for retraining it anywhere."""
    return train_command(config_name, [f"--train_steps={steps}"], overrides, f"runs/reproduce/{config_name}")


def needs_training(workdir, model_dir, train_steps):
    """Whether zoo-ship trains before shipping: the workdir holds no export yet, or fewer steps than
    a step-bounded ship asks for (unless its last invocation stopped early, which it would again)."""
    if export.latest_version(model_dir) is None:
        return True
    record = run_record.read(workdir) or {}
    last = (record.get("invocations") or [{}])[-1]
    return bool(train_steps) and record.get("steps", 0) < train_steps and last.get("stop") != "early_stopping"


def trained_run(workdir, model_dir, config):
    """(record, version_dir, export info) of a finished training in `workdir`, checked: its record
    accounts for every step, it trained `config` (up to its length), and its export holds the step
    the record ends at (or, selected on validation, an earlier best checkpoint)."""
    record = run_record.read(workdir)
    if not run_record.complete(record):
        start = record["invocations"][0]["start_step"] if record and record.get("invocations") else None
        raise UserError(f"{run_record.path_of(workdir)} does not record this run's training from step 0"
                        + (f" (its history starts at step {start}, begun before zoo kept one)" if start else "")
                        + ": its steps and wall time are unknown; ship from a new --root")
    recorded = dict(_flat(record["invocations"][-1]["config"]))
    wanted = dict(_flat(json.loads(config_lib.to_json(config))))
    differ = sorted(key for key in set(recorded) | set(wanted)
                    if key not in LENGTH_KEYS and recorded.get(key) != wanted.get(key))
    if differ:
        shown = ", ".join(f"{key}={recorded.get(key)!r} (asked: {wanted.get(key)!r})" for key in differ[:3])
        raise UserError(f"{workdir} was trained with {shown}{' ...' if len(differ) > 3 else ''}: pass the --set "
                        f"values it was trained with, or another --root to train anew")
    version = export.latest_version(model_dir)
    if version is None:
        raise UserError(f"{workdir} holds no export under {model_dir}: its last invocation stopped with "
                        f"{record['invocations'][-1]['stop']}; rerun zoo-ship to resume it")
    trained = os.path.join(model_dir, str(version))
    info = export.read_info(trained)
    exported_step, steps = info.get("step"), record["steps"]
    # With evaluation on, a run exports its best validation checkpoint ("checkpoint": "best"), which
    # may be earlier than the last step; the same step-bounded run selects it again.
    if exported_step != steps and not (info.get("checkpoint") == "best" and exported_step < steps):
        raise UserError(f"{trained} holds step {exported_step}, {run_record.path_of(workdir)} ends at step {steps}")
    return record, trained, info


def _flat(values, prefix=""):
    for key, value in values.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _stop(invocation):
    config = invocation["config"]
    return {"time_budget": f"stopped by its {config.get('max_train_seconds')} s time budget",
            "early_stopping": f"stopped early: no validation improvement in {config.get('early_stopping_patience')} "
                              "evaluations"}.get(invocation["stop"], "all its steps")


def _invocation_command(invocation):
    return shlex.join(["zoo-train", *(invocation["flags"] or ["(called as a library)"])])


def _limitations(config, spec, interface, steps, seconds, evaluation_split, name, metrics, export_root):
    manifest = floors.load(export_root)
    missed = floors.shortfalls(name, metrics, manifest)
    floor = floors.describe_floor(name, manifest)
    if missed or not floor:
        limits = [f"Trained for {steps:,} steps ({seconds / 60:.1f} minutes on 2 CPU cores), below its quality floor "
                  f"({floor or 'none declared'}): not converged. Retrain longer with the reproduce command and a "
                  "larger --train_steps."]
    else:
        limits = [f"Trained for {steps:,} steps ({seconds / 60:.1f} minutes on 2 CPU cores), meeting its quality floor "
                  f"({floor}, exports/{floors.FLOORS_FILE}); a CPU-budget model, not a state-of-the-art one: "
                  "longer training or a larger network may still improve it."]
    for _, kind in kinds.declared(interface):  # What each kind of evaluation says of its limits, once.
        limits += [line for line in kind.limitations(config.dataset, spec.image_shape) if line not in limits]
    limits.append(f"Metrics are on the {evaluation_split} split, which played no part in training or in choosing "
                  "this version.")
    return limits


def _selection(config, info, interface, exported_step):
    """Which checkpoint the card's version holds: the best of the evaluations during training, or the last."""
    if info.get("checkpoint") != "best":
        return "the last step"
    metric = info.get("eval_metric", config.eval_metric)  # Exports before it was recorded selected on it.
    _, kind, _ = kinds.training_choice(interface, metric, config.model)
    return (f"the checkpoint of step {exported_step:,}, best validation {metric} ({info['evaluation'][metric]:.2f}, "
            f"{kind.training_protocol(config)}) of the evaluations every {config.eval_every:,} steps")


def _first_paragraph(text):
    """A docstring's first paragraph as one line (its first line may stop mid-sentence)."""
    return " ".join((text or "").strip().split("\n\n")[0].split())


def build_card(config_name, config, overrides, eval_flags, record, trained, info, evaluation, export_root, command):
    """The model card of `trained` (a version dir) shipped as the next version under `export_root`:
    training facts from the run's `record`, numbers from the zoo-eval record `evaluation` (made
    with `eval_flags`), `command` the zoo-ship command line that shipped it."""
    name = config.export_name
    steps, seconds = record["steps"], record["seconds"]
    interface = contract.from_export(trained)
    train = data.load_for(config, "train")
    factory = registry.get(config.model)
    metrics = cards.metrics_of(evaluation)
    card = {
        "schema": cards.SCHEMA,
        "name": name,
        "version": (export.latest_version(os.path.join(export_root, name)) or 0) + 1,
        "model": config.model,
        "config": config_name,
        "what": f"{(factory.__doc__ or '').strip()} {_first_paragraph(sys.modules[factory.__module__].__doc__)}".strip(),
        "data": {"dataset": config.dataset, "train": train.description, "license": data.license_of(config.dataset)},
        "training": {"steps": steps, "exported_step": info.get("step"),
                     "selection": _selection(config, info, interface, info.get("step")),
                     "wall_seconds": seconds, "batch_size": config.batch_size, "seed": config.seed,
                     "overrides": list(overrides), "command": command,
                     "runs": [_invocation_command(invocation) for invocation in record["invocations"]],
                     "reproduce": shlex.join(reproduce_command(config_name, steps, overrides)),
                     "stop": _stop(record["invocations"][-1]), "machine": machine(),
                     "date": time.strftime("%Y-%m-%d")},
        "evaluation": _evaluation_section(name, eval_flags, evaluation, interface),
        "metrics": metrics,
        "signatures": cards.signature_table(trained),
        "intended_use": kinds.declared(interface)[0][1].intended_use,
        "limitations": _limitations(config, train.spec, interface, steps, seconds, evaluation["split"], name, metrics,
                                    export_root),
    }
    card["headline"] = cards.headline(metrics)
    return card


def _evaluation_section(name, eval_flags, evaluation, interface):
    # Cards describe the repository's shipped tree: its path from the repository root, whatever the export root.
    evaluation_command = ["zoo-eval", f"--export=exports/{name}", *eval_flags]
    protocol = [f"{evaluation['split']} split of {evaluation['dataset']}"]
    protocol += [part for _, kind in kinds.declared(interface) for part in kind.protocol(evaluation)]
    return {"command": shlex.join(evaluation_command), "split": evaluation["split"], "protocol": "; ".join(protocol),
            "seconds": evaluation.get("seconds")}


def card_eval_flags(card):
    """The zoo-eval flags a card's evaluation command passed besides --export."""
    return [word for word in shlex.split(card["evaluation"]["command"])[1:] if not word.startswith("--export=")]


def reexport_card(source_card, config, trained, evaluation, eval_flags, export_root, command, overrides=(),
                  source=None):
    """The card of `trained`, a re-export (zoo.train.reexport) of the version `source_card`
    describes: its training facts as they were, the numbers zoo-eval measured on the new version,
    its signatures, and what re-exported it (with `overrides`, the config changes the re-exports
    applied on top of the training's; `source`, the version dir, is named when it is not a version
    of this model in `export_root`, e.g. a run's own export shipped into a staging root first)."""
    card = json.loads(json.dumps(source_card))
    name, training = card["name"], card["training"]
    interface = contract.from_export(trained)
    metrics = cards.metrics_of(evaluation)
    train = data.load_for(config, "train")
    card.update(
        schema=cards.SCHEMA,
        version=(export.latest_version(os.path.join(export_root, name)) or 0) + 1,
        evaluation=_evaluation_section(name, eval_flags, evaluation, interface),
        metrics=metrics,
        signatures=cards.signature_table(trained),
        intended_use=kinds.declared(interface)[0][1].intended_use,
        limitations=_limitations(config, train.spec, interface, training["steps"], training["wall_seconds"],
                                 evaluation["split"], name, metrics, export_root))
    training["reexported"] = {"from_version": source_card["version"], "command": command,
                              "date": time.strftime("%Y-%m-%d"), "machine": machine()}
    if overrides:
        training["reexported"]["overrides"] = list(overrides)
    if source and os.path.realpath(os.path.dirname(source.rstrip("/"))) != os.path.realpath(os.path.join(export_root,
                                                                                                       name)):
        training["reexported"]["source"] = source
    card["headline"] = cards.headline(metrics)
    return card


def publish(trained, export_root, card, replace=False):
    """Copies `trained` with its card into `<export_root>/<name>/<card version>/` (renamed into place
    once complete), refreshes models.config and the batching parameters, and returns the new
    version dir. `replace` removes the older versions of that model."""
    shipped_dir = os.path.join(export_root, card["name"])
    os.makedirs(shipped_dir, exist_ok=True)
    temporary = os.path.join(shipped_dir, f".tmp-ship-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    shutil.copytree(trained, temporary)
    with open(os.path.join(temporary, export.INFO_FILE)) as f:
        shipped_info = json.load(f)
    shipped_info["version"] = card["version"]
    with open(os.path.join(temporary, export.INFO_FILE), "w") as f:
        json.dump(shipped_info, f, indent=2, sort_keys=True)
    card["size_bytes"] = cards.directory_bytes(temporary)  # Before the card itself is written.
    cards.write(temporary, card)
    final = os.path.join(shipped_dir, str(card["version"]))
    if os.path.exists(final):
        shutil.rmtree(temporary)
        raise UserError(f"{final} already exists: a shipped version is never overwritten")
    os.rename(temporary, final)
    if replace:
        for old in saved_model.list_versions(shipped_dir)[:-1]:
            shutil.rmtree(os.path.join(shipped_dir, str(old)))
    serving_config.update_models_config(export_root)
    serving_config.write_batching_parameters(export_root)  # docker-compose.yml's server reads it.
    return final


def ignored_by_git(version_dir):
    """Whether git would leave `version_dir` out of a commit (.gitignore keeps version 1 of each
    model and the reshipped versions it names); False outside a git checkout."""
    return subprocess.run(["git", "check-ignore", "-q", "saved_model.pb"], cwd=os.path.abspath(version_dir),
                          check=False, capture_output=True).returncode == 0


def shipped_card(target, exports="exports"):
    """(version_dir, card) of a shipped model: `target` is a name under `exports`, a model dir
    (exports/<name>: its newest version with a card) or a version dir."""
    if os.path.isfile(os.path.join(target, "saved_model.pb")):
        card = cards.read(target)
        if card is None:
            raise UserError(f"{target} has no model card ({cards.card_path(target)}): only shipped versions have one")
        return target, card
    model_dir = target if saved_model.list_versions(target) else os.path.join(exports, target)
    for version in reversed(saved_model.list_versions(model_dir)):
        card = cards.read(os.path.join(model_dir, str(version)))
        if card is not None:
            return os.path.join(model_dir, str(version)), card
    shipped = sorted(entry for entry in (os.listdir(exports) if os.path.isdir(exports) else [])
                     if os.path.isdir(os.path.join(exports, entry)))
    raise UserError(f"no shipped version with a model card under {model_dir}; shipped models in {exports}: "
                    f"{', '.join(shipped) or 'none'}")


def reproduction(card, workdir=None):
    """(zoo-train command, zoo-export command or None, zoo-eval command without --out, workdir) that
    reproduce `card`: its reproduce command, retargeted at `workdir` (and its exports) when given;
    the zoo-export re-exports the retrained weights with the overrides a re-export shipped them with."""
    training = shlex.split(card["training"]["reproduce"])
    if workdir:
        training = [f"--workdir={workdir}" if word.startswith("--workdir=") else
                    f"--export_dir={workdir}/exports" if word.startswith("--export_dir=") else word for word in training]
        card = {**card, "training": {**card["training"], "reproduce": shlex.join(training)}}
    flags = dict(word[2:].split("=", 1) for word in training if word.startswith("--") and "=" in word)
    for needed in ("workdir", "export_dir"):
        if needed not in flags:
            raise UserError(f"{card['name']}'s card reproduce command has no --{needed}: {shlex.join(training)}")
    reexport = cards.reproduce_reexport(card)
    return (training, shlex.split(reexport) if reexport else None, shlex.split(cards.reproduce_evaluation(card)),
            flags["workdir"])


def compare(card_metrics, metrics, tolerance):
    """[(name, card value, reproduced value, relative difference, within tolerance)]; standard
    deviations (`*_std`) are spreads, not results, and are not compared; a missing metric fails."""
    rows = []
    for name, expected in sorted(card_metrics.items()):
        if name.endswith("_std"):
            continue
        value = metrics.get(name)
        if value is None:
            rows.append((name, expected, None, None, False))
            continue
        relative = abs(value - expected) / max(abs(expected), 1e-12)
        rows.append((name, expected, value, relative, relative <= tolerance))
    return rows
