"""Do codec tokens carry what classification needs? Balanced accuracy on real EEG.

Tasks (all from ../shared/data):

- EEGMMIDB left vs right fist imagery (runs 4/8/12, 0-4 s after the cue),
  within subject (stratified 5-fold, mean over subjects) and leave one
  subject out;
- EEGMMIDB S001 eyes open (run 1) vs eyes closed (run 2), fixed 4 s windows,
  stratified 5-fold;
- eegmat rest vs mental arithmetic, fixed 4 s windows, leave one subject out.

Methods, on the same splits:

- ``tokens+LR``: ``Pipeline([CodecTokenizer(output="histogram"), LogisticRegression()])``
  on epochs of the recording band-passed to the codec's band;
- ``TokenClassifier``: BioCodec's token head (:mod:`mne_codec.braindecode`)
  trained with braindecode's ``EEGClassifier`` (needs braindecode);
- ``CSP+LDA``: MNE's CSP (4 log-variance components) and LDA, on 7-30 Hz;
- ``TS+LR``: pyRiemann covariances (OAS), tangent space and logistic regression,
  on 7-30 Hz (needs pyriemann).

The default codec was trained, without labels, on EEGMMIDB S001-S008 and
eegmat Subject00-02: the same recordings as most test folds here.

    python benchmarks/downstream.py [--subjects 1 2 ... 10] [--methods ...] [--epochs 30]
"""

import argparse
import tempfile
import time
import warnings

import mne
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneGroupOut, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline

from mne_codec import CodecTokenizer, load_codec
from mne_codec.datasets import eegbci_raw
from mne_codec.preprocessing import band_limit
from mne_codec.training.default import (
    default_data_dir,
    eegmat_files,
    prepare_eegmat,
)

CLASSICAL_BAND = (7.0, 30.0)  # MNE's CSP example band


def _band(raw, band, codec):
    out = raw.copy()
    if band == "codec":
        prep = codec.preprocessing
        out.apply_function(lambda d: band_limit(d, out.info["sfreq"], prep),
                           channel_wise=False)
    else:
        out.filter(*band, verbose="ERROR")
    return out


def _mi(data, subjects, band, codec):
    X, y, groups = [], [], []
    for subject in subjects:
        raw = _band(eegbci_raw(subject, (4, 8, 12), path=data, verbose="ERROR"), band, codec)
        events, _ = mne.events_from_annotations(raw, dict(T1=0, T2=1), verbose="ERROR")
        epochs = mne.Epochs(raw, events, tmin=0.0, tmax=4.0 - 1 / raw.info["sfreq"],
                            baseline=None, preload=True, verbose="ERROR")
        X.append(epochs.get_data())
        y.append(epochs.events[:, 2])
        groups += [subject] * len(epochs)
    return X, y, np.array(groups), 160.0


def _fixed(raws_labels, band, codec, window_s=4.0):
    X, y, groups = [], [], []
    for raw, label, group in raws_labels:
        raw = _band(raw, band, codec)
        epochs = mne.make_fixed_length_epochs(raw, window_s, preload=True, verbose="ERROR")
        X.append(epochs.get_data())
        y += [label] * len(epochs)
        groups += [group] * len(epochs)
    return np.concatenate(X), np.array(y), np.array(groups)


def _eyes(data, band, codec):
    raws = [(eegbci_raw(1, (run,), path=data, verbose="ERROR"), label, 1) for run, label in ((1, 0), (2, 1))]
    X, y, _ = _fixed(raws, band, codec)
    return X, y, 160.0


def _eegmat(data, subjects, band, codec):
    raws = []
    for path in eegmat_files(data, subjects):
        raw = prepare_eegmat(mne.io.read_raw_edf(path, preload=True, verbose="ERROR"))
        subject, kind = path.stem.split("_")
        raws.append((raw, int(kind) - 1, int(subject[-2:])))
    X, y, groups = _fixed(raws, band, codec)
    return X, y, groups, 500.0


