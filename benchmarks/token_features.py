"""Which token representation a linear model can use: balanced accuracy on real EEG.

Compares ``CodecTokenizer(output=...)`` for "histogram" (per channel and level,
normalised code counts) and "embedding" (time-averaged quantized latent), each
followed by a logistic regression, with stratified 5-fold cross-validation:

- EEGMMIDB S001 eyes open (run 1) vs eyes closed (run 2), fixed 4 s windows;
- EEGMMIDB S001-S003 left vs right fist imagery (runs 4/8/12), within subject.

    python benchmarks/token_features.py [--codec default]
"""

import argparse
import warnings

import mne
import numpy as np
from mne.datasets import eegbci
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline

from mne_codec import CodecTokenizer, load_codec
from mne_codec.training.default import default_data_dir


def _raw(data, subject, runs):
    files = eegbci.load_data(subjects=[subject], runs=runs, path=str(data), update_path=False)
    raw = mne.concatenate_raws([mne.io.read_raw_edf(f, preload=True) for f in files])
    eegbci.standardize(raw)
    return raw


def _tasks(data):
    X, y = [], []
    for label, run in ((0, 1), (1, 2)):
        epochs = mne.make_fixed_length_epochs(_raw(data, 1, [run]), 4.0, preload=True)
        X.append(epochs.get_data())
        y += [label] * len(epochs)
    yield "eyes open vs closed, S001", np.concatenate(X), np.array(y)
    for subject in (1, 2, 3):
        raw = _raw(data, subject, [4, 8, 12])
        events, _ = mne.events_from_annotations(raw, event_id=dict(T1=0, T2=1))
        epochs = mne.Epochs(raw, events, dict(left=0, right=1), tmin=0.0, tmax=4.0,
                            baseline=None, preload=True)
        yield f"left vs right imagery, S{subject:03d}", epochs.get_data(), epochs.events[:, 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codec", default="default")
    args = parser.parse_args()
    mne.set_log_level("ERROR")
    warnings.simplefilter("ignore", RuntimeWarning)
    codec = load_codec(args.codec)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    outputs = ("histogram", "embedding")
    print(f"codec {codec.name}; balanced accuracy, stratified 5-fold CV (chance 0.5)")
    print(f"{'task':<34}{'n':>5}" + "".join(f"{o:>12}" for o in outputs))
    for task, X, y in _tasks(default_data_dir()):
        scores = []
        for output in outputs:
            pipe = make_pipeline(CodecTokenizer(codec, sfreq=160.0, output=output,
                                                verbose="ERROR"),
                                 LogisticRegression(max_iter=2000))
            scores.append(cross_val_score(pipe, X, y, cv=cv, scoring="balanced_accuracy").mean())
        print(f"{task:<34}{len(y):>5}" + "".join(f"{s:>12.3f}" for s in scores))


if __name__ == "__main__":
    main()
