"""Adversarial losses as paired functions: `<kind>_generator_loss` / `<kind>_discriminator_loss`.

Every function takes discriminator logits (unbounded real scores) and returns a scalar: the mean
over the batch. Models pick a pair by name with `get_pair(kind)`.
"""

import tensorflow as tf


def _bce_with_logits(labels, logits):
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)


def minimax_generator_loss(fake_logits):
    """The original minimax generator loss, E[log(1 - D(G(z)))] (Goodfellow et al. 2014, eq. 1)."""
    return -tf.reduce_mean(_bce_with_logits(tf.zeros_like(fake_logits), fake_logits))


def minimax_discriminator_loss(real_logits, fake_logits, real_label=1.0):
    """-E[log D(x)] - E[log(1 - D(G(z)))] (Goodfellow et al. 2014).

    `real_label` below 1 is one-sided label smoothing (Salimans et al. 2016).
    """
    real = _bce_with_logits(tf.fill(tf.shape(real_logits), real_label), real_logits)
    fake = _bce_with_logits(tf.zeros_like(fake_logits), fake_logits)
    return tf.reduce_mean(real) + tf.reduce_mean(fake)


def non_saturating_generator_loss(fake_logits):
    """-E[log D(G(z))]: the non-saturating heuristic of Goodfellow et al. 2014, section 3."""
    return tf.reduce_mean(_bce_with_logits(tf.ones_like(fake_logits), fake_logits))


# The non-saturating GAN trains its discriminator exactly as the minimax one does.
non_saturating_discriminator_loss = minimax_discriminator_loss


_PAIRS = {
    "minimax": (minimax_generator_loss, minimax_discriminator_loss),
    "non_saturating": (non_saturating_generator_loss, non_saturating_discriminator_loss),
}


def get_pair(kind):
    """(generator_loss, discriminator_loss) for a loss kind; unknown kinds list the known ones."""
    if kind not in _PAIRS:
        from zoo.errors import UserError

        raise UserError(f"unknown GAN loss {kind!r}; available: {', '.join(sorted(_PAIRS))}")
    return _PAIRS[kind]
