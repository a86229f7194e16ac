"""Sequence layouts: codes ``(n_channels, n_levels, n_frames)`` <-> token sequences.

A codec writes, for each channel and frame, one code per level of its residual
quantizer, each in ``[0, codebook_size)``. A sequence model reads one stream of
integers. A *layout* says in which order the codes are read, and adds what the
model needs to tell them apart:

- **level offsets**: the code ``c`` of level ``k`` becomes the token
  ``k * codebook_size + c``, so the levels' vocabularies never collide;
- **special tokens** after the ``n_levels * codebook_size`` code tokens:
  ``pad`` (padding, and the empty cells of the delay pattern), ``bos`` and
  ``eos`` (a recording's start and end) and ``sep`` (a channel's start; in
  :class:`InterleavedLayout`, a frame's start).

Every layout encodes a whole recording and decodes exactly what it encoded
(``decode(encode(codes))`` equals ``codes``); ``decode`` refuses a sequence
that does not have its layout's structure.
"""

from __future__ import annotations

import numpy as np
from mne.utils import _validate_type

__all__ = ["Layout", "ChannelStreamLayout", "FlattenLayout", "DelayLayout",
           "InterleavedLayout", "LAYOUTS", "get_layout", "recording_codes"]

#: special tokens, in the order of their ids after the code tokens
SPECIAL_TOKENS = ("pad", "bos", "eos", "sep")


def recording_codes(codes):
    """Join the windows of a recording's codes along time.

    Parameters
    ----------
    codes : array, shape (n_windows, n_channels, n_levels, n_frames)
        :attr:`mne_codec.Tokens.codes` (or a memory map of them).

    Returns
    -------
    codes : ndarray, shape (n_channels, n_levels, n_windows * n_frames)
        The windows one after the other. Windows of a Raw follow each other in
        time except where ``BAD_`` segments were skipped
        (:attr:`mne_codec.Tokens.onsets_s` says where).
    """
    codes = np.asarray(codes)
    if codes.ndim != 4:
        raise ValueError(f"codes must be 4-D (n_windows, n_channels, n_levels, n_frames), "
                         f"got shape {codes.shape}")
    n_win, n_ch, n_lev, n_fr = codes.shape
    return codes.transpose(1, 2, 0, 3).reshape(n_ch, n_lev, n_win * n_fr)


