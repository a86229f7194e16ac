"""The Hugging Face Hub: load codecs by Hub id, save and publish codecs trained with mne-codec.

A codec on the Hub is a model repository in our format: ``model.safetensors``
(the state dict, no pickle), ``config.json`` (family, config, metadata,
checksum of the weights), a model card ``README.md`` generated from the
metadata the training recipes record (training data, recipe, the
rate-distortion table) and, where the codec has one, its signal read-out
``readout.safetensors`` (:mod:`mne_codec.readout`). Any family saved by
:func:`save_pretrained` loads by its Hub id::

    codec = mne_codec.load_codec("hf://owner/repo@revision")

``huggingface_hub`` is an optional dependency (``pip install
mne-codec[hub]``), imported only when a Hub function runs. Downloads go to
the Hugging Face cache (``HF_HUB_CACHE``, ``HF_HOME``; files already there are
not downloaded again) and ``HF_HUB_OFFLINE=1`` reads that cache only, never
the network. Pin a revision (a commit id) for reproducible loads.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from mne.utils import logger, verbose

from ._registry import hf_cache_dir
from ._version import __version__
from .checkpoints import DownloadError, _load_ours, save_codec

__all__ = ["parse_hub_id", "load_from_hub", "save_pretrained", "push_to_hub", "model_card"]

#: files of a codec repository
HUB_FILES = ("model.safetensors", "config.json", "README.md", "readout.safetensors")
_HUB_ID = re.compile(r"^(?:hf://)?([A-Za-z0-9][\w.-]*/[\w.-]+)(?:@([\w./-]+))?$")


def _import_hub():
    try:
        # lazy: huggingface_hub is the optional extra ``hub``; nothing else needs it
        import huggingface_hub
    except ImportError as err:
        raise ImportError("The Hugging Face Hub functions need huggingface_hub: pip install "
                          "'mne-codec[hub]' (or pip install huggingface_hub).") from err
    return huggingface_hub


def _offline():
    """Whether ``HF_HUB_OFFLINE`` is set (read at each call, as the environment may change)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def parse_hub_id(spec):
    """Split a Hub id into the repository and the revision.

    Parameters
    ----------
    spec : str
        ``"hf://owner/repo"``, ``"hf://owner/repo@revision"`` (a commit id,
        branch or tag), or the same without ``hf://``.

    Returns
    -------
    repo_id : str
        ``"owner/repo"``.
    revision : str | None
        None for the default branch.
    """
    m = _HUB_ID.match(str(spec).strip())
    if m is None:
        raise ValueError(f"{spec!r} is not a Hugging Face Hub id; expected "
                         "'hf://owner/repo' or 'hf://owner/repo@revision'.")
    return m.group(1), m.group(2)


@verbose
def load_from_hub(spec, *, revision=None, verbose=None):
    """Load a codec saved by :func:`save_pretrained` from the Hugging Face Hub.

    Parameters
    ----------
    spec : str
        ``"hf://owner/repo"`` or ``"hf://owner/repo@revision"``.
    revision : str | None
        Revision, if ``spec`` has none (a commit id pins the exact files).
    %(verbose)s

    Returns
    -------
    codec : Codec
        In eval mode; ``codec.name`` is the Hub id, ``codec.meta`` the
        metadata of ``config.json``.

    Raises
    ------
    DownloadError
        If the files can be neither found in the Hugging Face cache nor
        downloaded (one line; offline, it names the cache searched).
    """
    repo_id, rev = parse_hub_id(spec)
    rev = rev or revision
    folder = _snapshot(repo_id, rev)
    logger.info(f"Loading codec hf://{repo_id}@{rev or 'main'} from {folder}")
    model = _load_ours(folder)
    model.name = f"hf://{repo_id}" + (f"@{rev}" if rev else "")
    return model.eval()


