"""A linear read-out of the decoded signal from the latent the decoder reads.

Features of the signal that tokens code (band covariances, :mod:`mne_codec.features`)
need that signal, and a codec's decoder costs about as much as its encoder,
so features computed by decoding double the cost of a tokenization (and of
every cross-validation of a pipeline that tokenizes). Yet the signal is
nearly a linear function of the quantized latent around each frame: for
``biocodec-eeg-mne-v2``, a map from frames ``f - 2 .. f + 2`` of the latent
its decoder reads to the ``hop_length`` samples of frame ``f`` explains
about 97 % of the decoded signal's variance on unseen subjects, in every EEG
band (the figures are in each codec's read-out metadata and in the
documentation). A :class:`SignalReadout` is that map, fitted once per codec
by least squares on unlabelled recordings (:func:`fit_readout`); with it,
the features skip the decoder.

A read-out is a function of the codes alone (through the codec's codebooks
and the attention across channels that precedes its decoder), so a user who
holds only token files gets the same features. It approximates the decoded
signal; :func:`~mne_codec.pipeline.detokenize` without ``readout`` still
decodes, and reconstructions always do.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.numpy import save_file

from ._io import atomic_path
from .metrics import BANDS
from .models.weights import CheckpointError
from .pipeline import decode_windows, decoder_inputs

__all__ = ["SignalReadout", "fit_readout", "readout_r2", "READOUT_FILE"]

#: the read-out's file in a codec's folder (beside ``model.safetensors``)
READOUT_FILE = "readout.safetensors"


class SignalReadout:
    """Linear map from a codec's decoder input to the samples it decodes.

    The samples of frame ``f`` (``hop_length`` of them, in the codec's scaled
    units) are ``W.T @ [z[f - c], ..., z[f + c], 1]``, where ``z`` is the
    latent the decoder reads (:meth:`Codec.decoder_input
    <mne_codec.models.Codec.decoder_input>`) and ``c`` the context in frames
    (the edges repeat the first and last frames). Fit one with
    :func:`fit_readout`.

    Parameters
    ----------
    weights : array, shape ((2 * context + 1) * dim + 1, hop_length)
        The map (the last row is the intercept).
    context : int
        Frames of context on each side.
    fingerprint : str
        Fingerprint of the codec it was fitted for
        (:meth:`Codec.fingerprint <mne_codec.models.Codec.fingerprint>`).
    info : dict | None
        How it was fitted (data, ridge, variance explained); JSON-able.
    """

    def __init__(self, weights, context, fingerprint, info=None):
        # C order: a LAPACK solution is often Fortran-ordered, which safetensors misreads
        weights = np.ascontiguousarray(weights, dtype=np.float32)
        context = int(context)
        if context < 0:
            raise ValueError(f"context must be >= 0, got {context}")
        if weights.ndim != 2 or (weights.shape[0] - 1) % (2 * context + 1):
            raise ValueError(f"weights of shape {weights.shape} do not fit a context of "
                             f"{context} frames: need ((2 * context + 1) * dim + 1, hop)")
        self.weights = weights
        self.context = context
        self.fingerprint = str(fingerprint)
        self.info = dict(info or {})

    @property
    def dim(self):
        """Dimension of the latent it reads."""
        return (self.weights.shape[0] - 1) // (2 * self.context + 1)

    @property
    def hop_length(self):
        """Samples per frame it writes."""
        return self.weights.shape[1]

    def __repr__(self):
        r2 = self.info.get("validation_r2")
        r2 = f", R^2 {r2:.3f} on validation" if isinstance(r2, (int, float)) else ""
        return (f"<SignalReadout | codec {self.fingerprint}, latent {self.dim} x "
                f"{2 * self.context + 1} frames -> {self.hop_length} samples{r2}>")

    def check(self, codec):
        """Raise a ValueError unless this read-out belongs to ``codec``."""
        if self.fingerprint != codec.fingerprint():
            raise ValueError(
                f"This read-out was fitted for the codec of fingerprint {self.fingerprint}, "
                f"not for {codec.name or type(codec).__name__!r} ({codec.fingerprint()}): "
                "fit one for it with mne_codec.readout.fit_readout.")
        codec._check_readout_support()
        if self.hop_length != codec.hop_length:
            raise ValueError(f"The read-out writes {self.hop_length} samples per frame, the "
                             f"codec's hop is {codec.hop_length}.")

    def _kernel(self, device, dtype):
        # as a convolution: output channel j = sample j of the frame, taps = context frames
        n_taps, dim = 2 * self.context + 1, self.dim
        w = torch.from_numpy(self.weights[:-1]).reshape(n_taps, dim, -1).permute(2, 1, 0)
        bias = torch.from_numpy(self.weights[-1])
        return w.to(device, dtype).contiguous(), bias.to(device, dtype)

    def apply(self, z):
        """Read samples from decoder inputs.

        Parameters
        ----------
        z : torch.Tensor, shape (batch, dim, n_frames)
            Latents the decoder reads.

        Returns
        -------
        y : torch.Tensor, shape (batch, n_frames * hop_length)
        """
        if z.ndim != 3 or z.shape[1] != self.dim:
            raise ValueError(f"z must have shape (batch, {self.dim}, n_frames), got "
                             f"{tuple(z.shape)}")
        weight, bias = self._kernel(z.device, z.dtype)
        if self.context:
            z = F.pad(z, (self.context, self.context), mode="replicate")
        y = F.conv1d(z, weight, bias)  # (batch, hop, n_frames)
        return y.transpose(1, 2).reshape(len(y), -1)

    def save(self, path):
        """Write the read-out to a safetensors file (its metadata in the header)."""
        meta = {"context": str(self.context), "fingerprint": self.fingerprint,
                "info": json.dumps(self.info)}
        with atomic_path(Path(path)) as tmp:
            save_file({"weights": self.weights}, str(tmp), metadata=meta)
        return Path(path)

    @classmethod
    def load(cls, path):
        """Read a read-out written by :meth:`save`."""
        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                weights = f.get_tensor("weights")
            return cls(weights, int(meta["context"]), meta["fingerprint"],
                       json.loads(meta.get("info", "{}")))
        except Exception as err:  # noqa: BLE001 - safetensors raises several types
            raise CheckpointError(f"{path} is not a signal read-out file: {err}") from err


def _design_gram(z, context):
    """Gram matrix terms of the read-out's least squares, from latents (batch, dim, F)."""
    if context:
        z = F.pad(z, (context, context), mode="replicate")
    n_frames = z.shape[-1] - 2 * context
    cols = [z[..., k:k + n_frames] for k in range(2 * context + 1)]
    a = torch.cat(cols, 1).transpose(1, 2).reshape(-1, z.shape[1] * len(cols))
    return torch.cat([a, torch.ones(len(a), 1, dtype=a.dtype)], 1)


