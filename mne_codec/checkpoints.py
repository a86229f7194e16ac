"""Codec registry, our checkpoint format, and the loaders of the authors' formats.

Our format is a folder (or two sibling files) holding ``model.safetensors``
(the state dict, no pickle) and ``config.json`` (``family``, ``config``,
``name`` and free-form ``meta``). Authors' formats are read with
``torch.load(weights_only=True)`` only, so a checkpoint can never run code;
the conversion of each family's format is the family's own
(``from_authors_state`` of its model class, ``convert`` in its subpackage of
:mod:`mne_codec.models`), and the loaders here read the file and dispatch.

Registered codecs are looked up in the package (shipped weights) and in the
cache folder, by default ``<MNE_DATA>/mne_codec`` and settable with the MNE
config key ``MNE_CODEC_DATA``. Nothing is downloaded unless
:func:`fetch_codec` is called explicitly.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import types
import typing
import urllib.error
import urllib.request
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path

import torch
from mne.utils import logger, verbose, warn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ._io import atomic_path, sha256_file
from ._registry import (  # noqa: F401 - re-exported, the registry's historical home
    _CONFIG_KEY,
    _PACKAGE_CODECS,
    DEFAULT_CODEC,
    REGISTRY,
    CodecInfo,
    codec_status,
    expected_checksum,
    get_cache_dir,
    list_codecs,
    record_checksum,
)
from ._version import __version__
from .models import DAC, FAMILIES, BioCodec, Codec, NeuroRVQ, NeuroRVQFM, NeuroRVQFMConfig
from .models.biocodec.convert import (  # noqa: F401 - re-exported, their historical home
    biocodec_state_from_authors,
    biocodec_state_to_authors,
)
from .models.dac.convert import (  # noqa: F401 - re-exported, their historical home
    dac_state_from_official,
    dac_state_to_official,
)
from .models.neurorvq.convert import neurorvq_state_from_authors  # noqa: F401 - re-exported
from .models.weights import CheckpointError, load_state_strict
from .readout import READOUT_FILE, SignalReadout

__all__ = [
    "CodecInfo",
    "REGISTRY",
    "list_codecs",
    "load_codec",
    "save_codec",
    "fetch_codec",
    "build_codec",
    "get_cache_dir",
    "load_biocodec_checkpoint",
    "load_neurorvq_checkpoint",
    "load_dac_checkpoint",
    "load_neurorvq_fm",
    "save_neurorvq_fm",
    "CheckpointError",
    "DownloadError",
]


class DownloadError(RuntimeError):
    """A registered codec's file could not be downloaded (offline, server error)."""


#: names whose licence warning was given in this process
_LICENCE_WARNED = set()


def _warn_licence(name, licence):
    """Warn once per process that weights are non-commercial (whichever loads first)."""
    if licence in _LICENCE_WARNED:
        return
    _LICENCE_WARNED.add(licence)
    warn(f"The weights of {name} are licensed {licence}: attribution required, "
         "non-commercial use only.", category=UserWarning)


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
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    weights, config = _our_files(path)
    state = {k: v.detach().cpu().contiguous() for k, v in codec.state_dict().items()}
    with atomic_path(weights) as tmp:  # never a half-written file under the final name
        save_file(state, str(tmp))
    doc = dict(family=codec.family, config=codec.config.to_dict(), meta=meta or {},
               sha256=sha256_file(weights))
    readout_file = weights.parent / READOUT_FILE
    readout = getattr(codec, "readout", None)  # codecs only (not NeuroRVQ's foundation model)
    if readout is not None and path.is_dir():
        readout.check(codec)
        doc["readout_sha256"] = sha256_file(readout.save(readout_file))
    elif readout_file.exists() and path.is_dir():  # another codec's, left by an earlier save
        readout_file.unlink()
    with atomic_path(config) as tmp:
        tmp.write_text(json.dumps(doc, indent=2))
    return path


