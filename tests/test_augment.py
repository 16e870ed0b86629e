"""DiffAugment: each transformation's geometry, determinism by seed, differentiability, wiring."""

import numpy as np
import pytest
import tensorflow as tf

from tests import helpers, model_checks
from zoo import config as config_lib
from zoo import registry, train
from zoo.data import DataSpec, augment
from zoo.errors import UserError

SEED = tf.constant([3, 4], tf.int64)


def _images(batch=4, size=16, channels=1):
    values = np.arange(batch * size * size * channels, dtype=np.float32).reshape(batch, size, size, channels)
    return tf.constant(values / values.max() * 2.0 - 1.0 + 1e-3)  # Nonzero everywhere.


def test_translation_shifts_each_image_by_at_most_an_eighth():
    images = _images()
    shifted = augment.translation(images, SEED).numpy()
    padded = np.pad(images.numpy(), [(0, 0), (2, 2), (2, 2), (0, 0)])
    for original, result in zip(padded, shifted):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(original[2 - dy: 18 - dy, 2 - dx: 18 - dx], result)]
        assert len(matches) == 1


def test_cutout_zeroes_one_square_of_half_the_size_at_most():
    result = augment.cutout(_images(batch=8), SEED).numpy()
    for image in result[..., 0]:
        rows, cols = np.nonzero(image == 0)
        assert 0 < len(rows) <= 64
        assert rows.max() - rows.min() < 8 and cols.max() - cols.min() < 8
        assert len(rows) == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)  # A rectangle.


def test_color_changes_per_image_statistics_and_is_differentiable():
    images = _images(channels=3)
    with tf.GradientTape() as tape:
        tape.watch(images)
        result = augment.color(images, SEED)
        weighted = tf.reduce_sum(result * images)
    assert not np.allclose(result.numpy(), images.numpy())
    gradient = tape.gradient(weighted, images)
    assert gradient is not None and np.isfinite(gradient.numpy()).all()


def test_same_seed_same_augmentation_other_seed_other():
    images = _images()
    policy = "color,translation,cutout"
    first = augment.diff_augment(images, policy, SEED).numpy()
    np.testing.assert_array_equal(first, augment.diff_augment(images, policy, SEED).numpy())
    assert not np.array_equal(first, augment.diff_augment(images, policy, tf.constant([5, 6], tf.int64)).numpy())
    np.testing.assert_array_equal(augment.diff_augment(images, "", SEED).numpy(), images.numpy())


def test_unknown_policy_and_unsupported_models_are_one_line_errors():
    with pytest.raises(UserError, match="unknown DiffAugment policy rotate; available: color, translation, cutout"):
        augment.parse_policy("color,rotate")
    config = config_lib.load("keras_io_dcgan_fashion_mnist", smoke=True)
    config.model_config.diffaugment = "color"
    with pytest.raises(UserError, match="keras_io_dcgan cannot use diffaugment: it reproduces keras-io's"):
        registry.get("keras_io_dcgan")(config.model_config, DataSpec("images", image_shape=(28, 28, 1),
                                                                     num_classes=10))


def test_label_smoothing_on_a_loss_without_labels_fails_when_the_model_is_built():
    config = config_lib.load("dcgan_fashion_mnist", smoke=True)
    config.model_config.loss, config.model_config.real_label = "hinge", 0.9
    with pytest.raises(UserError, match="hinge discriminator loss has no label to smooth"):
        registry.get("dcgan")(config.model_config, DataSpec("images", image_shape=(28, 28, 1), num_classes=10))


def test_dcgan_trains_with_diffaugment_and_resumes_exactly(tiny_fashion_mnist, tmp_path):
    def run(workdir, steps):
        config = helpers.smoke_config("dcgan", tiny_fashion_mnist, train_steps=steps, image_every=0)
        config.model_config.diffaugment = "color,translation,cutout"
        return train.train_and_evaluate(config, str(workdir))

    run(tmp_path / "straight", 4)
    run(tmp_path / "resumed", 2)
    run(tmp_path / "resumed", 4)
    a, _, _ = train.restore_model(str(tmp_path / "straight"))
    b, _, _ = train.restore_model(str(tmp_path / "resumed"))
    for x, y in zip(a.generator.weights, b.generator.weights):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert model_checks.serve(a.serving_signatures()["serving_default"], [0]).shape == (1, 28, 28, 1)
