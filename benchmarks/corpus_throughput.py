"""End-to-end corpus tokenization (EDF on disk -> token shards on disk) against codec-only.

1. **Codec only**: :func:`mne_codec.pipeline.encode` of the default codec on
   preprocessed 5-s windows of one EEGMMIDB recording (S001 run 4, 64
   channels), median of repeats after a warm-up: the ceiling of any corpus run.
2. **End to end**: :func:`mne_codec.corpus.tokenize_corpus` of every
   recording under the data folder into a fresh folder (reading, band-pass,
   windowing, resampling, scaling, coding, writing shards, records and the
   manifest), one process.
3. **Profile** (cProfile) of an end-to-end run of ``--profile-n`` recordings:
   the share of wall time in reading, preprocessing, coding and writing.

Prints channel-seconds of EEG coded per wall-second for both, and their ratio::

    nice python benchmarks/corpus_throughput.py [--data PATH] [--threads 1] [--profile-n 4]
"""

import argparse
import cProfile
import json
import pstats
import statistics
import tempfile
import time
from pathlib import Path

import mne
import numpy as np
import torch

from mne_codec import load_codec
from mne_codec.corpus import find_recordings, tokenize_corpus
from mne_codec.pipeline import encode
from mne_codec.preprocessing import preprocess
from mne_codec.training.default import default_data_dir, eegmmidb_files

WINDOW_S = 5.0
#: the functions whose cumulative time is reported in the profile, by stage: (the end
#: of the path of the file that defines it, its name); a function called from several
#: places counts once, with all its calls
STAGES = {
    "read EDF header (mne.io.read_raw)": ("mne/io/_read_raw.py", "read_raw"),
    "read EDF data (BaseRaw._read_segment)": ("mne/io/base.py", "_read_segment"),
    "validate input (CodecTokenizer.fit)": ("mne_codec/transformers.py", "fit"),
    "band-pass the recording (band_limit)": ("mne_codec/preprocessing.py", "band_limit"),
    "resample + scale windows (preprocess)": ("mne_codec/preprocessing.py", "preprocess"),
    "codec encode (pipeline.encode)": ("mne_codec/pipeline.py", "encode"),
    "write shard (Tokens.save)": ("mne_codec/tokens.py", "save"),
    "sha256 of the shard (sha256_file)": ("mne_codec/_io.py", "sha256_file"),
}


def codec_only(codec, data, repeats):
    raw = mne.io.read_raw_edf(eegmmidb_files(data, [1])[0], preload=True, verbose=False)
    x = raw.get_data(picks="eeg")
    n_win = x.shape[1] // int(WINDOW_S * raw.info["sfreq"])
    x = x[:, : n_win * int(WINDOW_S * raw.info["sfreq"])]
    x = x.reshape(x.shape[0], n_win, -1).transpose(1, 0, 2)
    xp, _, _ = preprocess(x, raw.info["sfreq"], codec.preprocessing, verbose=False)
    channel_s = x.shape[0] * x.shape[1] * WINDOW_S
    encode(codec, xp[:2], device="cpu")  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        encode(codec, xp, device="cpu")
        times.append(time.perf_counter() - t0)
    return channel_s / statistics.median(times), channel_s


def end_to_end(files, out):
    t0 = time.perf_counter()
    summary = tokenize_corpus(files, out, window_s=WINDOW_S, device="cpu", progress=False)
    wall = time.perf_counter() - t0
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    channel_s = sum(r["n_windows"] * r["n_channels"] * WINDOW_S for r in records)
    read_s = sum(r["n_channels"] * r["duration_s"] for r in records)
    size = sum((out / "shards" / r["shard"]).stat().st_size for r in records)
    return wall, channel_s, read_s, size, summary


def profile(files, out, top):
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    tokenize_corpus(files, out, window_s=WINDOW_S, device="cpu", progress=False)
    prof.disable()
    wall = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    cumulative = {}
    for (filename, _, name), (_, _, _, ct, _) in stats.stats.items():
        for stage, (suffix, function) in STAGES.items():
            if name == function and filename.replace("\\", "/").endswith(suffix):
                cumulative[stage] = cumulative.get(stage, 0.0) + ct
    print(f"\nProfile of {len(files)} recordings end to end ({wall:.1f} s under cProfile; "
          "a stage's seconds include those of the stages it calls):")
    print("| stage | seconds | share of wall |")
    print("|---|---|---|")
    for stage in STAGES:
        sec = cumulative.get(stage, 0.0)
        print(f"| {stage} | {sec:.2f} | {sec / wall:.0%} |")
    print(f"\nTop {top} functions by cumulative time:")
    stats.sort_stats("cumulative").print_stats(top)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile-n", type=int, default=4)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    files = find_recordings([args.data])
    codec = load_codec("default", verbose="ERROR").eval()

    ceiling, cs = codec_only(codec, args.data, args.repeats)
    print(f"codec only: {codec.name}, {cs:.0f} channel-s of EEGMMIDB S001R04 in "
          f"{WINDOW_S:g}-s windows, {args.threads} thread(s): {ceiling:.0f} channel-s/s "
          f"(median of {args.repeats})")
    with tempfile.TemporaryDirectory() as tmp:
        wall, coded, read, size, summary = end_to_end(files, Path(tmp) / "corpus")
        print(f"end to end: {len(files)} recordings ({summary['done']} tokenized, "
              f"{len(summary['failed'])} failed), {read / 3600:.2f} channel-hours read, "
              f"{coded / 3600:.2f} coded in whole windows, {size / 1e6:.1f} MB of shards, "
              f"{wall:.1f} s: {coded / wall:.0f} channel-s/s")
        print(f"end to end / codec only: {coded / wall / ceiling:.2f}")
        profile(files[: args.profile_n], Path(tmp) / "profiled", args.top)
    print(f"\nmeasured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, torch "
          f"{torch.__version__}, numpy {np.__version__}")


if __name__ == "__main__":
    main()