def _snapshot(repo_id, revision):
    """Return the local folder of the repository's files at ``revision`` (cache first)."""
    hub = _import_hub()
    cache = hf_cache_dir()
    offline = _offline()
    try:
        return Path(hub.snapshot_download(
            repo_id, revision=revision, cache_dir=cache, local_files_only=offline,
            allow_patterns=list(HUB_FILES), library_name="mne-codec",
            library_version=__version__))
    except Exception as err:  # noqa: BLE001 - huggingface_hub raises many types offline
        where = f"hf://{repo_id}@{revision or 'main'}"
        if offline:
            raise DownloadError(
                f"HF_HUB_OFFLINE is set and {where} is not in the Hugging Face cache {cache} "
                f"({type(err).__name__}): download it once with internet, or pass the local "
                "folder of save_pretrained() as codec=.") from err
        raise DownloadError(
            f"Could not get {where} ({type(err).__name__}: {err}); offline? Pass the local "
            "folder of save_pretrained() as codec=, or set HF_HUB_OFFLINE=1 to use the "
            "Hugging Face cache only.") from err


def _fmt(value, digits=4):
    return "" if value is None else (f"{value:.{digits}g}" if isinstance(value, float)
                                     else str(value))


def _rate_distortion_rows(codec, meta):
    """Markdown lines of the rate-distortion table the metadata carry (none: empty)."""
    report = meta.get("rate_distortion")
    if isinstance(report, dict) and report.get("rows"):
        lines = ["| levels | bit/s per channel | side bit/s | NMSE | SNR (dB) |",
                 "|---:|---:|---:|---:|---:|"]
        for row in report["rows"]:
            lines.append(f"| {row.get('n_codebooks')} | {_fmt(row.get('bits_per_second'))} | "
                         f"{_fmt(row.get('side_bits_per_second', 0.0))} | "
                         f"{_fmt(row.get('nmse'))} | {_fmt(row.get('snr_db'), 3)} |")
        return lines
    final = (meta.get("training") or {}).get("final_validation")
    if not isinstance(final, dict) or not final:
        return []
    sets = [name for name, v in final.items() if isinstance(v, dict)]
    levels = sorted({int(k.split("_")[1]) for name in sets for k in final[name]
                     if k.startswith("nmse_") and k.split("_")[1].isdigit()})
    if not levels:
        return []
    per_level = codec.bits_per_second / codec.n_codebooks
    lines = ["| levels | bit/s per channel | " + " | ".join(f"NMSE {s}" for s in sets) + " |",
             "|---:|---:|" + "---:|" * len(sets)]
    for k in levels:
        cells = " | ".join(_fmt(final[s].get(f"nmse_{k}")) for s in sets)
        lines.append(f"| {k} | {_fmt(per_level * k)} | {cells} |")
    return lines


def model_card(codec, meta=None, *, repo_id=None):
    """Write the model card (``README.md``) of a codec trained with mne-codec.

    Parameters
    ----------
    codec : Codec
        The model.
    meta : dict | None
        Its metadata (``codec.meta`` by default): ``recipe``, ``train_data``,
        ``val_data``, ``license``, ``training`` (with ``final_validation``,
        the NMSE per number of levels) and ``rate_distortion`` (a report of
        :func:`~mne_codec.evaluation.evaluate_codec`) are used where present.
    repo_id : str | None
        The Hub repository, for the loading example.

    Returns
    -------
    text : str
        Markdown with a YAML header (``library_name: mne-codec``, licence,
        tags).
    """
    meta = dict(getattr(codec, "meta", None) or {}) if meta is None else dict(meta)
    licence = meta.get("license", "other")
    cfg = codec.config
    tags = ["mne-codec", getattr(cfg, "modality", "eeg"), "neural-codec", "tokenizer",
            codec.family]
    prep = getattr(cfg, "preprocessing", None)
    lines = ["---", "library_name: mne-codec", f"license: {licence}", "tags:"]
    lines += [f"- {t}" for t in tags]
    lines += ["---", "", f"# {codec.family} codec trained with mne-codec", "",
              f"A `{codec.family}` codec saved by mne-codec {__version__}: "
              f"{_fmt(codec.sfreq)} Hz, {codec.max_codebooks} levels of "
              f"{codec.codebook_size} codes, {_fmt(codec.frame_rate)} frames per second, "
              f"{_fmt(codec.bits_per_second)} bit/s per channel with every level.", "",
              "## Use", "", "```python", "import mne_codec", "",
              f"codec = mne_codec.load_codec(\"hf://{repo_id or '<owner>/<repo>'}\")",
              "tokens = mne_codec.tokenize(raw, codec=codec)", "```", "",
              "## Training", ""]
    for key, label in (("recipe", "Recipe"), ("train_data", "Training data"),
                       ("val_data", "Validation data")):
        lines.append(f"- {label}: {meta[key]}" if meta.get(key) else
                     f"- {label}: not recorded in the checkpoint")
    training = meta.get("training") or {}
    if training.get("steps") is not None:
        lines.append(f"- Steps: {training['steps']}"
                     + (f" ({_fmt(training.get('train_minutes'), 3)} min)"
                        if training.get("train_minutes") is not None else ""))
    if prep is not None:
        lines.append(f"- Input: {prep!r}")
    table = _rate_distortion_rows(codec, meta)
    lines += ["", "## Rate and distortion", ""]
    lines += (table or ["The checkpoint carries no rate-distortion measurement."])
    lines += ["", "NMSE: normalised mean squared error on the validation data, with the "
              "first levels of the residual quantizer.", ""]
    return "\n".join(lines)


