"""
.. _tut-token-lm:

Train a language model on EEG tokens
====================================

EEG foundation models are trained as language models are: a corpus is
tokenized once, and a sequence model learns to predict the next token. This
tutorial takes that path end to end on a CPU: it tokenizes the training
subjects' recordings of ``shared/data`` into a folder of token shards
(:func:`mne_codec.corpus.tokenize_corpus`, as ``mne-codec tokenize`` does),
reads them as sequences in MusicGen's delay pattern
(:class:`~mne_codec.lm.TokenSequenceDataset`), trains a small causal
transformer, and measures it on the validation subjects next to unigram and
bigram models of the same tokens (and a model of each level given the level
above it). Then it samples a continuation of a
validation recording, decodes it to volts with the codec, and compares its
spectrum with real EEG.

To keep the page to a few minutes on a CPU, it codes 9 channels and the
first 40 s of each recording, and trains a one-layer model for 300 steps on
one thread (the whole page took 118 s in the documentation build of
2026-12-07, 77 s of them training, on a busy 2-core machine); the same code
runs unchanged on a whole corpus.
"""

# %%
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import mne
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mne_codec import Tokens, load_codec, read_tokens
from mne_codec.corpus import tokenize_corpus
from mne_codec.lm import TokenSequenceDataset, collate_sequences, recording_codes
from mne_codec.pipeline import detokenize
from mne_codec.training.splits import PrepareRaw, default_data_dir, default_splits

mne.set_log_level("WARNING")
torch.manual_seed(0)
# one thread: on a CPU shared with other work, torch's threads wait for each other
# (this small model's steps took several times longer with 2 threads than with 1 on
# the project's busy 2-core machine)
n_threads = torch.get_num_threads()
torch.set_num_threads(1)
rng = np.random.default_rng(0)
start = time.perf_counter()

# %%
# Tokenize the training and validation subjects
# ---------------------------------------------
# :func:`~mne_codec.training.splits.default_splits` names the recordings the
# package's recipes train and validate on: EEGMMIDB S001-S008 and eegmat
# Subject00-02 for training, EEGMMIDB S009-S010 and eegmat Subject03 for
# validation. ``prepare_raw`` runs on each recording after it is read: it
# gives the channels their standard names, keeps 9 channels that both
# datasets record, and the first 40 s.
CHANNELS = ["F3", "Fz", "F4", "C3", "Cz", "C4", "P3", "Pz", "P4"]


class First40s:
    """The dataset's channel fix-ups, then 9 channels and the first 40 s."""

    def __call__(self, raw):
        """Prepare ``raw`` in place."""
        return PrepareRaw()(raw).pick(CHANNELS).crop(0, 40.0, include_tmax=False)


data = default_data_dir()
splits = {"train": default_splits(data, "train"),
          "val": [f for files in default_splits(data, "val").values() for f in files]}
out = Path(tempfile.mkdtemp(prefix="mne_codec_lm_"))
for split, files in splits.items():
    summary = tokenize_corpus(files, out / split, codec="default", window_s=5.0,
                              prepare_raw=First40s(), num_threads=1, progress=False)
    print(f"{split}: {summary['done']} recordings tokenized, {len(summary['failed'])} failed")
print(f"tokenized in {time.perf_counter() - start:.0f} s")

# %%
# Each recording is one shard, ``(windows, channels, levels, frames)`` codes:
# 8 windows of 5 s, 9 channels, the default codec's 8 levels of 256 codes,
# 105 frames per window (20.8 per second).
shards = sorted((out / "val" / "shards").glob("*.tokens.npz"))
print(read_tokens(shards[0]))

# %%
# Sequences in the delay pattern
# ------------------------------
# :class:`~mne_codec.lm.DelayLayout` reads each channel in turn, one step per
# frame holding its 8 levels, with level ``k`` shifted by ``k`` frames: a
# model that predicts every level of the next step at once then knows the
# coarser levels of a frame before it predicts its finer ones. Packed
# sequences of 128 steps (about 6 s of one channel) cross channels and
# recordings, whose ``sep``, ``bos`` and ``eos`` tokens show where.
SEQ_LEN = 128
train_set = TokenSequenceDataset(out / "train", "delay", seq_len=SEQ_LEN, packed=True,
                                 drop_last=True, shuffle=True, shuffle_buffer=512, seed=0)
