"""The codec registry: names, licences, where the weights live, how they are pinned.

Pure data and paths: importing it needs neither torch nor MNE (so that
``mne-codec list`` starts fast). Loading and downloading are in
:mod:`mne_codec.checkpoints`.

Every download is pinned to an immutable address: a git commit (GitHub
``raw/<commit>/...``), a Hugging Face revision (``resolve/<commit>/...``) or a
release tag. Where a source we trust publishes the file's size and sha256,
the entry holds them and every download and every load is checked against
them. Where none does, the first download (or the first load of a file put
in the cache by hand) records the sha256 in ``checksums.json`` of the cache
folder, says so, and later loads are checked against that record.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ._io import atomic_path

__all__ = ["CodecInfo", "REGISTRY", "DEFAULT_CODEC", "list_codecs", "get_cache_dir",
           "codec_status", "expected_checksum", "record_checksum", "recorded_checksums",
           "hf_cache_dir", "checksum_status"]

_PACKAGE_CODECS = Path(__file__).parent / "data" / "codecs"
_CONFIG_KEY = "MNE_CODEC_DATA"
_RECORDS = "checksums.json"


@dataclass(frozen=True)
class CodecInfo:
    """An entry of the codec registry.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"biocodec-eeg-mne"``.
    family : str
        Codec family (``"biocodec"``...).
    description : str
        One line for humans.
    filename : str
        File or folder name, in the package's ``data/codecs`` or the cache.
    fmt : str
        ``"mne_codec"`` (safetensors + JSON) or the authors' format
        (``"biocodec"``, ``"dac"``, ``"neurorvq"``).
    license : str
        Licence of the weights.
    source : str
        Where the weights come from (paper, repository).
    url : str | None
        Immutable address :func:`~mne_codec.fetch_codec` downloads from
        (None: shipped with the package).
    sha256 : str | None
        Pinned checksum of the weight file (None: recorded at first download).
    size : int | None
        Pinned size of the file in bytes, where known.
    revision : str | None
        The pinned revision: a git commit, a Hugging Face commit or a release tag.
    pin_source : str | None
        Where ``sha256`` and ``size`` come from.
    git_blob_sha1 : str | None
        The file's git blob id at ``revision`` (a checksum git itself keeps),
        checked at download where known.
    modality : str
        ``"eeg"``, ``"ecg"``, ``"emg"`` or ``"ppg"``.
    hf_repo, hf_filename : str | None
        Hugging Face repository and path of the file, for files on the Hub (a
        copy in the Hugging Face cache at ``revision`` is used as is).
    """

    name: str
    family: str
    description: str
    filename: str
    fmt: str
    license: str
    source: str
    url: str | None = None
    sha256: str | None = None
    size: int | None = None
    revision: str | None = None
    pin_source: str | None = None
    git_blob_sha1: str | None = None
    modality: str = "eeg"
    hf_repo: str | None = None
    hf_filename: str | None = None

    @property
    def size_mb(self):
        """Pinned size in megabytes (None where not known)."""
        return None if self.size is None else self.size / 1e6

    @property
    def noncommercial(self):
        """Whether the weights' licence forbids commercial use (CC BY-NC)."""
        return "NC" in self.license.replace("NON-COMMERCIAL", "NC")


_NEURORVQ_REPO = "ntinosbarmpas/NeuroRVQ"
# the revision braindecode pins for the authors' weights (braindecode/models/
# neurorvq_tokenizer.py, development branch); the EEG file's size and sha256
# at that revision are from the parity report of braindecode PR #1223
_NEURORVQ_REVISION = "d944b87f44ae0ba2923b2f10d0518f23f6803b76"
_NEURORVQ_LICENSE = "CC BY-NC 4.0 (weights and reference code)"
_NEURORVQ_SOURCE = ("Barmpas et al. 2025, arXiv 2510.13068; KonstantinosBarmpas/NeuroRVQ; "
                    "huggingface.co/ntinosbarmpas/NeuroRVQ")
_NEURORVQ = {
    # modality: (what, parameters, sha256, size, pin source)
    "eeg": ("EEG tokenizer v1 (76M parameters, 200 Hz, 104-electrode vocabulary, 4 branches "
            "x 8 levels x 8192 codes per channel-second)",
            "d3e850e160b1a558c529466b1c0b8cebe8888a5e02824979886dd226187b2725", 304_130_106,
            "parity report of braindecode PR #1223 (the file at this revision)"),
    "ecg": ("ECG tokenizer v1 (200 Hz, 0.2-s patches of 40 samples, 12 leads + vx/vy/vz, "
            "4 branches x 8 levels x 8192 codes per patch)", None, None, None),
    "emg": ("EMG tokenizer v1 (143M parameters, 1000 Hz, 0.2-s patches, channels c1-c16, "
            "4 branches x 16 levels x 8192 codes per patch)", None, None, None),
    "ppg": ("PPG tokenizer v1 (100 Hz, 0.8-s patches of 80 samples, one channel, 4 branches "
            "x 8 levels x 8192 codes per patch)", None, None, None),
}


