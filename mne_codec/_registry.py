"""The codec registry: names, licences, where the weights live.

Pure data and paths: importing it needs neither torch nor MNE (so that
``mne-codec list`` starts fast). Loading is in :mod:`mne_codec.checkpoints`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["CodecInfo", "REGISTRY", "DEFAULT_CODEC", "list_codecs", "get_cache_dir",
           "codec_status"]

_PACKAGE_CODECS = Path(__file__).parent / "data" / "codecs"
_CONFIG_KEY = "MNE_CODEC_DATA"


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
        (``"biocodec"``, ``"dac"``).
    license : str
        Licence of the weights.
    source : str
        Where the weights come from (paper, repository).
    url : str | None
        Where :func:`fetch_codec` downloads them from (None: shipped).
    sha256 : str | None
        Checksum of the weight file, verified on load when known.
    size_mb : float | None
        Download size in megabytes, where known (shown by ``mne-codec list``).
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
    size_mb: float | None = None


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
            name="biocodec-eeg",
            family="biocodec",
            description="BioCodec EEG codec as released by its authors (TUEG pretraining).",
            filename="biocodec_ckpt.pt",
            fmt="biocodec",
            license="MIT",
            source="Avramidis et al. 2025, arXiv 2510.09095; klean2050/BioCodec-release",
            url="https://github.com/klean2050/BioCodec-release/raw/main/biocodec_ckpt.pt",
            sha256=None,  # the authors publish no checksum
        ),
        CodecInfo(
            name="neurorvq-eeg-v1",
            family="neurorvq",
            description="NeuroRVQ EEG tokenizer v1 as released by its authors (76M parameters, "
            "200 Hz, 4 branches x 8 levels x 8192 codes per channel-second). "
            "NON-COMMERCIAL licence.",
            filename="NeuroRVQ_EEG_tokenizer_v1.pt",
            fmt="neurorvq",
            license="CC BY-NC 4.0 (weights and reference code; non-commercial use only)",
            source="Barmpas et al. 2025, arXiv 2510.13068; KonstantinosBarmpas/NeuroRVQ; "
            "huggingface.co/ntinosbarmpas/NeuroRVQ",
            url="https://huggingface.co/ntinosbarmpas/NeuroRVQ/resolve/main/pretrained_models/"
            "tokenizers/NeuroRVQ_EEG_tokenizer_v1.pt",
            sha256=None,  # the authors publish no checksum
        ),
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
                sha256=None,  # the authors publish no checksum
            )
            # the cache file names are DAC's own (~/.cache/descript/dac), so its
            # downloads can be copied into the mne_codec cache as they are
            for tag, bitrate, release, url_file in [
                ("16khz", "8kbps", "0.0.5", "weights_16khz.pth"),
                ("24khz", "8kbps", "0.0.4", "weights_24khz.pth"),
                ("44khz", "8kbps", "0.0.1", "weights.pth"),
                ("44khz_16kbps", "16kbps", "1.0.0", "weights_44khz_16kbps.pth"),
            ]
        ],
    ]
}
#: name used when ``codec="default"``
DEFAULT_CODEC = "biocodec-eeg-mne"


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


def codec_status(name):
    """Say whether a registered codec can be loaded now, without loading it.

    Parameters
    ----------
    name : str
        Registered name.

    Returns
    -------
    status : ``"shipped"`` | ``"cached"`` | ``"download"``
        Weights in the package, in the cache (:func:`get_cache_dir`), or to be
        fetched with :func:`~mne_codec.fetch_codec`.
    path : Path | None
        Where the weights are (None for ``"download"``).
    """
    info = REGISTRY[name]
    for status, folder in (("shipped", _PACKAGE_CODECS), ("cached", get_cache_dir())):
        candidate = folder / info.filename
        if candidate.exists():
            return status, candidate
    return "download", None
