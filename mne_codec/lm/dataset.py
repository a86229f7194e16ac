"""A PyTorch dataset of token sequences over the shards of a tokenized corpus."""

from __future__ import annotations

import json
import math
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from mne.utils import _validate_type
from torch.utils.data import IterableDataset, get_worker_info

from ..tokens import TokenFileError
from .layouts import get_layout, recording_codes
from .shards import TokenShard

__all__ = ["TokenSequenceDataset", "collate_sequences"]


def _dist_rank_world(rank, world_size):
    """Return (rank, world_size): given, else torch.distributed's, else torchrun's env."""
    if rank is not None or world_size is not None:
        rank, world_size = int(rank or 0), int(world_size or 1)
    elif torch.distributed.is_available() and torch.distributed.is_initialized():
        rank, world_size = torch.distributed.get_rank(), torch.distributed.get_world_size()
    else:
        rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
    return rank, world_size


def _read_corpus(corpus):
    """Shard entries (path, name, record) of a corpus folder, or of a list of shard files."""
    if isinstance(corpus, (str, os.PathLike)) and Path(corpus).is_dir():
        folder = Path(corpus)
        manifest = folder / "manifest.jsonl"
        if not manifest.is_file():
            raise FileNotFoundError(f"{folder} has no manifest.jsonl: is it the output of "
                                    "mne-codec tokenize (tokenize_corpus)?")
        entries = []
        for k, line in enumerate(manifest.read_text().splitlines()):
            try:
                record = json.loads(line)
                path = folder / "shards" / record["shard"]
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(f"{manifest} line {k + 1} is not a shard record: {err}") \
                    from None
            entries.append((path, record))
        return entries
    return [(Path(p), None) for p in corpus]


def _shuffled(indices, size, rng):
    """Yield ``indices`` through a shuffle buffer of ``size`` (0: in order)."""
    if size <= 1:
        yield from indices
        return
    buffer = []
    for i in indices:
        if len(buffer) < size:
            buffer.append(i)
            continue
        j = rng.integers(size)
        yield buffer[j]
        buffer[j] = i
    rng.shuffle(buffer)
    yield from buffer