val_set = TokenSequenceDataset(out / "val", "delay", seq_len=SEQ_LEN)
layout = train_set.layout
K, CB = layout.n_levels, layout.codebook_size
print(train_set)
print(val_set)
print(layout)


def code_targets(ids):
    """Codes (0..255) of each level at each step of ``ids`` (B, T, K); -100 elsewhere."""
    codes = ids - CB * torch.arange(K)
    return torch.where((codes >= 0) & (codes < CB), codes, -100)


# %%
# A small causal transformer
# --------------------------
# Plain PyTorch: the tokens of a step are embedded (one table for the whole
# vocabulary, whose level offsets keep levels apart) and summed, a causal
# transformer layer reads the steps, and one linear head per level predicts
# the next step's code of that level. The loss is the cross-entropy over code
# targets (the ``pad`` cells of the delay pattern and the special tokens are
# not predicted). Weights start small (normal, standard deviation 0.02, the
# residual projections smaller still, as GPT-2's), so that at first each
# step's own embeddings dominate what the heads read.
class TokenLM(nn.Module):
    """Causal transformer over steps of ``K`` tokens, one output head per level."""

    def __init__(self, vocab_size, d_model=128, n_layers=1, n_heads=4):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(SEQ_LEN, d_model)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, 4 * d_model, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, K * CB)
        for name, weight in self.named_parameters():
            if weight.dim() == 2:  # embeddings and linear weights
                residual = name.endswith(("out_proj.weight", "linear2.weight"))
                nn.init.normal_(weight, std=0.02 / (2 * n_layers) ** 0.5 if residual else 0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(weight)

    def forward(self, ids):
        """Logits (B, T, K, CB) of the codes of the step after each of ``ids``."""
        n_steps = ids.shape[1]
        h = self.embed(ids).sum(2) + self.pos(torch.arange(n_steps))
        mask = nn.Transformer.generate_square_subsequent_mask(n_steps)
        h = self.blocks(h, mask=mask, is_causal=True)
        return self.head(self.norm(h)).unflatten(-1, (K, CB))


model = TokenLM(layout.vocab_size)
print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters")

# %%
# Train for a fixed budget of steps, a new shuffle of the shards each epoch.
N_STEPS, BATCH = 300, 32
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=N_STEPS,
                                               pct_start=0.1)
losses, step, epoch, t0 = [], 0, 0, time.perf_counter()
model.train()
while step < N_STEPS:
    train_set.set_epoch(epoch)
    loader = torch.utils.data.DataLoader(train_set, batch_size=BATCH,
                                         collate_fn=collate_sequences)
    for batch in loader:
        ids = batch["input_ids"]
        logits = model(ids[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 2), code_targets(ids[:, 1:]).flatten())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        step += 1
        if step == N_STEPS:
            break
    epoch += 1
train_s = time.perf_counter() - t0
print(f"{N_STEPS} steps ({epoch} epochs) in {train_s:.0f} s, "
      f"last loss {np.mean(losses[-20:]):.3f} nats")

fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
ax.plot(losses, lw=0.8)
ax.set(xlabel="step", ylabel="cross-entropy (nats per code)", title="training loss")

# %%
# Baselines counted on the training subjects
# ------------------------------------------
# Three count models of the same codes, each level on its own:
#
# - **unigram**: the code's frequency in the training tokens (add-one);
# - **bigram**: the code given the code of the same level at the previous
#   frame of the same channel (in the delay pattern: the same level at the
#   previous step);
# - **coarser level**: the code given the code of the level above at the same
#   frame (the residual quantizer's level ``k`` codes what level ``k - 1``
#   left over; in the delay pattern that code sits at the previous step, one
#   level up, so the transformer sees it too). Level 0 has none: unigram.
#
# Both conditional models are smoothed towards the unigram with a Dirichlet
# prior of weight ``alpha`` (:math:`p(b|a) = (n_{ab} + \alpha\, p(b)) / (n_a +
# \alpha)`). With 65,536 pairs of codes per level and about 230,000 training
# pairs, most pairs are seen a few times at most, so ``alpha`` matters; it is
# chosen per level on the training subjects alone, by two-fold
# cross-validation over subjects.
def pair_counts(shard_files):
    """Count codes (K, CB) and code pairs (K, CB, CB) per level, over shard files.

    Pairs: (previous frame, frame) of a level, and (level above, level) of a frame.
    """
    uni, prev_frame, coarser = np.zeros((K, CB)), np.zeros((K, CB, CB)), np.zeros((K, CB, CB))
    for f in shard_files:
        codes = recording_codes(read_tokens(f).codes).astype(np.int64)  # (C, K, T)
        for k in range(K):
            uni[k] += np.bincount(codes[:, k].ravel(), minlength=CB)
            pairs = codes[:, k, :-1] * CB + codes[:, k, 1:]
            prev_frame[k] += np.bincount(pairs.ravel(), minlength=CB * CB).reshape(CB, CB)
            if k:
                pairs = codes[:, k - 1] * CB + codes[:, k]
                coarser[k] += np.bincount(pairs.ravel(), minlength=CB * CB).reshape(CB, CB)
    return uni, prev_frame, coarser


