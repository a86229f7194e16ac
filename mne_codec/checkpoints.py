"""Codec registry, our checkpoint format, and the authors' formats.

Our format is a folder (or two sibling files) holding ``model.safetensors``
(the state dict, no pickle) and ``config.json`` (``family``, ``config``,
``name`` and free-form ``meta``). Authors' formats are read with
``torch.load(weights_only=True)`` only, so a checkpoint can never run code.

Registered codecs are looked up in the package (shipped weights) and in the
cache folder, by default ``<MNE_DATA>/mne_codec`` and settable with the MNE
config key ``MNE_CODEC_DATA``. Nothing is downloaded unless
:func:`fetch_codec` is called explicitly.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import torch
from mne.utils import logger, verbose

from ._io import atomic_path, sha256_file
from ._registry import (  # noqa: F401 - re-exported, the registry's historical home
    _CONFIG_KEY,
    _PACKAGE_CODECS,
    DEFAULT_CODEC,
    REGISTRY,
    CodecInfo,
    codec_status,
    get_cache_dir,
    list_codecs,
)
from .models import FAMILIES, Codec

__all__ = [
    "CodecInfo",
    "REGISTRY",
    "list_codecs",
    "load_codec",
    "save_codec",
    "fetch_codec",
    "get_cache_dir",
    "load_biocodec_checkpoint",
    "load_neurorvq_checkpoint",
    "load_dac_checkpoint",
    "load_neurorvq_fm",
    "save_neurorvq_fm",
    "CheckpointError",
]

class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt or does not match its model."""


def _check_sha256(path, expected):
    if expected is None:
        return
    got = sha256_file(path)
    if got != expected:
        raise CheckpointError(
            f"Checksum mismatch for {path}: expected sha256 {expected}, got {got}. "
            "The file is corrupt or not the registered one; delete it and fetch it again."
        )


# -- our format --------------------------------------------------------------
def _our_files(path):
    path = Path(path)
    if path.is_dir():
        return path / "model.safetensors", path / "config.json"
    if path.suffix == ".safetensors":
        return path, path.with_suffix(".json")
    if path.suffix == ".json":
        return path.with_suffix(".safetensors"), path
    raise CheckpointError(f"{path} is not an mne-codec checkpoint")


def save_codec(codec, path, meta=None):
    """Save a codec as ``model.safetensors`` + ``config.json`` in a folder.

    Parameters
    ----------
    codec : Codec
        The model.
    path : path-like
        Folder to create (or reuse).
    meta : dict | None
        Extra JSON metadata (training summary...).

    Returns
    -------
    path : Path
        The folder.
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    weights, config = _our_files(path)
    state = {k: v.detach().cpu().contiguous() for k, v in codec.state_dict().items()}
    with atomic_path(weights) as tmp:  # never a half-written file under the final name
        save_file(state, str(tmp))
    doc = dict(family=codec.family, config=codec.config.to_dict(), meta=meta or {},
               sha256=sha256_file(weights))
    with atomic_path(config) as tmp:
        tmp.write_text(json.dumps(doc, indent=2))
    return path


def _build(family, config_dict):
    if not isinstance(family, str) or family not in FAMILIES:
        raise CheckpointError(f"Unknown codec family {family!r}; known: {sorted(FAMILIES)}")
    model_cls, config_cls = FAMILIES[family]
    if not isinstance(config_dict, dict):
        raise CheckpointError(f"Invalid {family} config: a dict is needed, got "
                              f"{type(config_dict).__name__}")
    try:
        config = config_cls.from_dict(config_dict)
    except (TypeError, KeyError, ValueError) as err:
        raise CheckpointError(f"Invalid {family} config: {err}") from err
    _check_config(config, family)
    try:
        return model_cls(config)
    except (TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"Invalid {family} config: {err}") from err


def _check_config(config, where):
    """Check every field of a config dataclass against the kind of its default.

    A field whose default is a positive integer (sizes, counts, rates) must be a
    positive integer, one defaulting to 0 a non-negative integer, a float a
    finite number >= 0 (> 0 for rates), a tuple of positive integers (strides) the
    same; nested configs (``rvq``, ``preprocessing``) are checked alike. So a
    config that would fail deep inside torch fails at load, naming its field.
    """
    from dataclasses import MISSING, fields, is_dataclass

    for f in fields(config):
        value = getattr(config, f.name)
        name = f"{where}.{f.name}"
        if is_dataclass(value):
            _check_config(value, name)
            continue
        default = f.default if f.default_factory is MISSING else f.default_factory()
        if default is MISSING or default is None or value is None:
            continue
        if isinstance(default, bool):
            ok = isinstance(value, bool)
            need = "a bool"
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= min(
                default, 1)
            need = "a positive integer" if default >= 1 else "an integer >= 0"
        elif isinstance(default, float):
            # rates must be positive; other floats (dropouts, weights) may be 0
            rate = "sfreq" in f.name
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
                  and math.isfinite(value) and (value > 0 if rate else value >= 0))
            need = "a positive number" if rate else "a number >= 0"
        elif isinstance(default, tuple) and default and all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in default):
            ok = isinstance(value, tuple) and all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
            need = "a list of positive integers"
        elif isinstance(default, str):
            ok = isinstance(value, str)
            need = "a string"
        else:
            continue
        if not ok:
            raise CheckpointError(f"Invalid config field {name}: {need} is needed, got "
                                  f"{value!r}")


def _load_strict(model, state, source):
    missing, unexpected = [], []
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


def _load_ours(path, sha256=None):
    doc, state, weights = _read_ours(path, sha256)
    model = _build(doc["family"], doc["config"])
    model = _load_strict(model, state, str(weights))
    model.meta = doc.get("meta", {})
    return model


def _read_ours(path, sha256=None):
    """Read the config document, the state dict and the weights path of our format."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights, config = _our_files(path)
    for f in (weights, config):
        if not f.exists():
            raise CheckpointError(f"Checkpoint file {f} does not exist.")
    _check_sha256(weights, sha256)
    try:
        doc = json.loads(config.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{config} is not valid JSON: {err}") from err
    if not isinstance(doc, dict) or "family" not in doc or "config" not in doc:
        raise CheckpointError(f"{config} lacks 'family' and 'config'.")
    if doc.get("sha256"):
        _check_sha256(weights, doc["sha256"])
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights} is not a valid safetensors file: {err}") from err
    return doc, state, weights


