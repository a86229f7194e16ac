"""How many codes change with the number of torch threads (CPU), and how close to ties.

Tokenizes real recordings as ``mne-codec tokenize`` does (``mne.io.read_raw``,
then ``CodecTokenizer(codec, window_s=..., output="tokens").fit(raw).tokenize(raw)``)
once per thread count, and compares the codes with those of the first thread
count. For each token whose codes differ, at the first level where they differ,
the gap between the scores of the two codes (on the first run's residual), as a
fraction of the spread of that token's scores over the codebook, says how close
the token was to a tie: a flip caused by float rounding has a gap near float
precision, a real difference a large one. Prints the counts per recording and
in total, and the largest gap::

    python benchmarks/thread_determinism.py [--codec default] [--threads 1 2]
        [--recordings N] [--window-s 5]

The recordings are the first ``N`` of EEGMMIDB's run 4 of S001-S010 and
eegmat's task recordings, taken alternately, from ``--data`` (by default the
shared data folder, ``MNE_CODEC_SHARED_DATA``).
"""

import argparse
import os
import time
from pathlib import Path

import mne
import numpy as np
import torch

from mne_codec import CodecTokenizer, load_codec
from mne_codec.preprocessing import preprocess
from mne_codec.training.default import default_data_dir, eegmat_files, eegmmidb_files

# every thread count codes the windows anew: no in-process cache (as mne-codec tokenize)
os.environ["MNE_CODEC_MEMORY_CACHE_MB"] = "0"


def _recordings(data, n):
    """EEGMMIDB (64 channels, 160 Hz) and eegmat (21 channels, 500 Hz), alternately."""
    mmi = eegmmidb_files(data, range(1, 11), runs=(4,))
    mat = [f for f in eegmat_files(data, range(4)) if f.stem.endswith("_2")]
    files = [f for pair in zip(mmi, mat) for f in pair] + mmi[len(mat):]
    return files[:n]


def _windows(tok, raw):
    """Return the preprocessed windows the tokenizer codes (as tests/conftest.py does)."""
    xs = []
    for w in tok._windows(raw):  # the tokenizer's own windowing, to score the same inputs
        x, _, _ = preprocess(w.data[:, tok.picks_], w.sfreq, tok.codec_.preprocessing,
                             resample=tok.resample, band_limited=w.band_limited,
                             verbose="ERROR")
        xs.append(x)
    return np.concatenate(xs)


def _first_flip_gaps(codec, x, a, b, ch_names):
    """Score gap / score spread at the first differing level of each differing token."""
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(x, np.float32))
        # the latent before quantization (the codec protocol's encode returns codes only),
        # channels mixed as the codec mixes them (by name)
        z = codec._latent(x, ch_names)[0]
        residual = z.transpose(1, 2).reshape(-1, z.shape[1])
        ca = torch.from_numpy(a.reshape(-1, a.shape[2], a.shape[3]).astype(np.int64))
        cb = torch.from_numpy(b.reshape(-1, b.shape[2], b.shape[3]).astype(np.int64))
        ca, cb = (c.transpose(1, 2).reshape(-1, a.shape[2]) for c in (ca, cb))
        gaps, _ = codec.quantizer.flip_gaps(residual, ca, cb)
    return gaps.tolist(), len(gaps)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codec", default="default")
    parser.add_argument("--data", default=None)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--recordings", type=int, default=4)
    parser.add_argument("--window-s", type=float, default=5.0)
    args = parser.parse_args()
    files = _recordings(Path(args.data or default_data_dir()), args.recordings)
    codec = load_codec(args.codec, verbose=False)
    print(f"torch {torch.__version__}; codec {args.codec} ({codec.family}, "
          f"{codec.n_codebooks} x {codec.codebook_size} codes); {args.window_s:g}-s windows; "
          f"threads {args.threads} vs {args.threads[0]}")
    print("| recording | threads | codes | differing codes | tokens differing | max gap |")
    print("|---|---|---|---|---|---|")
    total, differing, tokens_differing, all_gaps = 0, {}, {}, []
    t0 = time.perf_counter()
    for f in files:
        raw = mne.io.read_raw(f, preload=False, verbose="ERROR")
        tok = CodecTokenizer(codec, window_s=args.window_s, output="tokens", device="cpu",
                             verbose="ERROR").fit(raw)
        codes = {}
        for n in args.threads:
            torch.set_num_threads(n)
            codes[n] = tok.tokenize(raw).codes
        torch.set_num_threads(args.threads[0])
        ref = codes[args.threads[0]]
        total += ref.size
        x = None
        for n in args.threads[1:]:
            diff = int((codes[n] != ref).sum())
            differing[n] = differing.get(n, 0) + diff
            gaps, n_tok = [], 0
            if diff:
                x = _windows(tok, raw) if x is None else x
                gaps, n_tok = _first_flip_gaps(tok.codec_, x, ref, codes[n], tok._coded_names())
            tokens_differing[n] = tokens_differing.get(n, 0) + n_tok
            all_gaps += gaps
            print(f"| {f.name} | {n} | {ref.size:,} | {diff:,} | {n_tok:,} | "
                  f"{max(gaps, default=0.0):.1e} |", flush=True)
    for n in args.threads[1:]:
        print(f"total, {n} vs {args.threads[0]} threads: {differing[n]:,} of {total:,} codes "
              f"differ ({differing[n] / total:.2e}), {tokens_differing[n]:,} tokens; largest "
              f"score gap at a flip {max(all_gaps, default=0.0):.1e} of the score spread "
              f"({len(files)} recordings, {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