def build_codec(family, config, classes=None):
    """Build an untrained model of ``family`` from a config dict, checking every field.

    Parameters
    ----------
    family : str
        A key of :data:`mne_codec.models.FAMILIES` (``"biocodec"``...).
    config : dict
        The config, as ``to_dict()`` of the family's config class writes it
        (our format's ``config.json`` holds it).
    classes : tuple of type | None
        ``(model class, config class)`` of a model that is no codec family
        (NeuroRVQ-FM); None: looked up in :data:`~mne_codec.models.FAMILIES`.

    Returns
    -------
    model : Codec
        Freshly initialised, in training mode.

    Raises
    ------
    CheckpointError
        If the family is unknown or a config field is invalid (named in the
        message).
    """
    if classes is None:
        if not isinstance(family, str) or family not in FAMILIES:
            raise CheckpointError(f"Unknown codec family {family!r}; known: {sorted(FAMILIES)}")
        classes = FAMILIES[family]
    model_cls, config_cls = classes
    if not isinstance(config, dict):
        raise CheckpointError(f"Invalid {family} config: a dict is needed, got "
                              f"{type(config).__name__}")
    _check_nulls(config_cls, config, family)
    try:
        config = config_cls.from_dict(config)
    except (TypeError, KeyError, ValueError) as err:
        raise CheckpointError(f"Invalid {family} config: {err}") from err
    _check_config(config, family)
    try:
        return model_cls(config)
    except (TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"Invalid {family} config: {err}") from err


# kept for mne_codec.cli, which imports it under this name
_build = build_codec


def _check_nulls(config_cls, config, where):
    """Refuse a ``null`` in a config dict where the field's type does not admit None.

    Checked on the dict, before ``from_dict``, so that ``"preprocessing": null``
    or ``"sfreq": null`` fail at load naming the field, not later in numpy/torch.
    """
    hints = typing.get_type_hints(config_cls)
    for f in fields(config_cls):
        if f.name not in config:
            continue
        value, hint = config[f.name], hints.get(f.name)
        if value is None and not _admits_none(hint):
            raise CheckpointError(f"Invalid config field {where}.{f.name}: null is not "
                                  f"allowed (it must be given or left out for its default)")
        if isinstance(value, dict) and isinstance(hint, type) and is_dataclass(hint):
            _check_nulls(hint, value, f"{where}.{f.name}")


def _admits_none(hint):
    """Whether a field annotated ``hint`` may be None (``X | None``, ``Optional[X]``)."""
    if hint is None or hint is typing.Any or hint is type(None):
        return True
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return type(None) in typing.get_args(hint)
    return False


def _check_config(config, where):
    """Check every field of a config dataclass against the kind of its default.

    A field whose default is a positive integer (sizes, counts, rates) must be a
    positive integer, one defaulting to 0 a non-negative integer, a float a
    finite number >= 0 (> 0 for rates), a tuple of positive integers (strides) the
    same; nested configs (``rvq``, ``preprocessing``) are checked alike. So a
    config that would fail deep inside torch fails at load, naming its field.
    """
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


def _load_ours(path, sha256=None, classes=None):
    doc, state, weights = _read_ours(path, sha256)
    if classes is not None and doc["family"] != classes[0].family:
        raise CheckpointError(f"{path} holds a {doc['family']!r} model, not "
                              f"{classes[0].family!r}.")
    model = build_codec(doc["family"], doc["config"], classes)
    model = load_state_strict(model, state, str(weights))
    model.meta = doc.get("meta", {})
    model.readout = _read_readout(weights.parent / READOUT_FILE, doc, model)
    return model


def _read_readout(path, doc, model):
    """Return the codec's signal read-out saved beside its weights (checked), or None."""
    sha256 = doc.get("readout_sha256")
    if sha256 is None:  # none saved with these weights (a file there is not theirs)
        return None
    if not path.exists():
        raise CheckpointError(f"{path} is missing: config.json names a read-out of the signal.")
    _check_sha256(path, sha256)
    readout = SignalReadout.load(path)
    try:
        readout.check(model)
    except ValueError as err:
        raise CheckpointError(f"{path}: {err}") from err
    return readout


