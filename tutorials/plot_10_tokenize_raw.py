"""
.. _tut-tokenize-raw:

Tokenize and reconstruct a Raw recording
========================================

A codec turns each channel of a recording into a few integers per frame
(the *tokens*) and back. This tutorial codes one minute of motor-imagery EEG
with the default codec, looks at the tokens, and compares the reconstruction
with the original, in time and per frequency band.
"""

# %%
# Load one minute of EEG
# ----------------------
# EEGMMIDB subject 1, run 4 (left/right fist imagery), 64 channels at 160 Hz.
# We keep 8 channels over the motor cortex.
import matplotlib.pyplot as plt
import mne
import numpy as np

from mne_codec import CodecReconstructor, CodecTokenizer
from mne_codec.datasets import eegbci_raw
from mne_codec.metrics import BANDS, band_errors, nmse

mne.set_log_level("WARNING")  # no progress bars in this page

raw = eegbci_raw(1, [4], verbose="ERROR").crop(0, 60.0)
raw.pick(["FC3", "FCz", "FC4", "C3", "Cz", "C4", "CP3", "CP4"])
print(raw)

# %%
# Tokens
# ------
# ``output="tokens"`` returns integers of shape (windows, channels, levels,
# frames). The Raw is cut into 5 s windows. The codec resamples each window
# to its 250 Hz, band-passes it (0.5-40 Hz) and scales it per channel; the
# scaling statistics are kept with the tokens.
tokenizer = CodecTokenizer(window_s=5.0, output="tokens").fit(raw)
tokens = tokenizer.tokenize(raw)
print(tokens)
print(f"codes: {tokens.codes.shape}, values in [0, {tokens.codes.max()}]")
print(f"{tokens.bits_per_second:.0f} bit/s per channel, "
      f"{tokenizer.codec_.frame_rate:.1f} frames/s x {tokens.n_codebooks} levels")

# %%
# The codes of the first channel in the first window: one row per level of
# the residual quantizer, one column per frame (48 ms).
fig, ax = plt.subplots(figsize=(8, 2.5), layout="constrained")
im = ax.imshow(tokens.codes[0, 3], aspect="auto", cmap="viridis", interpolation="nearest")
ax.set(xlabel="frame", ylabel="level", title=f"tokens of {raw.ch_names[3]}, first 5 s")
cbar = fig.colorbar(im, ax=ax, label="code")

# %%
# Reconstruct
# -----------
# :meth:`~mne_codec.CodecReconstructor.reconstruct` returns a copy of the Raw
# whose EEG channels are replaced by their reconstruction, with the same
# info and annotations, so MNE's tools work on it as on the original.
rec = CodecReconstructor(window_s=5.0).fit(raw).reconstruct(raw)

# %%
# To compare like with like, band-pass the original as the codec does.
# MNE's browser shows both in one plot: the reconstructed channels are
# added with a ``-rec`` suffix next to the original ones.
original = raw.copy().filter(0.5, 40.0, method="iir",
                             iir_params=dict(order=4, ftype="butter"), verbose="ERROR")
both = original.copy().add_channels(
    [rec.copy().filter(0.5, 40.0, verbose="ERROR").rename_channels(lambda c: f"{c}-rec")])
order = np.ravel([[i, i + len(raw.ch_names)] for i in range(4)])
fig = both.plot(start=10.0, duration=4.0, order=order, scalings=dict(eeg=60e-6),
                show_scrollbars=False, show=False)

# %%
# Overlaid on one channel:
times = raw.times
sel = (times >= 10) & (times < 14)
fig, ax = plt.subplots(figsize=(8, 3), layout="constrained")
ax.plot(times[sel], 1e6 * original.get_data(picks="C3")[0, sel], label="original (0.5-40 Hz)")
ax.plot(times[sel], 1e6 * rec.get_data(picks="C3")[0, sel], label="reconstruction", alpha=0.8)
ax.set(xlabel="time (s)", ylabel="µV", title="C3")
ax.legend(loc="upper right")

# %%
# How good is it?
# ---------------
# The normalised mean squared error (error power over signal power) over the
# whole minute, and per EEG band:
x, y = original.get_data(), rec.get_data()
print(f"NMSE per channel: {np.round(nmse(x, y), 4)}, mean {nmse(x, y).mean():.4f}")
errors = band_errors(x, y, raw.info["sfreq"])
fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
ax.bar(list(BANDS), [np.nanmean(errors[b]) for b in BANDS])
ax.set(ylabel="NMSE in the band", title="error per band (mean over channels)")

# %%
# The spectra of original and reconstruction, with MNE:
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
for inst, label in ((original, "original"), (rec, "reconstruction")):
    psd = inst.compute_psd(fmax=60.0, verbose="ERROR")
    ax.semilogy(psd.freqs, psd.get_data().mean(0), label=label)
ax.set(xlabel="frequency (Hz)", ylabel="PSD (V²/Hz)", title="mean over channels")
ax.legend()
