"""Short-time Fourier features shared by the training losses and the metrics.

This is the one module of the package that computes spectra for losses:

- :func:`stft_features` and :func:`multiscale_stft_loss` follow BioCodec's
  ``EEG2Spec``: a Hann window of ``n_fft`` samples, a hop of ``n_fft // 8``,
  reflect padding of ``(n_fft - hop) // 2`` samples on each side and
  ``center=False``; the features are ``log1p|S|`` and the unit phasor
  ``(cos angle, sin angle)`` of every bin.
- :func:`mel_filterbank`, :func:`mel_spectrogram` and
  :func:`multiscale_mel_loss` follow DAC's mel reconstruction loss (Kumar et
  al. 2023, through ``audiotools``): a periodic Hann window, a hop of a
  quarter window, ``center=True`` with reflect padding, the magnitude
  projected on Slaney-style triangular mel filters (the default of
  ``librosa.filters.mel``), compared as ``log10`` of magnitudes clamped at
  ``1e-5``, with the L1 distance.
- :func:`band_nmse_loss` is the differentiable form of the per-band NMSE of
  :func:`mne_codec.metrics.band_errors` (rectangular bands of the real FFT
  of each whole signal), so that a loss can weigh every EEG band alike.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["stft_features", "multiscale_stft_loss", "mel_filterbank", "mel_spectrogram",
           "multiscale_mel_loss", "dac_stft", "band_nmse_loss"]

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
        raise ValueError("y and x must have the same shape, "
                         f"got {tuple(y.shape)} and {tuple(x.shape)}")
    loss = y.new_zeros(())
    for n_fft in n_ffts:
        fy = stft_features(y, n_fft)
        fx = stft_features(x, n_fft)
        w = torch.as_tensor(weights, dtype=fy.dtype, device=fy.device).view(3, 1, 1)
        fy, fx = fy * w, fx * w
        loss = loss + F.l1_loss(fy, fx) + F.mse_loss(fy, fx)
    return loss


# -- DAC's mel loss ------------------------------------------------------------------
#: the Slaney mel scale: linear (200/3 Hz per mel) below 1 kHz, logarithmic above
_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def _hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    log_part = _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(f >= _MIN_LOG_HZ, log_part, f / _F_SP)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    log_part = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(m, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(m >= _MIN_LOG_MEL, log_part, _F_SP * m)


@functools.lru_cache(maxsize=64)
def _mel_filterbank(n_fft, n_mels, sfreq, fmin, fmax):
    fft_freqs = np.linspace(0.0, sfreq / 2.0, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]  # equal area ("slaney" norm)
    weights = weights.astype(np.float32)
    weights.flags.writeable = False
    return weights


def mel_filterbank(n_fft, n_mels, sfreq, fmin=0.0, fmax=None):
    """Triangular mel filters on the bins of a real FFT (Slaney's mel scale).

    The filters are those of ``librosa.filters.mel`` with its defaults
    (``htk=False``, ``norm="slaney"``), which DAC's mel loss uses: ``n_mels``
    triangles whose edges are equally spaced on the Slaney mel scale (linear
    below 1 kHz, logarithmic above) between ``fmin`` and ``fmax``, each
    normalised to equal area.

    Parameters
    ----------
    n_fft : int
        FFT size; the filters act on its ``n_fft // 2 + 1`` bins.
    n_mels : int
        Number of filters.
    sfreq : float
        Sampling frequency the bins are labelled with (Hz). For a codec that
        reads EEG as audio, this may be the audio rate (see
        :class:`~mne_codec.training.DACLoss`).
    fmin : float
        Lowest edge (Hz).
    fmax : float | None
        Highest edge (Hz); ``None``: ``sfreq / 2``.

    Returns
    -------
    weights : ndarray of float32, shape (n_mels, n_fft // 2 + 1)
        Read-only (cached).
    """
    fmax = float(sfreq) / 2.0 if fmax is None else float(fmax)
    if not 0 <= fmin < fmax <= float(sfreq) / 2.0:
        raise ValueError(f"Need 0 <= fmin < fmax <= sfreq / 2, got fmin={fmin}, fmax={fmax}, "
                         f"sfreq={sfreq}")
    return _mel_filterbank(int(n_fft), int(n_mels), float(sfreq), float(fmin), fmax)


def dac_stft(x, n_fft, match_stride=False):
    """Complex STFT with DAC's (``audiotools``') framing.

    A periodic Hann window of ``n_fft`` samples, a hop of ``n_fft // 4``,
    ``center=True`` with reflect padding. With ``match_stride`` (DAC's
    spectrogram discriminator), the signal is first reflect-padded by
    ``(n_fft - hop) // 2`` on each side plus, on the right, up to a
    multiple of the hop, and the first and last two frames are dropped:
    ``ceil(n_times / hop)`` frames.

    Parameters
    ----------
    x : torch.Tensor, shape (n_signals, n_times)
        Real floating-point signals.
    n_fft : int
        Window length and FFT size.
    match_stride : bool
        ``audiotools``' ``match_stride`` framing.

    Returns
    -------
    spec : torch.Tensor, shape (n_signals, n_fft // 2 + 1, n_frames)
        Complex.
    """
    hop = n_fft // 4
    if match_stride:
        n = x.shape[-1]
        pad = (n_fft - hop) // 2
        right = -(-n // hop) * hop - n
        x = F.pad(x[:, None], (pad, pad + right), mode="reflect")[:, 0]
    spec = torch.stft(x, n_fft=n_fft, hop_length=hop, win_length=n_fft,
                      window=_window(n_fft, x), center=True, pad_mode="reflect",
                      return_complex=True)
    return spec[..., 2:-2] if match_stride else spec


def mel_spectrogram(x, n_fft, n_mels, sfreq, fmin=0.0, fmax=None):
    """Mel magnitude spectrogram with DAC's framing.

    Parameters
    ----------
    x : torch.Tensor, shape (..., n_times)
        Real signals; ``n_times`` must exceed ``n_fft // 2`` (reflect padding).
    n_fft : int
        Window length (periodic Hann) and FFT size; the hop is ``n_fft // 4``
        and the signal is reflect-padded by ``n_fft // 2`` on each side
        (``center=True``), as ``audiotools``' ``AudioSignal.stft``.
    n_mels : int
        Number of mel filters (:func:`mel_filterbank`).
    sfreq : float
        Sampling frequency the mel scale is computed at (Hz).
    fmin, fmax : float | None
        Band of the filters.

    Returns
    -------
    mel : torch.Tensor, shape (..., n_mels, n_frames)
        Filtered magnitudes (not squared, not logarithmic).
    """
    n_fft = int(n_fft)
    lead = x.shape[:-1]
    flat = x.reshape(-1, x.shape[-1])
    if not flat.is_floating_point():
        flat = flat.float()
    spec = dac_stft(flat, n_fft)
    fb = torch.from_numpy(np.array(mel_filterbank(n_fft, n_mels, sfreq, fmin, fmax)))
    mel = torch.matmul(fb.to(device=flat.device, dtype=flat.dtype), spec.abs())
    return mel.reshape(*lead, *mel.shape[1:])


def multiscale_mel_loss(y, x, sfreq, window_lengths=(32, 64, 128, 256, 512),
                        n_mels=(5, 10, 20, 40, 80), clamp_eps=1e-5):
    """DAC's multi-scale mel reconstruction loss.

    ``sum over scales of mean |log10 max(M_y, eps) - log10 max(M_x, eps)|``
    with ``M`` the :func:`mel_spectrogram` of each scale (DAC's
    ``MelSpectrogramLoss`` with ``pow=1``, ``mag_weight=0``,
    ``clamp_eps=1e-5``, ``fmin=0``, ``fmax=None``).

    Parameters
    ----------
    y : torch.Tensor, shape (..., n_times)
        Reconstruction.
    x : torch.Tensor, shape (..., n_times)
        Target.
    sfreq : float
        Sampling frequency the mel scale is computed at (Hz).
    window_lengths : tuple of int
        Window lengths of the scales (DAC: 32 ... 2048, doubling).
    n_mels : tuple of int
        Mel filters per scale (DAC: 5 ... 320, doubling).
    clamp_eps : float
        Magnitudes are clamped below at this before the logarithm.

    Returns
    -------
    loss : torch.Tensor
        Scalar.
    """
    if y.shape != x.shape:
        raise ValueError("y and x must have the same shape, "
                         f"got {tuple(y.shape)} and {tuple(x.shape)}")
    if len(window_lengths) != len(n_mels):
        raise ValueError("window_lengths and n_mels must have the same length")
    loss = y.new_zeros(())
    for n_fft, m in zip(window_lengths, n_mels):
        my = mel_spectrogram(y, n_fft, m, sfreq).clamp_min(clamp_eps).log10()
        mx = mel_spectrogram(x, n_fft, m, sfreq).clamp_min(clamp_eps).log10()
        loss = loss + F.l1_loss(my, mx)
    return loss


_dac_stft = dac_stft  # the name before it was shared with the discriminators


def band_nmse_loss(y, x, sfreq, bands, floor=1e-3):
    """Mean over bands and signals of the NMSE restricted to each band.

    ``||F_b(y - x)||^2 / (||F_b(x)||^2 + floor * ||F(x)||^2)`` for each band
    ``b`` (rectangular, on the real FFT of each whole signal, as
    :func:`mne_codec.metrics.band_errors`), averaged over bands and signals.
    Each band counts alike whatever its share of the power, so that a codec
    trained on it does not give up the weak bands (gamma, beta) for the
    strong ones (delta); ``floor`` keeps a band that holds almost no power
    (e.g. gamma of a 30 Hz low-passed recording) from dominating.

    Parameters
    ----------
    y, x : torch.Tensor, shape (..., n_times)
        Reconstruction and target.
    sfreq : float
        Sampling frequency in Hz.
    bands : dict of str to (float, float)
        Band edges in Hz (e.g. :data:`mne_codec.metrics.BANDS`).
    floor : float
        Share of the signal's power added to each band's, in the denominator.

    Returns
    -------
    loss : torch.Tensor
        Scalar.
    """
    freqs = torch.fft.rfftfreq(x.shape[-1], 1.0 / sfreq).to(x.device)
    px = torch.fft.rfft(x.float(), dim=-1).abs().pow(2)
    pe = torch.fft.rfft((y - x).float(), dim=-1).abs().pow(2)
    total = px.sum(-1)
    terms = []
    for lo, hi in bands.values():
        sel = (freqs >= lo) & (freqs < hi)
        terms.append(pe[..., sel].sum(-1) / (px[..., sel].sum(-1) + floor * total + 1e-12))
    return torch.stack(terms).mean()
