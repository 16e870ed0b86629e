"""SpectralNormalization: the normalized kernel has spectral norm 1, u is state that only training
calls change, and the wrapper runs inside tf.function and MirroredStrategy. SyncBatchNormalization:
Keras's batch norm with one replica, the global batch's with several."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import SpectralNormalization, SyncBatchNormalization
from zoo.models.base import VariableList

# (make the wrapped layer, input shape, kernel as (output channels, everything else) in numpy)
LAYERS = {
    "dense": (lambda: keras.layers.Dense(6), (2, 5), lambda k: k.T),
    "conv2d": (lambda: keras.layers.Conv2D(6, 3, padding="same"), (2, 5, 5, 4), lambda k: k.reshape(-1, k.shape[-1]).T),
    "conv2d_transpose": (
        lambda: keras.layers.Conv2DTranspose(6, 3, strides=2, padding="same"),
        (2, 5, 5, 4),
        lambda k: np.moveaxis(k, -2, 0).reshape(k.shape[-2], -1),
    ),
}


def _wrapped(name, power_iterations=1, seed=0):
    """A built wrapper whose kernel and bias are fixed random values."""
    make_layer, input_shape, _ = LAYERS[name]
    layer = SpectralNormalization(make_layer(), power_iterations=power_iterations)
    layer.build(input_shape)
    rng = np.random.RandomState(seed)
    layer.layer.kernel.assign(rng.normal(size=layer.layer.kernel.shape).astype(np.float32))
    layer.layer.bias.assign(rng.normal(size=layer.layer.bias.shape).astype(np.float32))
    return layer, rng.uniform(-1, 1, input_shape).astype(np.float32)


def _spectral_norm(name, kernel):
    return np.linalg.svd(LAYERS[name][2](np.asarray(kernel, np.float64)), compute_uv=False)[0]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_power_iteration_normalizes_the_kernel_to_spectral_norm_one(name):
    layer, x = _wrapped(name, power_iterations=100)
    raw_kernel = layer.layer.kernel.numpy().copy()
    assert _spectral_norm(name, raw_kernel) > 2  # A random kernel is far from normalized.
    layer(x, training=True)
    normalized = layer.normalized_kernel(training=False).numpy()
    assert _spectral_norm(name, normalized) == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(normalized, raw_kernel / _spectral_norm(name, raw_kernel), atol=1e-3)
    # The variable keeps the raw kernel; the wrapped layer computes with the normalized one.
    np.testing.assert_array_equal(layer.layer.kernel.numpy(), raw_kernel)
    plain = LAYERS[name][0]()
    plain.build(x.shape)
    plain.set_weights([normalized, layer.layer.bias.numpy()])
    np.testing.assert_allclose(layer(x, training=False), plain(x), atol=1e-5)


def test_u_is_a_non_trainable_variable_that_checkpoints_hold(tmp_path):
    layer, x = _wrapped("conv2d")
    assert any(v is layer.u for v in layer.variables)
    assert any(v is layer.u for v in layer.non_trainable_variables)
    assert not any(v is layer.u for v in layer.trainable_variables)
    assert any(v is layer.u for v in VariableList(layer).values)
    layer(x, training=True)
    saved_u = layer.u.numpy().copy()
    path = tf.train.Checkpoint(network=VariableList(layer)).write(str(tmp_path / "ckpt"))
    layer.u.assign(np.ones_like(saved_u))
    tf.train.Checkpoint(network=VariableList(layer)).read(path).assert_consumed()
    np.testing.assert_array_equal(layer.u.numpy(), saved_u)


def test_inference_uses_u_without_updating_it():
    layer, x = _wrapped("dense")
    initial_u = layer.u.numpy().copy()
    outputs = [layer(x, training=False).numpy() for _ in range(3)] + [layer(x).numpy()]
    np.testing.assert_array_equal(layer.u.numpy(), initial_u)
    for output in outputs[1:]:
        np.testing.assert_array_equal(output, outputs[0])
    trained = layer(x, training=True).numpy()
    assert not np.allclose(layer.u.numpy(), initial_u)
    # An inference call right after a training call reproduces its kernel, and keeps the new u.
    trained_u = layer.u.numpy().copy()
    np.testing.assert_allclose(layer(x, training=False), trained, atol=1e-6)
    np.testing.assert_array_equal(layer.u.numpy(), trained_u)


def test_gradient_reaches_the_raw_kernel_through_sigma():
    # With u held fixed (inference), sigma = ||K u|| for the (in, out) Dense kernel K, so
    # d sigma / d K = v u^T with v = K u / sigma, and for L = sum(x K) / sigma:
    # dL/dK = x^T 1 / sigma - sum(x K) v u^T / sigma^2.
    layer, x = _wrapped("dense")
    kernel = layer.layer.kernel
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=False) - layer.layer.bias)
    gradient = tape.gradient(loss, kernel.value).numpy()
    K, u = kernel.numpy().astype(np.float64), layer.u.numpy().astype(np.float64)
    u /= np.linalg.norm(u)
    sigma = np.linalg.norm(K @ u)
    v = K @ u / sigma
    expected = x.T @ np.ones((x.shape[0], K.shape[1])) / sigma - np.sum(x @ K) * np.outer(v, u) / sigma**2
    np.testing.assert_allclose(gradient, expected, rtol=1e-4, atol=1e-5)


def test_training_calls_inside_tf_function_converge():
    layer, x = _wrapped("conv2d_transpose")

    @tf.function
    def step(x):
        return layer(x, training=True)

    for _ in range(60):
        step(x)
    assert _spectral_norm("conv2d_transpose", layer.normalized_kernel(training=False)) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("devices", [["/cpu:0"], ["/cpu:0", "/cpu:1"]])
def test_updates_u_and_trains_under_mirrored_strategy(devices):
    reference, x = _wrapped("conv2d")
    initial_u = reference.u.numpy().copy()
    reference(x, training=True)
    strategy = tf.distribute.MirroredStrategy(devices)
    with strategy.scope():
        layer, _ = _wrapped("conv2d")
        layer.u.assign(initial_u)
        optimizer = keras.optimizers.SGD(0.1)
        optimizer.build(layer.trainable_variables)
    kernel_before, bias_before = layer.layer.kernel.numpy().copy(), layer.layer.bias.numpy().copy()

    @tf.function
    def train_step(batch):
        def replica_step(batch):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(layer(batch, training=True)))
            gradients = tape.gradient(loss, layer.trainable_variables)
            optimizer.apply_gradients(zip(gradients, layer.trainable_variables))
            return loss

        return strategy.run(replica_step, args=(batch,))

    batches = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(x).unbatch().batch(2))
    train_step(next(iter(batches)))
    # u depends on the kernel only, so every replica holds the reference's new u.
    replicas = getattr(layer.u.value, "values", (layer.u.value,))
    assert len(replicas) == len(devices)
    for replica_u in replicas:
        np.testing.assert_allclose(replica_u.numpy(), reference.u.numpy(), atol=1e-6)
    # The optimizer stepped the raw kernel and the bias: gradients reach both through the wrapper.
    assert not np.allclose(layer.layer.kernel.numpy(), kernel_before)
    assert not np.allclose(layer.layer.bias.numpy(), bias_before)


def test_zero_kernel_gives_bias_not_nan():
    layer, x = _wrapped("dense")
    layer.layer.kernel.assign(np.zeros(layer.layer.kernel.shape, np.float32))
    output = layer(x, training=True).numpy()
    np.testing.assert_allclose(output, np.broadcast_to(layer.layer.bias.numpy(), output.shape))


def test_rejects_layers_without_a_kernel():
    with pytest.raises(ValueError, match="plain kernel variable"):
        SpectralNormalization(keras.layers.LayerNormalization()).build((2, 3))


def _batch_norm_case(layer_class, momentum=0.9):
    """A built batch norm with non-trivial gamma and beta, a batch whose mean is large against its
    spread (where a one-pass variance would cancel), and output weights for a scalar loss."""
    rng = np.random.RandomState(3)
    x = (5.0 + rng.normal(size=(8, 3, 3, 4))).astype(np.float32)
    layer = layer_class(momentum=momentum)
    layer.build(x.shape)
    layer.gamma.assign(rng.uniform(0.5, 1.5, 4).astype(np.float32))
    layer.beta.assign(rng.normal(size=4).astype(np.float32))
    return layer, x, rng.normal(size=x.shape).astype(np.float32)


def _train_call(layer, x, weights):
    """(output, gradients of sum(output * weights) w.r.t. x, gamma and beta) of a training call."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        output = layer(x, training=True)
        loss = tf.reduce_sum(output * weights)
    return output, tape.gradient(loss, [x, layer.gamma, layer.beta])


