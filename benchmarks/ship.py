"""Ships a trained export into exports/: train a config, measure the export with zoo-eval, write its
model card, and copy the version into `exports/<name>/<version>/` (listed in exports/models.config).

    python benchmarks/ship.py --config=dcgan_fashion_mnist --max_train_seconds=420
    python benchmarks/ship.py --config=vae_fashion_mnist --max_train_seconds=300 --set=model_config.hidden_units=256
    python benchmarks/ship.py --config=pixelcnn_fashion_mnist --max_train_seconds=300 --eval_flag=--num_samples=0

Training runs `zoo-train` in `<root>/<config>` (resumed if interrupted; skipped if that workdir
already holds its export), logging to `<root>/<config>.log`. The card records the command that
ran and, because a wall-clock budget stops at a machine-dependent step, the step-bounded command
that reproduces the same weights anywhere (`--train_steps=<the step it stopped at>`; no model's
update depends on train_steps). zoo-eval measures the trained version on the test split, and
that same version (byte for byte, plus the card in assets.extra) is what ships.
A shipped version is never overwritten: reshipping adds the next version (--replace removes the
older shipped versions of that model).
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

flags.DEFINE_string("config", None, "Config name (experiments/configs/<name>.py).")
flags.DEFINE_integer("max_train_seconds", 0, "Wall-clock training budget (0: the config's train_steps).")
flags.DEFINE_integer("train_steps", None, "Train exactly this many steps instead of a budget.")
flags.DEFINE_multi_string("set", [], "Config overrides for the shipped model (recorded in the card).")
flags.DEFINE_multi_string("eval_flag", [], "Extra zoo-eval flags (recorded in the card), e.g. --num_samples=0.")
flags.DEFINE_string("root", "runs/ship", "Where the training runs live.")
flags.DEFINE_string("exports", "exports", "The export root the version ships into.")
flags.DEFINE_bool("replace", False, "Remove older shipped versions of this model after shipping.")
FLAGS = flags.FLAGS

def _limitations(config, spec, interface, steps, seconds, evaluation_split, name, metrics, export_root):
    from zoo import kinds
    from zoo.export import floors

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
    from zoo import kinds

    if info.get("checkpoint") != "best":
        return "the last step"
    metric = info.get("eval_metric", config.eval_metric)  # Exports before it was recorded selected on it.
    _, kind, _ = kinds.training_choice(interface, metric, config.model)
    return (f"the checkpoint of step {exported_step:,}, best validation {metric} ({info['evaluation'][metric]:.2f}, "
            f"{kind.training_protocol(config)}) of the evaluations every {config.eval_every:,} steps")


def _first_paragraph(text):
    """A docstring's first paragraph as one line (its first line may stop mid-sentence)."""
    return " ".join((text or "").strip().split("\n\n")[0].split())


def _intended_use(interface):
    """What the model's first declared kind of evaluation says it is for."""
    from zoo import kinds

    return kinds.declared(interface)[0][1].intended_use


