"""Tokens for language models: sequence layouts, a dataset over token shards, export.

Imported explicitly (``from mne_codec.lm import ...``); the Hugging Face export
needs the ``lm`` extra (``pip install mne-codec[lm]``, for ``datasets``).
"""

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

__all__ = [
    "LAYOUTS",
    "ChannelStreamLayout",
    "DelayLayout",
    "FlattenLayout",
    "InterleavedLayout",
    "Layout",
    "get_layout",
    "recording_codes",
]
