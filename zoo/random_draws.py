"""Randomness of a training step, drawn per replica of the global batch (below zoo.models: the data
augmentation and the losses draw through it too, and zoo.models.base re-exports it for the models).


A step's noise is a function of (seed, step) and of each example's position in the *global* batch,
never of how many replicas share that batch: every draw goes through the helpers below, which draw
the tensor for the whole global batch (local rows x replicas in sync) from the step's seed and keep
the calling replica's rows. `strategy.experimental_distribute_dataset` splits a global batch into
contiguous slices in replica order (replica r gets rows [r * local, (r + 1) * local)), so with any
number of replicas example i meets the same noise as in a one-replica run of the same global batch.
With one replica (the default strategy) each helper is exactly the TensorFlow op it replaces.

Inside an XLA cluster (`jit_compile=True`) TensorFlow's stateless ops draw other numbers than its
CPU/GPU kernels: XLA keeps only the low 32 bits of each seed element when it derives the Philox key
and counter, and converts bits to floats its own way. There the helpers derive the key and counter
from the whole seed as the kernels do (`_philox_key_counter`), draw the kernels' raw bits and
integers from them (which XLA then does bit for bit) and convert bits to floats as the kernels do
(uniform: bit-exact; normal: Box-Muller, within a few float32 ulps of the kernels' log, sin and
cos). A jit-compiled step therefore draws the noise of the step TensorFlow runs op by op. Seeds
are split and folded with `split_seed` and `fold_seed` for the same reason.
"""

import math

import tensorflow as tf


def replica_position():
    """(replica id, replicas in sync) of the calling replica: (0, 1) outside a strategy or in a
    cross-replica context. The id may be a tensor; the count is a Python int."""
    context = tf.distribute.get_replica_context()
    if context is None:
        return 0, 1
    return context.replica_id_in_sync_group, context.num_replicas_in_sync


def _in_xla():
    """Whether ops built now are compiled by XLA (a `tf.function(jit_compile=True)`)."""
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover - a TensorFlow without the internal helper.
        return False
    return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))


_PHILOX = 1  # tf.random.Algorithm.PHILOX: what "auto_select" picks on CPU and GPU.
_LOW32 = 0xFFFFFFFF


def _philox_key_counter(seed):
    """The Philox key (uint64[1]) and counter (uint64[2]) TensorFlow's kernels derive from a
    stateless seed (int32 or int64 [2]), in ops XLA runs alike: the seed's four 32-bit words, as
    a counter, go through one Philox-4x32-10 block under a fixed key; its output words are the key
    and the high half of the counter (stateless_random_ops.cc GenerateKey, philox_random.h)."""
    words = tf.bitcast(tf.cast(seed, tf.int64), tf.uint64)  # int32 seeds sign-extend, as in the kernels.

    def u64(value):
        return tf.constant(value, tf.uint64)

    def low(x):
        return tf.bitwise.bitwise_and(x, u64(_LOW32))

    def high(x):
        return tf.bitwise.right_shift(x, u64(32))

    counter = [low(words[0]), high(words[0]), low(words[1]), high(words[1])]
    key = [u64(0x3EC8F720), u64(0x02461E29)]
    for round_index in range(10):
        product0, product1 = u64(0xD2511F53) * counter[0], u64(0xCD9E8D57) * counter[2]
        counter = [tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(high(product1), counter[1]), key[0]), low(product1),
                   tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(high(product0), counter[3]), key[1]), low(product0)]
        if round_index < 9:
            key = [low(key[0] + u64(0x9E3779B9)), low(key[1] + u64(0xBB67AE85))]
    joined_key = tf.bitwise.bitwise_or(counter[0], tf.bitwise.left_shift(counter[1], u64(32)))
    joined_counter = tf.bitwise.bitwise_or(counter[2], tf.bitwise.left_shift(counter[3], u64(32)))
    return tf.reshape(joined_key, [1]), tf.stack([u64(0), joined_counter])


