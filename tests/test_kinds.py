"""Kinds of evaluation (zoo.kinds): one object per kind, looked up by shared code; likelihood and
text models select their best checkpoint and stop early on validation likelihood."""

import ast
import json
import os

import numpy as np
import pytest
import tensorflow as tf

import zoo.data
import zoo.metrics.likelihood
from tests import helpers, text_checks
from zoo import contract, kinds, train
from zoo.errors import UserError
from zoo.metrics.exports import evaluate_export

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where a kind's name may be spelled: its own module, and the models that declare it.
KIND_HOMES = ("zoo/kinds/", "zoo/models/")
# Shared code scanned for kind names: the library (shipping included) and the commands.
SCANNED = ("zoo", "experiments")
# String constants equal to a kind's name that mean something else.
NOT_A_KIND = {
    ("zoo/data/augment.py", "translation"): "DiffAugment's translation policy",
    ("zoo/train/trainer.py", "samples"): "the workdir's preview-grid directory and TensorBoard image name",
}


def _python_files():
    for entry in SCANNED:
        path = os.path.join(ROOT, entry)
        if os.path.isfile(path):
            yield entry
            continue
        for directory, _, names in os.walk(path):
            for name in sorted(names):
                if name.endswith(".py"):
                    yield os.path.relpath(os.path.join(directory, name), ROOT)


def test_no_kind_name_is_spelled_in_shared_code():
    names = set(kinds.names())
    found = []
    for relative in _python_files():
        if relative.startswith(KIND_HOMES):
            continue
        with open(os.path.join(ROOT, relative)) as f:
            tree = ast.parse(f.read(), relative)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in names and (relative, node.value) not in NOT_A_KIND:
                found.append(f"{relative}:{node.lineno} {node.value!r}")
    assert not found, "shared code names kinds of evaluation (look them up through zoo.kinds): " + ", ".join(found)


def test_the_scan_sees_the_files_it_claims_to():
    scanned = set(_python_files())
    assert {"zoo/metrics/exports.py", "zoo/train/evaluation.py", "zoo/tune/search.py", "zoo/export/cards.py",
            "experiments/evaluate.py", "zoo/ship.py", "zoo/catalog.py", "experiments/ship.py",
            "experiments/reproduce.py"} <= scanned
    for (relative, value) in NOT_A_KIND:  # Each exception still holds its constant, or it goes.
        with open(os.path.join(ROOT, relative)) as f:
            constants = {node.value for node in ast.walk(ast.parse(f.read())) if isinstance(node, ast.Constant)}
        assert value in constants, relative


def test_every_kind_is_one_module_with_objectives():
    for name, kind in kinds.KINDS.items():
        assert type(kind).__module__ == f"zoo.kinds.{name}"
        assert kind.needs in kind.fills and kinds.get(name) is kind
        assert not kind.objectives or kind.training_objectives()
    # Text generation's numbers describe sampling; they rank nothing (its module says why).
    assert [kind for kind in kinds.KINDS.values() if not kind.objectives] == [kinds.TEXT_GENERATION]
    table = kinds.objectives()
    assert len(table) == sum(len(kind.objectives) for kind in kinds.KINDS.values())  # Names are unique.
    record = {"metrics": {"fid": 12.5, "kid_mean": 0.25}, "likelihood": {"nll": {"bits_per_dim": 3.5, "nll_nats": 1900.0},
              "negative_elbo": {"bits_per_dim": 3.75}}, "translation": {"l1": 0.125, "fid": 30.0, "kid_mean": 0.5}}
    values = {name: objective.read(record) for name, (kind, objective) in table.items() if name != "bits_per_byte"}
    assert values == {"fid": 12.5, "kid": 0.25, "bits_per_dim": 3.5, "nll": 1900.0, "negative_elbo": 3.75,
                      "translation_l1": 0.125, "translation_fid": 30.0, "translation_kid": 0.5}
    with pytest.raises(UserError, match="unknown --objective 'psnr'; available: fid, kid, "):
        kinds.objective("psnr")
    with pytest.raises(ValueError, match="unknown evaluation 'ssim'; known: samples, image_likelihood"):
        kinds.get("ssim")


def _interface(*evaluations):
    seed = contract.Input("seed", contract.SEED, "int64")
    image = contract.Input("image", contract.IMAGE, "uint8", (28, 28, 1), feature="image")
    text = contract.Input("text", contract.TEXT, "string")
    signatures = [contract.Signature("serving_default", [seed], {"images": contract.IMAGES}),
                  contract.Signature("log_likelihood", [image], {"ll": contract.LOG_LIKELIHOOD}),
                  contract.Signature("score", [text], {"ll": contract.LOG_LIKELIHOOD, "n": contract.NUM_TOKENS})]
    return contract.Interface(signatures, [contract.Evaluation(kind.name, signature) for kind, signature in evaluations])


