"""Adversarial losses as paired functions: `<kind>_generator_loss` / `<kind>_discriminator_loss`.

Every function takes discriminator logits (unbounded real scores, never probabilities) and returns
a scalar: the mean over the batch. Models pick a pair by name with `get_pair(kind)`; every
discriminator loss takes `real_label=1.0`, the target for real data (below 1 is one-sided label
smoothing, meaningful only for the minimax, non_saturating and least_squares kinds).

The regularizers `gradient_penalty` (WGAN-GP) and `r1_penalty` return the unweighted mean penalty;
the caller multiplies by its weight.
"""

import tensorflow as tf

from zoo.errors import UserError
from zoo import random_draws as base  # The per-replica draws (zoo.models.base re-exports them).

# The kinds whose discriminator loss has a target for real data that label smoothing can lower.
_SMOOTHABLE = "minimax, non_saturating and least_squares"


def _bce_with_logits(labels, logits):
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)


def _reject_label_smoothing(kind, real_label):
    """Raises UserError when `real_label` asks a loss without a real target for label smoothing."""
    if float(real_label) != 1.0:
        raise UserError(
            f"the {kind} discriminator loss has no label to smooth (got real_label={real_label}); "
            f"one-sided label smoothing applies to {_SMOOTHABLE}"
        )


def minimax_generator_loss(fake_logits):
    """The original minimax generator loss, E[log(1 - D(G(z)))] (Goodfellow et al. 2014, eq. 1)."""
    return -tf.reduce_mean(_bce_with_logits(tf.zeros_like(fake_logits), fake_logits))


def minimax_discriminator_loss(real_logits, fake_logits, real_label=1.0):
    """-E[log D(x)] - E[log(1 - D(G(z)))] (Goodfellow et al. 2014).

    `real_label` below 1 is one-sided label smoothing (Salimans et al. 2016).
    """
    real = _bce_with_logits(tf.fill(tf.shape(real_logits), tf.cast(real_label, real_logits.dtype)), real_logits)
    fake = _bce_with_logits(tf.zeros_like(fake_logits), fake_logits)
    return tf.reduce_mean(real) + tf.reduce_mean(fake)


def non_saturating_generator_loss(fake_logits):
    """-E[log D(G(z))]: the non-saturating heuristic of Goodfellow et al. 2014, section 3."""
    return tf.reduce_mean(_bce_with_logits(tf.ones_like(fake_logits), fake_logits))


# The non-saturating GAN trains its discriminator exactly as the minimax one does.
non_saturating_discriminator_loss = minimax_discriminator_loss


def least_squares_generator_loss(fake_logits):
    """0.5 * E[(D(G(z)) - 1)^2]: LSGAN with the 0-1 coding (Mao et al. 2017, "Least Squares GANs").

    D is the raw score: LSGAN puts no sigmoid on the discriminator's output.
    """
    return 0.5 * tf.reduce_mean(tf.square(fake_logits - 1.0))


def least_squares_discriminator_loss(real_logits, fake_logits, real_label=1.0):
    """0.5 * E[(D(x) - real_label)^2] + 0.5 * E[D(G(z))^2] (Mao et al. 2017, 0-1 coding).

    `real_label` below 1 lowers the real target: one-sided label smoothing (Salimans et al. 2016).
    """
    real = tf.square(real_logits - tf.cast(real_label, real_logits.dtype))
    return 0.5 * tf.reduce_mean(real) + 0.5 * tf.reduce_mean(tf.square(fake_logits))


def hinge_generator_loss(fake_logits):
    """-E[D(G(z))]: the hinge GAN's generator loss (Lim & Ye 2017; Miyato et al. 2018, SN-GAN)."""
    return -tf.reduce_mean(fake_logits)


def hinge_discriminator_loss(real_logits, fake_logits, real_label=1.0):
    """E[relu(1 - D(x))] + E[relu(1 + D(G(z)))] (Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018).

    The margins are not labels: `real_label` must stay 1.0.
    """
    _reject_label_smoothing("hinge", real_label)
    return tf.reduce_mean(tf.nn.relu(1.0 - real_logits)) + tf.reduce_mean(tf.nn.relu(1.0 + fake_logits))


