"""PixelCNN: training and checkpoints, causality without a blind spot and the window it reaches, the
exact likelihood, in-graph sampling that draws from the model's own conditionals (its per-layer
caches against the sampler before them), and what a SavedModel client sees.

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
from zoo.train import transfer

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


def reference_sample_levels(model, uniforms):
    """The sampler before the per-layer caches, kept as the reference the cached one must equal: the
    vertical feeds once per row from rows 0..i, then the whole horizontal stack and head over
    columns 0..j for each pixel (its algorithm, unchanged)."""
    network, (height, width, channels) = model.network, model.image_shape
    batch_size = tf.shape(uniforms)[0]

    def row_step(i, levels):
        feeds = network.vertical_feeds(pixelcnn.network_inputs(levels[:, :i + 1]), last_row=True)

        def column_step(j, row):
            x = pixelcnn.network_inputs(row[:, :, :j + 1])
            logits = network.horizontal_logits(x, [feed[:, :, :j + 1] for feed in feeds])[:, 0, -1]
            pixel = pixelcnn.inverse_cdf_sample(logits, uniforms[:, i, j])
            at_column = tf.equal(tf.range(width), j)[None, None, :, None]
            return j + 1, tf.where(at_column, pixel[:, None, None, :], row)

        _, row = tf.while_loop(lambda j, row: j < width, column_step,
                               (tf.constant(0), tf.zeros([batch_size, 1, width, channels], tf.int32)))
        at_row = tf.equal(tf.range(height), i)[None, :, None, None]
        return i + 1, tf.where(at_row, row, levels)

    _, levels = tf.while_loop(lambda i, levels: i < height, row_step,
                              (tf.constant(0), tf.zeros([batch_size, height, width, channels], tf.int32)))
    return levels


def seeded(sampler, model):
    return tf.function(lambda seed: sampler(pixelcnn.uniforms_from_seeds(seed, model.image_shape)),
                       input_signature=[tf.TensorSpec([None], tf.int64)])


# The smoke model (7x7 then one 3x3 layer), the shipped depth (7x7 then five 3x3 layers), and 5x5
# layers after a 3x3 one (caches two pixels and two rows wide).
ARCHITECTURES = [{}, {"num_layers": 6}, {"first_kernel_size": 3, "kernel_size": 5, "num_layers": 3}]


@pytest.mark.parametrize("overrides", ARCHITECTURES, ids=["smoke", "shipped_depth", "5x5"])
def test_cached_sampler_draws_the_reference_samplers_images(overrides):
    """The same seeds give the same levels as the sampler before the caches, pixel for pixel, for a
    batch of 1 and of 3 (the two compute the logits with different operations over different
    shapes, so this would catch a uniform within rounding of a level boundary, too)."""
    model = build(**overrides)
    cached = seeded(model.sample_levels, model)
    reference = seeded(lambda uniforms: reference_sample_levels(model, uniforms), model)
    seeds = [0, 1, 7, 12345, -3, 2**62]
    expected = reference(tf.constant(seeds, tf.int64)).numpy()
    for index, seed in enumerate(seeds):
        np.testing.assert_array_equal(cached(tf.constant([seed], tf.int64)).numpy(), expected[index:index + 1])
    for start in range(0, len(seeds), 3):
        batch = seeds[start:start + 3]
        np.testing.assert_array_equal(cached(tf.constant(batch, tf.int64)).numpy(), expected[start:start + 3])
        np.testing.assert_array_equal(reference(tf.constant(batch, tf.int64)).numpy(), expected[start:start + 3])


def captured_paths(function, model):
    by_handle = {id(transfer._tf_variable(variable).handle): variable.path for variable in model.variables}
    return [by_handle[id(external)] for external, _ in function.get_concrete_function().graph.captures
            if id(external) in by_handle]


def test_the_cached_sampler_reads_the_variables_in_the_order_of_the_reference_and_of_log_likelihood():
    """zoo-train --init_from=<export> pairs variables in the order serving_default captures them
    (zoo.train.transfer), so an export written with the reference sampler restores into a model with
    the cached one variable for variable (same-shaped layers would otherwise swap silently)."""
    model = build(num_layers=3)
    signatures = model.serving_signatures()
    cached = captured_paths(signatures["serving_default"], model)
    reference = seeded(lambda uniforms: reference_sample_levels(model, uniforms), model)
    assert cached == captured_paths(reference, model) == captured_paths(signatures["log_likelihood"], model)
    assert len(cached) == len(model.network.trainable_variables)


@pytest.mark.parametrize("overrides", ARCHITECTURES, ids=["smoke", "shipped_depth", "5x5"])
def test_the_logits_read_exactly_the_window_reach_computes_from_the_kernel_sizes(overrides):
    """Perturbing one pixel just outside the window `reach()` computes (above it, right and left of
    it in the rows above, left of it in its row, the pixel itself, the pixel right of it and the row
    below) leaves the logits at (i, j) unchanged; just inside it (each edge and corner) moves them
    (at a corner of the deep untrained network by well under 1e-6, through every layer's small
    weights). Through the full network, so independent of the sampler."""
    model = build((20, 20, 1), **overrides)
    reach = model.network.reach()
    kernel_sizes = [overrides.get("first_kernel_size", 7)] + [overrides.get("kernel_size", 3)] * (
        overrides.get("num_layers", 2) - 1)
    assert reach == sum(k // 2 for k in kernel_sizes)
    i, j = reach + 1, 20 // 2  # Room above and on both sides of the window.
    assert j + reach + 1 < 20
    inside = [(i - reach, j), (i - reach, j - reach), (i - reach, j + reach), (i - 1, j - reach), (i - 1, j + reach),
              (i, j - reach), (i, j - 1), (i - 1, j)]
    outside = [(i - reach - 1, j), (i - reach - 1, j - reach), (i - 1, j - reach - 1), (i - 1, j + reach + 1),
               (i - reach, j + reach + 1), (i, j - reach - 1), (i, j), (i, j + 1), (i + 1, j), (i + 1, j - reach)]
    image = random_levels(1, (20, 20, 1))
    perturbed = np.repeat(image, len(inside) + len(outside), axis=0)
    for index, (row, column) in enumerate(inside + outside):
        perturbed[index, row, column] = (perturbed[index, row, column] + 128) % 256
    logits = model.network(pixelcnn.network_inputs(np.concatenate([image, perturbed]))).numpy()[:, i, j]
    change = np.abs(logits[1:] - logits[:1]).max(axis=(-2, -1))
    for index, pixel in enumerate(inside):
        assert change[index] > 0, f"pixel {pixel} inside the window does not reach {(i, j)}"
    for index, pixel in enumerate(outside, start=len(inside)):  # Exactly: the same batch rounds alike.
        assert change[index] == 0, f"pixel {pixel} outside the window reaches {(i, j)}: {change[index]}"


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
