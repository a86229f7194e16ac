"""The recordings of ``shared/data`` that the package's recipes train and validate on.

Training: EEGMMIDB S001-S008 runs 4/8/12 and eegmat Subject00-02 (rest and
task); validation: EEGMMIDB S009-S010 and eegmat Subject03 (see the data
README). Each recording is read with its dataset's channel fix-ups
(:class:`PrepareRaw`).
"""

from __future__ import annotations

from pathlib import Path

from mne.datasets import eegbci

from ..datasets import data_path

__all__ = ["EEGMMIDB", "EEGMAT_CHANNELS", "PrepareRaw", "default_data_dir", "default_splits",
           "eegmat_files", "eegmmidb_files", "prepare_eegbci", "prepare_eegmat"]

EEGMMIDB = "MNE-eegbci-data/files/eegmmidb/1.0.0"
EEGMAT_CHANNELS = ("Fp1", "Fp2", "F3", "F4", "F7", "F8", "T3", "T4", "C3", "C4",
                   "T5", "T6", "P3", "P4", "O1", "O2", "Fz", "Cz", "Pz")


def default_data_dir():
    """``$MNE_CODEC_SHARED_DATA``, else ``shared/data`` next to the repository."""
    return data_path()


def prepare_eegbci(raw):
    """Standardise EEGMMIDB channel names (``'Fc5.'`` -> ``'FC5'``)."""
    eegbci.standardize(raw)
    return raw


def prepare_eegmat(raw):
    """eegmat: strip ``'EEG '``, type A2-A1 as misc and ECG as ecg, keep the 19 EEG."""
    raw.rename_channels(lambda c: c.replace("EEG ", "").replace("ECG ECG", "ECG"))
    raw.set_channel_types({"A2-A1": "misc", "ECG": "ecg"}, on_unit_change="ignore")
    raw.pick(list(EEGMAT_CHANNELS))
    return raw


def eegmmidb_files(data, subjects, runs=(4, 8, 12)):
    """EEGMMIDB imagery runs of ``subjects`` under ``data``."""
    root = Path(data) / EEGMMIDB
    return [root / f"S{s:03d}" / f"S{s:03d}R{r:02d}.edf" for s in subjects for r in runs]


def eegmat_files(data, subjects):
    """Eegmat recordings (rest ``_1`` and task ``_2``) of ``subjects``."""
    return [Path(data) / "eegmat" / f"Subject{s:02d}_{k}.edf" for s in subjects for k in (1, 2)]


class PrepareRaw:
    """Pick the channel fix-up by file (picklable, for data-loader workers)."""

    def __call__(self, raw):
        """Apply the fix-ups of the dataset that ``raw`` was read from, in place."""
        name = Path(raw.filenames[0]).name
        return prepare_eegmat(raw) if name.startswith("Subject") else prepare_eegbci(raw)


def default_splits(data, split):
    """Return the recordings of the package's recipes under ``data`` (``shared/data``).

    Parameters
    ----------
    data : path-like
        The data folder.
    split : ``"train"`` | ``"val"``
        Training: EEGMMIDB S001-S008 runs 4/8/12 and eegmat Subject00-02;
        validation: EEGMMIDB S009-S010 and eegmat Subject03, by name.

    Returns
    -------
    files : list of Path | dict of str to list of Path
    """
    if split == "train":
        return eegmmidb_files(data, range(1, 9)) + eegmat_files(data, range(0, 3))
    return {"eegmmidb": eegmmidb_files(data, (9, 10)), "eegmat": eegmat_files(data, (3,))}
