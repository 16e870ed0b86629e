"""zoo-ship: trains a config (or resumes it), measures its export with zoo-eval, writes its model
card and copies the version into the export root as that model's next version.

    zoo-ship --config=dcgan_fashion_mnist --train_steps=8700 --set=eval_every=1000 --set=export_checkpoint=best
    zoo-ship --config=vae_fashion_mnist --max_train_seconds=300 --set=model_config.hidden_units=256
    zoo-ship --config=pixelcnn_fashion_mnist --train_steps=2000 --eval_flag=--num_samples=0

Training is zoo-train in <root>/<config> (its output also appended to <root>/<config>.log); it is
skipped when that workdir already holds its export (and, with --train_steps, as many steps), and a
rerun resumes an interrupted one. The card's steps, wall time and training commands come from the
run's own record (<workdir>/run.json, every invocation's seconds summed); its reproduce command is
the step-bounded zoo-train that gives the same weights anywhere (`zoo-reproduce <name>` runs it and
compares). zoo-eval measures the trained version on the test split, and that same version (byte for
byte, plus the card in assets.extra) is what ships. A shipped version is never overwritten:
reshipping adds the next version (--replace removes the older shipped versions of that model).

    zoo-ship --reexport=cddpm_fashion_mnist --replace

--reexport ships a shipped version's weights again through today's code (a new sampler, signature
or declared evaluation) without retraining: zoo.train.reexport rebuilds it from its card's config
and overrides, zoo-eval measures the new version with the card's evaluation flags (or --eval_flag),
and its card keeps the training facts and says what re-exported it. --set with --reexport changes
what the export serves without touching the weights (a resumed run trained with its old default
sampler, re-exported with today's); the card records those overrides, and zoo-reproduce applies
them to the retrained weights before it measures them.

    zoo-ship --reexport=ddpm_fashion_mnist --set=model_config.sample_steps=10 --set=model_config.solver_order=2
"""

import json
import os
import shlex
import shutil
import sys

from absl import flags

from experiments.common import command_flags, flags_text, run_command, run_zoo_command
from zoo.errors import UserError

FLAGS = command_flags()  # Its own flags (experiments.common): commands share a process.
flags.DEFINE_string("config", None, "Config name (experiments/configs/<name>.py).", flag_values=FLAGS)
flags.DEFINE_integer("max_train_seconds", 0, "Wall-clock training budget (0: the config's train_steps).",
                     flag_values=FLAGS)
flags.DEFINE_integer("train_steps", None, "Train exactly this many steps instead of a budget.", flag_values=FLAGS)
flags.DEFINE_multi_string("set", [], "Config overrides for the shipped model (recorded in the card).",
                          flag_values=FLAGS)
flags.DEFINE_multi_string("eval_flag", [], "Extra zoo-eval flags (recorded in the card), e.g. --num_samples=0.",
                          flag_values=FLAGS)
flags.DEFINE_string("root", "runs/ship", "Where the training runs live (<root>/<config>).", flag_values=FLAGS)
flags.DEFINE_string("exports", "exports", "The export root the version ships into.", flag_values=FLAGS)
flags.DEFINE_string("reexport", None, "A shipped model (name, model dir or version dir) to ship again from its "
                    "weights with today's code, instead of --config.", flag_values=FLAGS)
flags.DEFINE_bool("replace", False, "Remove older shipped versions of this model after shipping.", flag_values=FLAGS)


