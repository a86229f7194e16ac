"""Channel names: one normalisation, the package's electrode vocabulary, positions.

Codecs that code channels jointly (NeuroRVQ, DAC-MC) and the foundation model
identify a channel by its electrode name. This module is the one place where
MNE channel names are matched to electrodes:

- :func:`normalize_channel_name` reduces a recorded name to its electrode
  (case, ``"EEG "`` prefixes, ``"-REF"``-style reference suffixes and the
  trailing dots of EEGBCI are ignored);
- :data:`CHANNEL_ALIASES` maps the old 10-20 temporal names and the mastoids
  to their modern equivalents (T3/T7, T4/T8, T5/P7, T6/P8, M1/A1, M2/A2);
- :func:`map_channels` maps a list of names to the rows of a vocabulary,
  with an explicit policy for names that match nothing;
- :data:`CHANNEL_VOCABULARY` is the package-wide vocabulary (the 10-05
  system), whose indices are what multi-channel training batches carry;
- :func:`channel_positions` gives their 3-D positions (for spatial sampling);
- :func:`non_eeg_channels` tells channels that files type as EEG but whose
  names say otherwise (ECG, EOG, EMG, the reference electrodes A1/A2/M1/M2,
  bipolar derivations such as ``"A2-A1"`` or ``"Fp1-F7"``, status and
  trigger channels); they are not coded unless picked explicitly.
"""

from __future__ import annotations

import re
import warnings

import mne
import numpy as np

__all__ = ["CHANNEL_VOCABULARY", "CHANNEL_ALIASES", "normalize_channel_name", "map_channels",
           "channel_indices", "channel_names", "channel_positions", "non_eeg_channels"]