class TokenSequenceDataset(IterableDataset):
    """Fixed-length token sequences from the shards of a tokenized corpus.

    Each recording's codes (its windows joined, :func:`recording_codes`) are
    read as one sequence in a :class:`Layout`, from ``bos`` to ``eos``; the
    dataset cuts it into sequences of ``seq_len`` steps, either each
    recording on its own (the last piece padded with ``pad``) or, with
    ``packed=True``, all recordings end to end (a sequence then crosses
    recordings, whose ``bos``/``eos`` show where). Shards are memory-mapped
    (:class:`~mne_codec.lm.shards.TokenShard`): a worker holds at most
    ``cache_size`` recordings' sequences, never the corpus.

    Sequences are numbered in a global order (the shards' order, permuted per
    epoch with ``shuffle=True``); sequence ``i`` belongs to rank ``i %
    world_size``, and within a rank to its DataLoader worker ``w`` when ``(i
    // world_size) % num_workers == w``. Every sequence of an epoch is read
    once over all ranks and workers (ranks differ by at most one sequence:
    stop at the shortest rank's count if DDP steps must match).

    Parameters
    ----------
    corpus : path-like | list of path-like
        A folder written by :func:`mne_codec.corpus.tokenize_corpus` (its
        ``manifest.jsonl`` lists the shards), or ``.tokens.npz`` files.
    layout : str | Layout
        ``"flatten"``, ``"channels"``, ``"delay"`` or ``"interleave"``
        (:data:`~mne_codec.lm.LAYOUTS`).
    seq_len : int
        Steps per sequence.
    packed : bool
        Pack recordings end to end instead of padding each one's last piece.
    drop_last : bool
        Drop a recording's (or, packed, the corpus') last, incomplete sequence.
    n_levels : int | None
        Keep the first ``n_levels`` levels of the codes (None: all).
    shuffle : bool
        Permute the shards' order every epoch (seeded by ``seed + epoch``).
    shuffle_buffer : int
        Sequences in the shuffle buffer of each reader (0: no buffer).
    seed : int
        Seed of the permutation and of the buffers.
    epoch : int
        The epoch (as :meth:`set_epoch`).
    rank, world_size : int | None
        This process' rank among ``world_size``; None: from
        :mod:`torch.distributed` when initialised, else ``RANK`` and
        ``WORLD_SIZE`` (set by ``torchrun``), else 0 and 1.
    start_step, batch_size : int
        Resume: skip what a ``DataLoader(dataset, batch_size=batch_size,
        num_workers=...)`` of this rank yielded in its first ``start_step``
        batches of ``epoch`` (its workers take turns, one batch each). Exact
        while every worker still has sequences left (all but the epoch's last
        ``num_workers`` batches).
    verify : ``"size"`` | None
        With a corpus folder, check that each shard has the size its record
        says before reading it (a truncated shard raises an error naming it).
    cache_size : int
        Recordings' sequences kept by each reader.

    Notes
    -----
    Each item is a dict: ``input_ids`` (``torch.long``, shape ``(seq_len,)``
    or ``(seq_len, n_levels)`` for the parallel layouts), ``index`` (the
    sequence's number in the epoch), ``shard`` and ``start`` (the file of
    its first step and the step's position in that recording's sequence),
    ``n_recordings`` (recordings it spans), and that recording's ``ch_names``,
    ``sfreq`` and codec identity (``codec``: name, ``codec_fingerprint``).
    Batch them with :func:`collate_sequences`.
    """

    def __init__(self, corpus, layout="flatten", *, seq_len=1024, packed=False,
                 drop_last=False, n_levels=None, shuffle=False, shuffle_buffer=0, seed=0,
                 epoch=0, rank=None, world_size=None, start_step=0, batch_size=1,
                 verify="size", cache_size=4):
        for key, value, low in (("seq_len", seq_len, 1), ("shuffle_buffer", shuffle_buffer, 0),
                                ("start_step", start_step, 0), ("batch_size", batch_size, 1),
                                ("cache_size", cache_size, 1), ("epoch", epoch, 0)):
            _validate_type(value, "int-like", key)
            if value < low:
                raise ValueError(f"{key} must be >= {low}, got {value}")
        if verify not in ("size", None):
            raise ValueError(f"verify must be 'size' or None, got {verify!r}")
        self.seq_len, self.packed, self.drop_last = int(seq_len), bool(packed), bool(drop_last)
        self.shuffle, self.shuffle_buffer, self.seed = bool(shuffle), int(shuffle_buffer), seed
        self.epoch, self.start_step, self.batch_size = int(epoch), int(start_step), batch_size
        self.verify, self.cache_size = verify, int(cache_size)
        self.rank, self.world_size = _dist_rank_world(rank, world_size)
        self._entries = _read_corpus(corpus)
        if not self._entries:
            raise ValueError(f"no shards in {corpus}")
        first = self._open(0)
        _, _, n_cb, self.frames_per_window = first.shape
        self.n_levels = n_cb if n_levels is None else int(n_levels)
        if not 1 <= self.n_levels <= n_cb:
            raise ValueError(f"n_levels must be in [1, {n_cb}], got {n_levels}")
        self.codec = first.codec
        self.layout = get_layout(layout, self.n_levels, int(self.codec["codebook_size"]))
        self._shapes = [self._shape(k) for k in range(len(self._entries))]
        self._lengths = np.array([self.layout.length(c, w * self.frames_per_window)
                                  for w, c in self._shapes], dtype=np.int64)
        self._cache = OrderedDict()

    def __repr__(self):
        return (f"<TokenSequenceDataset | {len(self._entries)} shards, {self.n_sequences} "
                f"sequences of {self.seq_len} ({self.layout.name}), rank {self.rank}/"
                f"{self.world_size}>")

    # -- shards ------------------------------------------------------------------------
    def _open(self, k):
        path, record = self._entries[k]
        if not path.is_file():
            raise TokenFileError(f"{path} is missing (listed in the corpus' manifest)")
        if self.verify and record is not None and "shard_size" in record:
            size = path.stat().st_size
            if size != record["shard_size"]:
                raise TokenFileError(f"{path} has {size} bytes, its record says "
                                     f"{record['shard_size']}: truncated or overwritten; "
                                     "tokenize the corpus again to redo it")
        return TokenShard(path)

    def _shape(self, k):
        """(n_windows, n_channels) of shard ``k``, from its record or its header."""
        record = self._entries[k][1]
        if record is not None and {"n_windows", "n_channels"} <= set(record):
            return int(record["n_windows"]), int(record["n_channels"])
        return self._open(k).shape[:2]

    def _sequence(self, k):
        """Return the whole sequence of recording ``k`` (from a small cache)."""
        if k in self._cache:
            self._cache.move_to_end(k)
            return self._cache[k]
        shard = self._open(k)
        n_win, n_ch, n_cb, n_fr = shard.shape
        if (n_win, n_ch) != self._shapes[k] or n_fr != self.frames_per_window or \
                n_cb < self.n_levels:
            raise TokenFileError(f"{shard.path} holds codes of shape {shard.shape}, its "
                                 f"record says {self._shapes[k]} windows x channels with "
                                 f"{self.frames_per_window} frames")
        codes = shard.check_codes(np.asarray(shard.codes[:, :, : self.n_levels]))
        meta = {"shard": shard.path.name, "ch_names": shard.ch_names, "sfreq": shard.sfreq,
                "codec": shard.codec.get("name"),
                "codec_fingerprint": shard.codec.get("fingerprint")}
        self._cache[k] = (self.layout.encode(recording_codes(codes)), meta)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return self._cache[k]

    # -- the epoch's sequences -----------------------------------------------------------
    def set_epoch(self, epoch):
        """Set the epoch (the permutation of the shards with ``shuffle``; resets resumption).

        Parameters
        ----------
        epoch : int
        """
        if int(epoch) != self.epoch:
            self.start_step = 0
        self.epoch = int(epoch)

    def _order(self):
        n = len(self._entries)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, self.epoch]).permutation(n)

    def _counts(self, order):
        lengths = self._lengths[order]
        if self.packed:
            total = int(lengths.sum())
            return (total // self.seq_len if self.drop_last
                    else math.ceil(total / self.seq_len)), lengths
        per = lengths // self.seq_len if self.drop_last else -(-lengths // self.seq_len)
        return per, lengths

    @property
    def n_sequences(self):
        """Sequences in an epoch, over all ranks and workers."""
        counts, _ = self._counts(self._order())
        return int(np.sum(counts))

    def __len__(self):
        n = self.n_sequences
        return len(range(self.rank, n, self.world_size))

    def _segments(self, i, order, counts, lengths):
        """Return the (recording, start, stop) pieces of sequence ``i``."""
        if not self.packed:
            ends = np.cumsum(counts)
            j = int(np.searchsorted(ends, i, side="right"))
            start = (i - (ends[j] - counts[j])) * self.seq_len
            return [(int(order[j]), int(start), int(min(start + self.seq_len, lengths[j])))]
        ends = np.cumsum(lengths)
        pos, stop, pieces = i * self.seq_len, (i + 1) * self.seq_len, []
        j = int(np.searchsorted(ends, pos, side="right"))
        while pos < stop and j < len(order):
            begin = ends[j] - lengths[j]
            upto = min(stop, ends[j])
            pieces.append((int(order[j]), int(pos - begin), int(upto - begin)))
            pos, j = upto, j + 1
        return pieces

    def _item(self, i, order, counts, lengths):
        pieces, meta = [], None
        for k, start, stop in self._segments(i, order, counts, lengths):
            seq, m = self._sequence(k)
            meta = meta or {**m, "start": start}
            pieces.append(seq[start:stop])
        ids = np.concatenate(pieces)
        if len(ids) < self.seq_len:  # the last piece of a recording (or of the corpus)
            pad = np.full((self.seq_len - len(ids), *ids.shape[1:]), self.layout.pad_id)
            ids = np.concatenate([ids, pad])
        return {"input_ids": torch.from_numpy(ids), "index": int(i),
                "n_recordings": len(pieces), **meta}

    def _reader(self):
        info = get_worker_info()
        n_workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
        return n_workers, worker

    def __iter__(self):
        order = self._order()
        counts, lengths = self._counts(order)
        n = int(np.sum(counts))
        n_workers, worker = self._reader()
        # a DataLoader's first batch comes from worker 0: resumed at step s, worker 0
        # plays the part of the worker whose turn step s was
        worker = (worker + self.start_step) % n_workers
        # rank r takes i % world_size == r; its workers take turns among those
        first, n_readers = self.rank + worker * self.world_size, self.world_size * n_workers
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, worker])
        skip = len(range(worker, self.start_step, n_workers)) * self.batch_size
        for k, i in enumerate(_shuffled(range(first, n, n_readers), self.shuffle_buffer, rng)):
            if k >= skip:
                yield self._item(i, order, counts, lengths)


def collate_sequences(items):
    """Batch the items of a :class:`TokenSequenceDataset` (``collate_fn`` of a DataLoader).

    Parameters
    ----------
    items : list of dict

    Returns
    -------
    batch : dict
        ``input_ids`` stacked (``(batch, seq_len[, n_levels])``); every other
        key a list, one entry per sequence.
    """
    batch = {"input_ids": torch.stack([it["input_ids"] for it in items])}
    for key in items[0]:
        if key != "input_ids":
            batch[key] = [it[key] for it in items]
    return batch
