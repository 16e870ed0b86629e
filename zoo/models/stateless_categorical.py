"""Batched stateless sampling of bytes, equal row by row to `tf.random.stateless_categorical`.

A text model draws step i of a row with seed s as
`tf.random.stateless_categorical(logits[None], 1, seed=stateless_fold_in((s, 0), i))`. Those ops
take one seed for the whole batch, so rows with their own seeds could only be drawn one at a time.
Here the same draws are computed for every row and step at once:
- `step_uniforms(seeds, steps)`: the uniform number in [0, 1) the CPU kernel (StatelessMultinomial,
  multinomial_op.cc) draws for row r at step i: Philox-4x32-10 (philox_random.h) under the key and
  counter TensorFlow derives from the step seed (GenerateKey in stateless_random_ops.cc), its first
  two output words made a double (random_distributions.h Uint64ToDouble). The draws do not depend
  on the logits, so a whole generation's draws are made before its loop starts.
- `sample(logits, uniforms)`: the kernel's choice given the draw: the first class whose running
  sum of exp(logit - max) (in float64, over finite logits) exceeds uniform * total.
Both are plain integer and float ops (no XLA, no custom op). tests/test_cached_decoding.py checks
them against TensorFlow's ops.
"""

import tensorflow as tf

_LOW32 = 0xFFFFFFFF


def _u64(value):
    return tf.constant(value, tf.uint64)


def _low(x):
    return tf.bitwise.bitwise_and(x, _u64(_LOW32))


def _high(x):
    return tf.bitwise.right_shift(x, _u64(32))


def _words(value):
    """The low and high 32-bit words (as uint64) of an int64 tensor."""
    bits = tf.bitcast(value, tf.uint64)
    return _low(bits), _high(bits)


def philox_block(counter, key):
    """The first Philox-4x32-10 output block, elementwise: `counter` four and `key` two uint64
    tensors of 32-bit words (philox_random.h PhiloxRandom::operator())."""
    counter, key = list(counter), list(key)
    for round_index in range(10):
        product0, product1 = _u64(0xD2511F53) * counter[0], _u64(0xCD9E8D57) * counter[2]
        counter = [tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(_high(product1), counter[1]), key[0]),
                   _low(product1),
                   tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(_high(product0), counter[3]), key[1]),
                   _low(product0)]
        if round_index < 9:
            key = [_low(key[0] + _u64(0x9E3779B9)), _low(key[1] + _u64(0xBB67AE85))]
    return counter


def _seeded_block(seed0, seed1):
    """The first Philox block of the generator TensorFlow's stateless kernels build from the seed
    (seed0, seed1) (int64 tensors of one shape): the seed scrambled into a key and counter."""
    low0, high0 = _words(seed0)
    low1, high1 = _words(seed1)
    zero = tf.zeros_like(low0)
    mix = philox_block([low0, high0, low1, high1], [zero + _u64(0x3EC8F720), zero + _u64(0x02461E29)])
    return philox_block([zero, zero, mix[2], mix[3]], [mix[0], mix[1]])


def step_uniforms(seeds, steps):
    """float64 [B, steps]: the draw of `stateless_categorical` at step i of the row with seed seeds[r]."""
    seeds = tf.convert_to_tensor(seeds, tf.int64)
    # stateless_fold_in((s, 0), i) = (stateless_uniform full-range int64 under seed (s, 0), i).
    words = _seeded_block(seeds, tf.zeros_like(seeds))
    folded = tf.bitcast(tf.bitwise.bitwise_or(words[0], tf.bitwise.left_shift(words[1], _u64(32))), tf.int64)
    step = tf.range(tf.cast(steps, tf.int64), dtype=tf.int64)
    folded = folded[:, tf.newaxis] + tf.zeros_like(step)[tf.newaxis]  # [B, steps] (int64: adding 0 never wraps).
    step = step[tf.newaxis] + tf.zeros_like(folded)
    words = _seeded_block(folded, step)
    # A double in [1, 2) from 20 bits of the first word and the whole second one, minus 1.
    mantissa = tf.bitwise.bitwise_or(tf.bitwise.left_shift(tf.bitwise.bitwise_and(words[0], _u64(0xFFFFF)), _u64(32)),
                                     words[1])
    return tf.bitcast(tf.bitwise.bitwise_or(mantissa, _u64(1023 << 52)), tf.float64) - 1.0


def sample(logits, uniforms):
    """int32 [B]: the class `stateless_categorical` picks in each row of `logits` [B, V] given its
    draw `uniforms` [B] (from `step_uniforms`). Classes with logit -inf are never picked."""
    logits = tf.cast(logits, tf.float64)
    finite = tf.math.is_finite(logits)
    largest = tf.reduce_max(tf.where(finite, logits, tf.constant(-float("inf"), tf.float64)), axis=-1, keepdims=True)
    cumulative = tf.cumsum(tf.where(finite, tf.exp(logits - largest), tf.zeros_like(logits)), axis=-1)
    target = uniforms[:, None] * cumulative[:, -1:]
    chosen = tf.reduce_sum(tf.cast(cumulative <= target, tf.int32), axis=-1)
    return tf.minimum(chosen, tf.shape(logits)[-1] - 1)
