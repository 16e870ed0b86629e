"""Cached decoding (zoo.models.language, gpt, char_lstm) against the reference it replaces.

The reference is the definition, traced with `reference_decoding=True`: one row at a time, every
step running the network over the last sequence_length bytes and drawing with
`tf.random.stateless_categorical`. The cached path (the GPT's key/value cache, the LSTM's carried
states, all rows at once, the batched sampler) must give the same bytes. Both compute in float32
in different orders, so their logits agree to rounding (checked below to 1e-4); a byte could only
differ where a draw falls within that rounding of a boundary between two bytes, which none of the
rows here do.
"""

import numpy as np
import pytest
import tensorflow as tf

from tests import text_checks
from zoo.models import language, stateless_categorical
from zoo.train import transfer

SEQUENCE_LENGTH = 16  # text_checks.build's context: prompts and samples below run past it.
CORPUS = text_checks.CORPUS.decode()
# (prompt, max_new_tokens, temperature, top_k, seed): prompts shorter than, as long as and longer
# than the context; texts that stay inside it and that run two or three contexts beyond it.
ROWS = [("t", 45, 1.0, 0, 3), ("the ", 20, 0.7, 5, -8), (CORPUS[:15], 9, 1.3, 0, 2**40), (CORPUS[:16], 12, 1.0, 3, 0),
        (CORPUS[2:19], 1, 1.0, 256, 7), (CORPUS[:40], 30, 0.5, 1, 11), ("a", 3, 2.0, 0, 3)]


def _columns(rows):
    return [list(column) for column in zip(*rows)]


@pytest.fixture(scope="module", params=["gpt", "char_lstm"])
def decoding(request):
    """A smoke-sized model and its generate signature traced both ways (the cached one decoding in
    chunks of 4 rows, so ROWS take two chunks, the second one partial)."""
    model = text_checks.build(request.param, sequence_length=SEQUENCE_LENGTH)
    # Freshly initialized weights give nearly uniform logits, so a decoder reading a slightly wrong
    # window would still draw the same bytes; larger random weights make every byte of it matter.
    rng = np.random.default_rng(0)
    for variable in model.network.trainable_variables:
        variable.assign(rng.normal(0.0, 0.5, variable.shape).astype(np.float32))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(language, "_DECODE_ROWS", 4)  # Read when the signature is traced.
        cached = model.serving_signatures()["generate"]
        cached.get_concrete_function()
    model.reference_decoding = True  # Read when the signature is traced, so trace it now.
    reference = model.serving_signatures()["generate"]
    reference.get_concrete_function()
    model.reference_decoding = False
    return {"name": request.param, "model": model, "cached": cached, "reference": reference}


def test_cached_batch_gives_the_bytes_of_the_reference(decoding):
    cached = text_checks.generate_batch(decoding["cached"], *_columns(ROWS))
    reference = text_checks.generate_batch(decoding["reference"], *_columns(ROWS))
    assert cached == reference
    assert [len(text) for text in cached] == [len(prompt) + steps for prompt, steps, *_ in ROWS]
    assert [text_checks.generate(decoding["cached"], *row) for row in ROWS[:2]] == cached[:2]  # Alone, too.


def test_decoder_logits_are_the_window_logits(decoding):
    """Teacher-forced: after every byte the decoder's logits are network(last window)[:, -1], for
    rows whose contexts have different lengths, while they fit in the context and beyond it."""
    network, length = decoding["model"].network, SEQUENCE_LENGTH
    window_logits = tf.function(lambda window: network(window)[:, -1],
                                input_signature=[tf.TensorSpec([1, None], tf.int32)])
    decode_step = tf.function(network.decode_step)
    text = np.frombuffer(text_checks.CORPUS[:100], np.uint8).astype(np.int32)
    known = np.array([1, 5, 16], np.int32)
    total = 2 * length + 4
    context = np.zeros([len(known), known.max()], np.int32)
    for row, size in enumerate(known):
        context[row, :size] = text[row:row + size]
    logits, state = network.start_decoding(tf.constant(context), tf.constant(known), tf.constant(known + total))
    for step in range(total - 1):
        ends = known + step  # Each row's text so far is text[row:row + end].
        expected = [window_logits(text[None, row + max(end - length, 0):row + end])[0] for row, end in enumerate(ends)]
        np.testing.assert_allclose(logits.numpy(), np.stack(expected), atol=1e-4, rtol=1e-4,
                                   err_msg=f"{decoding['name']} step {step}")
        logits, state = decode_step(tf.constant([text[row + end] for row, end in enumerate(ends)]), state)


def _captured_paths(function, model):
    by_handle = {id(transfer._tf_variable(variable).handle): variable.path for variable in model.variables}
    captures = function.get_concrete_function().graph.captures
    return [by_handle[id(external)] for external, _ in captures if id(external) in by_handle]


def test_generate_reads_the_variables_in_the_order_of_the_reference(decoding):
    """zoo-train --init_from=<export> pairs variables in the order the signatures capture them
    (zoo.train.transfer), so an export written by the reference decoding restores into a model
    with the cached one, variable for variable."""
    model = decoding["model"]
    cached = _captured_paths(decoding["cached"], model)
    assert cached == _captured_paths(decoding["reference"], model)
    assert len(cached) == len(model.network.trainable_variables)


def test_the_batched_sampler_draws_what_stateless_categorical_draws():
    """Every row and step with its own seed, against fold_in + stateless_categorical one at a time."""
    rng = np.random.default_rng(0)
    seeds = np.array([0, 1, -1, 7, 2**63 - 1, -2**63, 123456789012345], np.int64)
    steps = 12
    uniforms = stateless_categorical.step_uniforms(tf.constant(seeds), steps)
    assert uniforms.shape == (len(seeds), steps) and uniforms.dtype == tf.float64
    logits = (rng.normal(size=[steps, len(seeds), 256]) * rng.uniform(0.1, 6, size=[steps, len(seeds), 1]))
    logits = logits.astype(np.float32)
    for step in range(steps):  # Keep the top k of each row (k from 1 to 256), as generate's top_k does.
        for row in range(len(seeds)):
            k = int(rng.integers(1, 257))
            logits[step, row][logits[step, row] < np.sort(logits[step, row])[::-1][k - 1]] = -np.inf
    for step in range(steps):
        drawn = stateless_categorical.sample(tf.constant(logits[step]), uniforms[:, step]).numpy()
        expected = [tf.random.stateless_categorical(
            logits[step, row][None], 1, dtype=tf.int32,
            seed=tf.random.experimental.stateless_fold_in(tf.constant([seed, 0], tf.int64), tf.constant(step, tf.int64))
        )[0, 0].numpy() for row, seed in enumerate(seeds)]
        assert drawn.tolist() == expected, f"step {step}"
