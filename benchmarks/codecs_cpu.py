"""Tokenization throughput of several codecs on this CPU, side by side in one run.

Tokenizes a real EEGMMIDB recording (S001 run 4, 2 minutes, preprocessed as
every tokenizer does: notch/band-pass, resampling, per-window scaling) with
``CodecTokenizer(codec, window_s=...).tokenize(raw)`` for each codec, on the
19 channels of the 10-20 system and on all 64, with 1 and 2 threads. Prints
channel-seconds of EEG tokenized per wall-second (median of repeats after a
warm-up), the bits per second per channel of each codec, and each codec's
throughput as a ratio to the first one (measured in the same run: the machine
is shared, ratios are steadier than absolute figures)::

    python benchmarks/codecs_cpu.py [--codecs default runs/dac/final ...] [--threads 1 2]

A codec is a registered name or a folder saved by a training recipe.
"""

import argparse
import os
import statistics
import time

import torch

from mne_codec import CodecTokenizer, load_codec
from mne_codec.training.default import default_data_dir, eegmmidb_files, prepare_eegbci

# every repeat codes the windows anew: no in-process cache (it would time cache hits)
os.environ["MNE_CODEC_MEMORY_CACHE_MB"] = "0"

#: the 19 electrodes of the 10-20 system (EEGMMIDB names them as 10-10)
TEN_TWENTY = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8",
              "P7", "P3", "Pz", "P4", "P8", "O1", "O2"]


def _raw(data, seconds):
    import mne

    raw = prepare_eegbci(mne.io.read_raw_edf(eegmmidb_files(data, [1])[0], preload=True,
                                             verbose=False))
    return raw.crop(0, seconds, include_tmax=False)


def _throughput(codec, raw, window_s, repeats):
    tok = CodecTokenizer(codec, window_s=window_s, output="tokens", device="cpu",
                         verbose=False).fit(raw)
    tok.tokenize(raw)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        tok.tokenize(raw)
        times.append(time.perf_counter() - t0)
    return len(raw.ch_names) * raw.times[-1] / statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codecs", nargs="+", default=["default"])
    parser.add_argument("--data", default=None)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--window-s", type=float, default=10.0,
                        help="window length (NeuroRVQ codecs split windows to their budget)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    raw64 = _raw(args.data or default_data_dir(), args.seconds)
    raw19 = raw64.copy().pick(TEN_TWENTY)
    codecs = [load_codec(c, verbose=False) for c in args.codecs]
    print(f"torch {torch.__version__}; EEGMMIDB S001R04, {args.seconds:g} s, "
          f"{args.window_s:g}-s windows; channel-s of EEG per wall-s (ratio to the first)")
    print("| codec | bit/s per channel | channels | threads | channel-s/s | ratio |")
    print("|---|---|---|---|---|---|")
    for raw in (raw19, raw64):
        for threads in args.threads:
            torch.set_num_threads(threads)
            first = None
            for spec, codec in zip(args.codecs, codecs):
                speed = _throughput(codec, raw, args.window_s, args.repeats)
                first = first or speed
                print(f"| {spec} | {codec.bits_per_second:.0f} | {len(raw.ch_names)} | "
                      f"{threads} | {speed:,.0f} | {speed / first:.2f} |", flush=True)


if __name__ == "__main__":
    main()
