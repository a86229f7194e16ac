"""
.. _tut-train:

Train a codec on your own recordings
====================================

:class:`~mne_codec.training.Trainer` trains any codec of mne-codec on
recordings that MNE can read. This tutorial trains a small BioCodec from
scratch for two hundred steps on a CPU, on five imagery runs of EEGMMIDB,
and measures it on a recording it never saw, next to the default codec. The
recipe of the default codec itself is one command,
``python -m mne_codec.training.default --version 1 --out runs/default --minutes 60``; the
same trainer runs on several GPUs with ``torchrun``.
"""

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from mne_codec import load_codec, save_codec
from mne_codec.datasets import data_path
from mne_codec.models import BioCodec, BioCodecConfig
from mne_codec.quantization import RVQConfig
from mne_codec.training import (
    RecordingCrops,
    TrainConfig,
    Trainer,
    fixed_crops,
    plot_log,
    validation_metrics,
)
from mne_codec.training.default import eegmmidb_files, prepare_eegbci

torch.manual_seed(0)
train_files = eegmmidb_files(data_path(), subjects=[1, 2], runs=(4, 8, 12))[:5]
val_files = eegmmidb_files(data_path(), subjects=[10], runs=(4,))

# %%
# A small codec
# -------------
# The architecture of BioCodec with fewer filters, a smaller latent and four
# levels of 64 codes (4 x 6 bits per frame, 500 bit/s per channel).
config = BioCodecConfig(n_filters=8, dimension=32, lstm_layers=1,
                        rvq=RVQConfig(dim=32, n_codebooks=4, codebook_size=64, codebook_dim=8))
codec = BioCodec(config)
print(codec)

# %%
# Data
# ----
# :class:`~mne_codec.training.RecordingCrops` streams random single-channel
# 5 s crops, preprocessed as the codec declares and exactly as the tokenizer
# preprocesses a 5 s window (the recording band-passed at 0.5-40 Hz, each crop
# resampled to 250 Hz and scaled by its own median/IQR); ``prepare_raw``
# gives EEGMMIDB's channels their standard names.
# :func:`~mne_codec.training.fixed_crops` makes a fixed validation set from the
# held-out recording.
train = RecordingCrops(train_files, codec, segment_s=5.0, prepare_raw=prepare_eegbci, seed=0)
val = {"S010": fixed_crops(val_files, codec, prepare_raw=prepare_eegbci, max_segments=256,
                           seed=0)}

# %%
# Train
# -----
# Adam with warm-up and a cosine decay; the loss is BioCodec's (time-domain
# Huber, multi-scale STFT magnitude and phase, commitment). Logs, checkpoints
# (resumable) and the final weights go to ``out_dir``.
cfg = TrainConfig(lr=3e-3, betas=(0.5, 0.9), warmup_steps=20, total_steps=200, batch_size=16,
                  segment_s=5.0, log_every=10, val_every=50, checkpoint_every=200,
                  progress=False)
out_dir = Path(tempfile.mkdtemp()) / "small_codec"
summary = Trainer(codec, train, val, cfg, out_dir).fit()

# %%
# The run's logs: training loss, validation NMSE at each number of levels,
# and how many codes each level uses.
fig = plot_log(out_dir)

# %%
# Compare with the default codec
# ------------------------------
# Both on the same held-out crops (each codec preprocesses them its own way,
# and NMSE does not depend on the scaling).
default = load_codec("default", verbose="WARNING")
x_default = fixed_crops(val_files, default, prepare_raw=prepare_eegbci, max_segments=256,
                        seed=0)
ours = validation_metrics(codec, val["S010"])
theirs = validation_metrics(default, x_default)
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
for metrics, c, label in ((ours, codec, "small codec, 200 CPU steps"),
                          (theirs, default, "default codec, 100 CPU minutes")):
    k = np.arange(1, c.max_codebooks + 1)
    bits = k * c.frame_rate * np.log2(c.codebook_size)
    ax.semilogy(bits, [metrics[f"nmse_{j}"] for j in k], "o-", label=label)
ax.set(xlabel="bit/s per channel", ylabel="NMSE", title="EEGMMIDB S010 (held out)")
ax.legend()
for name, metrics, c in (("small", ours, codec), ("default", theirs, default)):
    print(f"{name:8s} NMSE at 1..{c.max_codebooks} levels: "
          + " ".join(f"{metrics[f'nmse_{j}']:.3f}" for j in range(1, c.max_codebooks + 1)))

# %%
# Two hundred steps already give a codec that codes EEG at a few hundred
# bits per second; the default codec, trained for 100 minutes with eight
# levels of 256 codes and attention across channels, goes much further (here
# it codes each crop's channel alone, unnamed: it does better still on whole
# montages). Training longer
# (``max_minutes``), on more recordings, with more levels is what moves a
# codec down this curve. To *fine-tune* the default codec instead, start from
# it with a low learning rate::
#
#     codec = load_codec("default")
#     Trainer(codec, train, val, TrainConfig(lr=1e-4, total_steps=500), "runs/ft").fit()
#
# A trained codec is saved like any other (safetensors weights and a JSON
# config) and loads by path everywhere in mne-codec:
path = save_codec(codec, out_dir / "final")
print(load_codec(path, verbose="WARNING"))
