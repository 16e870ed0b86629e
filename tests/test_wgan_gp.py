"""WGAN-GP: the shared image-generator checks, n_critic batches per step, a per-sample critic."""

import numpy as np
import tensorflow as tf

from tests import helpers, model_checks
from zoo import train


class TestWGANGP(model_checks.ImageGeneratorTests):
    model_name = "wgan_gp"


def test_critic_has_no_batch_normalization():
    model = model_checks.build("wgan_gp")
    assert model.batches_per_step == 2  # n_critic in the smoke config.
    names = [type(layer).__name__ for layer in model.discriminator._flatten_layers()]
    assert "BatchNormalization" not in names and "GroupNormalization" in names


def test_critic_normalizes_each_sample_over_height_width_and_channels():
    """As the paper's code (layernorm over axes C, H, W of NCHW), not over the channels alone."""
    model = model_checks.build("wgan_gp")
    norm = model.discriminator.norms[0]
    x = np.random.default_rng(0).normal(size=(3, 7, 7, 16)).astype(np.float32)
    x += np.arange(16, dtype=np.float32)  # Each channel its own mean: per-pixel statistics would remove it.
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    expected = (x - mean) / np.sqrt(x.var(axis=(1, 2, 3), keepdims=True) + 1e-5)
    np.testing.assert_allclose(norm(x, training=True).numpy(), expected, rtol=1e-4, atol=1e-4)
    assert [tuple(w.shape) for w in norm.weights] == [(16,), (16,)]  # A scale and an offset per channel.


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
    assert set(losses) == {"discriminator_loss", "gradient_penalty", "generator_loss", "wasserstein_estimate"}
    assert float(losses["gradient_penalty"]) >= 0.0
    assert float(losses["wasserstein_estimate"]) == -float(losses["discriminator_loss"])
