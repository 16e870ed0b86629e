"""The trainer: exact resume, MirroredStrategy on two logical CPUs, workdir records, bad input."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from zoo import train
from zoo.errors import TrainingDiverged, UserError


def _weights(workdir):
    model, _, step = train.restore_model(str(workdir))
    networks = [model.generator, model.discriminator] + ([model.ema_generator] if model.ema_decay else [])
    return step, [v.numpy() for network in networks for v in network.weights]


@pytest.mark.parametrize("model,model_overrides", [("dcgan", {"ema_decay": 0.99}), ("mlp_gan", {})])
def test_resume_continues_exactly(tiny_fashion_mnist, tmp_path, model, model_overrides):
    """N straight steps == N/2 steps, a new trainer (restart), N/2 more: identical weights (the
    generator's EMA included).

    256 images at batch 8 make 32 steps an epoch, so 40 steps also cross an epoch boundary.
    """
    def config(**overrides):
        config = helpers.smoke_config(model, tiny_fashion_mnist, checkpoint_every=100, image_every=0, **overrides)
        config.model_config.update(model_overrides)
        return config

    straight = config(train_steps=40)
    train.train_and_evaluate(straight, str(tmp_path / "straight"))
    train.train_and_evaluate(config(train_steps=20), str(tmp_path / "resumed"))
    assert _weights(tmp_path / "resumed")[0] == 20
    result = train.train_and_evaluate(straight, str(tmp_path / "resumed"))
    assert result.step == 40
    step_a, weights_a = _weights(tmp_path / "straight")
    step_b, weights_b = _weights(tmp_path / "resumed")
    assert step_a == step_b == 40
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_array_equal(a, b)
    # And the run really trained: a different seed ends elsewhere.
    train.train_and_evaluate(config(train_steps=40, seed=1), str(tmp_path / "other"))
    assert any(not np.array_equal(a, c) for a, c in zip(weights_a, _weights(tmp_path / "other")[1]))


def test_mirrored_strategy_on_two_cpus(tiny_fashion_mnist, tmp_path):
    strategy = train.make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    config = helpers.smoke_config("dcgan", tiny_fashion_mnist, train_steps=3)
    result = train.train_and_evaluate(config, str(tmp_path / "run"), export_dir=str(tmp_path / "exports"), strategy=strategy)
    assert result.step == 3 and all(np.isfinite(v) for v in result.losses.values())
    loaded = tf.saved_model.load(result.export_path)
    assert loaded.signatures["serving_default"](seed=tf.constant([0], tf.int64))["images"].shape == (1, 28, 28, 1)


def test_workdir_records_config_and_writes_previews_and_summaries(tiny_fashion_mnist, tmp_path, capsys):
    config = helpers.smoke_config("mlp_gan", tiny_fashion_mnist, train_steps=4, image_every=2)
    train.train_and_evaluate(config, str(tmp_path), flags_text="--model=mlp_gan\n")
    out = capsys.readouterr().out
    assert "step 4/4 (100%)" in out and "steps/s" in out and "ETA" in out and "generator_loss=" in out
    assert out.strip().splitlines()[-1].startswith("trained mlp_gan on fashion_mnist: steps 0->4")
    assert json.load(open(tmp_path / "run.json"))["model"] == "mlp_gan"
    assert json.load(open(tmp_path / "config.json"))["train_steps"] == 4
    assert open(tmp_path / "flags.txt").read() == "--model=mlp_gan\n"
    assert sorted(os.listdir(tmp_path / "samples")) == ["step_0000002.png", "step_0000004.png"]
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "tensorboard"))
    # Rerunning a finished run trains nothing and says so.
    result = train.train_and_evaluate(config, str(tmp_path))
    assert result.step == 4 and "nothing to train" in capsys.readouterr().out


def test_workdir_of_another_model_is_refused_untouched(tiny_fashion_mnist, tmp_path):
    train.train_and_evaluate(helpers.smoke_config("mlp_gan", tiny_fashion_mnist), str(tmp_path))
    before = {name: os.path.getmtime(tmp_path / name) for name in ("run.json", "config.json")}
    with pytest.raises(UserError, match="holds a 'mlp_gan' run on 'fashion_mnist', not 'dcgan'"):
        train.train_and_evaluate(helpers.smoke_config("dcgan", tiny_fashion_mnist), str(tmp_path))
    assert before == {name: os.path.getmtime(tmp_path / name) for name in ("run.json", "config.json")}


@pytest.mark.parametrize("key", ["train_steps", "batch_size"])
def test_non_positive_counts_are_refused(tiny_fashion_mnist, tmp_path, key):
    config = helpers.smoke_config("dcgan", tiny_fashion_mnist, **{key: 0})
    with pytest.raises(UserError, match=f"{key} must be a positive integer, got 0"):
        train.train_and_evaluate(config, str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run")


def test_divergence_stops_with_the_step_and_keeps_the_checkpoint(tiny_fashion_mnist, tmp_path):
    config = helpers.smoke_config("mlp_gan", tiny_fashion_mnist, train_steps=2, checkpoint_every=1)
    config.model_config.generator_learning_rate = float("nan")
    with pytest.raises(TrainingDiverged, match="diverged at step 1: .*not finite.*last finite checkpoint: none"):
        train.train_and_evaluate(config, str(tmp_path))


def test_time_budget_stops_and_exports(tiny_fashion_mnist, tmp_path, capsys):
    config = helpers.smoke_config("mlp_gan", tiny_fashion_mnist, train_steps=10**6, max_train_seconds=2)
    result = train.train_and_evaluate(config, str(tmp_path / "run"), export_dir=str(tmp_path / "exports"))
    assert result.stop_reason == "time_budget" and 0 < result.step < 10**6
    assert result.export_path and "stopped by the time budget of 0m02s" in capsys.readouterr().out
    assert _weights(tmp_path / "run")[0] == result.step


def test_run_json_records_steps_seconds_and_flags_and_a_resumed_run_adds_its_own(tiny_fashion_mnist, tmp_path,
                                                                                   monkeypatch):
    """run.json is the run's own record (zoo-ship reads it): the step the run is at, the wall seconds
    of every invocation summed (a resumed invocation adds, never overwrites), and each invocation's
    flags and config. The clock is pinned, so the sums are exact."""
    from zoo.train import progress, run_record

    workdir = str(tmp_path / "run")
    monkeypatch.setattr(progress.Progress, "elapsed", lambda self: 10.25)
    train.train_and_evaluate(helpers.smoke_config("mlp_gan", tiny_fashion_mnist, train_steps=4, image_every=0),
                             workdir, flags_text="--train_steps=4\n--workdir=w\n")
    first = json.load(open(tmp_path / "run" / "run.json"))
    assert (first["model"], first["steps"], first["seconds"]) == ("mlp_gan", 4, 10.25)
    monkeypatch.setattr(progress.Progress, "elapsed", lambda self: 2.5)
    train.train_and_evaluate(helpers.smoke_config("mlp_gan", tiny_fashion_mnist, train_steps=7, image_every=0),
                             workdir, flags_text="--train_steps=7\n--workdir=w\n")
    record = run_record.read(workdir)
    assert (record["steps"], record["seconds"]) == (7, 12.75)
    assert [(run["start_step"], run["end_step"], run["seconds"], run["stop"]) for run in record["invocations"]] == [
        (0, 4, 10.25, "completed"), (4, 7, 2.5, "completed")]
    assert [run["flags"] for run in record["invocations"]] == [["--train_steps=4", "--workdir=w"],
                                                               ["--train_steps=7", "--workdir=w"]]
    assert [run["config"]["train_steps"] for run in record["invocations"]] == [4, 7]
    assert run_record.complete(record)
    # An invocation with nothing to train adds nothing.
    train.train_and_evaluate(helpers.smoke_config("mlp_gan", tiny_fashion_mnist, train_steps=7, image_every=0), workdir)
    assert run_record.read(workdir) == record
    # A run that starts again without a checkpoint starts a new history.
    for name in os.listdir(os.path.join(workdir, "checkpoints")):
        os.remove(os.path.join(workdir, "checkpoints", name))
    train.train_and_evaluate(helpers.smoke_config("mlp_gan", tiny_fashion_mnist, train_steps=2, image_every=0), workdir)
    record = run_record.read(workdir)
    assert (record["steps"], record["seconds"], len(record["invocations"])) == (2, 2.5, 1)
    assert record["invocations"][0]["flags"] is None  # Called as a library: no command line.


def test_an_invocation_that_fails_is_recorded_at_its_last_checkpoint(tiny_fashion_mnist, tmp_path, monkeypatch):
    from zoo.train import progress, run_record, steps

    monkeypatch.setattr(progress.Progress, "elapsed", lambda self: 1.5)
    config = helpers.smoke_config("mlp_gan", tiny_fashion_mnist, train_steps=2, checkpoint_every=1, image_every=0)
    train.train_and_evaluate(config, str(tmp_path))
    guard = steps.guard_step

    def failing_on_the_second_step(*args):
        step_function, calls = guard(*args), []

        def step(*inputs):
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("the machine failed")
            return step_function(*inputs)
        return step

    monkeypatch.setattr(steps, "guard_step", failing_on_the_second_step)
    config.train_steps = 5
    with pytest.raises(RuntimeError, match="the machine failed"):
        train.train_and_evaluate(config, str(tmp_path))
    record = run_record.read(str(tmp_path))
    assert {key: record["invocations"][-1][key] for key in ("start_step", "end_step", "seconds", "stop")} == {
        "start_step": 2, "end_step": 3, "seconds": 1.5, "stop": "failed: RuntimeError"}
    assert (record["steps"], record["seconds"]) == (3, 3.0)


def test_a_run_begun_before_run_json_kept_its_history_is_not_complete(tiny_fashion_mnist, tmp_path):
    from zoo.train import run_record

    config = helpers.smoke_config("mlp_gan", tiny_fashion_mnist, train_steps=2, image_every=0)
    train.train_and_evaluate(config, str(tmp_path))
    old = run_record.read(str(tmp_path))
    json.dump({key: old[key] for key in ("model", "dataset", "data")}, open(tmp_path / "run.json", "w"))
    config.train_steps = 3
    train.train_and_evaluate(config, str(tmp_path))
    record = run_record.read(str(tmp_path))
    assert record["steps"] == 3 and [run["start_step"] for run in record["invocations"]] == [2]
    assert not run_record.complete(record)
