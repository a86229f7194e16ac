"""Tokenization throughput on a GPU, and the code agreement of bf16/fp16 autocast.

Encodes real EEG (EEGMMIDB, 64 channels, preprocessed as the tokenizer does)
with the default codec (BioCodec, 10-s windows) at several batch sizes in
fp32, bf16 and fp16 autocast, and with NeuroRVQ (the authors' full EEG
architecture on seeded random weights, and optionally a trained model) in
64-channel windows of 4 s (the 256-token budget). Prints channel-seconds of
EEG tokenized per second (median of repeats, after warm-up, synchronised) and
the fraction of codes equal to fp32's, per level::

    python benchmarks/gpu.py [--data PATH] [--neurorvq MODEL_DIR] [--repeats 5]

Needs CUDA (``--device cpu`` runs the same on the CPU, fp32 only, for a check).
"""

import argparse
import statistics
import time

import numpy as np
import torch

from mne_codec import load_codec
from mne_codec._validation import check_input
from mne_codec.pipeline import _autocast
from mne_codec.preprocessing import preprocess
from mne_codec.training.default import default_data_dir, eegmmidb_files, prepare_eegbci


def _windows(prep, data, subject, window_s):
    import mne

    raw = prepare_eegbci(mne.io.read_raw_edf(eegmmidb_files(data, [subject])[0],
                                             preload=True, verbose=False))
    w = check_input(raw, window_s=window_s)
    x, _, _ = preprocess(w.data, w.sfreq, prep, verbose=False)
    return x, list(w.ch_names)


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _bench(fn, dev, repeats):
    with torch.inference_mode():
        out = fn()  # warm-up (cuDNN autotuning, allocations)
        fn()
        times = []
        for _ in range(repeats):
            _sync(dev)
            t0 = time.perf_counter()
            fn()
            _sync(dev)
            times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def _agreement(codes, ref, rows_per_level):
    same = (codes == ref).float()  # (B, C, rows, T)
    return [float(same[:, :, r].mean()) for r in rows_per_level]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--subject", type=int, default=1)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--neurorvq", default=None, help="a trained NeuroRVQ folder")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    dev = torch.device(args.device)
    data = args.data or default_data_dir()
    precisions = ["fp32", "bf16", "fp16"] if dev.type == "cuda" else ["fp32"]
    if dev.type == "cuda":
        print(torch.cuda.get_device_name(dev), f"torch {torch.__version__}")

    # -- the default codec: channel-independent, every channel-window one item
    codec = load_codec("default", verbose=False).prepare_for_inference().to(dev)
    x, _ = _windows(codec.preprocessing, data, args.subject, 10.0)
    flat = torch.from_numpy(x.reshape(-1, 1, x.shape[-1]))
    print(f"\nBioCodec default ({codec.max_codebooks} x {codec.codebook_size} codes), "
          f"10-s windows, {len(flat)} channel-windows available")
    print("| batch | precision | channel-s/s | codes equal to fp32 per level |")
    print("|---|---|---|---|")
    for batch in args.batch_sizes:
        reps = -(-batch // len(flat))
        xb = flat.repeat(reps, 1, 1)[:batch].to(dev)
        ref = None
        for precision in precisions:
            def run(xb=xb, precision=precision):
                with _autocast(dev, precision):
                    return codec.encode(xb)
            codes, seconds = _bench(run, dev, args.repeats)
            ref = codes if ref is None else ref
            agree = _agreement(codes, ref, [[k] for k in range(codes.shape[2])])
            print(f"| {batch} | {precision} | {batch * 10.0 / seconds:,.0f} | "
                  + " ".join(f"{a:.4f}" for a in agree) + " |", flush=True)

    # -- NeuroRVQ: 64 channels x 4 patches = 256 tokens per window
    from mne_codec.models.neurorvq import NeuroRVQ

    models = []
    torch.manual_seed(0)
    models.append(("NeuroRVQ full (seeded)", NeuroRVQ().eval()))
    if args.neurorvq:
        models.append((f"NeuroRVQ {args.neurorvq}", load_codec(args.neurorvq, verbose=False)))
    for title, model in models:
        model = model.eval().to(dev)
        x, names = _windows(model.preprocessing, data, args.subject, 4.0)
        n_q = model.max_codebooks
        rows = [[k * n_q + q for k in range(model.n_branches)] for q in range(n_q)]
        print(f"\n{title} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M "
              f"parameters), 64-channel windows of 4 s")
        print("| windows per batch | precision | channel-s/s | codes equal to fp32 per level |")
        print("|---|---|---|---|")
        for batch in (8, 32):
            xb = torch.from_numpy(np.concatenate([x] * -(-batch // len(x)))[:batch]).to(dev)
            ref = None
            for precision in precisions[:2]:
                def run(xb=xb, precision=precision, model=model):
                    with _autocast(dev, precision):
                        return model.encode(xb, names).codes
                codes, seconds = _bench(run, dev, args.repeats)
                ref = codes if ref is None else ref
                agree = _agreement(codes, ref, rows)
                print(f"| {batch} | {precision} | {batch * 64 * 4.0 / seconds:,.0f} | "
                      + " ".join(f"{a:.4f}" for a in agree) + " |", flush=True)


if __name__ == "__main__":
    main()
