"""``sys_info`` in MNE's style: platform and dependency versions."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

import torch

from ._version import __version__
from .pipeline import resolve_device

__all__ = ["sys_info"]

_CORE = ("mne", "torch", "numpy", "scipy", "scikit-learn", "skorch", "safetensors", "tqdm",
         "matplotlib")
_OPTIONAL = ("braindecode", "torchaudio", "pyriemann", "sphinx", "sphinx-gallery")


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def sys_info(fid=None):
    """Print the platform, Python and the versions of mne_codec's dependencies.

    Optional packages (braindecode, torchaudio...) are reported from their
    installed metadata, without importing them.

    Parameters
    ----------
    fid : file-like | None
        Where to write (default: stdout).
    """
    out = fid or sys.stdout
    width = 16
    lines = [
        ("Platform", platform.platform()),
        ("Python", sys.version.split("\n")[0]),
        ("Executable", sys.executable),
        ("CPU", f"{platform.processor() or platform.machine()} "
                f"({torch.get_num_threads()} torch threads)"),
        ("Device (auto)", str(resolve_device("auto"))),
        ("mne_codec", __version__),
    ]
    if torch.cuda.is_available():
        lines.append(("CUDA", f"{torch.version.cuda} ({torch.cuda.get_device_name(0)})"))
    for dist in _CORE:
        lines.append((dist, _version(dist) or "not installed"))
    lines.append(("Optional", ""))
    for dist in _OPTIONAL:
        lines.append((dist, _version(dist) or "not installed"))
    for name, value in lines:
        print(f"{name + ':':<{width}} {value}".rstrip(), file=out)
