"""
.. _tut-spatial-coherence:

Do token embeddings keep the spatial structure of EEG?
======================================================

BioCodec codes every channel on its own, with no knowledge of where the
electrode sits (the default codec of mne-codec adds attention across
channels, so this page uses ``biocodec-eeg-mne``, BioCodec's own
architecture trained by mne-codec). Avramidis et al. (2025) asked whether the codes still
reflect the brain's spatial organisation: channels whose signals are alike
should get alike token embeddings. We repeat their analysis on one minute of
eyes-closed EEG (EEGMMIDB subject 1, run 2, 64 channels): a connectivity
matrix from the signals, one from the token embeddings, and the Spearman
correlation between the two.
"""

# %%
import matplotlib.pyplot as plt
import mne
import numpy as np
from scipy.stats import spearmanr

from mne_codec import CodecTokenizer
from mne_codec.datasets import eegbci_raw
from mne_codec.pipeline import quantized_windows

mne.set_log_level("WARNING")  # no progress bars in this page

raw = eegbci_raw(1, [2], verbose="ERROR")
raw.filter(0.5, 40.0, verbose="ERROR")  # the codec's band, on the whole recording
n_ch = len(raw.ch_names)

# %%
# Token embeddings
# ----------------
# The embedding of a frame is the quantized latent the decoder receives: the
# sum of the chosen codewords of all levels (128 values per frame).
tokenizer = CodecTokenizer("biocodec-eeg-mne", window_s=5.0, output="tokens",
                           verbose="WARNING").fit(raw)
tokens = tokenizer.tokenize(raw)
z = quantized_windows(tokenizer.codec_, tokens.codes)  # (windows, channels, 128, frames)
print(f"embeddings: {z.shape}")

# each channel's embedding trajectory: (channels, 128 x all frames), centred per dimension
traj = z.transpose(1, 2, 0, 3).reshape(n_ch, z.shape[2], -1)
traj = (traj - traj.mean(-1, keepdims=True)).reshape(n_ch, -1)
conn_tokens = np.corrcoef(traj)

# %%
# Signal connectivity
# -------------------
# Pearson correlation of the band-passed signals, over the same minute.
conn_eeg = np.corrcoef(raw.get_data())

# %%
# Compare
# -------
# Only the pairs of distinct channels (upper triangle) count.
iu = np.triu_indices(n_ch, k=1)
rho, p = spearmanr(conn_eeg[iu], conn_tokens[iu])
print(f"Spearman rho between the two connectivity matrices: {rho:.3f} (p = {max(p, 1e-300):.0e}, "
      f"{len(iu[0])} channel pairs)")

# a control: with the channels of one matrix shuffled, the relation disappears
rng = np.random.default_rng(0)
perm = rng.permutation(n_ch)
rho_null = spearmanr(conn_eeg[iu], conn_tokens[np.ix_(perm, perm)][iu])[0]
print(f"with shuffled channels: {rho_null:.3f}")

fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
for ax, mat, title in ((axes[0], conn_eeg, "EEG correlation"),
                       (axes[1], conn_tokens, "token-embedding correlation")):
    im = ax.imshow(mat, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set(title=title, xlabel="channel", ylabel="channel")
fig.colorbar(im, ax=axes[:2], shrink=0.8)
axes[2].scatter(conn_eeg[iu], conn_tokens[iu], s=2, alpha=0.3)
axes[2].set(xlabel="EEG correlation", ylabel="embedding correlation",
            title=f"Spearman ρ = {rho:.2f}")

# %%
# Channels that are close on the scalp carry similar signals (volume
# conduction, shared rhythms), and their token embeddings are similar too,
# although the codec never saw two channels together.
