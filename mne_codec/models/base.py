"""The one codec interface that every codec family implements.

The pipeline, trainer, CLI and benchmarks talk only to :class:`Codec`, and
never ask which family a codec is:

- ``encode(x, ch_names=None)`` maps signals ``(batch, n_channels, n_times)``
  in the codec's scaled units to an :class:`Encoding`: integer codes
  ``(batch, n_channels, n_code_rows, n_frames)`` and the side information the
  family needs to decode them (None for most);
- ``decode(encoding, ch_names=None, n_times=None)`` maps them back to
  ``(batch, n_channels, n_times)``;
- ``forward(x, ch_names=None)`` is the training pass (reconstruction, codes,
  the family's losses);
- ``quantized(codes)`` returns the quantized latent (for embeddings);
- ``preprocessing`` declares what the input must look like (rate, band,
  scaling), ``sfreq``, ``hop_length``, ``frame_rate``, ``codebook_size``;
- ``n_codebooks`` is the number of levels in use, settable at inference with
  :meth:`set_num_codebooks` (fewer levels = fewer bits);
- ``coding_blocks`` and ``pick_channels`` say how a window is cut into the
  pieces coded together and which channels the codec knows.

Codecs that code every channel on its own accept channel names and ignore
them, so one call fits every family.
"""

from __future__ import annotations

import hashlib
import math
import types
import typing
import warnings
from dataclasses import MISSING, fields, is_dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from .. import models  # its FAMILIES, read when unpickling (it imports this module)
from ..preprocessing import Preprocessing
from ..quantization import RVQConfig
from .weights import CheckpointError

__all__ = ["Codec", "ConfigMixin", "CodecStream", "Encoding"]


class Encoding(torch.Tensor):
    """What :meth:`Codec.encode` returns: codes, with the side information to decode them.

    An Encoding is its codes tensor (int64, shape (batch, n_channels,
    n_code_rows, n_frames)), so code written for plain codes keeps working;
    :attr:`side` adds what the family needs besides the codes to decode a
    batch (EnCodec's ``EncodedFrame`` scale; NeuroRVQ's amplitude statistics),
    shape (batch, :attr:`Codec.n_side`), or None. Operations on it (slicing,
    ``.to``, arithmetic) return plain tensors: the side information belongs
    to the whole batch, and a slice of it is no longer an encoding.

    Parameters
    ----------
    codes : torch.Tensor of int
        The codes.
    side : torch.Tensor | None
        Side information, one row per item of the batch.
    """

    # results of operations are plain tensors, not encodings with a stale side
    __torch_function__ = torch._C._disabled_torch_function_impl

    @staticmethod
    def __new__(cls, codes, side=None):  # noqa: D102 (the class docstring)
        enc = torch.Tensor._make_subclass(cls, codes)
        if side is not None and (side.ndim != 2 or side.shape[0] != codes.shape[0]):
            raise ValueError(f"side must have shape ({codes.shape[0]}, n_side), got "
                             f"{tuple(side.shape)}")
        enc.side = side
        return enc

    @property
    def codes(self):
        """The codes as a plain tensor."""
        return self.as_subclass(torch.Tensor)

    def __reduce_ex__(self, protocol):
        return (Encoding, (self.codes.clone(), self.side))


def needs_names(codec, ch_names):
    """Check that a codec that codes channels by name was given their names.

    For the families' ``encode``/``decode``/``forward``/``pick_channels``.

    Parameters
    ----------
    codec : Codec
        The codec (named in the error).
    ch_names : list of str | torch.Tensor | int | None
        What the caller passed (an int: the number of channels of unnamed data).

    Returns
    -------
    ch_names : list of str | torch.Tensor
        ``ch_names``, unchanged.

    Raises
    ------
    ValueError
        If ``ch_names`` is None or a count of channels.
    """
    if ch_names is None or _is_count(ch_names):
        raise ValueError(f"{type(codec).__name__} codes channels jointly by name: pass their "
                         "names (give an mne.io.Raw or mne.Epochs; arrays carry no channel "
                         "names).")
    return ch_names


