"""Checks every byte-level language model must pass; a model's test class inherits `TextModelTests`.

Tests never need the fortunes package: they train on a tiny text file written to tmp_path and
read as `text:<path>`.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

import zoo.data
from tests import model_checks
from zoo import config as config_lib
from zoo import export, registry, train
from zoo.data import DataSpec
from zoo.models import language

# Short, repetitive English: a model learns its bytes within a few dozen steps.
CORPUS = (b"the cat sat on the mat. the dog sat on the log. a cat and a dog met on the mat.\n%\n" * 40)

# Loads the export where `import zoo` fails and prints what generate and log_likelihood return.
ZOO_FREE_CLIENT = """
import sys
sys.modules["zoo"] = None  # Any attempt to import zoo now raises ImportError.
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
text = loaded.signatures["serving_default"](
    prompt=tf.constant(["the "]), max_new_tokens=tf.constant([12], tf.int64), temperature=tf.constant([0.8]),
    top_k=tf.constant([5], tf.int64), seed=tf.constant([7], tf.int64))["text"].numpy()
scores = loaded.signatures["log_likelihood"](text=tf.constant(["the cat sat", "x"]))
print(repr(text.tolist()), scores["num_tokens"].numpy().tolist())
"""

PY_FUNC_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}


def write_corpus(directory, data=CORPUS, name="corpus.txt"):
    path = os.path.join(str(directory), name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def smoke_config(name, corpus_path, **overrides):
    config = config_lib.load(config_lib.default_config_name(name, "fortunes"), smoke=True)
    config.dataset = f"text:{corpus_path}"
    config.export_name = f"{name}_corpus"
    for key, value in overrides.items():
        config[key] = value
    return config


def build(name, sequence_length=16, **model_overrides):
    config = config_lib.load(config_lib.default_config_name(name, "fortunes"), smoke=True)
    for key, value in model_overrides.items():
        config.model_config[key] = value
    spec = DataSpec("text", sequence_length=sequence_length, vocabulary_size=language.VOCABULARY_SIZE)
    model = registry.get(name)(config.model_config, spec)
    model.build_for_training()
    return model


def generate_batch(signature, prompt, max_new_tokens, temperature, top_k, seed):
    """The text of every row: each argument is a list with one value per row."""
    return signature(prompt=tf.constant(prompt, tf.string), max_new_tokens=tf.constant(max_new_tokens, tf.int64),
                     temperature=tf.constant(temperature, tf.float32), top_k=tf.constant(top_k, tf.int64),
                     seed=tf.constant(seed, tf.int64))["text"].numpy().tolist()


def generate(signature, prompt="the ", max_new_tokens=20, temperature=1.0, top_k=0, seed=0):
    """The text of a one-row request."""
    texts = generate_batch(signature, [prompt], [max_new_tokens], [temperature], [top_k], [seed])
    assert len(texts) == 1, texts
    return texts[0]


def check_causal(name):
    """Changing the byte at position 9 leaves the logits of positions 0..8 unchanged."""
    model = build(name)
    tokens = tf.constant(np.frombuffer(CORPUS[:16], np.uint8).astype(np.int32)[None])
    changed = tf.tensor_scatter_nd_update(tokens, [[0, 9]], [ord("Z")])
    before, after = model.network(tokens).numpy(), model.network(changed).numpy()
    np.testing.assert_allclose(before[0, :9], after[0, :9], rtol=1e-5, atol=1e-5)
    assert not np.allclose(before[0, 9:], after[0, 9:])


def check_train_step_learns(name, corpus_path):
    """Forty steps on a repetitive corpus cut the loss well below log(256) (uniform guessing)."""
    keras.utils.set_random_seed(0)
    model = build(name, learning_rate=1e-2, dropout=0.0)
    source = zoo.data.load(f"text:{corpus_path}", sequence_length=16)
    batches = iter(zoo.data.make_pipeline(source, 16, seed=0))
    step = tf.function(model.train_step)
    losses = [float(step(next(batches), tf.constant([0, index], tf.int64))["loss"]) for index in range(40)]
    assert losses[0] > 0.9 * np.log(256), losses[:3]
    assert np.mean(losses[-5:]) < 0.6 * losses[0], losses
    assert all(np.isfinite(losses))


def check_checkpoint_holds_every_variable(name, tmp_path):
    """A checkpoint restores every network and optimizer variable into a differently seeded model."""
    batch = {"tokens": tf.constant(np.frombuffer(CORPUS[:8 * 17], np.uint8).reshape(8, 17).astype(np.int32))}
    trained = model_checks.check_checkpoint_restores(lambda: build(name), batch, tmp_path)
    assert len(trained.checkpoint_items()["network"].values) == len(trained.network.variables)


def graph_ops(export_path):
    """Every op type in the SavedModel's graph and its function library."""
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(export_path, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    graph = proto.meta_graphs[0].graph_def
    ops = {node.op for node in graph.node}
    for function in graph.library.function:
        ops.update(node.op for node in function.node_def)
    return ops


def train_and_export(name, corpus_path, workdir, export_dir):
    config = smoke_config(name, corpus_path)
    result = train.train_and_evaluate(config, str(workdir), export_dir=str(export_dir))
    return config, result


class TextModelTests:
    """Mixin: `class TestMyModel(TextModelTests): model_name = "my_model"` runs every check."""

    model_name = None

    @pytest.fixture(scope="class")
    def corpus(self, tmp_path_factory):
        return write_corpus(tmp_path_factory.mktemp("corpus"))

    @pytest.fixture(scope="class")
    def trained(self, corpus, tmp_path_factory):
        """One smoke run through the trainer and its export, shared by the export checks."""
        root = tmp_path_factory.mktemp(f"{self.model_name}_run")
        config, result = train_and_export(self.model_name, corpus, root / "run", root / "exports")
        return {"config": config, "result": result, "workdir": root / "run",
                "loaded": tf.saved_model.load(result.export_path)}

    def test_causal(self):
        check_causal(self.model_name)

    def test_train_step_learns_a_repetitive_corpus(self, corpus):
        check_train_step_learns(self.model_name, corpus)

    def test_checkpoint_holds_every_variable(self, tmp_path):
        check_checkpoint_holds_every_variable(self.model_name, tmp_path)

    def test_smoke_training_records_text_data_and_skips_image_previews(self, trained):
        config, result, workdir = trained["config"], trained["result"], trained["workdir"]
        assert result.step == config.train_steps and result.stop_reason == "completed"
        assert result.export_path.endswith(f"{config.export_name}/1")
        assert set(result.losses) == {"loss", "bits_per_byte"}
        assert not os.path.exists(workdir / "samples")  # No seed -> images signature: no preview grids.
        model, _, step = train.restore_model(str(workdir))  # What zoo-export does.
        assert step == config.train_steps and model.sequence_length == config.sequence_length
        info = export.read_info(result.export_path)
        assert info["sequence_length"] == config.sequence_length and info["vocabulary_size"] == 256
        assert {"serving_default", "generate", "log_likelihood"} <= set(info["signatures"])

    def test_generate_is_deterministic_by_seed_and_starts_with_the_prompt(self, trained):
        serving = trained["loaded"].signatures["serving_default"]
        first, again = generate(serving, seed=3), generate(serving, seed=3)
        assert first == again
        assert first != generate(serving, seed=4)
        assert first.startswith(b"the ") and len(first) == len(b"the ") + 20
        long_prompt = CORPUS[:40].decode()  # Longer than the context: cropped inside, returned whole.
        text = generate(trained["loaded"].signatures["generate"], prompt=long_prompt, max_new_tokens=5, top_k=1)
        assert text.startswith(long_prompt.encode()) and len(text) == 45
        assert text == generate(trained["loaded"].signatures["generate"], prompt=long_prompt, max_new_tokens=5,
                                top_k=1, seed=99)  # top_k=1 is greedy: the seed no longer matters.

    def test_zoo_eval_measures_continuations_of_held_out_prompts(self, trained, tmp_path):
        """zoo-eval's generation numbers, recomputed: every 24-byte piece of the corpus's test split
        (a text file's units) continued from its first 8 bytes, seed 10**9 + i, at the
        declared defaults (temperature 1, top_k 0), scored with sacrebleu directly."""
        import json

        import sacrebleu

        from tests import helpers
        from zoo.data import text

        held_out = text.load_bytes(trained["config"].dataset, "test")[0]
        pieces = [held_out[start:start + 24] for start in range(0, len(held_out) - 23, 24)]
        count = len(pieces)
        assert count >= 10
        out = tmp_path / "eval.json"
        result = helpers.run_binary("evaluate", f"--export={trained['result'].export_path}", f"--num_prompts={count}",
                                    "--prompt_bytes=8", "--continuation_bytes=16", f"--out={out}")
        assert result.returncode == 0, result.stderr
        assert "bits/byte" in result.stdout and f"generation ({count} prompts, 8+16 bytes)" in result.stdout
        generation = json.load(open(out))["generation"]
        assert generation["eligible"] == generation["num_prompts"] == count
        texts = generate_batch(trained["loaded"].signatures["generate"], [piece[:8] for piece in pieces], [16] * count,
                               [1.0] * count, [0] * count, [10**9 + index for index in range(count)])
        continuations = [sample[8:].decode("utf-8", "replace") for sample in texts]
        references = [piece[8:].decode("utf-8", "replace") for piece in pieces]
        assert [example["continuation"] for example in generation["examples"]] == continuations[:3]
        assert generation["parameters"] == {"temperature": 1.0, "top_k": 0} and generation["generated_bytes"] == count * 16
        words = [continuation.split() for continuation in continuations]
        unigrams = [word for line in words for word in line]
        assert generation["distinct_1"] == pytest.approx(len(set(unigrams)) / len(unigrams))
        assert generation["bleu"] == pytest.approx(sacrebleu.corpus_bleu(continuations, [references]).score)
        self_bleu = np.mean([sacrebleu.sentence_bleu(line, continuations[:index] + continuations[index + 1:]).score
                             for index, line in enumerate(continuations)])
        assert generation["self_bleu"] == pytest.approx(self_bleu)
        for values in (generation, generation["held_out"]):
            assert all(values[f"distinct_{n}"] is None or 0 < values[f"distinct_{n}"] <= 1 for n in (1, 2, 3))
            assert 0 <= values["self_bleu"] <= 100
        assert 0 <= generation["bleu"] <= 100

    def test_log_likelihood_counts_bytes_and_is_a_probability(self, trained):
        scores = trained["loaded"].signatures["log_likelihood"](text=tf.constant([CORPUS[:100], b"a", b""]))
        assert scores["num_tokens"].numpy().tolist() == [99, 0, 0]
        log_likelihood = scores["log_likelihood"].numpy()
        assert log_likelihood[0] < 0 and log_likelihood[1] == log_likelihood[2] == 0

    @pytest.mark.integration  # a fresh process without zoo
    def test_export_has_no_python_ops_and_loads_without_zoo(self, trained):
        assert not graph_ops(trained["result"].export_path) & PY_FUNC_OPS
        run = subprocess.run([sys.executable, "-c", ZOO_FREE_CLIENT, trained["result"].export_path],
                             check=False, capture_output=True, text=True, timeout=120,
                             env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        assert run.returncode == 0, run.stderr[-2000:]
        expected = generate(trained["loaded"].signatures["serving_default"], max_new_tokens=12,
                            temperature=0.8, top_k=5, seed=7)
        assert run.stdout.strip() == f"{[expected]!r} [10, 0]"

    @pytest.mark.parametrize("inputs, name", [
        ({"prompt": ""}, "prompt"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"max_new_tokens": language.MAX_NEW_TOKENS + 1}, "max_new_tokens"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"top_k": language.VOCABULARY_SIZE + 1}, "top_k"),
    ])
    def test_bad_generate_inputs_name_the_input(self, trained, inputs, name):
        with pytest.raises(tf.errors.InvalidArgumentError, match=f"{name}: must be"):
            generate(trained["loaded"].signatures["serving_default"], **inputs)


    def test_generate_is_batched_and_each_row_is_as_alone(self, trained):
        """TF Serving's batching needs vectors; a row's text is what it gives alone, in any batch."""
        serving = trained["loaded"].signatures["serving_default"]
        inputs = serving.structured_input_signature[1]
        assert {name: spec.shape.as_list() for name, spec in inputs.items()} == {
            name: [None] for name in ("prompt", "max_new_tokens", "temperature", "top_k", "seed")}
        assert serving.structured_outputs["text"].shape.as_list() == [None]
        rows = [("the ", 20, 1.0, 0, 3), (CORPUS[:40].decode(), 7, 0.5, 4, 11), ("a", 1, 2.0, 256, 3)]
        batch = generate_batch(serving, *map(list, zip(*rows)))
        alone = [generate(serving, *row) for row in rows]
        assert batch == alone
        assert [len(text) for text in batch] == [len(prompt) + steps for prompt, steps, *_ in rows]
        assert generate_batch(serving, *map(list, zip(*rows[::-1]))) == alone[::-1]  # Order does not matter.
        assert generate_batch(serving, [], [], [], [], []) == []

    def test_generate_inputs_of_unequal_length_name_the_inputs(self, trained):
        serving = trained["loaded"].signatures["serving_default"]
        with pytest.raises(tf.errors.InvalidArgumentError, match="prompt, max_new_tokens, temperature, top_k, seed: "
                                                                 "must have equal batch size"):
            generate_batch(serving, ["the ", "a "], [5, 5], [1.0, 1.0], [0, 0], [1])

    def test_one_bad_row_fails_the_request_naming_the_input(self, trained):
        serving = trained["loaded"].signatures["serving_default"]
        with pytest.raises(tf.errors.InvalidArgumentError, match="top_k: must be"):
            generate_batch(serving, ["the ", "a "], [5, 5], [1.0, 1.0], [0, -1], [1, 2])
        with pytest.raises(tf.errors.InvalidArgumentError, match="prompt: must be"):
            generate_batch(serving, ["the ", ""], [5, 5], [1.0, 1.0], [0, 0], [1, 2])