def test_sync_batch_norm_is_keras_batch_norm_with_one_replica():
    """Bit for bit, outputs, gradients and moving statistics: one-replica runs keep their numbers."""
    plain, x, weights = _batch_norm_case(keras.layers.BatchNormalization)
    synced, _, _ = _batch_norm_case(SyncBatchNormalization)
    (expected, expected_gradients), (actual, actual_gradients) = (_train_call(plain, x, weights),
                                                                  _train_call(synced, x, weights))
    for a, b in zip([actual, *actual_gradients], [expected, *expected_gradients]):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for name in ("moving_mean", "moving_variance"):
        np.testing.assert_array_equal(getattr(synced, name).numpy(), getattr(plain, name).numpy())


def test_sync_batch_norm_normalizes_the_global_batch_under_mirrored_strategy():
    """Two replicas with half a batch each: the outputs, the moving statistics and (through the
    all-reduces) the input gradients are those of one device with the whole batch; the replicas'
    gamma and beta gradients sum to the whole batch's."""
    plain, x, weights = _batch_norm_case(keras.layers.BatchNormalization)
    expected_output, (expected_dx, expected_dgamma, expected_dbeta) = _train_call(plain, x, weights)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"],
                                              cross_device_ops=tf.distribute.ReductionToOneDevice())
    with strategy.scope():
        synced, _, _ = _batch_norm_case(SyncBatchNormalization)
    halves = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors((x, weights)).unbatch().batch(len(x)))
    output, gradients = tf.function(lambda batch: strategy.run(lambda b: _train_call(synced, *b), args=(batch,)))(
        next(iter(halves)))
    local = strategy.experimental_local_results
    np.testing.assert_allclose(np.concatenate([o.numpy() for o in local(output)]), expected_output.numpy(),
                               atol=2e-5)
    np.testing.assert_allclose(np.concatenate([g.numpy() for g in local(gradients[0])]), expected_dx.numpy(),
                               atol=2e-5)
    np.testing.assert_allclose(sum(g.numpy() for g in local(gradients[1])), expected_dgamma.numpy(), atol=1e-4)
    np.testing.assert_allclose(sum(g.numpy() for g in local(gradients[2])), expected_dbeta.numpy(), atol=1e-4)
    for name in ("moving_mean", "moving_variance"):
        replicas = getattr(getattr(synced, name).value, "values", ())
        assert len(replicas) == 2
        for replica_value in replicas:
            np.testing.assert_allclose(replica_value.numpy(), getattr(plain, name).numpy(), atol=1e-5)
