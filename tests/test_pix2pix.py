"""pix2pix: network shapes across image sizes, seeded dropout, the L1 term and its ablation, the
shared update's hooks (EMA, DiffAugment on pairs), checkpoints, serving and the interface."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import model_checks
from zoo import config as config_lib
from zoo import registry, train
from zoo.data.base import IMAGES, INPUT, PAIRED_IMAGES, TARGET, DataSpec
from zoo.errors import UserError
from zoo.models import base
from zoo.contract import Interface
from zoo.models.pix2pix import PatchDiscriminator, Pix2Pix, UNetGenerator, patch_strides, unet_depth

CONFIG = "pix2pix_fashion_mnist_edges"
SHAPE = (28, 28, 1)
SEED = tf.constant([0, 0], tf.int64)


def build(shape=SHAPE, input_channels=None, **overrides):
    config = config_lib.load(CONFIG, smoke=True).model_config
    for key, value in overrides.items():
        config[key] = value
    spec = DataSpec(PAIRED_IMAGES, image_shape=shape, input_shape=(*shape[:2], input_channels or shape[2]))
    model = registry.get("pix2pix")(config, spec)
    model.build_for_training()
    return model


def pair_batch(batch_size=8, shape=SHAPE, seed=1):
    return {INPUT: tf.random.stateless_uniform([batch_size, *shape], seed=[seed, 0], minval=-1.0, maxval=1.0),
            TARGET: tf.random.stateless_uniform([batch_size, *shape], seed=[seed, 1], minval=-1.0, maxval=1.0)}


def values(variables):
    return [v.numpy().copy() for v in variables]


@pytest.mark.parametrize("shape, depth, strides", [((28, 28, 1), 5, 1), ((64, 64, 3), 6, 1), ((256, 256, 3), 8, 3)])
def test_networks_build_for_each_size(shape, depth, strides):
    assert (unet_depth(*shape[:2]), patch_strides(*shape[:2])) == (depth, strides)
    generator = UNetGenerator(shape, shape[2], width=2)
    discriminator = PatchDiscriminator(shape, width=2)
    images = tf.zeros([2, *shape])
    assert generator(images).shape == (2, *shape)
    logits = discriminator(tf.concat([images, generator(images)], axis=-1))
    assert logits.shape == (2, shape[0] // 2**strides, shape[1] // 2**strides, 1)  # One logit per patch.


def test_model_translates_one_channel_inputs_to_three_channel_targets():
    model = build((16, 24, 3), input_channels=1)  # Not square, not a power of two, other channels.
    assert model.generator(tf.zeros([2, 16, 24, 1])).shape == (2, 16, 24, 3)
    batch = {INPUT: tf.zeros([2, 16, 24, 1]), TARGET: tf.ones([2, 16, 24, 3])}
    losses = tf.function(model.train_step)(batch, SEED)
    assert all(np.isfinite(float(value)) for value in losses.values()), losses


def test_tiny_images_are_refused():
    with pytest.raises(UserError, match="at least 4x4 pixels"):
        unet_depth(3, 28)


def test_dropout_follows_the_seed_in_training_only():
    generator = build().generator
    images = pair_batch()[INPUT]
    first = generator(images, training=True, seed=tf.constant([1, 2], tf.int64)).numpy()
    np.testing.assert_array_equal(first, generator(images, training=True, seed=tf.constant([1, 2], tf.int64)).numpy())
    assert not np.allclose(first, generator(images, training=True, seed=tf.constant([3, 4], tf.int64)).numpy())
    with pytest.raises(ValueError, match="seed"):
        generator(images, training=True)  # Dropout in training never draws from an unseeded stream.
    served = generator(images, training=False, seed=tf.constant([1, 2], tf.int64)).numpy()
    np.testing.assert_array_equal(served, generator(images, training=False, seed=tf.constant([3, 4], tf.int64)).numpy())


def test_serving_is_deterministic_and_batch_independent():
    model = build()
    serving = model.serving_signatures()["serving_default"]
    images = base.to_uint8(pair_batch()[INPUT])
    outputs = serving(images=images)["images"].numpy()
    assert outputs.dtype == np.uint8 and outputs.shape == (8, *SHAPE)
    np.testing.assert_array_equal(outputs, serving(images=images)["images"].numpy())
    alone = serving(images=images[3:4])["images"].numpy()
    assert np.abs(alone[0].astype(int) - outputs[3].astype(int)).max() <= 1  # Batch-independent up to rounding.
    reordered = serving(images=tf.reverse(images, [0]))["images"].numpy()[::-1]
    assert np.abs(reordered.astype(int) - outputs.astype(int)).max() <= 1


def test_l1_term_is_l1_weight_times_the_mean_absolute_error():
    """With the adversarial term off, the generator's objective is exactly l1_weight * MAE of the
    training-mode translation (dropout from the step seed's fourth split, as the update draws it)."""
    model = build(adversarial_weight=0.0, l1_weight=7.0)
    batch = pair_batch()
    generator_seed = tf.random.experimental.stateless_split(SEED, 8)[3]
    translated = model.generator(batch[INPUT], training=True, seed=generator_seed).numpy()
    expected = 7.0 * np.mean(np.abs(translated - batch[TARGET].numpy()))
    losses = model.train_step(batch, SEED)
    assert set(losses) == {"l1"}
    np.testing.assert_allclose(float(losses["l1"]), expected, rtol=1e-6)


def test_without_the_adversarial_term_the_discriminator_is_not_trained():
    model = build(adversarial_weight=0.0)
    discriminator_before, generator_before = values(model.discriminator.variables), values(model.generator.variables)
    step = tf.function(model.train_step)
    for index in range(2):
        step(pair_batch(seed=index), tf.constant([0, index], tf.int64))
    for before, after in zip(discriminator_before, model.discriminator.variables, strict=True):
        np.testing.assert_array_equal(before, after.numpy())
    assert int(model.discriminator_optimizer.iterations) == 0
    assert all(not np.array_equal(a, b.numpy()) for a, b in zip(generator_before, model.generator.variables))


def test_train_step_moves_every_variable_and_reports_finite_losses():
    model = build()
    before = values(model.trainable_variables)
    step = tf.function(model.train_step)
    step(pair_batch(), SEED)
    losses = step(pair_batch(seed=2), tf.constant([0, 1], tf.int64))
    assert set(losses) == {"discriminator_loss", "generator_loss", "l1"}
    assert all(np.isfinite(float(v)) and v.shape == () for v in losses.values()), losses
    unchanged = [v.path for a, v in zip(before, model.trainable_variables) if np.array_equal(a, v.numpy())]
    assert not unchanged, unchanged
    assert int(model.discriminator_optimizer.iterations) == int(model.generator_optimizer.iterations) == 2


def test_same_seed_same_update():
    """The update is a pure function of the weights, the batch and the step's seed (resumable)."""
    results = []
    for _ in range(2):
        keras.utils.set_random_seed(0)
        model = build()
        tf.function(model.train_step)(pair_batch(), tf.constant([5, 6], tf.int64))
        results.append(values(model.generator.variables))
    for first, second in zip(*results, strict=True):
        np.testing.assert_array_equal(first, second)


def test_ema_and_diffaugment_work_through_the_shared_update():
    model = build(ema_decay=0.5, diffaugment="color,translation,cutout")
    step = tf.function(model.train_step)
    for index in range(2):
        losses = step(pair_batch(seed=index), tf.constant([0, index], tf.int64))
    assert all(np.isfinite(float(v)) for v in losses.values())
    assert "ema_generator" in model.checkpoint_items() and model.sampling_generator is model.ema_generator
    assert any(not np.array_equal(a, w) for a, w in zip(values(model.ema_generator.variables),
                                                         values(model.generator.variables)))


class _Recorder(keras.Model):
    """A discriminator that keeps what it was shown."""

    def call(self, pairs, training=False, seed=None):
        self.pairs = pairs
        return tf.zeros([tf.shape(pairs)[0], 1])


def test_diffaugment_moves_both_images_of_a_pair_alike():
    model = Pix2Pix(UNetGenerator(SHAPE, 1, width=2), _Recorder(), 0, SHAPE, SHAPE)
    model.compile(keras.optimizers.Adam(), keras.optimizers.Adam(), diffaugment="color,translation,cutout")
    images = pair_batch()[INPUT]
    model.discriminate({"images": images, "input": images}, tf.constant([7, 8], tf.int64), None)
    condition, augmented = tf.split(model.discriminator.pairs, 2, axis=-1)
    np.testing.assert_array_equal(condition.numpy(), augmented.numpy())
    assert not np.allclose(augmented.numpy(), images.numpy())


def test_checkpoint_restores_every_variable(tmp_path):
    model_checks.check_checkpoint_restores(lambda: build(ema_decay=0.5), pair_batch(), tmp_path)


def test_serving_checks_shape_and_batch_in_graph():
    serving = build().serving_signatures()["serving_default"]
    for bad in ([2, 28, 27, 1], [2, 28, 28, 3], [1, 32, 32, 1], [3, 1, 28, 28]):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"images: must be uint8 \[N, 28, 28, 1\]"):
            serving(images=tf.zeros(bad, tf.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=f"images: batch size must be between 0 and {base.MAX_SERVING_BATCH}"):
        serving(images=tf.zeros([base.MAX_SERVING_BATCH + 1, *SHAPE], tf.uint8))
    assert serving(images=tf.zeros([0, *SHAPE], tf.uint8))["images"].shape == (0, *SHAPE)


def test_interface_matches_the_serving_signature():
    model = build((32, 32, 3), input_channels=1)
    interface = model.interface()
    interface.validate()
    assert Interface.from_json(interface.to_json()) == interface
    assert interface.preview == "translation" and interface.evaluation("translation").reference == TARGET
    declared = interface.signature("serving_default")
    assert declared.inputs[0].shape == (32, 32, 1) and declared.inputs[0].feature == INPUT
    function = model.serving_signatures()["serving_default"]
    specs = function.input_signature
    assert [(spec.name, spec.dtype) for spec in specs] == [(spec.name, spec.tensor_spec().dtype)
                                                          for spec in declared.inputs]
    outputs = function(**{name: tf.constant(value) for name, value in declared.example_request(2).items()})
    assert set(outputs) == set(declared.outputs) and outputs["images"].shape == (2, 32, 32, 3)
    assert model.export_info()["input_shape"] == [32, 32, 1] and model.export_info()["image_shape"] == [32, 32, 3]


def test_unpaired_data_and_bad_weights_are_one_line_errors():
    config = config_lib.load(CONFIG, smoke=True).model_config
    with pytest.raises(UserError, match="pix2pix trains on pairs of images") as error:
        registry.get("pix2pix")(config, DataSpec(IMAGES, image_shape=SHAPE, num_classes=10))
    assert "\n" not in str(error.value)
    with pytest.raises(UserError, match="not both 0"):
        build(adversarial_weight=0.0, l1_weight=0.0)


def test_lowres_config_differs_only_in_the_dataset():
    edges, lowres = config_lib.load(CONFIG), config_lib.load("pix2pix_fashion_mnist_lowres")
    assert lowres.dataset == "fashion_mnist_lowres" and lowres.export_name == "pix2pix_fashion_mnist_lowres"
    lowres.dataset, lowres.export_name = edges.dataset, edges.export_name
    assert lowres.to_dict() == edges.to_dict()


def test_smoke_training_exports(tiny_fashion_mnist, tmp_path):
    config = config_lib.load(CONFIG, smoke=True)
    config.data_dir = tiny_fashion_mnist
    result = train.train_and_evaluate(config, str(tmp_path / "run"), export_dir=str(tmp_path / "exports"))
    assert result.step == config.train_steps and result.stop_reason == "completed"
    loaded = tf.saved_model.load(result.export_path)
    images = loaded.signatures["serving_default"](images=tf.fill([2, *SHAPE], tf.constant(128, tf.uint8)))["images"]
    assert images.dtype == tf.uint8 and images.shape == (2, *SHAPE)
