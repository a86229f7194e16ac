"""Deprecated alias of :mod:`mne_codec.pipeline` (kept for code written before it).

``encode_windows``, ``decode_windows``, ``quantized_windows``,
``encode_stream``, ``decode_stream``, ``resolve_device`` and
``show_progress`` are :mod:`mne_codec.pipeline`'s. ``encode_named_windows``
and ``decode_named_windows`` were the second path of the codecs that code
channels by name; :func:`mne_codec.pipeline.encode` and
:func:`mne_codec.pipeline.decode_windows` now code every codec.
"""

import warnings

from .pipeline import (  # noqa: F401 (re-exported)
    decode_stream,
    decode_windows,
    encode,
    encode_stream,
    encode_windows,
    quantized_windows,
    resolve_device,
    show_progress,
)

__all__ = ["resolve_device", "encode_windows", "decode_windows", "quantized_windows",
           "encode_stream", "decode_stream", "encode_named_windows", "decode_named_windows"]


def _deprecated(old, new):
    warnings.warn(f"mne_codec.inference.{old} is deprecated: use mne_codec.pipeline.{new}, "
                  "which codes every codec.", DeprecationWarning, stacklevel=3)


def encode_named_windows(codec, x, ch_names, *, batch_size=256, device="auto",
                         precision="fp32"):
    """Encode windows with a codec that codes channels by name (deprecated).

    Parameters
    ----------
    codec : Codec
        The codec (eval mode).
    x : ndarray of float32, shape (n_windows, n_channels, n_times)
        Preprocessed signals.
    ch_names : list of str
        Channel names.
    batch_size, device, precision
        See :func:`mne_codec.pipeline.encode`.

    Returns
    -------
    codes : ndarray of int16, shape (n_windows, n_channels, n_code_rows, n_frames)
    side : ndarray of float32 | None
        See :func:`mne_codec.pipeline.encode`.
    """
    _deprecated("encode_named_windows", "encode")
    return tuple(encode(codec, x, ch_names, batch_size=batch_size, device=device,
                        precision=precision))


def decode_named_windows(codec, codes, side, ch_names, n_times, *, batch_size=256,
                         device="auto"):
    """Decode codes of a codec that codes channels by name (deprecated).

    Parameters
    ----------
    codec : Codec
        The codec.
    codes : ndarray of int, shape (n_windows, n_channels, n_code_rows, n_frames)
        Codes.
    side : ndarray of float32 | None
        Their side information.
    ch_names : list of str
        Channel names, as encoded.
    n_times : int
        Samples per window at the codec's rate.
    batch_size, device
        See :func:`mne_codec.pipeline.encode`.

    Returns
    -------
    y : ndarray of float32, shape (n_windows, n_channels, n_times)
    """
    _deprecated("decode_named_windows", "decode_windows")
    return decode_windows(codec, codes, n_times, ch_names, side, batch_size=batch_size,
                          device=device)
