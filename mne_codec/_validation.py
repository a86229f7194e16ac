"""The one input-validation path: Raw, Epochs or arrays -> windows in volts."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from mne import BaseEpochs, pick_types
from mne._fiff.pick import _picks_to_idx
from mne.annotations import _annotations_starts_stops
from mne.io import BaseRaw
from mne.utils import _validate_type, logger, warn
from sklearn.utils import check_array

from .channels import non_eeg_channels

#: median absolute amplitude above which EEG "in volts" is implausible (10 mV)
_MAX_PLAUSIBLE_VOLTS = 1e-2
#: a Raw is read, filtered and coded in blocks of about this length (seconds)
RAW_BLOCK_S = 300.0


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
    left_out: tuple = ()
    """Channels of the coded types left out because their names say they are not EEG."""


def _pick_channels(info, ch_types, picks=None):
    """Return the channels to code and the names left out by the name rule.

    ``picks=None``: the channels of ``ch_types``, less those typed EEG whose
    names say they are not EEG (:func:`~mne_codec.channels.non_eeg_channels`:
    ECG, EOG, A2-A1...). Otherwise MNE's ``picks`` (names, types, indices),
    taken as given.
    """
    left_out = []
    if picks is None:
        kw = {t: True for t in ch_types if t != "eeg"}
        idx = pick_types(info, eeg="eeg" in ch_types, exclude=(), **kw)
        if "eeg" in ch_types:
            types = info.get_channel_types()  # once, not per channel
            eeg = [info["ch_names"][p] for p in idx if types[p] == "eeg"]
            left_out = non_eeg_channels(eeg)
            idx = np.array([p for p in idx if info["ch_names"][p] not in left_out], int)
        if len(idx) == 0:
            present = sorted(set(info.get_channel_types()))
            raise ValueError(
                f"No channel of type {', '.join(ch_types)} in the data (types present: "
                f"{', '.join(present)}"
                + (f"; left out as not EEG by their names: {left_out}" if left_out else "")
                + "). Set the channel types, e.g. raw.set_channel_types(), or pass picks=."
            )
    else:
        idx = _picks_to_idx(info, picks, exclude=())
    names = [info["ch_names"][p] for p in idx]
    if len(set(names)) != len(names):
        raise ValueError("Duplicated channel names in the data.")
    return idx, left_out


def pick_codec_channels(info, ch_types, picks=None):
    """Return the indices of the channels to code (see :func:`_pick_channels`)."""
    return _pick_channels(info, ch_types, picks)[0]


def _check_finite(data, advice=None, first_s=None):
    """Refuse NaN or inf; ``advice`` says what the user can do that was not done yet."""
    if not np.all(np.isfinite(data)):
        n_bad = int((~np.isfinite(data)).sum())
        at = "" if first_s is None else f", the first at {first_s:.3f} s"
        advice = advice or "Interpolate them, or drop the epochs that hold them"
        raise ValueError(
            f"Input contains NaN or infinite values ({n_bad} samples{at}). {advice} "
            "before tokenizing."
        )


def _fill_gaps(data, gaps):
    """Linearly interpolate, per channel, the samples ``gaps`` (n_times,) of ``data``.

    For NaN inside windows that are skipped anyway (BAD_ annotations): the filter
    applied to the recording must not spread them into the windows around.
    """
    keep = ~gaps
    x = np.flatnonzero(keep)
    for row in data:
        row[gaps] = np.interp(np.flatnonzero(gaps), x, row[keep]) if len(x) else 0.0
    return data


def _bad_windows(raw, k0, k1, n_win):
    """Whether each window ``k0 <= k < k1`` overlaps a BAD_ annotation (as MNE rejects).

    From the annotations alone (as ``raw.get_data(reject_by_annotation=...)``
    finds them): NaN in the data does not make a window bad.
    """
    start, stop = k0 * n_win, k1 * n_win
    bad = np.zeros(stop - start, bool)
    for onset, end in zip(*_annotations_starts_stops(raw, ["BAD"])):
        bad[max(onset, start) - start:max(min(end, stop) - start, 0)] = True
    return bad.reshape(k1 - k0, n_win).any(axis=1)


class _QualityTracker:
    """Flat, clipped and unit checks accumulated over blocks of a recording.

    A Raw is read block by block so that memory does not grow with its length;
    the checks still judge each channel over the whole recording.
    """

    def __init__(self, ch_names, n_channels):
        self.names = ch_names or [f"#{i}" for i in range(n_channels)]
        self.flat = np.ones(n_channels, bool)
        self.hi = np.full(n_channels, -np.inf)
        self.lo = np.full(n_channels, np.inf)
        self.n_hi = np.zeros(n_channels)
        self.n_lo = np.zeros(n_channels)
        self.n_samples = 0
        self.medians = []

    def update(self, data):
        """Add signals of shape (n_windows, n_channels, n_times), unfiltered volts."""
        if data.size == 0:
            return
        self.medians.append(np.median(np.abs(data)))
        # flat: constant within every window (a dead channel at an offset)
        self.flat &= (np.ptp(data, axis=-1) == 0).all(axis=0)
        per_ch = data.transpose(1, 0, 2).reshape(data.shape[1], -1)
        for ext, count, fn, better in ((self.hi, self.n_hi, np.max, np.greater),
                                       (self.lo, self.n_lo, np.min, np.less)):
            block = fn(per_ch, axis=1)
            n_at = (per_ch == block[:, None]).sum(axis=1)
            count[:] = np.where(better(block, ext), n_at,
                                np.where(block == ext, count + n_at, count))
            ext[:] = np.where(better(block, ext), block, ext)
        self.n_samples += per_ch.shape[1]

    def finish(self):
        """Emit the warnings."""
        if self.medians and np.median(self.medians) > _MAX_PLAUSIBLE_VOLTS:
            warn(
                "The median absolute amplitude is above 10 mV: the data look like they are "
                "in microvolts. MNE and mne_codec expect volts; divide by 1e6 if so."
            )
        flat = [self.names[i] for i in np.flatnonzero(self.flat)]
        if flat and self.n_samples:
            warn(f"Flat (constant) channels are coded as silence: {flat}")
        # saturation: many samples sitting exactly at the channel's extreme values
        frac = np.maximum(self.n_hi, self.n_lo) / max(self.n_samples, 1)
        clipped = [self.names[i] for i in np.flatnonzero(frac > 0.01)
                   if self.names[i] not in flat]
        if clipped and self.n_samples >= 100:
            warn(f"Channels look clipped or saturated (over 1 % of samples at their "
                 f"extreme value): {clipped}")


def _check_quality(data, ch_names):
    """Warn about implausible units, flat and saturated channels (coded, but poorly)."""
    tracker = _QualityTracker(ch_names, data.shape[1])
    tracker.update(data)
    tracker.finish()


def filter_margin_samples(continuous_filter, sfreq, rtol=1e-12):
    """Return the samples after which the filter's impulse response falls below ``rtol``.

    Blocks of a recording filtered with this margin on each side match the
    whole recording filtered at once to ``rtol`` (relative).
    """
    n = int(10 * sfreq)
    while True:
        impulse = np.zeros((1, 2 * n + 1))
        impulse[0, n] = 1.0
        h = np.abs(continuous_filter(impulse, sfreq)[0])
        above = np.flatnonzero(h > rtol * h.max())
        reach = max(n - above[0], above[-1] - n) + 1
        if reach < n // 2 or n > 3600 * sfreq:
            return int(reach)
        n *= 4


def _raw_blocks(raw, picks, window_s, pad_tail, reject_by_annotation=None,
                continuous_filter=None, block_s=None):
    """Yield ``(windows, onsets)`` of a Raw, a block of windows at a time.

    Each block is read with a margin on both sides, filtered, and cropped, so
    that it equals the recording filtered at once (to float precision) while
    memory is bounded by the block length, whatever the recording's length.
    """
    sfreq = raw.info["sfreq"]
    n_win = int(round(window_s * sfreq))
    if n_win < 1:
        raise ValueError(f"window_s={window_s} is shorter than one sample.")
    reject = bool(reject_by_annotation) and not pad_tail
    n_total = raw.n_times
    n_full, tail = divmod(n_total, n_win)
    pad = 0
    if pad_tail and tail:
        # reflect the end so the last window is whole; the caller crops it back
        pad = n_win - tail
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
    margin = 0 if continuous_filter is None else filter_margin_samples(continuous_filter, sfreq)
    block_s = RAW_BLOCK_S if block_s is None else block_s
    per_block = max(1, int(block_s * sfreq) // n_win)
    tracker = _QualityTracker([raw.ch_names[p] for p in picks], len(picks))
    n_kept = 0
    for b0 in range(0, n_full, per_block):
        b1 = min(b0 + per_block, n_full)
        start, stop = b0 * n_win, min(b1 * n_win, n_total)
        lo, hi = max(0, start - margin), min(n_total, stop + margin)
        if pad and b1 == n_full:
            lo = max(0, min(lo, n_total - pad - 1))  # enough signal to reflect
        data = raw.get_data(picks=picks, start=lo, stop=hi)
        if reject:
            # the windows that overlap BAD_ annotations, in the block and its margins,
            # are known before the data are checked: NaN inside them is allowed
            k0, k1 = lo // n_win, min(n_full, -(-hi // n_win))
            bad = _bad_windows(raw, k0, k1, n_win)
            idx = np.arange(lo, hi) // n_win - k0
            skipped = np.zeros(hi - lo, bool)
            in_win = idx < k1 - k0  # samples of the dropped tail are never skipped
            skipped[in_win] = bad[idx[in_win]]
            nonfinite = ~np.isfinite(data)
            outside = nonfinite & ~skipped
            if outside.any():
                first = lo + int(np.flatnonzero(outside.any(axis=0))[0])
                _check_finite(data[outside], first_s=(raw.first_samp + first) / sfreq,
                              advice="They lie outside the BAD_ annotations (the windows "
                                     "overlapping those are skipped already): interpolate "
                                     "them, or annotate them as BAD_ too,")
            if nonfinite.any():
                _fill_gaps(data, nonfinite.any(axis=0))
            keep = ~bad[b0 - k0:b1 - k0]
        else:
            nonfinite = ~np.isfinite(data)
            if nonfinite.any():
                first = lo + int(np.flatnonzero(nonfinite.any(axis=0))[0])
                advice = ("Interpolate them (every window is coded)"
                          if reject_by_annotation is None or pad_tail else
                          "Interpolate them, or annotate them as BAD_ and pass "
                          "reject_by_annotation=True (windows overlapping BAD_ annotations "
                          "are then skipped),")
                _check_finite(data, advice, first_s=(raw.first_samp + first) / sfreq)
        # checked before filtering: a high-pass hides flat channels and clipping plateaus
        unfiltered = data[:, start - lo:stop - lo]
        if reject:  # only what is coded: the windows kept
            n_block = (b1 - b0) * n_win
            windows = unfiltered[:, :n_block].reshape(len(picks), b1 - b0, n_win)
            tracker.update(windows.transpose(1, 0, 2)[keep])
        else:
            tracker.update(unfiltered[None])
        if continuous_filter is not None:
            # filtering the recording (not each window) avoids the edge transients
            # of filtering every window on its own (they dominate a codec's error)
            data = continuous_filter(data, sfreq)
        if pad and b1 == n_full:
            mode = "reflect" if data.shape[-1] > pad else "edge"
            data = np.pad(data, [(0, 0), (0, pad)], mode=mode)
        data = data[:, start - lo:start - lo + (b1 - b0) * n_win]
        windows = data.reshape(len(picks), b1 - b0, n_win).transpose(1, 0, 2)
        # same time axis as MNE events: samples counted from the acquisition start
        onsets = (raw.first_samp + np.arange(b0, b1) * n_win) / sfreq
        if reject:  # windows that overlap BAD_ annotations are dropped
            if not keep.all():
                logger.info(f"Skipping {int((~keep).sum())} of {b1 - b0} windows that overlap "
                            "BAD_ annotations.")
            windows, onsets = windows[keep], onsets[keep]
        n_kept += len(windows)
        if len(windows):
            yield np.ascontiguousarray(windows, dtype=np.float64), onsets
    tracker.finish()
    if n_kept == 0:
        raise ValueError("Every window overlaps a BAD_ annotation: nothing to code.")


def iter_input(X, *, sfreq=None, window_s=None, ch_types=("eeg",), pad_tail=False,
               reject_by_annotation=None, continuous_filter=None, block_s=None, picks=None):
    """Validate Raw, Epochs or an array and yield windows in volts, in blocks.

    A Raw yields one :class:`Windows` per block of about ``block_s`` seconds
    (read with ``raw.get_data(start=, stop=)``, so a Raw that is not preloaded
    is never loaded whole); Epochs and arrays yield a single :class:`Windows`.
    Parameters are those of :func:`check_input`, plus ``block_s`` (default
    :data:`RAW_BLOCK_S`).
    """
    parts = None
    if (isinstance(X, (list, tuple)) and len(X)
            and all(isinstance(e, BaseEpochs) for e in X)):
        # scikit-learn's CV splitters index Epochs into a list of one-epoch Epochs
        parts, X = X, X[0]
        for e in parts[1:]:
            if e.ch_names != X.ch_names or e.info["sfreq"] != X.info["sfreq"]:
                raise ValueError("The Epochs in the list differ in channels or sfreq.")
    if isinstance(X, (BaseRaw, BaseEpochs)):
        info = X.info
        if sfreq is not None and float(sfreq) != float(info["sfreq"]):
            raise ValueError(
                f"sfreq={sfreq} does not match the data's info['sfreq']={info['sfreq']}."
            )
        picks, left_out = _pick_channels(info, ch_types, picks)
        ch_names = [info["ch_names"][p] for p in picks]
        bads = [name for name in ch_names if name in info["bads"]]
        if bads:
            warn(f"Channels marked bad are coded too (kept so the channel order is "
                 f"preserved): {bads}")
        meta = dict(sfreq=float(info["sfreq"]), ch_names=ch_names, picks=picks, squeeze=False,
                    left_out=tuple(left_out))
        if isinstance(X, BaseRaw):
            if window_s is None:
                raise ValueError("window_s is required to cut a Raw into windows.")
            for data, onsets in _raw_blocks(X, picks, window_s, pad_tail,
                                            reject_by_annotation, continuous_filter,
                                            block_s):
                yield Windows(data, kind="raw", onsets_s=onsets,
                              band_limited=continuous_filter is not None, **meta)
            return
        parts = parts or [X]
        if sum(len(e) for e in parts) == 0:
            raise ValueError("The Epochs are empty (all epochs dropped?).")
        data = np.concatenate([np.asarray(e.get_data(picks=picks), dtype=np.float64)
                               for e in parts])
        _check_finite(data)
        _check_quality(data, ch_names)
        onsets = np.concatenate([e.events[:, 0] / info["sfreq"] + e.tmin for e in parts])
        yield Windows(data, kind="epochs", onsets_s=onsets, **meta)
        return

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
    _check_quality(data, None)
    onsets = np.arange(len(data)) * data.shape[-1] / float(sfreq)
    yield Windows(data, float(sfreq), None, "array", onsets, None, squeeze)


def check_input(X, *, sfreq=None, window_s=None, ch_types=("eeg",), pad_tail=False,
                reject_by_annotation=None, continuous_filter=None, picks=None):
    """Validate Raw, Epochs or an array and return windows in volts.

    Parameters
    ----------
    X : mne.io.Raw | mne.Epochs | array
        Of shape (n_epochs, n_channels, n_times) or (n_epochs, n_times).
        The data. A 2-D array is read as single-channel epochs.
    sfreq : float | None
        Sampling frequency; required for arrays, checked against ``info`` else.
    window_s : float | None
        Window length used to cut a Raw.
    ch_types : tuple of str
        Channel types to pick from Raw/Epochs (see ``picks``).
    pad_tail : bool
        For Raw: pad the last partial window (True) or drop it (False).
    reject_by_annotation : bool | None
        For Raw (and ``pad_tail=False``): skip windows that overlap annotations
        whose description starts with ``"bad"`` (case-insensitive), as MNE does;
        NaN inside those windows is then allowed. None: as False, for callers
        that code every window (the error about NaN then does not suggest it).
    continuous_filter : callable | None
        For Raw: ``f(data, sfreq) -> data`` applied to the whole recording before
        it is cut into windows (the codec's band-pass); the result has
        ``band_limited=True``.
    picks : str | list | slice | None
        For Raw/Epochs: the channels to code, as MNE's ``picks``. None: those
        of ``ch_types``, less those typed EEG whose names say they are not
        (:func:`~mne_codec.channels.non_eeg_channels`).

    Returns
    -------
    windows : Windows
        All windows at once (see :func:`iter_input` to bound memory).
    """
    blocks = list(iter_input(X, sfreq=sfreq, window_s=window_s, ch_types=ch_types,
                             pad_tail=pad_tail, reject_by_annotation=reject_by_annotation,
                             continuous_filter=continuous_filter, picks=picks))
    if len(blocks) == 1:
        return blocks[0]
    return blocks[0]._replace(data=np.concatenate([b.data for b in blocks]),
                              onsets_s=np.concatenate([b.onsets_s for b in blocks]))
