"""How close a codec's encoder runs to this CPU's measured matrix-multiply peak.

1. Measures the CPU's fp32 matrix-multiply rate: the best of repeated
   ``torch.mm`` of two 2048 x 2048 matrices (GFLOP/s, 2 flops per
   multiply-add), with 1 and 2 threads.
2. Counts the codec encoder's floating-point operations per channel-second
   with :class:`torch.utils.flop_counter.FlopCounterMode` (convolutions and
   matrix products) on a batch of 10-s windows. The counter does not see the
   fused CPU LSTM kernel, so the LSTM's multiply-adds are added analytically
   (``4 * hidden * (input + hidden)`` per frame and layer).
3. Times the encoder on real EEG (EEGMMIDB S009, 64 channels, 10-s windows,
   batch 64, ``prepare_for_inference``, ``inference_mode``; median of
   repeats) and prints throughput and the fraction of the measured peak::

    python benchmarks/matmul_peak.py [--codec default] [--threads 1 2] [--repeats 5]
"""

import argparse
import copy
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from mne_codec import load_codec
from mne_codec._validation import check_input
from mne_codec.preprocessing import preprocess
from mne_codec.training.default import default_data_dir, eegmmidb_files, prepare_eegbci


def matmul_gflops(n=2048, repeats=10):
    """Best fp32 ``torch.mm`` rate of this process's threads, in GFLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_seconds(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _seconds(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _lstm_flops(codec, x):
    """Multiply-adds x 2 of the codec's LSTMs on ``x`` (the counter misses them)."""
    frames = {}

    def hook(module, inputs, output):
        frames[module] = inputs[0].shape[0] * inputs[0].shape[1]  # (T, B, C) or (B, T, C)

    handles = [m.register_forward_hook(hook) for m in codec.modules()
               if isinstance(m, torch.nn.LSTM)]
    with torch.inference_mode():
        codec.encode(x)
    for h in handles:
        h.remove()
    total = 0
    for lstm, n_frames in frames.items():
        for layer in range(lstm.num_layers):
            n_in = lstm.input_size if layer == 0 else lstm.hidden_size
            total += 2 * n_frames * 4 * lstm.hidden_size * (n_in + lstm.hidden_size)
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codec", default="default")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import mne

    codec = copy.deepcopy(load_codec(args.codec, verbose=False)).prepare_for_inference()
    raw = prepare_eegbci(mne.io.read_raw_edf(eegmmidb_files(default_data_dir(), [9])[0],
                                             preload=True, verbose=False))
    w = check_input(raw, window_s=10.0)
    xw, _, _ = preprocess(w.data, w.sfreq, codec.preprocessing, verbose=False)
    x = torch.from_numpy(xw.reshape(-1, 1, xw.shape[-1])[:args.batch_size].copy())
    ch_s = x.shape[0] * x.shape[-1] / codec.sfreq

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        codec.encode(x)
    counted = counter.get_total_flops()
    lstm = _lstm_flops(codec, x)
    per_ch_s = (counted + lstm) / ch_s
    print(f"codec {codec.name}: {per_ch_s / 1e6:.1f} MFLOP per channel-second "
          f"({counted / ch_s / 1e6:.1f} counted + {lstm / ch_s / 1e6:.1f} LSTM); batch "
          f"{x.shape[0]} x 10 s; torch {torch.__version__}")
    print("| threads | matmul peak (GFLOP/s) | encoder ch-s/s | encoder GFLOP/s | "
          "fraction of peak |")
    print("|---|---|---|---|---|")
    for n in args.threads:
        torch.set_num_threads(n)
        with torch.inference_mode():
            codec.encode(x)
            times = [_seconds(lambda: codec.encode(x)) for _ in range(args.repeats)]
        peak = matmul_gflops()
        speed = ch_s / statistics.median(times)
        rate = speed * per_ch_s / 1e9
        print(f"| {n} | {peak:.1f} | {speed:,.0f} | {rate:.1f} | {rate / peak:.1%} |",
              flush=True)


if __name__ == "__main__":
    main()