def _read_ours(path, sha256=None):
    """Read the config document, the state dict and the weights path of our format."""
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


# -- the authors' formats ----------------------------------------------------------
def _torch_load(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for bad files
        raise CheckpointError(
            f"Could not read {path} as a torch checkpoint with weights_only=True: {err}"
        ) from err


def _authors_readers():
    """Map each authors' format to the codec class that reads it."""
    return {cls.authors_format: cls for cls, _ in FAMILIES.values() if cls.authors_format}


def _load_authors(model_cls, path, sha256=None, **options):
    """Read an authors' checkpoint file and let ``model_cls`` convert it."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"Checkpoint file {path} does not exist.")
    _check_sha256(path, sha256)
    _warn_authors_licence(model_cls)
    return model_cls.from_authors_state(_torch_load(path), str(path), **options).eval()


def _warn_authors_licence(model_cls):
    """Warn once when an authors' file under a non-commercial licence is read."""
    licence = getattr(model_cls, "authors_weights_license", None)
    if licence and "NC" in licence:
        _warn_licence(f"the authors' {model_cls.__name__} files", licence)


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
    return _load_authors(BioCodec, path, sha256, config=config)


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
    return _load_authors(DAC, path, sha256, preprocessing=preprocessing)


def load_neurorvq_checkpoint(path, config=None, sha256=None):
    """Load a NeuroRVQ tokenizer state dict saved by the authors' code (or braindecode's).

    The authors' weights (``NeuroRVQ_{EEG,ECG,EMG,PPG}_tokenizer_v1.pt``,
    from https://huggingface.co/ntinosbarmpas/NeuroRVQ) are licensed **CC
    BY-NC 4.0**: attribution, non-commercial use only. The file is read with
    ``torch.load(weights_only=True)`` (it cannot run code) and loaded
    strictly: the EEG v1 file has 505 keys, all of which must be present and
    no other (see :func:`~mne_codec.models.neurorvq.convert.neurorvq_state_from_authors`
    for the renaming; braindecode's ``NeuroRVQTokenizer`` layout is read too).

    Parameters
    ----------
    path : path-like
        ``.pt`` file: the tokenizer's ``state_dict()``.
    config : NeuroRVQConfig | None
        Architecture. None: read from the tensors' shapes, the modality (EEG,
        ECG, EMG or PPG: channel vocabulary, rate, preprocessing) from the
        number of electrode rows and the patch size
        (:func:`~mne_codec.models.neurorvq.config_from_state`).
    sha256 : str | None
        Expected checksum of the file.

    Returns
    -------
    codec : NeuroRVQ
        In eval mode.
    """
    return _load_authors(NeuroRVQ, path, sha256, config=config)


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
    path = Path(path)
    if path.is_dir() or path.suffix in (".safetensors", ".json"):
        if not path.exists():
            raise CheckpointError(f"Checkpoint {path} does not exist.")
        return _load_ours(path, sha256, (NeuroRVQFM, NeuroRVQFMConfig)).eval()
    return _load_authors(NeuroRVQFM, path, sha256, config=config)


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


def _verify_registered(info, path):
    """Check a registered file against its pinned or recorded sha256; record it if neither.

    Our format's folders carry their own checksum (in ``config.json``).
    """
    path = Path(path)
    if not path.is_file():
        return
    sha256, origin = expected_checksum(info.name)
    if sha256 is None:
        got = sha256_file(path)
        record_checksum(info.name, got, path.stat().st_size)
        logger.info(f"No published checksum for {info.name!r}: sha256 {got} recorded at first "
                    f"use in {get_cache_dir() / 'checksums.json'}; later loads verify it.")
        return
    got = sha256_file(path)
    if got != sha256:
        raise CheckpointError(
            f"Checksum mismatch for {path}: expected sha256 {sha256} ({origin}), got {got}. "
            "The file is corrupt or not the registered one; delete it and fetch it again.")


@verbose
def load_codec(codec="default", *, verbose=None):
    """Load a codec by registered name, Hub id, from a local path, or pass one through.

    Parameters
    ----------
    codec : str | path-like | Codec
        ``"default"``, a registered name (see :func:`list_codecs`), a Hugging
        Face Hub id ``"hf://owner/repo"`` or ``"hf://owner/repo@revision"``
        (a codec saved by :func:`mne_codec.hub.save_pretrained`; needs
        ``huggingface_hub``), a folder or ``.safetensors`` file in our format,
        an authors' ``.pt`` checkpoint, a DAC ``.pth`` weight file, or a
        :class:`~mne_codec.models.Codec` instance (returned as is).
    %(verbose)s

    Returns
    -------
    codec : Codec
        The model in eval mode.

    Notes
    -----
    A registered file is checked against its pinned sha256 or, where none is
    published, against the one recorded at its first download (recorded at
    the first load of a file put in the cache by hand). Weights under a
    non-commercial licence (NeuroRVQ, CC BY-NC 4.0) are loaded with a warning,
    once per process.
    """
    if isinstance(codec, Codec):
        return codec
    if not isinstance(codec, (str, os.PathLike)):
        raise TypeError(
            f"codec must be a registered name, a path or a Codec instance, got {type(codec)}"
        )
    if isinstance(codec, str) and codec.startswith("hf://"):
        # here, not at the top: mne_codec.hub imports this module (huggingface_hub stays
        # lazy there)
        from .hub import load_from_hub

        return load_from_hub(codec, verbose=verbose)
    name = DEFAULT_CODEC if codec == "default" else codec
    if isinstance(name, str) and name in REGISTRY:
        info = REGISTRY[name]
        path = _resolve_registered(info)
        _verify_registered(info, path)
        if info.noncommercial:
            _warn_licence(name, info.license)
        logger.info(f"Loading codec {name!r} ({info.license}) from {path}")
        model = _load_path(path, info.fmt, None)
        # a file of another modality under this name (the EEG tokenizer saved as the ECG one)
        modality = getattr(getattr(model, "config", None), "modality", info.modality)
        if modality != info.modality:
            raise CheckpointError(
                f"{path} holds a {modality.upper()} model, but {name!r} is registered as the "
                f"{info.modality.upper()} one; delete the file and fetch it again.")
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
    readers = _authors_readers()
    if fmt is None and path.suffix in (".pt", ".pth", ".ckpt"):
        obj = _torch_load(path)
        # a file no family recognises is read as BioCodec's, a bare state dict,
        # whose loader says what does not match
        model_cls = next((cls for cls in readers.values() if cls.is_authors_state(obj)),
                         readers["biocodec"])
        _warn_authors_licence(model_cls)
        return model_cls.from_authors_state(obj, str(path)).eval()
    fmt = fmt or "mne_codec"
    if fmt == "mne_codec":
        return _load_ours(path, sha256)
    if fmt in readers:
        return _load_authors(readers[fmt], path, sha256)
    raise CheckpointError(f"Unknown checkpoint format {fmt!r}")


@verbose
def fetch_codec(name, *, force=False, progress=True, verbose=None):
    """Download the weights of a registered codec into the cache (needs internet).

    The file comes from the entry's pinned, immutable address. The download
    resumes an interrupted one (HTTP ``Range``, from ``<file>.part``), shows
    a progress bar, is checked (size, sha256, git blob id where pinned) and
    only then appears under its final name. Where no checksum is published,
    the sha256 is recorded (``checksums.json`` in the cache) and later loads
    verify it. For files on the Hugging Face Hub, ``HF_HUB_OFFLINE=1`` forbids
    the download, and a copy already in the Hugging Face cache at the pinned
    revision is used instead.

    Parameters
    ----------
    name : str
        Registered name with a download URL.
    force : bool
        Download again even if the file exists.
    progress : bool
        Show a progress bar.
    %(verbose)s

    Returns
    -------
    path : Path
        Local path of the weights; pass it as ``codec=`` on offline machines.

    Raises
    ------
    DownloadError
        If the file cannot be fetched (one line, naming the local-file
        alternative).
    CheckpointError
        If the downloaded file is not the registered one.
    """
    if name not in REGISTRY:
        raise ValueError(f"Unknown codec {name!r}; registered: {', '.join(list_codecs())}")
    info = REGISTRY[name]
    if info.url is None:
        raise ValueError(f"Codec {name!r} ships with the package; nothing to download.")
    dest = get_cache_dir() / info.filename
    if not force:
        status, path = codec_status(name)
        if status in ("cached", "hf-cache"):
            _verify_registered(info, path)
            return path
    dest.parent.mkdir(parents=True, exist_ok=True)
    alternative = (f"on a machine with internet run mne_codec.fetch_codec({name!r}) and copy "
                   f"{info.filename} to {dest.parent}, or pass the file's local path as codec=")
    if info.hf_repo is not None and os.environ.get("HF_HUB_OFFLINE", "").lower() in (
            "1", "true", "yes", "on"):
        raise DownloadError(f"HF_HUB_OFFLINE is set, so {name} is not downloaded from "
                            f"{info.url}: {alternative}.")
    logger.info(f"Downloading {info.url} ({info.license}) to {dest}")
    try:
        part = _download(info.url, dest, size=info.size, progress=progress)
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        raise DownloadError(f"Could not download {name} from {info.url} ({reason}); offline? "
                            f"{alternative[0].upper()}{alternative[1:]}.") from err
    try:
        _check_download(info, part)
    except CheckpointError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)  # the whole, checked file appears at once
    return dest