# -- the authors' BioCodec format ----------------------------------------------
_BIOCODEC_RENAMES = [
    (re.compile(r"^quantizer\.vq\.layers\.(\d+)\._codebook\."), r"quantizer.layers.\1.codebook."),
    (re.compile(r"^quantizer\.vq\.layers\.(\d+)\."), r"quantizer.layers.\1."),
]


def _torch_load(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for bad files
        raise CheckpointError(
            f"Could not read {path} as a torch checkpoint with weights_only=True: {err}"
        ) from err


def biocodec_state_from_authors(obj):
    """Convert an authors' BioCodec checkpoint object to our state dict.

    Accepts the trained-checkpoint wrapper (``{"model_state_dict": ...}``), the
    ``_orig_mod.`` prefix that ``torch.compile`` leaves, and plain state dicts.
    Legacy ``weight_g``/``weight_v`` weight-norm names are mapped to the
    parametrisation names.
    """
    if isinstance(obj, dict) and "model_state_dict" in obj:
        obj = obj["model_state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError("Not a BioCodec state dict (expected a dict of tensors).")
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


def _infer_biocodec_config(state):
    """Recover the BioCodec architecture from tensor shapes."""
    from .models.biocodec import BioCodecConfig
    from .preprocessing import Preprocessing
    from .quantization import RVQConfig

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


def load_biocodec_checkpoint(path, config=None, sha256=None):
    """Load a checkpoint saved by the authors' BioCodec code.

    Parameters
    ----------
    path : path-like
        ``.pt`` file (``{"model_state_dict": ...}`` or a plain state dict).
    config : BioCodecConfig | None
        Architecture; inferred from tensor shapes if None (hop 12 means the
        EEG model at 250 Hz, hop 18 the EMG model at 1000 Hz).
    sha256 : str | None
        Expected checksum of the file.

    Returns
    -------
    codec : BioCodec
        In eval mode, loaded strictly (no missing or unexpected keys).
    """
    from .models.biocodec import BioCodec

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"Checkpoint file {path} does not exist.")
    _check_sha256(path, sha256)
    state = biocodec_state_from_authors(_torch_load(path))
    config = config or _infer_biocodec_config(state)
    model = _load_strict(BioCodec(config), state, str(path))
    return model.eval()


# -- DAC's released format --------------------------------------------------------
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


def _is_dac_object(obj):
    return isinstance(obj, dict) and "state_dict" in obj and "metadata" in obj


def _dac_from_object(obj, source, preprocessing=None):
    from .models.dac import DAC, DACConfig

    if not _is_dac_object(obj):
        raise CheckpointError(
            f"{source} is not a DAC weight file: expected a dict with 'state_dict' and "
            "'metadata' (as saved by DAC.save / downloaded from its releases)."
        )
    metadata = obj["metadata"]
    kwargs = metadata.get("kwargs") if isinstance(metadata, dict) else None
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"{source}: 'metadata' has no 'kwargs' dict of DAC hyper-parameters.")
    try:
        config = DACConfig.from_dac_kwargs(kwargs, preprocessing)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{source}: invalid DAC hyper-parameters {kwargs}: {err}") from err
    state = dac_state_from_official(obj["state_dict"])
    return _load_strict(DAC(config), state, str(source)).eval()