def save_pretrained(codec, path, *, meta=None, card=True):
    """Save a codec as a Hub repository folder: weights, config and model card.

    Parameters
    ----------
    codec : Codec
        The model.
    path : path-like
        Folder to create (or reuse).
    meta : dict | None
        Metadata to store (``codec.meta`` by default); see :func:`model_card`.
    card : bool
        Write ``README.md`` (:func:`model_card`).

    Returns
    -------
    path : Path
        The folder: ``model.safetensors``, ``config.json``, ``README.md`` (and
        ``readout.safetensors`` for a codec with a signal read-out);
        :func:`~mne_codec.load_codec` reads it, and :func:`push_to_hub`
        uploads it.
    """
    meta = dict(getattr(codec, "meta", None) or {}) if meta is None else dict(meta)
    path = save_codec(codec, path, meta=meta)
    if card:
        (Path(path) / "README.md").write_text(model_card(codec, meta), encoding="utf-8")
    return Path(path)


@verbose
def push_to_hub(codec, repo_id, *, folder=None, meta=None, revision=None, private=None,
                commit_message=None, token=None, verbose=None):
    """Upload a codec trained with mne-codec to the Hugging Face Hub.

    Parameters
    ----------
    codec : Codec
        The model.
    repo_id : str
        ``"owner/repo"`` (created if missing).
    folder : path-like | None
        Where to write the files first (:func:`save_pretrained`); None: a
        temporary folder.
    meta : dict | None
        Metadata (``codec.meta`` by default).
    revision : str | None
        Branch to commit to (None: the default branch).
    private : bool | None
        Visibility of a repository created here.
    commit_message : str | None
        Default: ``"Upload <family> codec with mne-codec <version>"``.
    token : str | None
        Hub token (default: the one ``huggingface_hub`` finds).
    %(verbose)s

    Returns
    -------
    commit : huggingface_hub.CommitInfo
        What ``HfApi.upload_folder`` returned (its ``oid`` is the revision to
        pin: ``load_codec(f"hf://{repo_id}@{commit.oid}")``).
    """
    hub = _import_hub()
    repo_id, _ = parse_hub_id(repo_id)
    if _offline():
        raise DownloadError(f"HF_HUB_OFFLINE is set: {repo_id} cannot be pushed.")
    api = hub.HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    message = commit_message or f"Upload {codec.family} codec with mne-codec {__version__}"
    meta = dict(getattr(codec, "meta", None) or {}) if meta is None else dict(meta)

    def upload(where):
        save_pretrained(codec, where, meta=meta)
        card = Path(where) / "README.md"
        card.write_text(model_card(codec, meta, repo_id=repo_id), encoding="utf-8")
        logger.info(f"Uploading {', '.join(HUB_FILES)} to {repo_id}")
        return api.upload_folder(repo_id=repo_id, folder_path=str(where), revision=revision,
                                 commit_message=message, allow_patterns=list(HUB_FILES))

    if folder is not None:
        return upload(folder)
    with tempfile.TemporaryDirectory(prefix="mne_codec_push_") as tmp:
        return upload(tmp)

