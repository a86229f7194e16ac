"""Small real recordings shipped with the package (nothing is downloaded)."""

from __future__ import annotations

import os
from pathlib import Path

from mne import concatenate_raws
from mne.datasets import eegbci
from mne.io import read_raw_edf, read_raw_fif
from mne.utils import verbose

__all__ = ["sample_raw", "sample_path", "data_path", "eegbci_raw", "moabb_physionet_mi"]

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


def data_path():
    """Folder of the open EEG used by the tutorials, tests and training recipe.

    ``$MNE_CODEC_SHARED_DATA`` if set, else ``shared/data`` beside the
    repository. It holds PhysioNet's EEGMMIDB (``MNE-eegbci-data``, MNE's own
    layout) and eegmat recordings; with internet, MNE downloads EEGMMIDB
    itself (``mne.datasets.eegbci.load_data``).

    Returns
    -------
    path : pathlib.Path
    """
    env = os.environ.get("MNE_CODEC_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


@verbose
def eegbci_raw(subject, runs, *, path=None, verbose=None):
    """EEGMMIDB runs of one subject as one Raw, with standard channel names.

    Parameters
    ----------
    subject : int
        Subject number (1-109).
    runs : list of int
        Runs (1/2: eyes open/closed baselines; 4/8/12: left/right fist imagery).
    path : path-like | None
        Where the files are (default :func:`data_path`); nothing is downloaded
        if they are there.
    %(verbose)s

    Returns
    -------
    raw : mne.io.Raw
        64 EEG channels at 160 Hz, in volts, with the task annotations
        (``T0`` rest, ``T1`` left, ``T2`` right for imagery runs).
    """
    path = data_path() if path is None else Path(path)
    files = eegbci.load_data(subjects=[subject], runs=list(runs), path=str(path),
                             update_path=False, verbose=verbose)
    raw = concatenate_raws([read_raw_edf(f, preload=True, verbose=verbose) for f in files],
                           verbose=verbose)
    eegbci.standardize(raw)
    return raw


def moabb_physionet_mi(subjects=None, *, path=None):
    """MOABB's ``PhysionetMI`` (imagined left/right fist), read offline from local files.

    MOABB's own dataset looks its files up on NEMAR and PhysioNet; this one
    reads EEGMMIDB's imagery runs 4, 8 and 12 from MNE's download layout
    under ``path`` and never downloads anything: a missing file raises
    FileNotFoundError. Use it as any MOABB dataset, e.g. with
    ``moabb.paradigms.LeftRightImagery`` and ``WithinSessionEvaluation``. It
    needs the optional extra ``moabb`` (``pip install "mne-codec[moabb]"``).

    Parameters
    ----------
    subjects : list of int | None
        Subjects (1-109); None: those whose three runs are under ``path``
        (S001-S010 in the shared data folder).
    path : path-like | None
        The folder holding ``MNE-eegbci-data`` (default :func:`data_path`).

    Returns
    -------
    dataset : moabb.datasets.PhysionetMI
        A subclass with the same code, events, interval and channels, for
        the hand runs only.
    """
    from ._moabb import PhysionetMI  # lazy: moabb is an optional dependency

    return PhysionetMI(data_path() if path is None else path, subjects)
