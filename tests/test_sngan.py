"""SN-GAN: the shared image-generator checks, and a discriminator whose every layer is spectrally
normalized."""

import keras
import numpy as np
import tensorflow as tf

from tests import model_checks
from zoo.layers import SpectralNormalization


class TestSNGAN(model_checks.ImageGeneratorTests):
    model_name = "sngan"
    # While every logit is inside the hinge's margins (-1, 1), as at the start, the hinge loss's
    # gradient for the logit's bias is (fakes - reals) / batch = 0.
    may_stay = ("discriminator/logit/dense/bias",)


def test_every_discriminator_layer_is_spectrally_normalized_and_hinge_is_the_loss():
    model = model_checks.build("sngan")
    layers = [layer for layer in model.discriminator._flatten_layers(include_self=False, recursive=False)]
    weighted = [layer for layer in layers if layer.weights]
    assert weighted and all(isinstance(layer, SpectralNormalization) for layer in weighted)
    assert model.loss_kind == "hinge"
    # The paper's standard CNN at 28x28: 3x3, 4x4/2, 3x3, 4x4/2, 3x3, then the logit.
    assert [(conv.layer.kernel_size, conv.layer.strides) for conv in model.discriminator.convs] == [
        ((3, 3), (1, 1)), ((4, 4), (2, 2)), ((3, 3), (1, 1)), ((4, 4), (2, 2)), ((3, 3), (1, 1))]


def test_discriminator_layers_have_spectral_norm_one_after_training_steps():
    """After a few power iterations the normalized kernels' largest singular value is about 1
    (computed here by SVD, independently of the layer's power iteration). Power iteration
    approaches sigma from below, so the normalized value approaches 1 from above."""
    keras.utils.set_random_seed(0)  # The same starting vectors u in every run.
    model = model_checks.build("sngan")
    step = tf.function(model.train_step)
    for index in range(50):
        step(model_checks.fake_batch(), tf.constant([0, index], tf.int64))
    for layer in [*model.discriminator.convs, model.discriminator.out]:
        kernel = layer.normalized_kernel().numpy()
        matrix = kernel.reshape(-1, kernel.shape[-1])
        assert 1.0 - 1e-4 <= np.linalg.svd(matrix, compute_uv=False)[0] < 1.1, layer.name
