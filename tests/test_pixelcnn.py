"""PixelCNN: training and checkpoints, causality without a blind spot, the exact likelihood, in-graph
sampling that draws from the model's own conditionals, and what a SavedModel client sees.

`model_checks.ImageGeneratorTests` asserts a `from_latent` signature, which an autoregressive model
has no latent for; the checks that apply are reused one by one and the rest are written here.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import helpers, model_checks
from zoo import config as config_lib
from zoo import export, registry, train
from zoo.data import DataSpec
from zoo.errors import UserError
from zoo.models import pixelcnn
from zoo.models.base import MAX_SERVING_BATCH

SMALL = (8, 8, 1)
TOO_MANY = f"batch size must be between 0 and {MAX_SERVING_BATCH}"


def build(image_shape=model_checks.IMAGE_SHAPE, **overrides):
    """The smoke config's tiny PixelCNN, with `model_config` overrides, initialized from seed 0."""
    keras.utils.set_random_seed(0)
    config = config_lib.load("pixelcnn_fashion_mnist", smoke=True).model_config
    for key, value in overrides.items():
        config[key] = value
    model = registry.get("pixelcnn")(config, DataSpec("images", image_shape=image_shape, num_classes=10))
    model.build_for_training()
    return model


def random_levels(batch_size, image_shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(batch_size, *image_shape)).astype(np.int32)


def test_train_step():
    model_checks.check_train_step("pixelcnn")


def test_checkpoint_holds_every_variable(tmp_path):
    model_checks.check_checkpoint_holds_every_variable("pixelcnn", tmp_path)


@pytest.mark.parametrize("first_kernel_size, num_layers", [(7, 2), (3, 3)])
def test_each_pixel_sees_exactly_the_earlier_pixels_of_its_receptive_field(first_kernel_size, num_layers):
    """Changing pixel q moves the logits of pixel p only if q comes before p in raster order, and
    then for every q of p's receptive field: the rows above within R columns on either side (above
    and to the right included: no blind spot) and the R pixels to its left, R = 3 + (layers - 1) for
    a 7x7 first layer, 1 + (layers - 1) for a 3x3 one, with 3x3 layers after it."""
    model = build(SMALL, first_kernel_size=first_kernel_size, num_layers=num_layers)
    height, width, _ = SMALL
    reach = first_kernel_size // 2 + num_layers - 1
    image = random_levels(1, SMALL)
    perturbed = np.repeat(image, height * width, axis=0)  # Image q has pixel q changed by at least 128 levels.
    for q in range(height * width):
        perturbed[q, q // width, q % width] = (perturbed[q, q // width, q % width] + 128) % 256
    logits = model.network(pixelcnn.network_inputs(np.concatenate([image, perturbed]))).numpy()
    change = np.abs(logits[1:] - logits[:1]).max(axis=(-2, -1)).reshape(height * width, height * width)
    for p in range(height * width):
        i, j = divmod(p, width)
        for q in range(height * width):
            row, column = divmod(q, width)
            seen = (i - reach <= row < i and abs(column - j) <= reach) or (row == i and j - reach <= column < j)
            if seen:
                assert change[q, p] > 1e-6, f"pixel {(row, column)} does not reach pixel {(i, j)}"
            else:  # 0 in practice: the unperturbed image is in the same batch, so rounding is the same.
                assert change[q, p] < 1e-7, f"pixel {(row, column)} leaks into pixel {(i, j)}: {change[q, p]}"


def test_log_likelihood_is_minus_the_training_loss_times_dims():
    model = build()
    levels = random_levels(4, model_checks.IMAGE_SHAPE)
    log_likelihood = model.serving_signatures()["log_likelihood"]
    scores = log_likelihood(images=tf.constant(levels, tf.uint8))["log_likelihood"].numpy()
    alone = log_likelihood(images=tf.constant(levels[2:3], tf.uint8))["log_likelihood"].numpy()
    losses = tf.function(model.train_step)({"image": tf.constant(levels / 127.5 - 1.0, tf.float32)},
                                           tf.constant([0, 0], tf.int64))  # Scored before the update.
    dims = math.prod(model_checks.IMAGE_SHAPE)
    assert scores.shape == (4,) and scores.dtype == np.float32
    np.testing.assert_allclose(-scores.mean() / dims, float(losses["loss"]), rtol=1e-5)
    np.testing.assert_allclose(float(losses["bits_per_dim"]), float(losses["loss"]) / math.log(2), rtol=1e-6)
    np.testing.assert_allclose(alone[0], scores[2], rtol=1e-5)  # Per image, not per batch.
    # An untrained tiny network is near uniform over the 256 levels: log p ~ -dims * ln 256.
    assert abs(-scores.mean() / dims - math.log(256)) < 0.5


def test_sampling_is_deterministic_per_seed_and_draws_from_the_models_conditionals():
    model = build()
    serving = model.serving_signatures()["serving_default"]
    images = model_checks.serve(serving, [0, 1, 0])
    assert images.dtype == np.uint8 and images.shape == (3, *model_checks.IMAGE_SHAPE)
    np.testing.assert_array_equal(images[0], images[2])
    assert not np.array_equal(images[0], images[1])
    np.testing.assert_array_equal(model_checks.serve(serving, [1])[0], images[1])  # Batch-independent.
    # Each pixel is the inverse-CDF draw of its seed's uniform under the logits the full network
    # gives the finished image: the in-graph sampler computes exactly the conditionals that
    # log_likelihood scores (a wrong shift or crop in the sampler breaks this).
    uniforms = pixelcnn.uniforms_from_seeds(tf.constant([0, 1], tf.int64), model_checks.IMAGE_SHAPE)
    logits = model.network(pixelcnn.network_inputs(images[:2].astype(np.int32)))
    np.testing.assert_array_equal(pixelcnn.inverse_cdf_sample(logits, uniforms).numpy(), images[:2])
    assert model_checks.serve(serving, np.zeros([0], np.int64)).shape == (0, *model_checks.IMAGE_SHAPE)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"seed: {TOO_MANY}"):
        model_checks.serve(serving, np.zeros([MAX_SERVING_BATCH + 1], np.int64))