def _neurorvq_entry(modality, what, sha256, size, pin_source):
    path = f"pretrained_models/tokenizers/NeuroRVQ_{modality.upper()}_tokenizer_v1.pt"
    return CodecInfo(
        name=f"neurorvq-{modality}-v1",
        family="neurorvq",
        description=f"NeuroRVQ {what}, as released by its authors. NON-COMMERCIAL licence.",
        filename=Path(path).name,
        fmt="neurorvq",
        license=_NEURORVQ_LICENSE,
        source=_NEURORVQ_SOURCE,
        url=f"https://huggingface.co/{_NEURORVQ_REPO}/resolve/{_NEURORVQ_REVISION}/{path}",
        sha256=sha256,
        size=size,
        revision=_NEURORVQ_REVISION,
        pin_source=pin_source,
        modality=modality,
        hf_repo=_NEURORVQ_REPO,
        hf_filename=path,
    )


# BioCodec: the file is a plain git blob of the release repository (added in its
# first commit, unchanged since); its blob id is git's own checksum of it
_BIOCODEC_REVISION = "575bf6ea7ae14a34754b217d9b940597a16951bd"

# DAC: release tags; the sha256 (and size) of the 16, 24 and 44.1 kHz files are
# those recorded by independent projects that pin the official release assets
# (the 44.1 kHz one by several)
_DAC = [
    # tag, bitrate, release, file, sha256, size
    ("16khz", "8kbps", "0.0.5", "weights_16khz.pth",
     "95ab7176b67137d4d4c6c54b8d6ef3cea797faec228cb03ad084badcad570b4d", None),
    ("24khz", "8kbps", "0.0.4", "weights_24khz.pth",
     "44bad592fc393e03eb0be7a5120b7d487fe9612fa41269dc03fca3d4b87e20ad", None),
    ("44khz", "8kbps", "0.0.1", "weights.pth",
     "a88eed82a7024ccc1facdb1e605c4c2f99281c8118c22c9895ffa846d8fb61aa", 306_717_287),
    ("44khz_16kbps", "16kbps", "1.0.0", "weights_44khz_16kbps.pth", None, None),
]

REGISTRY = {
    info.name: info
    for info in [
        CodecInfo(
            name="biocodec-eeg-mne",
            family="biocodec",
            description="BioCodec architecture trained by mne-codec on the EEGMMIDB and "
            "eegmat recordings shipped with the project (250 Hz, 6 x 256 codes); "
            "the default codec.",
            filename="biocodec-eeg-mne",
            fmt="mne_codec",
            license="BSD-3-Clause (weights); data ODC-By 1.0 (PhysioNet)",
            source="mne-codec; see MODEL_CARD.md beside the weights",
        ),
        CodecInfo(
            name="biocodec-eeg-mne-v2",
            family="biocodec",
            description="BioCodec architecture with attention across channels (codes a "
            "montage jointly, by electrode name; any montage and unnamed arrays work), "
            "trained by mne-codec with quantizer dropout on the EEGMMIDB and eegmat "
            "recordings shipped with the project (250 Hz, 8 x 256 codes).",
            filename="biocodec-eeg-mne-v2",
            fmt="mne_codec",
            license="BSD-3-Clause (weights); data ODC-By 1.0 (PhysioNet)",
            source="mne-codec; see MODEL_CARD.md beside the weights",
        ),
        CodecInfo(
            name="biocodec-eeg",
            family="biocodec",
            description="BioCodec EEG codec as released by its authors (TUEG pretraining). "
            "The authors publish no EMG weights.",
            filename="biocodec_ckpt.pt",
            fmt="biocodec",
            license="MIT",
            source="Avramidis et al. 2025, arXiv 2510.09095; klean2050/BioCodec-release",
            url="https://github.com/klean2050/BioCodec-release/raw/"
            f"{_BIOCODEC_REVISION}/biocodec_ckpt.pt",
            revision=_BIOCODEC_REVISION,
            git_blob_sha1="2809c946f970e0649f1751a70f8dc39f173f94b1",
            pin_source="git blob id of the file at this commit (sha256 recorded at first "
            "download)",
        ),
        *[_neurorvq_entry(m, *values) for m, values in _NEURORVQ.items()],
        *[
            CodecInfo(
                name=f"dac-{tag.replace('_', '-')}",
                family="dac",
                description=f"Descript Audio Codec {tag} as released (audio-pretrained, not "
                "EEG-tuned), reading EEG at 250 Hz sample for sample (DACConfig.eeg).",
                filename=f"weights_{tag.split('_')[0]}_{bitrate}_{release}.pth",
                fmt="dac",
                license="MIT",
                source="Kumar et al. 2023, arXiv 2306.06546; descriptinc/descript-audio-codec "
                f"release {release}",
                url=f"https://github.com/descriptinc/descript-audio-codec/releases/download/"
                f"{release}/{url_file}",
                sha256=sha256,
                size=size,
                revision=f"release {release}",
                pin_source=None if sha256 is None else "independent records of the release "
                "asset (projects pinning it)",
            )
            # the cache file names are DAC's own (~/.cache/descript/dac), so its
            # downloads can be copied into the mne_codec cache as they are
            for tag, bitrate, release, url_file, sha256, size in _DAC
        ],
    ]
}
#: name used when ``codec="default"``
DEFAULT_CODEC = "biocodec-eeg-mne-v2"


