"""Memory-mapped reading of token shards (the ``.tokens.npz`` files of a corpus).

:meth:`mne_codec.Tokens.save` writes an uncompressed ``.npz`` (``np.savez``):
each array is a ``.npy`` file stored as is in a zip archive, so its bytes lie
at a fixed offset of the shard and can be memory-mapped in place
(``np.load(mmap_mode=...)`` ignores ``mmap_mode`` for ``.npz`` files and reads
each array whole). A member that is compressed (a shard written with
``np.savez_compressed``) is read whole instead, so such shards still read.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import numpy as np

from ..tokens import TokenFileError

_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., name length, extra length


def _npy_member(path, zf, name, size):
    """Return the array of member ``name``, memory-mapped when stored uncompressed."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise TokenFileError(f"{path} is not a valid mne-codec token file: it has no "
                             f"{name!r}") from None
    if info.compress_type != zipfile.ZIP_STORED:
        with zf.open(info) as f:
            return np.lib.format.read_array(f, allow_pickle=False)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        sig, n_name, n_extra = _LOCAL_HEADER.unpack(f.read(_LOCAL_HEADER.size))
        if sig != b"PK\x03\x04":
            raise ValueError(f"member {name!r} has no local header")
        start = info.header_offset + _LOCAL_HEADER.size + n_name + n_extra
        f.seek(start)
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(f)
        offset = f.tell()
    if dtype.hasobject:
        raise ValueError(f"member {name!r} holds Python objects")
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if offset - start + nbytes != info.file_size or offset + nbytes > size:
        raise ValueError(f"member {name!r} is truncated")
    if nbytes == 0:
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                     order="F" if fortran else "C")


class TokenShard:
    """The codes of a token shard, memory-mapped, and its metadata.

    Parameters
    ----------
    path : path-like
        A ``.tokens.npz`` file written by :meth:`mne_codec.Tokens.save` (e.g. by
        :func:`mne_codec.corpus.tokenize_corpus`).

    Attributes
    ----------
    codes : numpy.memmap, shape (n_windows, n_channels, n_codebooks, n_frames)
        Read from disk on access, never loaded whole.
    ch_names : list of str | None
    sfreq : float
    codec : dict
        The codec's identity (``name``, ``family``, ``fingerprint``...).

    Raises
    ------
    TokenFileError
        If the file is truncated, damaged or not a token file; the message
        names the file.
    """

    def __init__(self, path):
        self.path = Path(path)
        try:
            size = self.path.stat().st_size
            with zipfile.ZipFile(self.path) as zf:
                self.codes = _npy_member(self.path, zf, "codes.npy", size)
                with zf.open("meta.npy") as f:
                    meta = np.lib.format.read_array(f, allow_pickle=False)
            meta = json.loads(meta.tobytes().decode())
            if not isinstance(meta, dict) or meta.get("format") != "mne-codec-tokens":
                raise ValueError("not an mne-codec token file")
            if self.codes.ndim != 4 or self.codes.dtype.kind not in "iu":
                raise ValueError(f"codes of shape {self.codes.shape} and dtype "
                                 f"{self.codes.dtype}, not 4-D integers")
            if meta["ch_names"] is not None and len(meta["ch_names"]) != self.codes.shape[1]:
                raise ValueError("ch_names do not match the codes' channels")
        except TokenFileError:
            raise
        except Exception as err:  # noqa: BLE001 - any defect of a shard: one error naming it
            raise TokenFileError(f"{self.path} is not a valid mne-codec token file: "
                                 f"{type(err).__name__}: {err}") from err
        self.ch_names = meta["ch_names"]
        self.sfreq = float(meta["sfreq"])
        self.codec = dict(meta["codec"])

    def __repr__(self):
        return f"<TokenShard | {self.path.name}, codes {self.codes.shape}>"

    @property
    def shape(self):
        """(n_windows, n_channels, n_codebooks, n_frames) of the codes."""
        return tuple(self.codes.shape)

    def check_codes(self, codes):
        """Raise TokenFileError (naming the file) for codes outside the codebook."""
        size = self.codec.get("codebook_size")
        if codes.size and (codes.min() < 0 or (size is not None and codes.max() >= size)):
            raise TokenFileError(f"{self.path} is damaged: codes in [{codes.min()}, "
                                 f"{codes.max()}], outside the codebook [0, {size})")
        return codes

