"""Do codec tokens carry what classification needs? Balanced accuracy on real EEG.

Tasks (all from ../shared/data):

- EEGMMIDB left vs right fist imagery (runs 4/8/12, 0-4 s after the cue),
  within subject (stratified 5-fold, mean over subjects) and leave one
  subject out;
- EEGMMIDB S001 eyes open (run 1) vs eyes closed (run 2), fixed 4 s windows,
  stratified 5-fold;
- eegmat rest vs mental arithmetic, fixed 4 s windows, leave one subject out.

Methods, on the same splits:

- ``tokens+LR``: ``Pipeline([CodecTokenizer(), LogisticRegression()])`` (the default
  output, ``"tangent"``: see ``benchmarks/token_features.py`` for the others)
  on epochs of the recording band-passed to the codec's band;
- ``TokenClassifier``: BioCodec's token head (:mod:`mne_codec.braindecode`)
  trained with braindecode's ``EEGClassifier`` (needs braindecode);
- ``CSP+LDA``: MNE's CSP (4 log-variance components) and LDA, on 7-30 Hz;
- ``TS+LR``: pyRiemann covariances (OAS), tangent space and logistic regression,
  on 7-30 Hz (needs pyriemann);
- ``FM-pretrained``: the NeuroRVQ foundation model of ``--fm-pretrained DIR``
  (a folder written by :func:`~mne_codec.checkpoints.save_neurorvq_fm`, e.g. by
  ``python -m mne_codec.training.neurorvq_fm``) fine-tuned whole as
  :class:`~mne_codec.braindecode.NeuroRVQFMClassifier` (mean-pooled token
  features, LayerNorm, linear head) in braindecode's ``EEGClassifier``: AdamW
  (weight decay 0.05), per-layer learning-rate decay
  (:func:`~mne_codec.braindecode.layer_decay_param_groups`, ``--fm-layer-decay``),
  cosine schedule over ``--fm-epochs``; skipped without ``--fm-pretrained``;
- ``FM-scratch``: the same architecture (that of ``--fm-pretrained``, else the
  pre-training recipe's ``small_config``) from random weights, with the same
  epochs, batch size and head learning rate, and no layer decay (it has no
  pre-trained layers to protect).

The FM methods read the recordings filtered as the FM expects (its
``preprocessing``: notches, 0.5-44.5 Hz band-pass at the native rate); the
classifier resamples each window to 200 Hz, scales it to microvolts and clips
it. Their windows are those of every other method (4 s: 4 one-second patches
per channel; 64 channels x 4 patches fill the FM's 256-token budget).

The default codec and the FM's pre-training saw, without labels, EEGMMIDB
S001-S008 and eegmat Subject00-02: the same recordings as most test folds here.

Scores are balanced accuracies, mean +- sd over subjects (within subject: each
subject's mean over its 5 folds), over held-out subjects (leave one subject
out) or over the 5 folds (eyes, one recording).

    python benchmarks/downstream.py [--subjects 1 2 ... 10] [--methods ...] [--epochs 30]
        [--tasks mi eyes eegmat] [--mi-splits within loso]
        [--fm-pretrained DIR] [--fm-epochs 8] [--fm-lr 1e-3] [--fm-layer-decay 0.75]

The FM methods are slow on a CPU (0.2-0.4 s per 64-channel window and training
epoch with one thread); e.g.
``--methods FM-pretrained FM-scratch CSP+LDA TS+LR --tasks mi --mi-splits within
--subjects 1 2``.
"""

import argparse
import tempfile
import time
import warnings
from pathlib import Path

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


def _band(raw, band, preps):
    """``raw`` filtered to ``band``: a (low, high) pair, or a key of ``preps``."""
    out = raw.copy()
    if isinstance(band, str):
        prep = preps[band]
        out.apply_function(lambda d: band_limit(d, out.info["sfreq"], prep),
                           channel_wise=False)
    else:
        out.filter(*band, verbose="ERROR")
    return out


def _mi(data, subjects, band, preps):
    X, y, groups = [], [], []
    for subject in subjects:
        raw = _band(eegbci_raw(subject, (4, 8, 12), path=data, verbose="ERROR"), band, preps)
        events, _ = mne.events_from_annotations(raw, dict(T1=0, T2=1), verbose="ERROR")
        epochs = mne.Epochs(raw, events, tmin=0.0, tmax=4.0 - 1 / raw.info["sfreq"],
                            baseline=None, preload=True, verbose="ERROR")
        X.append(epochs.get_data())
        y.append(epochs.events[:, 2])
        groups += [subject] * len(epochs)
    return X, y, np.array(groups), raw.ch_names


