"""Token features against classical EEG decoders: balanced accuracy on real EEG.

Tasks (all read from ../shared/data, nothing downloaded):

- ``mi``: EEGMMIDB left vs right fist imagery (runs 4/8/12, 0-4 s after the
  cue, 45 trials per subject), within subject (stratified 5-fold, each
  subject's mean over its folds) and leave one subject out;
- ``eyes``: EEGMMIDB S001 eyes open (run 1) vs closed (run 2), fixed 4-s
  windows, stratified 5-fold (spread: over folds);
- ``eegmat``: eegmat rest (``_1``, 182 s) vs serial subtraction (``_2``,
  62 s), fixed 4-s windows, leave one subject out (train on three subjects,
  test on the fourth: the protocol "by subject"), and within subject with
  5 contiguous folds per class (the two classes are two recordings, so this
  separates recordings as much as tasks).

Methods, on the same folds:

- ``tokens``: ``Pipeline([CodecTokenizer(), LogisticRegression()])``, the
  default output (``"tangent"``: filter-bank spatial covariances of the
  signal the tokens code, in their tangent space);
- ``tokens+theta``: the same with a theta band (4-8 Hz) added to the
  default alpha/mu and beta bands;
- ``histogram``, ``embedding``: the other outputs, with the same logistic
  regression;
- ``TokenClassifier``: BioCodec's token head (:mod:`mne_codec.braindecode`)
  trained by braindecode's ``EEGClassifier`` (needs braindecode; batches of
  16 keeping the last, short one);
- ``CSP+LDA``: MNE's CSP (4 log-variance components, Ledoit-Wolf) and LDA;
- ``TS+LR``: pyRiemann OAS covariances, tangent space, logistic regression;
- ``logBP+LR``: log band power per channel in 4-8, 8-13 and 13-30 Hz
  (Welch, 1-s segments), standardised, logistic regression.

The codec methods read epochs of the recording band-passed to the codec's
band (filtered whole, then cut); CSP+LDA and TS+LR read 7-30 Hz (MNE's CSP
example band) for ``mi`` and 4-30 Hz (the token features' bands) for
``eyes`` and ``eegmat``; logBP+LR reads the codec's band. Every logistic
regression has scikit-learn's default parameters (``C=1``).

Scores are balanced accuracies (chance 0.5), mean +- sd over subjects
(within subject: each subject's mean over its folds), over held-out
subjects (leave one subject out) or over the folds (eyes, one recording).

``--curve``: a learning curve on ``mi`` within subject: each training fold
subsampled to 5, 10, 15 trials per class or all of them (about 18; three
random draws, one for TokenClassifier), scored on the same test folds
(``--curve-folds``: the first k of the 5 folds only; ``--channels``: a
subset of channels, e.g. to make TokenClassifier affordable on a CPU).

``--cv-speed``: on one subject's 45 epochs (64 channels, 4 s), the time of
a 5-fold ``cross_val_score`` of the default pipeline against one
``fit_transform`` of the default tokenizer (its band covariances of the
codec's signal read-out, and of the decoded signal, ``signal="decoded"``)
and one encode-only tokenization (``output="tokens"``), each from an empty
in-process cache, and the cache's size afterwards.

Method ``tokens-decoded``: the default output computed on the decoded
signal instead of the read-out (``signal="decoded"``).

    python benchmarks/token_features.py [--tasks mi eyes eegmat] [--subjects 1 ... 10]
        [--methods tokens histogram ...] [--curve] [--cv-speed [--speed-subject 1]]

The default codec saw, without labels, EEGMMIDB S001-S008 and eegmat
Subject00-02 in training: the same recordings as most test folds here.
"""

import argparse
import time
import warnings

import mne
import numpy as np
from scipy.signal import welch
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import LeaveOneGroupOut, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mne_codec import CodecTokenizer, load_codec
from mne_codec.datasets import eegbci_raw
from mne_codec.preprocessing import band_limit
from mne_codec.training.splits import (
    EEGMAT_CHANNELS,
    default_data_dir,
    eegmat_files,
    prepare_eegmat,
)

