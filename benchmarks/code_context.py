"""How much an entropy coder with context could save on a codec's tokens.

The model cards report the entropy of each level's code histogram: the rate of
an ideal entropy coder that codes every token on its own. A coder that also
reads the token's context (EnCodec's language model over its codes) spends
less when tokens are predictable. This measures, per RVQ level, the held-out
cross-entropy (bits per token an arithmetic coder with the model would spend)
of three models fitted on the codes of the training recordings:

- ``unigram``: the level's code histogram;
- ``previous frame``: ``P(code | the same channel's code one frame earlier)``;
- ``lower level``: ``P(code | the same frame's code at the level below)``
  (level 1 has none).

Counts are smoothed towards the unigram (Dirichlet prior of ``alpha`` times
the codebook size), and the cross-entropy is taken on the validation
recordings (EEGMMIDB S009-S010, eegmat Subject03, whole montages), so that a
model that memorises its training codes gains nothing::

    python benchmarks/code_context.py [--codec default] [--alpha 0.5]
"""

import argparse

import numpy as np
import torch

from mne_codec import load_codec
from mne_codec.metrics import codebook_usage
from mne_codec.training.data import fixed_montage_crops
from mne_codec.training.splits import PrepareRaw, default_data_dir, default_splits


def _codes(codec, files, n_channels, max_segments, seed):
    x, ch_ix = fixed_montage_crops(files, codec, n_channels=n_channels, segment_s=5.0,
                                   prepare_raw=PrepareRaw(), max_segments=max_segments,
                                   seed=seed)
    with torch.no_grad():
        return torch.cat([codec.encode(x[i:i + 16], ch_ix[i:i + 16])
                          for i in range(0, len(x), 16)]).numpy()  # (n, c, levels, frames)


def _conditional(context, target, prior, alpha):
    k = len(prior)
    counts = np.zeros((k, k))
    np.add.at(counts, (context, target), 1)
    return (counts + alpha * k * prior) / (counts.sum(1, keepdims=True) + alpha * k)


def _bits(p):
    return float(-np.log2(p).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codec", default="default")
    parser.add_argument("--alpha", type=float, default=0.5, help="smoothing towards the unigram")
    parser.add_argument("--train-segments", type=int, default=1500)
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    codec = load_codec(args.codec).eval()
    data = default_data_dir()
    train = _codes(codec, default_splits(data, "train"), 19, args.train_segments, 0)
    val = default_splits(data, "val")
    sets = {"EEGMMIDB S009-S010": _codes(codec, val["eegmmidb"], 64, None, 1),
            "eegmat Subject03": _codes(codec, val["eegmat"], 19, None, 1)}
    k, rate = codec.codebook_size, codec.frame_rate
    print(f"{codec.name}: models fitted on {train.shape[0]} training crops of {train.shape[1]} "
          f"channels x 5 s ({train[:, :, 0].size:,} tokens per level), alpha={args.alpha}\n")
    for name, v in sets.items():
        print(f"## {name} ({v.shape[0]} windows x {v.shape[1]} channels x 5 s)\n")
        print("| level | histogram entropy (in sample) | unigram | previous frame | lower level |")
        print("|---|---|---|---|---|")
        best_total = 0.0
        in_sample = np.log2(codebook_usage(v, k)[1])  # the model cards' histogram entropy
        for lvl in range(train.shape[2]):
            tr, va = train[:, :, lvl], v[:, :, lvl]
            prior = np.bincount(tr.ravel(), minlength=k) + args.alpha
            prior = prior / prior.sum()
            uni = _bits(prior[va.ravel()])
            prev = _conditional(tr[..., :-1].ravel(), tr[..., 1:].ravel(), prior, args.alpha)
            h_prev = _bits(prev[va[..., :-1].ravel(), va[..., 1:].ravel()])
            cells = [f"{in_sample[lvl]:.2f}", f"{uni:.2f}", f"{h_prev:.2f}"]
            best = min(uni, h_prev)
            if lvl:
                low = _conditional(train[:, :, lvl - 1].ravel(), tr.ravel(), prior, args.alpha)
                h_low = _bits(low[v[:, :, lvl - 1].ravel(), va.ravel()])
                cells.append(f"{h_low:.2f}")
                best = min(best, h_low)
            else:
                cells.append("")
            best_total += best
            print(f"| {lvl + 1} | " + " | ".join(cells) + " |")
        n = train.shape[2]
        print(f"\nBest context, all {n} levels: {best_total:.2f} bit per frame and channel of "
              f"{n * np.log2(k):.0f} paid, {best_total * rate:.0f} of "
              f"{n * np.log2(k) * rate:.0f} bit/s per channel\n")


if __name__ == "__main__":
    main()