def smoothed(pairs, unigram, alpha):
    """p(b | a) of pair counts (CB, CB), a Dirichlet prior of weight alpha on the unigram."""
    return (pairs + alpha * unigram) / (pairs.sum(1, keepdims=True) + alpha)


def add_one(uni):
    """Add-one (Laplace) smoothed frequencies of code counts."""
    return (uni + 1) / (uni + 1).sum(-1, keepdims=True)


ALPHAS = [1, 3, 10, 30, 100, 300, 1000, 3000, 10000]
train_shards = sorted((out / "train" / "shards").glob("*.tokens.npz"))
subject = [f.name.split("R")[0] if f.name.startswith("S0") else f.name.split("_")[0]
           for f in train_shards]
subjects = sorted(set(subject))
held_out_nll = np.zeros((2, K, len(ALPHAS)))  # (bigram | coarser level, level, alpha)
for fold in (subjects[0::2], subjects[1::2]):
    fit = pair_counts([f for f, s in zip(train_shards, subject) if s not in fold])
    test = pair_counts([f for f, s in zip(train_shards, subject) if s in fold])
    for m in range(2):
        for k in range(K):
            for j, alpha in enumerate(ALPHAS):
                p = smoothed(fit[1 + m][k], add_one(fit[0][k]), alpha)
                held_out_nll[m, k, j] -= (test[1 + m][k] * np.log(p)).sum()
best = np.array(ALPHAS)[held_out_nll.argmin(-1)]  # (2, K)
uni, prev_frame, coarser = pair_counts(train_shards)
unigram = add_one(uni)
bigram = np.stack([smoothed(prev_frame[k], unigram[k], best[0, k]) for k in range(K)])
level_model = np.stack([smoothed(coarser[k], unigram[k], best[1, k]) for k in range(K)])
print(f"alpha chosen on the training subjects, per level: bigram {best[0].tolist()}, "
      f"coarser level {best[1, 1:].tolist()}")
val_uni, val_prev_frame, _ = pair_counts(sorted((out / "val" / "shards").glob("*.npz")))
repeats = np.trace(val_prev_frame, axis1=1, axis2=2) / val_prev_frame.sum((1, 2))
print(f"a code equals the previous frame's code of its level in {100 * repeats.mean():.2f} % "
      f"of the validation frames ({100 / CB:.2f} % by chance)")

# %%
# Per-level cross-entropy on the validation subjects
# --------------------------------------------------
# Every code of every validation sequence that the transformer predicts, in
# nats per code, and its perplexity (``exp`` of the cross-entropy: the number
# of equally likely codes the model hesitates among; 256 would be no
# knowledge at all).
model.eval()
names = ("unigram", "bigram", "coarser level", "transformer")
nll = {name: np.zeros(K) for name in names}
count = np.zeros(K)
loader = torch.utils.data.DataLoader(val_set, batch_size=64, collate_fn=collate_sequences)
with torch.no_grad():
    for batch in loader:
        ids = batch["input_ids"]
        target = code_targets(ids[:, 1:])
        prev = code_targets(ids[:, :-1])  # the previous step: the codes of these pairs
        logp = F.log_softmax(model(ids[:, :-1]), -1)
        for k in range(K):
            sel = target[..., k] >= 0
            t, p = target[..., k][sel].numpy(), prev[..., k][sel].numpy()
            count[k] += sel.sum().item()
            picked = logp[..., k, :][sel].gather(1, torch.from_numpy(t)[:, None])
            nll["transformer"][k] -= picked.sum().item()
            nll["unigram"][k] -= np.log(unigram[k, t]).sum()
            # a channel's first frame has no previous frame: unigram
            cond = np.where(p >= 0, bigram[k, np.maximum(p, 0), t], unigram[k, t])
            nll["bigram"][k] -= np.log(cond).sum()
            if k:  # the level above, same frame: one level up at the previous step
                up = prev[..., k - 1][sel].numpy()
                assert (up >= 0).all()  # always there in the delay pattern
                nll["coarser level"][k] -= np.log(level_model[k, up, t]).sum()
            else:
                nll["coarser level"][k] -= np.log(unigram[k, t]).sum()

