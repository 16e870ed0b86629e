"""Reconstruction quality (PSNR, SSIM) and likelihood units (nats, bits per dimension).

    psnr(originals, reconstructions, max_val=255)   # per image, dB; inf when identical
    bits_per_dim(nll_nats=2300.0, num_dims=28 * 28)  # 4.23 bits/dim

Likelihoods: `nll_nats` is a negative log-likelihood (or negative ELBO, an upper bound on it) of
the discrete 8-bit data in nats per example. A model with a density over continuous pixels x / 256
in [0, 1) (dequantised) reports the discrete NLL as its continuous NLL + num_dims * log(256).
"""

import math

import numpy as np
import tensorflow as tf

from zoo.errors import UserError


def _image_pair(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim < 3:
        raise UserError(f"{what} needs two images [H, W, C] or batches [N, H, W, C] of one shape, "
                        f"got {a.shape} and {b.shape}")
    return tf.constant(a, tf.float32), tf.constant(b, tf.float32)


def psnr(a, b, max_val=255.0):
    """Peak signal-to-noise ratio in dB, per image: 10 log10(max_val^2 / MSE); inf if identical.

    `a`, `b`: images [..., H, W, C] of one shape on the scale of `max_val` (255 for uint8).
    Returns a float for one image, else a float64 array [...].
    """
    a, b = _image_pair(a, b, "psnr")
    values = tf.image.psnr(a, b, max_val=max_val).numpy().astype(np.float64)
    return float(values) if values.ndim == 0 else values


def ssim(a, b, max_val=255.0):
    """Structural similarity (Wang et al. 2004) per image, 11x11 Gaussian window; 1 if identical.

    Images need at least 11 pixels on each side. Returns a float or a float64 array [...].
    """
    a, b = _image_pair(a, b, "ssim")
    if min(a.shape[-3], a.shape[-2]) < 11:
        raise UserError(f"ssim needs images of at least 11x11 pixels, got {a.shape[-3]}x{a.shape[-2]}")
    values = tf.image.ssim(a, b, max_val=max_val).numpy().astype(np.float64)
    return float(values) if values.ndim == 0 else values


def nats_to_bits(nats):
    """Converts nats to bits: divides by ln 2."""
    bits = np.asarray(nats, np.float64) / math.log(2)
    return float(bits) if bits.ndim == 0 else bits


def bits_per_dim(nll_nats, num_dims):
    """Bits per dimension of a negative log-likelihood in nats per example of `num_dims` values.

    For 28x28x1 images num_dims is 784; uniform 8-bit noise scores exactly 8 bits/dim.
    """
    if isinstance(num_dims, bool) or not isinstance(num_dims, (int, np.integer)) or num_dims < 1:
        raise UserError(f"num_dims={num_dims!r}: must be a positive integer (e.g. H * W * C)")
    return nats_to_bits(nll_nats) / num_dims


def likelihood_report(nll_nats, num_dims):
    """A dict for logs and JSON: {"nll_nats", "nll_bits", "bits_per_dim"} of one NLL or -ELBO."""
    nll_nats = float(nll_nats)
    return {"nll_nats": nll_nats, "nll_bits": float(nats_to_bits(nll_nats)),
            "bits_per_dim": float(bits_per_dim(nll_nats, num_dims))}