def test_training_metric_picks_the_evaluation():
    gan = _interface((kinds.SAMPLES, "serving_default"))
    vae = _interface((kinds.SAMPLES, "serving_default"), (kinds.IMAGE_LIKELIHOOD, "log_likelihood"))
    text = _interface((kinds.TEXT_LIKELIHOOD, "score"))
    assert kinds.training_choice(gan, "fid")[1:] == (kinds.SAMPLES, "fid")
    assert kinds.training_choice(vae, "fid")[1:] == (kinds.SAMPLES, "fid")
    assert kinds.training_choice(vae, "bits_per_dim")[1:] == (kinds.IMAGE_LIKELIHOOD, "bits_per_dim")
    # The configs' default stands for a model's primary metric when it measures no FID.
    assert kinds.training_choice(text, "fid")[1:] == (kinds.TEXT_LIKELIHOOD, "bits_per_byte")
    # Without an ELBO output there is no negative_elbo to select on.
    with pytest.raises(UserError, match="eval_metric 'negative_elbo' is not available; choose one of fid, kid_mean, "
                                        "bits_per_dim, nll$"):
        kinds.training_choice(vae, "negative_elbo")
    with pytest.raises(UserError, match="eval_metric 'bits_per_dim' is not available; choose one of fid, kid_mean$"):
        kinds.training_choice(gan, "bits_per_dim")
    assert kinds.available_objectives(vae) == ["fid", "kid", "bits_per_dim", "nll"]


def _history(workdir):
    with open(os.path.join(workdir, "evaluations.json")) as f:
        return json.load(f)


def _likelihood_of(model, signature_name, config, split, count=None):
    """Re-scores a restored model through its own serving signature, outside the trainer."""
    interface = model.interface()
    signature = interface.signature(signature_name)
    function = model.serving_signatures()[signature_name]
    options = {key: value for key, value in {"data_dir": config.get("data_dir"),
                                             "validation_size": config.get("validation_size")}.items()
               if value is not None}
    if signature.input_with(contract.TEXT):
        return zoo.metrics.likelihood.evaluate_text_likelihood(function, signature, config.dataset, split,
                                                               **options)["bits_per_byte"]
    return zoo.metrics.likelihood.evaluate_likelihood(function, signature, config.dataset, split, count,
                                                      options=options)["nll"]["bits_per_dim"]


def test_vae_keeps_the_checkpoint_of_its_best_validation_bits_per_dim(tiny_fashion_mnist, tmp_path, capsys):
    config = helpers.smoke_config("vae", tiny_fashion_mnist, train_steps=8, eval_every=2, eval_samples=24,
                                  eval_metric="bits_per_dim", image_every=0, checkpoint_every=100)
    config.model_config.learning_rate = 3e-3  # Moves the bound between evaluations.
    workdir = str(tmp_path / "run")
    result = train.train_and_evaluate(config, workdir, export_dir=str(tmp_path / "exports"))
    history = _history(workdir)
    assert history["metric"] == "bits_per_dim"
    entries = history["evaluations"]
    assert [entry["step"] for entry in entries] == [2, 4, 6, 8]
    assert all(np.isfinite(entry["bits_per_dim"]) and entry["negative_elbo"] >= entry["bits_per_dim"] - 1e-6
               for entry in entries)  # The importance-weighted bound is tighter than the ELBO.
    assert len({round(entry["bits_per_dim"], 6) for entry in entries}) == 4  # Training moved it each time.
    out = capsys.readouterr().out
    assert "(24 fashion_mnist validation images)" in out and "; best bits_per_dim=" in out
    # Re-scored outside the trainer, the best and the last checkpoints give the history's numbers ...
    best_model, _, best_step = train.restore_model(workdir, "best")
    last_model, _, last_step = train.restore_model(workdir)
    rescored = {best_step: _likelihood_of(best_model, "log_likelihood", config, "validation", 24),
                last_step: _likelihood_of(last_model, "log_likelihood", config, "validation", 24)}
    by_step = {entry["step"]: entry["bits_per_dim"] for entry in entries}
    for step, value in rescored.items():
        np.testing.assert_allclose(value, by_step[step], rtol=1e-5)
    # By hand too: the signature's nats on the first 24 validation images, in bits per dimension.
    source = zoo.data.load(config.dataset, "validation", data_dir=tiny_fashion_mnist)
    images = np.stack([example["image"].numpy() for example in source.dataset.take(24)])
    signature = best_model.interface().signature("log_likelihood")
    outputs = best_model.serving_signatures()["log_likelihood"](tf.constant(images))
    nats = outputs[signature.output_with(contract.LOG_LIKELIHOOD)].numpy().astype(np.float64)
    np.testing.assert_allclose(-nats.mean() / (28 * 28 * np.log(2)), by_step[best_step], rtol=1e-5)
    # ... and the best is the lowest entry, which is what the run exported.
    assert best_step == min(entries, key=lambda entry: entry["bits_per_dim"])["step"] and last_step == 8
    info = json.load(open(os.path.join(result.export_path, "assets.extra", "zoo_export.json")))
    assert info["checkpoint"] == "best" and info["step"] == best_step and info["eval_metric"] == "bits_per_dim"
    record = evaluate_export(result.export_path, config.dataset, "validation", num_samples=0,
                             data_dir=tiny_fashion_mnist, likelihood_examples=24)
    np.testing.assert_allclose(record["likelihood"]["nll"]["bits_per_dim"], by_step[best_step], rtol=1e-5)