def _latent_and_signal(codec, tokens, batch_size, device):
    z = decoder_inputs(codec, tokens.codes, tokens.ch_names, batch_size=batch_size,
                       device=device)
    y = decode_windows(codec, tokens.codes, tokens.n_times_codec, tokens.ch_names,
                       batch_size=batch_size, device=device)
    n_frames = z.shape[-1]
    pad = n_frames * codec.hop_length - y.shape[-1]
    if pad > 0:  # the codec decodes whole frames; the window ends inside the last
        y = np.concatenate([y, np.repeat(y[..., -1:], pad, -1)], -1)
    y = y[..., :n_frames * codec.hop_length]
    return z.reshape(-1, *z.shape[2:]), y.reshape(-1, n_frames, codec.hop_length)


def readout_r2(codec, readout, tokens, *, bands=None, batch_size=256, device="auto"):
    """Fraction of the decoded signals' variance that a read-out explains, overall and per band.

    Parameters
    ----------
    codec : Codec
        The codec that wrote the tokens.
    readout : SignalReadout
        Its read-out.
    tokens : Tokens | list of Tokens
        Tokens of windows.
    bands : dict of str to (float, float) | None
        Bands in Hz (default :data:`mne_codec.metrics.BANDS`, delta to gamma):
        the variance explained of the part of each window's spectrum within
        each.
    batch_size, device
        Decoding.

    Returns
    -------
    r2 : dict of str to float
        ``"all"`` and one entry per band.
    """
    bands = BANDS if bands is None else bands
    readout.check(codec)
    err = dict.fromkeys(["all", *bands], 0.0)
    tot = dict.fromkeys(["all", *bands], 0.0)
    n_rows = y_sum = 0.0
    for tok in tokens if isinstance(tokens, (list, tuple)) else [tokens]:
        z, y = _latent_and_signal(codec, tok, batch_size, device)
        with torch.inference_mode():
            pred = readout.apply(torch.from_numpy(z)).numpy().reshape(len(y), -1)
        y = y.reshape(len(y), -1).astype(np.float64)
        e = pred - y
        err["all"] += float((e ** 2).sum())
        tot["all"] += float((y ** 2).sum())  # centred over all the tokens below
        n_rows, y_sum = n_rows + y.size, y_sum + float(y.sum())
        freqs = np.fft.rfftfreq(y.shape[-1], 1.0 / codec.sfreq)
        spec_y, spec_e = np.fft.rfft(y, axis=-1), np.fft.rfft(e, axis=-1)
        for name, (lo, hi) in bands.items():
            sel = (freqs >= lo) & (freqs < hi)
            err[name] += float((np.abs(spec_e[:, sel]) ** 2).sum())
            tot[name] += float((np.abs(spec_y[:, sel]) ** 2).sum())
    tot["all"] -= y_sum ** 2 / max(n_rows, 1.0)
    return {k: 1.0 - err[k] / max(tot[k], 1e-30) for k in err}


