"""DAC's released weight format (descriptinc/descript-audio-codec, MIT).

Their files are ``torch.save`` of ``{"state_dict": ..., "metadata":
{"kwargs": {...}}}``: the generator's state dict under their names (legacy
weight norm, their quantizer layout) and its hyper-parameters.
:meth:`DAC.from_authors_state <mne_codec.models.DAC.from_authors_state>`
builds the model.
"""

from __future__ import annotations

import re

import torch

from ..weights import CheckpointError

__all__ = ["dac_state_from_official", "dac_state_to_official", "dac_kwargs",
           "is_authors_state"]

_DAC_RENAMES = [
    (re.compile(r"^quantizer\.quantizers\.(\d+)\.in_proj\."), r"quantizer.layers.\1.project_in."),
    (re.compile(r"^quantizer\.quantizers\.(\d+)\.out_proj\."), r"quantizer.layers.\1.project_out."),
    (re.compile(r"^quantizer\.quantizers\.(\d+)\.codebook\.weight$"),
     r"quantizer.layers.\1.codebook.embed"),
]
_DAC_RENAMES_BACK = [
    (re.compile(r"^quantizer\.layers\.(\d+)\.project_in\."), r"quantizer.quantizers.\1.in_proj."),
    (re.compile(r"^quantizer\.layers\.(\d+)\.project_out\."), r"quantizer.quantizers.\1.out_proj."),
    (re.compile(r"^quantizer\.layers\.(\d+)\.codebook\.embed$"),
     r"quantizer.quantizers.\1.codebook.weight"),
]


def dac_state_from_official(state):
    """Rename a state dict of DAC's release to :class:`~mne_codec.models.DAC`'s names.

    ``weight_g``/``weight_v`` (legacy weight norm) become
    ``parametrizations.weight.original0/1``, and
    ``quantizer.quantizers.{i}.{in_proj,out_proj,codebook.weight}`` become
    ``quantizer.layers.{i}.{project_in,project_out,codebook.embed}``.
    """
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise CheckpointError("DAC 'state_dict' must be a dict of tensors.")
    out = {}
    for key, value in state.items():
        key = re.sub(r"\.weight_g$", ".parametrizations.weight.original0", key)
        key = re.sub(r"\.weight_v$", ".parametrizations.weight.original1", key)
        for pattern, repl in _DAC_RENAMES:
            key = pattern.sub(repl, key)
        out[key] = value
    return out


def dac_state_to_official(state):
    """Inverse of :func:`dac_state_from_official`: our DAC state dict in DAC's names."""
    out = {}
    for key, value in state.items():
        key = re.sub(r"\.parametrizations\.weight\.original0$", ".weight_g", key)
        key = re.sub(r"\.parametrizations\.weight\.original1$", ".weight_v", key)
        for pattern, repl in _DAC_RENAMES_BACK:
            key = pattern.sub(repl, key)
        out[key] = value
    return out


def is_authors_state(obj):
    """Whether ``obj`` is a DAC weight file's content (``state_dict`` and ``metadata``).

    Parameters
    ----------
    obj : object
        What ``torch.load`` returned.

    Returns
    -------
    is_dac : bool
    """
    return isinstance(obj, dict) and "state_dict" in obj and "metadata" in obj


def dac_kwargs(obj, source):
    """Read the hyper-parameters (``metadata["kwargs"]``) of a DAC weight file's content.

    Parameters
    ----------
    obj : dict
        ``{"state_dict": ..., "metadata": {"kwargs": {...}}}``, as loaded.
    source : str
        Where it comes from, for the error messages.

    Returns
    -------
    kwargs : dict
        For :meth:`~mne_codec.models.DACConfig.from_dac_kwargs`.
    """
    if not is_authors_state(obj):
        raise CheckpointError(
            f"{source} is not a DAC weight file: expected a dict with 'state_dict' and "
            "'metadata' (as saved by DAC.save / downloaded from its releases)."
        )
    metadata = obj["metadata"]
    kwargs = metadata.get("kwargs") if isinstance(metadata, dict) else None
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"{source}: 'metadata' has no 'kwargs' dict of DAC hyper-parameters.")
    return kwargs
