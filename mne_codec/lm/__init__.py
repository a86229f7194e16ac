"""Tokens for language models: sequence layouts, a dataset over token shards, export.

Imported explicitly (``from mne_codec.lm import ...``); the Hugging Face export
needs the ``lm`` extra (``pip install mne-codec[lm]``, for ``datasets``).
"""

from .dataset import TokenSequenceDataset, collate_sequences
from .hf import to_hf_dataset
from .layouts import (
    LAYOUTS,
    ChannelStreamLayout,
    DelayLayout,
    FlattenLayout,
    InterleavedLayout,
    Layout,
    get_layout,
    recording_codes,
)
from .shards import TokenShard

__all__ = [
    "LAYOUTS",
    "ChannelStreamLayout",
    "DelayLayout",
    "FlattenLayout",
    "InterleavedLayout",
    "Layout",
    "get_layout",
    "TokenSequenceDataset",
    "TokenShard",
    "collate_sequences",
    "recording_codes",
    "to_hf_dataset",
]
