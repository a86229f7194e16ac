"""Short-time Fourier features shared by the training losses and the metrics.

This is the one STFT implementation of the package. It follows BioCodec's
``EEG2Spec``: a Hann window of ``n_fft`` samples, a hop of ``n_fft // 8``,
reflect padding of ``(n_fft - hop) // 2`` samples on each side and
``center=False``; the features are ``log1p|S|`` and the unit phasor
``(cos angle, sin angle)`` of every bin.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["stft_features", "multiscale_stft_loss"]

#: feature kinds stacked by :func:`stft_features`, in order
FEATURES = ("log_magnitude", "cos_phase", "sin_phase")


def _window(n_fft, x):
    return torch.hann_window(n_fft, dtype=x.dtype if x.is_floating_point() else torch.float32,
                             device=x.device)


def stft_features(x, n_fft):
    """Stacked log-magnitude and phase features of a short-time Fourier transform.

    Parameters
    ----------
    x : torch.Tensor, shape (..., n_times)
        Real signals; any leading dimensions. ``n_times`` must exceed
        ``(n_fft - n_fft // 8) // 2`` (reflect padding).
    n_fft : int
        FFT size and Hann window length; the hop is ``n_fft // 8``.

    Returns
    -------
    features : torch.Tensor, shape (..., 3, n_fft // 2 + 1, n_frames)
        ``log1p|S|``, ``cos(angle S)`` and ``sin(angle S)``. Bins with
        ``|S| < 1e-8`` have a phasor of (nearly) zero, as in BioCodec.
    """
    n_fft = int(n_fft)
    hop = n_fft // 8
    if hop < 1:
        raise ValueError(f"n_fft must be at least 8, got {n_fft}")
    lead = x.shape[:-1]
    flat = x.reshape(-1, x.shape[-1])
    if not flat.is_floating_point():
        flat = flat.float()
    pad = (n_fft - hop) // 2
    # F.pad(reflect) wants a channel dimension: (N, 1, T)
    flat = F.pad(flat[:, None], (pad, pad), mode="reflect")[:, 0]
    spec = torch.stft(flat, n_fft=n_fft, hop_length=hop, win_length=n_fft,
                      window=_window(n_fft, flat), center=False, return_complex=True)
    mag = spec.abs()
    phasor = spec / mag.clamp_min(1e-8)
    feats = torch.stack((torch.log1p(mag), phasor.real, phasor.imag), dim=1)
    return feats.reshape(*lead, *feats.shape[1:])


def multiscale_stft_loss(y, x, n_ffts=(32, 64, 128, 256), weights=(1.0, 0.2, 0.2)):
    """BioCodec's multi-resolution spectral loss.

    For every ``n_fft``, the feature stacks of :func:`stft_features` are
    multiplied by ``weights`` (one per feature kind) and compared with the
    mean absolute error plus the mean squared error; the terms are summed
    over resolutions.

    Parameters
    ----------
    y : torch.Tensor, shape (..., n_times)
        Reconstruction.
    x : torch.Tensor, shape (..., n_times)
        Target.
    n_ffts : tuple of int
        FFT sizes (BioCodec's EEG model: 32, 64, 128 and 256).
    weights : tuple of float
        Weights of the log-magnitude, cosine and sine features. They scale
        the features before both distances, so the squared term carries the
        squared weight (as in the reference implementation).

    Returns
    -------
    loss : torch.Tensor
        Scalar.
    """
    if y.shape != x.shape:
        raise ValueError(f"y and x must have the same shape, got {tuple(y.shape)} and {tuple(x.shape)}")
    loss = y.new_zeros(())
    for n_fft in n_ffts:
        fy = stft_features(y, n_fft)
        fx = stft_features(x, n_fft)
        w = torch.as_tensor(weights, dtype=fy.dtype, device=fy.device).view(3, 1, 1)
        fy, fx = fy * w, fx * w
        loss = loss + F.l1_loss(fy, fx) + F.mse_loss(fy, fx)
    return loss