def load_dac_checkpoint(path, preprocessing=None, sha256=None):
    """Load a weight file of the Descript Audio Codec (``weights_16khz.pth``...).

    The file is DAC's release format, ``torch.save`` of
    ``{"state_dict": ..., "metadata": {"kwargs": {...}}}``. It holds only
    tensors and plain Python values, so it is read with
    ``torch.load(weights_only=True)``: it cannot run code. Every
    hyper-parameter comes from ``metadata["kwargs"]`` and the weights are
    loaded strictly (no missing, unexpected or reshaped tensor).

    To obtain the official files (MIT licence), with internet:
    ``mne_codec.fetch_codec("dac-16khz")`` (see :func:`list_codecs`), or
    download ``https://github.com/descriptinc/descript-audio-codec/releases/
    download/0.0.5/weights_16khz.pth`` (tags: 0.0.4 ``weights_24khz.pth``,
    0.0.1 ``weights.pth`` for 44.1 kHz, 1.0.0 ``weights_44khz_16kbps.pth``)
    and pass its local path.

    Parameters
    ----------
    path : path-like
        The ``.pth`` file.
    preprocessing : Preprocessing | None
        What the codec reads; default EEG at 250 Hz, robust-scaled and
        clipped at 5 (see :meth:`mne_codec.models.DACConfig.eeg`).
    sha256 : str | None
        Expected checksum of the file.

    Returns
    -------
    codec : DAC
        In eval mode.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"Checkpoint file {path} does not exist.")
    _check_sha256(path, sha256)
    return _dac_from_object(_torch_load(path), str(path), preprocessing)


# -- the authors' NeuroRVQ format ---------------------------------------------------
_NEURORVQ_CODEBOOK = re.compile(r"^(quantize_\d+\.layers\.\d+)\.(embedding\.[a-z_]+|cluster_size)$")
_NEURORVQ_RENAMES = {
    "embedding.weight": "codebook.embed",
    "embedding.embed_avg": "codebook.embed_avg",
    "embedding.initted": "codebook.inited",
    "cluster_size": "codebook.cluster_size",
    # k-means counts of the initialisation, never read again upstream: checked, not kept
    "embedding.cluster_size": None,
}


def _is_neurorvq_state(obj):
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
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError("Not a NeuroRVQ state dict (expected a dict of tensors).")
    state, dropped = {}, []
    for key, value in obj.items():
        key = key.removeprefix("_orig_mod.").removeprefix("module.")
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


def _neurorvq_from_state(obj, source, config=None):
    from .models.neurorvq import NeuroRVQ, NeuroRVQConfig

    state, dropped = neurorvq_state_from_authors(obj)
    model = NeuroRVQ(config or NeuroRVQConfig())
    # every kept codebook must come with its k-means counts, as upstream saves them
    expected = {k.replace(".codebook.embed_avg", ".embedding.cluster_size")
                for k in model.state_dict() if k.endswith(".codebook.embed_avg")}
    missing = sorted(expected - set(dropped))
    unexpected = sorted(set(dropped) - expected)
    if missing or unexpected:
        raise CheckpointError(
            f"{source} does not match a neurorvq model: {len(missing)} missing keys "
            f"{missing[:5]}, {len(unexpected)} unexpected keys {unexpected[:5]}."
        )
    return _load_strict(model, state, source).eval()


def load_neurorvq_checkpoint(path, config=None, sha256=None):
    """Load a NeuroRVQ tokenizer state dict saved by the authors' code.

    The authors' weights (``NeuroRVQ_EEG_tokenizer_v1.pt``, from
    https://huggingface.co/ntinosbarmpas/NeuroRVQ) are licensed **CC BY-NC
    4.0**: attribution, non-commercial use only. The file is read with
    ``torch.load(weights_only=True)`` (it cannot run code) and loaded
    strictly: the v1 file has 505 keys, all of which must be present and no
    other (see :func:`neurorvq_state_from_authors` for the renaming).

    Parameters
    ----------
    path : path-like
        ``.pt`` file: the tokenizer's ``state_dict()``.
    config : NeuroRVQConfig | None
        Architecture (default: the EEG v1 tokenizer).
    sha256 : str | None
        Expected checksum of the file.

    Returns
    -------
    codec : NeuroRVQ
        In eval mode.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"Checkpoint file {path} does not exist.")
    _check_sha256(path, sha256)
    return _neurorvq_from_state(_torch_load(path), str(path), config)



