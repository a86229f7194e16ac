"""mne-codec: neural codec tokenizers for EEG, native to MNE-Python and scikit-learn.

Importing ``mne_codec`` never imports braindecode or torchaudio; the
braindecode modules live in :mod:`mne_codec.braindecode`, imported on demand.
"""

from ._sys_info import sys_info
from ._version import __version__
from .checkpoints import fetch_codec, list_codecs, load_codec, save_codec
from .tokens import Tokens, read_tokens
from .transformers import CodecReconstructor, CodecTokenizer

__all__ = [
    "__version__",
    "sys_info",
    "CodecTokenizer",
    "CodecReconstructor",
    "Tokens",
    "read_tokens",
    "list_codecs",
    "load_codec",
    "save_codec",
    "fetch_codec",
]