MI_BAND = (7.0, 30.0)  # MNE's CSP example band
OTHER_BAND = (4.0, 30.0)  # theta to beta, as logBP+LR
LOGBP_BANDS = ((4.0, 8.0), (8.0, 13.0), (13.0, 30.0))
THETA_BANDS = ((4.0, 8.0), (8.0, 13.0), (13.0, 30.0))  # tokens+theta: the default, and theta


class LogBandPower(TransformerMixin, BaseEstimator):
    """Log band power per channel (Welch, 1-s segments), flattened per window."""

    def __init__(self, sfreq=160.0, bands=LOGBP_BANDS):
        self.sfreq = sfreq
        self.bands = bands

    def fit(self, X, y=None):
        """Nothing to learn."""
        return self

    def transform(self, X):
        """Log band powers, (n_windows, n_channels * n_bands)."""
        f, psd = welch(np.asarray(X), self.sfreq, nperseg=int(self.sfreq))
        power = [psd[..., (f >= lo) & (f < hi)].mean(-1) for lo, hi in self.bands]
        return np.log(np.stack(power, -1)).reshape(len(X), -1)


def _band(raw, band, prep):
    """``raw`` band-passed as a whole: to ``band`` (Hz), or to the codec's band (None)."""
    out = raw.copy()
    if band is None:
        out.apply_function(lambda d: band_limit(d, out.info["sfreq"], prep),
                           channel_wise=False)
    else:
        out.filter(*band, verbose="ERROR")
    return out


def _mi(subjects, band, prep, channels=None):
    """Per subject: epochs (0-4 s after the cue) of the band-passed imagery runs."""
    out = {}
    for subject in subjects:
        raw = eegbci_raw(subject, (4, 8, 12), verbose="ERROR")
        if channels:
            raw.pick(channels)
        raw = _band(raw, band, prep)
        events, _ = mne.events_from_annotations(raw, dict(T1=0, T2=1), verbose="ERROR")
        epochs = mne.Epochs(raw, events, tmin=0.0, tmax=4.0 - 1 / raw.info["sfreq"],
                            baseline=None, preload=True, verbose="ERROR")
        out[subject] = (epochs.get_data(), epochs.events[:, 2])
    return out


def _fixed(raws_labels, band, prep, window_s=4.0):
    """Per group: fixed windows of each (raw, label, group), band-passed whole."""
    out = {}
    for raw, label, group in raws_labels:
        epochs = mne.make_fixed_length_epochs(_band(raw, band, prep), window_s, preload=True,
                                              verbose="ERROR")
        X, y = out.get(group, (np.empty((0, *epochs.get_data().shape[1:])), np.empty(0, int)))
        out[group] = (np.concatenate([X, epochs.get_data()]),
                      np.concatenate([y, np.full(len(epochs), label)]))
    return out


def _eyes(band, prep):
    raws = [(eegbci_raw(1, (run,), verbose="ERROR"), label, 1) for run, label in ((1, 0), (2, 1))]
    return _fixed(raws, band, prep)


def _eegmat(band, prep, subjects=range(4)):
    raws = []
    for path in eegmat_files(default_data_dir(), subjects):
        raw = prepare_eegmat(mne.io.read_raw_edf(path, preload=True, verbose="ERROR"))
        subject, kind = path.stem.split("_")
        raws.append((raw, int(kind) - 1, int(subject[-2:])))
    return _fixed(raws, band, prep)


def _token_classifier(args, sfreq):
    """Return an ``EEGClassifier`` of TokenClassifier (None without braindecode)."""
    try:
        import torch
        from braindecode import EEGClassifier

        from mne_codec.braindecode import TokenClassifier
    except ImportError as err:
        print(f"TokenClassifier skipped: {err}")
        return None
    return EEGClassifier(
        TokenClassifier, module__codec=args.codec, module__sfreq=sfreq,
        optimizer=torch.optim.AdamW, optimizer__weight_decay=1e-2, lr=args.lr,
        batch_size=16, max_epochs=args.epochs, train_split=None,
        iterator_train__shuffle=True,
        # braindecode drops the last, incomplete batch by default: with 10 trials and
        # batches of 16, no step at all would be taken
        iterator_train__drop_last=False, device="cpu", verbose=0)


