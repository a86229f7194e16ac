"""The authors' NeuroRVQ formats: the tokenizer's and the foundation model's state dicts.

Barmpas et al. 2025, reference code KonstantinosBarmpas/NeuroRVQ. The
authors' code and weights (``NeuroRVQ_EEG_tokenizer_v1.pt``,
``NeuroRVQ_EEG_foundation_model_v1.pt``, from
https://huggingface.co/ntinosbarmpas/NeuroRVQ) are licensed **CC BY-NC
4.0**: attribution, non-commercial use only. Nothing of their code is here;
this module renames their keys to ours and reads the foundation model's
architecture from its tensors. :meth:`NeuroRVQ.from_authors_state
<mne_codec.models.NeuroRVQ.from_authors_state>` and
:meth:`NeuroRVQFM.from_authors_state
<mne_codec.models.NeuroRVQFM.from_authors_state>` build the models.
"""

from __future__ import annotations

import re

from ..weights import CheckpointError, tensor_dict

__all__ = ["neurorvq_state_from_authors", "is_authors_state", "check_dropped",
           "fm_state_from_authors", "fm_config_fields"]

_NEURORVQ_CODEBOOK = re.compile(r"^(quantize_\d+\.layers\.\d+)\.(embedding\.[a-z_]+|cluster_size)$")
_NEURORVQ_RENAMES = {
    "embedding.weight": "codebook.embed",
    "embedding.embed_avg": "codebook.embed_avg",
    "embedding.initted": "codebook.inited",
    "cluster_size": "codebook.cluster_size",
    # k-means counts of the initialisation, never read again upstream: checked, not kept
    "embedding.cluster_size": None,
}
_FM_HEAD = re.compile(r"^head_pre_(\d+)\.weight$")


def _strip(key):
    return key.removeprefix("_orig_mod.").removeprefix("module.")


# -- the tokenizer -------------------------------------------------------------------
def is_authors_state(obj):
    """Whether ``obj`` is an authors' NeuroRVQ tokenizer state dict (their codebook keys).

    Parameters
    ----------
    obj : object
        What ``torch.load`` returned.

    Returns
    -------
    is_neurorvq : bool
    """
    return isinstance(obj, dict) and "quantize_1.layers.0.embedding.weight" in obj


def neurorvq_state_from_authors(obj):
    """Rename an authors' NeuroRVQ state dict to :class:`~mne_codec.models.NeuroRVQ`'s.

    Only the codebook keys change: ``quantize_k.layers.j.embedding.weight`` ->
    ``quantize_k.layers.j.codebook.embed``, ``embedding.embed_avg`` ->
    ``codebook.embed_avg``, ``embedding.initted`` -> ``codebook.inited``, and
    the usage EMA ``quantize_k.layers.j.cluster_size`` ->
    ``codebook.cluster_size``. ``embedding.cluster_size`` (the k-means counts
    of the initialisation, which the reference never reads again) is
    required but dropped. A ``module.``/``_orig_mod.`` prefix is removed.

    Returns
    -------
    state : dict
        Our state dict.
    dropped : list of str
        Authors' keys that were checked and left out.
    """
    obj = tensor_dict(obj, "model", "Not a NeuroRVQ state dict")
    state, dropped = {}, []
    for key, value in obj.items():
        key = _strip(key)
        m = _NEURORVQ_CODEBOOK.match(key)
        if m:
            if m.group(2) not in _NEURORVQ_RENAMES:
                raise CheckpointError(f"Unexpected NeuroRVQ codebook key {key!r}")
            new = _NEURORVQ_RENAMES[m.group(2)]
            if new is None:
                dropped.append(key)
                continue
            key = f"{m.group(1)}.{new}"
        state[key] = value.float() if value.is_floating_point() else value
    return state, dropped


def check_dropped(model, dropped, source):
    """Check that the dropped keys are the k-means counts of ``model``'s every codebook.

    Upstream saves ``embedding.cluster_size`` beside every codebook; a file
    without them, or with others, is not the layout of ``model``.

    Parameters
    ----------
    model : NeuroRVQ
        The model the state is for.
    dropped : list of str
        What :func:`neurorvq_state_from_authors` dropped.
    source : str
        Where the state comes from, for the error message.
    """
    expected = {k.replace(".codebook.embed_avg", ".embedding.cluster_size")
                for k in model.state_dict() if k.endswith(".codebook.embed_avg")}
    missing = sorted(expected - set(dropped))
    unexpected = sorted(set(dropped) - expected)
    if missing or unexpected:
        raise CheckpointError(
            f"{source} does not match a neurorvq model: {len(missing)} missing keys "
            f"{missing[:5]}, {len(unexpected)} unexpected keys {unexpected[:5]}."
        )


# -- the foundation model ----------------------------------------------------------------
def fm_state_from_authors(obj, source):
    """Unwrap an authors' NeuroRVQ-FM state dict: prefixes removed, floats in float32.

    The keys are the authors' (our :class:`~mne_codec.models.NeuroRVQFM`
    keeps them).

    Parameters
    ----------
    obj : object
        What ``torch.load`` returned: the state dict or ``{"model": ...}``.
    source : str
        Where it comes from, for the error messages.

    Returns
    -------
    state : dict
    """
    obj = tensor_dict(obj, "model", f"{source} is not a state dict")
    return {_strip(k): v.float() if v.is_floating_point() else v for k, v in obj.items()}


def fm_config_fields(state, source):
    """Read the :class:`~mne_codec.models.NeuroRVQFMConfig` fields of an FM state dict.

    Head width from the q/k norms, layer scale from ``gamma_*``, the
    prediction heads (``head_pre_*``) counted (none: ``n_targets=0``).

    Parameters
    ----------
    state : dict
        What :func:`fm_state_from_authors` returned.
    source : str
        Where it comes from, for the error messages.

    Returns
    -------
    fields : dict
    """
    try:
        d = state["cls_token"].shape[-1]
        depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
        head_dim = state["blocks.0.attn.q_norm.weight"].shape[0]
        kernels = []
        k = 1
        while f"patch_embed.conv1_{k}.weight" in state:
            kernels.append((state[f"patch_embed.conv1_{k}.weight"].shape[-1],
                            state[f"patch_embed.conv2_{k}.weight"].shape[-1]))
            k += 1
        out_chans = state["patch_embed.conv1_1.weight"].shape[0]
        heads = sorted(int(m.group(1)) for m in map(_FM_HEAD.match, state) if m)
        vocab = state["head_pre_1.weight"].shape[0] if heads else 8192
        return dict(
            patch_size=d * 8 // out_chans, n_patches=state["time_embed"].shape[0],
            n_global_electrodes=state["pos_embed"].shape[0] - 1, out_chans=out_chans,
            branch_kernels=tuple(kernels), embed_dim=d, depth=depth, num_heads=d // head_dim,
            mlp_ratio=state["blocks.0.mlp.fc1.weight"].shape[0] / d,
            qkv_bias="blocks.0.attn.q_bias" in state,
            init_values=1e-5 if "blocks.0.gamma_1" in state else 0.0,
            vocab_size=vocab, n_targets=len(heads))
    except (KeyError, IndexError, ValueError, ZeroDivisionError) as err:
        raise CheckpointError(f"{source} is not a NeuroRVQ foundation-model state dict "
                              f"({type(err).__name__}: {err}).") from err
