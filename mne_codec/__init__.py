"""mne-codec: neural codec tokenizers for EEG, native to MNE-Python and scikit-learn.

The package is imported lazily: ``import mne_codec`` imports neither torch,
MNE nor scikit-learn until a name that needs them is used (so that the
command line starts fast), and never imports braindecode or torchaudio; the
braindecode modules live in :mod:`mne_codec.braindecode`, imported on demand.
"""

import importlib

from ._version import __version__

# public name -> submodule that defines it
_LAZY = {
    "sys_info": "_sys_info",
    "CodecTokenizer": "transformers",
    "CodecReconstructor": "transformers",
    "Tokens": "tokens",
    "read_tokens": "tokens",
    "TokenFileError": "tokens",
    "list_codecs": "_registry",
    "load_codec": "checkpoints",
    "save_codec": "checkpoints",
    "fetch_codec": "checkpoints",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    else:
        try:  # submodules, e.g. ``mne_codec.metrics`` after ``import mne_codec``
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