def test_smoke_training_exports_signatures_a_client_can_call(tiny_fashion_mnist, tmp_path):
    """Trained through the one trainer and exported; then only the SavedModel is used, as a client would."""
    config = helpers.smoke_config("pixelcnn", tiny_fashion_mnist)
    result = train.train_and_evaluate(config, str(tmp_path / "run"), export_dir=str(tmp_path / "exports"))
    assert result.step == config.train_steps and set(result.losses) == {"loss", "bits_per_dim"}
    assert export.read_info(result.export_path)["likelihood"] == "exact"
    loaded = tf.saved_model.load(result.export_path)
    images = model_checks.serve(loaded.signatures["serving_default"], [3, 4, 3])
    assert images.dtype == np.uint8 and images.shape == (3, *model_checks.IMAGE_SHAPE)
    np.testing.assert_array_equal(images[0], images[2])
    log_likelihood = loaded.signatures["log_likelihood"]
    scores = log_likelihood(images=tf.constant(images))["log_likelihood"].numpy()
    assert scores.shape == (3,) and np.all(np.isfinite(scores)) and np.all(scores < 0)
    for shape in [(2, 27, 28, 1), (2, 28, 28, 3)]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"images: must be uint8 \[N, 28, 28, 1\]"):
            log_likelihood(images=tf.zeros(shape, tf.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"images: {TOO_MANY}"):
        log_likelihood(images=tf.zeros([MAX_SERVING_BATCH + 1, 28, 28, 1], tf.uint8))
    # A float batch is refused by the signature's uint8 TensorSpec before the graph runs; TensorFlow's
    # message names the input by position (the signature's only input), not by name.
    with pytest.raises(tf.errors.InvalidArgumentError, match="input #0.* expected to be a uint8 tensor but is a float"):
        log_likelihood(images=tf.zeros([2, 28, 28, 1], tf.float32))


@pytest.mark.parametrize("key, value", [("kernel_size", 4), ("first_kernel_size", 1)])
def test_even_or_too_small_kernels_are_refused(key, value):
    with pytest.raises(UserError, match=f"pixelcnn {key} must be odd and at least 3, got {value}"):
        build(SMALL, **{key: value})
