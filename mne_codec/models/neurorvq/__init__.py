"""NeuroRVQ: the multi-scale EEG tokenizer and its foundation model (NeuroRVQ-FM).

Barmpas et al. 2025, "NeuroRVQ: multi-scale EEG tokenization for generative
large brainwave models" (arXiv 2510.13068); reference code
KonstantinosBarmpas/NeuroRVQ. The authors' code and weights are licensed
**CC BY-NC 4.0** (attribution, non-commercial use only); these modules are
our own implementation (BSD-3) with the authors' parameter names, so that
their state dicts load strictly.

Modules: :mod:`~mne_codec.models.neurorvq.tokenizer` (the tokenizer),
:mod:`~mne_codec.models.neurorvq.fm` (the foundation model) and
:mod:`~mne_codec.models.neurorvq.convert` (the authors' checkpoint format).
"""

#: Tokens per group of windows that the tokenizer's transformer blocks process
#: at once without autograd (at least one window per group); read at every
#: call, so it can be tuned here. See
#: :meth:`~mne_codec.models.neurorvq.tokenizer.NeuroRVQTransformer._branch_in_groups`.
GROUP_TOKENS = 512

# after GROUP_TOKENS: the tokenizer reads it from this package
from ...channels import CHANNEL_ALIASES  # noqa: E402, F401 - the old module's re-export
from .fm import NeuroRVQFM, NeuroRVQFMConfig, random_patch_mask  # noqa: E402
from .tokenizer import (  # noqa: E402
    MODALITY_CHANNELS,
    NEURORVQ_CHANNELS,
    NEURORVQ_ECG_LEADS,
    NEURORVQ_EMG_CHANNELS,
    NEURORVQ_PPG_CHANNELS,
    MultiDimentionalTemporalConv,
    NeuroRVQ,
    NeuroRVQConfig,
    NeuroRVQEncoding,
    NeuroRVQTransformer,
    _eeg_rvq,  # noqa: F401 - imported by tests and the training recipe
    check_modality,
    config_from_state,
    map_channels,
    neurorvq_preprocessing,
    split_windows,
)

__all__ = ["NeuroRVQConfig", "NeuroRVQ", "NeuroRVQEncoding", "NEURORVQ_CHANNELS",
           "NEURORVQ_ECG_LEADS", "NEURORVQ_EMG_CHANNELS", "NEURORVQ_PPG_CHANNELS",
           "MODALITY_CHANNELS", "check_modality", "config_from_state",
           "map_channels", "split_windows", "neurorvq_preprocessing", "GROUP_TOKENS",
           "MultiDimentionalTemporalConv", "NeuroRVQTransformer", "NeuroRVQFMConfig",
           "NeuroRVQFM", "random_patch_mask"]