def _methods(args, sfreq, cache_dir):
    from mne.decoding import CSP
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    methods = {}
    if "tokens+LR" in args.methods:
        methods["tokens+LR"] = ("codec", make_pipeline(
            CodecTokenizer(args.codec, sfreq=sfreq, memory=cache_dir, verbose="WARNING"),
            LogisticRegression(C=args.C, max_iter=2000)))
    if "TokenClassifier" in args.methods:
        try:
            import torch
            from braindecode import EEGClassifier

            from mne_codec.braindecode import TokenClassifier
        except ImportError as err:
            print(f"TokenClassifier skipped: {err}")
        else:
            methods["TokenClassifier"] = ("codec", EEGClassifier(
                TokenClassifier, module__codec=args.codec, module__sfreq=sfreq,
                optimizer=torch.optim.AdamW, optimizer__weight_decay=1e-2, lr=args.lr,
                batch_size=16, max_epochs=args.epochs, train_split=None,
                iterator_train__shuffle=True, device="cpu", verbose=0))
    if "CSP+LDA" in args.methods:
        methods["CSP+LDA"] = (CLASSICAL_BAND, make_pipeline(
            CSP(n_components=4, reg="ledoit_wolf", log=True), LinearDiscriminantAnalysis()))
    if "TS+LR" in args.methods:
        try:
            from pyriemann.estimation import Covariances
            from pyriemann.tangentspace import TangentSpace
        except ImportError as err:
            print(f"TS+LR skipped: {err}")
        else:
            methods["TS+LR"] = (CLASSICAL_BAND, make_pipeline(
                Covariances("oas"), TangentSpace(), LogisticRegression(max_iter=2000)))
    return methods


def _score(model, X, y, cv, groups=None):
    scores = cross_val_score(model, X, y, cv=cv, groups=groups, scoring="balanced_accuracy")
    return scores.mean()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec", default="default")
    parser.add_argument("--subjects", type=int, nargs="+", default=list(range(1, 11)))
    parser.add_argument("--methods", nargs="+",
                        default=["tokens+LR", "TokenClassifier", "CSP+LDA", "TS+LR"])
    parser.add_argument("--epochs", type=int, default=30, help="TokenClassifier epochs")
    parser.add_argument("--lr", type=float, default=3e-3,
                        help="TokenClassifier learning rate (the authors' 1e-3 with 20 epochs "
                             "fits their large sets; these sets have 30-540 windows)")
    parser.add_argument("--C", type=float, default=1.0, help="tokens+LR regularisation")
    parser.add_argument("--tasks", nargs="+", default=["mi", "eyes", "eegmat"])
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    mne.set_log_level("WARNING")
    data = default_data_dir()
    codec = load_codec(args.codec, verbose=False)
    cv5 = StratifiedKFold(5, shuffle=True, random_state=0)
    rows = []
    with tempfile.TemporaryDirectory() as cache_dir:
        for task in args.tasks:
            cache = {}

            def get(band, task=task, cache=cache):
                if band not in cache:
                    if task == "mi":
                        cache[band] = _mi(data, args.subjects, band, codec)
                    elif task == "eyes":
                        cache[band] = _eyes(data, band, codec)
                    else:
                        cache[band] = _eegmat(data, range(4), band, codec)
                return cache[band]

            sfreq = {"mi": 160.0, "eyes": 160.0, "eegmat": 500.0}[task]
            for name, (band, model) in _methods(args, sfreq, cache_dir).items():
                t0 = time.perf_counter()
                if task == "mi":
                    X, y, groups, _ = get(band)
                    within = np.mean([_score(model, Xs, ys, cv5) for Xs, ys in zip(X, y)])
                    loso = _score(model, np.concatenate(X), np.concatenate(y),
                                  LeaveOneGroupOut(), groups)
                    rows.append(("L/R imagery, within subject (5-fold)", name, within))
                    rows.append(("L/R imagery, leave one subject out", name, loso))
                elif task == "eyes":
                    X, y, _ = get(band)
                    rows.append(("eyes open/closed S001 (5-fold)", name, _score(model, X, y,
                                                                                cv5)))
                else:
                    X, y, groups, _ = get(band)
                    rows.append(("eegmat rest/arithmetic, leave one subject out", name,
                                 _score(model, X, y, LeaveOneGroupOut(), groups)))
                done = [r for r in rows if r[1] == name][-2 if task == "mi" else -1:]
                print(f"  {name:16s} {time.perf_counter() - t0:7.1f} s  "
                      + "; ".join(f"{r[0]}: {r[2]:.3f}" for r in done), flush=True)
    subjects = f"S{min(args.subjects):03d}-S{max(args.subjects):03d}"
    print(f"\nBalanced accuracy (chance 0.50); codec {args.codec}; EEGMMIDB {subjects}; "
          "eegmat Subject00-03")
    tasks = list(dict.fromkeys(r[0] for r in rows))
    names = list(dict.fromkeys(r[1] for r in rows))
    print(f"{'task':48s}" + "".join(f"{n:>17s}" for n in names))
    for task in tasks:
        vals = {r[1]: r[2] for r in rows if r[0] == task}
        print(f"{task:48s}" + "".join(f"{vals.get(n, np.nan):>17.3f}" for n in names))


if __name__ == "__main__":
    main()
