"""The pipeline: windows -> preprocessing -> batched encode on a device -> Tokens, and back.

Every path from signals to tokens goes through here, for every codec family:
:class:`~mne_codec.CodecTokenizer`, :class:`~mne_codec.CodecReconstructor`,
the evaluation, corpus tokenization, the braindecode module and the
benchmarks.

- :func:`tokenize` preprocesses windows (:func:`~mne_codec.preprocessing.preprocess`)
  and encodes them to :class:`~mne_codec.Tokens`; :func:`detokenize` decodes
  Tokens and restores volts at the input rate.
- :func:`encode` / :func:`decode_windows` run a codec on preprocessed windows:
  each window is cut into the sub-windows the codec codes together
  (:meth:`~mne_codec.models.Codec.coding_blocks`), which are batched
  ``batch_size`` channel-windows at a time under ``torch.inference_mode``
  on the chosen device, with the batch halved on an out-of-memory error.
- :func:`encode_stream` / :func:`decode_stream` code long signals chunk by
  chunk with a streamable codec, exactly as in one pass.

The codec is reached only through its protocol (``encode(x, ch_names)``,
``decode(encoding, ch_names, n_times)``, ``coding_blocks``), so nothing here
depends on the family.
"""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

import numpy as np
import torch
from mne.utils import logger, warn
from tqdm.auto import tqdm

from .preprocessing import preprocess, restore
from .tokens import Tokens

__all__ = ["resolve_device", "show_progress", "progress_enabled", "progress_bar",
           "check_precision", "chunk_samples", "tokenize", "detokenize", "encode", "WindowCodes",
           "encode_windows", "decode_windows", "decoder_inputs", "quantized_windows",
           "encode_stream", "decode_stream", "codec_info"]


def resolve_device(device="auto"):
    """Return a :class:`torch.device`: ``"auto"`` is CUDA when present, else CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"Invalid device {device!r}: {err}") from err
    if dev.type not in ("cpu", "cuda", "mps"):  # e.g. "meta" holds no data to code
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'mps', got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but CUDA is not available.")
    return dev


#: progress bars: None follows MNE's verbose (shown at INFO and below); True or False
_SHOW_PROGRESS = ContextVar("mne_codec_show_progress", default=None)


@contextmanager
def show_progress(progress):
    """Show (True), hide (False) or let MNE's verbose decide (None) progress bars within."""
    token = _SHOW_PROGRESS.set(progress)
    try:
        yield
    finally:
        _SHOW_PROGRESS.reset(token)


def progress_enabled():
    """Return whether progress bars show here (see :func:`show_progress`)."""
    progress = _SHOW_PROGRESS.get()
    return logger.level <= 20 if progress is None else bool(progress)


def progress_bar(total, desc, unit="ch-win", leave=False, min_total=2):
    """Return a tqdm bar, shown for ``min_total`` items or more if :func:`progress_enabled`."""
    disable = total < min_total or not progress_enabled()
    return tqdm(total=total, desc=desc, disable=disable, leave=leave, unit=unit)


def _check_batch_size(batch_size):
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")


def _codec_device(codec, device):
    dev = resolve_device(device)
    if next(codec.parameters()).device != dev:
        codec.to(dev)
    return dev


# -- memory -------------------------------------------------------------------------
#: fraction of the free memory a batch may take
_MEMORY_FRACTION = 0.8
_BYTES_PER_SAMPLE = weakref.WeakKeyDictionary()
#: peak memory over the largest layer output, per item: 5.0 was measured for the
#: default codec's encoder on CPU (peak RSS increase, 256 x 5 s and 64 x 60 s)
_PEAK_FACTOR = 5.0