def _fixed(raws_labels, band, preps, window_s=4.0):
    X, y, groups = [], [], []
    for raw, label, group in raws_labels:
        raw = _band(raw, band, preps)
        epochs = mne.make_fixed_length_epochs(raw, window_s, preload=True, verbose="ERROR")
        X.append(epochs.get_data())
        y += [label] * len(epochs)
        groups += [group] * len(epochs)
    return np.concatenate(X), np.array(y), np.array(groups), raw.ch_names


def _eyes(data, band, preps):
    raws = [(eegbci_raw(1, (run,), path=data, verbose="ERROR"), label, 1)
            for run, label in ((1, 0), (2, 1))]
    return _fixed(raws, band, preps)


def _eegmat(data, subjects, band, preps):
    raws = []
    for path in eegmat_files(data, subjects):
        raw = prepare_eegmat(mne.io.read_raw_edf(path, preload=True, verbose="ERROR"))
        subject, kind = path.stem.split("_")
        raws.append((raw, int(kind) - 1, int(subject[-2:])))
    return _fixed(raws, band, preps)


def _fm_config(args):
    """Architecture of the FM methods, encoder only: ``--fm-pretrained``'s, else the recipe's."""
    from dataclasses import replace

    from mne_codec.checkpoints import load_neurorvq_fm
    from mne_codec.training.neurorvq_fm import small_config

    if args.fm_pretrained is None:
        return small_config(vocab_size=1, n_targets=0)
    return replace(load_neurorvq_fm(args.fm_pretrained).config, n_targets=0)


def _fm_method(args, sfreq, model, layer_decay, depth):
    """``ch_names -> EEGClassifier`` fine-tuning a NeuroRVQFMClassifier.

    ``None`` (with a message) where braindecode does not import.
    """
    try:
        import torch
        from braindecode import EEGClassifier
        from skorch.callbacks import LRScheduler

        from mne_codec.braindecode import NeuroRVQFMClassifier, layer_decay_param_groups
    except ImportError as err:
        print(f"FM methods skipped: {err}")
        return None

    def build(ch_names):
        return EEGClassifier(
            NeuroRVQFMClassifier, module__model=model, module__ch_names=list(ch_names),
            module__sfreq=sfreq, optimizer=torch.optim.AdamW, optimizer__weight_decay=0.05,
            optimizer__param_groups=layer_decay_param_groups(args.fm_lr, layer_decay, depth),
            lr=args.fm_lr, batch_size=args.fm_batch_size, max_epochs=args.fm_epochs,
            callbacks=[("lr_scheduler", LRScheduler("CosineAnnealingLR",
                                                    T_max=args.fm_epochs))],
            train_split=None, iterator_train__shuffle=True,
            iterator_train__drop_last=False,  # braindecode drops the last batch by default
            device="cpu", verbose=0)

    return build


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
                iterator_train__shuffle=True,
                iterator_train__drop_last=False,  # braindecode drops the last batch by default
                device="cpu", verbose=0))
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
    if "FM-pretrained" in args.methods and args.fm_pretrained is None:
        print("FM-pretrained skipped: pass --fm-pretrained DIR (a NeuroRVQ-FM folder written by "
              "save_neurorvq_fm, e.g. by python -m mne_codec.training.neurorvq_fm)")
    elif "FM-pretrained" in args.methods:
        # a path, not a model: each fold's clone loads the same weights afresh
        build = _fm_method(args, sfreq, str(args.fm_pretrained), args.fm_layer_decay,
                           args.fm_config.depth)
        if build is not None:
            methods["FM-pretrained"] = ("fm", build)
    if "FM-scratch" in args.methods:
        build = _fm_method(args, sfreq, args.fm_config, 1.0, args.fm_config.depth)
        if build is not None:
            methods["FM-scratch"] = ("fm", build)
    return methods


