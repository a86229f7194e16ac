"""Content-keyed caches of window tokens: on disk (transformers) and in memory (torch)."""

from __future__ import annotations

import hashlib
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
