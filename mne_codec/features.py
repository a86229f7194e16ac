"""Features of tokens for linear decoders, computed from the tokens alone.

Token histograms keep what each channel's signal is like, not how channels
relate to each other, which is what motor imagery and most other EEG
decoding rests on. The features here restore that: the signal the tokens
code is read linearly from the latent the codec's decoder reads (its
:class:`~mne_codec.readout.SignalReadout`, about half the cost of decoding)
or decoded by the codec that wrote them (:func:`~mne_codec.pipeline.detokenize`),
and each window's spatial covariance is estimated in a few frequency bands
(a filter bank of cospectra, shrunk), then mapped to the tangent space of
the manifold of covariance matrices at a reference point (Barachant et al.
2012, 2013), where a linear model separates them.

Everything is a function of the :class:`~mne_codec.Tokens` (codes, scaling
statistics, side information) and the codec: a user who holds only token
files gets the features of :class:`~mne_codec.CodecTokenizer`.

- :func:`band_covariances`: shrunk band covariances of signals;
- :func:`token_signal`: the signal the tokens code (read out or decoded);
- :func:`token_covariances`: its band covariances;
- :func:`riemannian_mean`, :func:`tangent_space`: the reference point and the
  map to it;
- :func:`token_features`: every output of :class:`~mne_codec.CodecTokenizer`
  from Tokens.
"""

from __future__ import annotations

import numpy as np

from .checkpoints import load_codec
from .models import Codec
from .pipeline import detokenize, quantized_windows

__all__ = ["DEFAULT_BANDS", "SIGNALS", "check_bands", "band_covariances", "token_signal",
           "resolve_signal", "token_covariances",
           "riemannian_mean", "tangent_space", "token_features", "code_histograms",
           "load_token_codec", "FEATURE_OUTPUTS"]

#: alpha/mu (8-13 Hz) and beta (13-30 Hz), the rhythms most EEG decoding reads
#: (posterior alpha, sensorimotor mu and beta). Delta (eye movements, drifts) and
#: gamma (muscle; beyond most codecs' band) are left out, and theta (4-8 Hz) is
#: left to ``bands=``: chosen among band sets on EEGMMIDB S001-S005 and checked
#: on S006-S010 (the figures are in the documentation, :ref:`token-features`).
DEFAULT_BANDS = ((8.0, 13.0), (13.0, 30.0))

#: the outputs :func:`token_features` computes
FEATURE_OUTPUTS = ("tangent", "histogram", "embedding", "tokens")


_FLOOR_UV2 = 1e-12


def check_bands(bands, sfreq, n_times):
    """Check frequency bands against windows; return them and their Fourier bins.

    Parameters
    ----------
    bands : list of (float, float)
        Bands in Hz, ``low <= f < high``.
    sfreq : float
        Sampling frequency of the windows in Hz.
    n_times : int
        Samples per window.

    Returns
    -------
    bands : ndarray, shape (n_bands, 2)
        The bands.
    bins : list of ndarray of int
        Each band's bins of ``numpy.fft.rfftfreq(n_times, 1 / sfreq)``.

    Raises
    ------
    ValueError
        For bands that are not pairs of ``0 <= low < high`` within the Nyquist
        frequency, or that hold no frequency bin of such windows.
    """
    try:
        arr = np.asarray(bands, dtype=float)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 2 or arr.shape[1] != 2 or len(arr) == 0:
        raise ValueError(f"bands must be a sequence of (low, high) pairs in Hz, got {bands!r}")
    freqs = np.fft.rfftfreq(n_times, 1.0 / sfreq)
    bins = []
    for lo, hi in arr:
        if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo < hi):
            raise ValueError(f"each band must have 0 <= low < high (Hz), got ({lo:g}, {hi:g})")
        if hi > sfreq / 2:
            raise ValueError(f"band ({lo:g}, {hi:g}) Hz is beyond the Nyquist frequency "
                             f"{sfreq / 2:g} Hz of {sfreq:g} Hz signals")
        idx = np.flatnonzero((freqs >= lo) & (freqs < hi))
        if len(idx) == 0:
            raise ValueError(
                f"band ({lo:g}, {hi:g}) Hz holds no frequency bin of {n_times}-sample windows "
                f"at {sfreq:g} Hz (resolution {sfreq / n_times:.3g} Hz): use longer windows "
                "or wider bands")
        bins.append(idx)
    return arr, bins


