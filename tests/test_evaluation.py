"""Evaluation during training: FID/KID logged, the best checkpoint kept and exported, early stopping."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import zoo.metrics
from tests import helpers
from zoo import train
from zoo.errors import UserError


def _eval_config(data_dir, **overrides):
    settings = dict(train_steps=8, eval_every=2, eval_samples=32, eval_reference_examples=64, image_every=0,
                    checkpoint_every=100)
    settings.update(overrides)
    return helpers.smoke_config("dcgan", data_dir, **settings)


def test_fid_and_kid_are_measured_and_logged(tiny_fashion_mnist, tmp_path, capsys):
    result = train.train_and_evaluate(_eval_config(tiny_fashion_mnist), str(tmp_path))
    history = json.load(open(tmp_path / "evaluations.json"))["evaluations"]
    assert [entry["step"] for entry in history] == [2, 4, 6, 8]
    assert all(entry["fid"] > 0 and np.isfinite(entry["kid_mean"]) for entry in history)
    out = capsys.readouterr().out
    assert "eval at step 8: fid=" in out
    # Selection reads the validation split held out of train (43 of the tiny 256 images), not test.
    assert "(32 samples vs fashion_mnist validation)" in out and "data: fashion_mnist train: 213 images" in out
    assert result.stop_reason == "completed"
    best = min(history, key=lambda entry: entry["fid"])
    assert tf.train.latest_checkpoint(str(tmp_path / "best")).endswith(f"ckpt-{best['step']}")


def test_early_stopping_keeps_and_exports_the_best(tiny_fashion_mnist, tmp_path, monkeypatch):
    scripted = iter([5.0, 4.0, 6.0, 7.0, 1.0])

    def fake_evaluate_images(images, reference, extractor, metrics):
        assert images.shape == (32, 28, 28, 1) and images.dtype == np.uint8
        # The best checkpoint and early stopping are chosen on validation images, never on test.
        assert reference.description.startswith("fashion_mnist validation: 43 images (last 43 of the 256 training")
        return {"fid": next(scripted), "kid_mean": 0.0, "kid_std": 0.0}

    monkeypatch.setattr(zoo.metrics, "evaluate_images", fake_evaluate_images)
    config = _eval_config(tiny_fashion_mnist, train_steps=20, early_stopping_patience=2)
    result = train.train_and_evaluate(config, str(tmp_path / "run"), export_dir=str(tmp_path / "exports"))
    assert result.stop_reason == "early_stopping" and result.step == 8  # Evaluations at 2, 4, 6, 8.
    info = json.load(open(os.path.join(result.export_path, "assets.extra", "zoo_export.json")))
    assert info["checkpoint"] == "best" and info["step"] == 4 and info["evaluation"]["fid"] == 4.0
    # The export holds the weights of step 4, not those of step 8.
    best_model, _, best_step = train.restore_model(str(tmp_path / "run"), "best")
    latest_model, _, latest_step = train.restore_model(str(tmp_path / "run"))
    assert (best_step, latest_step) == (4, 8)
    seeds = tf.constant([0, 1], tf.int64)
    exported = tf.saved_model.load(result.export_path).signatures["serving_default"](seed=seeds)["images"].numpy()
    from_best = best_model.serving_signatures()["serving_default"](seeds)["images"].numpy()
    from_latest = latest_model.serving_signatures()["serving_default"](seeds)["images"].numpy()
    np.testing.assert_array_equal(exported, from_best)
    assert not np.array_equal(exported, from_latest)


def test_resume_keeps_counting_patience(tiny_fashion_mnist, tmp_path, monkeypatch):
    scripted = iter([5.0, 6.0, 7.0])
    monkeypatch.setattr(zoo.metrics, "evaluate_images",
                        lambda images, reference, extractor, metrics: {"fid": next(scripted), "kid_mean": 0.0, "kid_std": 0.0})
    train.train_and_evaluate(_eval_config(tiny_fashion_mnist, train_steps=4, early_stopping_patience=2), str(tmp_path))
    result = train.train_and_evaluate(_eval_config(tiny_fashion_mnist, train_steps=20, early_stopping_patience=2),
                                      str(tmp_path))
    assert result.stop_reason == "early_stopping" and result.step == 6
    # Rerunning the finished search trains nothing more.
    again = train.train_and_evaluate(_eval_config(tiny_fashion_mnist, train_steps=20, early_stopping_patience=2),
                                     str(tmp_path))
    assert again.step == 6

def test_bad_evaluation_settings_are_one_line_errors(tiny_fashion_mnist, tmp_path):
    with pytest.raises(UserError, match="eval_metric 'precision' is not available; choose one of fid, kid_mean"):
        train.train_and_evaluate(_eval_config(tiny_fashion_mnist, eval_metric="precision"), str(tmp_path))
    with pytest.raises(UserError, match="no best checkpoint"):
        train.train_and_evaluate(_eval_config(tiny_fashion_mnist, eval_every=0), str(tmp_path / "plain"))
        train.restore_model(str(tmp_path / "plain"), "best")
