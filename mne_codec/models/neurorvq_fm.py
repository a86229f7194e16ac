"""NeuroRVQ-FM, now in :mod:`mne_codec.models.neurorvq.fm`; this path keeps old imports working."""

from .neurorvq.fm import NeuroRVQFM, NeuroRVQFMConfig, random_patch_mask

__all__ = ["NeuroRVQFMConfig", "NeuroRVQFM", "random_patch_mask"]