def test_image_likelihood_patience_stops_a_run(tiny_fashion_mnist, tmp_path, monkeypatch):
    scripted = iter([3.0, 2.5, 2.75, 2.8, 1.0])
    real = zoo.metrics.likelihood.evaluate_likelihood

    def scripted_likelihood(function, signature, dataset, split, max_examples=None, batch_size=256, options=None):
        assert (split, max_examples) == ("validation", 16)  # Selection reads a bounded validation sample.
        record = real(function, signature, dataset, split, max_examples, batch_size, options)
        record["nll"]["bits_per_dim"] = next(scripted)
        return record

    monkeypatch.setattr(zoo.metrics.likelihood, "evaluate_likelihood", scripted_likelihood)
    config = helpers.smoke_config("pixelcnn", tiny_fashion_mnist, train_steps=20, eval_every=2, eval_samples=16,
                                  eval_metric="bits_per_dim", early_stopping_patience=2, image_every=0,
                                  checkpoint_every=100)
    result = train.train_and_evaluate(config, str(tmp_path))
    assert result.stop_reason == "early_stopping" and result.step == 8  # Evaluations at 2, 4, 6, 8.
    assert [entry["bits_per_dim"] for entry in _history(str(tmp_path))["evaluations"]] == [3.0, 2.5, 2.75, 2.8]
    assert tf.train.latest_checkpoint(str(tmp_path / "best")).endswith("ckpt-4")


class TestTextSelection:
    @pytest.fixture(scope="class")
    def corpus(self, tmp_path_factory):
        return text_checks.write_corpus(tmp_path_factory.mktemp("corpus"))

    def test_text_model_selects_on_validation_bits_per_byte(self, corpus, tmp_path, capsys):
        # eval_metric is left at the configs' default (fid), which a text model does not measure.
        config = text_checks.smoke_config("char_lstm", corpus, train_steps=6, eval_every=2, checkpoint_every=100,
                                          validation_size=400)
        config.model_config.learning_rate = 1e-2
        workdir = str(tmp_path / "run")
        result = train.train_and_evaluate(config, workdir, export_dir=str(tmp_path / "exports"))
        history = _history(workdir)
        assert history["metric"] == "bits_per_byte"
        entries = history["evaluations"]
        assert [entry["step"] for entry in entries] == [2, 4, 6]
        assert all(0 < entry["bits_per_byte"] < 9 for entry in entries)
        assert "bytes of text:" in capsys.readouterr().out
        best_model, _, best_step = train.restore_model(workdir, "best")
        by_step = {entry["step"]: entry["bits_per_byte"] for entry in entries}
        np.testing.assert_allclose(_likelihood_of(best_model, "log_likelihood", config, "validation"),
                                   by_step[best_step], rtol=1e-5)
        assert best_step == min(entries, key=lambda entry: entry["bits_per_byte"])["step"]
        record = evaluate_export(result.export_path, config.dataset, "validation", num_samples=0,
                                 data_options={"validation_size": 400})
        np.testing.assert_allclose(record["likelihood"]["bits_per_byte"], by_step[best_step], rtol=1e-5)
        assert record["likelihood"]["num_tokens"] == 399  # The whole validation text, every byte after the first.

    def test_text_patience_stops_a_run(self, corpus, tmp_path, monkeypatch):
        scripted = iter([5.0, 4.0, 4.5, 4.25, 1.0])
        real = zoo.metrics.likelihood.evaluate_text_likelihood

        def scripted_likelihood(*args, **kwargs):
            return {**real(*args, **kwargs), "bits_per_byte": next(scripted)}

        monkeypatch.setattr(zoo.metrics.likelihood, "evaluate_text_likelihood", scripted_likelihood)
        config = text_checks.smoke_config("char_lstm", corpus, train_steps=20, eval_every=2, checkpoint_every=100,
                                          early_stopping_patience=2)
        result = train.train_and_evaluate(config, str(tmp_path))
        assert result.stop_reason == "early_stopping" and result.step == 8
        assert tf.train.latest_checkpoint(str(tmp_path / "best")).endswith("ckpt-4")