ce = {name: v / count for name, v in nll.items()}
print(f"{int(count[0])} codes per level on the validation subjects; "
      f"cross-entropy in nats per code and perplexity\n")
print(f"{'level':>5} | " + " | ".join(f"{n:>16}" for n in names))
print(f"{'':>5} | " + " | ".join(f"{'nats':>7} {'ppl':>8}" for _ in names))
for k in range(K):
    print(f"{k:>5} | " + " | ".join(f"{ce[n][k]:7.3f} {np.exp(ce[n][k]):8.1f}" for n in names))
print(f"{'mean':>5} | " + " | ".join(f"{ce[n].mean():7.3f} {np.exp(ce[n].mean()):8.1f}"
                                     for n in names))

# %%
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
for j, (name, values) in enumerate(ce.items()):
    ax.bar(np.arange(K) + (j - 1.5) * 0.2, np.exp(values), width=0.2, label=name)
ax.set(xlabel="level", ylabel="perplexity (codes)", yscale="log", ylim=(40, 1000),
       title="validation perplexity per level (lower is better)")
ax.legend(fontsize="small", ncols=4, loc="upper center")

# %%
# What the table says (the figures quoted here are those of a run on
# 2026-12-07 with the default codec ``biocodec-eeg-mne-v2``; the run that
# built this page may differ in the last digits): the codes' marginal
# frequencies are close to uniform (unigram 5.30 nats per code, perplexity
# 199 of 256 codes). The code of the same level one frame earlier says
# almost nothing more: the bigram gains 0.03 nats per code, even with its
# smoothing chosen on the training subjects, and a code repeats its
# predecessor in under 1 % of frames (0.89 %, against 0.39 % by chance).
# This is a property of these tokens, not of the counting: at 20.8 frames
# per second, with codebooks that use all their codes, neighbouring frames
# of a level seldom take the same code, and a count of 65,536 code pairs
# cannot tell which different codes are alike. The structure is across
# levels: given the code of the level above at the same frame, a level's
# code is 0.5-0.75 nats more predictable (perplexity 98-124 instead of
# 186-219). The transformer learns some structure across time: level 0,
# which has no level above, drops from 5.31 (unigram) and 5.25 (bigram) to
# 5.17. But 300 steps on one thread are not enough for it to learn all of
# the structure across levels: at levels 1-7 it sits between the bigram and
# the coarser-level count model, and its mean over levels (5.07 nats,
# perplexity 159) stays above that model's (4.75, perplexity 115). A longer
# run, or a head that reads the level above explicitly, is what closes
# that gap on a whole corpus.


# %%
# Sample a continuation and decode it to volts
# --------------------------------------------
# The prompt: the first 5-s window of each channel of a validation
# recording. The model samples the next 20 s, step by step (every level of a
# step at once, at temperature 1, from the last 127 steps), the layout's
# exact inverse turns the steps back into codes, and the codec decodes them
# with the scaling of the prompt's window.
shard = out / "val" / "shards" / "S009R04.tokens.npz"
real = read_tokens(shard)
n_ch, n_fr = real.codes.shape[1], real.codes.shape[3]
N_PROMPT, N_WINDOWS = 1, 5
channel_seqs = [layout.encode(recording_codes(real.codes[:, [c]])) for c in range(n_ch)]
# bos, sep, and the steps that hold every level of the prompt's frames
steps = torch.from_numpy(np.stack([s[: 2 + N_PROMPT * n_fr + K - 1] for s in channel_seqs]))
n_total = 2 + N_WINDOWS * n_fr + K - 1  # bos, sep, the frames and the delays' tail
generator = torch.Generator().manual_seed(0)
with torch.no_grad():
    while steps.shape[1] < n_total:
        logits = model(steps[:, -(SEQ_LEN - 1):])[:, -1]  # (n_ch, K, CB)
        codes = torch.multinomial(F.softmax(logits.flatten(0, 1), -1), 1, generator=generator)
        steps = torch.cat([steps, (codes.view(n_ch, 1, K) + CB * torch.arange(K))], 1)

