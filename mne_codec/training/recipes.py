"""What training each codec family needs: objective, optimiser settings and crops.

One table, :data:`RECIPES`, used by ``mne-codec train --family`` and the
recipe modules (:mod:`~mne_codec.training.default`,
:mod:`~mne_codec.training.dac`, :mod:`~mne_codec.training.neurorvq`): the
Trainer, the loss interface and the validation are the same for every
family; a recipe only says which objective, which optimiser settings and
which crops (single channels, or montages of ``n_channels`` named
electrodes with their vocabulary indices).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..evaluation import evaluate_codec
from .data import MontageCrops, RecordingCrops, fixed_crops, fixed_montage_crops
from .losses import BioCodecLoss, DACLoss, NeuroRVQLoss
from .splits import PrepareRaw, default_splits
from .trainer import TrainConfig

__all__ = ["RECIPES", "Recipe", "default_splits", "evaluate_splits", "print_evaluation"]


def _biocodec_loss(codec, train_config, **kwargs):
    kwargs.setdefault("commitment_weight", train_config.commitment_weight)
    return BioCodecLoss(**kwargs)


def _dac_loss(codec, train_config, **kwargs):
    # the from-scratch EEG objective of the DAC recipe (see mne_codec.training.dac)
    kwargs.setdefault("sfreq", codec.config.sample_rate)
    kwargs.setdefault("mel_weight", 0.0)
    kwargs.setdefault("waveform_weight", 15.0)
    return DACLoss(**kwargs)


def _neurorvq_loss(codec, train_config, **kwargs):
    return NeuroRVQLoss(**kwargs)


def _dac_segment_s(codec, loss, n_frames=8):
    """Eight frames, and at least twice the longest window of the loss's mel scales."""
    n = max(n_frames, math.ceil(2 * max(loss.window_lengths) / codec.hop_length))
    return n * codec.hop_length / codec.sfreq


@dataclass(frozen=True)
class Recipe:
    """How a codec family is trained.

    Parameters
    ----------
    family : str
        Key of :data:`mne_codec.models.FAMILIES`.
    train : dict
        Defaults of :class:`~mne_codec.training.TrainConfig` fields.
    make_loss : callable
        ``make_loss(codec, train_config, **kwargs) -> CodecLoss``.
    n_channels : int | None
        Channels per crop of :class:`~mne_codec.training.MontageCrops`
        (a family that reads named channels), or ``None`` for
        single-channel crops of :class:`~mne_codec.training.RecordingCrops`.
    channel_sampling : str
        How montage crops draw their channels (see ``MontageCrops``).
    segment_s : callable | None
        ``segment_s(codec, loss)``: the crop length when the configuration
        gives none (``None``: ``TrainConfig.segment_s``).
    """

    family: str
    train: dict = field(default_factory=dict)
    make_loss: object = _biocodec_loss
    n_channels: int | None = None
    channel_sampling: str = "random"
    segment_s: object = None

    def train_config(self, **overrides):
        """Return the family's :class:`~mne_codec.training.TrainConfig`, with ``overrides``."""
        return TrainConfig(**{**self.train, **overrides})

    def loss(self, codec, train_config, **kwargs):
        """Return the family's objective for ``codec`` (keyword arguments of the loss)."""
        return self.make_loss(codec, train_config, **kwargs)

    def datasets(self, codec, train_files, val_files, *, segment_s, prepare_raw=None,
                 seed=0, val_segments=None, n_channels=None, channel_sampling=None,
                 max_recordings_in_memory=8):
        """Training stream and validation crops of the family.

        Parameters
        ----------
        codec : Codec
            The model (its preprocessing is applied).
        train_files, val_files : list of path-like
            Recordings (``val_files`` may be empty: no validation).
        segment_s : float
            Crop length in seconds.
        prepare_raw : callable | None
            Channel fix-ups applied to every recording after reading.
        seed : int
            Seed of the crops.
        val_segments : int | None
            Most validation crops.
        n_channels : int | None
            Channels per crop (default: the recipe's; ignored for
            single-channel crops).
        channel_sampling : str | None
            Default: the recipe's.
        max_recordings_in_memory : int
            Recordings pooled by the training stream.

        Returns
        -------
        train : RecordingCrops | MontageCrops
        val : torch.Tensor | tuple | None
            What :func:`~mne_codec.training.validation_metrics` takes.
        """
        common = dict(segment_s=segment_s, prepare_raw=prepare_raw, seed=seed)
        val = None
        if self.n_channels is None:
            train = RecordingCrops(train_files, codec,
                                   max_recordings_in_memory=max_recordings_in_memory, **common)
            if val_files:
                val = fixed_crops(val_files, codec, max_segments=val_segments, **common)
            return train, val
        montage = dict(n_channels=n_channels or self.n_channels,
                       channel_sampling=channel_sampling or self.channel_sampling)
        train = MontageCrops(train_files, codec, max_recordings_in_memory=max_recordings_in_memory,
                             **montage, **common)
        if val_files:
            val = fixed_montage_crops(val_files, codec, max_segments=val_segments, **montage,
                                      **common)
        return train, val


_DAC_TRAIN = dict(lr=1e-3, betas=(0.8, 0.99), grad_clip=1e3, warmup_steps=100, log_every=20)

#: The recipe of every registered family (keys of :data:`mne_codec.models.FAMILIES`).
RECIPES = {
    "biocodec": Recipe(
        "biocodec", dict(lr=1e-3, betas=(0.5, 0.9), grad_clip=1.0, segment_s=5.0,
                         commitment_weight=2.0), _biocodec_loss),
    "dac": Recipe("dac", _DAC_TRAIN, _dac_loss, segment_s=_dac_segment_s),
    "dac_mc": Recipe("dac_mc", _DAC_TRAIN, _dac_loss, n_channels=4,
                     channel_sampling="neighbours", segment_s=_dac_segment_s),
    "neurorvq": Recipe(
        "neurorvq", dict(lr=5e-4, betas=(0.9, 0.99), grad_clip=3.0, amp=True, segment_s=8.0,
                         warmup_steps=200, batch_size=64, log_every=20),
        _neurorvq_loss, n_channels=16),
}


def evaluate_splits(model_dir, data, window_s=5.0):
    """Evaluate a trained codec next to the default codec on the validation recordings.

    Parameters
    ----------
    model_dir : path-like
        The trained codec's folder.
    data : path-like
        The data folder (``shared/data``).
    window_s : float
        Window length in seconds.

    Returns
    -------
    report : dict
        ``"<split>/<codec>"`` -> :func:`~mne_codec.evaluation.evaluate_codec`'s report.
    """
    report = {}
    for name, files in default_splits(data, "val").items():
        for codec in (model_dir, "default"):
            key = f"{name}/{Path(str(codec)).parent.name if codec != 'default' else 'default'}"
            report[key] = evaluate_codec(codec, files, prepare_raw=PrepareRaw(),
                                         window_s=window_s, verbose=False)
    return report


def print_evaluation(report):
    """Print :func:`evaluate_splits`'s report, one line per number of levels."""
    for key, rep in report.items():
        print(f"{key}: {rep['codec']['name']} ({rep['n_signals']} channel-windows)")
        for row in rep["levels"]:
            bands = " ".join(f"{b} {v:.3f}" for b, v in row["band_nmse"].items())
            print(f"  levels {row['n_codebooks']}: {row['bits_per_second']:.0f} + "
                  f"{row.get('side_bits_per_second', 0.0):.1f} bit/s, NMSE {row['nmse']:.3f}, "
                  f"r {row['pearson_r']:.3f}, band NMSE: {bands}", flush=True)
