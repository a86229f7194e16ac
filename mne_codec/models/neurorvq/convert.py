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

__all__ = ["neurorvq_state_from_authors", "neurorvq_state_to_authors",
           "neurorvq_state_from_braindecode", "neurorvq_state_to_braindecode",
           "is_authors_state", "check_dropped", "tokenizer_config_fields",
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
# braindecode's NeuroRVQTokenizer (development branch, new in 1.9) keeps the
# authors' names but for the MLP of every transformer block: its MLP is a
# Sequential (Linear, GELU, Linear), so fc1 -> 0 and fc2 -> 2
_BD_MLP = re.compile(r"^((?:encoder|decoder)\.blocks\.\d+\.mlp)\.(0|2|fc1|fc2)\.(weight|bias)$")
_TO_BD = {"fc1": "0", "fc2": "2"}
_FROM_BD = {"0": "fc1", "2": "fc2"}


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
    """Rename an authors' (or braindecode's) NeuroRVQ state dict to ours.

    Ours: :class:`~mne_codec.models.NeuroRVQ`'s.

    Only the codebook keys change: ``quantize_k.layers.j.embedding.weight`` ->
    ``quantize_k.layers.j.codebook.embed``, ``embedding.embed_avg`` ->
    ``codebook.embed_avg``, ``embedding.initted`` -> ``codebook.inited``, and
    the usage EMA ``quantize_k.layers.j.cluster_size`` ->
    ``codebook.cluster_size``. ``embedding.cluster_size`` (the k-means counts
    of the initialisation, which the reference never reads again) is
    required but dropped. A ``module.``/``_orig_mod.`` prefix is removed.
    braindecode's layout (``NeuroRVQTokenizer``: the blocks' MLP keys
    ``mlp.0``/``mlp.2``) is read too (:func:`neurorvq_state_from_braindecode`).

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
        m = _BD_MLP.match(key)
        if m and m.group(2) in _FROM_BD:
            key = f"{m.group(1)}.{_FROM_BD[m.group(2)]}.{m.group(3)}"
        state[key] = value.float() if value.is_floating_point() else value
    return state, dropped


def neurorvq_state_to_authors(state):
    """Write our NeuroRVQ state dict in the authors' layout (their ``NeuroRVQTokenizer``).

    The inverse of :func:`neurorvq_state_from_authors`. The authors' files
    also hold ``embedding.cluster_size`` beside every codebook (the counts of
    its k-means initialisation, never read again by their code), which we do
    not keep: it is written as a copy of the codebook's usage EMA.

    Parameters
    ----------
    state : dict
        :meth:`NeuroRVQ.state_dict() <mne_codec.models.NeuroRVQ>`.

    Returns
    -------
    state : dict
        The authors' keys (505 for the EEG v1 tokenizer).
    """
    out = {}
    back = {v: k for k, v in _NEURORVQ_RENAMES.items() if v is not None}
    for key, value in state.items():
        head, _, leaf = key.partition(".codebook.")
        if leaf and f"codebook.{leaf}" in back:
            out[f"{head}.{back['codebook.' + leaf]}"] = value
            if leaf == "cluster_size":
                out[f"{head}.embedding.cluster_size"] = value.clone()
            continue
        out[key] = value
    return out


def neurorvq_state_from_braindecode(obj):
    """Rename a braindecode ``NeuroRVQTokenizer`` state dict to ours.

    braindecode (development branch, ``braindecode.models.NeuroRVQTokenizer``,
    new in 1.9) keeps the authors' key names except the blocks' MLPs
    (``mlp.0``/``mlp.2`` for the authors' ``mlp.fc1``/``mlp.fc2``); its
    channel slots are not in its state dict.

    Returns
    -------
    state : dict
        Our state dict.
    dropped : list of str
        Keys checked and left out (see :func:`neurorvq_state_from_authors`).
    """
    return neurorvq_state_from_authors(obj)


def neurorvq_state_to_braindecode(state):
    """Write our NeuroRVQ state dict in braindecode's ``NeuroRVQTokenizer`` layout.

    The authors' layout (:func:`neurorvq_state_to_authors`) with the blocks'
    MLP keys ``mlp.fc1``/``mlp.fc2`` renamed ``mlp.0``/``mlp.2``.

    Parameters
    ----------
    state : dict
        :meth:`NeuroRVQ.state_dict() <mne_codec.models.NeuroRVQ>`.

    Returns
    -------
    state : dict
        Loadable with ``NeuroRVQTokenizer.load_state_dict`` (same modality
        and sizes).
    """
    out = {}
    for key, value in neurorvq_state_to_authors(state).items():
        m = _BD_MLP.match(key)
        if m and m.group(2) in _TO_BD:
            key = f"{m.group(1)}.{_TO_BD[m.group(2)]}.{m.group(3)}"
        out[key] = value
    return out


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


_LEVEL = re.compile(r"^quantize_1\.layers\.(\d+)\.codebook\.embed$")


def _count(state, prefix):
    """1 + the largest block index of ``prefix.<i>.`` keys (0 if none)."""
    ids = [int(k[len(prefix):].split(".")[0]) for k in state if k.startswith(prefix)]
    return 1 + max(ids) if ids else 0


def tokenizer_config_fields(state, source):
    """Read the architecture of a NeuroRVQ tokenizer from its (renamed) state dict.

    Width from the cls token, feature maps and kernels from the convolution
    front, patch size from both (two pools of 2 and 4), electrode rows and
    time table from the embeddings, depths from the blocks, heads from the
    q/k norms, levels, codebook size and code dimension from the codebooks.

    Parameters
    ----------
    state : dict
        What :func:`neurorvq_state_from_authors` returned.
    source : str
        Where it comes from, for the error messages.

    Returns
    -------
    fields : dict
        ``NeuroRVQConfig`` fields, with ``n_codebooks``, ``codebook_size``
        and ``code_dim`` for its ``rvq``.
    """
    try:
        d = state["encoder.cls_token"].shape[-1]
        out_chans = state["encoder.patch_embed.conv1_1.weight"].shape[0]
        kernels, k = [], 1
        while f"encoder.patch_embed.conv1_{k}.weight" in state:
            kernels.append((state[f"encoder.patch_embed.conv1_{k}.weight"].shape[-1],
                            state[f"encoder.patch_embed.conv2_{k}.weight"].shape[-1]))
            k += 1
        levels = sorted(int(m.group(1)) for m in map(_LEVEL.match, state) if m)
        embed = state["quantize_1.layers.0.codebook.embed"]
        return dict(
            patch_size=d * 8 // out_chans, n_patches=state["encoder.time_embed"].shape[0],
            n_global_electrodes=state["encoder.pos_embed"].shape[0] - 1, out_chans=out_chans,
            branch_kernels=tuple(kernels), embed_dim=d,
            num_heads=d // state["encoder.blocks.0.attn.q_norm.weight"].shape[0],
            mlp_ratio=state["encoder.blocks.0.mlp.fc1.weight"].shape[0] / d,
            qkv_bias="encoder.blocks.0.attn.q_bias" in state,
            depth_encoder=_count(state, "encoder.blocks."),
            depth_decoder=_count(state, "decoder.blocks."),
            decoder_out_dim=state["decode_task_layer_amplitude.2.weight"].shape[0],
            n_codebooks=len(levels), codebook_size=embed.shape[0], code_dim=embed.shape[1])
    except (KeyError, IndexError, ValueError, ZeroDivisionError) as err:
        raise CheckpointError(f"{source} is not a NeuroRVQ tokenizer state dict "
                              f"({type(err).__name__}: {err}).") from err


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
