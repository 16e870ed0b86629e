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
