"""SpectralNormalization: the normalized kernel has spectral norm 1, u is state that only training
calls change, and the wrapper runs inside tf.function and MirroredStrategy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import SpectralNormalization
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
