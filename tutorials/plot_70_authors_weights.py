"""
.. _tut-authors-weights:

Load the authors' published weights
===================================

Each codec family loads its authors' checkpoint files as they publish them,
strictly: every tensor must match the architecture, or a
:class:`~mne_codec.checkpoints.CheckpointError` says which keys are missing
or unexpected. Files are read with ``torch.load(weights_only=True)`` (or
safetensors): a checkpoint cannot run code.

With internet, :func:`~mne_codec.fetch_codec` downloads a registered file
into the cache and checks its checksum. Offline (as when this page is built),
put the file anywhere and pass its path. Here we write files in each
authors' layout from weights we have, load them back by path, and check that
they give the same tokens.
"""

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import mne
import numpy as np
import torch

from mne_codec import CodecTokenizer, list_codecs, load_codec
from mne_codec.checkpoints import REGISTRY, biocodec_state_to_authors, dac_state_to_official
from mne_codec.datasets import sample_raw
from mne_codec.models import DAC, DACConfig

mne.set_log_level("WARNING")  # no progress bars in this page

tmp = Path(tempfile.mkdtemp())
raw = sample_raw(verbose="ERROR")

# %%
# The registry, with the licence of each set of weights
# -----------------------------------------------------
for name in list_codecs():
    info = REGISTRY[name]
    print(f"{name:18s} {info.family:9s} {info.license:45s} {info.source}")

# %%
# BioCodec (MIT)
# --------------
# The authors release ``biocodec_ckpt.pt``: the state dict of a
# ``torch.compile``-d model (keys prefixed ``_orig_mod.``) under
# ``model_state_dict``. Load it with ``load_codec("path/to/biocodec_ckpt.pt")``
# or, with internet, ``load_codec("biocodec-eeg")``. We write the weights of
# ``biocodec-eeg-mne`` (the authors' architecture, trained by mne-codec; the
# default codec adds attention across channels, which their format has no
# place for) in that layout and load them back:
ours = load_codec("biocodec-eeg-mne", verbose="WARNING")
authors_state = {f"_orig_mod.{key}": value
                 for key, value in biocodec_state_to_authors(ours.state_dict()).items()}
torch.save({"model_state_dict": authors_state}, tmp / "biocodec_ckpt.pt")
print([key for key in authors_state if "quantizer" in key][:3])
from_file = load_codec(tmp / "biocodec_ckpt.pt", verbose="WARNING")

codes = [CodecTokenizer(c, output="tokens", verbose="WARNING").fit_transform(raw)
         for c in (ours, from_file)]
print(f"identical tokens: {np.array_equal(*codes)} ({codes[0].size} tokens)")

# %%
# The level-1 tokens of every channel in the first window, from both:
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained", sharey=True)
for ax, c, title in zip(axes, codes, ("biocodec-eeg-mne", "loaded from biocodec_ckpt.pt")):
    ax.imshow(c[0, :, 0], aspect="auto", cmap="twilight", interpolation="nearest")
    ax.set(title=title, xlabel="frame")
axes[0].set(yticks=range(len(raw.ch_names)), yticklabels=raw.ch_names)

# %%
# DAC (MIT)
# ---------
# The Descript Audio Codec releases ``weights_16khz.pth`` and others: the
# state dict in DAC's own names (legacy ``weight_g``/``weight_v`` weight norm)
# with the model's hyper-parameters in ``metadata["kwargs"]``. mne-codec
# reads the architecture from those hyper-parameters. We build a DAC in its
# EEG configuration (the 16 kHz architecture, 74 M parameters, randomly
# initialised) and save it in the release layout:
torch.manual_seed(0)
dac = DAC(DACConfig.eeg()).eval()
torch.save({"state_dict": dac_state_to_official(dac.state_dict()),
            "metadata": {"kwargs": DACConfig.eeg().dac_kwargs()}}, tmp / "weights_eeg.pth")
dac_from_file = load_codec(tmp / "weights_eeg.pth", verbose="WARNING")
print(dac_from_file)
x = torch.randn(2, 1, 2048)
with torch.inference_mode():
    same = torch.equal(dac.encode(x), dac_from_file.encode(x))
print(f"identical DAC tokens: {same}")

# %%
# NeuroRVQ (CC BY-NC 4.0: non-commercial use only)
# ------------------------------------------------
# The authors release ``NeuroRVQ_EEG_tokenizer_v1.pt`` (on Hugging Face,
# ``ntinosbarmpas/NeuroRVQ``): a state dict of 505 tensors, 76 M values. It
# loads strictly by path; NeuroRVQ codes channels jointly, by name, so it is
# called with the channel names::
#
#     from mne_codec.checkpoints import load_neurorvq_checkpoint
#     neurorvq = load_neurorvq_checkpoint("NeuroRVQ_EEG_tokenizer_v1.pt")
#     codes, stats = neurorvq.encode(x, ch_names)   # x: (batch, channels, samples) at 200 Hz
#
# Their code and weights are licensed CC BY-NC 4.0; mne-codec says so each
# time it loads them. The file is not part of this build (it is 300 MB and
# we do not download anything here).
print(REGISTRY["neurorvq-eeg-v1"].license)

# %%
# NeuroRVQ for ECG, EMG and PPG
# -----------------------------
# The authors also release an ECG, an EMG and a PPG tokenizer of the same
# architecture (same licence), registered as ``neurorvq-ecg-v1``,
# ``neurorvq-emg-v1`` and ``neurorvq-ppg-v1``. Each is a configuration of
# the one NeuroRVQ (``NeuroRVQConfig.ecg()``, ``.emg()``, ``.ppg()``) with
# the authors' channel names, rate, patch, kernels, number of levels and
# preprocessing: ECG at 200 Hz in 0.2-s patches of the 12 leads and
# vx/vy/vz; EMG at 1000 Hz, channels c1-c16, 16 levels per branch; PPG at
# 100 Hz in 0.8-s patches of one channel, band-passed 0.5-39.5 Hz. With
# internet, ``mne_codec.fetch_codec("neurorvq-ecg-v1")`` downloads the file
# once; ``load_codec("neurorvq-ecg-v1")`` then tokenizes Raw recordings whose
# ECG channels are named as the leads (``I``, ``aVR``, ``V1`` ...). Channels
# of another modality (EEG names given to the ECG tokenizer, or ECG leads to
# the EEG one) are refused with a message naming the tokenizer's modality
# and the channels it reads. ``mne-codec list`` shows each file's pinned
# revision and whether its sha256 is published or recorded on first
# download (:doc:`/weights`). Nothing is downloaded in this build.
