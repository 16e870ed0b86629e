"""WGAN-GP: the shared image-generator checks, n_critic batches per step, a per-sample critic."""

import tensorflow as tf

from tests import helpers, model_checks
from zoo import train


class TestWGANGP(model_checks.ImageGeneratorTests):
    model_name = "wgan_gp"


def test_critic_has_no_batch_normalization():
    model = model_checks.build("wgan_gp")
    assert model.batches_per_step == 2  # n_critic in the smoke config.
    names = [type(layer).__name__ for layer in model.discriminator._flatten_layers()]
    assert "BatchNormalization" not in names and "LayerNormalization" in names


def test_each_critic_update_reads_its_own_batch(tiny_fashion_mnist, tmp_path, monkeypatch):
    seen = []
    model_cls = type(model_checks.build("wgan_gp"))
    original = model_cls.train_step

    def recording_train_step(self, batch, seed):
        seen.append(batch["image"].shape[0])
        return original(self, batch, seed)

    monkeypatch.setattr(model_cls, "train_step", recording_train_step)
    train.train_and_evaluate(helpers.smoke_config("wgan_gp", tiny_fashion_mnist), str(tmp_path))
    assert seen and all(size == 2 * 8 for size in seen)  # n_critic * batch_size, traced once.


def test_train_step_reports_critic_penalty_and_wasserstein_estimate():
    model = model_checks.build("wgan_gp")
    losses = tf.function(model.train_step)(model_checks.fake_batch(16), tf.constant([0, 0], tf.int64))
    assert set(losses) == {"critic_loss", "gradient_penalty", "generator_loss", "wasserstein_estimate"}
    assert float(losses["gradient_penalty"]) >= 0.0
    assert float(losses["wasserstein_estimate"]) == -float(losses["critic_loss"])