def _ch_names(task, channels=None):
    """Return the channel names of a task's arrays (codecs that code by name need them)."""
    if task == "eegmat":
        return list(EEGMAT_CHANNELS)
    return list(channels) if channels else eegbci_raw(1, (1,), verbose="ERROR").ch_names


def _methods(args, task, sfreq):
    """Return {name: (input, estimator)}; the input is "codec" or a band in Hz."""
    from mne.decoding import CSP
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    band = MI_BAND if task == "mi" else OTHER_BAND
    ch_names = _ch_names(task, args.channels)
    out = {}
    for name in args.methods:
        if name in ("tokens", "tokens+theta", "tokens-decoded", "histogram", "embedding"):
            output = name if name in ("histogram", "embedding") else "tangent"
            bands = THETA_BANDS if name == "tokens+theta" else None
            # tokens-decoded: the default output of the decoded signal, not the read-out
            signal = "decoded" if name == "tokens-decoded" else "auto"
            out[name] = ("codec", make_pipeline(
                CodecTokenizer(args.codec, sfreq=sfreq, output=output, bands=bands,
                               signal=signal, ch_names=ch_names, verbose="WARNING"),
                LogisticRegression(max_iter=2000)))
        elif name == "TokenClassifier":
            clf = _token_classifier(args, sfreq)
            if clf is not None:
                out[name] = ("codec", clf)
        elif name == "CSP+LDA":
            out[name] = (band, make_pipeline(CSP(n_components=4, reg="ledoit_wolf", log=True),
                                             LinearDiscriminantAnalysis()))
        elif name == "TS+LR":
            try:
                from pyriemann.estimation import Covariances
                from pyriemann.tangentspace import TangentSpace
            except ImportError as err:
                print(f"TS+LR skipped: {err}")
                continue
            out[name] = (band, make_pipeline(Covariances("oas"), TangentSpace(),
                                             LogisticRegression(max_iter=2000)))
        elif name == "logBP+LR":
            out[name] = ("codec", make_pipeline(LogBandPower(sfreq), StandardScaler(),
                                                LogisticRegression(max_iter=2000)))
        else:
            raise SystemExit(f"unknown method {name!r}")
    return out


def _fit_score(model, X, y, train, test):
    import torch

    torch.manual_seed(0)  # TokenClassifier's head
    model = clone(model)
    model.fit(X[train], y[train])
    return balanced_accuracy_score(y[test], model.predict(X[test]))


def _within(model, data, cv):
    """Per subject: mean balanced accuracy over the folds of ``cv``."""
    return [np.mean([_fit_score(model, X, y, tr, te) for tr, te in cv.split(X, y)])
            for X, y in data.values()]


def _loso(model, data):
    """Per held-out subject: balanced accuracy of a model trained on the others."""
    groups = list(data)
    X = np.concatenate([data[g][0] for g in groups])
    y = np.concatenate([data[g][1] for g in groups])
    g = np.concatenate([[k] * len(data[k][1]) for k in groups])
    return [_fit_score(model, X, y, tr, te) for tr, te in LeaveOneGroupOut().split(X, y, g)]


def _subsample(train, y, n_per_class, rng):
    if n_per_class is None:
        return train
    keep = []
    for label in np.unique(y[train]):
        idx = train[y[train] == label]
        keep.append(rng.choice(idx, min(n_per_class, len(idx)), replace=False))
    return np.sort(np.concatenate(keep))


def _curve(model, data, cv, n_per_class, n_draws, n_folds):
    """Per subject: mean over folds and draws of a model trained on n trials per class."""
    out = []
    for X, y in data.values():
        scores = []
        for tr, te in list(cv.split(X, y))[:n_folds]:
            for draw in range(n_draws if n_per_class is not None else 1):
                sub = _subsample(tr, y, n_per_class, np.random.default_rng(draw))
                scores.append(_fit_score(model, X, y, sub, te))
        out.append(np.mean(scores))
    return out


