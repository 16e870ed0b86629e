"""Retrains a shipped model from its card's command and compares the new export's metrics with the card.

    python benchmarks/reproduce.py dcgan_fashion_mnist [--tolerance=0.15] [--exports=exports]

Runs the card's step-bounded `training.reproduce` command (a fresh workdir under runs/reproduce/;
a rerun resumes it, or reuses its export when it is complete), then the card's zoo-eval command on
the new export, and prints one row per metric: the card's value, the reproduced one and their
relative difference. Exits 1 when a metric differs by more than --tolerance (relative).

The same steps on the same data with the same seed give the same updates, but not the same bits
on every machine: CPU kernels differ in summation order, and a GAN amplifies such differences over
thousands of steps. So a reproduction is a new sample of the same recipe. The default tolerance
(15% relative) covers what changing only the seed did to the DCGAN aids baseline
(benchmarks/results/quality_aids_baseline*.json: FID 50.5 vs 49.6, 2%; KID 6%; recall 13%).
Standard deviations (kid_std) are spreads, not results, and are not compared.
The comparison is written to runs/reproduce/<config>/reproduce.json.
"""

import json
import os
import shlex
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

flags.DEFINE_float("tolerance", 0.15, "Largest relative difference accepted per metric.")
flags.DEFINE_string("exports", "exports", "Where the shipped exports are.")
FLAGS = flags.FLAGS


def _flag(command, name):
    for word in command:
        if word.startswith(f"--{name}="):
            return word.split("=", 1)[1]
    raise SystemExit(f"the card's command has no --{name}: {shlex.join(command)}")


def shipped_card(exports, name):
    """(version_dir, card) of the newest version of `name` that carries a model card."""
    from zoo.export import cards, saved_model

    model_dir = os.path.join(exports, name)
    for version in reversed(saved_model.list_versions(model_dir)):
        card = cards.read(os.path.join(model_dir, str(version)))
        if card is not None:
            return os.path.join(model_dir, str(version)), card
    shipped = sorted(entry for entry in (os.listdir(exports) if os.path.isdir(exports) else [])
                     if os.path.isdir(os.path.join(exports, entry)))
    raise SystemExit(f"no shipped version with a model card under {model_dir}; shipped models: {', '.join(shipped)}")


def compare(card_metrics, metrics, tolerance):
    """[(name, card value, reproduced value, relative difference, within tolerance)]."""
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


def main(argv):
    if len(argv) != 2:
        raise SystemExit("usage: python benchmarks/reproduce.py <shipped model name>")
    from zoo import export
    from zoo.export import cards

    _, card = shipped_card(FLAGS.exports, argv[1])
    training = shlex.split(card["training"]["reproduce"])
    workdir = _flag(training, "workdir")
    export_dir = _flag(training, "export_dir")
    model_dir = os.path.join(export_dir, card["name"])
    if export.latest_version(model_dir) is None:
        common.run_zoo_command(training)
    out = os.path.join(workdir, "eval.json")
    common.run_zoo_command(shlex.split(cards.reproduce_evaluation(card)) + [f"--out={out}"])
    with open(out) as f:
        metrics = cards.metrics_of(json.load(f))
    rows = compare(card["metrics"], metrics, FLAGS.tolerance)
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
          f"({len(rows) - len(outside)}/{len(rows)} metrics){': ' + ', '.join(outside) if outside else ''}")
    sys.exit(1 if outside else 0)


if __name__ == "__main__":
    app.run(main)
