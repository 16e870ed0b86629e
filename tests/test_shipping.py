"""What shipping relies on: a time-budgeted run is reproduced by a step-bounded one, model cards
(numbers, headline, signature table, Markdown), zoo-ship reading the run's own record, and
zoo-reproduce's comparison."""

import configparser
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests import helpers, model_checks
from zoo import export, ship, train
from zoo.errors import UserError
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


def test_card_markdown_names_the_installed_commands(tmp_path):
    card = _card(tmp_path)
    card["training"].update(command="zoo-ship --config=dcgan_fashion_mnist --train_steps=700",
                            runs=["zoo-train --config=dcgan_fashion_mnist --train_steps=400 --workdir=w",
                                  "zoo-train --config=dcgan_fashion_mnist --train_steps=700 --workdir=w"])
    markdown = cards.render_markdown(card)
    assert "`zoo-reproduce dcgan_x` runs both and compares." in markdown and "benchmarks/" not in markdown
    assert ("Shipped by: `zoo-ship --config=dcgan_fashion_mnist --train_steps=700`, which trained with "
            "`zoo-train --config=dcgan_fashion_mnist --train_steps=400 --workdir=w`, then "
            "`zoo-train --config=dcgan_fashion_mnist --train_steps=700 --workdir=w` (the run stopped at step 700") in markdown
    assert "Shipped by: `zoo-train --config=dcgan_fashion_mnist --max_train_seconds=420" in cards.render_markdown(
        _card(tmp_path))  # A card shipped before zoo-ship, without runs.


def test_a_card_markdown_is_rewritten_from_its_json_alone(tmp_path):
    version = tmp_path / "exports" / "dcgan_x" / "1"
    cards.write(str(version), _card(tmp_path))
    path = cards.card_path(str(version), markdown=True)
    with open(path, "w") as f:
        f.write("`python benchmarks/reproduce.py dcgan_x` runs both and compares.\n")
    before = open(cards.card_path(str(version))).read()
    assert cards.rewrite_markdown(str(version)) is True
    assert open(path).read() == cards.render_markdown(_card(tmp_path))
    assert open(cards.card_path(str(version))).read() == before  # The card's facts are untouched.
    assert cards.rewrite_markdown(str(version)) is False


