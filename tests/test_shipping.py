"""What shipping relies on: a time-budgeted run is reproduced by a step-bounded one, model cards
(numbers, headline, signature table, Markdown), and benchmarks/reproduce.py's comparison."""

import os

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import reproduce
from tests import helpers, model_checks
from zoo import export, train
from zoo.export import cards


def _weights(workdir, step):
    reader = tf.train.load_checkpoint(os.path.join(workdir, "checkpoints", f"ckpt-{step}"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if "_CHECKPOINTABLE_OBJECT_GRAPH" not in name and not name.startswith("save_counter/")}


def test_a_run_stopped_by_its_time_budget_is_reproduced_by_train_steps(tiny_fashion_mnist, tmp_path, monkeypatch):
    """A card's reproduce command replaces the wall-clock budget that shipped it by --train_steps=<the
    step it stopped at>: the same updates, so the same weights, whatever the machine's speed."""
    from zoo.train import progress

    ticks = iter(range(10**6))  # A clock that advances one second each time the trainer reads it.
    monkeypatch.setattr(progress.Progress, "elapsed", lambda self: float(next(ticks)))
    budgeted = helpers.smoke_config("dcgan", tiny_fashion_mnist, train_steps=10**6, max_train_seconds=5,
                                    checkpoint_every=10**6, image_every=0, log_every=10**6)
    first = train.train_and_evaluate(budgeted, str(tmp_path / "budget"))
    monkeypatch.undo()
    assert first.stop_reason == "time_budget" and first.step > 1
    stepped = helpers.smoke_config("dcgan", tiny_fashion_mnist, train_steps=first.step, checkpoint_every=10**6,
                                   image_every=0, log_every=10**6)
    second = train.train_and_evaluate(stepped, str(tmp_path / "steps"))
    assert second.stop_reason == "completed" and second.step == first.step
    a, b = _weights(str(tmp_path / "budget"), first.step), _weights(str(tmp_path / "steps"), first.step)
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_metrics_of_an_evaluation_record():
    samples = {"metrics": {"fid": 40.0, "kid_mean": 3.0, "kid_std": 0.5, "precision": 0.7, "recall": 0.5,
                           "density": 0.9, "coverage": 0.6, "num_samples": 10000},
               "label_accuracy": {"accuracy": 0.8, "real_accuracy": 0.92},
               "likelihood": {"nll": {"nll_nats": 2000.0, "bits_per_dim": 3.68},
                              "negative_elbo": {"bits_per_dim": 3.9}}}
    values = cards.metrics_of(samples)
    assert values == {"fid": 40.0, "kid_mean": 3.0, "kid_std": 0.5, "precision": 0.7, "recall": 0.5, "density": 0.9,
                      "coverage": 0.6, "label_accuracy": 0.8, "label_accuracy_real": 0.92, "nll_nats": 2000.0,
                      "nll_bits_per_dim": 3.68, "negative_elbo_bits_per_dim": 3.9}
    assert cards.headline(values) == "3.680 bits/dim, FID 40.0, label accuracy 0.80"
    translation = cards.metrics_of({"translation": {"psnr": 19.5, "ssim": 0.66, "l1": 0.05, "fid": 30.0,
                                                    "kid_mean": 2.0, "kid_std": 0.1, "num_examples": 10}})
    assert translation == {"psnr": 19.5, "ssim": 0.66, "l1": 0.05, "fid": 30.0, "kid_mean": 2.0, "kid_std": 0.1}
    assert cards.headline(translation) == "PSNR 19.50 dB, SSIM 0.660, FID 30.0"
    assert cards.headline(cards.metrics_of({"likelihood": {"bits_per_byte": 2.3456}})) == "2.346 bits/byte"


def test_signature_table_reads_the_saved_model(tmp_path):
    path = export.export_model(model_checks.build("cgan"), str(tmp_path), "cgan", serving_files=False)
    table = cards.signature_table(path)
    assert table["serving_default"] == {"inputs": {"label": ["int64", [-1]], "seed": ["int64", [-1]]},
                                        "outputs": {"images": ["uint8", [-1, 28, 28, 1]]}}
    assert sorted(table) == sorted(tf.saved_model.load(path).signatures)


def _card(tmp_path):
    return {"schema": 1, "name": "dcgan_x", "version": 1, "model": "dcgan", "config": "dcgan_fashion_mnist",
            "what": "A DCGAN.", "data": {"dataset": "fashion_mnist", "train": "50000 images", "license": "MIT"},
            "training": {"steps": 700, "wall_seconds": 421.0, "batch_size": 64, "seed": 0, "overrides": [],
                         "command": "zoo-train --config=dcgan_fashion_mnist --max_train_seconds=420 --workdir=w "
                                    "--export_dir=w/exports",
                         "reproduce": "zoo-train --config=dcgan_fashion_mnist --train_steps=700 --workdir=r "
                                      "--export_dir=r/exports",
                         "stop": "stopped by its 420 s time budget", "machine": "here", "date": "2026-11-30"},
            "evaluation": {"command": "zoo-eval --export=exports/dcgan_x", "split": "test", "protocol": "test split"},
            "metrics": {"fid": 50.0, "recall": 0.5, "kid_std": 0.3}, "headline": "FID 50.0",
            "signatures": {"serving_default": {"inputs": {"seed": ["int64", [-1]]},
                                               "outputs": {"images": ["uint8", [-1, 28, 28, 1]]}}},
            "size_bytes": 8_400_000, "intended_use": "Trying it.", "limitations": ["Short run."]}


def test_card_files_and_markdown(tmp_path):
    card = _card(tmp_path)
    cards.write(str(tmp_path), card)
    assert cards.read(str(tmp_path)) == card
    markdown = open(cards.card_path(str(tmp_path), markdown=True)).read()
    assert markdown.startswith("# dcgan_x (version 1)\n\nA DCGAN.\n")
    assert "700 steps of batch 64 in 7m01s" in markdown and "| fid | 50 |" in markdown
    # The reproduce block evaluates the reproduced export, not the shipped one.
    assert "zoo-train --config=dcgan_fashion_mnist --train_steps=700 --workdir=r --export_dir=r/exports\n" \
           "zoo-eval --export=r/exports/dcgan_x\n" in markdown
    assert "| `serving_default` | `seed` int64[-1] | `images` uint8[-1, 28, 28, 1] |" in markdown
    assert cards.read(str(tmp_path / "nothing")) is None


def test_reproduce_compares_within_a_relative_tolerance(tmp_path):
    rows = reproduce.compare({"fid": 50.0, "recall": 0.5, "kid_std": 0.3}, {"fid": 56.0, "recall": 0.52}, 0.1)
    assert [(name, ok) for name, _, _, _, ok in rows] == [("fid", False), ("recall", True)]  # kid_std: a spread.
    assert rows[0][3] == pytest.approx(0.12)
    rows = reproduce.compare({"fid": 50.0, "coverage": 0.4}, {"fid": 50.0}, 0.1)
    assert rows[0] == ("coverage", 0.4, None, None, False)  # A metric the reproduction lacks is a failure.
    exports = tmp_path / "exports"
    version = exports / "dcgan_x" / "1"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"")
    cards.write(str(version), _card(tmp_path))
    assert reproduce.shipped_card(str(exports), "dcgan_x")[1]["name"] == "dcgan_x"
    with pytest.raises(SystemExit, match="no shipped version with a model card under .*shipped models: dcgan_x"):
        reproduce.shipped_card(str(exports), "other")


