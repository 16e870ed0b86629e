"""Beyond 28x28 gray: image-to-image models on a user's paired RGB folder, and zoo-eval on data
that no feature network fits. (Every image generator trains, exports, samples and is evaluated on
an RGB folder in its own test: `model_checks.check_smoke_training`.)"""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests import helpers
from zoo import config as config_lib
from zoo import contract, export, registry, train
from zoo.data import paired
from zoo.metrics import sampling
from zoo.metrics.exports import evaluate_export

TRANSLATION_MODELS = [name for name in registry.names() if not name.startswith("test_only")
                      and paired.is_paired_dataset(config_lib.load(config_lib.default_config_name(name, "x")).dataset)]


@pytest.fixture(scope="module")
def paired_rgb_folder(tmp_path_factory):
    """paired_folder:<root> of 16 side-by-side RGB pairs (input: the target's channels reversed)."""
    root = tmp_path_factory.mktemp("paired_rgb")
    rng = np.random.default_rng(1)
    for index in range(16):
        target = helpers.rgb_picture(rng, index % 3)
        Image.fromarray(np.concatenate([target[..., ::-1], target], axis=1)).save(root / f"{index}.png")
    return f"paired_folder:{root}"


def _train(name, dataset, tmp_path):
    config = config_lib.load(config_lib.default_config_name(name, "fashion_mnist"), smoke=True)
    config.dataset = dataset
    result = train.train_and_evaluate(config, str(tmp_path / "run"), export_dir=str(tmp_path / "exports"))
    assert result.step == config.train_steps and result.export_path
    return result.export_path


@pytest.mark.parametrize("name", TRANSLATION_MODELS)
def test_translation_model_on_a_paired_rgb_folder(name, paired_rgb_folder, tmp_path):
    version_dir = _train(name, paired_rgb_folder, tmp_path)
    assert os.listdir(tmp_path / "run" / "samples")  # The trainer's input | output | target grid.
    loaded = tf.saved_model.load(version_dir)
    grid, what = sampling.preview_grid(contract.from_export(version_dir), lambda key: loaded.signatures[key],
                                       version_dir, export.read_info(version_dir), 0, 6, split="train")
    size = helpers.RGB_SHAPE[0] + 2
    assert grid.shape == (2 + 3 * size, 2 + 6 * size, 3) and "(input | output | target)" in what
    record = evaluate_export(version_dir, paired_rgb_folder, "train", num_samples=16)["translation"]
    # 14 training pairs: a seeded tenth of the 16 (2) is held out as the validation split.
    assert record["num_examples"] == 14 and np.isfinite(record["psnr"]) and 0 <= record["l1"] <= 1
    assert "fid" not in record and "--feature_model" in record["fid_skipped"]  # Unlabelled: said, not guessed.


def test_zoo_eval_of_an_unlabelled_rgb_folder_says_what_feature_model_needs(tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    rng = np.random.default_rng(2)
    for index in range(9):  # 8 to train on (a smoke batch), 1 held out as validation.
        Image.fromarray(helpers.rgb_picture(rng, 0)).save(root / f"{index}.png")
    version_dir = _train("dcgan", f"folder:{root}", tmp_path)
    helpers.assert_one_line_error(
        helpers.run_binary("evaluate", f"--export={version_dir}", "--split=train", "--num_samples=8"),
        "has no shipped feature network and is unlabelled", "--feature_model")
