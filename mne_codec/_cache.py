"""Content-keyed caches of window tokens: on disk and in memory (transformers, torch)."""

from __future__ import annotations

import hashlib
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ._io import atomic_path


def window_key(prefix, row):
    """Hash of a window's samples (exact bytes) and of what else decides its tokens."""
    h = hashlib.blake2b(prefix.encode(), digest_size=20)
    row = np.ascontiguousarray(row)
    h.update(f"{row.dtype.str}{row.shape}".encode())
    h.update(row.tobytes())
    return h.hexdigest()


class DiskTokenCache:
    """Per-window tokens stored as ``.npz`` files under ``location``.

    One file per window, written atomically, so folds of a cross-validation,
    grid-search candidates and later sessions reuse each other's work, and
    an interrupted write never leaves a file that loads.
    """

    def __init__(self, location):
        self.root = Path(location) / "mne_codec_tokens"

    def _path(self, key):
        return self.root / key[:2] / f"{key}.npz"

    def load(self, key, check=None):
        """Return the entry of ``key``, or None if absent or damaged (recompute it).

        ``check(entry)`` may raise ValueError (or return False) for an entry that
        loads but holds impossible values (e.g. codes beyond the codebook).
        """
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as f:
                entry = {k: f[k] for k in f.files}
            if check is not None and check(entry) is False:
                return None
            return entry
        # a damaged entry, whatever its defect (a truncated zip is BadZipFile)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None

    def save(self, key, **arrays):
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as fid:
            np.savez(fid, **arrays)


class MemoryTokenCache:
    """A least-recently-used map of window keys to codes, bounded in bytes."""

    def __init__(self, max_bytes=512 * 2**20):
        self.max_bytes = max_bytes
        self.items = OrderedDict()
        self.n_bytes = 0

    def get(self, key):
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key, value):
        if key in self.items or value.nbytes > self.max_bytes:
            return
        self.items[key] = value
        self.n_bytes += value.nbytes
        while self.n_bytes > self.max_bytes:
            _, old = self.items.popitem(last=False)
            self.n_bytes -= old.nbytes


#: the MNE config key (or environment variable) of the in-process cache's bound, in MiB
CACHE_CONFIG_KEY = "MNE_CODEC_MEMORY_CACHE_MB"
#: its default: 256 MiB, about 2,000 windows of 64 channels x 4 s with the default
#: codec (65 kB of codes and scaling statistics, and 66 kB of covariances in two bands,
#: per window)
DEFAULT_CACHE_MB = 256


def _entry_bytes(entry):
    return sum(v.nbytes for v in entry.values()) + 200  # the key and the dict, roughly


class WindowCache:
    """A thread-safe least-recently-used map of window keys to dicts of arrays.

    Bounded in bytes (the arrays' sizes plus a small overhead per entry): the
    least recently used entries are dropped to stay under the bound, read at
    every insertion from the MNE config key :data:`CACHE_CONFIG_KEY` (MiB;
    0 disables the cache). One instance is shared by every estimator of a
    process, so the clones that cross-validation makes reuse each other's work.
    """

    def __init__(self, max_bytes=None):
        self._max_bytes = max_bytes
        self.items = OrderedDict()
        self.n_bytes = 0
        self._lock = threading.Lock()

    @property
    def max_bytes(self):
        """The bound in bytes (the config key's MiB unless set at construction)."""
        if self._max_bytes is not None:
            return self._max_bytes
        from mne.utils import get_config  # lazy: keeps this module free of MNE

        value = get_config(CACHE_CONFIG_KEY, str(DEFAULT_CACHE_MB))
        try:
            mib = float(value)
        except ValueError:
            raise ValueError(f"The MNE config {CACHE_CONFIG_KEY}={value!r} is not a number "
                             "of MiB (0 disables the cache).") from None
        return int(max(mib, 0.0) * 2**20)

    def get(self, key):
        """Return the entry of ``key`` (a dict of arrays), or None."""
        with self._lock:
            value = self.items.get(key)
            if value is None:
                return None
            self.items.move_to_end(key)
            return value[0]

    def put(self, key, entry):
        """Keep ``entry`` (a dict of arrays, not to be modified afterwards) under ``key``."""
        limit = self.max_bytes
        size = _entry_bytes(entry)
        with self._lock:
            if key in self.items or size > limit:
                self._shrink(limit)
                return
            self.items[key] = (entry, size)
            self.n_bytes += size
            self._shrink(limit)

    def _shrink(self, limit):
        while self.n_bytes > limit and self.items:
            _, (_, size) = self.items.popitem(last=False)
            self.n_bytes -= size

    def clear(self):
        """Drop every entry."""
        with self._lock:
            self.items.clear()
            self.n_bytes = 0
