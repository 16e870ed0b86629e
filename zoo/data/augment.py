"""Differentiable augmentation (Zhao et al. 2020, *Differentiable Augmentation for Data-Efficient
GAN Training*): the same random color, translation and cutout applied to real and generated images
before the discriminator, differentiable so the generator learns through it.

Every draw is stateless (seeded per step), so a resumed run augments exactly as before, and made for
the global batch (`zoo.random_draws.replica_uniform`), so an image meets the same transformation
whatever the number of replicas. Images are in [-1, 1], [N, H, W, C], as the pipeline gives them.
"""

import tensorflow as tf

from zoo.errors import UserError
from zoo import random_draws as base  # The per-replica draws (zoo.models.base re-exports them).

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy):
    """"color,translation,cutout" -> ("color", "translation", "cutout"); unknown parts fail in one line."""
    parts = tuple(part.strip() for part in (policy or "").split(",") if part.strip())
    unknown = [part for part in parts if part not in POLICIES]
    if unknown:
        raise UserError(f"unknown DiffAugment policy {', '.join(unknown)!s}; available: {', '.join(POLICIES)}")
    return parts


def _uniform(shape, seed, minval=0.0, maxval=1.0, dtype=tf.float32):
    return base.replica_uniform(shape, seed, minval=minval, maxval=maxval, dtype=dtype)


def color(images, seed):
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5) per image."""
    seeds = tf.unstack(base.split_seed(seed, 3))
    batch = tf.shape(images)[0]
    images = images + (_uniform([batch, 1, 1, 1], seeds[0]) - 0.5)
    mean = tf.reduce_mean(images, axis=3, keepdims=True)
    images = (images - mean) * (_uniform([batch, 1, 1, 1], seeds[1]) * 2.0) + mean
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - mean) * (_uniform([batch, 1, 1, 1], seeds[2]) + 0.5) + mean


def translation(images, seed, ratio=0.125):
    """Shifts each image by up to `ratio` of its size in x and y, filling with zeros."""
    batch, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    shift_y = tf.cast(tf.cast(height, tf.float32) * ratio + 0.5, tf.int32)
    shift_x = tf.cast(tf.cast(width, tf.float32) * ratio + 0.5, tf.int32)
    seed_y, seed_x = tf.unstack(base.split_seed(seed, 2))
    ty = _uniform([batch, 1], seed_y, minval=-shift_y, maxval=shift_y + 1, dtype=tf.int32)
    tx = _uniform([batch, 1], seed_x, minval=-shift_x, maxval=shift_x + 1, dtype=tf.int32)
    padded = tf.pad(images, [[0, 0], [shift_y, shift_y], [shift_x, shift_x], [0, 0]])
    rows = tf.gather(padded, tf.range(height)[None, :] + shift_y - ty, axis=1, batch_dims=1)
    return tf.gather(rows, tf.range(width)[None, :] + shift_x - tx, axis=2, batch_dims=1)


def cutout(images, seed, ratio=0.5):
    """Zeroes one random square of `ratio` of the image size per image."""
    batch, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    size_y = tf.cast(tf.cast(height, tf.float32) * ratio + 0.5, tf.int32)
    size_x = tf.cast(tf.cast(width, tf.float32) * ratio + 0.5, tf.int32)
    seed_y, seed_x = tf.unstack(base.split_seed(seed, 2))
    top = _uniform([batch, 1, 1], seed_y, minval=0, maxval=height + (1 - size_y % 2), dtype=tf.int32) - size_y // 2
    left = _uniform([batch, 1, 1], seed_x, minval=0, maxval=width + (1 - size_x % 2), dtype=tf.int32) - size_x // 2
    y = tf.range(height)[None, :, None]
    x = tf.range(width)[None, None, :]
    inside = (y >= top) & (y < top + size_y) & (x >= left) & (x < left + size_x)
    return images * tf.cast(~inside, images.dtype)[..., None]


_FUNCTIONS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(images, policy, seed):
    """Applies the policy's transformations in order, each with its own stateless seed."""
    parts = parse_policy(policy) if isinstance(policy, str) else tuple(policy)
    if not parts:
        return images
    seeds = tf.unstack(base.split_seed(seed, len(parts)))
    for part, part_seed in zip(parts, seeds):
        images = _FUNCTIONS[part](images, part_seed)
    return images
