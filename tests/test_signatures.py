"""zoo.signatures: empty batches are answered in the graph, before any network runs."""

import numpy as np
import pytest
import tensorflow as tf

from zoo import signatures
from zoo.export import compat


def _refusing_empty_batches():
    """A stand-in for a kernel that breaks on an empty batch: it fails on 0 rows by assertion."""
    kernel = tf.Variable(tf.ones([3, 2]))

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x"),
                                  tf.TensorSpec([None], tf.int64, name="label")])
    def serve(x, label):
        with tf.control_dependencies([tf.debugging.assert_positive(tf.shape(x)[0], message="empty tensor reached the kernel")]):
            y = tf.matmul(x, kernel)
        return {"y": y, "label": label, "text": tf.strings.as_string(label)}

    return serve, kernel


def test_an_empty_batch_never_reaches_the_function():
    serve, _ = _refusing_empty_batches()
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty tensor reached the kernel"):
        serve(x=tf.zeros([0, 3]), label=tf.zeros([0], tf.int64))
    guarded = signatures.answers_empty_batches(serve)
    out = guarded(x=tf.zeros([0, 3]), label=tf.zeros([0], tf.int64))
    assert out["y"].shape == (0, 2) and out["y"].dtype == tf.float32
    assert out["label"].shape == (0,) and out["label"].dtype == tf.int64
    assert out["text"].shape == (0,) and out["text"].dtype == tf.string
    # Any other request runs the function itself: the same values as without the guard.
    x, label = tf.constant([[1.0, 2.0, 3.0]]), tf.constant([7], tf.int64)
    np.testing.assert_array_equal(guarded(x, label)["y"], [[6.0, 6.0]])
    assert guarded(x=x, label=label)["text"].numpy().tolist() == [b"7"]
    # Inputs that disagree on the batch size are not empty: the function's own checks see them.
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty tensor reached the kernel"):
        guarded(x=tf.zeros([0, 3]), label=tf.constant([1], tf.int64))


def test_wrapping_is_idempotent_and_keeps_shared_functions_shared():
    serve, _ = _refusing_empty_batches()
    wrapped = signatures.answering_empty_batches({"serving_default": serve, "generate": serve})
    assert wrapped["serving_default"] is wrapped["generate"]
    assert signatures.answers_empty_batches(wrapped["generate"]) is wrapped["generate"]


def test_the_exported_signature_answers_an_empty_batch_in_tf_servings_loader(tmp_path):
    serve, kernel = _refusing_empty_batches()
    guarded = signatures.answers_empty_batches(serve)
    module = tf.Module()
    module.kernel = kernel
    concrete = guarded.get_concrete_function()
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": concrete})
    assert not compat.unservable_ops(str(tmp_path))
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(tmp_path))
        signature = meta_graph.signature_def["serving_default"]
        fetch = {name: info.name for name, info in signature.outputs.items()}
        feed = {signature.inputs["x"].name: np.zeros([0, 3], np.float32),
                signature.inputs["label"].name: np.zeros([0], np.int64)}
        out = session.run(fetch, feed)
    assert out["y"].shape == (0, 2) and out["text"].shape == (0,)