def list_codecs():
    """Names of the registered codecs.

    Returns
    -------
    names : list of str
    """
    return sorted(REGISTRY)


def get_cache_dir():
    """Folder where downloaded codec weights live.

    ``MNE_CODEC_DATA`` from the MNE config (or environment) if set, else
    ``<MNE_DATA or ~/mne_data>/mne_codec``.
    """
    from mne.utils import get_config  # lazy: `mne-codec list` starts without importing MNE

    path = get_config(_CONFIG_KEY)
    if path is None:
        path = Path(get_config("MNE_DATA", str(Path("~/mne_data").expanduser()))) / "mne_codec"
    return Path(path).expanduser()


def hf_cache_dir():
    """Return the Hugging Face Hub cache folder (``HF_HUB_CACHE``, ``HF_HOME/hub`` or the default).

    Read from the environment as ``huggingface_hub`` does, without importing it.
    """
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path(
        os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "huggingface"
    return Path(home).expanduser() / "hub"


def _hf_cached_file(info):
    """Return the file of a Hub entry in the Hugging Face cache, at the pinned revision, or None."""
    if info.hf_repo is None:
        return None
    folder = hf_cache_dir() / ("models--" + info.hf_repo.replace("/", "--"))
    candidate = folder / "snapshots" / info.revision / info.hf_filename
    return candidate if candidate.is_file() else None


def codec_status(name):
    """Say whether a registered codec can be loaded now, without loading it.

    Parameters
    ----------
    name : str
        Registered name.

    Returns
    -------
    status : ``"shipped"`` | ``"cached"`` | ``"hf-cache"`` | ``"download"``
        Weights in the package, in the cache (:func:`get_cache_dir`), in the
        Hugging Face cache at the pinned revision, or to be fetched with
        :func:`~mne_codec.fetch_codec`.
    path : Path | None
        Where the weights are (None for ``"download"``).
    """
    info = REGISTRY[name]
    for status, folder in (("shipped", _PACKAGE_CODECS), ("cached", get_cache_dir())):
        candidate = folder / info.filename
        if candidate.exists():
            return status, candidate
    hf_file = _hf_cached_file(info)
    if hf_file is not None:
        return "hf-cache", hf_file
    return "download", None


def recorded_checksums():
    """Return the checksums recorded at first download, by registered name.

    Returns
    -------
    records : dict
        ``{name: {"sha256", "size", "url", "revision"}}`` from
        ``checksums.json`` in :func:`get_cache_dir` (empty if none).
    """
    path = get_cache_dir() / _RECORDS
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return records if isinstance(records, dict) else {}


def record_checksum(name, sha256, size):
    """Record the sha256 and size of a registered codec's file (first download).

    Parameters
    ----------
    name : str
        Registered name.
    sha256 : str
        Hex digest of the file.
    size : int
        Its size in bytes.
    """
    info = REGISTRY[name]
    records = recorded_checksums()
    records[name] = dict(sha256=sha256, size=int(size), url=info.url, revision=info.revision)
    path = get_cache_dir() / _RECORDS
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(records, indent=1, sort_keys=True))


def expected_checksum(name):
    """Return the checksum a registered codec's file must have, and where it comes from.

    Parameters
    ----------
    name : str
        Registered name.

    Returns
    -------
    sha256 : str | None
        The pinned checksum, else the one recorded at first download, else None.
    origin : ``"pinned"`` | ``"recorded"`` | None
        Which of the two.
    """
    info = REGISTRY[name]
    if info.sha256 is not None:
        return info.sha256, "pinned"
    record = recorded_checksums().get(name)
    # a record of another address (an older pin) says nothing of this one
    if isinstance(record, dict) and record.get("url") == info.url and record.get("sha256"):
        return record["sha256"], "recorded"
    return None, None


def checksum_status(name):
    """Say how a registered codec's file is verified, without reading it.

    Parameters
    ----------
    name : str
        Registered name.

    Returns
    -------
    state : ``"published"`` | ``"recorded"`` | ``"unverified"`` | ``"shipped"``
        A sha256 from a trusted source (checked at every download and load);
        one recorded at the first download here (later loads are checked
        against it); none yet (it will be recorded at the first download or
        load); or weights shipped with the package (whose ``config.json``
        holds their sha256).
    text : str
        One line for humans.
    """
    info = REGISTRY[name]
    if info.url is None:
        return "shipped", "shipped with the package; config.json holds the weights' sha256"
    blob = (f"; git blob id {info.git_blob_sha1} checked at download"
            if info.git_blob_sha1 else "")
    if info.sha256 is not None:
        return "published", f"sha256 {info.sha256} (published: {info.pin_source}){blob}"
    sha256, origin = expected_checksum(name)
    if origin == "recorded":
        return "recorded", (f"sha256 {sha256} (recorded on first download; later loads are "
                            f"checked against it){blob}")
    return "unverified", (f"unverified: no published sha256; it is recorded on first download "
                          f"and checked at later loads{blob}")
