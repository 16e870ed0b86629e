"""Pieces shared by image generators: seeds to latents, pixels to uint8, serving-input checks."""

import keras
import tensorflow as tf

# The largest batch a serving signature accepts; larger requests fail with InvalidArgument
# instead of exhausting a server's memory.
MAX_SERVING_BATCH = 1024


def image_data(spec, model_name):
    """(image_shape, num_classes) of image data (`zoo.data.DataSpec`), or a one-line UserError
    naming what `model_name` trains on and what the data is."""
    from zoo.data import base as data_base

    spec.require(data_base.IMAGES, model_name)
    return spec.image_shape, spec.num_classes


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


def to_uint8(images):
    """Maps generator output in [-1, 1] to uint8 pixels, rounding to the nearest level."""
    pixels = tf.round((tf.cast(images, tf.float32) + 1.0) * 127.5)
    return tf.cast(tf.clip_by_value(pixels, 0.0, 255.0), tf.uint8)


def _scaled(gradient, scale):
    if gradient is None:
        return None
    if isinstance(gradient, tf.IndexedSlices):  # Embedding lookups give sparse gradients.
        return tf.IndexedSlices(gradient.values * scale, gradient.indices, gradient.dense_shape)
    return gradient * scale


def apply_update(tape, loss, network, optimizer):
    """One optimizer step on `network` from `loss` recorded by `tape`.

    Gradients are divided by the replicas in sync: the optimizer sums them over replicas, so the
    update averages the global batch under any tf.distribute strategy.
    """
    variables = network.trainable_variables
    scale = 1.0 / tf.distribute.get_strategy().num_replicas_in_sync
    gradients = [_scaled(gradient, scale) for gradient in tape.gradient(loss, variables)]
    optimizer.apply_gradients(zip(gradients, variables))


def dropout(x, rate, seed, training):
    """Dropout driven by a stateless seed, so a resumed run draws the same masks.

    Keras's Dropout keeps its random state outside the checkpoint; networks of zoo take the step's
    seed instead. `seed` may be None only when no dropout is applied.
    """
    if not training or rate == 0:
        return x
    if seed is None:
        raise ValueError("dropout in training needs the step's seed: call the network with seed=...")
    return tf.nn.experimental.stateless_dropout(x, rate, seed=seed)


class VariableList(tf.Module):
    """Every variable of a Keras network or optimizer, in order, as one checkpointable object.

    Keras 3 layers checkpoint through TensorFlow's object graph only the layers held directly in
    attributes: layers kept in lists are skipped (their weights would silently not be saved).
    Listing `owner.variables` covers everything; the order is fixed by the architecture.
    """

    def __init__(self, owner):
        super().__init__(name=None)
        self.values = list(owner.variables)


class CompositeNetwork(keras.Model):
    """A network of sub-networks called with tuples or returning several outputs.

    Keras cannot infer such a network's build from one input shape; its sublayers build
    themselves on the first call, so `build` only marks it built (no warning, no guess).
    """

    def build(self, input_shape):
        self.built = True