# -- NeuroRVQ foundation model ------------------------------------------------------
_FM_HEAD = re.compile(r"^head_pre_(\d+)\.weight$")


def _fm_config_from_state(state, source):
    """Infer the NeuroRVQFMConfig that an authors'-layout state dict was saved from."""
    from .models.neurorvq_fm import NeuroRVQFMConfig

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
        return NeuroRVQFMConfig(
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


def load_neurorvq_fm(path, config=None, sha256=None):
    """Load a NeuroRVQ foundation model: the authors' ``.pt`` or our folder.

    The authors' weights (``NeuroRVQ_EEG_foundation_model_v1.pt``, from
    https://huggingface.co/ntinosbarmpas/NeuroRVQ) are licensed **CC BY-NC
    4.0**: attribution, non-commercial use only. Their file is the
    ``state_dict()`` of their pre-training model (``NeuroRVQFM(...,
    use_for_pretraining=True)``, see ``tests/data/neurorvq_fm_v1_keys.txt``):
    it is read with ``torch.load(weights_only=True)`` and loaded strictly,
    every key of :class:`~mne_codec.models.NeuroRVQFM` present with its shape
    and no other. The prediction heads (``head_pre_*``) may be absent as a
    whole: the model is then built without them (``n_targets=0``).
    Without ``config``, the architecture is read from the tensors' shapes
    (head width from the q/k norms, layer scale from ``gamma_*``); the input
    is the tokenizer's (:func:`~mne_codec.models.neurorvq.neurorvq_preprocessing`).

    A folder (or ``.safetensors`` file) written by :func:`save_neurorvq_fm`
    loads with its saved config.

    Parameters
    ----------
    path : path-like
        ``.pt`` file, or our folder.
    config : NeuroRVQFMConfig | None
        Architecture of an authors' file (default: read from the file).
    sha256 : str | None
        Expected checksum of the weights file.

    Returns
    -------
    model : NeuroRVQFM
        In eval mode; ``model.meta`` holds our format's metadata (empty for
        an authors' file).
    """
    from .models.neurorvq_fm import NeuroRVQFM, NeuroRVQFMConfig

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"Checkpoint {path} does not exist.")
    if path.is_dir() or path.suffix in (".safetensors", ".json"):
        doc, state, weights = _read_ours(path, sha256)
        if doc["family"] != NeuroRVQFM.family:
            raise CheckpointError(f"{path} holds a {doc['family']!r} model, not "
                                  f"{NeuroRVQFM.family!r}.")
        model = _load_strict(NeuroRVQFM(NeuroRVQFMConfig.from_dict(doc["config"])), state,
                             str(weights))
        model.meta = doc.get("meta", {})
        return model.eval()
    _check_sha256(path, sha256)
    obj = _torch_load(path)
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} is not a state dict (expected a dict of tensors).")
    state = {k.removeprefix("_orig_mod.").removeprefix("module."): v.float()
             if v.is_floating_point() else v for k, v in obj.items()}
    model = NeuroRVQFM(config or _fm_config_from_state(state, str(path)))
    model = _load_strict(model, state, str(path))
    model.meta = {}
    return model.eval()


def save_neurorvq_fm(model, path, meta=None):
    """Save a NeuroRVQ foundation model as ``model.safetensors`` + ``config.json``.

    The tensors keep the authors' names (see :func:`load_neurorvq_fm`).

    Parameters
    ----------
    model : NeuroRVQFM
        The model.
    path : path-like
        Folder to create (or reuse).
    meta : dict | None
        Extra JSON metadata (training summary, target tokenizer...).

    Returns
    -------
    path : Path
        The folder.
    """
    return save_codec(model, path, meta)


