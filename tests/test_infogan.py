"""InfoGAN: shared checks, codes in from_latent, code validation, the information term."""

import numpy as np
import pytest
import tensorflow as tf

from tests import model_checks


class TestInfoGAN(model_checks.ImageGeneratorTests):
    model_name = "infogan"


def _inputs(categorical, continuous, rows=2):
    return dict(z=tf.zeros([rows, 8]), categorical=tf.constant(categorical, tf.int64),
                continuous=tf.constant(continuous, tf.float32))


def test_from_latent_follows_the_codes():
    from_latent = model_checks.build("infogan").serving_signatures()["from_latent"]
    same = from_latent(**_inputs([1, 1], [[0.5, -0.5], [0.5, -0.5]]))["images"].numpy()
    np.testing.assert_array_equal(same[0], same[1])
    varied = from_latent(**_inputs([1, 7], [[0.5, -0.5], [0.5, -0.5]]))["images"].numpy()
    assert not np.array_equal(varied[0], varied[1])


@pytest.mark.parametrize("categorical, continuous, message", [
    ([0, 10], [[0.0, 0.0], [0.0, 0.0]], "categorical: every code must be between 0 and 9"),
    ([0], [[0.0, 0.0], [0.0, 0.0]], "categorical: needs one code per row of z"),
])
def test_bad_codes_are_invalid_argument_errors(categorical, continuous, message):
    from_latent = model_checks.build("infogan").serving_signatures()["from_latent"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        from_latent(**_inputs(categorical, continuous))


def test_a_code_of_the_wrong_width_is_refused_by_the_signature():
    from_latent = model_checks.build("infogan").serving_signatures()["from_latent"]
    with pytest.raises((ValueError, TypeError)):
        from_latent(**_inputs([0, 1], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))


def test_information_loss_is_reported_and_falls_when_trained_on_fixed_codes():
    model = model_checks.build("infogan")
    step = tf.function(model.train_step)
    batch = model_checks.fake_batch(16)
    first = float(step(batch, tf.constant([0, 0], tf.int64))["info_loss"])
    for index in range(1, 30):
        last = float(step(batch, tf.constant([0, 0], tf.int64))["info_loss"])
    assert last < first  # Q learns to read the codes back (same seed: same codes every step).


def test_categorical_code_reaches_the_generator_only_after_its_checks():
    signature = model_checks.build("infogan").serving_signatures()["from_latent"]
    model_checks.assert_input_checked_before_lookups(signature, "categorical")