class Layout:
    """How the codes of a recording are read as a sequence of tokens.

    Parameters
    ----------
    n_levels : int
        Levels (codebooks) per frame in the codes.
    codebook_size : int
        Codes per level.

    Attributes
    ----------
    name : str
        The layout's name in :data:`LAYOUTS`.
    width : int
        Tokens per step: 1 for the flat layouts, ``n_levels`` for the parallel
        ones, whose steps hold every level of a frame (a model with one head
        per level).
    vocab_size : int
        ``n_levels * codebook_size`` code tokens and the special tokens.
    pad_id, bos_id, eos_id, sep_id : int
        Ids of the special tokens.
    """

    name = None
    #: whether a step holds every level of a frame (then ``width == n_levels``)
    parallel = False

    def __init__(self, n_levels, codebook_size):
        for key, value in (("n_levels", n_levels), ("codebook_size", codebook_size)):
            _validate_type(value, "int-like", key)
            if int(value) < 1:
                raise ValueError(f"{key} must be >= 1, got {value}")
        self.n_levels = int(n_levels)
        self.codebook_size = int(codebook_size)
        self.n_codes = self.n_levels * self.codebook_size
        self.pad_id, self.bos_id, self.eos_id, self.sep_id = (
            self.n_codes + i for i in range(len(SPECIAL_TOKENS)))
        self.vocab_size = self.n_codes + len(SPECIAL_TOKENS)
        self.width = self.n_levels if self.parallel else 1

    def __repr__(self):
        return (f"<{type(self).__name__} | {self.n_levels} levels x {self.codebook_size} "
                f"codes, vocabulary {self.vocab_size}>")

    def __eq__(self, other):
        return (type(self) is type(other) and self.n_levels == other.n_levels
                and self.codebook_size == other.codebook_size)

    def __hash__(self):
        return hash((type(self), self.n_levels, self.codebook_size))

    # -- what every layout shares ------------------------------------------------------
    def _offset_codes(self, codes):
        """Validate codes (C, K, T); return their token ids (level offsets added, int64)."""
        codes = np.asarray(codes)
        if codes.ndim != 3:
            raise ValueError(f"codes must be 3-D (n_channels, n_levels, n_frames), got shape "
                             f"{codes.shape}")
        if codes.dtype.kind not in "iu":
            raise ValueError(f"codes must be integers, got dtype {codes.dtype}")
        n_ch, n_lev, n_fr = codes.shape
        if n_lev != self.n_levels:
            raise ValueError(f"codes have {n_lev} levels, the layout {self.n_levels}")
        if n_ch < 1 or n_fr < 1:
            raise ValueError(f"codes must have at least one channel and one frame, got shape "
                             f"{codes.shape}")
        if codes.min() < 0 or codes.max() >= self.codebook_size:
            raise ValueError(f"codes must be in [0, {self.codebook_size}), got "
                             f"[{codes.min()}, {codes.max()}]")
        offsets = self.codebook_size * np.arange(self.n_levels, dtype=np.int64)
        return codes.astype(np.int64) + offsets[:, None]

    def _remove_offsets(self, ids, levels):
        """Token ids of known ``levels`` -> codes, checking they belong to those levels."""
        code = ids - levels * self.codebook_size
        if ((code < 0) | (code >= self.codebook_size)).any():
            raise ValueError(f"the sequence does not have the structure of {self.name!r}: "
                             "a token is not a code of the level at its position")
        return code

    def _check_ends(self, seq):
        seq = np.asarray(seq)
        want = 2 if self.parallel else 1
        if seq.ndim != want or (self.parallel and seq.shape[1] != self.width):
            shape = f"(n_steps, {self.width})" if self.parallel else "(n_steps,)"
            raise ValueError(f"a {self.name!r} sequence has shape {shape}, got {seq.shape}")
        if (len(seq) < 2 or not np.all(seq[0] == self.bos_id)
                or not np.all(seq[-1] == self.eos_id)):
            raise ValueError(f"a {self.name!r} sequence starts with bos ({self.bos_id}) and "
                             f"ends with eos ({self.eos_id})")
        return seq[1:-1]

    def _split_blocks(self, body, what):
        """Split on ``sep`` steps at the start of equal blocks -> (n_blocks, block - 1 ...)."""
        is_sep = np.all(body == self.sep_id, axis=1) if body.ndim == 2 else body == self.sep_id
        starts = np.flatnonzero(is_sep)
        if len(starts) == 0 or starts[0] != 0 or len(body) % len(starts):
            raise ValueError(f"the {self.name!r} sequence is not {what} blocks each "
                             f"starting with sep ({self.sep_id})")
        block = len(body) // len(starts)
        if not np.array_equal(starts, np.arange(len(starts)) * block):
            raise ValueError(f"the {self.name!r} sequence has {what} blocks of unequal length")
        return body.reshape(len(starts), block, *body.shape[1:])[:, 1:]

    def level_of(self, ids):
        """Return the level of each token (-1 for special tokens).

        Parameters
        ----------
        ids : ndarray | torch.Tensor of int
            Tokens of this layout, any shape.

        Returns
        -------
        levels : same type and shape as ``ids``
        """
        levels = ids // self.codebook_size
        levels[ids >= self.n_codes] = -1
        return levels

    def length(self, n_channels, n_frames):
        """Return the steps of the sequence of ``n_channels`` x ``n_frames`` codes.

        Parameters
        ----------
        n_channels, n_frames : int

        Returns
        -------
        n_steps : int
        """
        raise NotImplementedError

    def encode(self, codes):
        """Read the codes of a recording as a sequence.

        Parameters
        ----------
        codes : array of int, shape (n_channels, n_levels, n_frames)
            A recording's codes (:func:`recording_codes` joins a Tokens' windows).

        Returns
        -------
        sequence : ndarray of int64, shape (n_steps,) or (n_steps, n_levels)
            ``(n_steps, n_levels)`` for the parallel layouts.
        """
        raise NotImplementedError

    def decode(self, sequence):
        """Recover the codes from a sequence made by :meth:`encode` (its exact inverse).

        Parameters
        ----------
        sequence : array of int
            A whole sequence, ``bos`` to ``eos``.

        Returns
        -------
        codes : ndarray of int64, shape (n_channels, n_levels, n_frames)
        """
        raise NotImplementedError


