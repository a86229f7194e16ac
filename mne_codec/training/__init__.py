"""Training of the codecs: data streams, objectives and the training loop."""

from .data import MontageCrops, RecordingCrops, fixed_crops, fixed_montage_crops, load_recording
from .logs import plot_log, read_log
from .losses import BioCodecLoss, CodecLoss, DACLoss, MaskedTokenLoss, NeuroRVQLoss
from .trainer import TrainConfig, Trainer, lr_factor
from .validation import validation_metrics

__all__ = [
    "BioCodecLoss",
    "CodecLoss",
    "DACLoss",
    "MaskedTokenLoss",
    "MontageCrops",
    "NeuroRVQLoss",
    "RecordingCrops",
    "TrainConfig",
    "Trainer",
    "fixed_crops",
    "fixed_montage_crops",
    "load_recording",
    "lr_factor",
    "plot_log",
    "read_log",
    "validation_metrics",
]
