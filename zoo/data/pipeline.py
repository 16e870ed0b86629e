"""The training stream: shuffled, batched, scaled to [-1, 1], endless, and resumable at any step.

Batch k of the stream (counted from the start of training) is a pure function of
(source, batch_size, seed, k): epoch e = k // steps_per_epoch is the source shuffled by a
permutation seeded with (seed, e), cut into batches within the epoch (the remainder dropped).
So a resumed run asks for `start_step=k` and gets batch k next, without replaying earlier epochs.

All randomness is stateless (`tf.random.experimental.stateless_shuffle`): `Dataset.shuffle`
was not used because its order changes with `tf.random.set_seed`, even with an explicit seed.
"""

import numbers

import tensorflow as tf

from zoo.data.base import Source
from zoo.errors import UserError

_DEFAULT_SHUFFLE_BUFFER = 60000
_SHUFFLE_BUFFER_BYTES = 1 << 30  # Caps the default buffer of streamed sources at about 1 GiB.
_PARALLEL = {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True}


def steps_per_epoch(source: Source, batch_size: int) -> int:
    """The number of full batches in one pass over `source`."""
    return source.num_examples // _check_batch_size(source, batch_size)


def make_pipeline(source: Source, batch_size: int, seed: int, start_step: int = 0,
                  shuffle_buffer: int | None = None) -> tf.data.Dataset:
    """Returns an endless dataset of batches of the source's elements, uint8 images scaled to
    float32 in [-1, 1]: {"image": float32[B, H, W, C], "label": int64[B]}; paired images
    {"input", "target"}; text {"tokens": int32[B, sequence_length + 1]}.

    Args:
      source: a `zoo.data.Source`.
      batch_size: examples per batch; every batch has exactly this many.
      seed: an int; the same seed gives the same stream in every process.
      start_step: the index of the first batch to yield (the trainer's step when resuming).
      shuffle_buffer: only for sources without random access (TFDS): each epoch is shuffled in
        consecutive blocks of this many examples (default min(num_examples, 60000), lowered to
        keep a block under about 1 GiB). Sources with random access (fashion_mnist, folders,
        `from_arrays`) are always shuffled by an exact permutation of the whole epoch.
    """
    steps = steps_per_epoch(source, batch_size)
    batch_size = _integer(batch_size, "batch_size", minimum=1)
    seed = _integer(seed, "seed", minimum=-(2**63), maximum=2**63 - 1)
    start_step = _integer(start_step, "start_step", minimum=0)
    first_epoch, skipped_batches = divmod(start_step, steps)
    examples_per_epoch = steps * batch_size
    block_size = _block_size(source, shuffle_buffer)

    def epoch_dataset(epoch):
        epoch_seed = tf.stack([tf.constant(seed, tf.int64), epoch])
        skip = tf.where(epoch == first_epoch, tf.constant(skipped_batches * batch_size, tf.int64),
                        tf.constant(0, tf.int64))
        if source.element_at is not None:
            order = tf.random.experimental.stateless_shuffle(
                tf.range(source.num_examples, dtype=tf.int64), seed=epoch_seed, alg="philox"
            )
            indices = tf.data.Dataset.from_tensor_slices(order[skip:examples_per_epoch])
            if source.element_at_takes_batches:
                indices = indices.batch(batch_size, drop_remainder=True)
                return indices.map(source.element_at, **_PARALLEL)
            examples = indices.map(source.element_at, **_PARALLEL)
        else:
            examples = _block_shuffle(source.dataset, block_size, epoch_seed).skip(skip)
        return examples.batch(batch_size, drop_remainder=True)

    batches = tf.data.Dataset.counter(first_epoch, dtype=tf.int64).flat_map(epoch_dataset)
    batches = batches.map(_scale, **_PARALLEL)
    batches = batches.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))
    options = tf.data.Options()
    options.deterministic = True
    return batches.with_options(options).prefetch(tf.data.AUTOTUNE)


def _integer(value, what, minimum, maximum=None):
    """`value` as a Python int (numpy and tensor scalars accepted), or UserError."""
    if isinstance(value, (tf.Tensor, tf.Variable)) and value.shape.rank == 0:
        value = value.numpy()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UserError(f"{what} must be an integer, got {value!r}")
    number = int(value)
    if number < minimum or (maximum is not None and number > maximum):
        allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise UserError(f"{what} must be an integer {allowed}, got {number}")
    return number


def _check_batch_size(source, batch_size):
    batch_size = _integer(batch_size, "batch_size", minimum=1)
    if batch_size > source.num_examples:
        raise UserError(
            f"batch_size {batch_size} is larger than the {source.num_examples} examples of "
            f"{source.name} {source.split}: use batch_size <= {source.num_examples}"
        )
    return batch_size


def _block_size(source, shuffle_buffer):
    if shuffle_buffer is not None:
        shuffle_buffer = _integer(shuffle_buffer, "shuffle_buffer", minimum=1)
        return min(shuffle_buffer, source.num_examples)
    image_bytes = source.spec.element_bytes
    by_memory = max(1000, _SHUFFLE_BUFFER_BYTES // max(image_bytes, 1))
    return min(source.num_examples, _DEFAULT_SHUFFLE_BUFFER, by_memory)


def _block_shuffle(dataset, block_size, epoch_seed):
    """Shuffles a stream within consecutive blocks of `block_size` examples, statelessly."""

    def shuffle_block(block_index, block):
        count = tf.shape(tf.nest.flatten(block)[0], out_type=tf.int64)[0]
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count),
            seed=tf.random.experimental.stateless_fold_in(epoch_seed, block_index, alg="philox"),
            alg="philox",
        )
        return tf.nest.map_structure(lambda values: tf.gather(values, order), block)

    blocks = dataset.batch(block_size).enumerate()
    return blocks.map(shuffle_block).unbatch()


def _scale(batch):
    """Every uint8 feature (images of any kind) to float32 in [-1, 1]; other features (labels,
    text's tokens) pass through as the source made them."""
    return {name: tf.cast(value, tf.float32) / 127.5 - 1.0 if value.dtype == tf.uint8 else value
            for name, value in batch.items()}
