"""Checks every image-generating model must pass; a model's test class inherits `ImageGeneratorTests`."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from zoo import config as config_lib
from zoo import registry, train
from zoo.data import DataSpec
from zoo.models.base import MAX_SERVING_BATCH

IMAGE_SHAPE = (28, 28, 1)


def build(name, image_shape=IMAGE_SHAPE, num_classes=10):
    config = config_lib.load(f"{name}_fashion_mnist", smoke=True)
    model = registry.get(name)(config.model_config, DataSpec("images", image_shape=image_shape, num_classes=num_classes))
    model.build_for_training()
    return model


def data_spec(dataset, image_shape=IMAGE_SHAPE):
    """A small DataSpec of the kind `dataset` gives (text, paired images or images)."""
    from zoo.data import paired, text

    if text.is_text_dataset(dataset):
        return DataSpec("text", sequence_length=16, vocabulary_size=256)
    if paired.is_paired_dataset(dataset):
        return DataSpec("paired_images", image_shape=image_shape, input_shape=image_shape)
    return DataSpec("images", image_shape=image_shape, num_classes=10)


def build_from_config(name):
    """Any registered model from its default config in smoke mode, on data of its config's kind."""
    config = config_lib.load(config_lib.default_config_name(name, "fashion_mnist"), smoke=True)
    model = registry.get(name)(config.model_config, data_spec(config.dataset))
    model.build_for_training()
    return model


def fake_batch(batch_size=8, image_shape=IMAGE_SHAPE):
    images = tf.random.stateless_uniform([batch_size, *image_shape], seed=[1, 2], minval=-1.0, maxval=1.0)
    return {"image": images, "label": tf.zeros([batch_size], tf.int64)}


def check_train_step(name, may_stay=()):
    """Two steps: finite scalar losses, and every trainable variable moves (but those whose paths
    are in `may_stay`, which a model's loss can legitimately leave in place at the start)."""
    model = build(name)
    before = [v.numpy().copy() for v in model.trainable_variables]
    step = tf.function(model.train_step)
    losses = step(fake_batch(), tf.constant([0, 0], tf.int64))
    losses = step(fake_batch(), tf.constant([0, 1], tf.int64))
    assert losses and all(np.isfinite(float(v)) and v.shape == () for v in losses.values()), losses
    changed = [not np.array_equal(a, b.numpy()) or b.path in may_stay for a, b in zip(before, model.trainable_variables)]
    assert all(changed), f"{sum(not c for c in changed)} trainable variables did not change"


def check_checkpoint_restores(build_model, batch, tmp_path):
    """Trains `build_model()` one step on `batch`, checkpoints it, and restores the checkpoint into a
    differently seeded `build_model()`: every network and optimizer variable must come back.
    Returns the trained model."""
    import keras

    keras.utils.set_random_seed(0)
    trained = build_model()
    tf.function(trained.train_step)(batch, tf.constant([0, 0], tf.int64))
    path = tf.train.Checkpoint(**trained.checkpoint_items()).save(str(tmp_path / "ckpt"))
    keras.utils.set_random_seed(1)
    fresh = build_model()
    tf.train.Checkpoint(**fresh.checkpoint_items()).restore(path).assert_consumed()
    for key, item in trained.checkpoint_items().items():
        restored = fresh.checkpoint_items()[key]
        assert len(item.values) == len(restored.values) > 0, key
        for original, copy in zip(item.values, restored.values):
            np.testing.assert_array_equal(original.numpy(), copy.numpy(), err_msg=f"{key}: {original.path}")
    return trained


def check_checkpoint_holds_every_variable(name, tmp_path):
    """A checkpoint restores every network and optimizer variable into a differently seeded model."""
    check_checkpoint_restores(lambda: build(name), fake_batch(), tmp_path)


def serve(signature, seeds, **inputs):
    """Calls a seed -> images signature; conditional ones get label 1 unless `label` is given."""
    specs = (signature.structured_input_signature[1] if hasattr(signature, "structured_input_signature")
             else {spec.name: spec for spec in signature.input_signature})
    if "label" in specs:
        inputs.setdefault("label", tf.fill(tf.shape(seeds), tf.constant(1, tf.int64)))
    return signature(seed=tf.constant(seeds, tf.int64), **inputs)["images"].numpy()