#: The package's electrode vocabulary: the names of MNE's standard 10-05
#: montage (339 electrodes; the old names T3/T4/T5/T6, which sit where T7/T8/
#: P7/P8 sit, are aliases). This is a frozen copy: trained models index
#: embeddings by position in it, so it is never reordered (only appended to).
CHANNEL_VOCABULARY = (
    "Fp1", "Fpz", "Fp2", "AF9", "AF7", "AF5", "AF3", "AF1", "AFz", "AF2", "AF4", "AF6",
    "AF8", "AF10", "F9", "F7", "F5", "F3", "F1", "Fz", "F2", "F4", "F6", "F8", "F10", "FT9",
    "FT7", "FC5", "FC3", "FC1", "FCz", "FC2", "FC4", "FC6", "FT8", "FT10", "T9", "T7", "C5",
    "C3", "C1", "Cz", "C2", "C4", "C6", "T8", "T10", "TP9", "TP7", "CP5", "CP3", "CP1",
    "CPz", "CP2", "CP4", "CP6", "TP8", "TP10", "P9", "P7", "P5", "P3", "P1", "Pz", "P2",
    "P4", "P6", "P8", "P10", "PO9", "PO7", "PO5", "PO3", "PO1", "POz", "PO2", "PO4", "PO6",
    "PO8", "PO10", "O1", "Oz", "O2", "I1", "Iz", "I2", "AFp9h", "AFp7h", "AFp5h", "AFp3h",
    "AFp1h", "AFp2h", "AFp4h", "AFp6h", "AFp8h", "AFp10h", "AFF9h", "AFF7h", "AFF5h",
    "AFF3h", "AFF1h", "AFF2h", "AFF4h", "AFF6h", "AFF8h", "AFF10h", "FFT9h", "FFT7h",
    "FFC5h", "FFC3h", "FFC1h", "FFC2h", "FFC4h", "FFC6h", "FFT8h", "FFT10h", "FTT9h",
    "FTT7h", "FCC5h", "FCC3h", "FCC1h", "FCC2h", "FCC4h", "FCC6h", "FTT8h", "FTT10h",
    "TTP9h", "TTP7h", "CCP5h", "CCP3h", "CCP1h", "CCP2h", "CCP4h", "CCP6h", "TTP8h",
    "TTP10h", "TPP9h", "TPP7h", "CPP5h", "CPP3h", "CPP1h", "CPP2h", "CPP4h", "CPP6h",
    "TPP8h", "TPP10h", "PPO9h", "PPO7h", "PPO5h", "PPO3h", "PPO1h", "PPO2h", "PPO4h",
    "PPO6h", "PPO8h", "PPO10h", "POO9h", "POO7h", "POO5h", "POO3h", "POO1h", "POO2h",
    "POO4h", "POO6h", "POO8h", "POO10h", "OI1h", "OI2h", "Fp1h", "Fp2h", "AF9h", "AF7h",
    "AF5h", "AF3h", "AF1h", "AF2h", "AF4h", "AF6h", "AF8h", "AF10h", "F9h", "F7h", "F5h",
    "F3h", "F1h", "F2h", "F4h", "F6h", "F8h", "F10h", "FT9h", "FT7h", "FC5h", "FC3h",
    "FC1h", "FC2h", "FC4h", "FC6h", "FT8h", "FT10h", "T9h", "T7h", "C5h", "C3h", "C1h",
    "C2h", "C4h", "C6h", "T8h", "T10h", "TP9h", "TP7h", "CP5h", "CP3h", "CP1h", "CP2h",
    "CP4h", "CP6h", "TP8h", "TP10h", "P9h", "P7h", "P5h", "P3h", "P1h", "P2h", "P4h", "P6h",
    "P8h", "P10h", "PO9h", "PO7h", "PO5h", "PO3h", "PO1h", "PO2h", "PO4h", "PO6h", "PO8h",
    "PO10h", "O1h", "O2h", "I1h", "I2h", "AFp9", "AFp7", "AFp5", "AFp3", "AFp1", "AFpz",
    "AFp2", "AFp4", "AFp6", "AFp8", "AFp10", "AFF9", "AFF7", "AFF5", "AFF3", "AFF1", "AFFz",
    "AFF2", "AFF4", "AFF6", "AFF8", "AFF10", "FFT9", "FFT7", "FFC5", "FFC3", "FFC1", "FFCz",
    "FFC2", "FFC4", "FFC6", "FFT8", "FFT10", "FTT9", "FTT7", "FCC5", "FCC3", "FCC1", "FCCz",
    "FCC2", "FCC4", "FCC6", "FTT8", "FTT10", "TTP9", "TTP7", "CCP5", "CCP3", "CCP1", "CCPz",
    "CCP2", "CCP4", "CCP6", "TTP8", "TTP10", "TPP9", "TPP7", "CPP5", "CPP3", "CPP1", "CPPz",
    "CPP2", "CPP4", "CPP6", "TPP8", "TPP10", "PPO9", "PPO7", "PPO5", "PPO3", "PPO1", "PPOz",
    "PPO2", "PPO4", "PPO6", "PPO8", "PPO10", "POO9", "POO7", "POO5", "POO3", "POO1", "POOz",
    "POO2", "POO4", "POO6", "POO8", "POO10", "OI1", "OIz", "OI2", "M1", "M2", "A1", "A2",
)

#: Fallbacks for a name that is not in a vocabulary: the old and new 10-20
#: temporal names and the mastoids. A name that *is* in the vocabulary is
#: always used as is (a vocabulary may hold both T3 and T7).
CHANNEL_ALIASES = {
    "t3": "t7", "t4": "t8", "t5": "p7", "t6": "p8",
    "t7": "t3", "t8": "t4", "p7": "t5", "p8": "t6",
    "m1": "a1", "m2": "a2",
}

_PREFIX = re.compile(r"^(eeg|emg|ecg|eog)[\s_:-]+")
_SUFFIX = re.compile(r"[-_](ref|le|ar|avg|a1|a2|m1|m2|cz)$")


