"""
.. _tut-epochs-pipeline:

Classify Epochs with tokens in a scikit-learn pipeline
======================================================

:class:`~mne_codec.CodecTokenizer` is a scikit-learn transformer: it takes
:class:`mne.Epochs` (or arrays) and returns features, so
``Pipeline([CodecTokenizer(), LogisticRegression()])`` cross-validates like
any other MNE decoding pipeline. We compare it with MNE's CSP + LDA on two
tasks of EEGMMIDB subject 1: motor imagery (left vs right fist) and eyes open
vs eyes closed.
"""

# %%
import tempfile

import matplotlib.pyplot as plt
import mne
import numpy as np
from mne.decoding import CSP
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline

from mne_codec import CodecTokenizer
from mne_codec.datasets import eegbci_raw

mne.set_log_level("WARNING")

# %%
# Motor imagery epochs
# --------------------
# Runs 4, 8 and 12: the cue ``T1`` is left fist, ``T2`` right fist. Epochs of
# 4 s from the cue, band-passed before epoching (0.5-40 Hz, the codec's band)
# so that short epochs carry no filter transients.
raw = eegbci_raw(1, [4, 8, 12], verbose="ERROR")
raw.filter(0.5, 40.0, verbose="ERROR")
events, _ = mne.events_from_annotations(raw, dict(T1=1, T2=2), verbose="ERROR")
epochs = mne.Epochs(raw, events, dict(left=1, right=2), tmin=0.0, tmax=4.0 - 1 / 160,
                    baseline=None, preload=True, verbose="ERROR")
y = epochs.events[:, 2]
print(epochs)

# %%
# Token histograms + logistic regression
# --------------------------------------
# The default ``output="histogram"`` gives, per channel and level, the
# frequency of each of the 256 codes in the epoch: a bag of tokens. A
# ``memory`` folder caches the tokens of each epoch, so the five folds
# tokenize every epoch once. Epochs go in directly: the channel names and
# sampling rate come from their ``info``.
cv = StratifiedKFold(5, shuffle=True, random_state=0)
tokens_lr = Pipeline([
    ("tokens", CodecTokenizer(memory=tempfile.mkdtemp(), verbose="WARNING")),
    ("lr", LogisticRegression(max_iter=1000)),
])
csp_lda = Pipeline([("csp", CSP(n_components=4, reg="ledoit_wolf", log=True)),
                    ("lda", LinearDiscriminantAnalysis())])
scores = {}
scores["imagery", "tokens + LR"] = cross_val_score(tokens_lr, epochs, y, cv=cv,
                                                   scoring="balanced_accuracy")
# CSP works best on the mu/beta band
epochs_mu = epochs.copy().filter(7.0, 30.0, verbose="ERROR")
scores["imagery", "CSP + LDA"] = cross_val_score(csp_lda, epochs_mu.get_data(), y, cv=cv,
                                                 scoring="balanced_accuracy")

# %%
# Eyes open vs eyes closed
# ------------------------
# Runs 1 and 2 are one-minute baselines, eyes open then closed; we cut them
# into 4 s epochs.
X_eyes, y_eyes = [], []
for run, label in ((1, 0), (2, 1)):
    base = eegbci_raw(1, [run], verbose="ERROR").filter(0.5, 40.0, verbose="ERROR")
    ep = mne.make_fixed_length_epochs(base, 4.0, preload=True, verbose="ERROR")
    X_eyes.append(ep.get_data())
    y_eyes += [label] * len(ep)
X_eyes, y_eyes = np.concatenate(X_eyes), np.array(y_eyes)
tokens_lr.set_params(tokens__sfreq=160.0)  # arrays carry no info: give the rate
scores["eyes", "tokens + LR"] = cross_val_score(tokens_lr, X_eyes, y_eyes, cv=cv,
                                                scoring="balanced_accuracy")
X_alpha = mne.filter.filter_data(X_eyes, 160.0, 7.0, 30.0, verbose="ERROR")
scores["eyes", "CSP + LDA"] = cross_val_score(csp_lda, X_alpha, y_eyes, cv=cv,
                                              scoring="balanced_accuracy")

# %%
# Results
# -------
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
tasks, methods = ["imagery", "eyes"], ["tokens + LR", "CSP + LDA"]
for j, method in enumerate(methods):
    means = [scores[t, method].mean() for t in tasks]
    sems = [scores[t, method].std() / np.sqrt(cv.n_splits) for t in tasks]
    ax.bar(np.arange(2) + 0.38 * j, means, 0.36, yerr=sems, label=method)
ax.axhline(0.5, color="k", ls="--", lw=1, label="chance")
ax.set(xticks=np.arange(2) + 0.19, xticklabels=["left vs right fist", "eyes open vs closed"],
       ylabel="balanced accuracy", ylim=(0, 1.05))
ax.legend(loc="lower right")
for (task, method), s in scores.items():
    print(f"{task:8s} {method:12s} {s.mean():.3f} ± {s.std():.3f}")

# %%
# Token histograms separate eyes open from eyes closed (the alpha rhythm
# changes which codes occur) but carry little of the lateralised mu/beta
# power change of motor imagery, which CSP is designed to find: the histogram
# drops where in time and how strongly each code occurs. See
# ``benchmarks/downstream.py`` for all subjects, leave-one-subject-out splits
# and braindecode's :class:`~mne_codec.braindecode.TokenClassifier`.
