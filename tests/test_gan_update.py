"""The one GAN update (zoo.models.gan): today's configs train exactly as their own updates did."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import legacy_gan_updates as legacy
from tests import model_checks
from zoo import config as config_lib
from zoo import registry

AUGMENT = "color,translation,cutout"

# (model, model_config overrides, the update it had before issue 17).
SAME_AS_BEFORE = [
    ("mlp_gan", {}, legacy.gan_step),
    ("dcgan", {}, legacy.gan_step),
    ("dcgan", {"diffaugment": AUGMENT, "ema_decay": 0.9, "real_label": 0.9, "loss": "least_squares",
               "generator_learning_rate": 1e-3}, legacy.gan_step),
    ("cgan", {}, legacy.cgan_step),
    ("cgan", {"diffaugment": AUGMENT, "ema_decay": 0.9, "real_label": 0.9}, legacy.cgan_step),
    ("infogan", {}, legacy.infogan_step),
    ("infogan", {"ema_decay": 0.9, "loss": "hinge"}, legacy.infogan_step),
    ("pix2pix", {}, legacy.pix2pix_step),
    ("pix2pix", {"diffaugment": "color,translation", "ema_decay": 0.9}, legacy.pix2pix_step),
]
# `make test` runs every family at its defaults and DCGAN with every aid at once; the other
# families' aid combinations (the same shared aid code under each family's update) are integration.
FAST = {("mlp_gan", ()), ("dcgan", ()), ("cgan", ()), ("infogan", ()), ("pix2pix", ()),
        ("dcgan", ("diffaugment", "ema_decay", "real_label", "loss", "generator_learning_rate"))}


def build(name, overrides, seed=0):
    config = config_lib.load(config_lib.default_config_name(name, "fashion_mnist"), smoke=True)
    for key, value in overrides.items():
        config.model_config[key] = value
    keras.utils.set_random_seed(seed)
    model = registry.get(name)(config.model_config, model_checks.data_spec(config.dataset))
    model.build_for_training()
    return model


def batch_for(name, step):
    images = model_checks.fake_batch(8)["image"]
    images = tf.roll(images, shift=step, axis=1)  # A different batch each step.
    if name == "pix2pix":
        return {"input": tf.reverse(images, axis=[2]), "target": images}
    return {"image": images, "label": tf.constant([step % 10, 1, 2, 3, 4, 5, 6, 7], tf.int64)}


def state(model):
    items = model.checkpoint_items()
    return {f"{key}/{index}": variable.numpy() for key, item in items.items()
            for index, variable in enumerate(item.values)}


@pytest.mark.parametrize("name,overrides,old_update", [
    pytest.param(name, overrides, update, id=f"{name}-{'-'.join(overrides) or 'default'}",
                 marks=() if (name, tuple(overrides)) in FAST else pytest.mark.integration)
    for name, overrides, update in SAME_AS_BEFORE])
def test_todays_configs_train_as_before(name, overrides, old_update):
    new, old = build(name, overrides), build(name, overrides)
    before = state(new)
    np.testing.assert_equal(state(old), before)  # Equal starts.
    new_step = tf.function(new.train_step)
    old_step = tf.function(lambda batch, seed: old_update(old, batch, seed))
    for step in range(3):
        seed = tf.constant([5, step], tf.int64)
        new_losses, old_losses = new_step(batch_for(name, step), seed), old_step(batch_for(name, step), seed)
        for key, value in old_losses.items():
            np.testing.assert_allclose(new_losses[key], value, rtol=1e-6, err_msg=key)
    after_new, after_old = state(new), state(old)
    assert after_new.keys() == after_old.keys()
    for key in after_old:
        np.testing.assert_allclose(after_new[key], after_old[key], rtol=1e-6, atol=1e-7, err_msg=key)
    assert any(not np.array_equal(after_new[key], before[key]) for key in before)  # It trained.
