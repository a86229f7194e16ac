"""The one token container shared by every output path and the token file."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._io import atomic_path

__all__ = ["Tokens", "read_tokens"]

_FORMAT = "mne-codec-tokens"
_VERSION = 1


@dataclass
class Tokens:
    """Codes of windows of multichannel signals, with what is needed to decode them.

    Parameters
    ----------
    codes : ndarray of int16, shape (n_windows, n_channels, n_codebooks, n_frames)
        The tokens.
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
                    and p.codec == first.codec and p.codes.shape[1:] == first.codes.shape[1:])
            if not same:
                raise ValueError("Tokens differ in codec, channels, rate or window length.")
        if len(parts) == 1:
            return first
        return cls(codes=np.concatenate([p.codes for p in parts]),
                   center=np.concatenate([p.center for p in parts]),
                   scale=np.concatenate([p.scale for p in parts]),
                   ch_names=first.ch_names, sfreq=first.sfreq, n_times=first.n_times,
                   n_times_codec=first.n_times_codec,
                   onsets_s=np.concatenate([p.onsets_s for p in parts]), codec=first.codec)

    @property
    def n_codebooks(self):
        """Number of codebook levels."""
        return self.codes.shape[2]

    @property
    def bits_per_second(self):
        """Bits per second and channel of the codes (side information excluded)."""
        return (self.codec["frame_rate"] * self.n_codebooks
                * math.log2(self.codec["codebook_size"]))

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
        """
        fname = Path(fname)
        if fname.suffix != ".npz":
            fname = fname.with_name(fname.name + ".npz")
        if fname.exists() and not overwrite:
            raise FileExistsError(f"{fname} exists; pass overwrite=True.")
        # atomic: the final name only ever holds a whole file
        with atomic_path(fname) as tmp, open(tmp, "wb") as f:
            np.savez(f, codes=self.codes, center=self.center, scale=self.scale,
                     onsets_s=self.onsets_s,
                     meta=np.frombuffer(json.dumps(self._meta()).encode(), dtype=np.uint8))
        return fname


def read_tokens(fname):
    """Read tokens saved with :meth:`Tokens.save`.

    Parameters
    ----------
    fname : path-like
        The ``.npz`` file.

    Returns
    -------
    tokens : Tokens
    """
    if not Path(fname).is_file():
        raise FileNotFoundError(f"No token file at {fname}")
    try:
        with np.load(fname, allow_pickle=False) as f:
            arrays = {k: f[k] for k in ("codes", "center", "scale", "onsets_s", "meta")}
        meta = json.loads(arrays.pop("meta").tobytes().decode())
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise ValueError("not an mne-codec token file")
        if arrays["codes"].dtype.kind not in "iu":
            raise ValueError(f"codes have dtype {arrays['codes'].dtype}, not integers")
        return Tokens(codes=arrays["codes"], center=arrays["center"], scale=arrays["scale"],
                      ch_names=meta["ch_names"], sfreq=float(meta["sfreq"]),
                      n_times=int(meta["n_times"]), n_times_codec=int(meta["n_times_codec"]),
                      onsets_s=arrays["onsets_s"], codec=dict(meta["codec"]))
    except Exception as err:  # noqa: BLE001 - any defect of an untrusted file: one error type
        raise ValueError(f"{fname} is not a valid mne-codec token file: {err}") from err