def wasserstein_generator_loss(fake_logits):
    """-E[D(G(z))] (Arjovsky, Chintala & Bottou 2017, "Wasserstein GAN")."""
    return -tf.reduce_mean(fake_logits)


def wasserstein_discriminator_loss(real_logits, fake_logits, real_label=1.0):
    """E[D(G(z))] - E[D(x)]: the critic's loss (Arjovsky et al. 2017).

    It estimates the Wasserstein-1 distance only for a 1-Lipschitz critic: add `gradient_penalty`
    (WGAN-GP) or constrain the weights. The critic has no labels: `real_label` must stay 1.0.
    """
    _reject_label_smoothing("wasserstein", real_label)
    return tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)


def gradient_penalty(discriminator_fn, real, fake, seed, target=1.0):
    """E[(||grad D(x_hat)||_2 - target)^2] on random interpolates (Gulrajani et al. 2017, WGAN-GP).

    x_hat = eps * real + (1 - eps) * fake with one eps ~ U[0, 1) per sample, drawn by
    `tf.random.stateless_uniform([batch, 1, ...], seed=seed)` (a shape-[2] seed) for the global
    batch under a tf.distribute strategy (`zoo.random_draws.replica_uniform`); the norm runs
    over all non-batch axes of inputs of any rank >= 2. `discriminator_fn` maps a batch to one
    score per sample; it must treat samples independently (no batch normalization, as the paper
    says). Call it inside the discriminator's GradientTape: the penalty's gradient reaches D's
    weights through a second differentiation. Returns the mean penalty, unweighted (the paper
    uses weight 10).
    """
    real = tf.convert_to_tensor(real)
    fake = tf.cast(fake, real.dtype)
    rank = real.shape.rank
    if rank is None or rank < 2:
        raise ValueError(f"gradient_penalty needs batched inputs of rank >= 2, got shape {real.shape}")
    batch = tf.shape(real)[0]
    eps_shape = tf.concat([[batch], tf.ones([rank - 1], tf.int32)], axis=0)
    eps = tf.cast(base.replica_uniform(eps_shape, seed), real.dtype)
    interpolates = eps * real + (1.0 - eps) * fake
    with tf.GradientTape() as tape:
        tape.watch(interpolates)
        total_score = tf.reduce_sum(discriminator_fn(interpolates))
    gradients = tape.gradient(total_score, interpolates)
    # The 1e-12 keeps the square root's gradient finite where D's gradient vanishes.
    norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=list(range(1, rank))) + 1e-12)
    return tf.reduce_mean(tf.square(norms - target))


def r1_penalty(discriminator_fn, real):
    """E[||grad D(x)||_2^2] over real data: the R1 regularizer (Mescheder et al. 2018, "Which
    Training Methods for GANs do actually Converge?").

    The caller multiplies by gamma / 2. Like `gradient_penalty`, call it inside the
    discriminator's GradientTape; `discriminator_fn` scores each sample independently.
    """
    real = tf.convert_to_tensor(real)
    rank = real.shape.rank
    if rank is None or rank < 2:
        raise ValueError(f"r1_penalty needs batched inputs of rank >= 2, got shape {real.shape}")
    with tf.GradientTape() as tape:
        tape.watch(real)
        total_score = tf.reduce_sum(discriminator_fn(real))
    gradients = tape.gradient(total_score, real)
    return tf.reduce_mean(tf.reduce_sum(tf.square(gradients), axis=list(range(1, rank))))


_PAIRS = {
    "minimax": (minimax_generator_loss, minimax_discriminator_loss),
    "non_saturating": (non_saturating_generator_loss, non_saturating_discriminator_loss),
    "least_squares": (least_squares_generator_loss, least_squares_discriminator_loss),
    "hinge": (hinge_generator_loss, hinge_discriminator_loss),
    "wasserstein": (wasserstein_generator_loss, wasserstein_discriminator_loss),
}


def get_pair(kind):
    """(generator_loss, discriminator_loss) for a loss kind; unknown kinds list the known ones."""
    if kind not in _PAIRS:
        raise UserError(f"unknown GAN loss {kind!r}; available: {', '.join(sorted(_PAIRS))}")
    return _PAIRS[kind]