def normalize_channel_name(name):
    """Reduce a recorded channel name to a lower-case electrode name.

    Parameters
    ----------
    name : str
        E.g. ``"EEG Fp1-REF"``, ``"Fc5."``, ``"C3..`` or ``"Cz"``.

    Returns
    -------
    name : str
        E.g. ``"fp1"``, ``"fc5"``, ``"c3"``, ``"cz"``.
    """
    n = str(name).strip().lower()
    n = _PREFIX.sub("", n)
    n = _SUFFIX.sub("", n)
    return n.strip(" .")


#: names that start with a non-EEG signal (``"ECG"``, ``"EKG2"``, ``"HEOG"``,
#: ``"EMG chin"``) or that are status/trigger channels (``"Status"``, ``"STI 014"``)
_NON_EEG_WORD = re.compile(r"(?<![a-z])([hv]?eog|ecg|ekg|emg)|(?<![a-z])(status|trigger|trig|"
                           r"stim?)(?![a-z])")
#: the ear and mastoid electrodes, which EEG is referenced to, not coded as EEG
_REFERENCE_ELECTRODES = frozenset({"a1", "a2", "m1", "m2"})
#: one electrode name (``"fp1"``, ``"afz"``, ``"ffc5h"``, ``"t10"``)
_ELECTRODE = re.compile(r"[a-z]{1,4}\d{0,2}[hz]?")


def non_eeg_channels(ch_names):
    """Return the channels whose names mark them as something other than EEG electrodes.

    Files (EDF in particular) often type every channel as EEG. These names
    are read as not EEG: names that start with ECG, EKG, EOG (HEOG, VEOG) or
    EMG; status and trigger channels (``"Status"``, ``"TRIGGER"``,
    ``"STI 014"``); the reference electrodes A1, A2, M1, M2 on their own
    (also as ``"A2-A1"``), unless the recording numbers its electrodes that
    way (BioSemi's A1...A32: an ``A3`` or ``M3`` is present); and bipolar
    derivations between two electrodes (``"Fp1-F7"``). Referential names
    (``"EEG Fp1-REF"``, ``"Fp1-A1"``, ``"C3-LE"``) and EEGBCI names with
    trailing dots (``"Fc5."``) are EEG: names are first reduced by
    :func:`normalize_channel_name`.

    Parameters
    ----------
    ch_names : list of str
        Channel names of one recording.

    Returns
    -------
    names : list of str
        Those of ``ch_names`` that are not EEG electrodes, in their order.
    """
    normalized = [normalize_channel_name(c) for c in ch_names]
    numbered = {n[0] for n in normalized if n in ("a3", "m3")}
    refs = {r for r in _REFERENCE_ELECTRODES if r[0] not in numbered}
    return [name for name, n in zip(ch_names, normalized) if _non_eeg(name, n, refs)]


def _non_eeg(name, normalized, refs):
    if _NON_EEG_WORD.search(str(name).strip().lower()):
        return True
    if normalized in refs:
        return True
    parts = [p.strip(" .") for p in normalized.split("-")]
    return len(parts) == 2 and all(_ELECTRODE.fullmatch(p) for p in parts)


