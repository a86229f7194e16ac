"""
.. _tut-braindecode:

Token models in braindecode
===========================

:mod:`mne_codec.braindecode` makes a frozen codec a braindecode model.
:class:`~mne_codec.braindecode.TokenClassifier` is BioCodec's downstream
head: it tokenizes raw EEG windows with the codec, embeds the tokens with
embeddings initialised from the codebooks, runs a transformer across time
and one across channels, and classifies. It trains with braindecode's
:class:`~braindecode.EEGClassifier` (skorch) on braindecode datasets, like
any braindecode model.

This module needs braindecode, which imports torchaudio: install a
torch/torchaudio pair that loads together (see :doc:`/install`).
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from braindecode import EEGClassifier
from braindecode.datasets import BaseConcatDataset, RawDataset
from braindecode.preprocessing import create_fixed_length_windows, preprocess
from skorch.callbacks import EpochScoring
from skorch.dataset import ValidSplit

from mne_codec.braindecode import TokenClassifier, codec_preprocessors
from mne_codec.datasets import eegbci_raw

torch.manual_seed(0)

# %%
# A braindecode dataset
# ---------------------
# EEGMMIDB subject 1: one minute eyes open (target 0), one minute eyes
# closed (target 1), 8 occipital and central channels.
datasets = []
for run, target in ((1, 0), (2, 1)):
    raw = eegbci_raw(1, [run], verbose="ERROR")
    raw.pick(["O1", "Oz", "O2", "POz", "Pz", "Cz", "C3", "C4"])
    datasets.append(RawDataset(raw, description={"subject": 1, "target": target},
                               target_name="target"))
dataset = BaseConcatDataset(datasets)

# %%
# :func:`~mne_codec.braindecode.codec_preprocessors` applies the codec's
# filters to the continuous recordings, before windowing (the model itself
# resamples and scales each window as the codec expects).
preprocess(dataset, codec_preprocessors("default"))
windows = create_fixed_length_windows(dataset, window_size_samples=640,
                                      window_stride_samples=320, on_last_window="drop",
                                      preload=True)
print(f"{len(windows)} windows of {windows[0][0].shape} (channels, samples)")

# %%
# Train
# -----
# braindecode infers the number of channels, samples and classes from the
# data; the sampling rate is passed for datasets (it is inferred from Epochs).
# The codec stays frozen: only the embeddings, the two transformer layers and
# the head learn (about 40 k parameters here). Tokens of windows already seen
# are cached, so only the first epoch pays for the codec.
clf = EEGClassifier(
    TokenClassifier,
    module__codec="default",
    module__sfreq=160.0,
    classes=[0, 1],
    optimizer=torch.optim.AdamW,
    lr=3e-3,
    batch_size=8,
    max_epochs=15,
    train_split=ValidSplit(0.25, stratified=False, random_state=0),
    callbacks=[("train_bacc", EpochScoring("balanced_accuracy", on_train=True,
                                           name="train_bacc", lower_is_better=False))],
    device="cpu",
    verbose=0,
)
clf.fit(windows, y=None)
n_trainable = sum(p.numel() for p in clf.module_.parameters() if p.requires_grad)
print(f"trainable parameters: {n_trainable}")

# %%
history = clf.history
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
axes[0].plot(history[:, "train_loss"], label="train")
axes[0].plot(history[:, "valid_loss"], label="validation")
axes[0].set(xlabel="epoch", ylabel="cross-entropy")
axes[0].legend()
axes[1].plot(history[:, "train_bacc"], label="train")
axes[1].plot(history[:, "valid_acc"], label="validation (accuracy)")
axes[1].axhline(0.5, color="k", ls="--", lw=1)
axes[1].set(xlabel="epoch", ylabel="score", ylim=(0, 1.05))
axes[1].legend()
print(f"validation accuracy after {len(history)} epochs: {history[-1, 'valid_acc']:.2f}")

# %%
# The same model takes :class:`mne.Epochs` directly
# (``clf.fit(epochs, y)``: braindecode then reads ``sfreq`` from their info),
# and :class:`~mne_codec.braindecode.CodecEncoder` gives the codec's tokens
# or quantized embeddings as a module to build other models on.
# ``channel_pooling="mean"`` makes a model that takes any number of channels.
proba = clf.predict_proba(windows)
print(f"probabilities: {proba.shape}, first window {np.round(proba[0], 3)}")