def _resolve_registered(info):
    _, path = codec_status(info.name)
    if path is not None:
        return path
    raise CheckpointError(
        f"The weights of codec {info.name!r} are not on this machine. "
        + (f"With internet, run mne_codec.fetch_codec({info.name!r}) to download them into "
           f"{get_cache_dir()}, or download {info.url} yourself and pass its local path "
           "as codec=." if info.url else "They should ship with the package; reinstall it.")
    )


@verbose
def load_codec(codec="default", *, verbose=None):
    """Load a codec by registered name, from a local path, or pass one through.

    Parameters
    ----------
    codec : str | path-like | Codec
        ``"default"``, a registered name (see :func:`list_codecs`), a folder or
        ``.safetensors`` file in our format, an authors' ``.pt`` checkpoint,
        a DAC ``.pth`` weight file, or a :class:`~mne_codec.models.Codec`
        instance (returned as is).
    %(verbose)s

    Returns
    -------
    codec : Codec
        The model in eval mode.
    """
    if isinstance(codec, Codec):
        return codec
    if not isinstance(codec, (str, os.PathLike)):
        raise TypeError(
            f"codec must be a registered name, a path or a Codec instance, got {type(codec)}"
        )
    name = DEFAULT_CODEC if codec == "default" else codec
    if isinstance(name, str) and name in REGISTRY:
        info = REGISTRY[name]
        path = _resolve_registered(info)
        logger.info(f"Loading codec {name!r} ({info.license}) from {path}")
        model = _load_path(path, info.fmt, info.sha256)
        model.name = name
        return model.eval()
    path = Path(name).expanduser()
    if not path.exists():
        raise ValueError(
            f"Unknown codec {str(codec)!r}: not a registered name ({', '.join(list_codecs())}) "
            "nor an existing path."
        )
    model = _load_path(path, None, None)
    model.name = str(path)
    return model.eval()


def _load_path(path, fmt, sha256):
    path = Path(path)
    if fmt is None and path.suffix in (".pt", ".pth", ".ckpt"):
        obj = _torch_load(path)
        # DAC files wrap the weights with their hyper-parameters; BioCodec's
        # are a state dict or {"model_state_dict": ...}
        if _is_dac_object(obj):
            return _dac_from_object(obj, str(path))
        if _is_neurorvq_state(obj):
            return _neurorvq_from_state(obj, str(path))
        fmt = "biocodec"
    fmt = fmt or "mne_codec"
    if fmt == "mne_codec":
        return _load_ours(path, sha256)
    if fmt == "biocodec":
        return load_biocodec_checkpoint(path, sha256=sha256)
    if fmt == "neurorvq":
        return load_neurorvq_checkpoint(path, sha256=sha256)
    if fmt == "dac":
        return load_dac_checkpoint(path, sha256=sha256)
    raise CheckpointError(f"Unknown checkpoint format {fmt!r}")


@verbose
def fetch_codec(name, *, force=False, verbose=None):
    """Download the weights of a registered codec into the cache (needs internet).

    Parameters
    ----------
    name : str
        Registered name with a download URL.
    force : bool
        Download again even if the file exists.
    %(verbose)s

    Returns
    -------
    path : Path
        Local path of the weights; pass it as ``codec=`` on offline machines.
    """
    if name not in REGISTRY:
        raise ValueError(f"Unknown codec {name!r}; registered: {', '.join(list_codecs())}")
    info = REGISTRY[name]
    if info.url is None:
        raise ValueError(f"Codec {name!r} ships with the package; nothing to download.")
    dest = get_cache_dir() / info.filename
    if dest.exists() and not force:
        return dest
    import urllib.error
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    logger.info(f"Downloading {info.url} ({info.license}) to {dest}")
    with atomic_path(dest) as tmp:
        try:
            urllib.request.urlretrieve(info.url, tmp)  # noqa: S310 - https URL from the registry
        except (urllib.error.URLError, OSError) as err:
            raise RuntimeError(
                f"Could not download {info.url}: {err}. On an offline machine, copy the file "
                "from a machine with internet and pass its local path as codec=, or put it at "
                f"{dest}."
            ) from err
        _check_sha256(tmp, info.sha256)
    return dest