def _xla_full_int(shape, seed, dtype):
    """`tf.random.stateless_uniform(shape, seed, minval=None, maxval=None, dtype)`, as the kernels draw it."""
    key, counter = _philox_key_counter(seed)
    return tf.raw_ops.StatelessRandomUniformFullIntV2(shape=_shape_tensor(shape), key=key, counter=counter,
                                                      alg=_PHILOX, dtype=dtype)


def _xla_integers(shape, seed, minval, maxval, dtype):
    """`tf.random.stateless_uniform(shape, seed, minval, maxval, dtype)`, integer dtype, as the kernels draw it."""
    key, counter = _philox_key_counter(seed)
    return tf.raw_ops.StatelessRandomUniformIntV2(shape=_shape_tensor(shape), key=key, counter=counter, alg=_PHILOX,
                                                  minval=tf.convert_to_tensor(minval, dtype),
                                                  maxval=tf.convert_to_tensor(maxval, dtype))


def split_seed(seed, num=2):
    """`tf.random.experimental.stateless_split(seed, num)` ([num, 2] seeds), also inside XLA."""
    if not _in_xla():
        return tf.random.experimental.stateless_split(seed, num)
    seed = tf.convert_to_tensor(seed)
    return _xla_full_int([num, 2], seed, seed.dtype)


def fold_seed(seed, data):
    """`tf.random.experimental.stateless_fold_in(seed, data)`, also inside XLA."""
    if not _in_xla():
        return tf.random.experimental.stateless_fold_in(seed, data)
    data = tf.convert_to_tensor(data)
    return tf.stack([_xla_full_int([], seed, data.dtype), data])


def _static_shape(shape):
    if isinstance(shape, (list, tuple)):
        dims = [tf.get_static_value(dim) for dim in shape]
        return tf.TensorShape([None if dim is None else int(dim) for dim in dims])
    value = tf.get_static_value(shape)
    return tf.TensorShape(None if value is None else [int(dim) for dim in value])


def _shape_tensor(shape):
    if isinstance(shape, (list, tuple)):
        return tf.stack([tf.cast(dim, tf.int32) for dim in shape]) if shape else tf.zeros([0], tf.int32)
    return tf.cast(shape, tf.int32)


def _replica_rows(draw, shape, groups):
    """`draw(shape)` for the global batch, this replica's rows of it.

    `shape` is the local one (rows first). The local rows may be `groups` equal segments of separate
    global batches concatenated (e.g. fakes then reals): each segment then takes its own rows of the
    corresponding global segment, as in the concatenation of the global batches.
    """
    replica, replicas = replica_position()
    static = _static_shape(shape)
    if replicas == 1:
        values = draw(shape)
    else:
        shape = _shape_tensor(shape)
        local, rest = shape[0] // groups, shape[1:]
        values = draw(tf.concat([[groups * replicas * local], rest], axis=0))
        values = tf.reshape(values, tf.concat([[groups, replicas, local], rest], axis=0))
        values = tf.reshape(tf.gather(values, replica, axis=1), shape)
    values.set_shape(static)
    return values


def _uint32_to_unit_float(bits):
    """The kernels' conversion (random_distributions.h Uint32ToFloat): the 23 low bits as the
    mantissa of a float in [1, 2), minus 1; uniform on [0, 1) in steps of 2**-23."""
    mantissa = tf.bitwise.bitwise_or(tf.bitwise.bitwise_and(bits, 0x7FFFFF), 127 << 23)
    return tf.bitcast(mantissa, tf.float32) - 1.0


def _xla_unit_uniform(shape, seed):
    """The float32 kernels' stateless_uniform(shape, seed), bit for bit."""
    shape = _shape_tensor(shape)
    return tf.reshape(_uint32_to_unit_float(_xla_full_int(tf.reduce_prod(shape)[None], seed, tf.uint32)), shape)


