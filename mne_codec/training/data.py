"""Training data: random crops of recordings, preprocessed as inference windows.

Every recording is read once, its channels picked and band-passed as a whole
(:func:`~mne_codec.preprocessing.band_limit`, as
:class:`~mne_codec.CodecTokenizer` filters a Raw before cutting it), and kept
at its own rate. Each crop is cut from it at that rate and goes through
:func:`~mne_codec.preprocessing.preprocess` on its own (resampling to the
codec's rate, per-window and per-channel scaling, clipping), so that a
training crop and an inference window over the same samples are the same
model input. Crops are single-channel for the channel-independent codecs
(:class:`RecordingCrops`) and multi-channel, with their electrodes, for the
codecs and models that read channels jointly (:class:`MontageCrops`).

The shipped default codec was trained before this, on crops of recordings
scaled as a whole (one median and IQR per channel over the recording, as the
BioCodec authors do); ``benchmarks/scaling.py`` measures what the difference
does to it (see its model card).
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import NamedTuple

import mne
import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .._validation import pick_codec_channels
from ..channels import channel_indices, channel_positions
from ..preprocessing import Preprocessing, band_limit, preprocess

__all__ = ["MontageCrops", "RecordingCrops", "fixed_crops", "fixed_montage_crops",
           "load_recording"]


def _as_preprocessing(codec_or_prep):
    if isinstance(codec_or_prep, Preprocessing):
        return codec_or_prep
    prep = getattr(codec_or_prep, "preprocessing", None)
    if not isinstance(prep, Preprocessing):
        raise TypeError(
            "Expected a Codec or a Preprocessing, got "
            f"{type(codec_or_prep).__name__}"
        )
    return prep


def _read_picked(source, prep, prepare_raw):
    """Read a recording and pick the codec's channels (a loaded copy of a Raw)."""
    if isinstance(source, mne.io.BaseRaw):
        raw = source.copy().load_data(verbose=False)
    else:
        raw = mne.io.read_raw(Path(source), preload=True, verbose=False)
    if prepare_raw is not None:
        out = prepare_raw(raw)
        raw = raw if out is None else out
    # the codec's types, less channels whose names say they are not EEG (ECG, A2-A1...)
    raw.pick([p for p in pick_codec_channels(raw.info, prep.ch_types)
              if raw.ch_names[p] not in raw.info["bads"]])
    return raw


class _Recording(NamedTuple):
    """A pooled recording: band-passed volts at its own rate, ready to be cropped."""

    data: np.ndarray  # float32 (n_channels, n_times), band-limited, volts
    sfreq: float
    ch_ix: np.ndarray | None = None  # vocabulary indices of the rows (named crops)

    def seconds(self):
        """Channel-seconds (what a crop is drawn proportionally to)."""
        return self.data.shape[0] * self.data.shape[1] / self.sfreq


def _band_limited(source, prep, prepare_raw):
    """Read the codec's channels of a recording, band-passed as a whole, at their own rate."""
    raw = _read_picked(source, prep, prepare_raw)
    data = band_limit(raw.get_data(), raw.info["sfreq"], prep)
    # float32 halves the pool's memory; the crops are preprocessed in float64 again
    return _Recording(data.astype(np.float32), float(raw.info["sfreq"])), list(raw.ch_names)


def _native_length(segment_s, sfreq):
    """Return the samples of a ``segment_s`` window at ``sfreq`` (as the tokenizer cuts a Raw)."""
    return int(round(float(segment_s) * sfreq))


def _prepare_crops(windows, sfreq, prep, n_times):
    """Preprocessed crops (n, n_channels, n_times) of band-limited windows in volts.

    The single path of inference (:func:`~mne_codec.preprocessing.preprocess`
    with ``band_limited=True``, as :class:`~mne_codec.CodecTokenizer` on a
    filtered Raw); where the rate conversion does not give exactly
    ``n_times`` samples (a segment that is no whole number of samples at
    one of the rates) the crop is cut or edge-padded to it.
    """
    x, _, _ = preprocess(np.asarray(windows, dtype=np.float64), sfreq, prep,
                         band_limited=True, verbose=False)
    if x.shape[-1] > n_times:
        x = x[..., :n_times]
    elif x.shape[-1] < n_times:
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, n_times - x.shape[-1])], mode="edge")
    return np.ascontiguousarray(x, dtype=np.float32)