def _score(model, X, y, cv, groups=None):
    """Balanced accuracy of every fold."""
    return cross_val_score(model, X, y, cv=cv, groups=groups, scoring="balanced_accuracy")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec", default="default")
    parser.add_argument("--subjects", type=int, nargs="+", default=list(range(1, 11)))
    parser.add_argument("--methods", nargs="+",
                        default=["tokens+LR", "TokenClassifier", "CSP+LDA", "TS+LR",
                                 "FM-pretrained", "FM-scratch"])
    parser.add_argument("--epochs", type=int, default=30, help="TokenClassifier epochs")
    parser.add_argument("--lr", type=float, default=3e-3,
                        help="TokenClassifier learning rate (the authors' 1e-3 with 20 epochs "
                             "fits their large sets; these sets have 30-540 windows)")
    parser.add_argument("--C", type=float, default=1.0, help="tokens+LR regularisation")
    parser.add_argument("--tasks", nargs="+", default=["mi", "eyes", "eegmat"])
    parser.add_argument("--mi-splits", nargs="+", default=["within", "loso"],
                        choices=["within", "loso"],
                        help="imagery task: within subject and/or leave one subject out")
    parser.add_argument("--fm-pretrained", type=Path, default=None,
                        help="NeuroRVQ-FM folder (save_neurorvq_fm) for FM-pretrained")
    parser.add_argument("--fm-epochs", type=int, default=8, help="FM fine-tuning epochs")
    parser.add_argument("--fm-lr", type=float, default=1e-3,
                        help="FM learning rate of the head (the layers below: layer decay)")
    parser.add_argument("--fm-layer-decay", type=float, default=0.75,
                        help="FM-pretrained learning-rate decay per layer (FM-scratch: none)")
    parser.add_argument("--fm-batch-size", type=int, default=16)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    mne.set_log_level("WARNING")
    data = default_data_dir()
    codec = load_codec(args.codec, verbose=False)
    preps = {"codec": codec.preprocessing}
    if {"FM-pretrained", "FM-scratch"} & set(args.methods):
        args.fm_config = _fm_config(args)
        preps["fm"] = args.fm_config.preprocessing
    cv5 = StratifiedKFold(5, shuffle=True, random_state=0)
    rows = []  # (task, method, mean, sd, n)

    def row(task, name, scores):
        rows.append((task, name, np.mean(scores), np.std(scores), len(scores)))

    with tempfile.TemporaryDirectory() as cache_dir:
        for task in args.tasks:
            cache = {}

            def get(band, task=task, cache=cache):
                if band not in cache:
                    if task == "mi":
                        cache[band] = _mi(data, args.subjects, band, preps)
                    elif task == "eyes":
                        cache[band] = _eyes(data, band, preps)
                    else:
                        cache[band] = _eegmat(data, range(4), band, preps)
                return cache[band]

            sfreq = {"mi": 160.0, "eyes": 160.0, "eegmat": 500.0}[task]
            for name, (band, model) in _methods(args, sfreq, cache_dir).items():
                t0 = time.perf_counter()
                X, y, groups, ch_names = get(band)
                if callable(model) and not hasattr(model, "fit"):  # FM: needs the names
                    import torch

                    model = model(ch_names)
                    torch.manual_seed(0)  # the heads' (and FM-scratch's) initial weights
                n_rows = len(rows)
                if task == "mi":
                    if "within" in args.mi_splits:
                        row("L/R imagery, within subject (5-fold)", name,
                            [_score(model, Xs, ys, cv5).mean() for Xs, ys in zip(X, y)])
                    if "loso" in args.mi_splits:
                        row("L/R imagery, leave one subject out", name,
                            _score(model, np.concatenate(X), np.concatenate(y),
                                   LeaveOneGroupOut(), groups))
                elif task == "eyes":
                    row("eyes open/closed S001 (5-fold)", name, _score(model, X, y, cv5))
                else:
                    row("eegmat rest/arithmetic, leave one subject out", name,
                        _score(model, X, y, LeaveOneGroupOut(), groups))
                print(f"  {name:16s} {time.perf_counter() - t0:7.1f} s  "
                      + "; ".join(f"{r[0]}: {r[2]:.3f} +- {r[3]:.3f} (n={r[4]})"
                                  for r in rows[n_rows:]), flush=True)
    data = []  # the recordings of the tasks that ran
    if "mi" in args.tasks:
        data.append(f"EEGMMIDB S{min(args.subjects):03d}-S{max(args.subjects):03d} "
                    f"({len(args.subjects)})")
    if "eyes" in args.tasks:
        data.append("EEGMMIDB S001 runs 1-2")
    if "eegmat" in args.tasks:
        data.append("eegmat Subject00-03")
    print(f"\nBalanced accuracy (chance 0.50), mean +- sd (n: subjects, held-out "
          f"subjects or folds); codec {args.codec}; " + "; ".join(data))
    if {"FM-pretrained", "FM-scratch"} & {r[1] for r in rows}:
        print(f"FM: {args.fm_pretrained}; {args.fm_epochs} epochs, batch {args.fm_batch_size}, "
              f"lr {args.fm_lr:g}, layer decay {args.fm_layer_decay:g} (FM-pretrained)")
    tasks = list(dict.fromkeys(r[0] for r in rows))
    names = list(dict.fromkeys(r[1] for r in rows))
    print(f"{'task':48s}" + "".join(f"{n:>17s}" for n in names))
    for task in tasks:
        vals = {r[1]: f"{r[2]:.3f}+-{r[3]:.3f}" for r in rows if r[0] == task}
        print(f"{task:48s}" + "".join(f"{vals.get(n, 'n/a'):>17s}" for n in names))


if __name__ == "__main__":
    main()