def _download(url, dest, size=None, progress=True, timeout=60):
    """Fetch ``url`` into ``<dest>.part``, resuming what an earlier try left there."""
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    if size is not None and have == size:
        return part
    request = urllib.request.Request(url, headers={"User-Agent": f"mne-codec/{__version__}"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - registry URL
        status = getattr(response, "status", None) or response.getcode()
        if have and status != 206:
            have = 0  # the server ignored the range: start again
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else size
        if size is not None and total is not None and total != size:
            raise ValueError(f"the server offers {total} bytes, the registered file has {size}")
        with open(part, "ab" if have else "wb") as f, tqdm(
                total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                desc=dest.name, disable=not progress, leave=False) as bar:
            for block in iter(lambda: response.read(1 << 20), b""):
                f.write(block)
                bar.update(len(block))
    got = part.stat().st_size
    if total is not None and got != total:
        raise ValueError(f"the connection closed after {got} of {total} bytes (the part is "
                         "kept: fetch again to resume)")
    return part


def _git_blob_sha1(path):
    h = hashlib.sha1(f"blob {Path(path).stat().st_size}\0".encode())  # noqa: S324 - git's id
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_download(info, part):
    """Check a downloaded file against the pins of ``info``; record its sha256 if unpinned."""
    size = part.stat().st_size
    if info.size is not None and size != info.size:
        raise CheckpointError(f"Downloaded {info.name} has {size} bytes, the registered file "
                              f"{info.size}.")
    if info.git_blob_sha1 is not None and _git_blob_sha1(part) != info.git_blob_sha1:
        raise CheckpointError(f"Downloaded {info.name} does not have the git blob id "
                              f"{info.git_blob_sha1} of the file at {info.revision}.")
    got = sha256_file(part)
    sha256, origin = expected_checksum(info.name)
    if sha256 is not None and got != sha256:
        raise CheckpointError(f"Checksum mismatch for the download of {info.name}: expected "
                              f"sha256 {sha256} ({origin}), got {got}.")
    if sha256 is None:
        record_checksum(info.name, got, size)
        logger.info(f"No published checksum for {info.name!r}: sha256 {got} recorded at first "
                    "download; later loads verify it.")
