"""What every serving signature guarantees, whatever model it serves: bounded batches, checked
inputs, and an empty batch answered without running a network.

Below zoo.models (it imports nothing of zoo), so the exporter, the metrics and the server-side
files read the same bounds the models assert in-graph.
"""

import functools

import tensorflow as tf

# The largest batch a serving signature accepts; larger requests fail with InvalidArgument
# instead of exhausting a server's memory.
MAX_SERVING_BATCH = 1024


def check_serving_batch(tensor, name):
    """Asserts in-graph that `tensor`'s batch dimension is at most MAX_SERVING_BATCH."""
    return tf.debugging.assert_less_equal(
        tf.shape(tensor, out_type=tf.int64)[0],
        tf.constant(MAX_SERVING_BATCH, tf.int64),
        message=f"{name}: batch size must be between 0 and {MAX_SERVING_BATCH}",
    )


def checked(checks, *tensors):
    """`tensors` passed through identities that run only after every op in `checks` (in-graph
    input assertions). Every input a signature reads must go through here: an op that reads an
    input directly (an embedding lookup of a label) is otherwise free to run before the assertion
    and fail with its own, less helpful error (or, on some kernels, read out of range).
    """
    with tf.control_dependencies(checks):
        outputs = tuple(tf.identity(tensor) for tensor in tensors)
    return outputs[0] if len(outputs) == 1 else outputs


def latents_from_seeds(seeds, latent_dim):
    """One standard-normal latent vector per int64 seed; a pure function of (seed, latent_dim).

    Each vector depends on its own seed only, never on the batch it arrives in, so the same seed
    gives the same latent in every request and every process.
    """
    seeds = tf.convert_to_tensor(seeds, tf.int64)
    return tf.map_fn(
        lambda s: tf.random.stateless_normal([latent_dim], seed=tf.stack([s, tf.constant(0, tf.int64)])),
        seeds,
        fn_output_signature=tf.TensorSpec([latent_dim], tf.float32),
    )


def _empty_like(spec):
    """A zero-row tensor of an output's dtype and static shape (unknown inner sizes become 0)."""
    shape = [0] + [0 if size is None else size for size in spec.shape.as_list()[1:]]
    if spec.dtype == tf.string:
        return tf.fill(shape, tf.constant("", tf.string))
    return tf.zeros(shape, spec.dtype)


def answers_empty_batches(function):
    """`function` (a `tf.function` with an input signature, returning a dict of batched outputs)
    wrapped so that a request whose batched inputs all have 0 rows gets 0-row outputs of the
    declared dtypes and shapes, decided in the graph before any network runs: some CPU kernels
    (oneDNN convolutions and matmuls on AMX machines) fail on empty tensors instead of returning
    them. Any other request, including one whose inputs disagree on the batch size, runs the
    function and its own input checks unchanged; so does every request to a function with an
    output of unknown rank or none. Idempotent."""
    if getattr(function, "answers_empty_batches", False):
        return function
    specs = list(function.input_signature)
    batched = [index for index, spec in enumerate(specs) if spec.shape.rank]
    if not batched:
        return function

    @functools.wraps(function.python_function)
    def guarded(*args):
        # Traced once per wrapper; the concrete function is the one the non-empty branch calls.
        outputs = function.get_concrete_function().structured_outputs
        if not isinstance(outputs, dict) or not all(tensor.shape.rank for tensor in outputs.values()):
            # No empty answer can be built without a batch dimension; the exporter refuses such
            # outputs itself (a batch dimension on every output), so pass the call through.
            return function(*args)
        rows = tf.stack([tf.shape(args[index], out_type=tf.int64)[0] for index in batched])
        return tf.cond(tf.reduce_all(tf.equal(rows, 0)),
                       lambda: {name: _empty_like(tensor) for name, tensor in outputs.items()},
                       lambda: function(*args))

    wrapped = tf.function(guarded, input_signature=specs)
    wrapped.answers_empty_batches = True
    return wrapped


def answering_empty_batches(signatures):
    """{name: function} with every function wrapped by `answers_empty_batches`, in the same order
    (a function served under two names stays one function)."""
    wrapped = {}
    for function in signatures.values():
        wrapped.setdefault(id(function), answers_empty_batches(function))
    return {name: wrapped[id(function)] for name, function in signatures.items()}