def test_reproduce_compares_within_a_relative_tolerance(tmp_path):
    rows = ship.compare({"fid": 50.0, "recall": 0.5, "kid_std": 0.3}, {"fid": 56.0, "recall": 0.52}, 0.1)
    assert [(name, ok) for name, _, _, _, ok in rows] == [("fid", False), ("recall", True)]  # kid_std: a spread.
    assert rows[0][3] == pytest.approx(0.12)
    rows = ship.compare({"fid": 50.0, "coverage": 0.4}, {"fid": 50.0}, 0.1)
    assert rows[0] == ("coverage", 0.4, None, None, False)  # A metric the reproduction lacks is a failure.
    exports = tmp_path / "exports"
    version = exports / "dcgan_x" / "1"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"")
    cards.write(str(version), _card(tmp_path))
    # A name under the exports, a model dir or a version dir.
    for target in ("dcgan_x", str(exports / "dcgan_x"), str(version)):
        assert ship.shipped_card(target, str(exports)) == (os.path.join(str(exports), "dcgan_x", "1"), _card(tmp_path))
    with pytest.raises(UserError, match="no shipped version with a model card under .*; shipped models in .*: dcgan_x"):
        ship.shipped_card("other", str(exports))
    training, reexport, evaluation, workdir = ship.reproduction(_card(tmp_path), str(tmp_path / "scratch"))
    assert training[-2:] == [f"--workdir={tmp_path / 'scratch'}", f"--export_dir={tmp_path / 'scratch'}/exports"]
    assert reexport is None and evaluation == ["zoo-eval", f"--export={tmp_path / 'scratch'}/exports/dcgan_x"]
    assert workdir == str(tmp_path / "scratch")
    # A version re-exported with overrides is reproduced by retraining, then re-exporting with the
    # training's overrides and the re-export's (in that order: the later wins), then evaluating that.
    card = _card(tmp_path)
    card["training"].update(overrides=["model_config.width=8"], reexported={
        "from_version": 1, "command": "zoo-ship --reexport=dcgan_x --set=model_config.sample_steps=10",
        "date": "2026-12-07", "machine": "here", "overrides": ["model_config.sample_steps=10"]})
    training, reexport, evaluation, _ = ship.reproduction(card, str(tmp_path / "scratch"))
    assert reexport == ["zoo-export", f"--from_export={tmp_path / 'scratch'}/exports/dcgan_x",
                        "--config=dcgan_fashion_mnist", "--set=model_config.width=8",
                        "--set=model_config.sample_steps=10", f"--export_dir={tmp_path / 'scratch'}/reexported"]
    assert evaluation == ["zoo-eval", f"--export={tmp_path / 'scratch'}/reexported/dcgan_x"]
    markdown = cards.render_markdown(card)
    assert ("--export_dir=r/exports\nzoo-export --from_export=r/exports/dcgan_x --config=dcgan_fashion_mnist "
            "--set=model_config.width=8 --set=model_config.sample_steps=10 --export_dir=r/reexported\n"
            "zoo-eval --export=r/reexported/dcgan_x\n") in markdown
    assert "Re-exported from version 1 on 2026-12-07 " in markdown
    assert "served by that day's signatures with `model_config.sample_steps=10`;" in markdown
    card["training"]["reexported"]["source"] = "/var/tmp/stage/dcgan_x/1"  # Not a version of the export root.
    assert "Re-exported from version 1 of /var/tmp/stage/dcgan_x/1 on 2026-12-07 " in cards.render_markdown(card)
    assert "`zoo-reproduce dcgan_x` runs them and compares." in markdown


def test_setup_cfg_installs_every_command():
    """The console scripts setup.cfg installs, each a `run` function of its experiments module."""
    import importlib

    parser = configparser.ConfigParser()
    parser.read(os.path.join(helpers.REPO, "setup.cfg"))
    scripts = dict(line.split(" = ") for line in parser["options.entry_points"]["console_scripts"].strip().splitlines())
    assert {"zoo-ship": "experiments.ship:run", "zoo-reproduce": "experiments.reproduce:run"}.items() <= scripts.items()
    assert sorted(scripts) == sorted(helpers.COMMANDS.values())
    for target in scripts.values():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), target


SMALL = ["--set=model_config.generator_width=8", "--set=model_config.discriminator_width=8"]


