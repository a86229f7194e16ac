"""
.. _tut-moabb:

Benchmark token pipelines with MOABB
====================================

`MOABB <https://moabb.neurotechx.com>`_ is how BCI pipelines are compared:
a dataset, a paradigm that cuts its trials, and evaluations that score every
pipeline on the same folds. A :class:`~mne_codec.CodecTokenizer` pipeline is
a scikit-learn pipeline, so it goes into MOABB like CSP + LDA or a
tangent-space classifier. We score it on MOABB's ``PhysionetMI``
(EEGMMIDB, imagined left vs right fist) beside MOABB's two standard
pipelines, within each subject and across subjects.

To run in a minute or two on a laptop, this page uses three subjects and
the 21 sensorimotor channels (FC, C and CP rows);
``benchmarks/moabb_eval.py`` runs the same evaluations on all ten subjects
and 64 channels of ``shared/data``, and :ref:`token-features` gives its
results. Needs ``pip install "mne-codec[moabb]"``.
"""

# %%
import tempfile
import warnings
from functools import partial

import matplotlib.pyplot as plt
import mne
import numpy as np
from moabb.analysis.plotting import score_plot
from moabb.evaluations import CrossSubjectEvaluation, WithinSessionEvaluation
from moabb.paradigms import LeftRightImagery
from pyriemann.estimation import Covariances
from pyriemann.spatialfilters import CSP
from pyriemann.tangentspace import TangentSpace
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from mne_codec import CodecTokenizer
from mne_codec.datasets import moabb_physionet_mi

mne.set_log_level("ERROR")
warnings.filterwarnings("ignore", category=FutureWarning)  # MOABB's montage name

# %%
# The dataset, offline
# --------------------
# MOABB's ``PhysionetMI`` downloads EEGMMIDB from PhysioNet.
# :func:`~mne_codec.datasets.moabb_physionet_mi` is the same dataset (same
# code, events and trial interval) reading the files that are already on
# disk, in MNE's layout, and never downloading anything.
dataset = moabb_physionet_mi(subjects=[1, 2, 3])
channels = ["FC5", "FC3", "FC1", "FCz", "FC2", "FC4", "FC6", "C5", "C3", "C1", "Cz",
            "C2", "C4", "C6", "CP5", "CP3", "CP1", "CPz", "CP2", "CP4", "CP6"]
paradigm = LeftRightImagery(channels=channels)  # 0-3 s after the cue, 8-32 Hz
epochs, labels, meta = paradigm.get_data(dataset, subjects=[1], return_epochs=True)
print(epochs)

# %%
# Pipelines
# ---------
# MOABB hands its pipelines arrays in microvolts (``dataset.unit_factor``),
# so the token pipeline converts them to volts, as MNE and mne-codec expect,
# and the tokenizer is told their sampling rate and, for codecs that code
# channels jointly by name, their names. Its
# default output is the tangent space of the band covariances of the signal
# the tokens code (see :ref:`token-features`); a plain logistic regression
# reads it. The two references are MOABB's standard CSP + LDA and
# tangent space + logistic regression on the recorded signal.
pipelines = {
    "tokens+LR": make_pipeline(
        FunctionTransformer(partial(np.multiply, 1 / dataset.unit_factor)),
        CodecTokenizer(sfreq=epochs.info["sfreq"], ch_names=epochs.ch_names,
                       verbose="WARNING"),
        LogisticRegression(max_iter=1000)),
    "CSP+LDA": make_pipeline(Covariances("oas"), CSP(nfilter=6),
                             LinearDiscriminantAnalysis(solver="svd")),
    "TS+LR": make_pipeline(Covariances("oas"), TangentSpace(metric="riemann"),
                           LogisticRegression(max_iter=1000)),
}

# %%
# Evaluations
# -----------
# Within each subject: 5-fold cross-validation of its 45 trials. Across
# subjects: each subject is scored by pipelines trained on the others. The
# tokenizer keeps each trial's tokens and covariances in memory (a cache
# shared by all its copies, bounded at 256 MiB), so the folds and the second
# evaluation tokenize every trial once.
results, where = [], tempfile.mkdtemp()  # MOABB keeps its results in an HDF5 file
for evaluation in (WithinSessionEvaluation(paradigm=paradigm, datasets=[dataset],
                                           overwrite=True, random_state=42, hdf5_path=where),
                   CrossSubjectEvaluation(paradigm=paradigm, datasets=[dataset],
                                          overwrite=True, random_state=42, hdf5_path=where)):
    res = evaluation.process(pipelines)
    res["evaluation"] = type(evaluation).__name__.replace("Evaluation", "")
    results.append(res)

# %%
# Results
# -------
# MOABB scores two-class problems with the ROC AUC (chance 0.5).
import pandas as pd  # noqa: E402 (MOABB's results are a DataFrame)

results = pd.concat(results, ignore_index=True)
print(results.pivot_table(index=["evaluation", "subject"], columns="pipeline",
                          values="score").round(2))

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained", sharex=True)
for ax, (name, res) in zip(axes, results.groupby("evaluation")):
    res.groupby("pipeline")["score"].mean().plot.barh(ax=ax, color="0.7")
    ax.scatter(res["score"], res["pipeline"], color="k", zorder=3, label="subjects")
    ax.axvline(0.5, color="r", ls="--", label="chance")
    ax.set(title=f"{name}-subject evaluation" if name == "Cross" else f"{name} session",
           xlabel="ROC AUC", xlim=(0.2, 1.0), ylabel="")
axes[0].legend(loc="lower right")

# %%
# MOABB's own plot of the same results (one evaluation):
fig, _ = score_plot(results[results["evaluation"] == "WithinSession"])

# %%
# Three subjects are too few to rank the pipelines: on EEGMMIDB, with 45
# trials per subject, left vs right imagery is at chance for some subjects
# whatever the method. :ref:`token-features` gives the ten-subject figures,
# their spread, and where the token features fall short.
