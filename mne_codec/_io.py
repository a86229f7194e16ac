"""Atomic file writes: a file appears under its final name only when whole."""

from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _umask():
    mask = os.umask(0o022)  # reading the umask means setting it: put it back at once
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path`` that replaces it when the block succeeds.

    The temporary name is unique (concurrent writers never share it) and ends
    in ``.part``; it is removed if the block raises, so an interrupted write
    leaves neither a partial file nor a stray temporary.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp)
    # mkstemp creates 0600; give the file the mode open() would (0666 less the umask),
    # so that a lab's shared corpus is as readable as files np.save writes beside it
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def sha256_file(path):
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