class FlattenLayout(Layout):
    r"""Each channel in turn, its frames in time, the levels of a frame one after the other.

    One flat stream per recording, ``n_levels`` tokens per frame, for a model
    with one vocabulary and one output head (levels ``a, b, c`` of frame
    ``t`` read ``a_t b_t c_t``)::

        codes (2 channels x 3 levels x 2 frames)   sequence (width 1)
             frame 0 1
        ch0  a:   a0 a1                bos sep a0 b0 c0 a1 b1 c1  sep A0 B0 C0 A1 B1 C1 eos
             b:   b0 b1                    \_______ch0_______/   \_______ch1_______/
             c:   c0 c1
        ch1  A B C (same)

    Length ``2 + n_channels * (1 + n_levels * n_frames)``.
    """

    name = "flatten"

    def length(self, n_channels, n_frames):  # noqa: D102
        return 2 + n_channels * (1 + self.n_levels * n_frames)

    def encode(self, codes):  # noqa: D102
        ids = self._offset_codes(codes)
        n_ch = ids.shape[0]
        blocks = np.concatenate([np.full((n_ch, 1), self.sep_id),
                                 ids.transpose(0, 2, 1).reshape(n_ch, -1)], axis=1)
        return np.concatenate([[self.bos_id], blocks.ravel(), [self.eos_id]]).astype(np.int64)

    def decode(self, sequence):  # noqa: D102
        blocks = self._split_blocks(self._check_ends(sequence), "channel")
        n_ch, n = blocks.shape
        if n % self.n_levels:
            raise ValueError(f"a channel of the {self.name!r} sequence holds {n} tokens, not "
                             f"a multiple of {self.n_levels} levels")
        ids = blocks.reshape(n_ch, n // self.n_levels, self.n_levels).transpose(0, 2, 1)
        return self._remove_offsets(ids, np.arange(self.n_levels)[:, None])


class ChannelStreamLayout(Layout):
    r"""Per-channel streams: each channel in turn, one step per frame with all its levels.

    A step holds the ``n_levels`` tokens of a frame side by side (width
    ``n_levels``), for a model that predicts all levels of the next frame at
    once, one head per level; boundary steps repeat their special token
    across the levels::

        codes (2 channels x 3 levels x 2 frames)   sequence (one column per step, width 3)
             frame 0 1                       bos sep a0 a1 sep A0 A1 eos
        ch0  a:   a0 a1                      bos sep b0 b1 sep B0 B1 eos
             b:   b0 b1                      bos sep c0 c1 sep C0 C1 eos
             c:   c0 c1                          \_ch0_/ \_ch1_/
        ch1  A B C (same)

    Length ``2 + n_channels * (1 + n_frames)`` steps.
    """

    name = "channels"
    parallel = True

    def length(self, n_channels, n_frames):  # noqa: D102
        return 2 + n_channels * (1 + n_frames)

    def encode(self, codes):  # noqa: D102
        ids = self._offset_codes(codes).transpose(0, 2, 1)  # (C, T, K)
        n_ch = ids.shape[0]
        blocks = np.concatenate([np.full((n_ch, 1, self.width), self.sep_id), ids], axis=1)
        return np.concatenate([np.full((1, self.width), self.bos_id),
                               blocks.reshape(-1, self.width),
                               np.full((1, self.width), self.eos_id)]).astype(np.int64)

    def decode(self, sequence):  # noqa: D102
        blocks = self._split_blocks(self._check_ends(sequence), "channel")  # (C, T, K)
        return self._remove_offsets(blocks.transpose(0, 2, 1), np.arange(self.width)[:, None])


class DelayLayout(Layout):
    r"""MusicGen's delay pattern: per-channel streams, level ``k`` shifted by ``k`` frames.

    As :class:`ChannelStreamLayout`, one step holds ``n_levels`` tokens, but
    the token of level ``k`` at step ``s`` is the code of frame ``s - k``
    (Copet et al. 2023, "Simple and controllable music generation"), so that
    a model predicting one step knows the coarser levels of each frame before
    the finer ones; the cells before a level's first frame and after its
    last hold ``pad``::

        codes (1 channel x 3 levels x 3 frames)    sequence (one column per step, width 3)
             frame 0 1 2                      bos sep a0 a1 a2 pad pad eos
        a:        a0 a1 a2                    bos sep pad b0 b1 b2 pad eos
        b:        b0 b1 b2                    bos sep pad pad c0 c1 c2 eos
        c:        c0 c1 c2

    Length ``2 + n_channels * (n_frames + n_levels)`` steps.
    """

    name = "delay"
    parallel = True

    def length(self, n_channels, n_frames):  # noqa: D102
        return 2 + n_channels * (n_frames + self.n_levels)

    def _grid(self, n_frames):
        """Return the (step, level) indices of the codes in a channel's block, sep excluded."""
        k = np.arange(self.n_levels)
        return np.arange(n_frames)[None, :] + k[:, None], np.broadcast_to(
            k[:, None], (self.n_levels, n_frames))

    def encode(self, codes):  # noqa: D102
        ids = self._offset_codes(codes)  # (C, K, T)
        n_ch, n_lev, n_fr = ids.shape
        grid = np.full((n_ch, 1 + n_fr + n_lev - 1, n_lev), self.pad_id, dtype=np.int64)
        grid[:, 0] = self.sep_id
        steps, levels = self._grid(n_fr)
        grid[:, 1 + steps, levels] = ids
        return np.concatenate([np.full((1, n_lev), self.bos_id), grid.reshape(-1, n_lev),
                               np.full((1, n_lev), self.eos_id)]).astype(np.int64)

    def decode(self, sequence):  # noqa: D102
        blocks = self._split_blocks(self._check_ends(sequence), "channel")  # (C, T+K-1, K)
        n_fr = blocks.shape[1] - self.n_levels + 1
        if n_fr < 1:
            raise ValueError(f"a channel of the {self.name!r} sequence is shorter than its "
                             "delays")
        steps, levels = self._grid(n_fr)
        empty = np.ones(blocks.shape[1:], dtype=bool)
        empty[steps, levels] = False
        if not np.all(blocks[:, empty] == self.pad_id):
            raise ValueError(f"the {self.name!r} sequence has tokens where its delays leave "
                             "pad")
        return self._remove_offsets(blocks[:, steps, levels], levels)


class InterleavedLayout(Layout):
    r"""Channel-interleaved, for joint models: frame by frame, every channel's levels.

    One flat stream per recording: each frame starts with ``sep``, then holds
    the levels of channel 0, of channel 1, and so on, so that a model sees
    every channel at a time before the next time (channels are told apart by
    their place in a frame)::

        codes (2 channels x 3 levels x 2 frames)   sequence (width 1)
             frame 0 1
        ch0  a:   a0 a1                bos sep a0 b0 c0 A0 B0 C0  sep a1 b1 c1 A1 B1 C1 eos
             b:   b0 b1                    \______frame 0______/  \______frame 1______/
             c:   c0 c1
        ch1  A B C (same)

    Length ``2 + n_frames * (1 + n_channels * n_levels)``.
    """

    name = "interleave"

    def length(self, n_channels, n_frames):  # noqa: D102
        return 2 + n_frames * (1 + n_channels * self.n_levels)

    def encode(self, codes):  # noqa: D102
        ids = self._offset_codes(codes)  # (C, K, T)
        n_fr = ids.shape[2]
        blocks = np.concatenate([np.full((n_fr, 1), self.sep_id),
                                 ids.transpose(2, 0, 1).reshape(n_fr, -1)], axis=1)
        return np.concatenate([[self.bos_id], blocks.ravel(), [self.eos_id]]).astype(np.int64)

    def decode(self, sequence):  # noqa: D102
        blocks = self._split_blocks(self._check_ends(sequence), "frame")  # (T, C*K)
        n_fr, n = blocks.shape
        if n % self.n_levels:
            raise ValueError(f"a frame of the {self.name!r} sequence holds {n} tokens, not a "
                             f"multiple of {self.n_levels} levels")
        ids = blocks.reshape(n_fr, n // self.n_levels, self.n_levels).transpose(1, 2, 0)
        return self._remove_offsets(ids, np.arange(self.n_levels)[:, None])


#: layouts by name
LAYOUTS = {cls.name: cls for cls in (ChannelStreamLayout, FlattenLayout, DelayLayout,
                                     InterleavedLayout)}


def get_layout(layout, n_levels, codebook_size):
    """Return a layout from its name (or the layout itself, checked against the codes).

    Parameters
    ----------
    layout : str | Layout
        ``"channels"``, ``"flatten"``, ``"delay"`` or ``"interleave"``
        (:data:`LAYOUTS`), or a :class:`Layout`.
    n_levels, codebook_size : int
        Of the codes.

    Returns
    -------
    layout : Layout
    """
    if isinstance(layout, Layout):
        if (layout.n_levels, layout.codebook_size) != (n_levels, codebook_size):
            raise ValueError(f"{layout!r} does not fit codes of {n_levels} levels x "
                             f"{codebook_size} codes")
        return layout
    _validate_type(layout, str, "layout")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {sorted(LAYOUTS)}, got {layout!r}")
    return LAYOUTS[layout](n_levels, codebook_size)
