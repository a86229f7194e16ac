"""Validation of a codec during training: NMSE per number of levels and code usage."""

from __future__ import annotations

import numpy as np
import torch

from ..metrics import codebook_usage, nmse

__all__ = ["validation_metrics"]


def _split(data):
    """``(x, channels)`` of validation data: a tensor, or ``(x, channels)``."""
    if isinstance(data, (tuple, list)):
        x, channels = data
        return x, channels
    return data, None


def _rows(channels, start, stop, device):
    """Return the channels of crops ``start:stop``: per-crop indices are sliced, names shared."""
    if torch.is_tensor(channels) and channels.ndim == 2:
        return channels[start:stop].to(device)
    return channels


@torch.no_grad()
def validation_metrics(codec, data, batch_size=64):
    """NMSE at every number of levels, and code usage, on fixed crops.

    One function for every family: the codec is only called through
    ``encode(x, ch_names)`` and ``decode(encoding, ch_names, n_times)``, and
    the codes of the first ``k`` levels are the rows ``codec.code_rows(k)``
    (one row per level, or one per branch and level for NeuroRVQ).

    Parameters
    ----------
    codec : Codec
        The model (evaluated in eval mode with all its levels; its mode and
        number of levels are restored).
    data : torch.Tensor | tuple
        Crops ``x`` (n, n_channels, n_times) in the codec's units (e.g. from
        :func:`~mne_codec.training.fixed_crops`), or ``(x, channels)`` with
        ``channels`` the indices of the crops' electrodes in
        :data:`mne_codec.channels.CHANNEL_VOCABULARY`, (n, n_channels) (from
        :func:`~mne_codec.training.fixed_montage_crops`), or the names of
        one montage shared by every crop. Channel-independent codecs ignore
        the channels.
    batch_size : int
        Crops per forward.

    Returns
    -------
    metrics : dict
        ``nmse_k`` (mean over crops and channels of
        :func:`mne_codec.metrics.nmse` with the first ``k`` levels) for
        ``k = 1..K``, and ``usage_k`` and ``perplexity_k`` of level ``k``
        over all the crops' codes (the codes of every branch of level ``k``
        pooled, for NeuroRVQ).
    """
    x_all, channels = _split(data)
    was_training, n_prev = codec.training, codec._n_codebooks
    codec.eval()
    codec.set_num_codebooks(None)
    device = next(codec.parameters()).device
    n_levels = codec.max_codebooks
    # the rows that level k adds (level k of every branch, for NeuroRVQ)
    level_rows = [sorted(set(codec.code_rows(k)) - set(codec.code_rows(k - 1)))
                  for k in range(1, n_levels + 1)]
    err = np.zeros(n_levels)
    per_level = [[] for _ in range(n_levels)]
    try:
        for start in range(0, len(x_all), batch_size):
            x = x_all[start:start + batch_size].to(device)
            ch = _rows(channels, start, start + batch_size, device)
            enc = codec.encode(x, ch)
            codes = enc.codes
            xn = x.reshape(-1, x.shape[-1]).double().cpu().numpy()
            for k in range(1, n_levels + 1):
                y = codec.decode(codes[:, :, codec.code_rows(k)], ch, n_times=x.shape[-1],
                                 side=enc.side)
                # the package's one NMSE definition (mean-removed reference energy)
                yn = y.reshape(-1, y.shape[-1]).double().cpu().numpy()
                err[k - 1] += float(np.nansum(nmse(xn, yn)))
            for k, rows in enumerate(level_rows):
                per_level[k].append(codes[:, :, rows].reshape(-1).cpu())
    finally:
        codec.set_num_codebooks(n_prev)
        codec.train(was_training)
    # (n_levels, n_codes): every code of a level, whatever crop, channel or branch
    pooled = torch.stack([torch.cat(c) for c in per_level]).numpy()
    usage, perplexity = codebook_usage(pooled, codec.codebook_size)
    n_signals = len(x_all) * x_all.shape[1]
    out = {f"nmse_{k + 1}": float(err[k] / n_signals) for k in range(n_levels)}
    out.update({f"usage_{k + 1}": float(usage[k]) for k in range(n_levels)})
    out.update({f"perplexity_{k + 1}": float(perplexity[k]) for k in range(n_levels)})
    return out
