"""Transfer learning (zoo.train.transfer, zoo.data.select): warm starts from a run, a checkpoint or
an export equal the source's weights at step 0 with fresh optimizers; mismatches are refused in
one line naming the variable and both shapes; init_partial keeps named variables fresh; frozen
variables do not move; subsets of classes and examples; a fine-tuning run resumes exactly."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tests import helpers
from zoo import data, registry, train
from zoo.data import DataSpec
from zoo.errors import UserError
from zoo.train import transfer


def config_for(model, data_dir, **overrides):
    return helpers.smoke_config(model, data_dir, image_every=0, **overrides)


def built(config, spec=None, seed=None):
    """A fresh model as the trainer builds it (initialization drawn from `seed`, default the config's)."""
    import keras

    keras.utils.set_random_seed(config.seed if seed is None else seed)
    spec = spec or DataSpec("images", image_shape=(28, 28, 1), num_classes=10)
    model = registry.get(config.model)(config.model_config, spec)
    model.build_for_training()
    return model


def values(variables):
    return [variable.numpy() for variable in variables]


def assert_same(a, b):
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def assert_differs(a, b):
    assert any(not np.array_equal(x, y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def source_run(tiny_fashion_mnist, tmp_path_factory):
    """A DCGAN smoke run trained 2 steps and exported: what the warm starts below start from."""
    root = tmp_path_factory.mktemp("source")
    config = config_for("dcgan", tiny_fashion_mnist)
    result = train.train_and_evaluate(config, str(root / "run"), export_dir=str(root / "exports"))
    model, _, step = train.restore_model(str(root / "run"))
    return {"workdir": str(root / "run"), "export": result.export_path, "model": model, "step": step,
            "checkpoint": result.checkpoint, "data_dir": tiny_fashion_mnist}


@pytest.mark.parametrize("kind", ["workdir", "checkpoint"])
def test_a_warm_start_from_a_run_equals_its_networks_with_fresh_optimizers(source_run, kind):
    config = config_for("dcgan", source_run["data_dir"], init_from=source_run[kind])
    model = built(config, seed=1)
    fresh_discriminator = values(model.discriminator.variables)
    report = transfer.warm_start(model, config)
    source = source_run["model"]
    assert_same(values(model.generator.variables), values(source.generator.variables))
    assert_same(values(model.discriminator.variables), values(source.discriminator.variables))
    assert_differs(values(model.discriminator.variables), fresh_discriminator)  # Something was copied.
    assert int(model.generator_optimizer.iterations.numpy()) == 0  # Fresh optimizer state.
    moments = [v for v in model.generator_optimizer.variables if "momentum" in v.path or "velocity" in v.path]
    assert moments and all(not np.any(v.numpy()) for v in moments)  # Adam's moments are not the source's.
    assert "initialized from checkpoint" in report and "discriminator, generator" in report


def test_a_warm_start_from_an_export_takes_the_generator_and_leaves_the_discriminator_fresh(source_run):
    config = config_for("dcgan", source_run["data_dir"], init_from=source_run["export"])
    model = built(config, seed=1)
    fresh_discriminator = values(model.discriminator.variables)
    report = transfer.warm_start(model, config)
    assert_same(values(model.generator.variables), values(source_run["model"].generator.variables))
    assert_same(values(model.discriminator.variables), fresh_discriminator)
    assert report.startswith(f"initialized from export {source_run['export']}") and "fresh: discriminator" in report
    # The warm-started generator draws the source export's images for the same seeds.
    loaded = tf.saved_model.load(source_run["export"])
    seeds = tf.constant([0, 1, 2], tf.int64)
    np.testing.assert_array_equal(model.serving_signatures()["serving_default"](seeds)["images"].numpy(),
                                  loaded.signatures["serving_default"](seed=seeds)["images"].numpy())


def test_an_export_with_an_average_starts_both_the_average_and_the_network(source_run, tmp_path):
    """A DCGAN with EMA starts its generator and its average from a plain export, and a plain DCGAN
    starts from an EMA export's average."""
    config = config_for("dcgan", source_run["data_dir"], init_from=source_run["export"])
    config.model_config.ema_decay = 0.99
    model = built(config, seed=1)
    report = transfer.warm_start(model, config)
    expected = values(source_run["model"].generator.variables)
    assert_same(values(model.generator.variables), expected)
    assert_same(values(model.ema_generator.variables), expected)
    assert "copied generator from ema_generator" in report


def test_mismatches_are_refused_in_one_line_naming_the_variable_and_both_shapes(source_run):
    wider = config_for("dcgan", source_run["data_dir"], init_from=source_run["workdir"])
    wider.model_config.generator_width *= 2
    model = built(wider)
    first = model.generator.variables[0]  # The projection of z: [latent_dim, 7 * 7 * 4 * width].
    source = source_run["model"].generator.variables[0]
    assert first.shape != source.shape
    with pytest.raises(UserError) as error:
        transfer.warm_start(model, wider)
    assert str(error.value) == (
        f"init_from {source_run['workdir']!r} does not fit: {first.path} has shape "
        f"[{', '.join(map(str, first.shape))}], the source shape [{', '.join(map(str, source.shape))}] (another "
        "model, width, image size, channels or class count?); list the variables to start fresh in init_partial "
        "if that is intended")
    other = config_for("vae", source_run["data_dir"], init_from=source_run["workdir"])
    with pytest.raises(UserError, match="holds a 'dcgan' model; this run trains 'vae'"):
        transfer.warm_start(built(other), other)
    with pytest.raises(UserError, match="is none of: a run's workdir"):
        transfer.describe_source(source_run["workdir"] + "/nothing")
    with pytest.raises(UserError, match="pick a version"):
        transfer.describe_source(source_run["export"].rsplit("/", 1)[0])


def test_init_partial_keeps_the_named_variables_fresh_and_says_so(tiny_fashion_mnist, tmp_path):
    """A conditional model on 5 classes from one trained on 10: the label embeddings differ, and
    init_partial names them; everything else is copied."""
    config = config_for("cgan", tiny_fashion_mnist)
    ten = built(config, seed=3)
    five_spec = DataSpec("images", image_shape=(28, 28, 1), num_classes=5)
    checkpoint = tf.train.Checkpoint(**ten.checkpoint_items())
    path = checkpoint.save(str(tmp_path / "checkpoints" / "ckpt"))
    config.init_from = path
    with pytest.raises(UserError, match="has shape"):
        transfer.warm_start(built(config, five_spec), config)
    config.init_partial = "embedding"
    five = built(config, five_spec, seed=4)
    embeddings = [v for v in five.generator.variables + five.discriminator.variables if "embedding" in v.path]
    fresh = values(embeddings)
    report = transfer.warm_start(five, config)
    assert embeddings and "kept fresh by init_partial: " in report
    assert_same(values(embeddings), fresh)
    others = [(a, b) for a, b in zip(five.generator.variables, ten.generator.variables) if "embedding" not in a.path]
    assert_same([a.numpy() for a, _ in others], [b.numpy() for _, b in others])


def test_frozen_variables_do_not_move_and_the_counts_are_printed(tiny_fashion_mnist, tmp_path, capsys):
    config = config_for("dcgan", tiny_fashion_mnist, train_steps=3, freeze="discriminator/conv0/")
    train.train_and_evaluate(config, str(tmp_path / "frozen"))
    out = capsys.readouterr().out
    assert "frozen: 2 variables" in out and "trainable: " in out
    model, _, _ = train.restore_model(str(tmp_path / "frozen"))
    start = built(config)  # The same seed: the run's initial weights.
    frozen = [(a, b) for a, b in zip(model.discriminator.variables, start.discriminator.variables)
              if "discriminator/conv0/" in a.path]
    moved = [(a, b) for a, b in zip(model.discriminator.variables, start.discriminator.variables)
             if "discriminator/conv0/" not in a.path and a.trainable]
    assert len(frozen) == 2
    assert_same([a.numpy() for a, _ in frozen], [b.numpy() for _, b in frozen])
    assert_differs([a.numpy() for a, _ in moved], [b.numpy() for _, b in moved])
    with pytest.raises(UserError, match="freeze pattern 'nothing/' matches no variable; paths look like: "):
        transfer.freeze(built(config), config_for("dcgan", tiny_fashion_mnist, freeze="nothing/"))
    overlapping = config_for("dcgan", tiny_fashion_mnist, freeze="discriminator/conv0/,discriminator/conv0/kernel")
    assert transfer.freeze(built(overlapping), overlapping).startswith("frozen: 2 variables")  # Each counted once.
    # Frozen layers of a network the warm start left fresh stay random: said, not silently done.
    assert "the frozen variables of discriminator were not in init_from" in transfer.freeze(
        built(config), config, fresh=("discriminator",))
    assert "note" not in transfer.freeze(built(config), config, fresh=("generator",))


def test_a_fine_tuning_run_resumes_exactly(source_run, tmp_path):
    def config(steps):
        return config_for("dcgan", source_run["data_dir"], train_steps=steps, checkpoint_every=100,
                          init_from=source_run["export"], freeze="discriminator/conv0/")

    def weights(workdir):
        model, _, step = train.restore_model(str(workdir))
        return step, [v.numpy() for item in model.checkpoint_items().values() for v in item.values]

    train.train_and_evaluate(config(4), str(tmp_path / "straight"))
    train.train_and_evaluate(config(2), str(tmp_path / "resumed"))
    train.train_and_evaluate(config(4), str(tmp_path / "resumed"))
    (step_a, a), (step_b, b) = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert step_a == step_b == 4
    assert_same(a, b)
    changed = config(4)
    changed.freeze = ""
    with pytest.raises(UserError, match="freeze="):
        train.train_and_evaluate(changed, str(tmp_path / "resumed"))


# ---- small data -----------------------------------------------------------------------------------

def test_classes_and_max_examples_select_the_training_data(tiny_fashion_mnist):
    whole = data.load("fashion_mnist", "train", tiny_fashion_mnist)
    labels = np.array([int(element["label"]) for element in whole.dataset])
    sevens = data.load("fashion_mnist", "train", tiny_fashion_mnist, classes="7")
    assert sevens.num_examples == int(np.sum(labels == 7)) > 0
    assert {int(element["label"]) for element in sevens.dataset} == {7}
    first = data.load("fashion_mnist", "train", tiny_fashion_mnist, classes="7,9", max_examples=5)
    expected = np.flatnonzero(np.isin(labels, [7, 9]))[:5]
    images = np.stack([element["image"].numpy() for element in whole.dataset])
    np.testing.assert_array_equal(np.stack([element["image"].numpy() for element in first.dataset]), images[expected])
    # The pipeline's random access reads the selected examples too.
    batch = next(iter(data.make_pipeline(first, 5, seed=0)))
    assert sorted(np.round((batch["image"].numpy()[:, 0, 0, 0] + 1) * 127.5).astype(int).tolist()) == \
        sorted(images[expected][:, 0, 0, 0].astype(int).tolist())
    assert "selected classes 7,9 and at most 5: 5 examples" in first.description
    # max_examples limits train only: the test split keeps every image of the class (FID references).
    test_whole = data.load("fashion_mnist", "test", tiny_fashion_mnist)
    test_labels = np.array([int(element["label"]) for element in test_whole.dataset])
    assert data.load("fashion_mnist", "test", tiny_fashion_mnist, classes="7", max_examples=1).num_examples == \
        int(np.sum(test_labels == 7))
    # TFDS-style slicing composes with the selection.
    assert data.load("fashion_mnist", "train[:50%]", tiny_fashion_mnist, classes="7").num_examples == \
        int(np.sum(labels[:len(labels) // 2] == 7))


def test_bad_selections_are_one_line(tiny_fashion_mnist):
    for options, message in [({"classes": "12"}, "classes 12 not in fashion_mnist: its classes are 0..9"),
                             ({"classes": "seven"}, "classes must be class ids like 7 or 0,2,4, got 'seven'"),
                             ({"max_examples": 0}, "max_examples must be a positive integer, got 0")]:
        with pytest.raises(UserError) as error:
            data.load("fashion_mnist", "train", tiny_fashion_mnist, **options)
        assert str(error.value) == message


def test_a_run_on_part_of_its_dataset_is_named_for_that_part():
    from zoo.config import subset_suffix

    assert subset_suffix() == subset_suffix("all") == subset_suffix(None, None, "train") == ""
    assert subset_suffix("7", 200) == "_classes7_first200"
    assert subset_suffix("0, 2,4") == "_classes0_2_4"
    assert subset_suffix(None, None, "train[:1%]") == "_train_1pct"
    assert subset_suffix(None, None, "train[1000:2000]") == "_train_1000_2000"


def test_zoo_train_fine_tunes_an_export_on_one_class_from_the_command_line(source_run, tmp_path):
    workdir = tmp_path / "fine"
    done = helpers.run_binary("train", "--config=dcgan_fashion_mnist", "--smoke", f"--data_dir={source_run['data_dir']}",
                              f"--init_from={source_run['export']}", "--freeze=discriminator/conv0/", "--classes=7",
                              "--max_examples=10", "--train_steps=2", f"--workdir={workdir}",
                              f"--export_dir={tmp_path / 'exports'}")
    assert done.returncode == 0, done.stderr
    assert f"initialized from export {source_run['export']}" in done.stdout
    # A model of 10 sneakers is not a new version of the model trained on every class.
    exported = [name for name in os.listdir(tmp_path / "exports") if os.path.isdir(tmp_path / "exports" / name)]
    assert exported == ["dcgan_fashion_mnist_classes7_first10"]
    assert "frozen: 2 variables" in done.stdout and "stay at their random initialization" in done.stdout
    assert "selected class 7 and at most 10: 10 examples" in done.stdout
    bad = helpers.run_binary("train", "--config=dcgan_fashion_mnist", "--smoke", f"--data_dir={source_run['data_dir']}",
                             f"--init_from={tmp_path / 'missing'}", f"--workdir={tmp_path / 'bad'}", "--export_dir=")
    helpers.assert_one_line_error(bad, "is none of: a run's workdir")


@pytest.mark.integration  # transfer per family; `make test` fine-tunes image models from their exports
def test_a_text_model_fine_tunes_from_its_export_on_another_text_file(tmp_path):
    """GPT trained on one text file, exported; a run on another file starts from the export: at step
    0 it scores text exactly as the export does (every variable came across), and training moves it."""
    from zoo import config as config_lib

    rng = np.random.default_rng(0)
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_bytes(bytes(rng.integers(97, 123, 4000).astype(np.uint8)))
    second.write_bytes(b"the quick brown fox jumps over the lazy dog. " * 80)

    def config(path, **overrides):
        config = config_lib.load("gpt_fortunes", smoke=True)
        config.dataset = f"text:{path}"
        config.image_every = 0
        for key, value in overrides.items():
            config[key] = value
        return config

    result = train.train_and_evaluate(config(first), str(tmp_path / "source"), export_dir=str(tmp_path / "exports"))
    tuned = config(second, init_from=result.export_path)
    source = data.load(tuned.dataset, "train", sequence_length=tuned.get("sequence_length"))
    model = built(tuned, spec=source.spec, seed=5)
    report = transfer.warm_start(model, tuned)
    assert "fresh" not in report  # The export holds the whole network.
    text = tf.constant([b"the lazy dog", b"abcxyz"])
    exported = tf.saved_model.load(result.export_path).signatures["log_likelihood"](text=text)["log_likelihood"]
    ours = model.serving_signatures()["log_likelihood"](text)["log_likelihood"]
    np.testing.assert_allclose(ours.numpy(), exported.numpy(), rtol=1e-6)
    fine = train.train_and_evaluate(config(second, init_from=result.export_path, train_steps=3),
                                    str(tmp_path / "fine"))
    assert fine.step == 3
