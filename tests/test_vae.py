"""VAE and conditional VAE: the likelihood pieces on known values, the ELBO/IWAE signatures,
encode/decode/reconstruct, and bad input to the exported signatures."""

import math
import re

import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from tests.model_checks import IMAGE_SHAPE, ImageGeneratorTests, assert_input_checked_before_lookups, build, fake_batch
from zoo import train
from zoo.models import vae


class TestVAE(ImageGeneratorTests):
    model_name = "vae"


LEVELS = tf.constant(np.arange(256) / 127.5 - 1.0, tf.float32)


@pytest.mark.parametrize("mean,log_scale", [(0.0, -3.0), (0.7, -1.0), (-1.0, -6.0), (0.3, 2.0), (0.999, -7.0)])
def test_discretized_logistic_is_a_distribution_over_the_256_levels(mean, log_scale):
    log_probs = vae.discretized_logistic_log_prob(LEVELS, tf.constant(mean), tf.constant(log_scale)).numpy()
    assert np.all(np.isfinite(log_probs)) and np.all(log_probs <= 0)
    np.testing.assert_allclose(np.exp(log_probs.astype(np.float64)).sum(), 1.0, atol=1e-4)


def test_discretized_logistic_inner_bin_is_the_cdf_difference():
    sigmoid = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    mean, scale, level = 0.1, 0.05, 140
    x = level / 127.5 - 1
    expected = math.log(sigmoid((x + 1 / 255 - mean) / scale) - sigmoid((x - 1 / 255 - mean) / scale))
    got = float(vae.discretized_logistic_log_prob(tf.constant(x), tf.constant(mean), tf.constant(math.log(scale))))
    assert got == pytest.approx(expected, rel=1e-4)
    # The lowest level takes the whole left tail.
    lowest = float(vae.discretized_logistic_log_prob(tf.constant(-1.0), tf.constant(mean), tf.constant(math.log(scale))))
    assert lowest == pytest.approx(math.log(sigmoid((-1 + 1 / 255 - mean) / scale)), rel=1e-4)


def test_gaussian_kl_and_log_prob_known_values():
    assert float(vae.gaussian_kl(tf.zeros([1, 3]), tf.zeros([1, 3]))[0]) == 0.0
    assert float(vae.gaussian_kl(tf.ones([1, 1]), tf.zeros([1, 1]))[0]) == pytest.approx(0.5)
    # KL(N(0, e) || N(0, 1)) = 0.5 (e - 1 - 1).
    assert float(vae.gaussian_kl(tf.zeros([1, 1]), tf.ones([1, 1]))[0]) == pytest.approx(0.5 * (math.e - 2))
    assert float(vae.gaussian_log_prob(tf.zeros([1, 2]), 0.0, 0.0)[0]) == pytest.approx(-math.log(2 * math.pi))


def images(count=6, seed=0):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.integers(0, 256, size=(count, *IMAGE_SHAPE)), tf.uint8)


@pytest.mark.parametrize("name", ["vae", "cvae"])
def test_likelihood_signature_bounds_and_batch_independence(name):
    model = build(name)
    signature = model.serving_signatures()["log_likelihood"]
    labels = {"label": tf.constant([0, 1, 2, 3, 4, 5], tf.int64)} if name == "cvae" else {}
    batch = images()
    values = signature(images=batch, **labels)
    iwae, elbo = values["log_likelihood"].numpy(), values["elbo"].numpy()
    assert iwae.shape == elbo.shape == (6,) and np.all(np.isfinite(iwae))
    assert np.all(iwae >= elbo - 1e-3)  # Jensen: log mean w >= mean log w.
    alone = signature(images=batch[2:3], **{k: v[2:3] for k, v in labels.items()})["log_likelihood"].numpy()
    np.testing.assert_allclose(alone[0], iwae[2], rtol=1e-5)


def test_one_importance_sample_is_the_elbo():
    model = build("vae")
    model.importance_samples = 1
    values = model.serving_signatures()["log_likelihood"](images=images())
    np.testing.assert_allclose(values["log_likelihood"].numpy(), values["elbo"].numpy(), rtol=1e-6)


