"""Fidelity and rate metrics of codec reconstructions and token streams.

Signal metrics take arrays of matching shape ``(..., n_times)`` and reduce
over the last axis, returning one value per signal (average them yourself, so
that the unit of averaging stays explicit).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .spectral import stft_features

__all__ = [
    "BANDS",
    "nmse",
    "prd",
    "snr_db",
    "pearson_r",
    "band_errors",
    "spectral_error",
    "bits_per_second",
    "compression_ratio",
    "codebook_usage",
]

#: EEG bands (Hz) as reported by NeuroRVQ
BANDS = {"delta": (0.5, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 13.0),
         "beta": (13.0, 30.0), "gamma": (30.0, 45.0)}


def _pair(x, y):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    return x, y


def nmse(x, y):
    """Normalised mean squared error ``||y - x||^2 / ||x - mean(x)||^2``.

    Parameters
    ----------
    x : array, shape (..., n_times)
        Reference signals.
    y : array, shape (..., n_times)
        Reconstructions.

    Returns
    -------
    nmse : ndarray, shape (...)
        0 is perfect; 1 is as bad as predicting the mean.
    """
    x, y = _pair(x, y)
    den = ((x - x.mean(-1, keepdims=True)) ** 2).sum(-1)
    return ((y - x) ** 2).sum(-1) / np.where(den > 0, den, np.nan)


def prd(x, y):
    """Percent root-mean-square difference ``100 * sqrt(NMSE)`` (mean-removed)."""
    return 100.0 * np.sqrt(nmse(x, y))


def snr_db(x, y):
    """Signal-to-noise ratio of a reconstruction in dB, ``-10 log10(NMSE)``."""
    return -10.0 * np.log10(nmse(x, y))


def pearson_r(x, y):
    """Pearson correlation between reference and reconstruction, per signal."""
    x, y = _pair(x, y)
    xc = x - x.mean(-1, keepdims=True)
    yc = y - y.mean(-1, keepdims=True)
    den = np.sqrt((xc**2).sum(-1) * (yc**2).sum(-1))
    return (xc * yc).sum(-1) / np.where(den > 0, den, np.nan)


def band_errors(x, y, sfreq, bands=None):
    """NMSE of the reconstruction restricted to each frequency band.

    The error and reference are band-passed in the Fourier domain (rectangular
    band, real FFT of each whole signal).

    Parameters
    ----------
    x, y : array, shape (..., n_times)
        Reference and reconstruction.
    sfreq : float
        Sampling frequency in Hz.
    bands : dict | None
        Band name -> (low, high) in Hz; :data:`BANDS` if None.

    Returns
    -------
    errors : dict
        Band name -> ndarray, shape (...): ``||F_b(y - x)||^2 / ||F_b(x)||^2``,
        NaN where the band holds less than 1e-12 of the reference's power.
    """
    x, y = _pair(x, y)
    bands = BANDS if bands is None else bands
    freqs = np.fft.rfftfreq(x.shape[-1], 1.0 / sfreq)
    fx = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    fe = np.abs(np.fft.rfft(y - x, axis=-1)) ** 2
    # a band holding a negligible share of the reference's power (e.g. gamma of a
    # 30 Hz low-passed recording) has no meaningful relative error: NaN
    floor = 1e-12 * fx.sum(-1)
    out = {}
    for name, (lo, hi) in bands.items():
        sel = (freqs >= lo) & (freqs < hi)
        den = fx[..., sel].sum(-1)
        out[name] = fe[..., sel].sum(-1) / np.where(den > floor, den, np.nan)
    return out


def spectral_error(x, y, n_fft=64):
    """Mean absolute difference of log-magnitude STFTs, per signal.

    Uses the package's one STFT (:func:`mne_codec.spectral.stft_features`,
    the same as the training loss).

    Parameters
    ----------
    x, y : array, shape (..., n_times)
        Reference and reconstruction.
    n_fft : int
        FFT size (hop ``n_fft // 8``).

    Returns
    -------
    error : ndarray, shape (...)
        Mean over bins and frames of ``|log1p|Y| - log1p|X||``.
    """
    x, y = _pair(x, y)
    fx = stft_features(torch.from_numpy(x), n_fft)[..., 0, :, :]
    fy = stft_features(torch.from_numpy(y), n_fft)[..., 0, :, :]
    return (fy - fx).abs().mean((-2, -1)).numpy()


def bits_per_second(frame_rate, n_codebooks, codebook_size):
    """Bits per second and channel of an RVQ token stream."""
    return frame_rate * n_codebooks * math.log2(codebook_size)


def compression_ratio(sfreq, frame_rate, n_codebooks, codebook_size, sample_bits=32):
    """Ratio of raw sample bits (``sample_bits`` per sample at ``sfreq``) to token bits."""
    return sfreq * sample_bits / bits_per_second(frame_rate, n_codebooks, codebook_size)


def codebook_usage(codes, codebook_size):
    """Fraction of codes used and perplexity, per level.

    Parameters
    ----------
    codes : array of int, shape (..., n_codebooks, n_frames)
        Tokens.
    codebook_size : int
        Codes per level.

    Returns
    -------
    usage : ndarray, shape (n_codebooks,)
        Fraction of the codebook used at least once.
    perplexity : ndarray, shape (n_codebooks,)
        ``exp(entropy)`` of the empirical code distribution (max ``codebook_size``).
    """
    codes = np.asarray(codes)
    n_q = codes.shape[-2]
    per_level = np.moveaxis(codes, -2, 0).reshape(n_q, -1)
    usage, perplexity = np.empty(n_q), np.empty(n_q)
    for k in range(n_q):
        counts = np.bincount(per_level[k], minlength=codebook_size)
        p = counts[counts > 0] / counts.sum()
        usage[k] = (counts > 0).mean()
        perplexity[k] = np.exp(-(p * np.log(p)).sum())
    return usage, perplexity
