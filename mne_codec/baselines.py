"""Classical anchors for a codec's rate-distortion curve.

A neural codec's figures mean little without the curve of a plain transform
code beside them, and the limit that no coder of a Gaussian source with the
same spectrum can pass. Both functions take signals as the codec reads them
(preprocessed windows at the codec's rate) and a rate in bits per second per
channel, so that they sit on the same axes as :func:`~mne_codec.evaluation.evaluate_codec`.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dct, idct
from scipy.signal import welch

__all__ = ["dct_code", "gaussian_rd_nmse"]


def _as_signals(x):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1 or x.shape[-1] < 2:
        raise ValueError(f"x must have shape (..., n_times) with n_times >= 2, got {x.shape}")
    return x


def dct_code(x, sfreq, bits_per_second, coef_bits=8):
    """Code signals with a DCT low-pass code of a given rate, and decode them.

    Each signal keeps its lowest-frequency DCT-II coefficients (orthonormal), as
    many as the rate pays for at ``coef_bits`` bits each, quantised uniformly
    between the signal's own smallest and largest kept coefficient (those two
    numbers are side information, not counted in the rate). This is the
    classical transform code a codec of band-limited EEG is judged against.

    Parameters
    ----------
    x : array, shape (..., n_times)
        Signals (e.g. preprocessed windows at the codec's rate).
    sfreq : float
        Their sampling frequency in Hz.
    bits_per_second : float
        Rate per signal.
    coef_bits : int
        Bits per kept coefficient.

    Returns
    -------
    y : ndarray of float64, same shape as ``x``
        The decoded signals.
    """
    x = _as_signals(x)
    n_times = x.shape[-1]
    n_keep = int(min(n_times, bits_per_second * n_times / sfreq // coef_bits))
    coefs = dct(x, norm="ortho", axis=-1)
    kept = coefs[..., :n_keep]
    full = np.zeros_like(coefs)
    if n_keep:
        lo, hi = kept.min(-1, keepdims=True), kept.max(-1, keepdims=True)
        levels = 2 ** coef_bits - 1
        step = np.where(hi > lo, (hi - lo) / levels, 1.0)
        full[..., :n_keep] = np.round((kept - lo) / step) * step + lo
    return idct(full, norm="ortho", axis=-1)


def gaussian_rd_nmse(x, sfreq, bits_per_second, n_iter=60):
    """NMSE that an ideal coder of a Gaussian source with each signal's spectrum reaches.

    Reverse water-filling (Shannon; Kolmogorov 1956; Berger 1971) on the Welch
    power spectral density ``S(f)`` of each signal (1 s segments, scaled so that
    its integral is the signal's mean-removed power): the water level ``theta``
    solves ``R = integral of max(0, log2(S / theta)) df`` and the distortion is
    ``D = integral of min(theta, S) df``. Among sources with the same spectrum the
    Gaussian is the hardest to code under squared error, so this is what an ideal
    transform coder with long blocks reaches; it is the lower anchor beside
    :func:`dct_code`.

    Parameters
    ----------
    x : array, shape (..., n_times)
        Signals (e.g. preprocessed windows at the codec's rate).
    sfreq : float
        Their sampling frequency in Hz.
    bits_per_second : float
        Rate per signal.
    n_iter : int
        Bisection steps on ``log(theta)`` (60 reach float precision).

    Returns
    -------
    nmse : ndarray, shape x.shape[:-1]
        ``D`` over the signal's power, per signal (NaN for a constant signal).
    """
    x = _as_signals(x)
    if not bits_per_second >= 0:
        raise ValueError(f"bits_per_second must be >= 0, got {bits_per_second}")
    f, psd = welch(x, sfreq, nperseg=min(x.shape[-1], int(round(sfreq))), axis=-1)
    df = f[1] - f[0]
    power = np.var(x, axis=-1)
    total = psd.sum(-1) * df
    with np.errstate(divide="ignore", invalid="ignore"):
        psd = psd * (power / total)[..., None]  # integral = the signal's power
    tiny = np.finfo(np.float64).tiny
    psd = np.maximum(psd, tiny)
    lo = np.full(power.shape, np.log(tiny))  # theta this low: rate too high
    hi = np.log(psd.max(-1))  # theta at the peak: rate 0
    for _ in range(n_iter):
        mid = (lo + hi) / 2
        rate = np.maximum(0.0, np.log2(psd / np.exp(mid)[..., None])).sum(-1) * df
        too_fine = rate > bits_per_second
        lo = np.where(too_fine, mid, lo)
        hi = np.where(too_fine, hi, mid)
    theta = np.exp(hi)[..., None]  # the side whose rate fits the budget
    distortion = np.minimum(theta, psd).sum(-1) * df
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(power > 0, distortion / power, np.nan)
