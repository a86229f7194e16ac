"""Small real recordings shipped with the package (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

from mne.io import read_raw_fif
from mne.utils import verbose

__all__ = ["sample_raw", "sample_path"]

_DATA = Path(__file__).parent / "data"


def sample_path():
    """Path of the shipped sample recording (see ``mne_codec/data/README.md``)."""
    return _DATA / "sample_eegmat_raw.fif"


@verbose
def sample_raw(*, verbose=None):
    """20 s of real 19-channel resting EEG at 500 Hz (eegmat Subject03, ODC-By 1.0).

    Parameters
    ----------
    %(verbose)s

    Returns
    -------
    raw : mne.io.Raw
        Preloaded, with the 10-20 montage set.
    """
    return read_raw_fif(sample_path(), preload=True, verbose=verbose)
