"""Text generation quality (zoo.metrics.text_quality, the text_generation kind): the metrics against
hand computations, the held-out prompts against the split's own bytes, and zoo-eval of an export
whose generation always writes the same word (declared under names no shared code has seen)."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from tests import helpers, text_checks
from zoo import contract, export, kinds
from zoo.data import text
from zoo.errors import UserError
from zoo.export import cards
from zoo.metrics import text_quality


def test_distinct_n_by_hand():
    texts = ["the cat sat", "the cat\tran", "a"]
    # Words: the cat sat | the cat ran | a -> 7, unique the, cat, sat, ran, a -> 5.
    assert text_quality.distinct_n(texts, 1) == 5 / 7
    # Bigrams: (the cat) (cat sat) (the cat) (cat ran) -> 4, unique 3.
    assert text_quality.distinct_n(texts, 2) == 3 / 4
    assert text_quality.distinct_n(texts, 3) == 1.0  # (the cat sat), (the cat ran).
    assert text_quality.distinct_n(texts, 4) is None  # No text has 4 words.
    # n-grams stay inside a text: "b a" across the two texts is not one (it would give 2/3).
    assert text_quality.distinct_n(["a b", "a b"], 2) == 1 / 2
    assert text_quality.distinct_n(["a a a a"], 1) == 1 / 4


def test_corpus_bleu_by_hand():
    # Matches per order: 1-grams 4+5 of 10, 2-grams 3+4 of 8, 3-grams 2+3 of 6, 4-grams 1+2 of 4;
    # equal lengths, so no brevity penalty.
    score, signature = text_quality.corpus_bleu(["a b c d e", "x y z w v"], ["a b c d f", "x y z w v"])
    expected = 100 * math.exp(np.mean(np.log([9 / 10, 7 / 8, 5 / 6, 3 / 4])))
    assert score == pytest.approx(expected, rel=1e-9)
    # Corpus BLEU pools the counts; the mean of the two sentence scores would be (66.87 + 100) / 2.
    assert score != pytest.approx((100 * (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25 + 100) / 2, rel=1e-4)
    assert "nrefs:1" in signature and "tok:13a" in signature
    assert text_quality.corpus_bleu(["the dog bit the man"], ["the dog bit the man"])[0] == pytest.approx(100)
    with pytest.raises(ValueError, match="one reference per hypothesis"):
        text_quality.corpus_bleu(["a"], ["a", "b"])


def test_self_bleu_compares_each_text_with_the_others_only():
    assert text_quality.self_bleu(["the dog bit the man"] * 4) == pytest.approx(100)
    assert text_quality.self_bleu(["a b c d", "e f g h", "i j k l"]) == 0.0  # No word in common.
    # Two identical texts score 100 each, the third shares nothing with them: (100 + 100 + 0) / 3.
    # (Were a text among its own references, every score would be 100.)
    assert text_quality.self_bleu(["a b c d", "a b c d", "e f g h"]) == pytest.approx(200 / 3)
    with pytest.raises(UserError, match="at least 2"):
        text_quality.self_bleu(["alone"])


def test_self_bleu_is_sacrebleus_sentence_bleu_against_the_others():
    """The once-per-text counting gives sacrebleu's own sentence BLEU of each text against the
    rest, on texts with repeated words, punctuation, case, ties in length and empty ones."""
    import sacrebleu

    rng = np.random.default_rng(0)
    words = ["a", "b", "c", "the", "The", "dog,", "bit.", "man"]
    for _ in range(25):
        texts = [" ".join(rng.choice(words, rng.integers(0, 12))) for _ in range(rng.integers(2, 10))]
        expected = np.mean([sacrebleu.sentence_bleu(line, texts[:index] + texts[index + 1:]).score
                            for index, line in enumerate(texts)])
        assert text_quality.self_bleu(texts) == pytest.approx(expected, rel=1e-12, abs=1e-12), texts


def _fortunes(directory, count=40):
    """A fortune file of `count` fortunes, fortune i telling its number (every 10th is test)."""
    body = "".join(f"Fortune number {index:02d} is a fine saying about {index % 7} things.\n%\n"
                   for index in range(count))
    (directory / "sayings").write_text(body)
    return str(directory)


def test_prompts_come_from_the_held_out_fortunes(tmp_path):
    data_dir = _fortunes(tmp_path)
    units, _ = text.documents("fortunes", "test", data_dir=data_dir)
    assert units == [f"Fortune number {index:02d} is a fine saying about {index % 7} things.\n%\n".encode()
                     for index in (9, 19, 29, 39)]
    prompts, references, eligible, _ = text_quality.held_out_prompts("fortunes", "test", 3, 15, 9, data_dir)
    # Spread over the 4 eligible fortunes: indices 0, 1.5 -> 2, 3.
    assert eligible == 4
    assert prompts == [b"Fortune number "] * 3 and references == [b"09 is a f", b"29 is a f", b"39 is a f"]
    # Validation fortunes are others (held out of train), never the test ones.
    validation, _, _, _ = text_quality.held_out_prompts("fortunes", "validation", 2, 17, 2, data_dir,
                                                        validation_size=3)
    assert all(prompt[15:17] not in (b"09", b"19", b"29", b"39") for prompt in validation)
    with pytest.raises(UserError, match="has 0 texts of at least 100 bytes"):
        text_quality.held_out_prompts("fortunes", "test", 3, 60, 40, data_dir)
    # More prompts than long-enough fortunes: every one of them, once.
    assert text_quality.held_out_prompts("fortunes", "test", 50, 15, 2, data_dir)[0:2] == (
        [b"Fortune number "] * 4, [b"09", b"19", b"29", b"39"])


def test_prompts_of_a_text_file_are_consecutive_pieces(tmp_path):
    corpus = text_checks.write_corpus(tmp_path)
    held_out = text.load_bytes(f"text:{corpus}", "test")[0]
    prompts, references, eligible, _ = text_quality.held_out_prompts(f"text:{corpus}", "test", 2, 10, 20)
    assert eligible == len(held_out) // 30
    assert prompts[0] + references[0] == held_out[:30]
    last = (eligible - 1) * 30
    assert prompts[1] + references[1] == held_out[last:last + 30]


class _Parrot(tf.Module):
    """Continues every prompt with "a a a ...", whatever its seed: the least diverse generator."""

    def interface(self):
        return contract.Interface([contract.Signature("serving_default", [
            contract.Input("opening", "text", "string"),
            contract.Input("extra", "parameter", "int64", default=10, low=1, high=100, prefix=True),
            contract.Input("chill", "parameter", "float32", default=0.5, low=0.1, high=2.0),
            contract.Input("noise", "seed", "int64"),
        ], {"words": "text"})], [contract.Evaluation("text_generation", "serving_default")])

    def serving_signatures(self):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="opening"),
                                      tf.TensorSpec([None], tf.int64, name="extra"),
                                      tf.TensorSpec([None], tf.float32, name="chill"),
                                      tf.TensorSpec([None], tf.int64, name="noise")])
        def serving_default(opening, extra, chill, noise):
            del chill, noise
            words = tf.strings.substr(tf.fill(tf.shape(opening), "a " * 100), tf.zeros_like(extra, tf.int32), tf.cast(extra, tf.int32))
            return {"words": tf.strings.join([opening, words])}

        return {"serving_default": serving_default}

    def export_info(self):
        return {}


@pytest.fixture(scope="module")
def parrot(tmp_path_factory):
    root = tmp_path_factory.mktemp("parrot")
    corpus = text_checks.write_corpus(root)
    export.export_model(_Parrot(), str(root), "parrot", {"dataset": f"text:{corpus}"}, serving_files=False)
    return root


def test_zoo_eval_of_a_generator_repeating_one_word(parrot):
    out = parrot / "eval.json"
    result = helpers.run_binary("evaluate", f"--export={parrot / 'parrot'}", "--num_prompts=10", "--prompt_bytes=8",
                                "--continuation_bytes=16", "--parameter=chill=1.5", f"--out={out}")
    assert result.returncode == 0, result.stderr
    record = json.load(open(out))
    generation = record["generation"]
    assert {key: generation[key] for key in ("split", "num_prompts", "prompt_bytes", "continuation_bytes",
                                             "first_seed", "parameters", "generated_bytes")} == {
        "split": "test", "num_prompts": 10, "prompt_bytes": 8, "continuation_bytes": 16, "first_seed": 10**9,
        "parameters": {"chill": 1.5}, "generated_bytes": 160}
    assert generation["tokenization"] == {"distinct_n": "whitespace words (str.split)", "bleu": "sacrebleu 13a"}
    assert all(example["continuation"] == "a " * 8 for example in generation["examples"])
    # 10 continuations of 8 words "a": one unique unigram of 80, one bigram of 70, one trigram of 60.
    assert (generation["distinct_1"], generation["distinct_2"], generation["distinct_3"]) == (1 / 80, 1 / 70, 1 / 60)
    assert generation["self_bleu"] == pytest.approx(100)
    # Against the true continuations only the word "a" can match ("a cat and a dog"), no "a a": BLEU,
    # smoothed, is near 0.
    assert 0 <= generation["bleu"] < 1
    held_out = text.load_bytes(f"text:{parrot / 'corpus.txt'}", "test")[0].decode()
    assert all(example["prompt_text"] + example["held_out"] in held_out for example in generation["examples"])
    assert 0 < generation["held_out"]["distinct_1"] <= 1 and generation["held_out"]["self_bleu"] < 100
    assert "distinct-1/2/3 0.013/0.014/0.017  self-BLEU 100.0  BLEU 0." in result.stdout
    # What a card keeps and says of it.
    assert cards.metrics_of(record) == {"distinct_1": 1 / 80, "distinct_2": 1 / 70, "distinct_3": 1 / 60,
                                        "self_bleu": generation["self_bleu"], "bleu": generation["bleu"]}
    (protocol,) = kinds.TEXT_GENERATION.protocol(record)
    assert protocol.startswith("10 prompts of 8 bytes from test texts continued by 16 bytes (chill 1.5; seed 1000000000")


@pytest.mark.parametrize("flags, fragments", [
    (["--num_prompts=1"], ["--num_prompts must be 0", "at least 2", "got 1"]),
    (["--continuation_bytes=101"], ["--continuation_bytes must be between 1 and 100", "extra", "got 101"]),
    (["--parameter=extra=3"], ["--parameter extra=... is the continuation length", "--continuation_bytes"]),
    (["--parameter=chill=9"], ["parameter chill must be a number between 0.1 and 2.0, got 9"]),
    (["--prompt_bytes=200", "--continuation_bytes=100"], ["test has 1 texts of at least 300 bytes",
                                                            "self-BLEU needs at least 2"]),
])
def test_bad_generation_flags_are_one_line(parrot, flags, fragments):
    helpers.assert_one_line_error(helpers.run_binary("evaluate", f"--export={parrot / 'parrot'}", *flags,
                                                     f"--out={parrot / 'bad.json'}"), *fragments)


def test_zero_prompts_skip_generation(parrot):
    helpers.assert_one_line_error(helpers.run_binary("evaluate", f"--export={parrot / 'parrot'}", "--num_prompts=0",
                                                     f"--out={parrot / 'none.json'}"), "leaves nothing to measure")