def load_recording(source, preprocessing, prepare_raw=None, *, return_ch_names=False):
    """Read and preprocess one whole recording as a single window.

    The recording is band-passed, resampled and scaled as one window (one
    median and IQR per channel over the whole recording, as
    ``CodecTokenizer(window_s=None)`` does). The training crops
    (:class:`RecordingCrops`, :func:`fixed_crops`...) are not cut from this:
    each crop is scaled on its own, as an inference window.

    Parameters
    ----------
    source : path-like | mne.io.BaseRaw
        A file that :func:`mne.io.read_raw` reads (EDF, BDF, GDF, FIF,
        BrainVision, EEGLAB...) or a Raw object (not modified).
    preprocessing : Codec | Preprocessing
        The codec (or its preprocessing) that decides channel types, rate,
        band and scaling.
    prepare_raw : callable | None
        Called on the Raw before channels are picked, e.g. to fix channel
        types or names; it may modify the Raw in place or return a new one.
    return_ch_names : bool
        Also return the names of the channels kept.

    Returns
    -------
    x : ndarray of float32, shape (n_channels, n_times)
        The recording in the codec's scaled units.
    ch_names : list of str
        Only with ``return_ch_names``.
    """
    prep = _as_preprocessing(preprocessing)
    raw = _read_picked(source, prep, prepare_raw)
    x, _, _ = preprocess(raw.get_data()[None], raw.info["sfreq"], prep, verbose=False)
    return (x[0], list(raw.ch_names)) if return_ch_names else x[0]


def _source_name(source):
    filenames = getattr(source, "filenames", None)
    return str(filenames[0]) if filenames else str(source)


