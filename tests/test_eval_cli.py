"""zoo-eval: metrics of an export through its signature alone, JSON record, one-line bad-input errors."""

import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests import helpers, model_checks
from zoo import export


def _small_eval_args(tiny_fashion_mnist, out):
    return [f"--data_dir={tiny_fashion_mnist}", "--num_samples=64", "--reference_examples=64", f"--out={out}"]


def test_zoo_eval_writes_the_record(tiny_fashion_mnist, tmp_path):
    path = export.export_model(model_checks.build("dcgan"), str(tmp_path), "dcgan_fashion_mnist",
                               {"dataset": "fashion_mnist"})
    out = tmp_path / "eval.json"
    result = helpers.run_binary("evaluate", f"--export={tmp_path / 'dcgan_fashion_mnist'}",
                                *_small_eval_args(tiny_fashion_mnist, out))
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("dcgan_fashion_mnist/1 vs fashion_mnist test (64 samples") and "FID " in line
    record = json.load(open(out))
    assert record["export"] == path and record["split"] == "test" and record["num_samples"] == 64
    assert record["first_seed"] == 10**9 and len(record["feature_model"]["hash"]) == 16
    metrics = record["metrics"]
    assert metrics["num_samples"] == 64 and metrics["fid"] > 0
    assert {"kid_mean", "kid_std", "precision", "recall", "density", "coverage"} <= set(metrics)


