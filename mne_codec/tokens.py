"""The one token container shared by every output path and the token file."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._io import atomic_path

__all__ = ["Tokens", "TokenFileError", "read_tokens"]

_FORMAT = "mne-codec-tokens"
# 2: optional side information (version-1 files have none and still read)
_VERSION = 2


class TokenFileError(ValueError):
    """A token file that cannot be read as it claims to be: damaged, or not one."""


@dataclass
class Tokens:
    """Codes of windows of multichannel signals, with what is needed to decode them.

    Parameters
    ----------
    codes : ndarray of int16, shape (n_windows, n_channels, n_codebooks, n_frames)
        The tokens. Axis 2 holds the levels in use; for codecs with several
        quantizers, their levels side by side (NeuroRVQ: ``n_branches *
        n_codebooks`` rows, branch-major).
    center, scale : ndarray of float64, shape (n_windows, n_channels)
        Per-window, per-channel scaling statistics in volts (the codec codes
        ``(x - center) / scale``).
    ch_names : list of str | None
        Channel names (None for unnamed array channels).
    sfreq : float
        Sampling frequency of the input in Hz.
    n_times : int
        Samples per window at ``sfreq``.
    n_times_codec : int
        Samples per window at the codec's rate.
    onsets_s : ndarray, shape (n_windows,)
        Window onsets in seconds (time axis of MNE events for Raw/Epochs).
    codec : dict
        Identity of the codec: ``name``, ``family``, ``fingerprint``,
        ``sfreq``, ``frame_rate``, ``codebook_size``.
    side : ndarray of float32, shape (n_windows, n_channels, n_side, n_frames) | None
        Side information of codecs that need more than the codes to decode
        (NeuroRVQ: the mean and standard deviation of ``log1p|FFT|`` of each
        sub-window coded together, repeated over its channels and frames);
        None for the others. See :attr:`side_bits_per_second`.
    """

    codes: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    ch_names: list | None
    sfreq: float
    n_times: int
    n_times_codec: int
    onsets_s: np.ndarray
    codec: dict = field(default_factory=dict)
    side: np.ndarray | None = None

    def __post_init__(self):
        if self.codes.ndim != 4:
            raise ValueError(f"codes must be 4-D, got shape {self.codes.shape}")
        n_win, n_ch = self.codes.shape[:2]
        for name in ("center", "scale"):
            if getattr(self, name).shape != (n_win, n_ch):
                raise ValueError(f"{name} must have shape {(n_win, n_ch)}")
        if self.ch_names is not None and len(self.ch_names) != n_ch:
            raise ValueError("ch_names does not match the number of channels")
        if len(self.onsets_s) != n_win:
            raise ValueError("onsets_s does not match the number of windows")
        # values that would decode to a wrong or empty signal without a word
        for name in ("sfreq", "n_times", "n_times_codec"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if self.codes.dtype.kind not in "iu":
            raise ValueError(f"codes must be integers, got dtype {self.codes.dtype}")
        if self.codes.size and self.codes.min() < 0:
            raise ValueError(f"codes must be >= 0, got {self.codes.min()}")
        size = self.codec.get("codebook_size") if isinstance(self.codec, dict) else None
        if size is not None and self.codes.size and self.codes.max() >= size:
            raise ValueError(f"codes must be < the codec's codebook_size {size}, "
                             f"got {self.codes.max()}")
        if not (np.isfinite(self.center).all() and np.isfinite(self.scale).all()):
            raise ValueError("center and scale must be finite (NaN or inf would decode to "
                             "NaN or inf)")
        if (np.asarray(self.scale) < 0).any():
            raise ValueError("scale must be >= 0 (0: a flat channel)")
        if self.side is not None:
            side = np.asarray(self.side)
            if (side.ndim != 4 or side.shape[:2] != (n_win, n_ch)
                    or side.shape[3] != self.codes.shape[3]):
                raise ValueError(f"side must have shape ({n_win}, {n_ch}, n_side, "
                                 f"{self.codes.shape[3]}), got {side.shape}")
            if side.dtype.kind != "f":
                raise ValueError(f"side must be floating point, got dtype {side.dtype}")
            if not np.isfinite(side).all():
                raise ValueError("side information must be finite")

    def __repr__(self):
        n_win, n_ch, n_q, n_fr = self.codes.shape
        return (f"<Tokens | {n_win} windows x {n_ch} channels x {n_q} codebooks x "
                f"{n_fr} frames, codec {self.codec.get('name')!r}, "
                f"{self.bits_per_second:g} bit/s per channel>")

    @classmethod
    def concatenate(cls, parts):
        """Join Tokens of consecutive windows (e.g. blocks of one recording).

        Parameters
        ----------
        parts : list of Tokens
            Tokens from the same codec, channels and rates.

        Returns
        -------
        tokens : Tokens
        """
        parts = list(parts)
        if not parts:
            raise ValueError("Nothing to concatenate.")
        first = parts[0]
        for p in parts[1:]:
            same = (p.ch_names == first.ch_names and p.sfreq == first.sfreq
                    and p.n_times == first.n_times and p.n_times_codec == first.n_times_codec
                    and p.codec == first.codec and p.codes.shape[1:] == first.codes.shape[1:]
                    and (p.side is None) == (first.side is None))
            if not same:
                raise ValueError("Tokens differ in codec, channels, rate or window length.")
        if len(parts) == 1:
            return first
        return cls(codes=np.concatenate([p.codes for p in parts]),
                   center=np.concatenate([p.center for p in parts]),
                   scale=np.concatenate([p.scale for p in parts]),
                   ch_names=first.ch_names, sfreq=first.sfreq, n_times=first.n_times,
                   n_times_codec=first.n_times_codec,
                   onsets_s=np.concatenate([p.onsets_s for p in parts]), codec=first.codec,
                   side=None if first.side is None else np.concatenate([p.side for p in parts]))

    @property
    def n_codebooks(self):
        """Rows of codes per channel and frame (levels, times branches for NeuroRVQ)."""
        return self.codes.shape[2]

    @property
    def bits_per_second(self):
        """Bits per second and channel of the codes (side information excluded)."""
        return (self.codec["frame_rate"] * self.n_codebooks
                * math.log2(self.codec["codebook_size"]))

    @property
    def side_bits_per_second(self):
        """Bits per second and channel of the side information (float32 values).

        Each sub-window coded together sends ``n_side`` float32 once; this is
        their total over all windows divided by the duration and the number
        of channels (0 without side information). For NeuroRVQ in 5-s
        windows: 19 channels, one sub-window, 64 bits per window, 0.67 bit/s
        per channel; 64 channels, two sub-windows, 0.40 bit/s per channel.
        The sub-windows are counted as the distinct side vectors of each
        window, so two with bit-identical values (e.g. two silent ones)
        count once.
        """
        if self.side is None:
            return 0.0
        n_win, n_ch, n_side, n_fr = self.side.shape
        # one row per token: (window, side values); a sub-window's tokens share theirs
        rows = np.concatenate([np.repeat(np.arange(n_win), n_ch * n_fr)[:, None],
                               self.side.transpose(0, 1, 3, 2).reshape(-1, n_side)], axis=1)
        n_blocks = len(np.unique(rows, axis=0))
        duration_s = n_win * self.n_times / self.sfreq
        return n_blocks * n_side * 32 / (duration_s * n_ch)

    def _meta(self):
        return dict(format=_FORMAT, version=_VERSION, ch_names=self.ch_names,
                    sfreq=self.sfreq, n_times=int(self.n_times),
                    n_times_codec=int(self.n_times_codec), codec=self.codec)

    def save(self, fname, *, overwrite=False):
        """Save to a ``.npz`` file (no pickled objects; written atomically).

        Parameters
        ----------
        fname : path-like
            Target file; ``.npz`` is appended if missing.
        overwrite : bool
            Overwrite an existing file.

        Returns
        -------
        fname : Path
            The file written; read it back with :meth:`Tokens.load`.
        """
        fname = Path(fname)
        if fname.suffix != ".npz":
            fname = fname.with_name(fname.name + ".npz")
        if fname.exists() and not overwrite:
            raise FileExistsError(f"{fname} exists; pass overwrite=True.")
        # atomic: the final name only ever holds a whole file
        with atomic_path(fname) as tmp, open(tmp, "wb") as f:
            extra = {} if self.side is None else {"side": self.side}
            np.savez(f, codes=self.codes, center=self.center, scale=self.scale,
                     onsets_s=self.onsets_s,
                     meta=np.frombuffer(json.dumps(self._meta()).encode(), dtype=np.uint8),
                     **extra)
        return fname

    @classmethod
    def load(cls, fname):
        """Read tokens saved with :meth:`save` (the same as :func:`read_tokens`).

        Parameters
        ----------
        fname : path-like
            The ``.npz`` file; as in :meth:`save`, ``.npz`` may be left out.

        Returns
        -------
        tokens : Tokens
        """
        return read_tokens(fname)


def read_tokens(fname):
    """Read tokens saved with :meth:`Tokens.save`.

    Parameters
    ----------
    fname : path-like
        The ``.npz`` file; as in :meth:`Tokens.save`, ``.npz`` may be left out.

    Returns
    -------
    tokens : Tokens

    Raises
    ------
    TokenFileError
        If the file is damaged or not an mne-codec token file, or its
        contents are inconsistent (e.g. a negative ``sfreq``, NaN scales,
        codes beyond the codec's codebook); a ValueError subclass.

    See Also
    --------
    Tokens.load
    """
    fname = Path(fname)
    if not fname.is_file() and fname.suffix != ".npz":
        fname = fname.with_name(fname.name + ".npz")
    if not fname.is_file():
        raise FileNotFoundError(f"No token file at {fname}")
    try:
        with np.load(fname, allow_pickle=False) as f:
            arrays = {k: f[k] for k in ("codes", "center", "scale", "onsets_s", "meta")}
            side = f["side"] if "side" in f.files else None
        meta = json.loads(arrays.pop("meta").tobytes().decode())
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise ValueError("not an mne-codec token file")
        if int(meta.get("version", 1)) > _VERSION:
            raise ValueError(f"format version {meta['version']} is newer than this "
                             f"mne-codec reads ({_VERSION}); upgrade mne-codec")
        if arrays["codes"].dtype.kind not in "iu":
            raise ValueError(f"codes have dtype {arrays['codes'].dtype}, not integers")
        return Tokens(codes=arrays["codes"], center=arrays["center"], scale=arrays["scale"],
                      ch_names=meta["ch_names"], sfreq=float(meta["sfreq"]),
                      n_times=int(meta["n_times"]), n_times_codec=int(meta["n_times_codec"]),
                      onsets_s=arrays["onsets_s"], codec=dict(meta["codec"]), side=side)
    except Exception as err:  # noqa: BLE001 - any defect of an untrusted file: one error type
        raise TokenFileError(f"{fname} is not a valid mne-codec token file: {err}") from err
