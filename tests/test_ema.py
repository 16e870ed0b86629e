"""The generator EMA: the average's arithmetic, that sampling/export read it, multi-replica updates."""

import os
import re

import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from tests.model_checks import IMAGE_SHAPE, fake_batch, serve
from zoo import config as config_lib
from zoo import export, registry, train
from zoo.data import DataSpec
from zoo.errors import UserError
from zoo.models import base


def build(name, ema_decay, num_classes=10, **overrides):
    config = config_lib.load(f"{name}_fashion_mnist", smoke=True)
    config.model_config.ema_decay = ema_decay
    for key, value in overrides.items():
        config.model_config[key] = value
    model = registry.get(name)(config.model_config, DataSpec("images", image_shape=IMAGE_SHAPE, num_classes=num_classes))
    model.build_for_training()
    return model


def values(network):
    return [v.numpy().copy() for v in network.variables]


@pytest.mark.parametrize("name", ["dcgan", "cgan", "infogan", "wgan_gp", "mlp_gan"])
def test_average_moves_by_the_ramped_decay(name):
    """After update t the average is d*previous + (1-d)*weights with d = min(decay, (1+t)/(10+t))."""
    model = build(name, ema_decay=0.999)
    np.testing.assert_array_equal(values(model.ema_generator)[0], values(model.generator)[0])  # Starts equal.
    step = tf.function(model.train_step)
    step(fake_batch(), tf.constant([0, 0], tf.int64))
    previous = values(model.ema_generator)
    step(fake_batch(), tf.constant([0, 1], tf.int64))
    decay = min(0.999, 3.0 / 12.0)  # The generator optimizer's iteration count is 2 after the second update.
    weights = values(model.generator)
    for average, before, now in zip(values(model.ema_generator), previous, weights, strict=True):
        np.testing.assert_allclose(average, decay * before + (1 - decay) * now, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(a, w) for a, w in zip(values(model.ema_generator), weights))


@pytest.mark.parametrize("mode", ["average", "copy"])
def test_ema_batch_norm_averages_or_copies_the_live_statistics(mode):
    model = build("dcgan", ema_decay=0.9, ema_batch_norm=mode)
    statistics = base.batch_norm_statistics(model.ema_generator)
    assert len(statistics) == 2 * len(model.generator.block_norms + [model.generator.project_norm])
    step = tf.function(model.train_step)
    for index in range(3):
        previous = [v.numpy().copy() for v in statistics]
        step(fake_batch(), tf.constant([0, index], tf.int64))
    live = [v.numpy() for v in base.batch_norm_statistics(model.generator)]
    decay = min(0.9, 4.0 / 13.0)  # Third generator update: iterations = 3.
    for average, before, now in zip(statistics, previous, live, strict=True):
        expected = now if mode == "copy" else decay * before + (1 - decay) * now
        np.testing.assert_allclose(average.numpy(), expected, rtol=1e-5, atol=1e-6)
    kernel = model.ema_generator.project.kernel.numpy()  # The weights are averaged in both modes.
    assert not np.allclose(kernel, model.generator.project.kernel.numpy())


def test_sampling_and_export_read_the_average(tmp_path):
    model = build("dcgan", ema_decay=0.9)
    step = tf.function(model.train_step)
    for index in range(3):
        step(fake_batch(), tf.constant([0, index], tf.int64))
    path = export.export_model(model, str(tmp_path), "ema", serving_files=False)
    saved = tf.train.list_variables(os.path.join(path, "variables", "variables"))
    # The export holds the average's variables only (not the raw generator, not the discriminator).
    assert len([name for name, _ in saved if name.startswith("captured_variables/")]) == len(model.ema_generator.variables)
    assert model.export_info()["generator_weights"] == "ema (decay 0.9)"
    images = serve(model.serving_signatures()["serving_default"], [5, 6])
    z = base.latents_from_seeds(tf.constant([5, 6], tf.int64), model.latent_dim)
    np.testing.assert_array_equal(images, base.to_uint8(model.ema_generator(z)).numpy())
    assert not np.array_equal(images, base.to_uint8(model.generator(z)).numpy())


def test_without_ema_nothing_extra_is_built_or_saved():
    model = build("dcgan", ema_decay=0.0)
    assert model.ema_generator is None and "ema_generator" not in model.checkpoint_items()
    assert model.sampling_generator is model.generator


def test_mirrored_training_with_ema_exports_the_average(tiny_fashion_mnist, tmp_path):
    """Under MirroredStrategy (two logical CPUs) the average updates in cross-replica context."""
    strategy = train.make_strategy("mirrored")
    config = helpers.smoke_config("dcgan", tiny_fashion_mnist, train_steps=3)
    config.model_config.ema_decay = 0.5
    result = train.train_and_evaluate(config, str(tmp_path / "run"), export_dir=str(tmp_path / "exports"),
                                      strategy=strategy)
    model, _, _ = train.restore_model(str(tmp_path / "run"))
    assert any(not np.array_equal(a, w) for a, w in zip(values(model.ema_generator), values(model.generator)))
    loaded = tf.saved_model.load(result.export_path)
    served = loaded.signatures["serving_default"](seed=tf.constant([7], tf.int64))["images"].numpy()
    z = base.latents_from_seeds(tf.constant([7], tf.int64), model.latent_dim)
    np.testing.assert_array_equal(served, base.to_uint8(model.ema_generator(z)).numpy())


@pytest.mark.parametrize("decay,model,message", [
    (1.0, "dcgan", "ema_decay must be in [0, 1)"),
    (-0.1, "dcgan", "ema_decay must be in [0, 1)"),
    (0.99, "keras_io_dcgan", "keras_io_dcgan cannot use ema_decay"),
])
def test_bad_decay_is_one_clear_error(decay, model, message):
    with pytest.raises(UserError, match=re.escape(message)):
        build(model, ema_decay=decay)


def test_unknown_ema_batch_norm_is_one_clear_error():
    with pytest.raises(UserError, match="unknown ema_batch_norm 'median'; available: average, copy"):
        build("dcgan", ema_decay=0.9, ema_batch_norm="median")