def _is_count(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def decode_args(codes, args, ch_names, n_times, side):
    """Read :meth:`Codec.decode`'s arguments, including the forms before the one protocol.

    The protocol is ``decode(encoding, ch_names=None, n_times=None, side=None)``.
    Before it, channel-independent codecs took ``decode(codes, n_times)`` and
    named ones ``decode(codes, side, ch_names, n_times)``; both still work,
    with a DeprecationWarning. (Side information is a float tensor or None,
    never a count or channel names, which tells the forms apart.) For the
    families that override ``decode``.

    Parameters
    ----------
    codes : Encoding | torch.Tensor
        The first argument of ``decode``.
    args : tuple
        Its further positional arguments.
    ch_names, n_times, side : object
        Its keyword arguments.

    Returns
    -------
    codes : torch.Tensor
        Plain codes.
    ch_names, n_times, side : object
        As given by keyword or position; ``side`` from the
        :class:`Encoding` when not given.
    """
    old = None
    args = list(args)
    if len(args) == 1 and _is_count(args[0]):
        old = "decode(codes, n_times)"
        n_times = int(args.pop())
    elif len(args) >= 2 and not (args[1] is None or _is_count(args[1])):
        old = "decode(codes, side, ch_names, n_times)"
        side, ch_names, *rest = args
        args = []
        if rest:
            n_times, *args = rest
    elif len(args) == 1 and torch.is_tensor(args[0]) and args[0].is_floating_point():
        old = "decode(codes, side, ch_names=...)"
        side = args.pop()
    elif args:
        ch_names, *args = args
        if args:
            n_times, *args = args
    if args:
        raise TypeError("decode() takes codes, ch_names and n_times (and side=); got "
                        f"{len(args)} more positional arguments")
    if old is not None:
        warnings.warn(f"{old} is deprecated: use decode(encoding, ch_names, n_times) with the "
                      "Encoding from encode (or plain codes and side=...).",
                      DeprecationWarning, stacklevel=3)
    if side is None:
        side = getattr(codes, "side", None)
    if isinstance(codes, Encoding):
        codes = codes.codes
    return codes, ch_names, n_times, side


def fold_weight_norm(module):
    """Replace weight-norm parametrisations by plain weights, in place.

    Used at inference: the normalised weight is then computed once instead of
    at every forward.

    Parameters
    ----------
    module : torch.nn.Module
        Its 1-d convolutions and transposed convolutions are folded.

    Returns
    -------
    module : torch.nn.Module
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)) and parametrize.is_parametrized(m):
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
    return module


def _jsonable(value):
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return value


def _tuples(value):
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _config_class(hint):
    """Return the dataclass of a field annotated ``hint`` (``X`` or ``X | None``), or None."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union,
                                                                   types.UnionType) else (hint,)
    kinds = [h for h in options if isinstance(h, type) and is_dataclass(h)]
    return kinds[0] if len(kinds) == 1 else None


