"""Adversarial losses and penalties pinned to exact values on fixed inputs (D = sigmoid(logit) for
the minimax family; raw scores for the others)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from zoo import losses
from zoo.errors import UserError

LN3 = math.log(3.0)  # sigmoid(ln 3) = 0.75


def test_minimax_generator_loss_is_mean_log_one_minus_d():
    value = losses.minimax_generator_loss(np.array([[0.0], [LN3]], np.float32))
    expected = (math.log(0.5) + math.log(0.25)) / 2
    assert float(value) == pytest.approx(expected, abs=1e-6)


def test_non_saturating_generator_loss_is_mean_minus_log_d():
    value = losses.non_saturating_generator_loss(np.array([[0.0], [LN3]], np.float32))
    expected = (-math.log(0.5) - math.log(0.75)) / 2
    assert float(value) == pytest.approx(expected, abs=1e-6)


def test_discriminator_loss_sums_real_and_fake_terms():
    value = losses.non_saturating_discriminator_loss(np.array([[LN3]], np.float32), np.array([[0.0]], np.float32))
    assert float(value) == pytest.approx(-math.log(0.75) - math.log(0.5), abs=1e-6)


def test_one_sided_label_smoothing_changes_only_the_real_term():
    value = losses.minimax_discriminator_loss(
        np.array([[LN3]], np.float32), np.array([[0.0]], np.float32), real_label=0.9
    )
    expected = -(0.9 * math.log(0.75) + 0.1 * math.log(0.25)) - math.log(0.5)
    assert float(value) == pytest.approx(expected, abs=1e-6)


def test_get_pair_names_known_kinds_on_error():
    assert losses.get_pair("non_saturating") == (
        losses.non_saturating_generator_loss,
        losses.non_saturating_discriminator_loss,
    )
    with pytest.raises(UserError) as error:
        losses.get_pair("hinge-ish")
    assert str(error.value) == (
        "unknown GAN loss 'hinge-ish'; available: hinge, least_squares, minimax, non_saturating, wasserstein"
    )


KINDS = ["hinge", "least_squares", "minimax", "non_saturating", "wasserstein"]


def _logits(*values):
    return np.array([[v] for v in values], np.float32)


def test_least_squares_generator_loss_is_half_mean_squared_distance_to_one():
    value = losses.least_squares_generator_loss(_logits(0.0, 3.0))
    assert float(value) == pytest.approx(0.5 * (1.0 + 4.0) / 2, abs=1e-6)  # 1.25


def test_least_squares_discriminator_loss_targets_one_for_real_and_zero_for_fake():
    value = losses.least_squares_discriminator_loss(_logits(0.5, 2.0), _logits(-1.0, 0.0))
    # 0.5 * mean(0.25, 1.0) + 0.5 * mean(1.0, 0.0) = 0.3125 + 0.25
    assert float(value) == pytest.approx(0.5625, abs=1e-6)


def test_least_squares_label_smoothing_lowers_the_real_target():
    value = losses.least_squares_discriminator_loss(_logits(0.5, 2.0), _logits(-1.0, 0.0), real_label=0.9)
    # 0.5 * mean(0.4^2, 1.1^2) + 0.25 = 0.5 * 0.685 + 0.25
    assert float(value) == pytest.approx(0.5925, abs=1e-6)


def test_hinge_discriminator_loss_sums_the_two_margins():
    value = losses.hinge_discriminator_loss(_logits(2.0, 0.5, -1.0), _logits(-3.0, 0.0, 1.0))
    # real: mean(relu(-1), relu(0.5), relu(2)) = 2.5 / 3; fake: mean(relu(-2), relu(1), relu(2)) = 1
    assert float(value) == pytest.approx(2.5 / 3 + 1.0, abs=1e-6)


def test_hinge_generator_loss_is_minus_mean_fake_score():
    assert float(losses.hinge_generator_loss(_logits(-3.0, 0.0, 1.0))) == pytest.approx(2.0 / 3, abs=1e-6)


def test_wasserstein_losses_are_differences_of_mean_scores():
    real, fake = _logits(1.0, 3.0), _logits(-1.0, 0.5)
    assert float(losses.wasserstein_discriminator_loss(real, fake)) == pytest.approx(-0.25 - 2.0, abs=1e-6)
    assert float(losses.wasserstein_generator_loss(fake)) == pytest.approx(0.25, abs=1e-6)


@pytest.mark.parametrize("kind", ["hinge", "wasserstein"])
def test_losses_without_labels_reject_label_smoothing(kind):
    _, discriminator_loss = losses.get_pair(kind)
    real, fake = _logits(1.0), _logits(0.0)
    discriminator_loss(real, fake, real_label=1.0)  # The keyword itself is accepted.
    with pytest.raises(UserError, match=f"{kind}.*minimax, non_saturating and least_squares") as error:
        discriminator_loss(real, fake, real_label=0.9)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("kind", KINDS)
def test_every_discriminator_loss_takes_real_label_one(kind):
    generator_loss, discriminator_loss = losses.get_pair(kind)
    real, fake = _logits(0.5, -1.0), _logits(0.25, 2.0)
    assert float(discriminator_loss(real, fake, real_label=1.0)) == float(discriminator_loss(real, fake))
    assert np.isfinite(float(generator_loss(fake)))


def test_get_pair_knows_every_kind():
    for kind in KINDS:
        assert losses.get_pair(kind) == (
            getattr(losses, f"{kind}_generator_loss"),
            getattr(losses, f"{kind}_discriminator_loss"),
        )


# Penalties. A linear critic D(x) = sum(w * x) has gradient w everywhere: ||grad|| = ||w|| = 3.
W = np.array([1.0, 2.0, 2.0, 0.0], np.float32).reshape(1, 2, 2, 1)


def _linear(weights):
    return lambda x: tf.reduce_sum(weights * x, axis=[1, 2, 3])


def _quadratic(x):  # grad = 2x
    return tf.reduce_sum(tf.square(x), axis=list(range(1, x.shape.rank)))


def _images(seed, batch=4):
    return np.random.RandomState(seed).uniform(-1, 1, (batch, 2, 2, 1)).astype(np.float32)


def test_gradient_penalty_of_a_linear_critic_is_exact_whatever_eps():
    for seed in ([0, 0], [3, 5]):
        value = losses.gradient_penalty(_linear(W), _images(0), _images(1), seed=seed)
        assert float(value) == pytest.approx((3.0 - 1.0) ** 2, abs=1e-5)
    value = losses.gradient_penalty(_linear(W), _images(0), _images(1), seed=[0, 0], target=2.0)
    assert float(value) == pytest.approx(1.0, abs=1e-5)


def test_gradient_penalty_differentiates_to_the_critic_weights():
    weights = tf.Variable(W)

    @tf.function
    def penalty_and_gradient():
        with tf.GradientTape() as tape:
            penalty = losses.gradient_penalty(_linear(weights), _images(0), _images(1), seed=[1, 2])
        return penalty, tape.gradient(penalty, weights)

    penalty, gradient = penalty_and_gradient()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = (4 / 3) w
    assert float(penalty) == pytest.approx(4.0, abs=1e-5)
    np.testing.assert_allclose(gradient.numpy(), 4.0 / 3.0 * W, atol=1e-5)


def test_gradient_penalty_draws_one_eps_per_sample():
    real, fake, seed = _images(0), _images(1), [7, 11]
    eps = tf.random.stateless_uniform([4, 1, 1, 1], seed=seed).numpy().astype(np.float64)
    assert len(np.unique(eps)) == 4

    def manual(eps):
        interpolates = eps * real + (1 - eps) * fake
        norms = 2 * np.sqrt(np.sum(interpolates**2, axis=(1, 2, 3)))  # ||grad|| = ||2 x_hat||
        return np.mean((norms - 1) ** 2)

    value = float(losses.gradient_penalty(_quadratic, real, fake, seed=seed))
    assert value == pytest.approx(manual(eps), abs=1e-5)
    assert abs(manual(eps) - manual(eps[:1])) > 1e-2  # One shared eps would give another value.


def test_gradient_penalty_takes_flat_inputs():
    real, fake = _images(0).reshape(4, 4), _images(1).reshape(4, 4)
    eps = tf.random.stateless_uniform([4, 1], seed=[1, 1]).numpy().astype(np.float64)
    interpolates = eps * real + (1 - eps) * fake
    expected = np.mean((2 * np.linalg.norm(interpolates, axis=1) - 1) ** 2)
    value = losses.gradient_penalty(_quadratic, real, fake, seed=[1, 1])
    assert float(value) == pytest.approx(expected, abs=1e-5)


def test_r1_penalty_is_mean_squared_gradient_norm_on_real_data():
    assert float(losses.r1_penalty(_linear(W), _images(0))) == pytest.approx(9.0, abs=1e-5)
    real = np.array([[1.0, 2.0], [3.0, 0.0]], np.float32)
    # grad = 2x: squared norms 4 * 5 = 20 and 4 * 9 = 36
    assert float(losses.r1_penalty(_quadratic, real)) == pytest.approx(28.0, abs=1e-5)
