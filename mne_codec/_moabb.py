"""MOABB's PhysionetMI read from local EEGMMIDB files (imported only with moabb)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from moabb.datasets import PhysionetMI as _PhysionetMI

#: where MNE's layout keeps the EEGMMIDB files under a data folder
_EEGMMIDB = Path("MNE-eegbci-data") / "files" / "eegmmidb" / "1.0.0"
_PATH_KEY = "MNE_DATASETS_EEGBCI_PATH"


@contextmanager
def _eegbci_path(path):
    """MOABB's EEGBCI folder set to ``path`` within (its config key, via the environment).

    Without it, MOABB would write ``MNE_DATA`` to the user's MNE config file
    when none is set.
    """
    before = os.environ.get(_PATH_KEY)
    os.environ[_PATH_KEY] = str(path)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(_PATH_KEY, None)
        else:
            os.environ[_PATH_KEY] = before


class PhysionetMI(_PhysionetMI):
    """PhysionetMI's imagined left/right fist runs (4, 8, 12), from local files only.

    The subjects are those whose three runs are under ``path`` (or those
    given); a missing file raises FileNotFoundError, and nothing is ever
    downloaded (no NEMAR lookup, no PhysioNet request). The feet runs of
    MOABB's PhysionetMI are not read: left vs right hand imagery needs only
    the hand runs.
    """

    nemar_id = None  # MOABB would look its files up on NEMAR first

    def __init__(self, path, subjects=None):
        self.local_path = Path(path)
        root = self.local_path / _EEGMMIDB
        if subjects is None:
            subjects = [s for s in range(1, 110)
                        if all((root / f"S{s:03d}" / f"S{s:03d}R{r:02d}.edf").is_file()
                               for r in (4, 8, 12))]
            if not subjects:
                raise FileNotFoundError(f"No EEGMMIDB imagery runs (4, 8, 12) under {root}.")
        super().__init__(imagined=True, executed=False, subjects=list(subjects))
        self.feet_runs = []

    def _get_single_subject_data(self, subject):
        with _eegbci_path(self.local_path):
            return super()._get_single_subject_data(subject)

    def data_path(self, subject, path=None, force_update=False, update_path=None,
                  verbose=None):
        """Local files of the subject's hand imagery runs."""
        return self._load_data(subject, self.hand_runs)

    def _load_data(self, subject, runs, path=None, force_update=False, verbose=None):
        root = self.local_path / _EEGMMIDB
        files = [root / f"S{subject:03d}" / f"S{subject:03d}R{r:02d}.edf"
                 for r in ([runs] if isinstance(runs, int) else runs)]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise FileNotFoundError(f"EEGMMIDB files not found (this dataset reads local files "
                                    f"only, it downloads nothing): {missing}")
        return [str(f) for f in files]