class ConfigMixin:
    """JSON round trip shared by the codec configs (dataclasses).

    Nested configs (``rvq``: :class:`~mne_codec.quantization.RVQConfig`,
    ``preprocessing``: :class:`~mne_codec.preprocessing.Preprocessing`) become
    dicts, tuples become lists; :meth:`from_dict` restores both, turning
    lists back into tuples for fields whose default is a tuple.
    """

    def to_dict(self):
        """JSON-serialisable dict."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.to_dict() if hasattr(value, "to_dict") else _jsonable(value)
        return out

    @classmethod
    def from_dict(cls, d):
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if f.name not in d:
                continue
            if f.name == "rvq":
                d[f.name] = RVQConfig(**d[f.name])
            elif f.name == "preprocessing":
                d[f.name] = Preprocessing.from_dict(d[f.name])
            elif isinstance(d[f.name], dict) and _config_class(hints.get(f.name)) is not None:
                d[f.name] = _config_class(hints[f.name])(**d[f.name])  # e.g. channel_mixing
            else:
                default = f.default if f.default_factory is MISSING else f.default_factory()
                if isinstance(default, tuple):
                    d[f.name] = _tuples(d[f.name])
        return cls(**d)


class Codec(nn.Module):
    """Base class of the codecs of ``mne_codec``.

    Subclasses set ``family``, ``config`` (a dataclass with ``to_dict``),
    ``quantizer`` (:class:`~mne_codec.quantization.ResidualVQ`) and implement
    :meth:`_encode_latent`, :meth:`_decode_latent` and ``hop_length``.

    Notes
    -----
    Every family answers the same calls: ``encode(x, ch_names)`` returns an
    :class:`Encoding`, ``decode(encoding, ch_names, n_times)`` the signals,
    ``forward(x, ch_names)`` the training outputs. How a family reads the
    channels is its own affair, declared by :attr:`channel_policy`:

    - ``"independent"``: every channel is coded on its own, whatever its name
      (BioCodec, DAC); ``ch_names`` is accepted and ignored.
    - ``"named"``: the channels of a window are coded jointly and identified
      by name (NeuroRVQ, DAC-MC); such a family overrides :meth:`encode`,
      :meth:`decode`, :meth:`pick_channels` (which names it knows) and
      :meth:`coding_blocks` (how a window is cut into the sub-windows coded
      together, e.g. to respect a token budget), and may return side
      information (:attr:`n_side` values per coded sub-window).

    :mod:`mne_codec.pipeline` runs any codec on windows of any size through
    these methods alone; no code outside :mod:`mne_codec.models` reads
    :attr:`channel_policy`.
    """

    family = "codec"
    #: ``"independent"`` or ``"named"`` (see Notes)
    channel_policy = "independent"
    #: values of side information per coded sub-window (``"named"`` codecs; 0: none)
    n_side = 0
    #: a channel name that the ``"named"`` codecs know (memory probes)
    _probe_channel = "Cz"
    #: the authors' checkpoint format that :meth:`from_authors_state` reads (the
    #: ``fmt`` of :class:`~mne_codec.checkpoints.CodecInfo`); None: the family has none
    authors_format = None

    def __init__(self):
        super().__init__()
        self._n_codebooks = None
        self.name = None  # set by the checkpoint loader (registry name or path)

    # -- the authors' weights ------------------------------------------------------
    @classmethod
    def is_authors_state(cls, obj):
        """Whether a loaded checkpoint object is in the family's :attr:`authors_format`.

        Parameters
        ----------
        obj : object
            What ``torch.load(path, weights_only=True)`` returned.

        Returns
        -------
        recognised : bool
        """
        return False

    @classmethod
    def from_authors_state(cls, obj, source="checkpoint", **options):
        """Build a model from a checkpoint object in the family's :attr:`authors_format`.

        :mod:`mne_codec.checkpoints` reads the file and calls this; the
        conversion itself is in the family's ``convert`` module.

        Parameters
        ----------
        obj : object
            What ``torch.load(path, weights_only=True)`` returned.
        source : str
            Where it comes from (a path), for the error messages.
        **options
            The family's loading options (``config``...).

        Returns
        -------
        codec : Codec
            Loaded strictly, in eval mode.
        """
        raise CheckpointError(f"The {cls.family} family reads no authors' checkpoint format.")

    # -- description ------------------------------------------------------------
    @property
    def preprocessing(self):
        """The :class:`~mne_codec.preprocessing.Preprocessing` this codec expects."""
        return self.config.preprocessing

    @property
    def sfreq(self):
        """Sampling frequency of the codec in Hz."""
        return float(self.preprocessing.sfreq)

    @property
    def frame_rate(self):
        """Token frames per second and channel."""
        return self.sfreq / self.hop_length

    @property
    def codebook_size(self):
        """Number of codes per level."""
        return self.quantizer.config.codebook_size

    @property
    def max_codebooks(self):
        """Number of levels the codec was trained with."""
        return self.quantizer.n_codebooks

    @property
    def n_codebooks(self):
        """Number of levels in use."""
        return self._n_codebooks or self.max_codebooks

    def set_num_codebooks(self, n_codebooks):
        """Use the first ``n_codebooks`` levels (``None``: all of them)."""
        if n_codebooks is not None:
            self.quantizer._check_n(n_codebooks)
        self._n_codebooks = n_codebooks
        return self

    @property
    def n_code_rows(self):
        """Rows of axis 2 of the codes (levels in use; times branches for NeuroRVQ)."""
        return self.n_codebooks

    def code_rows(self, n_codebooks):
        """Rows of axis 2 of the codes that hold the first ``n_codebooks`` levels."""
        return list(range(n_codebooks))

    @property
    def max_code_rows(self):
        """Rows of axis 2 of the codes with every level."""
        return self.n_code_rows // self.n_codebooks * self.max_codebooks

    def pick_channels(self, ch_names, unknown="raise"):
        """Positions of the channels this codec codes.

        Parameters
        ----------
        ch_names : list of str | int
            Channel names, or the number of channels of data without names
            (arrays), which codecs that code channels by name refuse.
        unknown : ``"raise"`` | ``"drop"``
            What to do with names the codec does not know: raise a
            ValueError, or leave them out with a warning.

        Returns
        -------
        picks : ndarray of int
            Positions in ``ch_names`` of the channels coded, in their order.
            By default every channel (a codec that knows any name).
        """
        return np.arange(ch_names if _is_count(ch_names) else len(ch_names))

    def coding_blocks(self, n_channels, n_times):
        """Sub-windows of a window that are coded together.

        Parameters
        ----------
        n_channels : int
            Channels of the window.
        n_times : int
            Samples of the window at the codec's rate.

        Returns
        -------
        blocks : list of (int, int, int, int)
            ``(ch_start, ch_stop, start, stop)``, covering the window once;
            ``start`` and ``stop`` are samples, multiples of :attr:`hop_length`,
            and ``stop`` may exceed ``n_times`` (the signal is zero-padded up
            to it and the decoded signal trimmed). By default one block: all
            channels and the whole window, which :meth:`encode` pads itself
            (a channel-independent codec codes each channel alone anyway).
        """
        return [(0, int(n_channels), 0, int(n_times))]

    @property
    def bits_per_second(self):
        """Bits per second and channel of the token stream."""
        return self.frame_rate * self.n_codebooks * math.log2(self.codebook_size)

    def n_frames(self, n_times):
        """Return the number of token frames for ``n_times`` samples at the codec's rate."""
        return math.ceil(n_times / self.hop_length)

    def save_pretrained(self, path, **kwargs):
        """Save as a Hub repository folder; see :func:`mne_codec.hub.save_pretrained`."""
        # here, not at the top: mne_codec.hub imports the models (an import cycle)
        from ..hub import save_pretrained

        return save_pretrained(self, path, **kwargs)

    def push_to_hub(self, repo_id, **kwargs):
        """Upload to the Hugging Face Hub; see :func:`mne_codec.hub.push_to_hub`."""
        # here, not at the top: mne_codec.hub imports the models (an import cycle)
        from ..hub import push_to_hub

        return push_to_hub(self, repo_id, **kwargs)

    def fingerprint(self):
        """Short sha256 of the weights and config: identifies the codec in token files.

        Computed once (before any weight-norm folding, which renames tensors).
        """
        if getattr(self, "_fingerprint", None) is not None:
            return self._fingerprint
        h = hashlib.sha256(repr(sorted(self.config.to_dict().items())).encode())
        for key, value in sorted(self.state_dict().items()):
            h.update(key.encode())
            h.update(value.detach().cpu().contiguous().numpy().tobytes())
        self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    # -- the interface ----------------------------------------------------------
    def _encode_latent(self, x):
        """(batch*n_channels, 1, n_times) -> latent (batch*n_channels, dim, n_frames)."""
        raise NotImplementedError

    def _decode_latent(self, z):
        """Latent (batch*n_channels, dim, n_frames) -> (batch*n_channels, 1, n_samples)."""
        raise NotImplementedError

    #: whether each channel's reconstruction reads the other channels' codes
    _decodes_jointly = False

    def _channel_context(self, ch_names, b, c, device):
        """Return what the codec reads of the channels of ``b`` windows of ``c`` channels.

        ``None`` (the default): channels are coded independently and their
        names are ignored. A codec that reads them (e.g. an electrode
        embedding) returns what :meth:`_mix_latent` and
        :meth:`_decode_quantized` take.
        """
        return None

    def _mix_latent(self, z, context, b, c):
        """Return the latent (b * c, dim, n_frames) that the quantizer codes (default: ``z``)."""
        return z

    def _mix_quantized(self, q, context, b, c):
        """Return the quantized latent (b * c, dim, n_frames) that the decoder reads.

        Default: ``q``. A codec whose channels' reconstructions read each
        other's codes mixes them here, frame by frame, so that streams can too.
        """
        return q

    def _decode_quantized(self, q, context, b, c):
        """Signals (b * c, 1, n_samples) of quantized latents (b * c, dim, n_frames)."""
        return self._decode_latent(self._mix_quantized(q, context, b, c))

    #: a :class:`~mne_codec.readout.SignalReadout` of the decoded signal from
    #: :meth:`decoder_input` (features without the decoder), or None
    readout = None

    def _check_readout_support(self):
        # the read-out stands for _decode_latent: a decoder that reads anything else
        # (side information, its own mixing of the quantized latent) has none
        cls = type(self)
        if (self.n_side or cls.decode is not Codec.decode
                or cls._decode_quantized is not Codec._decode_quantized):
            raise ValueError(f"{cls.__name__}'s decoder reads more than the latent of "
                             "decoder_input (side information, or its own mixing of channels): "
                             "it has no linear read-out of its signal.")

    def decoder_input(self, codes, ch_names=None):
        """Return the latent the decoder reads from codes (after any mixing of channels).

        Parameters
        ----------
        codes : torch.Tensor of int, shape (batch, n_channels, n_codebooks, n_frames)
            Codes.
        ch_names : list of str | None
            Channel names, as encoded.

        Returns
        -------
        z : torch.Tensor, shape (batch, n_channels, dim, n_frames)
        """
        self._check_readout_support()
        b, c, k, t = codes.shape
        context = self._channel_context(ch_names, b, c, codes.device)
        q = self._mix_quantized(self.quantizer.decode(codes.reshape(b * c, k, t).long()),
                                context, b, c)
        return q.reshape(b, c, *q.shape[1:])

    def _latent(self, x, ch_names):
        """``(z, context)``: the latent (b * c, dim, n_frames) of ``x`` before quantization."""
        self._check_signal(x)
        b, c, n = x.shape
        context = self._channel_context(ch_names, b, c, x.device)
        z = self._encode_latent(x.reshape(b * c, 1, n))
        return self._mix_latent(z, context, b, c), context

    def _check_signal(self, x):
        if x.ndim != 3:
            raise ValueError("x must have shape (batch, n_channels, n_times), "
                             f"got {tuple(x.shape)}")
        if x.shape[-1] < self.hop_length:
            raise ValueError(
                f"Windows of {x.shape[-1]} samples are shorter than one codec frame "
                f"({self.hop_length} samples at {self.sfreq:g} Hz)."
            )

    def encode(self, x, ch_names=None):
        """Encode signals to codes.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, n_channels, n_times)
            Preprocessed signals (see :attr:`preprocessing`).
        ch_names : list of str | None
            Channel names; ignored by channel-independent codecs (this one).

        Returns
        -------
        encoding : Encoding
            Codes of int64, shape (batch, n_channels, n_codebooks, n_frames);
            no side information.
        """
        b, c, _ = x.shape
        z, _ = self._latent(x, ch_names)
        codes = self.quantizer.encode(z, self.n_codebooks)
        return Encoding(codes.view(b, c, *codes.shape[1:]))

    def quantized_latent(self, x, ch_names=None):
        """Quantized latent of signals, with straight-through gradients to the encoder.

        For fine-tuning the encoder under frozen codebooks (e.g.
        :class:`mne_codec.braindecode.CodecEncoder` with ``freeze=False``):
        the forward value is the quantized latent, the gradient that of the
        encoder's latent.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, n_channels, n_times)
            Preprocessed signals.
        ch_names : list of str | None
            Channel names (ignored by channel-independent codecs).

        Returns
        -------
        z : torch.Tensor, shape (batch, n_channels, dim, n_frames)
        """
        b, c, _ = x.shape
        return self._straight_through(self._latent(x, ch_names)[0], b, c)

    def _straight_through(self, z, b, c):
        """Quantized ``z`` (b * c, dim, n_frames) forward, ``z``'s gradient backward."""
        with torch.no_grad():  # the codebooks stay fixed
            q = self.quantizer.decode(self.quantizer.encode(z, self.n_codebooks))
        return (z + (q - z).detach()).reshape(b, c, *z.shape[1:])

    def quantized(self, codes):
        """Quantized latent of ``codes``: (batch, n_channels, dim, n_frames)."""
        b, c, k, t = codes.shape
        z = self.quantizer.decode(codes.reshape(b * c, k, t))
        return z.view(b, c, *z.shape[1:])

    def decode(self, codes, *args, ch_names=None, n_times=None, side=None):
        """Decode codes to signals.

        Parameters
        ----------
        codes : Encoding | torch.Tensor of int, shape (batch, n_channels, n_codebooks, n_frames)
            What :meth:`encode` returned, or codes of the first
            ``n_codebooks`` levels.
        *args
            ``ch_names`` and then ``n_times`` may be given by position.
        ch_names : list of str | None
            Channel names, as encoded; ignored by channel-independent codecs.
        n_times : int | None
            Trim the output to this many samples (default: ``n_frames * hop``).
        side : torch.Tensor | None
            Side information, if ``codes`` is not an :class:`Encoding` and the
            family has any (:attr:`n_side`).

        Returns
        -------
        x : torch.Tensor, shape (batch, n_channels, n_times)
        """
        codes, ch_names, n_times, side = decode_args(codes, args, ch_names, n_times, side)
        if codes.ndim != 4:
            raise ValueError(
                "codes must have shape (batch, n_channels, n_codebooks, n_frames), "
                f"got {tuple(codes.shape)}"
            )
        if side is not None and not self.n_side:
            raise ValueError(f"{type(self).__name__} has no side information: pass side=None")
        b, c, k, t = codes.shape
        context = self._channel_context(ch_names, b, c, codes.device)
        y = self._decode_quantized(self.quantizer.decode(codes.reshape(b * c, k, t).long()),
                                   context, b, c)
        if n_times is not None:
            y = y[..., :n_times]
        return y.reshape(b, c, y.shape[-1])

    # -- streaming ----------------------------------------------------------------
    @property
    def streamable(self):
        """Whether :meth:`stream` can code chunks exactly as the whole signal.

        True for causal codecs whose every layer keeps the state it needs
        across chunks (BioCodec with ``causal=True``); False otherwise.
        """
        return False

    #: why :meth:`stream` refuses this codec, for its error message
    _why_not_streamable = "it is not causal: its codes at a time depend on later samples"

    def _stream_encode_latent(self, x, state, final):
        """One chunk (batch*n_channels, 1, n) -> the latent frames it completes."""
        raise NotImplementedError

    def _stream_decode_latent(self, z, state, final):
        """One chunk of latent frames -> the samples it completes."""
        raise NotImplementedError

    def stream(self, mode, ch_names=None):
        """Return a stateful encoder or decoder that takes a long signal chunk by chunk.

        Parameters
        ----------
        mode : ``"encode"`` | ``"decode"``
            What the stream does.
        ch_names : list of str | None
            Names of the channels of every chunk, as in :meth:`encode` (read by
            codecs that code channels jointly, ignored by the others).

        Returns
        -------
        stream : CodecStream
            Push consecutive chunks to it (the last one with ``final=True``).

        Raises
        ------
        ValueError
            If the codec is not :attr:`streamable`: its codes at a time depend
            on later samples (non-causal convolutions, e.g. DAC), or it codes
            whole patches of channels jointly (NeuroRVQ), so chunks cannot be
            coded exactly as the whole signal. Code such signals in windows
            (:func:`~mne_codec.pipeline.encode`).
        """
        if mode not in ("encode", "decode"):
            raise ValueError(f"mode must be 'encode' or 'decode', got {mode!r}")
        if not self.streamable:
            raise ValueError(
                f"{type(self).__name__} cannot be streamed exactly ({self._why_not_streamable}), "
                "so chunked codes would differ from whole-signal codes. Code it in windows "
                "instead (pipeline.encode, or the transformers' window_s)."
            )
        return CodecStream(self, mode, ch_names)

    def forward(self, x, ch_names=None, n_codebooks=None):
        """Training forward: returns ``(reconstruction, codes, quantizer_loss)``.

        ``x`` has shape (batch, n_channels, n_times); ``ch_names`` as in
        :meth:`encode` (ignored by channel-independent codecs; per-item
        vocabulary indices (batch, n_channels) for training batches of
        :class:`~mne_codec.training.MontageCrops`); gradients flow through the
        quantizer by the straight-through estimator. Quantizer dropout draws
        one number of levels per window when the channels are decoded
        jointly (:attr:`_decodes_jointly`; inference decodes them all with the
        same levels), per channel otherwise.
        """
        b, c, n = x.shape
        z, context = self._latent(x, ch_names)
        q = self.quantizer(z, n_codebooks, group_size=c if self._decodes_jointly else 1)
        y = self._decode_quantized(q.quantized, context, b, c)[..., :n].reshape(b, c, n)
        return y, q.codes.view(b, c, *q.codes.shape[1:]), q.loss

    def __repr__(self):
        # compact: a codec is a parameter of scikit-learn estimators, whose reprs
        # (and pytest ids) would otherwise print the whole architecture
        n_params = sum(p.numel() for p in self.parameters()) / 1e6
        name = f" {self.name!r}" if self.name else ""
        return (f"<{type(self).__name__}{name} | {self.sfreq:g} Hz, hop {self.hop_length}, "
                f"{self.n_codebooks} x {self.codebook_size} codes, {n_params:.2f} M parameters>")

    # -- pickling ----------------------------------------------------------------
    def __reduce__(self):
        # weight-norm parametrisations cannot be pickled: rebuild from config + weights
        folded = not any(parametrize.is_parametrized(m) for m in self.modules())
        # numpy arrays pickle deterministically (torch storages carry ids), so equal
        # codecs give equal bytes (joblib.hash, scikit-learn's parameter checks)
        state = {k: v.detach().cpu().numpy() for k, v in self.state_dict().items()}
        extra = dict(name=self.name, n_codebooks=self._n_codebooks,
                     meta=getattr(self, "meta", None), training=self.training, folded=folded,
                     fingerprint=self.fingerprint(), readout=self.readout)
        return (_rebuild_codec, (self.family, self.config.to_dict(), state, extra))

    @torch.no_grad()
    def prepare_for_inference(self):
        """Fold weight normalisation into plain weights and switch to eval.

        The folded weight is the tensor the parametrisation computes at every
        call, so codes and outputs are unchanged; it is simply no longer
        recomputed. The model can no longer be trained afterwards (load it
        again for that).
        """
        self.fingerprint()  # of the original parametrisation
        fold_weight_norm(self)
        return self.eval()