sampled = []
for c in range(n_ch):
    body = steps[c, 2:].numpy().copy()  # after bos and sep
    for k in range(K):  # the cells after a level's last frame hold pad
        body[N_WINDOWS * n_fr + k:, k] = layout.pad_id
        body[:k, k] = layout.pad_id
    seq = np.concatenate([steps[c, :2].numpy(), body, np.full((1, K), layout.eos_id)])
    sampled.append(layout.decode(seq)[0])  # (K, frames)
sampled = np.stack(sampled)  # (n_ch, K, N_WINDOWS * n_fr)
assert np.array_equal(sampled[..., : N_PROMPT * n_fr],
                      recording_codes(real.codes[:N_PROMPT])[:, :, : N_PROMPT * n_fr])

codes = sampled.reshape(n_ch, K, N_WINDOWS, n_fr).transpose(2, 0, 1, 3)
generated = Tokens(codes=codes, center=np.repeat(real.center[:1], N_WINDOWS, 0),
                   scale=np.repeat(real.scale[:1], N_WINDOWS, 0), ch_names=real.ch_names,
                   sfreq=real.sfreq, n_times=real.n_times, n_times_codec=real.n_times_codec,
                   onsets_s=real.onsets_s[:N_WINDOWS], codec=real.codec)
codec = load_codec("default", verbose="ERROR").eval()
volts = detokenize(codec, generated).transpose(1, 0, 2).reshape(n_ch, -1)
decoded = detokenize(codec, real)[:N_WINDOWS].transpose(1, 0, 2).reshape(n_ch, -1)

# %%
# The real EEG of the same 25 s, band-passed as the codec does (0.5-40 Hz),
# and its reconstruction from its own tokens: the sampled continuation
# should look like EEG after the prompt, not like a copy of it.
raw = First40s()(mne.io.read_raw_edf(splits["val"][0], preload=True))
raw.filter(0.5, 40.0, method="iir", iir_params=dict(order=4, ftype="butter"))
eeg = raw.get_data()[:, : volts.shape[1]]
sfreq = real.sfreq
times = np.arange(volts.shape[1]) / sfreq
c = CHANNELS.index("Cz")
fig, ax = plt.subplots(figsize=(8, 3), layout="constrained")
ax.plot(times, 1e6 * eeg[c], lw=0.6, label="real EEG")
ax.plot(times, 1e6 * volts[c], lw=0.6, label="prompt, then sampled continuation")
ax.axvline(N_PROMPT * 5.0, color="k", ls="--", lw=0.8)
ax.set(xlabel="time (s)", ylabel="µV", title=f"{CHANNELS[c]}, validation subject S009")
ax.legend(loc="upper right", fontsize="small")

# %%
# The spectra of the 20 s after the prompt, averaged over the 9 channels:
# the sampled continuation keeps the broad shape of EEG's spectrum that the
# codec's own reconstruction has (the 1/f slope, a bump around the alpha/mu
# band), less sharply (in the run of 2026-12-07 its alpha bump was smaller,
# it had several times less power below 3 Hz and about half the power
# above 25 Hz of the real EEG).
after = slice(int(N_PROMPT * 5.0 * sfreq), None)
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
for signal, label in ((eeg, "real EEG (0.5-40 Hz)"), (decoded, "codec, real tokens"),
                      (volts, "codec, sampled tokens")):
    psd, freqs = mne.time_frequency.psd_array_welch(signal[:, after], sfreq, fmin=0.5,
                                                    fmax=45.0, n_fft=int(2 * sfreq))
    ax.semilogy(freqs, psd.mean(0) * 1e12, label=label)
ax.set(xlabel="frequency (Hz)", ylabel="PSD (µV²/Hz)", title="spectrum after the prompt")
ax.legend()
print(f"whole tutorial: {time.perf_counter() - start:.0f} s")
torch.set_num_threads(n_threads)