def _dist_rank():
    """(rank, world_size) of torch.distributed, or from torchrun's env."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


class RecordingCrops(IterableDataset):
    """Endless stream of random single-channel crops from recordings.

    Recordings are read and band-passed one at a time (at their own rate)
    and held in a pool of at most ``max_recordings_in_memory``. The stream is
    organised in rounds: in round ``r`` the pool holds the next recordings of
    the (seeded, reshuffled at every pass) file list, and
    ``crops_per_recording`` crops per pooled recording are drawn, a recording
    being picked with a probability proportional to its channel-seconds
    (every channel-second is equally likely). When every file of the shard
    fits in the pool it is loaded once. Each crop of ``segment_s`` is then
    resampled, scaled and clipped on its own by
    :func:`~mne_codec.preprocessing.preprocess`: it is the model input that
    :class:`~mne_codec.CodecTokenizer` makes of a window over the same
    samples.

    Parameters
    ----------
    sources : list of path-like | mne.io.BaseRaw
        Recordings.
    preprocessing : Codec | Preprocessing
        The codec (or its preprocessing): channel types, rate, band, scaling.
    segment_s : float
        Crop length in seconds (at the codec's rate).
    prepare_raw : callable | None
        See :func:`load_recording`.
    max_recordings_in_memory : int
        Size of the pool of preprocessed recordings.
    crops_per_recording : int
        Crops drawn per pooled recording before the pool moves on.
    seed : int
        Seed of the file order and of the crops.
    shard : bool
        Whether each distributed rank and each data-loader worker reads only
        its own share of the files (round-robin after the seeded shuffle).

    Notes
    -----
    The stream is a pure function of ``seed``, the shard and the position,
    so a resumed run can skip what was already consumed without reading the
    crops again (see :meth:`set_resume`).
    """

    def __init__(self, sources, preprocessing, *, segment_s=5.0, prepare_raw=None,
                 max_recordings_in_memory=8, crops_per_recording=256, seed=0, shard=True):
        super().__init__()
        self.sources = list(sources)
        if not self.sources:
            raise ValueError("RecordingCrops needs at least one recording")
        self.prep = _as_preprocessing(preprocessing)
        self.segment_s = float(segment_s)
        # crop length at the codec's rate (what the model reads)
        self.n_times = int(round(self.segment_s * self.prep.sfreq))
        self.prepare_raw = prepare_raw
        self.max_recordings_in_memory = int(max_recordings_in_memory)
        self.crops_per_recording = int(crops_per_recording)
        self.seed = int(seed)
        self.shard = shard
        self._skip_batches = 0
        self._batch_size = 1

    def set_resume(self, n_batches, batch_size):
        """Make the next iteration skip ``n_batches`` already consumed batches.

        With ``W`` data-loader workers, batch ``b`` comes from worker
        ``b % W``; each worker skips its own share.
        """
        self._skip_batches = int(n_batches)
        self._batch_size = int(batch_size)

    def _slot(self):
        rank, world = _dist_rank() if self.shard else (0, 1)
        info = get_worker_info()
        wid, n_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if not self.shard:
            wid, n_workers = 0, 1
        return rank * n_workers + wid, world * n_workers, wid, n_workers

    def _order(self, slot, n_slots, n_pass):
        """File indices of this slot for one pass over the (shuffled) list."""
        rng = np.random.default_rng([self.seed, n_pass])
        order = rng.permutation(len(self.sources))
        mine = order[slot::n_slots]
        if len(mine) == 0:  # fewer files than ranks x workers: share them
            mine = order[[slot % len(order)]]
        return [int(i) for i in mine]

    def __iter__(self):
        slot, n_slots, wid, n_workers = self._slot()
        skip = math.ceil(max(self._skip_batches - wid, 0) / n_workers) * self._batch_size
        first = self._order(slot, n_slots, 0)
        all_fit = len(first) <= self.max_recordings_in_memory
        m = len(first) if all_fit else self.max_recordings_in_memory
        per_round = m * self.crops_per_recording
        round_idx, pos = divmod(skip, per_round)
        cache = {}
        while True:
            if all_fit:
                files = first
            else:
                # round r takes files r*m .. r*m+m-1 of the concatenated passes
                files, k = [], round_idx * m
                while len(files) < m:
                    n_pass, i = divmod(k, len(first))
                    files.append(self._order(slot, n_slots, n_pass)[i])
                    k += 1
            cache = {i: cache[i] if i in cache else self._load(i) for i in files}
            data = [cache[i] for i in files]
            sizes = np.array([d.seconds() for d in data])
            rng = np.random.default_rng([self.seed, slot, round_idx])
            rec = rng.choice(len(data), size=per_round, p=sizes / sizes.sum())
            u_ch = rng.random(per_round)
            u_start = rng.random(per_round)
            for j in range(pos, per_round):
                d = data[rec[j]]
                seg = _native_length(self.segment_s, d.sfreq)  # at the recording's rate
                start = int(u_start[j] * (d.data.shape[1] - seg + 1))
                yield self._crop(d, u_ch[j], start, seg, (self.seed, slot, round_idx, j))
            round_idx += 1
            pos = 0

    def _crop(self, d, u_ch, start, seg, key):
        """One crop: channel ``int(u_ch * n_channels)`` of ``d``, ``seg`` samples from ``start``."""
        ch = int(u_ch * d.data.shape[0])
        x = _prepare_crops(d.data[None, ch:ch + 1, start:start + seg], d.sfreq, self.prep,
                           self.n_times)
        return torch.from_numpy(x[0])

    def _load(self, i):
        d, _ = _band_limited(self.sources[i], self.prep, self.prepare_raw)
        if d.data.shape[0] == 0 or d.data.shape[1] < _native_length(self.segment_s, d.sfreq):
            raise ValueError(
                f"{_source_name(self.sources[i])} has no {list(self.prep.ch_types)} channel "
                f"of at least {self.segment_s:g} s"
            )
        return d


_CHANNEL_SAMPLING = ("random", "neighbours")


def _load_named(source, prep, prepare_raw, min_channels, segment_s):
    """Band-limit a recording; keep the rows named in the channel vocabulary."""
    d, names = _band_limited(source, prep, prepare_raw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        picks, ch_ix = channel_indices(names, unknown="drop")
    if caught:  # say which file it was
        warnings.warn(f"{_source_name(source)}: {caught[0].message}", RuntimeWarning,
                      stacklevel=3)
    x = np.ascontiguousarray(d.data[picks])
    min_times = _native_length(segment_s, d.sfreq)
    if x.shape[0] < min_channels or x.shape[1] < min_times:
        raise ValueError(
            f"{_source_name(source)} has {x.shape[0]} named {list(prep.ch_types)} channels "
            f"of {x.shape[1]} samples; at least {min_channels} of {min_times} are needed"
        )
    return _Recording(x, d.sfreq, ch_ix)


def _sample_channels(ch_ix, n_channels, sampling, distance_scale_m, rng):
    """Positions (sorted) of ``n_channels`` of a recording's channels."""
    n = len(ch_ix)
    if n_channels >= n:
        return np.arange(n)
    if sampling == "random":
        return np.sort(rng.choice(n, n_channels, replace=False))

    pos = channel_positions(ch_ix)
    pivot = int(rng.integers(n))
    dist = np.linalg.norm(pos - pos[pivot], axis=1)
    weight = np.exp(-((dist / distance_scale_m) ** 2))
    weight[pivot] = 0.0
    others = rng.choice(n, n_channels - 1, replace=False, p=weight / weight.sum())
    return np.sort(np.concatenate([[pivot], others]))


class MontageCrops(RecordingCrops):
    """Endless stream of random multi-channel crops with their electrodes.

    Like :class:`RecordingCrops` (same pool, rounds, sharding and resume),
    but every crop holds ``n_channels`` channels of one recording, drawn
    anew for every crop, with their indices in
    :data:`mne_codec.channels.CHANNEL_VOCABULARY`. Items are ``(x, ch_ix)``:
    ``x`` float32 (n_channels, n_times), ``ch_ix`` int64 (n_channels,), in
    the recording's channel order; batches collate to (B, C, T) and (B, C).
    Channels whose names are not 10-05 electrodes are left out (with a
    warning naming the file).

    Parameters
    ----------
    sources : list of path-like | mne.io.BaseRaw
        Recordings.
    preprocessing : Codec | Preprocessing
        The codec (or its preprocessing).
    n_channels : int
        Channels per crop (every recording needs at least that many).
    segment_s : float
        Crop length in seconds (at the codec's rate).
    channel_sampling : ``"random"`` | ``"neighbours"``
        ``"random"``: a uniform subset. ``"neighbours"``: a uniformly drawn
        pivot electrode plus ``n_channels - 1`` others drawn without
        replacement with probability proportional to
        ``exp(-(distance / distance_scale_m) ** 2)``, the distance between 10-05
        positions (MNE's standard montage): local montages around a random
        centre, as DAC-MC's training (Kastrati et al. 2025).
    distance_scale_m : float
        Decay length of the neighbour sampling in metres. With 0.04, an
        electrode 3.5 cm from the pivot (a 10-10 neighbour) weighs 0.47, one
        at 7 cm 0.05 and one at 10 cm 0.002.
    prepare_raw, max_recordings_in_memory, crops_per_recording, seed, shard
        See :class:`RecordingCrops`.
    """

    def __init__(self, sources, preprocessing, *, n_channels, segment_s=5.0,
                 channel_sampling="random", distance_scale_m=0.04, prepare_raw=None,
                 max_recordings_in_memory=8, crops_per_recording=256, seed=0, shard=True):
        super().__init__(sources, preprocessing, segment_s=segment_s, prepare_raw=prepare_raw,
                         max_recordings_in_memory=max_recordings_in_memory,
                         crops_per_recording=crops_per_recording, seed=seed, shard=shard)
        if channel_sampling not in _CHANNEL_SAMPLING:
            raise ValueError(f"channel_sampling must be one of {_CHANNEL_SAMPLING}, "
                             f"got {channel_sampling!r}")
        if int(n_channels) < 1:
            raise ValueError(f"n_channels must be >= 1, got {n_channels!r}")
        self.n_channels = int(n_channels)
        self.channel_sampling = channel_sampling
        self.distance_scale_m = float(distance_scale_m)

    def _crop(self, d, u_ch, start, seg, key):
        rng = np.random.default_rng(list(key))
        keep = _sample_channels(d.ch_ix, self.n_channels, self.channel_sampling,
                                self.distance_scale_m, rng)
        crop = _prepare_crops(d.data[None, keep, start:start + seg], d.sfreq, self.prep,
                              self.n_times)
        return torch.from_numpy(crop[0]), torch.from_numpy(d.ch_ix[keep])

    def _load(self, i):
        return _load_named(self.sources[i], self.prep, self.prepare_raw, self.n_channels,
                           self.segment_s)


def fixed_crops(sources, preprocessing, *, segment_s=5.0, prepare_raw=None,
                max_segments=None, seed=0):
    """Deterministic non-overlapping crops of every channel, for validation.

    Parameters
    ----------
    sources : list of path-like | mne.io.BaseRaw
        Recordings.
    preprocessing : Codec | Preprocessing
        The codec (or its preprocessing).
    segment_s : float
        Crop length in seconds.
    prepare_raw : callable | None
        See :func:`load_recording`.
    max_segments : int | None
        Keep a seeded random subset of at most this many segments (in their
        original order), to bound validation time.
    seed : int
        Seed of that subset.

    Returns
    -------
    crops : torch.Tensor of float32, shape (n_segments, 1, n_times)
        The consecutive windows of each channel, as
        ``CodecTokenizer(window_s=segment_s)`` preprocesses them. Flat
        segments (zero energy after scaling) are left out, since a
        normalised error is undefined for them.
    """
    prep = _as_preprocessing(preprocessing)
    seg = int(round(float(segment_s) * prep.sfreq))
    out = []
    for source in sources:
        d, _ = _band_limited(source, prep, prepare_raw)
        n_native = _native_length(segment_s, d.sfreq)
        n = d.data.shape[1] // n_native
        if n == 0 or d.data.shape[0] == 0:
            continue
        # the recording's consecutive windows, each channel a window of its own
        windows = d.data[:, : n * n_native].reshape(-1, 1, n_native)
        out.append(_prepare_crops(windows, d.sfreq, prep, seg))
    if not out:
        raise ValueError(f"No recording is at least {segment_s:g} s long")
    crops = np.concatenate(out)
    crops = crops[(crops.astype(np.float64) ** 2).sum(axis=(1, 2)) > 1e-8 * seg]
    if max_segments is not None and len(crops) > max_segments:
        keep = np.sort(np.random.default_rng(seed).choice(len(crops), max_segments, replace=False))
        crops = crops[keep]
    return torch.from_numpy(np.ascontiguousarray(crops, dtype=np.float32))


def fixed_montage_crops(sources, preprocessing, *, n_channels, segment_s=5.0,
                        channel_sampling="random", distance_scale_m=0.04, prepare_raw=None,
                        max_segments=None, seed=0):
    """Deterministic multi-channel crops with their electrodes, for validation.

    Every non-overlapping segment of every recording gives one crop of
    ``n_channels`` channels, drawn as in :class:`MontageCrops` with a
    generator seeded by ``(seed, recording, segment)``.

    Parameters
    ----------
    sources : list of path-like | mne.io.BaseRaw
        Recordings.
    preprocessing : Codec | Preprocessing
        The codec (or its preprocessing).
    n_channels, segment_s, channel_sampling, distance_scale_m, prepare_raw
        See :class:`MontageCrops`.
    max_segments : int | None
        Keep a seeded random subset of at most this many crops (in order).
    seed : int
        Seed of the channel draws and of that subset.

    Returns
    -------
    x : torch.Tensor of float32, shape (n_segments, n_channels, n_times)
    ch_ix : torch.Tensor of int64, shape (n_segments, n_channels)
        Indices in :data:`mne_codec.channels.CHANNEL_VOCABULARY`.
    """
    if channel_sampling not in _CHANNEL_SAMPLING:
        raise ValueError(f"channel_sampling must be one of {_CHANNEL_SAMPLING}, "
                         f"got {channel_sampling!r}")
    prep = _as_preprocessing(preprocessing)
    seg = int(round(float(segment_s) * prep.sfreq))
    xs, ixs = [], []
    for r, source in enumerate(sources):
        d = _load_named(source, prep, prepare_raw, int(n_channels), segment_s)
        n_native = _native_length(segment_s, d.sfreq)
        ch_ix = d.ch_ix
        for k in range(d.data.shape[1] // n_native):
            rng = np.random.default_rng([seed, r, k])
            keep = _sample_channels(ch_ix, int(n_channels), channel_sampling,
                                    float(distance_scale_m), rng)
            crop = _prepare_crops(d.data[None, keep, k * n_native:(k + 1) * n_native],
                                  d.sfreq, prep, seg)[0]
            if (crop.astype(np.float64) ** 2).sum() <= 1e-8 * crop.size:
                continue  # flat: a normalised error is undefined
            xs.append(crop)
            ixs.append(ch_ix[keep])
    if not xs:
        raise ValueError(f"No recording is at least {segment_s:g} s long")
    x, ch_ix = np.stack(xs), np.stack(ixs)
    if max_segments is not None and len(x) > max_segments:
        keep = np.sort(np.random.default_rng(seed).choice(len(x), max_segments, replace=False))
        x, ch_ix = x[keep], ch_ix[keep]
    return (torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
            torch.from_numpy(np.ascontiguousarray(ch_ix, dtype=np.int64)))