def fit_readout(codec, tokens, *, context=2, ridge=1e-3, validation=None, batch_size=256,
                device="auto", info=None):
    """Fit a codec's :class:`SignalReadout` on tokens of unlabelled recordings.

    Ridge regression, over every frame of every channel of ``tokens``, of
    the samples the codec decodes for a frame on the latent its decoder
    reads around it. No labels are read: fit it once per codec, on the data
    the codec was trained on, and check it on other recordings
    (``validation``).

    Parameters
    ----------
    codec : Codec
        The codec that wrote the tokens (a family whose decoder reads one
        latent frame per ``hop_length`` samples: BioCodec, DAC).
    tokens : Tokens | list of Tokens
        Tokens of windows (montages may differ between the items).
    context : int
        Frames of context on each side (2: five frames, 240 ms for
        ``biocodec-eeg-mne-v2``).
    ridge : float
        Ridge penalty, relative to the mean eigenvalue of the Gram matrix.
    validation : Tokens | list of Tokens | None
        Tokens on which to report the variance explained
        (``info["validation_r2"]``).
    batch_size, device
        Decoding (see :func:`~mne_codec.pipeline.decode_windows`).
    info : dict | None
        What to record about the fit (e.g. the data); the variance explained
        is added.

    Returns
    -------
    readout : SignalReadout
        With ``info["train_r2"]`` (and ``"validation_r2"``): the fraction
        of the decoded signals' variance it explains.
    """
    codec._check_readout_support()
    tokens_list = tokens if isinstance(tokens, (list, tuple)) else [tokens]
    if not tokens_list:
        raise ValueError("No tokens to fit a read-out on.")
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    gram = cross = None
    n_rows, y_sum, y_sq = 0, 0.0, 0.0
    for tok in tokens_list:
        z, y = _latent_and_signal(codec, tok, batch_size, device)
        for start in range(0, len(z), 512):  # bounded memory: a few thousand frames at a time
            a = _design_gram(torch.from_numpy(z[start:start + 512]).double(), int(context))
            t = torch.from_numpy(y[start:start + 512].reshape(-1, y.shape[-1])).double()
            g, c = a.T @ a, a.T @ t
            gram, cross = (g, c) if gram is None else (gram + g, cross + c)
            n_rows, y_sum, y_sq = n_rows + t.numel(), y_sum + float(t.sum()), y_sq + float(
                (t ** 2).sum())
    n = len(gram)
    penalty = ridge * torch.trace(gram) / n * torch.eye(n, dtype=gram.dtype)
    # the map is kept in float32: the residual is that of the rounded weights, from the
    # sums already gathered (no second pass over the data)
    w = torch.linalg.solve(gram + penalty, cross).float().double()
    sse = y_sq - 2.0 * float((w * cross).sum()) + float((w * (gram @ w)).sum())
    readout = SignalReadout(w.float().numpy(), context, codec.fingerprint(),
                            {**(info or {}), "context": int(context), "ridge": float(ridge)})
    readout.info["train_r2"] = 1.0 - sse / max(y_sq - y_sum ** 2 / n_rows, 1e-30)
    if validation is not None:
        readout.info["validation_r2"] = readout_r2(codec, readout, validation, bands={},
                                                   batch_size=batch_size, device=device)["all"]
    return readout
