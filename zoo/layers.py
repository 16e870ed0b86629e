"""Layers shared by the networks of zoo."""

import keras
import tensorflow as tf
from keras import ops

# Transposed convolutions store their kernel as (..., out_channels, in_channels).
_TRANSPOSED_CONVOLUTIONS = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)


@keras.saving.register_keras_serializable(package="zoo")
class SpectralNormalization(keras.layers.Wrapper):
    """Runs a Dense or convolution layer with its kernel divided by its spectral norm, W / sigma(W)
    (Miyato et al. 2018, "Spectral Normalization for Generative Adversarial Networks").

    sigma is estimated by power iteration from a persistent unit vector `u` over the output
    channels (a non-trainable variable, so checkpoints of `layer.variables` hold it), with the
    kernel seen as an (output channels, everything else) matrix W, as in the paper:
    v = W^T u / ||W^T u||, u = W v / ||W v||. A training call runs `power_iterations` such steps
    and stores the new u; an inference call uses the stored u and changes nothing. Both compute
    sigma = ||W^T u|| (= u^T W v) from the stored u, so an inference call reproduces the kernel
    of the training call before it. The variable keeps the raw W; gradients reach it through
    W / sigma(W) with u and v held constant, as the paper's gradient does.

    `keras.layers.SpectralNormalization` is not used because it differs on the points above: a
    training call assigns W / sigma into the kernel variable (the optimizer then steps the
    normalized kernel and the gradient skips sigma), and an inference call runs the stored kernel,
    which is no longer normalized after an optimizer step.
    """

    def __init__(self, layer, power_iterations=1, epsilon=1e-12, **kwargs):
        # sigma is computed from the float32 kernel; the wrapped layer still autocasts.
        kwargs.setdefault("autocast", False)
        super().__init__(layer, **kwargs)
        if power_iterations < 1:
            raise ValueError(f"power_iterations must be at least 1, got {power_iterations}")
        self.power_iterations = int(power_iterations)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        super().build(input_shape)
        kernel = getattr(self.layer, "kernel", None)
        if not isinstance(kernel, keras.Variable):
            raise ValueError(
                f"SpectralNormalization needs a layer with a plain kernel variable (Dense, Conv2D, "
                f"Conv2DTranspose, ...), got {type(self.layer).__name__}"
            )
        self._output_axis = -2 if isinstance(self.layer, _TRANSPOSED_CONVOLUTIONS) else -1
        # Every replica computes the same u from the same mirrored kernel: keep the first's.
        self.u = self.add_weight(
            name="u",
            shape=(kernel.shape[self._output_axis],),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            trainable=False,
            dtype=kernel.dtype,
            aggregation="only_first_replica",
        )

    def _matrix(self, kernel):
        """The kernel as an (everything else, output channels) matrix: W transposed."""
        kernel = ops.moveaxis(kernel, self._output_axis, -1)
        return ops.reshape(kernel, (-1, ops.shape(kernel)[-1]))

    def _normalize(self, vector):
        return vector / ops.maximum(ops.norm(vector), self.epsilon)

    def normalized_kernel(self, training=False):
        """W / sigma(W); with training=True it first runs the power iterations and stores u."""
        kernel = ops.convert_to_tensor(self.layer.kernel)
        matrix = self._matrix(kernel)
        u = self._normalize(ops.convert_to_tensor(self.u.value))
        if training:
            for _ in range(self.power_iterations):
                v = self._normalize(ops.matmul(matrix, u))
                u = self._normalize(ops.matmul(ops.transpose(matrix), v))
            u = ops.stop_gradient(u)
            self.u.assign(u)
        sigma = ops.norm(ops.matmul(matrix, u))
        return kernel / ops.maximum(sigma, self.epsilon)

    def call(self, inputs, training=None):
        kernel = self.layer.kernel
        normalized = self.normalized_kernel(training=bool(training))
        # The wrapped layer runs unchanged, reading `normalized` where it reads its kernel. Its
        # other variables are mapped to their current values (which an enclosing stateless
        # scope may itself have mapped).
        state = [(kernel, normalized)] + [(v, v.value) for v in self.layer.variables if v is not kernel]
        with keras.StatelessScope(state_mapping=state):
            return self.layer(inputs)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="zoo")
class SyncBatchNormalization(keras.layers.BatchNormalization):
    """Batch normalization whose training statistics are those of the global batch: under a
    tf.distribute strategy with several replicas in sync, the mean and variance are all-reduced
    over the replicas, so a step normalizes as one device with the whole batch would (and the
    moving statistics, the same on every replica, follow). With one replica (the default strategy)
    it is `keras.layers.BatchNormalization` exactly, at no extra cost.

    Why not `BatchNormalization(synchronized=True)`: with one replica Keras still computes the
    variance as E[x^2] - E[x]^2 (one pass, cancelling in float32 when the mean is large against the
    spread) instead of the two-pass E[(x - E[x])^2] that plain batch norm uses, so one-replica runs
    would not keep their numbers (a DCGAN step costs the same either way on one replica, within the
    noise of 2 CPU cores). Here the variance is the two-pass one over the global batch: one
    all-reduce of the sums and the count (giving the mean), then one of the squared deviations from
    it. Gradients flow through both all-reduces (the gradient of an all-reduced sum is the
    all-reduced gradient).
    This overrides Keras's private `_moments` (Keras 3.15); tests/test_layers.py pins both cases.
    """

    def _moments(self, inputs, mask):
        context = tf.distribute.get_replica_context()
        if mask is not None or context is None or context.num_replicas_in_sync == 1:
            return super()._moments(inputs, mask)
        axes = self._reduction_axes
        local_sum = tf.reduce_sum(inputs, axis=axes, keepdims=True)  # Broadcasts against the inputs.
        count = tf.cast(tf.reduce_prod(tf.gather(tf.shape(inputs), axes)), inputs.dtype)
        sums = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.concat([tf.reshape(local_sum, [-1]), [count]], 0))
        total = sums[-1]
        mean = tf.reshape(sums[:-1] / total, tf.shape(local_sum))
        # As tf.nn.moments: the deviations are taken from a constant mean (the same gradient, since
        # the deviations from the mean sum to zero).
        squares = tf.reduce_sum(tf.math.squared_difference(inputs, tf.stop_gradient(mean)), axis=axes)
        variance = context.all_reduce(tf.distribute.ReduceOp.SUM, squares) / total
        return tf.reshape(mean, [-1]), variance
