"""Conditional GAN: shared checks, label-conditioned serving, label validation, per-class grids."""

import numpy as np
import pytest
import tensorflow as tf

from tests import helpers, model_checks
from zoo import export


class TestConditionalGAN(model_checks.ImageGeneratorTests):
    model_name = "cgan"


def test_label_changes_the_image_and_seed_plus_label_is_deterministic():
    serving = model_checks.build("cgan").serving_signatures()["serving_default"]
    seeds = tf.constant([7, 7, 7], tf.int64)
    images = serving(seed=seeds, label=tf.constant([0, 5, 0], tf.int64))["images"].numpy()
    np.testing.assert_array_equal(images[0], images[2])
    assert not np.array_equal(images[0], images[1])


@pytest.mark.parametrize("labels, message", [([0, 10], "label: every label must be between 0 and 9"),
                                             ([-1, 0], "label: every label must be between 0 and 9"),
                                             ([0], "label: needs one label per seed")])
def test_bad_labels_are_invalid_argument_errors(labels, message):
    """Every time, the in-graph check answers, not the embedding lookup: the label reaches the
    generator only through the check (an unordered check once lost this race now and then)."""
    signatures = model_checks.build("cgan").serving_signatures()
    for _ in range(20):
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            signatures["serving_default"](seed=tf.constant([1, 2], tf.int64), label=tf.constant(labels, tf.int64))
        with pytest.raises(tf.errors.InvalidArgumentError, match=message.replace(" per seed", " per")):
            signatures["from_latent"](z=tf.zeros([2, 16]), label=tf.constant(labels, tf.int64))


@pytest.mark.parametrize("signature", ["serving_default", "from_latent"])
def test_label_reaches_the_generator_only_after_its_checks(signature):
    model_checks.assert_input_checked_before_lookups(model_checks.build("cgan").serving_signatures()[signature], "label")


def test_sample_binary_label_and_per_class_grid(tmp_path):
    export.export_model(model_checks.build("cgan"), str(tmp_path), "cgan", {"num_classes": 10})
    out = tmp_path / "grid.png"
    result = helpers.run_binary("sample", f"--export={tmp_path / 'cgan'}", "--num=20", f"--out={out}")
    assert result.returncode == 0 and "one row per class (10 classes)" in result.stdout, result.stderr
    from PIL import Image

    assert np.asarray(Image.open(out)).shape == (10 * 30 + 2, 2 * 30 + 2)  # 10 rows x 2 columns.
    result = helpers.run_binary("sample", f"--export={tmp_path / 'cgan'}", "--num=4", "--label=3", f"--out={out}")
    assert result.returncode == 0 and "label 3" in result.stdout, result.stderr
    helpers.assert_one_line_error(
        helpers.run_binary("sample", f"--export={tmp_path / 'cgan'}", "--label=12", f"--out={out}"),
        "--label must be between 0 and 9, got 12")


def test_assertion_message_is_extracted_for_users():
    from zoo.metrics import sampling

    serving = model_checks.build("cgan").serving_signatures()["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        serving(seed=tf.constant([1], tf.int64), label=tf.constant([11], tf.int64))
    assert sampling.assertion_message(error.value) == "label: every label must be between 0 and 9"