class CodecStream:
    """Encode or decode a long signal chunk by chunk (see :meth:`Codec.stream`).

    The stream keeps, between chunks, what each layer needs of the past
    (left context of the causal convolutions, LSTM states, the samples that
    the next frames of a transposed convolution overlap), pads the first
    chunk and the last one as the whole-signal pass pads the signal's ends,
    and so returns the whole-signal output in pieces: with the same
    arithmetic, chunked codes equal the codes of :meth:`Codec.encode` of the
    whole signal, and the decoded signal equals :meth:`Codec.decode`'s to
    float rounding. Memory depends on the chunk, not on the signal's length.

    Parameters
    ----------
    codec : Codec
        A :attr:`~Codec.streamable` codec (its :attr:`~Codec.n_codebooks`
        are read at every chunk).
    mode : ``"encode"`` | ``"decode"``
        What the stream does.
    ch_names : list of str | None
        Names of the channels of every chunk (see :meth:`Codec.encode`).

    Notes
    -----
    A codec that mixes channels (e.g. BioCodec with channel mixing) does so
    frame by frame, so its chunks are coded as the whole signal too, up to a
    code whose two best codewords tie within float rounding (the mixing runs
    on batches of a chunk's frames instead of the whole signal's).
    A piece can hold fewer frames or samples than its chunk (even none) until
    enough of the signal has arrived to pad its start as the whole pass does
    (a few frames' worth for BioCodec); the rest comes with later chunks, and
    all of it by the final one. With chunks of whole frames
    (:attr:`Codec.hop_length` samples) longer than that, every chunk yields
    exactly its own frames (encoding) or samples (decoding).
    """

    def __init__(self, codec, mode, ch_names=None):
        self.codec = codec
        self.mode = mode
        self.ch_names = ch_names
        self._context = None  # what the codec reads of the channels, from the first chunk
        self._state = {}
        self._n_in = 0
        self._closed = False

    def push(self, x, final=False):
        """Code the next chunk.

        Parameters
        ----------
        x : torch.Tensor
            Encoding: signals, shape (batch, n_channels, n_times), in the
            codec's scaled units; decoding: codes, shape (batch, n_channels,
            n_codebooks, n_frames). The same batch and channels at every call.
        final : bool
            Whether this is the last chunk (it may be empty).

        Returns
        -------
        out : torch.Tensor
            The codes (batch, n_channels, n_codebooks, n_frames_out), or the
            signals (batch, n_channels, n_times_out), that this chunk completes.
        """
        if self._closed:
            raise RuntimeError("The stream is closed: its final chunk was pushed.")
        codec = self.codec
        self._closed = final
        if self.mode == "encode":
            if x.ndim != 3:
                raise ValueError("x must have shape (batch, n_channels, n_times), "
                                 f"got {tuple(x.shape)}")
            b, c, n = x.shape
            self._n_in += n
            if final and self._n_in < codec.hop_length:
                raise ValueError(
                    f"A signal of {self._n_in} samples is shorter than one codec frame "
                    f"({codec.hop_length} samples at {codec.sfreq:g} Hz)."
                )
            z = codec._stream_encode_latent(x.reshape(b * c, 1, n), self._state, final)
            if not z.shape[-1]:
                return x.new_zeros(b, c, codec.n_codebooks, 0, dtype=torch.long)
            z = codec._mix_latent(z, self._channel_context(b, c, x.device), b, c)
            codes = codec.quantizer.encode(z, codec.n_codebooks)
            return codes.view(b, c, *codes.shape[1:])
        if x.ndim != 4:
            raise ValueError("codes must have shape (batch, n_channels, n_codebooks, "
                             f"n_frames), got {tuple(x.shape)}")
        b, c, k, t = x.shape
        if t:
            z = codec.quantizer.decode(x.reshape(b * c, k, t).long())
            z = codec._mix_quantized(z, self._channel_context(b, c, x.device), b, c)
        else:
            z = torch.zeros(b * c, codec.quantizer.config.dim, 0, device=x.device)
        y = codec._stream_decode_latent(z, self._state, final)
        return y.reshape(b, c, y.shape[-1])

    def _channel_context(self, b, c, device):
        if self._context is None:
            self._context = self.codec._channel_context(self.ch_names, b, c, device)
        return self._context


def _rebuild_codec(family, config, state, extra):
    model_cls, config_cls = models.FAMILIES[family]
    codec = model_cls(config_cls.from_dict(config))
    if extra["folded"]:
        codec.prepare_for_inference()
    codec.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    codec.name = extra["name"]
    codec._fingerprint = extra["fingerprint"]
    codec.set_num_codebooks(extra["n_codebooks"])
    if extra["meta"] is not None:
        codec.meta = extra["meta"]
    if extra.get("readout") is not None:
        codec.readout = extra["readout"]
    return codec.train(extra["training"])