def test_zoo_eval_on_the_validation_split(tiny_fashion_mnist, tmp_path):
    """--split=validation measures on the images held out of train (--validation_size of them)."""
    export.export_model(model_checks.build("dcgan"), str(tmp_path), "dcgan_fashion_mnist", {"dataset": "fashion_mnist"})
    out = tmp_path / "eval.json"
    result = helpers.run_binary("evaluate", f"--export={tmp_path / 'dcgan_fashion_mnist'}", "--split=validation",
                                "--validation_size=40", *_small_eval_args(tiny_fashion_mnist, out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("dcgan_fashion_mnist/1 vs fashion_mnist validation (64")
    record = json.load(open(out))
    assert record["split"] == "validation" and record["validation_size"] == 40
    assert record["reference"]["num_examples"] == 40
    assert "last 40 of the 256 training images, held out of train" in record["reference"]["description"]
    helpers.assert_one_line_error(
        helpers.run_binary("evaluate", f"--export={tmp_path / 'dcgan_fashion_mnist'}", "--split=validation",
                           "--validation_size=0", *_small_eval_args(tiny_fashion_mnist, out)),
        "validation_size=0 holds nothing out of train")


def test_zoo_eval_bad_inputs_are_one_line(tiny_fashion_mnist, tmp_path):
    class NotAGenerator(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def serve(self, x):
            return {"y": x * 2.0}

    module = NotAGenerator()
    tf.saved_model.save(module, str(tmp_path / "other" / "1"), signatures={"serving_default": module.serve})
    out = tmp_path / "eval.json"
    helpers.assert_one_line_error(
        helpers.run_binary("evaluate", f"--export={tmp_path / 'other'}", *_small_eval_args(tiny_fashion_mnist, out)),
        "does not declare its interface")

    export.export_model(model_checks.build("dcgan"), str(tmp_path), "dcgan")
    helpers.assert_one_line_error(
        helpers.run_binary("evaluate", f"--export={tmp_path / 'dcgan'}", "--num_samples=1",
                           f"--data_dir={tiny_fashion_mnist}", "--reference_examples=64", f"--out={out}"),
        "sample")

    folder = tmp_path / "rgb"
    folder.mkdir()
    for index in range(4):
        Image.fromarray(np.full((32, 32, 3), index * 40, np.uint8)).save(folder / f"{index}.png")
    helpers.assert_one_line_error(
        helpers.run_binary("evaluate", f"--export={tmp_path / 'dcgan'}", f"--dataset=folder:{folder}", "--split=train",
                           "--num_samples=64", f"--out={out}"),
        "has no shipped feature network and is unlabelled", "--feature_model")
    assert not out.exists()


def test_zoo_eval_scores_the_likelihood_of_a_vae_export(tiny_fashion_mnist, tmp_path):
    """The NLL zoo-eval reports is the mean of the export's own log_likelihood over the split."""
    from zoo import data

    path = export.export_model(model_checks.build("vae"), str(tmp_path), "vae_fashion_mnist",
                               {"dataset": "fashion_mnist"})
    out = tmp_path / "eval.json"
    result = helpers.run_binary("evaluate", f"--export={tmp_path / 'vae_fashion_mnist'}", "--likelihood_examples=32",
                                *_small_eval_args(tiny_fashion_mnist, out))
    assert result.returncode == 0, result.stderr
    assert "bits/dim (32 test images)" in result.stdout and "-ELBO" in result.stdout
    record = json.load(open(out))["likelihood"]
    assert record["num_examples"] == 32 and record["num_dims"] == 784
    first = next(iter(data.load("fashion_mnist", "test", data_dir=tiny_fashion_mnist).dataset.batch(32)))
    expected = -tf.saved_model.load(path).signatures["log_likelihood"](images=first["image"])["log_likelihood"]
    np.testing.assert_allclose(record["nll"]["nll_nats"], float(np.mean(expected)), rtol=1e-5)
    assert record["negative_elbo"]["bits_per_dim"] >= record["nll"]["bits_per_dim"]


def test_zoo_eval_scores_a_text_export_in_bits_per_byte(tmp_path):
    from tests import text_checks
    from zoo.data import text

    corpus = text_checks.write_corpus(tmp_path)
    path = export.export_model(text_checks.build("gpt"), str(tmp_path), "gpt_corpus", {"dataset": f"text:{corpus}"})
    out = tmp_path / "eval.json"
    result = helpers.run_binary("evaluate", f"--export={tmp_path / 'gpt_corpus'}", f"--out={out}")
    assert result.returncode == 0, result.stderr
    assert "bits/byte" in result.stdout and "samples" not in result.stdout
    record = json.load(open(out))["likelihood"]
    data = text.load_bytes(f"text:{corpus}", "test")[0]
    scores = tf.saved_model.load(path).signatures["log_likelihood"](text=tf.constant([data]))
    expected = -float(scores["log_likelihood"][0]) / int(scores["num_tokens"][0]) / np.log(2)
    assert record["num_tokens"] == len(data) - 1
    np.testing.assert_allclose(record["bits_per_byte"], expected, rtol=1e-6)
    assert 0 < record["bits_per_byte"] < 9  # An untrained model is near 8 bits/byte.


def test_zoo_eval_with_no_samples_needs_a_likelihood(tiny_fashion_mnist, tmp_path):
    export.export_model(model_checks.build("dcgan"), str(tmp_path), "dcgan")
    helpers.assert_one_line_error(
        helpers.run_binary("evaluate", f"--export={tmp_path / 'dcgan'}", "--num_samples=0",
                           f"--data_dir={tiny_fashion_mnist}"),
        "--num_samples=0 leaves nothing to measure")


def _translation_export(tmp_path):
    """A (randomly initialized) image-to-image export recorded as trained on fashion_mnist_edges."""
    from zoo import config as config_lib
    from zoo import registry
    from zoo.data import DataSpec

    config = config_lib.load("pix2pix_fashion_mnist_edges", smoke=True)
    model = registry.get("pix2pix")(config.model_config,
                                    DataSpec("paired_images", image_shape=(28, 28, 1), input_shape=(28, 28, 1)))
    model.build_for_training()
    return export.export_model(model, str(tmp_path), "translator", {"dataset": "fashion_mnist_edges"})


def test_zoo_eval_scores_a_translation_against_the_targets(tiny_fashion_mnist, tmp_path):
    """PSNR and L1 match a numpy computation over the same test pairs; FID/KID are reported."""
    from zoo import data

    path = _translation_export(tmp_path)
    out = tmp_path / "eval.json"
    result = helpers.run_binary("evaluate", f"--export={tmp_path / 'translator'}", f"--data_dir={tiny_fashion_mnist}",
                                "--num_samples=40", "--reference_examples=64", f"--out={out}")
    assert result.returncode == 0, result.stderr
    assert "PSNR " in result.stdout and "SSIM " in result.stdout and "(40 pairs)" in result.stdout
    record = json.load(open(out))["translation"]
    pairs = next(iter(data.load("fashion_mnist_edges", "test", data_dir=tiny_fashion_mnist).dataset.batch(40)))
    outputs = tf.saved_model.load(path).signatures["serving_default"](images=pairs["input"])["images"].numpy()
    targets = pairs["target"].numpy()
    difference = outputs.astype(np.float64) - targets.astype(np.float64)
    mse = np.mean(difference ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(record["psnr"], np.mean(10 * np.log10(255.0 ** 2 / mse)), rtol=1e-4)
    np.testing.assert_allclose(record["l1"], np.mean(np.abs(difference)) / 255.0, rtol=1e-6)
    assert record["num_examples"] == 40 and 0 < record["ssim"] < 1 and record["fid"] > 0
    assert record["reference"]["num_examples"] == 64


class _ClassPictures(tf.Module):
    """A conditional 'generator' that returns a stored real image of class (label + shift) mod 10."""

    def __init__(self, pictures, shift):
        super().__init__()
        self.pictures = tf.constant(pictures)
        self.shift = shift

    def interface(self):
        from zoo import contract

        return contract.Interface([contract.Signature("serving_default", [
            contract.Input("seed", "seed", "int64"),
            contract.Input("label", "class_label", "int64", num_values=10, feature="label"),
        ], {"images": "images"})], [contract.Evaluation("samples", "serving_default", reference="image")],
            preview="samples")

    def serving_signatures(self):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="seed"),
                                      tf.TensorSpec([None], tf.int64, name="label")])
        def serving_default(seed, label):
            del seed
            return {"images": tf.gather(self.pictures, (label + self.shift) % 10)}

        return {"serving_default": serving_default}

    def export_info(self):
        return {"dataset": "fashion_mnist"}


def test_label_accuracy_of_a_conditional_generator(tiny_fashion_mnist, tmp_path):
    """zoo-eval reports how often the shipped classifier names the requested class: 1 for a model that
    draws the right class, 0 for one that always draws the next class; beside the classifier's
    accuracy on the real split, counted here from the labels."""
    from zoo import data, metrics
    from zoo.metrics.exports import evaluate_export

    classifier = metrics.load_feature_extractor()
    train = data.load("fashion_mnist", "train", data_dir=tiny_fashion_mnist)
    batch = next(iter(train.dataset.batch(1000)))
    images, labels = batch["image"].numpy(), batch["label"].numpy()
    predicted = classifier.classify(images).argmax(-1)
    pictures = np.stack([images[np.flatnonzero((labels == value) & (predicted == value))[0]] for value in range(10)])

    test = next(iter(data.load("fashion_mnist", "test", data_dir=tiny_fashion_mnist).dataset.batch(1000)))
    real_accuracy = np.mean(classifier.classify(test["image"].numpy()).argmax(-1) == test["label"].numpy())
    for shift, expected in ((0, 1.0), (1, 0.0)):
        path = export.export_model(_ClassPictures(pictures, shift), str(tmp_path), f"pictures{shift}",
                                   serving_files=False)
        record = evaluate_export(path, "fashion_mnist", "test", num_samples=40, data_dir=tiny_fashion_mnist,
                                 reference_examples=64)
        accuracy = record["label_accuracy"]
        assert accuracy["accuracy"] == expected and accuracy["per_class"] == [expected] * 10
        assert accuracy["real_accuracy"] == pytest.approx(real_accuracy) and accuracy["num_real"] == 64
    unconditional = export.export_model(model_checks.build("dcgan"), str(tmp_path), "dcgan", serving_files=False)
    record = evaluate_export(unconditional, "fashion_mnist", "test", num_samples=16, data_dir=tiny_fashion_mnist,
                             reference_examples=64)
    assert "label_accuracy" not in record