def _available_bytes(dev):
    """Free memory on ``dev`` in bytes (None where it cannot be read)."""
    if dev.type == "cuda":
        return torch.cuda.mem_get_info(dev)[0]
    try:
        with open("/proc/meminfo") as fid:
            for line in fid:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _bytes_per_sample(codec, mode):
    """Peak activation bytes per input sample of one channel-window (estimate).

    Measured once per codec with forward hooks on a short probe: a multiple
    of the largest layer output (its input, its output, a residual branch,
    padding copies and backend workspaces are alive together), which grows
    linearly with the window length.
    """
    cache = _BYTES_PER_SAMPLE.setdefault(codec, {})
    if mode not in cache:
        probe = 64 * codec.hop_length
        sizes = [0]

        def hook(module, inputs, output):
            if torch.is_tensor(output):
                sizes.append(output.numel() * output.element_size())

        leaves = [m for m in codec.modules() if not list(m.children())]
        handles = [m.register_forward_hook(hook) for m in leaves]
        dev = next(codec.parameters()).device
        # the first sub-window the codec codes of one channel (e.g. within a token budget)
        _, _, start, stop = codec.coding_blocks(1, probe)[0]
        probe = stop - start
        names = [codec._probe_channel]
        try:
            with torch.inference_mode():
                if mode == "encode":
                    codec.encode(torch.zeros(1, 1, probe, device=dev), names)
                else:
                    codes = torch.zeros(1, 1, codec.n_code_rows, codec.n_frames(probe),
                                        dtype=torch.long, device=dev)
                    side = torch.ones(1, codec.n_side, device=dev) if codec.n_side else None
                    codec.decode(codes, names, probe, side=side)
        finally:
            for h in handles:
                h.remove()
        cache[mode] = _PEAK_FACTOR * max(sizes) / probe
    return cache[mode]