def test_ship_reads_the_run_record_then_reproduce_retrains_and_compares(tiny_fashion_mnist, tmp_path):
    """zoo-ship resumes a shorter run in its workdir to --train_steps, takes steps and wall time from
    run.json (both invocations' seconds added), writes the card and ships version 1; zoo-reproduce
    retrains from the card in a scratch workdir and finds the same numbers (3 straight steps are the
    2 + 1 resumed ones, on one machine)."""
    root, exports = tmp_path / "ship", tmp_path / "exports"
    data = f"--set=data_dir={tiny_fashion_mnist}"
    evaluation = ["--eval_flag=--num_samples=64", "--eval_flag=--reference_examples=64",
                  f"--eval_flag=--data_dir={tiny_fashion_mnist}"]
    workdir = root / "dcgan_fashion_mnist"
    earlier = helpers.run_binary("train", "--config=dcgan_fashion_mnist", "--train_steps=2", *SMALL, data,
                                 f"--workdir={workdir}", f"--export_dir={workdir}/exports")
    assert earlier.returncode == 0, earlier.stderr
    shipped = helpers.run_binary("ship", "--config=dcgan_fashion_mnist", "--train_steps=3", *SMALL, data, *evaluation,
                                 f"--root={root}", f"--exports={exports}")
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    assert "resuming dcgan from step 2" in shipped.stdout and "shipped " in shipped.stdout
    record = json.load(open(workdir / "run.json"))
    assert [(run["start_step"], run["end_step"]) for run in record["invocations"]] == [(0, 2), (2, 3)]
    card = cards.read(str(exports / "dcgan_fashion_mnist" / "1"))
    training = card["training"]
    assert training["steps"] == record["steps"] == 3 and training["exported_step"] == 3
    assert training["wall_seconds"] == record["seconds"] == pytest.approx(
        sum(run["seconds"] for run in record["invocations"]))
    assert training["overrides"] == [item.split("=", 1)[1] for item in [*SMALL, data]]
    assert training["reproduce"].startswith("zoo-train --config=dcgan_fashion_mnist --train_steps=3 ")
    assert training["command"].startswith("zoo-ship ") and len(training["runs"]) == 2
    assert "--train_steps=2" in training["runs"][0] and "--train_steps=3" in training["runs"][1]
    assert card["evaluation"]["split"] == "test" and "dcgan_fashion_mnist" in open(exports / "models.config").read()
    markdown = open(cards.card_path(str(exports / "dcgan_fashion_mnist" / "1"), markdown=True)).read()
    assert "`zoo-reproduce dcgan_fashion_mnist` runs both and compares." in markdown
    # Shipping again adds version 2 without training (the workdir holds its export and its steps).
    again = helpers.run_binary("ship", "--config=dcgan_fashion_mnist", "--train_steps=3", *SMALL, data, *evaluation,
                               f"--root={root}", f"--exports={exports}")
    assert again.returncode == 0 and "$ zoo-train" not in again.stdout, again.stdout + again.stderr
    assert cards.read(str(exports / "dcgan_fashion_mnist" / "2"))["training"]["wall_seconds"] == record["seconds"]
    # Re-shipping version 2's weights through today's code (no training) adds version 3: the same
    # training facts, the same images, the same numbers measured again on the new version.
    reexported = helpers.run_binary("ship", "--reexport=dcgan_fashion_mnist", f"--root={root}", f"--exports={exports}")
    assert reexported.returncode == 0, reexported.stdout + reexported.stderr
    assert "serving_default: same outputs on 2 example rows" in reexported.stdout, reexported.stdout
    assert "$ zoo-train" not in reexported.stdout
    v2, v3 = (cards.read(str(exports / "dcgan_fashion_mnist" / str(version))) for version in (2, 3))
    assert v3["version"] == 3 and {key: value for key, value in v3["training"].items() if key != "reexported"} == \
        v2["training"]
    reexport = v3["training"]["reexported"]
    assert reexport["from_version"] == 2 and reexport["command"].startswith("zoo-ship ") and "source" not in reexport
    assert "--reexport=dcgan_fashion_mnist" in reexport["command"].split()
    assert v3["metrics"] == pytest.approx(v2["metrics"], rel=1e-9) and v3["evaluation"]["command"] == v2["evaluation"]["command"]
    seeds = tf.constant([3, 4], tf.int64)
    images = [tf.saved_model.load(str(exports / "dcgan_fashion_mnist" / str(version))).signatures["serving_default"](
        seed=seeds)["images"].numpy() for version in (2, 3)]
    np.testing.assert_array_equal(images[0], images[1])
    assert "Re-exported from version 2 on " in open(cards.card_path(str(exports / "dcgan_fashion_mnist" / "3"),
                                                                   markdown=True)).read()
    # A re-export may change what the export serves (here a setting that leaves the images alone) but
    # not the weights' shapes; its card records the overrides, and reproducing it re-exports with them.
    changed = helpers.run_binary("ship", "--reexport=dcgan_fashion_mnist", "--set=model_config.generator_width=16",
                                 f"--root={root}", f"--exports={exports}")
    helpers.assert_one_line_error(changed, "generator")
    v4 = helpers.run_binary("ship", "--reexport=dcgan_fashion_mnist", "--set=model_config.generator_learning_rate=1e-4",
                            f"--root={root}", f"--exports={exports}")
    assert v4.returncode == 0, v4.stdout + v4.stderr
    v4 = cards.read(str(exports / "dcgan_fashion_mnist" / "4"))
    assert v4["training"]["reexported"]["overrides"] == ["model_config.generator_learning_rate=1e-4"]
    assert v4["training"]["overrides"] == v2["training"]["overrides"] and v4["metrics"] == pytest.approx(v2["metrics"])
    reproduced = helpers.run_binary("reproduce", str(exports / "dcgan_fashion_mnist" / "4"), f"--exports={exports}",
                                    "--tolerance=0.001", f"--workdir={tmp_path / 'scratch'}")
    assert reproduced.returncode == 0, reproduced.stdout + reproduced.stderr
    assert "$ zoo-export --from_export=" in reproduced.stdout and "--set=model_config.generator_learning_rate=1e-4" \
        in reproduced.stdout
    assert export.latest_version(str(tmp_path / "scratch" / "reexported" / "dcgan_fashion_mnist")) == 1
    assert "dcgan_fashion_mnist: reproduced within 0% (6/6 metrics)" in reproduced.stdout
    assert json.load(open(tmp_path / "scratch" / "reproduce.json"))["name"] == "dcgan_fashion_mnist"


