"""Every training aid on every GAN: it trains two steps and exports, or it is refused in one line
that says why (a refusal the model declares, a loss without labels, a penalty on batch norm)."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import helpers, model_checks
from tests.test_gan_update import batch_for
from zoo import config as config_lib
from zoo import export, registry, train
from zoo.errors import UserError

GANS = ["mlp_gan", "dcgan", "cgan", "infogan", "wgan_gp", "pix2pix", "sngan", "keras_io_dcgan"]
AIDS = {
    "diffaugment": {"diffaugment": "color,translation,cutout"},
    "ema": {"ema_decay": 0.9},
    "label_smoothing": {"real_label": 0.9},
    "ttur": {"generator_learning_rate": 1e-4, "discriminator_learning_rate": 4e-4},
    "r1": {"r1_gamma": 1.0, "r1_interval": 2},
    "gradient_penalty": {"gradient_penalty_weight": 10.0},
}
# What is refused, stated here rather than read from the models: {(model, aid): message}.
BATCH_NORM_DISCRIMINATORS = {"dcgan", "cgan", "infogan", "pix2pix"}
REFUSED = {
    **{("keras_io_dcgan", aid): "keras_io_dcgan cannot use .*keras-io's published recipe"
       for aid in AIDS if aid != "ttur"},
    ("wgan_gp", "label_smoothing"): "wasserstein discriminator loss has no label to smooth",
    ("sngan", "label_smoothing"): "hinge discriminator loss has no label to smooth",
    **{(name, aid): f"{name} cannot use {key} with a batch-normalized discriminator.*discriminator_normalization"
       for name in BATCH_NORM_DISCRIMINATORS for aid, key in (("r1", "r1_gamma"),
                                                               ("gradient_penalty", "gradient_penalty_weight"))},
}


def build(name, overrides):
    config = config_lib.load(config_lib.default_config_name(name, "fashion_mnist"), smoke=True)
    for key, value in overrides.items():
        config.model_config[key] = value
    keras.utils.set_random_seed(0)
    model = registry.get(name)(config.model_config, model_checks.data_spec(config.dataset))
    model.build_for_training()
    return model


def train_two_steps(model, name):
    step = tf.function(model.train_step)
    for index in range(2):
        batch = batch_for(name, index)
        if model.batches_per_step > 1:
            batch = {key: tf.concat([value] * model.batches_per_step, axis=0) for key, value in batch.items()}
        losses = step(batch, tf.constant([1, index], tf.int64))
        assert all(np.isfinite(value.numpy()) for value in losses.values()), losses
    return losses


def accepted_overrides(name, aid):
    """The overrides `aid` trains `name` with: the aid's own, plus the way out a refusal names where
    there is one (a layer-normalized discriminator for a penalty); None where it is refused outright."""
    overrides = dict(AIDS[aid])
    if (name, aid) in REFUSED:
        if name not in BATCH_NORM_DISCRIMINATORS or aid not in ("r1", "gradient_penalty"):
            return None
        overrides["discriminator_normalization"] = "layer"
    return overrides


def train_and_export(name, overrides, tmp_path):
    model = build(name, overrides)
    losses = train_two_steps(model, name)
    path = export.export_model(model, str(tmp_path), name, serving_files=False)
    return losses, path


@pytest.mark.parametrize("aid", sorted(AIDS))
@pytest.mark.parametrize("name", GANS)
def test_every_aid_on_every_gan_builds_or_is_refused_with_a_reason(name, aid):
    """The refusals are build-time checks: each pair builds (ready to train) or is refused in one line."""
    if (name, aid) in REFUSED:
        with pytest.raises(UserError, match=REFUSED[(name, aid)]):
            build(name, dict(AIDS[aid]))
    overrides = accepted_overrides(name, aid)
    if overrides is not None:
        model = build(name, overrides)
        assert model.generator.trainable_variables and model.discriminator.trainable_variables


# Each aid trains and exports once, on a GAN that takes it as it is (dcgan: batch norm in its
# discriminator, so the penalties run with the layer norm their refusal names).
@pytest.mark.parametrize("aid", sorted(AIDS))
def test_each_aid_trains_and_exports(aid, tmp_path):
    losses, path = train_and_export("dcgan", accepted_overrides("dcgan", aid), tmp_path)
    if aid == "gradient_penalty":
        assert float(losses["gradient_penalty"]) > 0
    if aid == "r1":
        assert "r1_penalty" in losses
    if aid == "ema":
        assert export.read_info(path)["generator_weights"] == "ema (decay 0.9)"


# dcgan in the fast tier; the other GANs (one end-to-end run per family) in the integration tier.
@pytest.mark.parametrize("name", [name if name == "dcgan" else pytest.param(name, marks=pytest.mark.integration)
                                  for name in GANS])
def test_every_aid_a_gan_accepts_trains_and_exports_at_once(name, tmp_path):
    """All the aids a GAN accepts, together: they compose (two steps, finite losses, an export)."""
    overrides, used = {}, []
    for aid in sorted(AIDS):
        accepted = accepted_overrides(name, aid)
        if accepted is not None:
            overrides.update(accepted)
            used.append(aid)
    assert used, name
    losses, path = train_and_export(name, overrides, tmp_path)
    if "gradient_penalty" in used:
        assert float(losses["gradient_penalty"]) > 0
    if "ema" in used:
        assert export.read_info(path)["generator_weights"] == "ema (decay 0.9)"


def test_lazy_r1_is_the_scaled_penalty_every_interval_th_update():
    """R1 = gamma / 2 * E||grad_x D(x)||^2 on the real batch, times the interval on every
    interval-th discriminator update and 0 between (StyleGAN2's lazy regularization), compared
    with per-example gradients taken here."""
    model = build("dcgan", {"r1_gamma": 3.0, "r1_interval": 2, "discriminator_normalization": "layer"})
    images = batch_for("dcgan", 0)["image"]
    gradients = []
    for image in tf.unstack(images):
        with tf.GradientTape() as tape:
            x = image[None]
            tape.watch(x)
            logit = model.discriminator(x, training=True)
        gradients.append(tape.gradient(logit, x).numpy())
    expected = 3.0 / 2 * 2 * np.mean([np.sum(g**2) for g in gradients])
    step = tf.function(model.train_step)
    first = step({"image": images, "label": tf.zeros([8], tf.int64)}, tf.constant([0, 0], tf.int64))
    np.testing.assert_allclose(float(first["r1_penalty"]), expected, rtol=1e-4)
    second = step(batch_for("dcgan", 1), tf.constant([0, 1], tf.int64))
    assert float(second["r1_penalty"]) == 0.0
    third = step(batch_for("dcgan", 2), tf.constant([0, 2], tf.int64))
    assert float(third["r1_penalty"]) > 0.0



def _forget_keys(workdir, keys):
    """Rewrites a run's config.json as a run recorded before `keys` existed."""
    path = os.path.join(workdir, "config.json")
    with open(path) as f:
        recorded = json.load(f)
    for key in keys:
        del recorded["model_config"][key]
    with open(path, "w") as f:
        json.dump(recorded, f)


def test_runs_recorded_before_the_aid_keys_resume_unless_their_meaning_changed(tiny_fashion_mnist, tmp_path):
    """A DCGAN run recorded without the aid keys had every aid off: it resumes. A WGAN-GP run
    recorded without them had the channel-only layer norm in its critic: it is refused."""
    aid_keys = ["diffaugment", "ema_decay", "ema_batch_norm", "real_label", "r1_gamma", "r1_interval",
                "gradient_penalty_weight", "n_critic", "beta_2", "discriminator_normalization"]
    workdir = str(tmp_path / "dcgan")
    train.train_and_evaluate(helpers.smoke_config("dcgan", tiny_fashion_mnist), workdir)
    _forget_keys(workdir, aid_keys)
    config = helpers.smoke_config("dcgan", tiny_fashion_mnist)
    config.train_steps = 3
    assert train.train_and_evaluate(config, workdir).step == 3

    workdir = str(tmp_path / "wgan_gp")
    train.train_and_evaluate(helpers.smoke_config("wgan_gp", tiny_fashion_mnist), workdir)
    _forget_keys(workdir, [key for key in aid_keys if key not in ("n_critic", "gradient_penalty_weight", "beta_2",
                                                                   "ema_decay")] + ["loss"])
    config = helpers.smoke_config("wgan_gp", tiny_fashion_mnist)
    config.train_steps = 3
    with pytest.raises(UserError, match="trained with model_config.discriminator_normalization='.not recorded.', "
                                        "this run asks for model_config.discriminator_normalization='layer'"):
        train.train_and_evaluate(config, workdir)


@pytest.mark.parametrize("name,key,expected", [("wgan_gp", "loss", "wasserstein"), ("keras_io_dcgan", "beta_1", 0.9)])
def test_a_locked_config_recorded_without_a_later_key_builds_with_the_models_default(name, key, expected):
    """Configs recorded before WGAN-GP declared its loss, or keras_io_dcgan its beta_1, still build
    (as zoo-export and resumes rebuild them), without writing into the caller's locked config."""
    config = config_lib.load(config_lib.default_config_name(name, "fashion_mnist"), smoke=True)
    del config.model_config[key]
    config.lock()
    model = registry.get(name)(config.model_config, model_checks.data_spec(config.dataset))
    assert (model.loss_kind if key == "loss" else float(model.generator_optimizer.beta_1)) == pytest.approx(expected)
    assert key not in config.model_config