def map_channels(ch_names, vocabulary=CHANNEL_VOCABULARY, unknown="raise", what="electrode"):
    """Map channel names to the rows of an electrode vocabulary.

    Names are matched with :func:`normalize_channel_name`; a name that is not
    in the vocabulary falls back to its alias (:data:`CHANNEL_ALIASES`).

    Parameters
    ----------
    ch_names : list of str
        Channel names (e.g. ``raw.ch_names``).
    vocabulary : tuple of str | list of str
        The vocabulary (case-insensitive).
    unknown : ``"raise"`` | ``"drop"`` | ``"keep"``
        What to do with names that match nothing: raise a ValueError, drop
        them with a warning, or keep them with row -1 (for a model that has
        a row for channels it does not know).
    what : str
        Name of the vocabulary in messages (e.g. ``"NeuroRVQ electrode"``).

    Returns
    -------
    picks : ndarray of int
        Positions in ``ch_names`` of the channels kept, in their order.
    rows : ndarray of int
        Their rows in the vocabulary.
    """
    if unknown not in ("raise", "drop", "keep"):
        raise ValueError(f"unknown must be 'raise', 'drop' or 'keep', got {unknown!r}")
    lookup = vocabulary_index(vocabulary)
    picks, rows, missing, seen = [], [], [], {}
    for pos, name in enumerate(ch_names):
        n = normalize_channel_name(name)
        row = lookup.get(n)
        if row is None and n in CHANNEL_ALIASES:
            row = lookup.get(CHANNEL_ALIASES[n])
        if row is None:
            missing.append(name)
            if unknown == "keep":
                picks.append(pos)
                rows.append(-1)
            continue
        if row in seen:
            raise ValueError(
                f"Channels {seen[row]!r} and {name!r} map to the same electrode "
                f"{vocabulary[row]!r}; pick one."
            )
        seen[row] = name
        picks.append(pos)
        rows.append(row)
    if missing and unknown != "keep":
        msg = f"{len(missing)} channel(s) are not in the {what} vocabulary: {missing}."
        if unknown == "raise":
            raise ValueError(msg + " Rename them (e.g. raw.rename_channels), or pass "
                             "unknown='drop' to leave them out.")
        warnings.warn(msg + " They are dropped.", RuntimeWarning, stacklevel=2)
    if not picks:
        raise ValueError(f"No channel is in the {what} vocabulary.")
    return np.asarray(picks, dtype=int), np.asarray(rows, dtype=int)


_LOOKUPS = {}


def vocabulary_index(vocabulary):
    """Map the lower-case names of ``vocabulary`` to their positions (cached per vocabulary).

    Parameters
    ----------
    vocabulary : tuple of str
        Electrode names, e.g. :data:`CHANNEL_VOCABULARY`.

    Returns
    -------
    index : dict of str to int
        Do not modify it: it is shared by every caller.
    """
    key = id(vocabulary)
    if key not in _LOOKUPS or _LOOKUPS[key][0] is not vocabulary:
        _LOOKUPS[key] = (vocabulary, {v.lower(): i for i, v in enumerate(vocabulary)})
    return _LOOKUPS[key][1]


def channel_indices(ch_names, unknown="raise"):
    """Return the indices of channels in :data:`CHANNEL_VOCABULARY`.

    Parameters
    ----------
    ch_names : list of str
        Channel names.
    unknown : ``"raise"`` | ``"drop"``
        See :func:`map_channels`.

    Returns
    -------
    picks : ndarray of int
        Positions in ``ch_names`` of the channels kept.
    indices : ndarray of int64
        Their indices in :data:`CHANNEL_VOCABULARY`.
    """
    picks, rows = map_channels(ch_names, CHANNEL_VOCABULARY, unknown=unknown)
    return picks, rows.astype(np.int64)


def channel_names(indices):
    """Names (as spelled in :data:`CHANNEL_VOCABULARY`) of vocabulary indices."""
    return [CHANNEL_VOCABULARY[int(i)] for i in np.asarray(indices).ravel()]


_POSITIONS = None


def channel_positions(indices=None):
    """3-D positions in metres of vocabulary electrodes (MNE's 10-05 montage, head frame).

    Parameters
    ----------
    indices : list of int | ndarray | None
        Indices in :data:`CHANNEL_VOCABULARY` (default: all of them).

    Returns
    -------
    pos : ndarray of float64, shape (n, 3)
    """
    global _POSITIONS
    if _POSITIONS is None:
        with warnings.catch_warnings():  # "standard_1005" is renamed in newer MNE
            warnings.simplefilter("ignore", FutureWarning)
            montage = mne.channels.make_standard_montage("standard_1005")
        pos = montage.get_positions()["ch_pos"]
        _POSITIONS = np.array([pos[name] for name in CHANNEL_VOCABULARY], dtype=float)
    if indices is None:
        return _POSITIONS.copy()
    return _POSITIONS[np.asarray(indices, dtype=int)]
