"""keras-io DCGAN baseline: the shared image-generator checks, and keras-io's loss pair."""

import numpy as np
import tensorflow as tf

from tests import model_checks


class TestKerasIODCGAN(model_checks.ImageGeneratorTests):
    model_name = "keras_io_dcgan"


def _bce(labels, logits):
    """Binary cross-entropy of sigmoid(logits) against `labels`, written out in numpy."""
    probabilities = 1.0 / (1.0 + np.exp(-logits))
    return -(labels * np.log(probabilities) + (1.0 - labels) * np.log(1.0 - probabilities))


def test_loss_pair_is_keras_ios_inverted_noisy_labels():
    """Reals labelled 0 and fakes 1, each plus 0.05 * U[0, 1) noise, averaged over both halves as
    over keras-io's combined batch; the generator labels its fakes 0 ("misleading labels")."""
    model = model_checks.build("keras_io_dcgan")
    real = np.array([[0.3], [-1.2], [2.0]], np.float32)
    fake = np.array([[-0.7], [0.1], [1.5]], np.float32)
    seed = tf.constant([4, 9], tf.int64)
    noise = 0.05 * tf.random.stateless_uniform([3, 2], seed=seed).numpy()
    expected = 0.5 * (_bce(noise[:, :1], real).mean() + _bce(1.0 + noise[:, 1:], fake).mean())
    loss = model.discriminator_loss({"logits": tf.constant(real)}, {"logits": tf.constant(fake)}, seed)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    np.testing.assert_allclose(float(model.generator_loss({"logits": tf.constant(fake)})),
                               _bce(np.zeros_like(fake), fake).mean(), rtol=1e-5)