def _oas(samples):
    """Oracle-approximating shrinkage covariance of zero-mean samples (Chen et al. 2010).

    ``samples`` (..., n_channels, n_samples) -> (..., n_channels, n_channels):
    the sample covariance shrunk towards ``trace / n_channels`` times the
    identity, by the closed-form OAS coefficient.
    """
    n_ch, n = samples.shape[-2:]
    emp = samples @ samples.swapaxes(-1, -2) / n
    mu = np.trace(emp, axis1=-2, axis2=-1) / n_ch
    alpha = np.mean(emp ** 2, axis=(-2, -1))
    num = alpha + mu ** 2
    den = (n + 1.0) * (alpha - mu ** 2 / n_ch)
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = np.where(den > 0, np.minimum(num / den, 1.0), 1.0)
    shrink = shrink[..., None, None]
    eye = np.eye(n_ch)
    return (1.0 - shrink) * emp + shrink * mu[..., None, None] * eye


def band_covariances(x, sfreq, bands=DEFAULT_BANDS):
    """Shrunk spatial covariance of each window in each frequency band.

    Each window (channels mean-removed) is Fourier transformed; the real and
    imaginary parts of its coefficients within a band are the samples of the
    band-limited signal (two degrees of freedom per frequency bin), whose
    covariance (the band's cospectrum: by Parseval's theorem, the covariance
    of the window ideally band-passed, without the transients a filter adds
    at the edges of a short window) is shrunk by the oracle-approximating
    shrinkage (OAS; Chen et al. 2010) so that it is well conditioned when the
    band holds fewer samples than there are channels.

    Parameters
    ----------
    x : array, shape (n_windows, n_channels, n_times)
        Signals in volts.
    sfreq : float
        Their sampling frequency in Hz.
    bands : list of (float, float)
        Bands in Hz, ``low <= f < high`` (default :data:`DEFAULT_BANDS`).

    Returns
    -------
    covs : ndarray of float64, shape (n_windows, n_bands, n_channels, n_channels)
        Symmetric positive definite matrices, in µV² (a global scale, which
        the tangent space does not see), with a floor of 1e-12 µV² on the
        diagonal so that silent windows stay positive definite.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or 0 in x.shape:
        raise ValueError(f"x must have shape (n_windows, n_channels, n_times), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("x holds NaN or infinite values")
    n_win, n_ch, n_times = x.shape
    _, bins = check_bands(bands, sfreq, n_times)
    # µV: no volts**2 underflow. No taper: every sample of the window weighs the
    # same, as in the classical sample covariance (a Hann taper, which weighs the
    # window's middle, was measured worse across subjects: see the docs)
    xc = (x - x.mean(-1, keepdims=True)) * 1e6
    spec = np.fft.rfft(xc, axis=-1)
    covs = np.empty((n_win, len(bins), n_ch, n_ch))
    for b, idx in enumerate(bins):
        band = spec[..., idx]
        samples = np.concatenate([band.real, band.imag], axis=-1)
        covs[:, b] = _oas(samples)
    # a floor far below any recorded EEG (1e-12 uV**2), so that silent windows (flat
    # channels coded as silence) still have a logarithm
    covs += _FLOOR_UV2 * np.eye(n_ch)
    return covs


def _eig_fn(mats, fn):
    """``fn`` applied to the eigenvalues of symmetric matrices (..., n, n)."""
    w, v = np.linalg.eigh(mats)
    return (v * fn(w)[..., None, :]) @ v.swapaxes(-1, -2)


def _check_spd(covs, name="covs"):
    covs = np.asarray(covs, dtype=np.float64)
    if covs.ndim < 2 or covs.shape[-1] != covs.shape[-2]:
        raise ValueError(f"{name} must be square matrices (..., n, n), got shape {covs.shape}")
    if not np.isfinite(covs).all():
        raise ValueError(f"{name} hold NaN or infinite values")
    return covs


def riemannian_mean(covs, *, tol=1e-5, max_iter=50):
    """Riemannian (affine-invariant) mean of SPD matrices.

    The matrix ``M`` that minimises the sum of squared affine-invariant
    distances to ``covs`` (Moakher 2005), by the fixed-point iteration
    ``M <- M^1/2 expm(mean(logm(M^-1/2 C M^-1/2))) M^1/2`` from the log-Euclidean
    mean.

    Parameters
    ----------
    covs : array, shape (n_matrices, [n_bands,] n_channels, n_channels)
        SPD matrices; with a band axis, one mean per band.
    tol : float
        Stop when the Frobenius norm of the step (a mean of matrix logarithms,
        dimensionless) is below ``tol``: the iteration converges linearly
        (about 3x per step on EEG covariances), and at 1e-5 the tangent
        vectors at the mean are within 1e-5 of those at the limit.
    max_iter : int
        At most this many iterations.

    Returns
    -------
    mean : ndarray, shape ([n_bands,] n_channels, n_channels)
    """
    covs = _check_spd(covs)
    if len(covs) == 0:
        raise ValueError("No matrices to average.")
    mean = _eig_fn(_eig_fn(covs, np.log).mean(0), np.exp)
    for _ in range(max_iter):
        w, v = np.linalg.eigh(mean)
        sqrt = (v * np.sqrt(w)[..., None, :]) @ v.swapaxes(-1, -2)
        isqrt = (v * (1.0 / np.sqrt(w))[..., None, :]) @ v.swapaxes(-1, -2)
        step = _eig_fn(isqrt @ covs @ isqrt, np.log).mean(0)
        mean = sqrt @ _eig_fn(step, np.exp) @ sqrt
        if np.sqrt(np.sum(step ** 2, axis=(-2, -1))).max() < tol:
            break
    return (mean + mean.swapaxes(-1, -2)) / 2


def tangent_space(covs, reference):
    """Map SPD matrices to the tangent space at ``reference`` (vectors).

    ``upper(logm(R^-1/2 C R^-1/2))``, the upper triangle with the
    off-diagonal entries weighted by sqrt(2) so that the Euclidean norm of the
    vector is the affine-invariant distance from ``C`` to ``R`` (Barachant et
    al. 2013). Each matrix is mapped on its own: the features of a window do
    not depend on the other windows.

    Parameters
    ----------
    covs : array, shape (n_matrices, [n_bands,] n_channels, n_channels)
        SPD matrices.
    reference : array, shape ([n_bands,] n_channels, n_channels)
        The reference point (e.g. :func:`riemannian_mean` of training data).

    Returns
    -------
    vectors : ndarray, shape (n_matrices, n_bands * n_channels * (n_channels + 1) / 2)
    """
    covs, reference = _check_spd(covs), _check_spd(reference, "reference")
    if covs.shape[1:] != reference.shape:
        raise ValueError(f"covs of shape {covs.shape[1:]} per window do not match the "
                         f"reference's {reference.shape}")
    w, v = np.linalg.eigh(reference)
    if w.min() <= 0:
        raise ValueError("reference must be positive definite")
    isqrt = (v * (1.0 / np.sqrt(w))[..., None, :]) @ v.swapaxes(-1, -2)
    logs = _eig_fn(isqrt @ covs @ isqrt, np.log)
    n = covs.shape[-1]
    rows, cols = np.triu_indices(n)
    weights = np.where(rows == cols, 1.0, np.sqrt(2.0))
    return (logs[..., rows, cols] * weights).reshape(len(covs), -1)


#: what :func:`token_covariances` computes band covariances of
SIGNALS = ("auto", "readout", "decoded")


def token_signal(tokens, codec=None, *, signal="auto", stream=False, chunk_s=None,
                 batch_size=256, device="auto"):
    """Return the signal that tokens code, in volts: decoded, or read from the latent.

    Parameters
    ----------
    tokens : Tokens
        Tokens of windows.
    codec : str | Codec | None
        The codec that wrote them; None loads the one the tokens name.
    signal : ``"auto"`` | ``"readout"`` | ``"decoded"``
        ``"decoded"``: decode the tokens (:func:`~mne_codec.pipeline.detokenize`);
        ``"readout"``: read the signal linearly from the latent the decoder
        reads, with the codec's :class:`~mne_codec.readout.SignalReadout`
        (about half the cost of decoding: no decoder); ``"auto"``: the
        read-out where the codec has one, else decoding.
    stream, chunk_s
        Decode chunk by chunk (see :func:`~mne_codec.pipeline.decode_stream`);
        a read-out needs no streaming.
    batch_size, device
        Decoding.

    Returns
    -------
    x : ndarray, shape (n_windows, n_channels, n_times)
        In volts, at the tokens' rate.
    """
    codec = load_token_codec(tokens, codec)
    readout = codec.readout if resolve_signal(codec, signal) == "readout" else None
    return detokenize(codec, tokens, stream=stream, chunk_s=chunk_s, batch_size=batch_size,
                      device=device, readout=readout)


def resolve_signal(codec, signal):
    """Return what ``signal`` means for ``codec``: ``"readout"`` or ``"decoded"``.

    Parameters
    ----------
    codec : Codec
        The codec.
    signal : ``"auto"`` | ``"readout"`` | ``"decoded"``
        See :func:`token_signal`.

    Returns
    -------
    signal : ``"readout"`` | ``"decoded"``

    Raises
    ------
    ValueError
        For another value, or ``"readout"`` with a codec that has none.
    """
    if signal not in SIGNALS:
        raise ValueError(f"signal must be one of {SIGNALS}, got {signal!r}")
    has = getattr(codec, "readout", None) is not None
    if signal == "readout" and not has:
        raise ValueError(
            f"Codec {codec.name or type(codec).__name__!r} has no signal read-out: use "
            "signal='decoded' or 'auto', or fit one (mne_codec.readout.fit_readout) and set "
            "codec.readout.")
    return "readout" if has and signal != "decoded" else "decoded"


def token_covariances(tokens, codec=None, *, bands=DEFAULT_BANDS, signal="auto", stream=False,
                      chunk_s=None, batch_size=256, device="auto"):
    """Band covariances of the signal that tokens code (see :func:`token_signal`).

    Parameters
    ----------
    tokens : Tokens
        Tokens of windows (e.g. from :meth:`CodecTokenizer.tokenize
        <mne_codec.CodecTokenizer.tokenize>` or :meth:`Tokens.load
        <mne_codec.Tokens.load>`).
    codec : str | Codec | None
        The codec that wrote them; None loads the one the tokens name (see
        :func:`load_token_codec`).
    bands : list of (float, float)
        Bands in Hz (see :func:`band_covariances`).
    signal : ``"auto"`` | ``"readout"`` | ``"decoded"``
        The codec's read-out of the signal where it has one (``"auto"``), or
        the decoded signal (see :func:`token_signal`).
    stream : bool
        Decode chunk by chunk (streamable codecs; for windows as long as a
        recording, see :func:`~mne_codec.pipeline.decode_stream`).
    chunk_s : float | None
        Chunk length when streaming.
    batch_size : int
        Channel-windows decoded per forward pass.
    device : str
        Device of the decoder.

    Returns
    -------
    covs : ndarray, shape (n_windows, n_bands, n_channels, n_channels)
    """
    codec = load_token_codec(tokens, codec)
    check_bands(bands, tokens.sfreq, tokens.n_times)  # before decoding
    volts = token_signal(tokens, codec, signal=signal, stream=stream, chunk_s=chunk_s,
                         batch_size=batch_size, device=device)
    return band_covariances(volts, tokens.sfreq, bands)


def load_token_codec(tokens, codec=None):
    """Return the codec of ``tokens``: ``codec`` (checked against them), or the one they name.

    Parameters
    ----------
    tokens : Tokens
        Tokens.
    codec : str | Codec | None
        A codec, a name or a path; None: the codec named in ``tokens.codec``.

    Returns
    -------
    codec : Codec
        In inference mode, using as many levels as the tokens have.

    Raises
    ------
    ValueError
        If the codec's fingerprint differs from the one the tokens carry
        (another codec's decoder gives a wrong signal without any error).
    """
    if codec is None:
        name = tokens.codec.get("name") if isinstance(tokens.codec, dict) else None
        if not name:
            raise ValueError("These tokens do not name their codec: pass codec=.")
        codec = name
    if not isinstance(codec, Codec):
        codec = load_codec(codec, verbose=False).prepare_for_inference()
    theirs = tokens.codec.get("fingerprint") if isinstance(tokens.codec, dict) else None
    if theirs is not None and theirs != codec.fingerprint():
        raise ValueError(
            f"These tokens were written by codec {tokens.codec.get('name')!r} (fingerprint "
            f"{theirs}), not by {codec.name!r} (fingerprint {codec.fingerprint()}).")
    return codec


def code_histograms(codes, codebook_size):
    """Normalised code counts per (window, channel, level), flattened per window.

    Parameters
    ----------
    codes : array of int, shape (n_windows, n_channels, n_codebooks, n_frames)
        Codes.
    codebook_size : int
        Codes per level.

    Returns
    -------
    hist : ndarray of float64, shape (n_windows, n_channels * n_codebooks * codebook_size)
    """
    codes = np.asarray(codes)
    n_win, n_ch, n_q, n_fr = codes.shape
    groups = np.arange(n_win * n_ch * n_q).reshape(n_win, n_ch, n_q, 1) * codebook_size
    counts = np.bincount((groups + codes).ravel(), minlength=n_win * n_ch * n_q * codebook_size)
    return (counts.reshape(n_win, -1) / n_fr).astype(np.float64)


def token_features(tokens, codec=None, *, output="tangent", bands=DEFAULT_BANDS,
                   reference=None, signal="auto", batch_size=256, device="auto"):
    """Features of tokens: what :class:`~mne_codec.CodecTokenizer` returns for ``output``.

    Parameters
    ----------
    tokens : Tokens
        Tokens of windows.
    codec : str | Codec | None
        The codec that wrote them (None: the one they name).
    output : ``"tangent"`` | ``"histogram"`` | ``"embedding"`` | ``"tokens"``
        - ``"tangent"``: for each band, the tangent vector of the window's
          spatial covariance (:func:`token_covariances`) at ``reference``,
          concatenated over bands: ``n_bands * n_channels * (n_channels + 1) / 2``
          features;
        - ``"histogram"``: normalised code counts per channel and level
          (:func:`code_histograms`);
        - ``"embedding"``: the time-averaged quantized latent per channel;
        - ``"tokens"``: the codes themselves.
    bands : list of (float, float)
        Bands in Hz of ``"tangent"``.
    reference : array, shape (n_bands, n_channels, n_channels) | None
        The reference point of ``"tangent"`` (e.g. a fitted tokenizer's
        ``reference_``); None: the :func:`riemannian_mean` of these tokens'
        covariances.
    signal : ``"auto"`` | ``"readout"`` | ``"decoded"``
        The signal of ``"tangent"`` (see :func:`token_signal`).
    batch_size, device
        Decoding (``"tangent"``, ``"embedding"``).

    Returns
    -------
    features : ndarray
        ``(n_windows, n_features)``; for ``"tokens"``, the codes
        ``(n_windows, n_channels, n_codebooks, n_frames)``.
    """
    if output not in FEATURE_OUTPUTS:
        raise ValueError(f"output must be one of {FEATURE_OUTPUTS}, got {output!r}")
    if output == "tokens":
        return tokens.codes
    if output == "histogram":
        size = codec.codebook_size if hasattr(codec, "codebook_size") else None
        if size is None:
            size = load_token_codec(tokens, codec).codebook_size
        return code_histograms(tokens.codes, size)
    codec = load_token_codec(tokens, codec)
    if output == "embedding":
        z = quantized_windows(codec, tokens.codes, batch_size=batch_size, device=device)
        return z.mean(-1).reshape(len(z), -1)
    covs = token_covariances(tokens, codec, bands=bands, signal=signal, batch_size=batch_size,
                             device=device)
    if reference is None:
        reference = riemannian_mean(covs)
    return tangent_space(covs, reference)
