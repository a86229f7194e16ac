"""Batched inference shared by the transformers, the CLI and the benchmarks.

Windows x channels are flattened into one batch axis, run through the codec
in chunks of ``batch_size`` channel-windows under ``torch.inference_mode``,
with the device chosen in one place.
"""

from __future__ import annotations

import numpy as np
import torch
from mne.utils import logger
from tqdm.auto import tqdm

__all__ = ["resolve_device", "encode_windows", "decode_windows", "quantized_windows"]


def resolve_device(device="auto"):
    """Return a :class:`torch.device`: ``"auto"`` is CUDA when present, else CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"Invalid device {device!r}: {err}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but CUDA is not available.")
    return dev


def _progress(total, desc):
    # follows MNE's verbose: shown at INFO and below, for more than one chunk
    disable = total <= 1 or logger.level > 20
    return tqdm(total=total, desc=desc, disable=disable, leave=False)


def _chunks(n, batch_size):
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def _codec_device(codec, device):
    dev = resolve_device(device)
    if next(codec.parameters()).device != dev:
        codec.to(dev)
    return dev


def encode_windows(codec, x, *, batch_size=256, device="auto"):
    """Encode preprocessed windows.

    Parameters
    ----------
    codec : Codec
        The codec (eval mode).
    x : ndarray of float32, shape (n_windows, n_channels, n_times)
        Preprocessed signals.
    batch_size : int
        Channel-windows per forward pass.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``...

    Returns
    -------
    codes : ndarray of int16, shape (n_windows, n_channels, n_codebooks, n_frames)
    """
    dev = _codec_device(codec, device)
    n_win, n_ch, n_times = x.shape
    flat = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).reshape(-1, 1, n_times)
    out = np.empty((n_win * n_ch, codec.n_codebooks, codec.n_frames(n_times)), np.int16)
    chunks = _chunks(len(flat), batch_size)
    with torch.inference_mode(), _progress(len(chunks), "Encoding") as bar:
        for start, stop in chunks:
            codes = codec.encode(flat[start:stop].to(dev))  # (n, 1 channel, K, T)
            out[start:stop] = codes[:, 0].cpu().numpy()
            bar.update()
    return out.reshape(n_win, n_ch, *out.shape[1:])


def _check_codes(codec, codes):
    codes = np.asarray(codes)
    if codes.ndim != 4:
        raise ValueError(
            "codes must have shape (n_windows, n_channels, n_codebooks, n_frames), "
            f"got {codes.shape}"
        )
    if codes.dtype.kind not in "iu":
        raise TypeError(f"codes must be integers, got dtype {codes.dtype}")
    if codes.shape[2] > codec.max_codebooks:
        raise ValueError(f"codes have {codes.shape[2]} levels; the codec has {codec.max_codebooks}")
    if codes.size and (codes.min() < 0 or codes.max() >= codec.codebook_size):
        raise ValueError(f"codes must lie in [0, {codec.codebook_size - 1}]")
    return codes


def decode_windows(codec, codes, n_times, *, batch_size=256, device="auto"):
    """Decode codes to signals in the codec's scaled units.

    Parameters
    ----------
    codec : Codec
        The codec.
    codes : ndarray of int, shape (n_windows, n_channels, n_codebooks, n_frames)
        Codes.
    n_times : int
        Samples per window at the codec's rate.
    batch_size : int
        Channel-windows per forward pass.
    device : str
        Device.

    Returns
    -------
    y : ndarray of float32, shape (n_windows, n_channels, n_times)
    """
    codes = _check_codes(codec, codes)
    dev = _codec_device(codec, device)
    n_win, n_ch, k, t = codes.shape
    flat = torch.from_numpy(codes.reshape(n_win * n_ch, 1, k, t).astype(np.int64))
    out = np.empty((n_win * n_ch, n_times), np.float32)
    chunks = _chunks(len(flat), batch_size)
    with torch.inference_mode(), _progress(len(chunks), "Decoding") as bar:
        for start, stop in chunks:
            y = codec.decode(flat[start:stop].to(dev), n_times)
            out[start:stop] = y[:, 0].float().cpu().numpy()
            bar.update()
    return out.reshape(n_win, n_ch, n_times)


def quantized_windows(codec, codes, *, batch_size=256, device="auto"):
    """Quantized latent of codes: (n_windows, n_channels, dim, n_frames) float32."""
    codes = _check_codes(codec, codes)
    dev = _codec_device(codec, device)
    n_win, n_ch, k, t = codes.shape
    flat = torch.from_numpy(codes.reshape(n_win * n_ch, 1, k, t).astype(np.int64))
    chunks = _chunks(len(flat), batch_size)
    parts = []
    with torch.inference_mode():
        for start, stop in chunks:
            parts.append(codec.quantized(flat[start:stop].to(dev))[:, 0].float().cpu().numpy())
    out = np.concatenate(parts)
    return out.reshape(n_win, n_ch, *out.shape[1:])
