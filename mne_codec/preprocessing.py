"""Preprocessing declared per codec, applied identically at training and inference.

Every codec carries a :class:`Preprocessing` that says which channel types it
reads, its sampling rate, its band-pass and how amplitudes are scaled. The
same two functions serve the transformers, the training crops, the
braindecode modules and the CLI: :func:`preprocess` (volts -> codec units,
with the scales kept, per window and channel) and :func:`restore` (codec
units -> volts at the input rate). A continuous recording is band-passed as
a whole (:func:`band_limit`) before it is cut into windows; the training
crops (:mod:`mne_codec.training.data`) are cut and preprocessed exactly as
:class:`~mne_codec.CodecTokenizer` cuts and preprocesses a Raw.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction

import numpy as np
import torch
from mne.filter import filter_data, notch_filter, resample
from mne.utils import logger, verbose

__all__ = ["Preprocessing", "preprocess", "restore", "band_limit", "robust_scale", "resample_to"]


@dataclass
class Preprocessing:
    """The preprocessing a codec expects, applied per window and channel.

    Parameters
    ----------
    sfreq : float
        Sampling frequency of the codec in Hz.
    l_freq, h_freq : float | None
        Band-pass edges in Hz of a zero-phase Butterworth filter
        (``None`` disables that edge).
    filter_order : int
        Order of the Butterworth filter (applied forward and backward).
    notch_freqs : tuple of float
        Line-noise frequencies to remove with notch filters (Hz).
    scaling : ``"robust"`` | ``"zscore"`` | None
        Per-window, per-channel amplitude scaling: ``"robust"`` subtracts the
        median and divides by the inter-quartile range (BioCodec), ``"zscore"``
        uses mean and standard deviation. The statistics are kept so that
        reconstructions return to volts.
    clip : float | None
        Clip scaled values to ``[-clip, clip]`` (BioCodec trains with 10).
    ch_types : tuple of str
        Channel types the codec reads (MNE types, e.g. ``"eeg"``).
    unit_scale : float
        Multiply the signals (volts) by this before scaling and clipping,
        e.g. ``1e6`` for a codec that reads microvolts (NeuroRVQ);
        :func:`restore` divides by it.
    """

    sfreq: float = 250.0
    l_freq: float | None = 0.5
    h_freq: float | None = 40.0
    filter_order: int = 4
    notch_freqs: tuple = field(default_factory=tuple)
    scaling: str | None = "robust"
    clip: float | None = 10.0
    ch_types: tuple = ("eeg",)
    unit_scale: float = 1.0

    def to_dict(self):
        """JSON-serialisable dict."""
        d = asdict(self)
        d["notch_freqs"] = list(self.notch_freqs)
        d["ch_types"] = list(self.ch_types)
        return d

    @classmethod
    def from_dict(cls, d):
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["notch_freqs"] = tuple(d.get("notch_freqs", ()))
        d["ch_types"] = tuple(d.get("ch_types", ("eeg",)))
        return cls(**d)


def robust_scale(x, method="robust"):
    """Scale the last axis of ``x`` per leading index.

    Parameters
    ----------
    x : ndarray, shape (..., n_times)
        Signals.
    method : ``"robust"`` | ``"zscore"``
        Median/IQR or mean/std.

    Returns
    -------
    scaled : ndarray
        ``(x - center) / scale``.
    center, scale : ndarray, shape (...)
        The statistics. A flat signal gets ``scale = 0`` (it scales to 0 and
        is restored to its centre).
    """
    if method == "robust":
        q25, center, q75 = np.percentile(x, [25, 50, 75], axis=-1)
        scale = q75 - q25
    elif method == "zscore":
        center, scale = x.mean(-1), x.std(-1)
    else:
        raise ValueError(f"scaling must be 'robust', 'zscore' or None, got {method!r}")
    # a flat signal scales to zeros and keeps scale 0, so that its reconstruction
    # is exactly its centre (a decoder's output for silence is never amplified)
    divisor = np.where(scale > 0, scale, 1.0)
    return (x - center[..., None]) / divisor[..., None], center, scale


def resample_to(x, sfreq, new_sfreq):
    """Polyphase resampling of the last axis from ``sfreq`` to ``new_sfreq``."""
    if float(sfreq) == float(new_sfreq):
        return x
    ratio = Fraction(float(new_sfreq) / float(sfreq)).limit_denominator(1000)
    return resample(x, up=ratio.numerator, down=ratio.denominator, axis=-1,
                    method="polyphase", verbose=False)


def _band_pass(x, sfreq, prep):
    nyq = sfreq / 2.0
    h_freq = prep.h_freq
    if h_freq is not None and h_freq >= nyq:
        logger.info(f"Skipping the {h_freq} Hz low-pass: the data are sampled at {sfreq} Hz.")
        h_freq = None
    if prep.l_freq is None and h_freq is None:
        return x
    iir = dict(order=prep.filter_order, ftype="butter", output="sos")
    return filter_data(x, sfreq, prep.l_freq, h_freq, method="iir", iir_params=iir,
                       copy=True, verbose=False)


def _notch(x, sfreq, prep):
    freqs = [f for f in prep.notch_freqs if f < sfreq / 2.0]
    if not freqs:
        return x
    # one frequency at a time: MNE's IIR notch takes a single stop-band
    for freq in freqs:
        x = notch_filter(x, sfreq, freq, method="iir", verbose=False)
    return x


def band_limit(data, sfreq, prep):
    """Apply the codec's notch and band-pass filters at the data's own rate.

    This is the signal a codec reconstruction should be compared with: the
    codec never sees what its filters remove.

    Parameters
    ----------
    data : ndarray, shape (..., n_times)
        Signals.
    sfreq : float
        Their sampling frequency.
    prep : Preprocessing
        The codec's preprocessing.

    Returns
    -------
    filtered : ndarray of float64, same shape
    """
    return _band_pass(_notch(np.asarray(data, dtype=np.float64), sfreq, prep), sfreq, prep)


#: pairs of rates whose resampling was announced in this process
_RESAMPLING_SAID = set()


@verbose
def preprocess(data, sfreq, prep, *, resample=True, band_limited=False, verbose=None):
    """Bring windows of EEG in volts to what a codec reads.

    Parameters
    ----------
    data : ndarray, shape (n_windows, n_channels, n_times)
        Signals in volts.
    sfreq : float
        Their sampling frequency.
    prep : Preprocessing
        The codec's preprocessing.
    resample : bool
        Whether resampling to ``prep.sfreq`` is allowed. If False and the
        rates differ, a ValueError is raised. If True, the resampling is
        announced (at ``"INFO"``) once per process and pair of rates, not at
        every call: a cross-validation calls this at every fit and transform
        of every fold, on new estimators (clones).
    band_limited : bool
        The data were already filtered with :func:`band_limit` (e.g. a whole
        recording before windowing): skip the filters.
    %(verbose)s

    Returns
    -------
    x : ndarray of float32, shape (n_windows, n_channels, n_times_codec)
        Filtered, resampled and scaled signals.
    center, scale : ndarray of float64, shape (n_windows, n_channels)
        Scaling statistics in volts times ``prep.unit_scale`` (zeros and ones
        if ``prep.scaling`` is None).
    """
    data = np.asarray(data, dtype=np.float64)
    if float(sfreq) != float(prep.sfreq) and not resample:
        raise ValueError(
            f"The data are sampled at {sfreq} Hz but the codec expects {prep.sfreq} Hz. "
            "Resample them first (e.g. raw.resample) or pass resample=True."
        )
    x = data if band_limited else band_limit(data, sfreq, prep)
    if float(sfreq) != float(prep.sfreq):
        rates = (float(sfreq), float(prep.sfreq))
        if rates not in _RESAMPLING_SAID:  # once per process: not at every fold and block
            _RESAMPLING_SAID.add(rates)
            logger.info(f"Resampling from {sfreq:g} Hz to the codec's {prep.sfreq:g} Hz "
                        "(said once per pair of rates).")
        x = resample_to(x, sfreq, prep.sfreq)
    if prep.unit_scale != 1.0:
        x = x * prep.unit_scale
    if prep.scaling is None:
        center = np.zeros(x.shape[:-1])
        scale = np.ones(x.shape[:-1])
    else:
        x, center, scale = robust_scale(x, prep.scaling)
    if prep.clip is not None:
        np.clip(x, -prep.clip, prep.clip, out=x)
    return x.astype(np.float32), center, scale


def restore(y, center, scale, prep, sfreq, n_times):
    """Undo the scaling and resampling of :func:`preprocess`.

    Parameters
    ----------
    y : ndarray, shape (n_windows, n_channels, n_times_codec)
        Codec output in scaled units.
    center, scale : ndarray, shape (n_windows, n_channels)
        Statistics returned by :func:`preprocess`.
    prep : Preprocessing
        The codec's preprocessing.
    sfreq : float
        Sampling frequency to return to.
    n_times : int
        Number of samples to return per window (at ``sfreq``).

    Returns
    -------
    out : ndarray of float64, shape (n_windows, n_channels, n_times)
        Signals in volts.
    """
    out = np.asarray(y, dtype=np.float64) * scale[..., None] + center[..., None]
    if prep.unit_scale != 1.0:
        out = out / prep.unit_scale
    out = resample_to(out, prep.sfreq, sfreq)
    if out.shape[-1] >= n_times:
        return out[..., :n_times]
    pad = n_times - out.shape[-1]  # rounding of the rate conversion: edge-pad
    return np.pad(out, [(0, 0)] * (out.ndim - 1) + [(0, pad)], mode="edge")


# -- tensors of windows inside a network (braindecode, pre-training targets) --
def prepare_windows(x, n_times_out, prep, sfreq=None):
    """Windows in volts (..., n_times) as a codec reads them, as a tensor.

    The path of :func:`preprocess` with ``band_limited=True`` (the filters
    belong to the continuous recording), so that a network's input is the
    tokenizer's: resampling to ``n_times_out`` samples, ``unit_scale``, the
    per-window scaling and the clip of ``prep``. No gradient flows to ``x``.

    Parameters
    ----------
    x : torch.Tensor, shape (..., n_times)
        Windows in volts.
    n_times_out : int
        Samples per window at ``prep.sfreq``.
    prep : Preprocessing
        The codec's preprocessing.
    sfreq : float | None
        Rate of ``x``; None: ``prep.sfreq * n_times / n_times_out``.

    Returns
    -------
    out : torch.Tensor of float32, shape (..., n_times_out)
        On the device of ``x``.
    """
    n_in = x.shape[-1]
    sfreq = float(prep.sfreq) * n_in / n_times_out if sfreq is None else float(sfreq)
    data = x.detach().to("cpu", torch.float64).numpy()
    y, _, _ = preprocess(data.reshape(-1, 1, n_in), sfreq, prep, band_limited=True,
                         verbose=False)
    if y.shape[-1] != n_times_out:  # rounding of the rate conversion
        pad = max(n_times_out - y.shape[-1], 0)
        y = np.pad(y, [(0, 0), (0, 0), (0, pad)], mode="edge")[..., :n_times_out]
    return torch.from_numpy(y.reshape(*x.shape[:-1], n_times_out)).to(x.device)