def _xla_standard_normal(shape, seed):
    """The float32 kernels' stateless_normal(shape, seed): Box-Muller on consecutive pairs of
    uint32 draws (random_distributions.h BoxMullerFloat), up to a few ulps of log, sin and cos."""
    shape = _shape_tensor(shape)
    count = tf.reduce_prod(shape)
    pairs = tf.reshape(_xla_full_int((count + count % 2)[None], seed, tf.uint32), [-1, 2])
    u1 = tf.maximum(_uint32_to_unit_float(pairs[:, 0]), 1.0e-7)
    angle = 2.0 * math.pi * _uint32_to_unit_float(pairs[:, 1])
    radius = tf.sqrt(-2.0 * tf.math.log(u1))
    values = tf.reshape(tf.stack([tf.sin(angle) * radius, tf.cos(angle) * radius], axis=1), [-1])[:count]
    return tf.reshape(values, shape)


def replica_normal(shape, seed, dtype=tf.float32, groups=1):
    """`tf.random.stateless_normal(shape, seed)` drawn for the global batch: this replica's rows.

    `shape` is the local shape, rows (examples) first; `groups`: see `replica_uniform`. Inside XLA
    only float32 draws are the kernels' (other dtypes are XLA's own); the same holds for
    `replica_uniform`'s floats.
    """
    def draw(global_shape):
        if _in_xla() and tf.as_dtype(dtype) == tf.float32:
            return _xla_standard_normal(global_shape, seed)
        return tf.random.stateless_normal(global_shape, seed=seed, dtype=dtype)

    return _replica_rows(draw, shape, groups)


def replica_uniform(shape, seed, minval=0, maxval=None, dtype=tf.float32, groups=1):
    """`tf.random.stateless_uniform(shape, seed, minval, maxval, dtype)` drawn for the global batch:
    this replica's rows.

    `shape` is the local shape, rows (examples) first. `groups` > 1 says the local rows are that
    many equal segments, each a replica's share of its own global batch (a concatenation such as
    [fakes, reals]): each segment gets the rows the concatenated global batches would.
    """
    dtype = tf.as_dtype(dtype)

    def draw(global_shape):
        if _in_xla() and dtype.is_integer and maxval is not None:
            return _xla_integers(global_shape, seed, minval, maxval, dtype)
        if _in_xla() and dtype == tf.float32:
            # As stateless_uniform: rnd * (maxval - minval) + minval in float32, maxval 1 by default.
            low = tf.convert_to_tensor(minval, tf.float32)
            high = tf.convert_to_tensor(1 if maxval is None else maxval, tf.float32)
            return _xla_unit_uniform(global_shape, seed) * (high - low) + low
        return tf.random.stateless_uniform(global_shape, seed=seed, minval=minval, maxval=maxval, dtype=dtype)

    return _replica_rows(draw, shape, groups)


def dropout(x, rate, seed, training, groups=1):
    """Dropout driven by a stateless seed, so a resumed run draws the same masks; the mask is drawn
    for the global batch (`replica_uniform`), so any number of replicas drops what one would.

    Keras's Dropout keeps its random state outside the checkpoint; networks of zoo take the step's
    seed instead. `seed` may be None only when no dropout is applied. `groups` > 1: the rows of `x`
    concatenate that many batches (see `replica_uniform`). With one replica this is
    `tf.nn.experimental.stateless_dropout(x, rate, seed)` exactly (same mask, same arithmetic).
    """
    if not training or rate == 0:
        return x
    if seed is None:
        raise ValueError("dropout in training needs the step's seed: call the network with seed=...")
    if not 0 < rate < 1:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    x = tf.convert_to_tensor(x)
    keep = replica_uniform(tf.shape(x), seed, dtype=x.dtype, groups=groups) >= rate
    keep.set_shape(x.shape)
    return tf.where(keep, x * tf.constant(1 / (1 - rate), x.dtype), tf.zeros([], x.dtype))


