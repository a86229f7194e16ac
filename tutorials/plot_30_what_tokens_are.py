"""
.. _tut-what-tokens-are:

What the tokens are
===================

A residual vector quantizer codes each frame of each channel in levels: the
first level picks the codeword closest to the encoder's output, the second
codes what the first left over, and so on. Each level adds
``log2(codebook_size)`` bits per frame and removes part of the error. This
tutorial looks at the tokens of the default codec on 20 s of resting EEG
(shipped with the package): how many codes each level uses, what token
sequences look like, and how the reconstruction error falls level by level.
"""

# %%
import matplotlib.pyplot as plt
import mne
import numpy as np

from mne_codec import CodecTokenizer
from mne_codec.datasets import sample_raw
from mne_codec.evaluation import evaluate_codec, format_report, plot_rate_distortion
from mne_codec.metrics import codebook_usage

mne.set_log_level("WARNING")  # no progress bars in this page

raw = sample_raw(verbose="ERROR")
tokenizer = CodecTokenizer(window_s=5.0, output="tokens", verbose="WARNING").fit(raw)
tokens = tokenizer.tokenize(raw)
codec = tokenizer.codec_
print(tokens)

# %%
# Codebook usage
# --------------
# A healthy codec uses most of each codebook; a collapsed one keeps coming
# back to a few codes. The perplexity is the effective number of codes
# (``exp`` of the entropy of their distribution).
usage, perplexity = codebook_usage(tokens.codes, codec.codebook_size)
levels = np.arange(1, codec.n_codebooks + 1)
fig, axes = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
axes[0].bar(levels, 100 * usage)
axes[0].set(xlabel="level", ylabel="% of codes used", ylim=(0, 105))
axes[1].bar(levels, perplexity)
axes[1].axhline(codec.codebook_size, color="k", ls="--", lw=1)
axes[1].set(xlabel="level", ylabel="perplexity", title=f"of {codec.codebook_size} codes")

# %%
# How often each code occurs at the first level, over all channels:
counts = np.bincount(tokens.codes[:, :, 0].ravel(), minlength=codec.codebook_size)
fig, ax = plt.subplots(figsize=(8, 2.5), layout="constrained")
ax.bar(np.arange(codec.codebook_size), counts, width=1.0)
ax.set(xlabel="code", ylabel="count", title="level 1")

# %%
# Token sequences as images
# -------------------------
# The first-level codes of every channel over the first 5 s (one column per
# 48 ms frame). Neighbouring channels share rhythms, and so share runs of
# codes.
fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
ax.imshow(tokens.codes[0, :, 0], aspect="auto", cmap="twilight", interpolation="nearest")
ax.set(yticks=range(len(raw.ch_names)), yticklabels=raw.ch_names, xlabel="frame",
       title="level-1 codes, first window")

# %%
# Rate and distortion
# -------------------
# :func:`~mne_codec.evaluation.evaluate_codec` encodes once and decodes with
# the first ``k`` levels for every ``k``: each level costs 8 bits per frame,
# about 167 bit/s per channel, and lowers the error.
report = evaluate_codec("default", [raw], window_s=5.0, verbose="WARNING")
print(format_report(report))
fig = plot_rate_distortion({"default codec, eegmat Subject03": report})

# %%
# The error per EEG band, level by level: the first levels code the large
# low-frequency waves, later levels the smaller fast ones.
bands = list(report["levels"][0]["band_nmse"])
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
for band in bands:
    ax.semilogy(levels, [lvl["band_nmse"][band] for lvl in report["levels"]], "o-",
                label=band)
ax.set(xlabel="levels used", ylabel="NMSE in the band")
ax.legend(ncols=2)
