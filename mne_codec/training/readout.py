"""Fit a codec's signal read-out on the recipes' recordings (no labels read).

Run as::

    python -m mne_codec.training.readout --codec NAME_OR_PATH --out DIR [--data PATH]
        [--context 2] [--runs 4]

Tokenizes 4-s windows of the recipes' training recordings (EEGMMIDB S001-S008,
the imagery runs given by ``--runs``, and eegmat Subject00-02, rest and
task), fits :func:`~mne_codec.readout.fit_readout` on them, reports the
variance of the decoded signal it explains on the validation recordings
(EEGMMIDB S009-S010, eegmat Subject03), overall and per EEG band, and saves
the codec with its read-out in ``DIR`` (:func:`~mne_codec.checkpoints.save_codec`;
the weights are unchanged). The default recipe (:mod:`mne_codec.training.default`)
calls :func:`fit_recipe_readout` after training.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import mne
import numpy as np
import torch

from ..checkpoints import load_codec, save_codec
from ..pipeline import show_progress, tokenize
from ..readout import fit_readout, readout_r2
from .splits import default_data_dir, eegmat_files, eegmmidb_files, prepare_eegbci, prepare_eegmat

__all__ = ["fit_recipe_readout", "recording_tokens"]


def recording_tokens(codec, files, prepare, window_s=4.0):
    """Tokens of consecutive ``window_s`` windows of each recording (one Tokens each)."""
    out = []
    for path in files:
        raw = prepare(mne.io.read_raw_edf(path, preload=True, verbose="ERROR"))
        raw.pick("eeg")
        n = int(round(window_s * raw.info["sfreq"]))
        data = raw.get_data()
        starts = range(0, data.shape[1] - n + 1, n)
        x = np.stack([data[:, i:i + n] for i in starts])
        with show_progress(False):
            out.append(tokenize(codec, x, raw.info["sfreq"], raw.ch_names))
    return out


def fit_recipe_readout(codec, data=None, *, context=2, runs=(4,), verbose=True):
    """Fit and check a read-out of ``codec`` on the recipes' recordings.

    Parameters
    ----------
    codec : Codec
        The codec (eval mode).
    data : path-like | None
        The data folder (``shared/data``; None: the default).
    context : int
        Frames of context on each side.
    runs : tuple of int
        EEGMMIDB runs of the training subjects.
    verbose : bool
        Print the figures.

    Returns
    -------
    readout : SignalReadout
        Its ``info`` holds the data, the variance explained on the training
        and validation recordings, per dataset and per band.
    """
    data = Path(data or default_data_dir())
    t0 = time.time()
    train = (recording_tokens(codec, eegmmidb_files(data, range(1, 9), runs), prepare_eegbci)
             + recording_tokens(codec, eegmat_files(data, range(0, 3)), prepare_eegmat))
    val = {"eegmmidb": recording_tokens(codec, eegmmidb_files(data, (9, 10), runs),
                                        prepare_eegbci),
           "eegmat": recording_tokens(codec, eegmat_files(data, (3,)), prepare_eegmat)}
    runs_txt = ("run " if len(runs) == 1 else "runs ") + "/".join(str(r) for r in runs)
    info = {"train_data": f"EEGMMIDB S001-S008 {runs_txt} + eegmat Subject00-02 "
                          "(_1, _2), 4-s windows",
            "val_data": f"EEGMMIDB S009-S010 {runs_txt} + eegmat Subject03 (_1, _2)"}
    readout = fit_readout(codec, train, context=context, info=info)
    for name, tokens in val.items():
        r2 = readout_r2(codec, readout, tokens)
        readout.info[f"validation_r2_{name}"] = r2.pop("all")
        readout.info[f"validation_band_r2_{name}"] = r2
    readout.info["validation_r2"] = min(readout.info[f"validation_r2_{n}"] for n in val)
    readout.info["fit_minutes"] = (time.time() - t0) / 60
    if verbose:
        print(json.dumps(readout.info, indent=2), flush=True)
    return readout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codec", default="default")
    parser.add_argument("--out", required=True, help="folder to save the codec with its read-out")
    parser.add_argument("--data", default=None)
    parser.add_argument("--context", type=int, default=2)
    parser.add_argument("--runs", type=int, nargs="+", default=[4])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    codec = load_codec(args.codec, verbose=False)
    codec.readout = fit_recipe_readout(codec, args.data, context=args.context,
                                       runs=tuple(args.runs))
    path = save_codec(codec, args.out, meta=getattr(codec, "meta", None))
    print(f"saved to {path}", flush=True)


if __name__ == "__main__":
    main()
