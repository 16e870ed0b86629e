"""Pieces shared by the models: seeds to latents, pixels to uint8, serving-input checks, the
optimizer step (`apply_update`, averaged and clipped over the global batch) and every random draw
of a training step (`replica_normal`, `replica_uniform`, `dropout`, `split_seed`, `fold_seed`:
drawn for the global batch, so that any number of replicas, and XLA, train as one device)."""

import keras
import tensorflow as tf

# Serving-input bounds and checks live below zoo.models (the exporter and metrics read them too).
from zoo.signatures import (  # noqa: F401  (re-exported for the models)
    MAX_SERVING_BATCH, answering_empty_batches, check_serving_batch, checked, latents_from_seeds)


def image_data(spec, model_name):
    """(image_shape, num_classes) of image data (`zoo.data.DataSpec`), or a one-line UserError
    naming what `model_name` trains on and what the data is."""
    from zoo.data import base as data_base

    spec.require(data_base.IMAGES, model_name)
    return spec.image_shape, spec.num_classes


def to_uint8(images):
    """Maps generator output in [-1, 1] to uint8 pixels, rounding to the nearest level."""
    pixels = tf.round((tf.cast(images, tf.float32) + 1.0) * 127.5)
    return tf.cast(tf.clip_by_value(pixels, 0.0, 255.0), tf.uint8)


def scaled_gradient(gradient, scale):
    """`gradient` * `scale`, keeping a sparse gradient (an embedding's IndexedSlices) sparse."""
    if gradient is None:
        return None
    if isinstance(gradient, tf.IndexedSlices):  # Embedding lookups give sparse gradients.
        return tf.IndexedSlices(gradient.values * scale, gradient.indices, gradient.dense_shape)
    return gradient * scale


def apply_update(tape, loss, network, optimizer, clip_norm=0.0):
    """One optimizer step on `network` from `loss` recorded by `tape`.

    Gradients are divided by the replicas in sync: the optimizer sums them over replicas, so the
    update averages the global batch under any tf.distribute strategy. `clip_norm` > 0 clips the
    global batch's gradient to that norm (see `global_batch_norm`) with the formula of Keras's
    `global_clipnorm`, which this equals exactly with one replica (sparse gradients come back
    dense, as there). Give the clip here, not as the optimizer's `global_clipnorm`: Keras applies
    that to each replica's share before summing them, so replicas would clip differently.
    """
    variables = network.trainable_variables
    scale = 1.0 / tf.distribute.get_strategy().num_replicas_in_sync
    gradients = [scaled_gradient(gradient, scale) for gradient in tape.gradient(loss, variables)]
    if clip_norm:
        factor = clip_factor(global_batch_norm(gradients), clip_norm)
        gradients = [None if gradient is None else tf.convert_to_tensor(gradient) * factor for gradient in gradients]
    optimizer.apply_gradients(zip(gradients, variables))


def update_ema(average_network, network, decay, iterations, copied=()):
    """Moves every variable of `average_network` toward the same variable of `network`:
    a <- d a + (1 - d) v, with d = min(decay, (1 + n) / (10 + n)) after n = `iterations` optimizer
    steps, the ramp of tf.train.ExponentialMovingAverage(num_updates=...), so that early averages
    are not dominated by the random initialization. Variables of `average_network` listed in
    `copied` take the network's value instead (d = 0). Works in a replica context under any
    strategy: each replica's copy of the average moves toward its own (identical, synchronized)
    weights."""
    step = tf.cast(iterations, tf.float32)
    decay = tf.minimum(decay, (1.0 + step) / (10.0 + step))
    copied = {id(variable) for variable in copied}
    pairs = [(average.value, value.value, id(average) in copied)
             for average, value in zip(average_network.variables, network.variables, strict=True)]

    def update(strategy, decay):
        for average, value, copy in pairs:
            strategy.extended.update(average, lambda a, v, d: a.assign(d * a + (1.0 - d) * tf.cast(v, a.dtype)),
                                     args=(value, tf.zeros_like(decay) if copy else decay), group=False)

    tf.distribute.get_replica_context().merge_call(update, args=(decay,))


def batch_norm_statistics(network):
    """The moving means and variances of every batch-normalization layer of `network`, in order."""
    return [variable for layer in network._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)
            for variable in (layer.moving_mean, layer.moving_variance)]


def global_batch_norm(gradients):
    """The L2 norm of the global batch's gradient, from `gradients`, this replica's shares of it
    (which the optimizer sums over replicas): with several replicas in sync, the norm of their sum
    (one all-reduce of the gradients), so every replica gets what one device would.

    Measured as Keras's `global_clipnorm` and `tf.clip_by_global_norm` do: a sparse gradient
    (IndexedSlices) counts its looked-up rows as they are (a row looked up twice counts twice
    rather than once summed); the all-reduce concatenates such rows, so that holds for the global
    batch too. None gradients are skipped.
    """
    present = [gradient for gradient in gradients if gradient is not None]
    _, replicas = replica_position()
    if replicas > 1:
        present = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, present)
    squares = [tf.reduce_sum(tf.square(gradient.values if isinstance(gradient, tf.IndexedSlices) else gradient))
               for gradient in present]
    return tf.sqrt(tf.reduce_sum(tf.stack(squares)))


def clip_factor(norm, clip_norm):
    """clip_norm / max(norm, clip_norm), NaN for a non-finite norm: Keras's and TensorFlow's
    global-norm clip, as a factor for the gradients."""
    return clip_norm * tf.minimum(1.0 / norm, 1.0 / clip_norm) + (norm - norm)


# ---- randomness of a training step: zoo.random_draws (below zoo.models), re-exported for the models

from zoo.random_draws import (  # noqa: E402,F401
    replica_position,
    _in_xla,
    _philox_key_counter,
    _xla_full_int,
    _xla_integers,
    split_seed,
    fold_seed,
    _static_shape,
    _shape_tensor,
    _replica_rows,
    _uint32_to_unit_float,
    _xla_unit_uniform,
    _xla_standard_normal,
    replica_normal,
    replica_uniform,
    dropout,
    _PHILOX,
)

class VariableList(tf.Module):
    """Every variable of a Keras network or optimizer, in order, as one checkpointable object.

    Keras 3 layers checkpoint through TensorFlow's object graph only the layers held directly in
    attributes: layers kept in lists are skipped (their weights would silently not be saved).
    Listing `owner.variables` covers everything; the order is fixed by the architecture.
    """

    def __init__(self, owner):
        super().__init__(name=None)
        self.values = list(owner.variables)
        # Not a network: warm starts (zoo.train.transfer) copy networks only.
        self.is_optimizer = isinstance(owner, keras.optimizers.Optimizer)


class CompositeNetwork(keras.Model):
    """A network of sub-networks called with tuples or returning several outputs.

    Keras cannot infer such a network's build from one input shape; its sublayers build
    themselves on the first call, so `build` only marks it built (no warning, no guess).
    """

    def build(self, input_shape):
        self.built = True