def _fit_batch(codec, mode, n_channels, n_times, batch_size, dev):
    """Items of ``n_channels`` channel-windows to start with, or a clear MemoryError.

    ``batch_size`` counts channel-windows (an item holds ``n_channels`` of them).
    """
    available = _available_bytes(dev)
    per_window = _bytes_per_sample(codec, mode) * n_times
    if available is None:
        return max(1, batch_size // n_channels)
    budget = _MEMORY_FRACTION * available
    fits = int(budget // per_window)  # channel-windows
    if fits >= max(batch_size, n_channels):
        return max(1, batch_size // n_channels)
    gib = 2.0 ** 30
    if fits < n_channels:
        what = ("One channel-window" if n_channels == 1
                else f"One window of {n_channels} channels")
        raise MemoryError(
            f"{what} of {n_times} samples needs about {n_channels * per_window / gib:.2f} GiB "
            f"to {mode} on {dev}, but only {available / gib:.2f} GiB is free. Use shorter "
            "windows (window_s) or free memory."
        )
    if dev.type == "cuda":  # on a GPU, start small rather than fail
        logger.info(f"batch_size={batch_size} does not fit on {dev}: using {fits}.")
        return max(1, fits // n_channels)
    raise MemoryError(
        f"batch_size={batch_size} channel-windows of {n_times} samples need about "
        f"{batch_size * per_window / gib:.2f} GiB to {mode}, but {available / gib:.2f} GiB is "
        f"free on {dev}. Use batch_size={fits} or less (or shorter windows)."
    )


def _is_oom(err):
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and "can't allocate memory" in str(err)


_PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision, dev):
    """Refuse a precision that is not one of fp32, bf16 (CUDA), fp16 (CUDA) on ``dev``."""
    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be one of {list(_PRECISIONS)}, got {precision!r}")
    if precision != "fp32" and dev.type != "cuda":
        raise ValueError(f"precision={precision!r} (autocast) is for CUDA devices; on {dev} "
                         "use precision='fp32'.")


@contextmanager
def _autocast(dev, precision):
    """Autocast for bf16/fp16; for fp32, true fp32 on CUDA (no TF32).

    PyTorch lets cuDNN convolutions use TF32 on recent GPUs by default, which
    changed 2 % of the default codec's codes against the CPU's (H100,
    ``benchmarks/gpu.py``); fp32 here means fp32, so codes match the CPU's
    but for float near-ties. The global flags are restored afterwards.
    """
    dtype = _PRECISIONS[precision]
    if dtype is not None:
        with torch.autocast("cuda", dtype=dtype):
            yield
        return
    if dev.type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _run_batches(codec, mode, n_items, n_channels, n_times, batch_size, dev, step, desc,
                 precision="fp32"):
    """Call ``step(start, stop)`` over ``n_items`` in batches that fit in memory.

    An item is ``n_channels`` channel-windows of ``n_times`` samples coded
    together; ``batch_size`` counts channel-windows, so a batch holds
    ``batch_size // n_channels`` items (at least one). On an out-of-memory
    error the batch is halved and retried (with a warning), down to one item;
    results do not depend on it but for float near-ties.
    """
    _check_batch_size(batch_size)
    if n_items == 0:
        return
    what = ("a single channel-window" if n_channels == 1
            else f"a single window of {n_channels} channels")
    too_big = MemoryError(f"Out of memory on {dev} with {what} of {n_times} samples. Use "
                          "shorter windows (window_s) or another device.")
    try:  # never more than there is: 2 windows need 2 windows' memory, not batch_size's
        batch = _fit_batch(codec, mode, n_channels, n_times,
                           min(batch_size, n_items * n_channels), dev)
    except (torch.cuda.OutOfMemoryError, RuntimeError) as err:  # in the one-item probe
        if not _is_oom(err):
            raise
        raise too_big from err
    start = 0
    check_precision(precision, dev)
    with (torch.inference_mode(), _autocast(dev, precision),
          progress_bar(n_items * n_channels, desc) as bar):
        while start < n_items:
            stop = min(start + batch, n_items)
            try:
                step(start, stop)
            except (torch.cuda.OutOfMemoryError, RuntimeError) as err:
                if not _is_oom(err):
                    raise
                if dev.type == "cuda":
                    torch.cuda.empty_cache()
                if batch == 1:
                    raise too_big from err
                batch = max(1, batch // 2)
                warn(f"Out of memory on {dev}: continuing with batch_size="
                     f"{batch * n_channels}.")
                continue
            bar.update((stop - start) * n_channels)
            start = stop


def _check_codes(codec, codes):
    codes = np.asarray(codes)
    if codes.ndim != 4:
        raise ValueError(
            "codes must have shape (n_windows, n_channels, n_codebooks, n_frames), "
            f"got {codes.shape}"
        )
    if codes.dtype.kind not in "iu":
        raise TypeError(f"codes must be integers, got dtype {codes.dtype}")
    if codes.size == 0:
        raise ValueError(f"codes are empty: shape {codes.shape}")
    if codes.shape[2] > codec.max_code_rows:
        raise ValueError(f"codes have {codes.shape[2]} rows of levels; the codec has "
                         f"{codec.max_code_rows}")
    if codes.size and (codes.min() < 0 or codes.max() >= codec.codebook_size):
        raise ValueError(f"codes must lie in [0, {codec.codebook_size - 1}]")
    return codes


def _from_codes(codec, codes, n_times, batch_size, device, fn, desc):
    """Run ``fn(codes_batch)`` over flattened channel-windows of ``codes``."""
    codes = _check_codes(codec, codes)
    dev = _codec_device(codec, device)
    n_win, n_ch, k, t = codes.shape
    flat = torch.from_numpy(codes.reshape(n_win * n_ch, 1, k, t).astype(np.int64))
    parts = []  # batches run in order; a retried batch never appends

    def step(start, stop):
        parts.append(fn(flat[start:stop].to(dev))[:, 0].float().cpu().numpy())

    _run_batches(codec, "decode", len(flat), 1, n_times, batch_size, dev, step, desc)
    out = np.concatenate(parts)
    return out.reshape(n_win, n_ch, *out.shape[1:])


def quantized_windows(codec, codes, *, batch_size=256, device="auto"):
    """Quantized latent of codes: (n_windows, n_channels, dim, n_frames) float32."""
    n_times = np.shape(codes)[-1] * codec.hop_length
    return _from_codes(codec, codes, n_times, batch_size, device, codec.quantized,
                       "Embedding")


# -- streaming: long signals in chunks ----------------------------------------------
#: default chunk length of the streams (seconds), rounded down to whole codec frames
_CHUNK_S = 10.0


def chunk_samples(codec, chunk_s):
    """Return samples per chunk; ``chunk_s`` must be a whole number of codec frames."""
    hop, sfreq = codec.hop_length, codec.sfreq
    if chunk_s is None:
        return max(1, int(_CHUNK_S * sfreq) // hop) * hop
    if (isinstance(chunk_s, (bool, np.bool_)) or not isinstance(chunk_s, (int, float, np.number))
            or not np.isfinite(chunk_s) or chunk_s <= 0):
        raise ValueError(f"chunk_s must be a positive number of seconds, got {chunk_s!r}")
    n = float(chunk_s) * sfreq
    n_int = int(round(n))
    if abs(n - n_int) > 1e-6 * max(n, 1.0) or n_int % hop or n_int == 0:
        nearest = max(1, round(n / hop)) * hop / sfreq
        raise ValueError(
            f"chunk_s={chunk_s!r} is {n:g} samples at the codec's {sfreq:g} Hz; chunks must "
            f"be whole codec frames of {hop} samples ({1000 * hop / sfreq:g} ms), "
            f"e.g. chunk_s={nearest:g}."
        )
    return n_int


def _check_stream_signal(codec, x):
    if getattr(x, "ndim", None) != 3:
        raise ValueError("x must have shape (n_windows, n_channels, n_times), "
                         f"got {getattr(x, 'shape', type(x).__name__)}")
    if x.shape[-1] < codec.hop_length:
        raise ValueError(f"Signals of {x.shape[-1]} samples are shorter than one codec frame "
                         f"({codec.hop_length} samples at {codec.sfreq:g} Hz).")


def encode_stream(codec, x, ch_names=None, *, chunk_s=None, batch_size=256, device="auto",
                  precision="fp32"):
    """Encode long preprocessed signals in chunks, exactly as in one pass.

    Each signal is pushed through the codec's :meth:`~mne_codec.models.Codec.stream`
    ``chunk_s`` seconds at a time: the causal layers keep the context they
    need from earlier chunks, so the codes equal
    ``encode_windows(codec, x)`` (the whole signal in one pass) while the
    memory taken by the codec depends on ``chunk_s`` and ``batch_size``, not
    on the signals' length.

    Parameters
    ----------
    codec : Codec
        A :attr:`~mne_codec.models.Codec.streamable` codec (eval mode): causal
        BioCodec, such as the default codec. Others raise a ValueError (see
        Notes).
    x : ndarray of float32, shape (n_windows, n_channels, n_times)
        Preprocessed signals, e.g. a whole recording as one window
        (``x[None]``). It is read a chunk at a time, so it can be a
        :class:`numpy.memmap`.
    ch_names : list of str | None
        Names of the channels, as in :func:`encode` (read by codecs that code
        channels jointly, e.g. ``biocodec-eeg-mne-v2``).
    chunk_s : float | None
        Chunk length in seconds: a positive whole number of codec frames
        (``hop_length / sfreq``: 48 ms for the default codec, e.g. 9.6 or
        12 s); other lengths raise a ValueError that gives the nearest valid
        one. None: about 10 s (the whole frames that fit in 10 s; 9.984 s for
        the default codec).
    batch_size : int
        Channel-windows streamed together (whole windows, each over all its
        chunks); see :func:`encode_windows`.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``...
    precision : ``"fp32"`` | ``"bf16"`` | ``"fp16"``
        Autocast on CUDA (see :func:`encode_windows`).

    Returns
    -------
    codes : ndarray of int16, shape (n_windows, n_channels, n_codebooks, n_frames)
        The codes of :func:`encode_windows`.

    Notes
    -----
    Only causal codecs stream exactly: BioCodec, also with channel mixing
    (its attention across channels runs one frame at a time, so every chunk
    streams all channels of its windows together). DAC (non-causal
    convolutions: a code depends on samples up to its receptive field ahead)
    and NeuroRVQ (joint coding of patches of all channels) raise a
    ValueError: code them in windows with :func:`encode`.

    The codec's amplitude scaling (:class:`~mne_codec.preprocessing.Preprocessing`)
    is per window: to stream a whole recording, preprocess it as one window
    (``preprocess(data[None], ...)``: one median and inter-quartile range
    per channel and recording), not chunk by chunk, whose scales would
    differ between chunks.
    """
    codec.stream("encode")  # refuses codecs that cannot stream, before any work
    _check_stream_signal(codec, x)
    chunk = chunk_samples(codec, chunk_s)
    dev = _codec_device(codec, device)
    n_win, n_ch, n_times = x.shape
    names = _check_names(ch_names, n_ch)
    out = np.empty((n_win, n_ch, codec.n_codebooks, codec.n_frames(n_times)), np.int16)

    # whole windows: a codec that mixes channels reads all of them at every frame
    def step(start, stop):
        stream, pos = codec.stream("encode", names), 0
        for t0 in range(0, n_times, chunk):
            xb = np.ascontiguousarray(x[start:stop, :, t0:t0 + chunk], dtype=np.float32)
            codes = stream.push(torch.from_numpy(xb).to(dev), final=t0 + chunk >= n_times)
            out[start:stop, ..., pos:pos + codes.shape[-1]] = codes.cpu().numpy()
            pos += codes.shape[-1]

    _run_batches(codec, "encode", n_win, n_ch, min(chunk, n_times), batch_size, dev, step,
                 "Encoding", precision)
    return out


def decode_stream(codec, codes, n_times, ch_names=None, *, chunk_s=None, batch_size=256,
                  device="auto"):
    """Decode the codes of long signals in chunks, as in one pass.

    The counterpart of :func:`encode_stream`: equals
    ``decode_windows(codec, codes, n_times)`` to float rounding (the
    transposed convolutions and LSTMs run on chunks instead of the whole
    sequence; 1e-6 of the signal's scale on the default codec), with memory
    that depends on ``chunk_s`` and ``batch_size``, not on the length.

    Parameters
    ----------
    codec : Codec
        A :attr:`~mne_codec.models.Codec.streamable` codec.
    codes : ndarray of int, shape (n_windows, n_channels, n_codebooks, n_frames)
        Codes.
    n_times : int
        Samples per window at the codec's rate (at most ``n_frames * hop_length``).
    ch_names : list of str | None
        Names of the channels (see :func:`encode_stream`).
    chunk_s : float | None
        Chunk length in seconds, a whole number of codec frames (see
        :func:`encode_stream`).
    batch_size : int
        Channel-windows streamed together (see :func:`encode_windows`).
    device : str
        Device.

    Returns
    -------
    y : ndarray of float32, shape (n_windows, n_channels, n_times)
        Signals in the codec's scaled units.
    """
    codec.stream("decode")
    codes = _check_codes(codec, codes)
    chunk_frames = chunk_samples(codec, chunk_s) // codec.hop_length
    n_win, n_ch, k, t = codes.shape
    if not 0 < n_times <= t * codec.hop_length:
        raise ValueError(f"n_times must be in [1, {t * codec.hop_length}] for {t} frames of "
                         f"{codec.hop_length} samples, got {n_times}")
    dev = _codec_device(codec, device)
    names = _check_names(ch_names, n_ch)
    y = np.empty((n_win, n_ch, n_times), np.float32)

    def step(start, stop):
        stream, pos = codec.stream("decode", names), 0
        for f0 in range(0, t, chunk_frames):
            cb = torch.from_numpy(codes[start:stop, ..., f0:f0 + chunk_frames].astype(np.int64))
            piece = stream.push(cb.to(dev), final=f0 + chunk_frames >= t)
            keep = max(0, min(piece.shape[-1], n_times - pos))
            y[start:stop, :, pos:pos + keep] = piece[..., :keep].float().cpu().numpy()
            pos += piece.shape[-1]

    n_chunk = min(chunk_frames, t) * codec.hop_length
    _run_batches(codec, "decode", n_win, n_ch, n_chunk, batch_size, dev, step, "Decoding")
    return y


# -- windows of any codec ------------------------------------------------------------
class WindowCodes(NamedTuple):
    """What :func:`encode` returns."""

    codes: np.ndarray
    """int16, (n_windows, n_channels, n_code_rows, n_frames)."""
    side: np.ndarray | None
    """float32, (n_windows, n_channels, n_side, n_frames): the side information of the
    sub-window each token belongs to; None for codecs without any."""


def _blocks(codec, n_channels, n_times):
    """Sub-windows coded together, grouped by shape: {(n_ch, length): [blocks]}."""
    groups = {}
    for block in codec.coding_blocks(n_channels, n_times):
        c0, c1, start, stop = block
        groups.setdefault((c1 - c0, stop - start), []).append(block)
    return groups


def _rows(windows):
    """Index of windows: a slice where they are consecutive (no copy), else a list."""
    if windows == list(range(windows[0], windows[-1] + 1)):
        return slice(windows[0], windows[-1] + 1)
    return windows


def _batch_blocks(items, start, stop):
    """Return the blocks of ``items[start:stop]``, each with the windows it covers there."""
    out = {}
    for w, block in items[start:stop]:
        out.setdefault(block, []).append(w)
    return [(block, _rows(ws)) for block, ws in out.items()]


def _check_names(ch_names, n_channels):
    if ch_names is None:
        return None
    names = list(ch_names)
    if len(names) != n_channels:
        raise ValueError(f"{len(names)} channel names for {n_channels} channels")
    return names


def _names(names, c0, c1):
    return None if names is None else names[c0:c1]


def encode(codec, x, ch_names=None, *, batch_size=256, device="auto", precision="fp32"):
    """Encode preprocessed windows with any codec.

    Every window is cut into the sub-windows the codec codes together
    (:meth:`~mne_codec.models.Codec.coding_blocks`: the whole window for most
    codecs, NeuroRVQ's chunks of whole patches within its token budget, the
    last one zero-padded); their codes are put back in place and their side
    information (one vector per sub-window, e.g. NeuroRVQ's amplitude
    statistics) is repeated over the channels and frames it belongs to.

    Parameters
    ----------
    codec : Codec
        The codec (eval mode).
    x : ndarray of float32, shape (n_windows, n_channels, n_times)
        Preprocessed signals.
    ch_names : list of str | None
        Names of the channels; needed by codecs that code channels by name
        (which say so), ignored by the others.
    batch_size : int
        Channel-windows per forward pass (sub-windows of ``g`` channels are
        batched ``max(1, batch_size // g)`` at a time). A batch that cannot
        fit in free memory raises a MemoryError that says what fits (CPU); on
        a GPU the batch is reduced, and halved again on an out-of-memory error.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``...
    precision : ``"fp32"`` | ``"bf16"`` | ``"fp16"``
        Autocast on CUDA (faster; a few codes change at near-ties: see
        ``benchmarks/gpu.py`` for the agreement with fp32).

    Returns
    -------
    result : WindowCodes
        ``codes`` (int16, (n_windows, n_channels, n_code_rows, n_frames)) and
        ``side``.
    """
    dev = _codec_device(codec, device)
    n_win, n_ch, n_times = x.shape
    names = _check_names(ch_names, n_ch)
    hop = codec.hop_length
    n_frames = codec.n_frames(n_times)
    codes = np.empty((n_win, n_ch, codec.n_code_rows, n_frames), np.int16)
    side = np.empty((n_win, n_ch, codec.n_side, n_frames), np.float32) if codec.n_side else None
    x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    for (g, length), blocks in _blocks(codec, n_ch, n_times).items():
        items = [(w, b) for b in blocks for w in range(n_win)]

        def step(start, stop, items=items, length=length):
            for (c0, c1, t0, t1), rows in _batch_blocks(items, start, stop):
                xb = x[rows, c0:c1, t0:min(t1, n_times)]
                if xb.shape[-1] < length:  # the last partial patch
                    xb = torch.nn.functional.pad(xb, (0, length - xb.shape[-1]))
                enc = codec.encode(xb.to(dev), _names(names, c0, c1))
                f0, f1 = t0 // hop, t0 // hop + enc.shape[-1]
                codes[rows, c0:c1, :, f0:f1] = enc.codes.cpu().numpy()
                if side is not None:
                    side[rows, c0:c1, :, f0:f1] = enc.side.float().cpu().numpy()[:, None, :, None]

        _run_batches(codec, "encode", len(items), g, length, batch_size, dev, step, "Encoding",
                     precision)
    return WindowCodes(codes, side)


def encode_windows(codec, x, ch_names=None, *, batch_size=256, device="auto",
                   precision="fp32"):
    """Codes of :func:`encode`, without the side information.

    Parameters
    ----------
    codec : Codec
        The codec (eval mode).
    x : ndarray of float32, shape (n_windows, n_channels, n_times)
        Preprocessed signals.
    ch_names : list of str | None
        Channel names (see :func:`encode`).
    batch_size, device, precision
        See :func:`encode`.

    Returns
    -------
    codes : ndarray of int16, shape (n_windows, n_channels, n_code_rows, n_frames)
    """
    return encode(codec, x, ch_names, batch_size=batch_size, device=device,
                  precision=precision).codes


def decoder_inputs(codec, codes, ch_names=None, *, batch_size=256, device="auto"):
    """Return the latents the decoder reads from codes of windows (see ``decoder_input``).

    Parameters
    ----------
    codec : Codec
        The codec.
    codes : ndarray of int, shape (n_windows, n_channels, n_code_rows, n_frames)
        Codes from :func:`encode`.
    ch_names : list of str | None
        Channel names, as encoded.
    batch_size, device
        See :func:`encode`.

    Returns
    -------
    z : ndarray of float32, shape (n_windows, n_channels, dim, n_frames)
    """
    codes = _check_codes(codec, codes)
    codec._check_readout_support()
    dev = _codec_device(codec, device)
    n_win, n_ch, _, n_frames = codes.shape
    names = _check_names(ch_names, n_ch)
    codes_t = torch.from_numpy(codes.astype(np.int64))
    z = None
    hop = codec.hop_length
    for (g, length), blocks in _blocks(codec, n_ch, n_frames * hop).items():
        items = [(w, b) for b in blocks for w in range(n_win)]

        def step(start, stop, items=items):
            nonlocal z
            for (c0, c1, t0, t1), rows in _batch_blocks(items, start, stop):
                f0, f1 = t0 // hop, min(codec.n_frames(t1), n_frames)
                out = codec.decoder_input(codes_t[rows, c0:c1, :, f0:f1].to(dev),
                                          _names(names, c0, c1)).float().cpu().numpy()
                if z is None:
                    z = np.empty((n_win, n_ch, out.shape[2], n_frames), np.float32)
                z[rows, c0:c1, :, f0:f1] = out

        # a latent costs far less memory than the decoder's activations: decode's sizing
        _run_batches(codec, "decode", len(items), g, length, batch_size, dev, step, "Latents")
    return z


def decode_windows(codec, codes, n_times, ch_names=None, side=None, *, batch_size=256,
                   device="auto", readout=None):
    """Decode codes of windows (and their side information) to signals in scaled units.

    Parameters
    ----------
    codec : Codec
        The codec.
    codes : ndarray of int, shape (n_windows, n_channels, n_code_rows, n_frames)
        Codes from :func:`encode`.
    n_times : int
        Samples per window at the codec's rate.
    ch_names : list of str | None
        Channel names, as encoded (see :func:`encode`).
    side : ndarray of float32, shape (n_windows, n_channels, n_side, n_frames) | None
        Their side information, for codecs that have any.
    batch_size, device
        See :func:`encode`.
    readout : SignalReadout | None
        Read the signals linearly from the latent the decoder reads instead
        of decoding (:mod:`mne_codec.readout`; checked against the codec).

    Returns
    -------
    y : ndarray of float32, shape (n_windows, n_channels, n_times)
    """
    codes = _check_codes(codec, codes)
    if readout is not None:
        readout.check(codec)  # before the side information: a codec with any has none
    dev = _codec_device(codec, device)
    n_win, n_ch = codes.shape[:2]
    names = _check_names(ch_names, n_ch)
    if codec.n_side and (side is None or side.shape[:2] != codes.shape[:2]
                         or side.shape[2] != codec.n_side):
        raise ValueError(f"{type(codec).__name__} needs its side information "
                         f"(n_windows, n_channels, {codec.n_side}, n_frames) to decode.")
    hop = codec.hop_length
    y = np.empty((n_win, n_ch, n_times), np.float32)
    codes_t = torch.from_numpy(codes.astype(np.int64))
    for (g, length), blocks in _blocks(codec, n_ch, n_times).items():
        items = [(w, b) for b in blocks for w in range(n_win)]

        def step(start, stop, items=items, length=length):
            for (c0, c1, t0, t1), rows in _batch_blocks(items, start, stop):
                f0, f1 = t0 // hop, codec.n_frames(t1)
                sb = None
                if codec.n_side:
                    sb = torch.from_numpy(np.ascontiguousarray(side[rows, c0, :, f0])).to(dev)
                block = codes_t[rows, c0:c1, :, f0:f1].to(dev)
                if readout is None:
                    out = codec.decode(block, _names(names, c0, c1), length, side=sb)
                else:  # the latent the decoder would read, mapped linearly: no decoder
                    z = codec.decoder_input(block, _names(names, c0, c1))
                    out = readout.apply(z.flatten(0, 1)).reshape(*z.shape[:2], -1)
                stop_t = min(t1, n_times)
                y[rows, c0:c1, t0:stop_t] = out[..., :stop_t - t0].float().cpu().numpy()

        desc = "Decoding" if readout is None else "Reading out"
        _run_batches(codec, "decode", len(items), g, length, batch_size, dev, step, desc)
    return y


# -- signals <-> Tokens ---------------------------------------------------------------
def tokenize(codec, data, sfreq, ch_names=None, *, onsets_s=None, resample=True,
             band_limited=False, stream=False, chunk_s=None, batch_size=256, device="auto",
             precision="fp32"):
    """Preprocess windows of signals in volts and encode them to Tokens.

    Parameters
    ----------
    codec : Codec
        The codec (eval mode).
    data : ndarray, shape (n_windows, n_channels, n_times)
        Windows of the channels to code, in volts, at ``sfreq``.
    sfreq : float
        Their sampling frequency in Hz.
    ch_names : list of str | None
        Channel names (needed by codecs that code channels by name).
    onsets_s : array of float | None
        Onset of each window in seconds (default: zeros).
    resample : bool
        Resample to the codec's rate (see
        :func:`~mne_codec.preprocessing.preprocess`).
    band_limited : bool
        Whether ``data`` were already band-passed as the codec declares.
    stream : bool
        Code each window chunk by chunk (:func:`encode_stream`; streamable
        codecs only): memory then depends on ``chunk_s``, not on the window.
    chunk_s : float | None
        Chunk length when streaming.
    batch_size, device, precision
        See :func:`encode`.

    Returns
    -------
    tokens : Tokens
        Codes, side information, scaling statistics and metadata.
    """
    x, center, scale = preprocess(data, sfreq, codec.preprocessing, resample=resample,
                                  band_limited=band_limited)
    if stream:
        codes, side = encode_stream(codec, x, ch_names, chunk_s=chunk_s, batch_size=batch_size,
                                    device=device, precision=precision), None
    else:
        codes, side = encode(codec, x, ch_names, batch_size=batch_size, device=device,
                             precision=precision)
    onsets_s = np.zeros(len(data)) if onsets_s is None else onsets_s
    return Tokens(codes=codes, center=center, scale=scale,
                  ch_names=None if ch_names is None else list(ch_names), sfreq=sfreq,
                  n_times=data.shape[-1], n_times_codec=x.shape[-1], onsets_s=onsets_s,
                  codec=codec_info(codec), side=side)


def detokenize(codec, tokens, *, stream=False, chunk_s=None, batch_size=256, device="auto",
               readout=None):
    """Decode Tokens to signals in volts at their recording's rate.

    Parameters
    ----------
    codec : Codec
        The codec that wrote them.
    tokens : Tokens
        From :func:`tokenize`.
    stream : bool
        Decode chunk by chunk (:func:`decode_stream`; streamable codecs only).
    chunk_s : float | None
        Chunk length when streaming.
    batch_size, device
        See :func:`encode`.
    readout : SignalReadout | None
        Read the signals linearly from the latent the decoder reads instead
        of decoding (an approximation, for features: see
        :mod:`mne_codec.readout`); ``stream`` is then ignored (a latent
        takes a fraction of a decoder's memory).

    Returns
    -------
    y : ndarray, shape (n_windows, n_channels, n_times)
        The reconstruction of the codec's band, in volts.
    """
    if readout is not None:
        y = decode_windows(codec, tokens.codes, tokens.n_times_codec, tokens.ch_names,
                           tokens.side, batch_size=batch_size, device=device, readout=readout)
    elif stream:
        y = decode_stream(codec, tokens.codes, tokens.n_times_codec, tokens.ch_names,
                          chunk_s=chunk_s, batch_size=batch_size, device=device)
    else:
        y = decode_windows(codec, tokens.codes, tokens.n_times_codec, tokens.ch_names,
                           tokens.side, batch_size=batch_size, device=device)
    return restore(y, tokens.center, tokens.scale, codec.preprocessing, tokens.sfreq,
                   tokens.n_times)


def codec_info(codec):
    """Return the identity of a codec that Tokens carry: name, family, fingerprint, rates."""
    return dict(name=codec.name, family=codec.family, fingerprint=codec.fingerprint(),
                sfreq=codec.sfreq, frame_rate=codec.frame_rate,
                codebook_size=codec.codebook_size)