def _cv_speed(args, prep):
    from mne_codec import transformers

    (X, y), = _mi([args.speed_subject], None, prep).values()
    cache = transformers._WINDOW_CACHE
    runs = {"encode-only tokenization": [], "fit_transform (default output)": [],
            "fit_transform (signal='decoded')": [], "5-fold cross_val_score": []}
    for _ in range(args.repeat):
        cache.clear()
        t0 = time.perf_counter()
        CodecTokenizer(args.codec, sfreq=160.0, output="tokens", verbose="WARNING").fit(X)\
            .tokenize(X)
        runs["encode-only tokenization"].append(time.perf_counter() - t0)
        for key, signal in (("fit_transform (default output)", "auto"),
                            ("fit_transform (signal='decoded')", "decoded")):
            cache.clear()
            t0 = time.perf_counter()
            CodecTokenizer(args.codec, sfreq=160.0, signal=signal,
                           verbose="WARNING").fit_transform(X)
            runs[key].append(time.perf_counter() - t0)
        cache.clear()
        pipe = make_pipeline(CodecTokenizer(args.codec, sfreq=160.0, verbose="WARNING"),
                             LogisticRegression())
        t0 = time.perf_counter()
        scores = cross_val_score(pipe, X, y, cv=StratifiedKFold(5, shuffle=True,
                                                                random_state=0))
        runs["5-fold cross_val_score"].append(time.perf_counter() - t0)
    n_bytes = cache.n_bytes
    med = {k: float(np.median(v)) for k, v in runs.items()}
    print(f"\nCV speed: S{args.speed_subject:03d}, {X.shape[0]} epochs x {X.shape[1]} channels x "
          f"{X.shape[2] / 160:.0f} s, codec {args.codec}, torch threads "
          f"{__import__('torch').get_num_threads()}, median of {args.repeat}")
    for k, v in runs.items():
        print(f"  {k:34s} {med[k]:7.1f} s  ({', '.join(f'{t:.1f}' for t in v)})")
    cv = med["5-fold cross_val_score"]
    print(f"  ratio to fit_transform: {cv / med['fit_transform (default output)']:.2f}; "
          f"to encode-only: {cv / med['encode-only tokenization']:.2f}; "
          f"scores {np.round(scores, 2)}")
    print(f"  in-process cache after the cross-validation: {n_bytes / 2**20:.1f} MiB for "
          f"{len(cache.items)} entries (bound {cache.max_bytes / 2**20:.0f} MiB)")