@pytest.mark.integration  # benchmarks/ship.py and reproduce.py as processes
@pytest.mark.slow
def test_ship_then_reproduce_end_to_end(tiny_fashion_mnist, tmp_path):
    """benchmarks/ship.py trains, measures, writes the card and ships version 1; reproduce.py retrains
    from the card's command and finds the same numbers (same steps, seed and data on one machine)."""
    import subprocess
    import sys

    exports = tmp_path / "exports"
    small = ["--set=model_config.generator_width=8", "--set=model_config.discriminator_width=8",
             f"--set=data_dir={tiny_fashion_mnist}"]
    evaluation = ["--eval_flag=--num_samples=64", "--eval_flag=--reference_examples=64",
                  f"--eval_flag=--data_dir={tiny_fashion_mnist}"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    shipped = subprocess.run([sys.executable, "benchmarks/ship.py", "--config=dcgan_fashion_mnist", "--train_steps=3",
                              *small, *evaluation, f"--root={tmp_path / 'ship'}", f"--exports={exports}"],
                             cwd=helpers.REPO, env=env, capture_output=True, text=True, timeout=600)
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    card = cards.read(str(exports / "dcgan_fashion_mnist" / "1"))
    assert card["training"]["steps"] == 3 and card["evaluation"]["split"] == "test"
    assert card["training"]["overrides"] == [item.split("=", 1)[1] for item in small]
    assert "dcgan_fashion_mnist" in open(exports / "models.config").read()
    reproduced = subprocess.run([sys.executable, os.path.join(helpers.REPO, "benchmarks", "reproduce.py"), "dcgan_fashion_mnist",
                                 f"--exports={exports}", "--tolerance=0.001"],
                                cwd=tmp_path, env=dict(env, PYTHONPATH=helpers.REPO), capture_output=True, text=True,
                                timeout=600)
    assert reproduced.returncode == 0, reproduced.stdout + reproduced.stderr
    assert "dcgan_fashion_mnist: reproduced within 0% (6/6 metrics)" in reproduced.stdout
