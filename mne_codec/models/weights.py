"""Weights into models: the checkpoint error and strict loading of a state dict.

Shared by our checkpoint format (:mod:`mne_codec.checkpoints`) and the
families' converters of their authors' formats (``convert`` in each family's
subpackage), so that every way of loading weights checks them alike.
"""

from __future__ import annotations

import torch

__all__ = ["CheckpointError", "load_state_strict", "tensor_dict"]


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt or does not match its model."""


def tensor_dict(obj, wrapper, what):
    """Unwrap a checkpoint object and check that it is a dict of tensors.

    Parameters
    ----------
    obj : object
        What ``torch.load`` returned.
    wrapper : str
        Key under which a training checkpoint wraps the state dict
        (``"model_state_dict"``, ``"model"``); used when present and a dict.
    what : str
        The start of the error message, e.g. ``"Not a BioCodec state dict"``.

    Returns
    -------
    state : dict of str to torch.Tensor
        The state dict, keys unchanged.
    """
    if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
        obj = obj[wrapper]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{what} (expected a dict of tensors).")
    return obj


def load_state_strict(model, state, source):
    """Load ``state`` into ``model``: the same keys, the same shapes, finite values.

    Parameters
    ----------
    model : torch.nn.Module
        A model with a ``family`` attribute (named in the errors).
    state : dict of str to torch.Tensor
        The state dict, under the model's key names.
    source : str
        Where the weights come from (a path), for the error messages.

    Returns
    -------
    model : torch.nn.Module
        ``model``, loaded.

    Raises
    ------
    CheckpointError
        If a key is missing or unexpected, a tensor has another shape, or a
        floating-point tensor holds NaN or inf.
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"{source} does not match a {model.family} model: {len(missing)} missing keys "
            f"{missing[:5]}, {len(unexpected)} unexpected keys {unexpected[:5]}."
        )
    bad = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if bad:
        k = bad[0]
        raise CheckpointError(
            f"{source} does not match the model: {len(bad)} tensors have other shapes, "
            f"e.g. {k}: {tuple(state[k].shape)} in the file vs {tuple(own[k].shape)}."
        )
    # NaN or inf weights load without complaint and code everything as one code
    broken = [k for k, v in state.items()
              if torch.is_floating_point(v) and not bool(torch.isfinite(v).all())]
    if broken:
        raise CheckpointError(
            f"{source} holds non-finite values (NaN or inf) in {len(broken)} tensors, e.g. "
            f"{broken[:3]}: the file is damaged or its training diverged."
        )
    model.load_state_dict(state, strict=True)
    return model