def _table(rows, title):
    print(f"\n{title}")
    tasks = list(dict.fromkeys(r[0] for r in rows))
    names = list(dict.fromkeys(r[1] for r in rows))
    print(f"{'':44s}" + "".join(f"{n:>17s}" for n in names))
    for task in tasks:
        vals = {r[1]: f"{np.mean(r[2]):.3f}+-{np.std(r[2]):.3f}" for r in rows if r[0] == task}
        print(f"{task:44s}" + "".join(f"{vals.get(n, 'n/a'):>17s}" for n in names))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec", default="default")
    parser.add_argument("--tasks", nargs="+", default=["mi", "eyes", "eegmat"])
    parser.add_argument("--subjects", type=int, nargs="+", default=list(range(1, 11)))
    parser.add_argument("--methods", nargs="+",
                        default=["tokens", "histogram", "embedding", "TokenClassifier",
                                 "CSP+LDA", "TS+LR", "logBP+LR"])
    parser.add_argument("--mi-splits", nargs="*", default=["within", "loso"],
                        choices=["within", "loso"])
    parser.add_argument("--channels", nargs="+", default=None,
                        help="mi: a subset of channels (default: all 64)")
    parser.add_argument("--curve", action="store_true", help="learning curve on mi")
    parser.add_argument("--curve-methods", nargs="+",
                        default=["tokens", "histogram", "TokenClassifier", "CSP+LDA", "TS+LR",
                                 "logBP+LR"])
    parser.add_argument("--curve-sizes", type=int, nargs="+", default=[5, 10, 15],
                        help="training trials per class (and all of them)")
    parser.add_argument("--curve-folds", type=int, default=5,
                        help="how many of the 5 folds the curve uses")
    parser.add_argument("--draws", type=int, default=3, help="draws per curve point")
    parser.add_argument("--cv-speed", action="store_true")
    parser.add_argument("--speed-subject", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2, help="cv-speed repetitions")
    parser.add_argument("--epochs", type=int, default=30, help="TokenClassifier epochs")
    parser.add_argument("--lr", type=float, default=3e-3, help="TokenClassifier learning rate")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    mne.set_log_level("WARNING")
    prep = load_codec(args.codec, verbose=False).preprocessing
    if args.cv_speed:
        _cv_speed(args, prep)
        if not (args.curve or args.tasks != parser.get_default("tasks")):
            return
    cv5 = StratifiedKFold(5, shuffle=True, random_state=0)
    rows, curve_rows = [], []
    loaders = {"mi": lambda band: _mi(args.subjects, band, prep, args.channels),
               "eyes": lambda band: _eyes(band, prep), "eegmat": lambda band: _eegmat(band, prep)}
    for task in args.tasks:
        sfreq = 500.0 if task == "eegmat" else 160.0
        inputs = {}
        for name, (band, model) in _methods(args, task, sfreq).items():
            key = band if band == "codec" else tuple(band)
            if key not in inputs:
                inputs[key] = loaders[task](None if band == "codec" else band)
            data = inputs[key]
            t0 = time.perf_counter()
            n_rows = len(rows)
            if task == "mi":
                if "within" in args.mi_splits:
                    rows.append(("L/R imagery, within subject (5-fold)", name,
                                 _within(model, data, cv5)))
                if "loso" in args.mi_splits:
                    rows.append(("L/R imagery, leave one subject out", name, _loso(model, data)))
                if args.curve and name in args.curve_methods:
                    draws = 1 if name == "TokenClassifier" else args.draws
                    for n in [*args.curve_sizes, None]:
                        label = "all (~18)" if n is None else str(n)
                        curve_rows.append((f"{label} trials per class", name,
                                           _curve(model, data, cv5, n, draws,
                                                  args.curve_folds)))
            elif task == "eyes":
                X, y = data[1]
                rows.append(("eyes open/closed S001 (5-fold)", name,
                             [_fit_score(model, X, y, tr, te) for tr, te in cv5.split(X, y)]))
            else:
                rows.append(("eegmat rest/arithmetic, leave one subject out", name,
                             _loso(model, data)))
                rows.append(("eegmat rest/arithmetic, within (blocked)", name,
                             _within(model, data, StratifiedKFold(5))))
            print(f"  {task} {name:16s} {time.perf_counter() - t0:7.1f} s  "
                  + "; ".join(f"{r[0]}: {np.mean(r[2]):.3f} +- {np.std(r[2]):.3f} "
                              f"{np.round(r[2], 2).tolist()}" for r in rows[n_rows:]),
                  flush=True)
    subjects = f"S{min(args.subjects):03d}-S{max(args.subjects):03d}"
    if args.channels:
        subjects += f", {len(args.channels)} channels"
    data = {"mi": f"EEGMMIDB {subjects}", "eyes": "EEGMMIDB S001 runs 1-2",
            "eegmat": "eegmat Subject00-03"}
    if rows:
        _table(rows, f"Balanced accuracy (chance 0.50), mean +- sd; codec {args.codec}; "
                     + ", ".join(data[t] for t in args.tasks))
    if curve_rows:
        folds = ("5 folds" if args.curve_folds >= 5
                 else f"the first {args.curve_folds} of 5 folds")
        _table(curve_rows, f"Learning curve: L/R imagery within subject ({folds}), {subjects}, "
                           "training trials per class; mean +- sd over subjects")


if __name__ == "__main__":
    main()