def _reexport():
    from zoo import config as config_lib
    from zoo import ship
    from zoo.train import reexport

    if FLAGS.config or FLAGS.train_steps or FLAGS.max_train_seconds:
        raise UserError("--reexport ships the weights a card describes: --config, --train_steps and "
                        "--max_train_seconds come from that card (--set changes what the export serves, not the weights)")
    source, card = ship.shipped_card(FLAGS.reexport, FLAGS.exports)
    staging = os.path.join(FLAGS.root, "reexport", card["name"])
    shutil.rmtree(staging, ignore_errors=True)
    # The training's overrides, then what earlier re-exports and this one change in the export (a
    # default sampler, step count or guidance): a setting that changes the weights' shapes is refused.
    changes = [*card["training"].get("reexported", {}).get("overrides", []), *FLAGS.set]
    overrides = [*card["training"].get("overrides", []), *changes]
    trained = reexport.reexport(source, staging, card["name"], card["config"], overrides, version=1,
                                log=lambda line: print(line, flush=True))
    for signature, line in reexport.compare(source, trained).items():
        print(f"  {signature}: {line}", flush=True)
    eval_flags = FLAGS.eval_flag or ship.card_eval_flags(card)
    eval_out = os.path.join(staging, "eval.json")
    run_zoo_command("zoo-ship", ["zoo-eval", f"--export={trained}", *eval_flags, f"--out={eval_out}"])
    with open(eval_out) as f:
        evaluation = json.load(f)
    config = config_lib.apply_overrides(config_lib.load(card["config"]), overrides)
    command = shlex.join(["zoo-ship", *flags_text(FLAGS).splitlines()])
    new_card = ship.reexport_card(card, config, trained, evaluation, eval_flags, FLAGS.exports, command, changes,
                                  source)
    final = ship.publish(trained, FLAGS.exports, new_card, FLAGS.replace)
    print(f"shipped {final}: {new_card['headline']} (re-exported from version {card['version']}: "
          f"{card['headline']}; {new_card['size_bytes'] / 1e6:.1f} MB)", flush=True)
    if ship.ignored_by_git(final):
        print(f"{final} is ignored by git and would not ship: add '!{final}/' to .gitignore", flush=True)


def main(argv):
    del argv
    if FLAGS.reexport:
        return _reexport()
    if not FLAGS.config:
        raise UserError("--config is required, e.g. --config=dcgan_fashion_mnist (experiments/configs/<name>.py)")
    if FLAGS.train_steps is not None and FLAGS.train_steps <= 0:
        raise UserError(f"--train_steps must be a positive integer, got {FLAGS.train_steps}")
    if FLAGS.max_train_seconds < 0:
        raise UserError(f"--max_train_seconds must be 0 (none) or positive, got {FLAGS.max_train_seconds}")
    from zoo import config as config_lib
    from zoo import ship

    config = config_lib.apply_overrides(config_lib.load(FLAGS.config), FLAGS.set)
    if FLAGS.train_steps:
        length = [f"--train_steps={FLAGS.train_steps}"]
    elif FLAGS.max_train_seconds:
        length = [f"--max_train_seconds={FLAGS.max_train_seconds}"]
    else:
        length = []
    workdir = os.path.join(FLAGS.root, FLAGS.config)
    model_dir = os.path.join(workdir, "exports", config.export_name)
    if ship.needs_training(workdir, model_dir, FLAGS.train_steps):
        os.makedirs(FLAGS.root, exist_ok=True)
        run_zoo_command("zoo-ship", ship.train_command(FLAGS.config, length, FLAGS.set, workdir),
                        os.path.join(FLAGS.root, f"{FLAGS.config}.log"))
    record, trained, info = ship.trained_run(workdir, model_dir, config)

    eval_out = os.path.join(workdir, "eval.json")
    run_zoo_command("zoo-ship", ["zoo-eval", f"--export={trained}", *FLAGS.eval_flag, f"--out={eval_out}"])
    with open(eval_out) as f:
        evaluation = json.load(f)
    command = shlex.join(["zoo-ship", *flags_text(FLAGS).splitlines()])
    card = ship.build_card(FLAGS.config, config, FLAGS.set, FLAGS.eval_flag, record, trained, info, evaluation,
                           FLAGS.exports, command)
    final = ship.publish(trained, FLAGS.exports, card, FLAGS.replace)
    print(f"shipped {final}: {card['headline']} ({card['size_bytes'] / 1e6:.1f} MB, {record['steps']:,} steps in "
          f"{record['seconds'] / 60:.1f} min)", flush=True)
    if ship.ignored_by_git(final):
        print(f"{final} is ignored by git and would not ship: add '!{final}/' to .gitignore", flush=True)


def run(argv=None):
    """The command: parses argv (default sys.argv) and returns its exit status."""
    return run_command(FLAGS, main, __doc__, argv)


if __name__ == "__main__":
    sys.exit(run())