def main(argv):
    del argv
    if not FLAGS.config:
        raise SystemExit("--config is required")
    from zoo import config as config_lib
    from zoo import contract, data, export, kinds, registry
    from zoo.export import cards, saved_model, serving_config

    config = config_lib.apply_overrides(config_lib.load(FLAGS.config), FLAGS.set)
    name = config.export_name
    workdir = os.path.join(FLAGS.root, FLAGS.config)
    log_path = os.path.join(FLAGS.root, f"{FLAGS.config}.log")
    sets = [f"--set={item}" for item in FLAGS.set]
    if FLAGS.train_steps:
        length = [f"--train_steps={FLAGS.train_steps}"]
    elif FLAGS.max_train_seconds:
        length = [f"--max_train_seconds={FLAGS.max_train_seconds}"]
    else:
        length = []
    command = ["zoo-train", f"--config={FLAGS.config}", *length, *sets, f"--workdir={workdir}",
               f"--export_dir={workdir}/exports"]
    model_dir = os.path.join(workdir, "exports", name)
    if export.latest_version(model_dir) is None:
        os.makedirs(FLAGS.root, exist_ok=True)
        common.run_zoo_command(command, log_path)
    with open(log_path) as f:
        steps, seconds = common.training_seconds(f.readlines())
    trained = os.path.join(model_dir, str(export.latest_version(model_dir)))
    info = export.read_info(trained)
    # With evaluation on, the run exports its best validation checkpoint ("checkpoint": "best"),
    # which may be earlier than the last step; the same step-bounded run selects it again.
    exported_step = info.get("step")
    if exported_step != steps and not (info.get("checkpoint") == "best" and exported_step < steps):
        raise SystemExit(f"{trained} holds step {exported_step}, the log ends at step {steps}")

    eval_out = os.path.join(workdir, "eval.json")
    common.run_zoo_command(["zoo-eval", f"--export={trained}", *FLAGS.eval_flag, f"--out={eval_out}"])
    with open(eval_out) as f:
        record = json.load(f)

    shipped_dir = os.path.join(FLAGS.exports, name)
    version = (export.latest_version(shipped_dir) or 0) + 1
    interface = contract.from_export(trained)
    reproduce = ["zoo-train", f"--config={FLAGS.config}", f"--train_steps={steps}", *sets,
                 f"--workdir=runs/reproduce/{FLAGS.config}", f"--export_dir=runs/reproduce/{FLAGS.config}/exports"]
    # Cards describe the repository's shipped tree: its path from the repository root, whatever --exports was.
    evaluation_command = ["zoo-eval", f"--export=exports/{name}", *FLAGS.eval_flag]
    protocol = [f"{record['split']} split of {record['dataset']}"]
    protocol += [part for _, kind in kinds.declared(interface) for part in kind.protocol(record)]
    train = data.load_for(config, "train")
    factory = registry.get(config.model)
    module = sys.modules[factory.__module__]
    card = {
        "schema": cards.SCHEMA,
        "name": name,
        "version": version,
        "model": config.model,
        "config": FLAGS.config,
        "what": f"{(factory.__doc__ or '').strip()} {_first_paragraph(module.__doc__)}".strip(),
        "data": {"dataset": config.dataset, "train": train.description,
                 "license": data.license_of(config.dataset)},
        "training": {"steps": steps, "exported_step": exported_step,
                     "selection": _selection(config, info, interface, exported_step),
                     "wall_seconds": seconds, "batch_size": config.batch_size, "seed": config.seed,
                     "overrides": list(FLAGS.set), "command": shlex.join(command), "reproduce": shlex.join(reproduce),
                     "stop": (f"stopped by its {FLAGS.max_train_seconds} s time budget"
                              if FLAGS.max_train_seconds and not FLAGS.train_steps else "all its steps"),
                     "machine": common.machine(), "date": time.strftime("%Y-%m-%d")},
        "evaluation": {"command": shlex.join(evaluation_command), "split": record["split"],
                       "protocol": "; ".join(protocol), "seconds": record.get("seconds")},
        "metrics": cards.metrics_of(record),
        "signatures": cards.signature_table(trained),
        "intended_use": _intended_use(interface),
        "limitations": _limitations(config, train.spec, interface, steps, seconds, record["split"], name,
                                    cards.metrics_of(record), FLAGS.exports),
    }
    card["headline"] = cards.headline(card["metrics"])

    os.makedirs(shipped_dir, exist_ok=True)
    temporary = os.path.join(shipped_dir, f".tmp-ship-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    shutil.copytree(trained, temporary)
    with open(os.path.join(temporary, export.INFO_FILE)) as f:
        shipped_info = json.load(f)
    shipped_info["version"] = version
    with open(os.path.join(temporary, export.INFO_FILE), "w") as f:
        json.dump(shipped_info, f, indent=2, sort_keys=True)
    card["size_bytes"] = cards.directory_bytes(temporary)  # Before the card itself is written.
    cards.write(temporary, card)
    final = os.path.join(shipped_dir, str(version))
    os.rename(temporary, final)
    if FLAGS.replace:
        for old in saved_model.list_versions(shipped_dir)[:-1]:
            shutil.rmtree(os.path.join(shipped_dir, str(old)))
    serving_config.update_models_config(FLAGS.exports)
    serving_config.write_batching_parameters(FLAGS.exports)  # docker-compose.yml's server reads it.
    print(f"shipped {final}: {card['headline']} ({card['size_bytes'] / 1e6:.1f} MB, {steps:,} steps in "
          f"{seconds / 60:.1f} min)", flush=True)
    # .gitignore keeps version 1 of each model and the reshipped versions it names (outside a git
    # checkout check-ignore fails, and nothing is said).
    ignored = subprocess.run(["git", "check-ignore", "-q", "saved_model.pb"], cwd=os.path.abspath(final),
                             check=False, capture_output=True).returncode == 0
    if ignored:
        print(f"{final} is ignored by git and would not ship: add '!{final}/' to .gitignore", flush=True)


if __name__ == "__main__":
    app.run(main)
