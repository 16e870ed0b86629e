"""zoo-reproduce: retrains a shipped model from its card's command and compares the new export's
metrics with the card's.

    zoo-reproduce dcgan_fashion_mnist [--tolerance=0.15] [--exports=exports] [--workdir=runs/reproduce/x]
    zoo-reproduce exports/dcgan_fashion_mnist/2

The argument is a shipped model's name (its newest version with a card under --exports), a model
directory or a version directory. Runs the card's step-bounded `training.reproduce` zoo-train
command (in the workdir it names, or --workdir; a rerun resumes it, or reuses its export when it is
complete), re-exports it as the card's version was when a `zoo-ship --reexport --set=...` changed
what it serves (the card's zoo-export command), then runs the card's zoo-eval command on the new
export, and prints one row per metric: the card's value, the reproduced one and their relative
difference. Exits 1 when a metric differs by
more than --tolerance (relative).

The same steps on the same data with the same seed give the same updates, but not the same bits on
every machine: CPU kernels differ in summation order, and a GAN amplifies such differences over
thousands of steps. So a reproduction is a new sample of the same recipe; the default tolerance is
what changing only the seed did to a DCGAN (zoo.ship.DEFAULT_TOLERANCE). Standard deviations
(kid_std) are spreads, not results, and are not compared. The comparison is written to
<workdir>/reproduce.json.
"""

import json
import os
import sys

from absl import flags

from experiments.common import command_flags, run_command, run_zoo_command
from zoo.errors import UserError

FLAGS = command_flags()  # Its own flags (experiments.common): commands share a process.
flags.DEFINE_float("tolerance", 0.15, "Largest relative difference accepted per metric.", flag_values=FLAGS)
flags.DEFINE_string("exports", "exports", "Where shipped models are looked up by name.", flag_values=FLAGS)
flags.DEFINE_string("workdir", None, "Retrain here (and export into <workdir>/exports) instead of the workdir the "
                    "card's command names.", flag_values=FLAGS)
ARGUMENT = "<shipped model name, model dir or version dir>"


def main(argv):
    if FLAGS.tolerance < 0:
        raise UserError(f"--tolerance must be 0 or more (a relative difference), got {FLAGS.tolerance}")
    from zoo import export, ship
    from zoo.export import cards

    _, card = ship.shipped_card(argv[1], FLAGS.exports)
    training, reexport, evaluation, workdir = ship.reproduction(card, FLAGS.workdir)
    export_dir = next(word.split("=", 1)[1] for word in training if word.startswith("--export_dir="))
    if export.latest_version(os.path.join(export_dir, card["name"])) is None:
        run_zoo_command("zoo-reproduce", training)
    if reexport:  # Served the way the card's version is (a re-export's overrides, e.g. its default sampler).
        reexport_dir = next(word.split("=", 1)[1] for word in reexport if word.startswith("--export_dir="))
        if export.latest_version(os.path.join(reexport_dir, card["name"])) is None:
            run_zoo_command("zoo-reproduce", reexport)
    out = os.path.join(workdir, "eval.json")
    run_zoo_command("zoo-reproduce", [*evaluation, f"--out={out}"])
    with open(out) as f:
        metrics = cards.metrics_of(json.load(f))
    rows = ship.compare(card["metrics"], metrics, FLAGS.tolerance)
    print(f"\n{'metric':<28}{'card':>12}{'reproduced':>12}{'difference':>12}")
    for name, expected, value, relative, ok in rows:
        shown = "missing" if value is None else f"{value:.4g}"
        difference = "" if relative is None else f"{100 * relative:.1f}%"
        print(f"{name:<28}{expected:>12.4g}{shown:>12}{difference:>12}{'' if ok else '  OUTSIDE'}")
    with open(os.path.join(workdir, "reproduce.json"), "w") as f:
        json.dump({"name": card["name"], "version": card["version"], "tolerance": FLAGS.tolerance,
                   "rows": [dict(zip(("metric", "card", "reproduced", "relative", "within"), row)) for row in rows]},
                  f, indent=2)
    outside = [row[0] for row in rows if not row[4]]
    print(f"{card['name']}: {'reproduced' if not outside else 'NOT reproduced'} within {FLAGS.tolerance:.0%} "
          f"({len(rows) - len(outside)}/{len(rows)} metrics){': ' + ', '.join(outside) if outside else ''}", flush=True)
    return 1 if outside else 0


def run(argv=None):
    """The command: parses argv (default sys.argv) and returns its exit status."""
    return run_command(FLAGS, main, __doc__, argv, argument=ARGUMENT)


if __name__ == "__main__":
    sys.exit(run())
