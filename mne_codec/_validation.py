"""The one input-validation path: Raw, Epochs or arrays -> windows in volts."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from mne import BaseEpochs
from mne.io import BaseRaw
from mne.utils import _validate_type, logger, warn
from sklearn.utils import check_array

#: median absolute amplitude above which EEG "in volts" is implausible (10 mV)
_MAX_PLAUSIBLE_VOLTS = 1e-2


class Windows(NamedTuple):
    """Validated input."""

    data: np.ndarray
    """Signals in volts, float64, shape (n_windows, n_channels, n_times)."""
    sfreq: float
    ch_names: list | None
    kind: str
    """``"raw"``, ``"epochs"`` or ``"array"``."""
    onsets_s: np.ndarray
    """Onset of each window in seconds, on the time axis of MNE events."""
    picks: np.ndarray | None
    """Indices of the coded channels in the instance (Raw/Epochs)."""
    squeeze: bool
    """True if a 2-D array (single channel) was given."""
    band_limited: bool = False
    """True if ``continuous_filter`` was applied to the whole recording (Raw)."""


def _pick_types(info, ch_types):
    from mne import pick_types

    kw = {t: True for t in ch_types if t != "eeg"}
    picks = pick_types(info, eeg="eeg" in ch_types, exclude=(), **kw)
    if len(picks) == 0:
        present = sorted(set(info.get_channel_types()))
        raise ValueError(
            f"No channel of type {', '.join(ch_types)} in the data (types present: "
            f"{', '.join(present)}). Set the channel types, e.g. raw.set_channel_types()."
        )
    names = [info["ch_names"][p] for p in picks]
    if len(set(names)) != len(names):
        raise ValueError("Duplicated channel names in the data.")
    return picks


def _check_finite(data):
    if not np.all(np.isfinite(data)):
        n_bad = int((~np.isfinite(data)).sum())
        raise ValueError(
            f"Input contains NaN or infinite values ({n_bad} samples). Interpolate or "
            "remove them (e.g. mark BAD_ annotations and reject) before tokenizing."
        )


def _check_units(data):
    if data.size and np.median(np.abs(data)) > _MAX_PLAUSIBLE_VOLTS:
        warn(
            "The median absolute amplitude is above 10 mV: the data look like they are in "
            "microvolts. MNE and mne_codec expect volts; divide by 1e6 if so."
        )


def _check_quality(data, ch_names):
    """Warn about flat and saturated channels (they are coded, but poorly)."""
    flat_ch = np.ptp(data, axis=-1).max(axis=0) == 0 if data.ndim == 3 else None
    names = ch_names or [f"#{i}" for i in range(data.shape[1])]
    flat = [names[i] for i in np.flatnonzero(flat_ch)]
    if flat:
        warn(f"Flat (constant) channels are coded as silence: {flat}")
    # saturation: many samples sitting exactly at the channel's extreme values
    per_ch = data.transpose(1, 0, 2).reshape(data.shape[1], -1)
    hi = (per_ch == per_ch.max(axis=1, keepdims=True)).mean(axis=1)
    lo = (per_ch == per_ch.min(axis=1, keepdims=True)).mean(axis=1)
    clipped = [names[i] for i in np.flatnonzero(np.maximum(hi, lo) > 0.01) if names[i] not in flat]
    if clipped and per_ch.shape[1] >= 100:
        warn(f"Channels look clipped or saturated (over 1 % of samples at their extreme "
             f"value): {clipped}")


def _raw_windows(raw, picks, window_s, pad_tail, reject_by_annotation=False,
                 continuous_filter=None):
    sfreq = raw.info["sfreq"]
    n_win_samples = int(round(window_s * sfreq))
    if n_win_samples < 1:
        raise ValueError(f"window_s={window_s} is shorter than one sample.")
    reject = reject_by_annotation and not pad_tail
    data = raw.get_data(picks=picks)
    # checked before filtering: a high-pass hides flat channels and clipping plateaus
    _check_finite(data)
    _check_units(data)
    _check_quality(data[None], [raw.ch_names[p] for p in picks])
    if continuous_filter is not None:
        # filtering the recording once avoids the edge transients of filtering
        # every window on its own (they dominate the error of a good codec)
        data = continuous_filter(data, sfreq)
    if reject:  # BAD_ segments become NaN; windows that touch them are dropped below
        bad = np.isnan(raw.get_data(picks=picks[:1], reject_by_annotation="NaN"))
        data = np.where(bad, np.nan, data)
    n_total = data.shape[-1]
    n_full, tail = divmod(n_total, n_win_samples)
    if pad_tail and tail:
        # reflect the end so the last window is whole; the caller crops it back
        pad = n_win_samples - tail
        mode = "reflect" if n_total > pad else "edge"
        data = np.pad(data, [(0, 0), (0, pad)], mode=mode)
        n_full += 1
    elif tail:
        logger.info(
            f"Dropping the last {tail / sfreq:.3f} s of the recording: shorter than window_s."
        )
    if n_full == 0:
        raise ValueError(
            f"The recording ({n_total / sfreq:.3f} s) is shorter than one window "
            f"(window_s={window_s})."
        )
    data = data[:, : n_full * n_win_samples]
    windows = data.reshape(len(picks), n_full, n_win_samples).transpose(1, 0, 2)
    # same time axis as MNE events: samples counted from the acquisition start
    onsets = (raw.first_samp + np.arange(n_full) * n_win_samples) / sfreq
    if reject:
        keep = ~np.isnan(windows).any(axis=(1, 2))
        if not keep.all():
            logger.info(f"Skipping {int((~keep).sum())} of {n_full} windows that overlap "
                        "BAD_ annotations.")
        if not keep.any():
            raise ValueError("Every window overlaps a BAD_ annotation: nothing to code.")
        windows, onsets = windows[keep], onsets[keep]
    return np.ascontiguousarray(windows), onsets


def check_input(X, *, sfreq=None, window_s=None, ch_types=("eeg",), pad_tail=False,
                reject_by_annotation=False, continuous_filter=None):
    """Validate Raw, Epochs or an array and return windows in volts.

    Parameters
    ----------
    X : mne.io.Raw | mne.Epochs | array, shape (n_epochs, n_channels, n_times) or (n_epochs, n_times)
        The data. A 2-D array is read as single-channel epochs.
    sfreq : float | None
        Sampling frequency; required for arrays, checked against ``info`` else.
    window_s : float | None
        Window length used to cut a Raw.
    ch_types : tuple of str
        Channel types to pick from Raw/Epochs.
    pad_tail : bool
        For Raw: pad the last partial window (True) or drop it (False).
    reject_by_annotation : bool
        For Raw (and ``pad_tail=False``): skip windows that overlap annotations
        whose description starts with ``"bad"`` (case-insensitive), as MNE does.
    continuous_filter : callable | None
        For Raw: ``f(data, sfreq) -> data`` applied to the whole recording before
        it is cut into windows (the codec's band-pass); the result has
        ``band_limited=True``.

    Returns
    -------
    windows : Windows
    """
    if isinstance(X, (BaseRaw, BaseEpochs)):
        info = X.info
        if sfreq is not None and float(sfreq) != float(info["sfreq"]):
            raise ValueError(
                f"sfreq={sfreq} does not match the data's info['sfreq']={info['sfreq']}."
            )
        picks = _pick_types(info, ch_types)
        ch_names = [info["ch_names"][p] for p in picks]
        bads = [name for name in ch_names if name in info["bads"]]
        if bads:
            warn(f"Channels marked bad are coded too (kept so the channel order is "
                 f"preserved): {bads}")
        if isinstance(X, BaseRaw):
            if window_s is None:
                raise ValueError("window_s is required to cut a Raw into windows.")
            data, onsets = _raw_windows(X, picks, window_s, pad_tail, reject_by_annotation,
                                        continuous_filter)
            kind = "raw"
        else:
            if len(X) == 0:
                raise ValueError("The Epochs are empty (all epochs dropped?).")
            data = np.asarray(X.get_data(picks=picks), dtype=np.float64)
            onsets = X.events[:, 0] / info["sfreq"] + X.tmin
            kind = "epochs"
            _check_finite(data)
            _check_units(data)
            _check_quality(data, ch_names)
        data = np.asarray(data, dtype=np.float64)
        _check_finite(data)  # what remains of a Raw after BAD_ windows are dropped
        band_limited = kind == "raw" and continuous_filter is not None
        return Windows(data, float(info["sfreq"]), ch_names, kind, onsets, picks, False,
                       band_limited)

    if not (isinstance(X, (list, tuple)) or hasattr(X, "__array__")
            or hasattr(X, "toarray")):
        raise TypeError(
            f"X must be an mne.io.Raw, mne.Epochs or an array, got {type(X).__name__}."
        )
    if sfreq is None:
        raise ValueError("sfreq is required when X is an array (pass sfreq=...).")
    _validate_type(sfreq, "numeric", "sfreq")
    if sfreq <= 0:
        raise ValueError(f"sfreq must be positive, got {sfreq}.")
    # scikit-learn's checks give the standard messages for sparse, complex,
    # object, 1-D and empty input; finiteness is checked below with ours
    data = check_array(X, dtype=np.float64, allow_nd=True, ensure_all_finite=False,
                       ensure_min_features=1, accept_sparse=False)
    squeeze = data.ndim == 2
    if squeeze:
        data = data[:, None, :]
    if data.ndim != 3:
        raise ValueError(
            "X must have shape (n_epochs, n_channels, n_times) or (n_epochs, n_times), "
            f"got {data.shape}."
        )
    if 0 in data.shape:
        raise ValueError(f"X is empty: shape {data.shape}.")
    data = np.ascontiguousarray(data, dtype=np.float64)
    _check_finite(data)
    _check_units(data)
    _check_quality(data, None)
    onsets = np.arange(len(data)) * data.shape[-1] / float(sfreq)
    return Windows(data, float(sfreq), None, "array", onsets, None, squeeze)