def check_serving(name):
    """serving_default(seed) -> uint8 images; same seed same image; from_latent; batch bound."""
    model = build(name)
    signatures = model.serving_signatures()
    assert {"serving_default", "from_latent"} <= set(signatures)
    images = serve(signatures["serving_default"], [0, 1, 0])
    assert images.dtype == np.uint8 and images.shape == (3, *IMAGE_SHAPE)
    np.testing.assert_array_equal(images[0], images[2])
    assert not np.array_equal(images[0], images[1])
    alone = serve(signatures["serving_default"], [1])
    assert np.abs(alone[0].astype(int) - images[1].astype(int)).max() <= 1  # Batch-independent up to rounding.
    # from_latent: zeros for float inputs (z, continuous codes), 1 for integer ones (labels, categories).
    inputs = {spec.name: tf.fill([2, *spec.shape[1:]], tf.constant(1 if spec.dtype.is_integer else 0, spec.dtype))
              for spec in signatures["from_latent"].input_signature}
    assert signatures["from_latent"](**inputs)["images"].shape == (2, *IMAGE_SHAPE)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"seed: batch size must be between 0 and {MAX_SERVING_BATCH}"):
        serve(signatures["serving_default"], np.zeros([MAX_SERVING_BATCH + 1], np.int64))


def check_smoke_training(name, rgb_folder, workdir, export_dir):
    """The model's config in smoke mode trains (with its preview grid), checkpoints and exports
    through the one trainer on a user's 16x16 RGB folder (beyond 28x28 gray); the export samples a
    grid and is evaluated in a feature network trained on the folder's own labels."""
    from zoo import contract, export, kinds
    from zoo.metrics import sampling
    from zoo.metrics.exports import evaluate_export

    config = config_lib.load(config_lib.default_config_name(name, "fashion_mnist"), smoke=True)
    config.dataset = rgb_folder
    result = train.train_and_evaluate(config, str(workdir), export_dir=str(export_dir))
    assert result.step == config.train_steps and result.stop_reason == "completed"
    assert result.export_path and result.export_path.endswith(f"{config.export_name}/1")
    assert os.listdir(os.path.join(workdir, "samples"))  # The preview grid was drawn.
    loaded = tf.saved_model.load(result.export_path)
    images = serve(loaded.signatures["serving_default"], [3, 4])
    assert images.dtype == np.uint8 and images.shape == (2, *helpers.RGB_SHAPE)
    interface = contract.from_export(result.export_path)
    grid, _ = sampling.preview_grid(interface, lambda key: loaded.signatures[key], result.export_path,
                                    export.read_info(result.export_path), 0, 6)
    assert grid.ndim == 3 and grid.shape[-1] == 3
    record = evaluate_export(result.export_path, rgb_folder, "train", num_samples=8, reference_examples=16,
                             likelihood_examples=8)
    assert "trained" in record["feature_model"]["name"] and record["metrics"]["fid"] > 0  # Not the shipped net.
    if interface.evaluation(kinds.IMAGE_LIKELIHOOD):
        assert record["likelihood"]["num_dims"] == np.prod(helpers.RGB_SHAPE)


class ImageGeneratorTests:
    """Mixin: `class TestMyModel(ImageGeneratorTests): model_name = "my_model"` runs every check."""

    model_name = None
    may_stay = ()  # Trainable variables the first steps may leave unchanged (see check_train_step).

    def test_train_step(self):
        check_train_step(self.model_name, self.may_stay)

    def test_checkpoint_holds_every_variable(self, tmp_path):
        check_checkpoint_holds_every_variable(self.model_name, tmp_path)

    def test_serving(self):
        check_serving(self.model_name)

    @pytest.mark.integration  # one end-to-end run per model family
    def test_smoke_training_on_an_rgb_folder_exports_samples_and_evaluates(self, rgb_folder, tmp_path):
        check_smoke_training(self.model_name, rgb_folder, tmp_path / "run", tmp_path / "exports")


LOOKUP_OPS = {"GatherV2", "ResourceGather", "OneHot"}


def assert_input_checked_before_lookups(signature, input_name):
    """No lookup op reads `input_name` except through an identity that waits for the checks.

    Walks the traced graph forward from the input's placeholder and stops at Identity ops with
    control inputs (`zoo.models.base.checked`); reaching a gather or one-hot means a lookup can run
    before the in-graph assertion and answer a bad label with its own error, or none. A structural
    test, because the race it prevents shows only now and then.
    """
    graph = signature.get_concrete_function().graph
    frontier, seen = [graph.get_operation_by_name(input_name)], set()
    while frontier:
        op = frontier.pop()
        for output in op.outputs:
            for consumer in output.consumers():
                if consumer.name in seen:
                    continue
                seen.add(consumer.name)
                if consumer.type == "Identity" and consumer.control_inputs:
                    continue
                assert consumer.type not in LOOKUP_OPS, (
                    f"{consumer.type} {consumer.name} reads {input_name!r} without waiting for its checks")
                frontier.append(consumer)