def test_encode_decode_reconstruct():
    model = build("vae")
    signatures = model.serving_signatures()
    encoded = signatures["encode"](images=images(3))
    assert encoded["mean"].shape == encoded["log_var"].shape == (3, model.latent_dim)
    decoded = signatures["decode"](z=encoded["mean"])["images"].numpy()
    reconstructed = signatures["reconstruct"](images=images(3))["images"].numpy()
    assert decoded.dtype == np.uint8 and decoded.shape == (3, *IMAGE_SHAPE)
    np.testing.assert_array_equal(decoded, reconstructed)


@pytest.mark.parametrize("signature,shape", [("encode", [2, 32, 32, 1]), ("reconstruct", [2, 28, 28, 3]),
                                             ("log_likelihood", [1, 28, 1, 1])])
def test_wrong_image_shape_is_an_invalid_argument_naming_images(signature, shape):
    model = build("vae")
    message = re.escape("images: must be uint8 [N, 28, 28, 1]")
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        model.serving_signatures()[signature](images=tf.zeros(shape, tf.uint8))


def test_wrong_image_rank_or_dtype_is_refused_by_the_signature_naming_images():
    model = build("vae")
    for bad in (tf.zeros([2, 28, 28], tf.uint8), tf.zeros([2, 28, 28, 1], tf.float32)):
        with pytest.raises((TypeError, ValueError), match="images"):
            model.serving_signatures()["encode"](images=bad)


def test_conditional_signatures_refuse_labels_out_of_range():
    """Every signature, every time: the check runs before any label lookup."""
    signatures = build("cvae").serving_signatures()
    label = tf.constant([0, 10], tf.int64)
    calls = {"encode": {"images": images(2)}, "reconstruct": {"images": images(2)},
             "log_likelihood": {"images": images(2)}, "decode": {"z": tf.zeros([2, 4])},
             "serving_default": {"seed": tf.constant([1, 2], tf.int64)}}
    for _ in range(10):
        for name, inputs in calls.items():
            with pytest.raises(tf.errors.InvalidArgumentError, match="label: every label must be between 0 and 9"):
                signatures[name](label=label, **inputs)


@pytest.mark.parametrize("signature", ["serving_default", "decode", "encode", "reconstruct", "log_likelihood"])
def test_label_reaches_the_networks_only_after_its_checks(signature):
    assert_input_checked_before_lookups(build("cvae").serving_signatures()[signature], "label")


@pytest.mark.slow  # A learning check (a longer run), not a correctness check.
def test_training_improves_the_test_likelihood(tiny_fashion_mnist, tmp_path):
    """40 steps on the tiny data raise the exported IWAE bound on held-out images."""
    from zoo import data

    config = helpers.smoke_config("vae", tiny_fashion_mnist, train_steps=40, image_every=0, checkpoint_every=40)
    config.model_config.update(latent_dim=8, width=8, hidden_units=64)
    test_images = next(iter(data.load("fashion_mnist", "test", data_dir=tiny_fashion_mnist).dataset.batch(64)))
    untrained = train.train_and_evaluate(config, str(tmp_path / "untrained"), export_dir=str(tmp_path / "a"))
    del untrained
    before_model, _, _ = train.restore_model(str(tmp_path / "untrained"))
    config.train_steps = 200
    train.train_and_evaluate(config, str(tmp_path / "untrained"))
    after_model, _, _ = train.restore_model(str(tmp_path / "untrained"))
    score = lambda model: float(np.mean(  # noqa: E731
        model.serving_signatures()["log_likelihood"](images=test_images["image"])["log_likelihood"]))
    before, after = score(before_model), score(after_model)
    assert after > before + 50, (before, after)
    assert -after / (784 * math.log(2)) < 8.0  # Better than uniform noise (8 bits/dim).


def test_train_step_reports_bits_per_dim_of_the_elbo():
    model = build("vae")
    losses = tf.function(model.train_step)(fake_batch(), tf.constant([0, 0], tf.int64))
    expected = (float(losses["reconstruction_nats"]) + float(losses["kl_nats"])) / (784 * math.log(2))
    assert float(losses["bits_per_dim"]) == pytest.approx(expected, rel=1e-5)
