"""The authors' BioCodec checkpoint format (klean2050/BioCodec-release, MIT).

Their files are ``torch.save`` of the model's state dict, or of a training
checkpoint ``{"model_state_dict": ...}``. Our module names follow theirs, so
only the quantizer keys are renamed; the architecture is read from the
tensors' shapes. :meth:`BioCodec.from_authors_state
<mne_codec.models.BioCodec.from_authors_state>` builds the model.
"""

from __future__ import annotations

import re

from ...preprocessing import Preprocessing
from ...quantization import RVQConfig
from ..weights import CheckpointError, tensor_dict
from .config import BioCodecConfig

__all__ = ["biocodec_state_from_authors", "biocodec_state_to_authors", "infer_config",
           "is_authors_state"]

_BIOCODEC_RENAMES = [
    (re.compile(r"^quantizer\.vq\.layers\.(\d+)\._codebook\."), r"quantizer.layers.\1.codebook."),
    (re.compile(r"^quantizer\.vq\.layers\.(\d+)\."), r"quantizer.layers.\1."),
]


def is_authors_state(obj):
    """Whether ``obj`` looks like an authors' BioCodec checkpoint (SEANet encoder, their RVQ).

    Parameters
    ----------
    obj : object
        What ``torch.load`` returned.

    Returns
    -------
    is_biocodec : bool
    """
    if isinstance(obj, dict) and isinstance(obj.get("model_state_dict"), dict):
        obj = obj["model_state_dict"]
    if not isinstance(obj, dict):
        return False
    keys = {str(k).removeprefix("_orig_mod.").removeprefix("module.") for k in obj}
    return ("encoder.model.0.conv.conv.bias" in keys
            and any(k.startswith("quantizer.vq.layers.") for k in keys))


def biocodec_state_from_authors(obj):
    """Convert an authors' BioCodec checkpoint object to our state dict.

    Accepts the trained-checkpoint wrapper (``{"model_state_dict": ...}``), the
    ``_orig_mod.`` prefix that ``torch.compile`` leaves, and plain state dicts.
    Legacy ``weight_g``/``weight_v`` weight-norm names are mapped to the
    parametrisation names.
    """
    obj = tensor_dict(obj, "model_state_dict", "Not a BioCodec state dict")
    state = {}
    for key, value in obj.items():
        key = key.removeprefix("_orig_mod.").removeprefix("module.")
        key = key.replace(".weight_g", ".parametrizations.weight.original0")
        key = key.replace(".weight_v", ".parametrizations.weight.original1")
        for pattern, repl in _BIOCODEC_RENAMES:
            key = pattern.sub(repl, key)
        state[key] = value
    return state


def biocodec_state_to_authors(state):
    """Our BioCodec state dict under the authors' key names (inverse of the import).

    Lets a codec trained here run in the authors' code, e.g. to compare the two
    on the same weights.
    """
    out = {}
    for key, value in state.items():
        key = re.sub(r"^quantizer\.layers\.(\d+)\.codebook\.", r"quantizer.vq.layers.\1._codebook.",
                     key)
        key = re.sub(r"^quantizer\.layers\.(\d+)\.project_", r"quantizer.vq.layers.\1.project_",
                     key)
        out[key] = value
    return out


def infer_config(state):
    """Recover the BioCodec architecture from the tensor shapes of our state dict.

    Parameters
    ----------
    state : dict of str to torch.Tensor
        What :func:`biocodec_state_from_authors` returned.

    Returns
    -------
    config : BioCodecConfig
        Hop 12 means the EEG model at 250 Hz, hop 18 the EMG model at 1000 Hz.
    """
    try:
        n_filters = state["encoder.model.0.conv.conv.bias"].shape[0]
        n_q = len({k.split(".")[2] for k in state if k.startswith("quantizer.layers.")})
        embed = state["quantizer.layers.0.codebook.embed"]
        dimension = state["quantizer.layers.0.project_in.weight"].shape[1]
    except KeyError as err:
        raise CheckpointError(f"Not a BioCodec checkpoint: missing {err}") from err
    strides = []
    for key, value in sorted(state.items()):
        m = re.match(r"^encoder\.model\.(\d+)\.conv\.conv\.parametrizations\.weight"
                     r"\.original1$", key)
        if m and value.shape[0] == 2 * value.shape[1]:
            strides.append((int(m.group(1)), value.shape[2] // 2))
    ratios = tuple(s for _, s in sorted(strides, reverse=True))
    hop = 1
    for r in ratios:
        hop *= r
    sfreq = 1000.0 if hop == 18 else 250.0
    prep = Preprocessing(sfreq=sfreq) if sfreq == 250.0 else BioCodecConfig.emg().preprocessing
    rvq = RVQConfig(dim=dimension, n_codebooks=n_q, codebook_size=embed.shape[0],
                    codebook_dim=embed.shape[1])
    return BioCodecConfig(ratios=ratios, n_filters=n_filters, dimension=dimension, rvq=rvq,
                          preprocessing=prep)
