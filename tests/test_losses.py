"""Adversarial losses pinned to exact values on fixed logits (D = sigmoid(logit))."""

import math

import numpy as np
import pytest

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
    with pytest.raises(UserError, match="available: minimax, non_saturating"):
        losses.get_pair("hinge-ish")