def test_ship_and_reproduce_refuse_bad_input_in_one_line(tiny_fashion_mnist, tmp_path):
    helpers.assert_one_line_error(helpers.run_binary("ship"), "--config is required")
    helpers.assert_one_line_error(helpers.run_binary("ship", "--config=dcgan_fashion_mnist", "--train_steps=0"),
                                  "--train_steps must be a positive integer, got 0")
    helpers.assert_one_line_error(helpers.run_binary("ship", "--reexport=dcgan_fashion_mnist", "--train_steps=3"),
                                  "--reexport ships the weights a card describes")
    helpers.assert_one_line_error(helpers.run_binary("ship", "--reexport=nothing_shipped", f"--exports={tmp_path}"),
                                  "no shipped version with a model card under")
    helpers.assert_one_line_error(helpers.run_binary("reproduce"), "usage: zoo-reproduce <shipped model name")
    helpers.assert_one_line_error(helpers.run_binary("reproduce", "nothing_shipped", f"--exports={tmp_path}"),
                                  "no shipped version with a model card under")
    # A workdir trained with other settings is not shipped as if it had these.
    workdir = tmp_path / "ship" / "dcgan_fashion_mnist"
    trained = helpers.run_binary("train", "--config=dcgan_fashion_mnist", "--train_steps=1", *SMALL,
                                 f"--set=data_dir={tiny_fashion_mnist}", f"--workdir={workdir}",
                                 f"--export_dir={workdir}/exports")
    assert trained.returncode == 0, trained.stderr
    result = helpers.run_binary("ship", "--config=dcgan_fashion_mnist", "--train_steps=1",
                                "--set=model_config.generator_width=8", f"--set=data_dir={tiny_fashion_mnist}",
                                f"--root={tmp_path / 'ship'}", f"--exports={tmp_path / 'exports'}")
    helpers.assert_one_line_error(result, "was trained with model_config.discriminator_width=8 (asked: ")
    # A run whose record does not start at step 0 (begun before run.json kept its history).
    record = json.load(open(workdir / "run.json"))
    record["invocations"][0]["start_step"] = 1
    json.dump(record, open(workdir / "run.json", "w"))
    result = helpers.run_binary("ship", "--config=dcgan_fashion_mnist", "--train_steps=1", *SMALL,
                                f"--set=data_dir={tiny_fashion_mnist}", f"--root={tmp_path / 'ship'}",
                                f"--exports={tmp_path / 'exports'}")
    helpers.assert_one_line_error(result, "does not record this run's training from step 0", "ship from a new --root")
    assert not os.path.exists(tmp_path / "exports")
