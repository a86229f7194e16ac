"""End-to-end corpus tokenization (EDF on disk -> token shards on disk) against codec-only.

Both figures come from one run, measured on the same EEG and interleaved so
that the load of a shared machine weighs on both alike. For each recording
of the data folder, in turn:

- **end to end**: :func:`mne_codec.corpus.tokenize_corpus` of that recording
  into one output folder (reading the EDF, validation, band-pass, windowing,
  resampling, scaling, coding, writing the shard, its sha256, its record and
  the manifest; one process, ``--threads`` torch threads). The calls add up
  to the whole corpus tokenized into one folder; each call also pays what a
  single call over the corpus pays once (loading the codec, the manifest);
- **codec only**: :func:`mne_codec.pipeline.encode` of exactly the windows
  that the tokenizer codes for that recording (preprocessed beforehand, not
  timed), with the same codec (weight norm folded, as the tokenizer's) and
  batch size, and the same threads: the ceiling of any corpus run.

The two alternate which goes first from one recording to the next. The
figures are the channel-seconds coded (whole windows) per wall-second of
each, summed over the corpus, and their ratio. Then a **profile** (cProfile)
of an end-to-end run of ``--profile-n`` recordings gives the share of wall
time of each stage::

    nice -n 10 python benchmarks/corpus_throughput.py [--data PATH] [--threads 1] \
        [--profile-n 4] [--limit N]
"""

import argparse
import cProfile
import json
import pstats
import tempfile
import time
from pathlib import Path

import mne
import numpy as np
import torch

from mne_codec import CodecTokenizer, load_codec
from mne_codec.corpus import find_recordings, tokenize_corpus
from mne_codec.pipeline import encode, show_progress
from mne_codec.preprocessing import preprocess
from mne_codec.training.splits import default_data_dir

WINDOW_S = 5.0
BATCH_SIZE = 256  # tokenize_corpus's default
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
    "write record + manifest (_write_json, _write_manifest)": (
        "mne_codec/corpus.py", ("_write_json", "_write_manifest")),
}


def coded_windows(source, codec):
    """Return the preprocessed windows (n, n_channels, n_times) tokenize_corpus codes.

    The tokenizer's own validation and windowing (its private ``_check_fitted_input``,
    as ``tests/conftest.py`` uses it), then :func:`preprocess`, as
    :func:`mne_codec.pipeline.tokenize` does.
    """
    raw = mne.io.read_raw(source, preload=False, verbose="ERROR")
    tok = CodecTokenizer(codec, window_s=WINDOW_S, output="tokens", verbose="ERROR").fit(raw)
    xs, names = [], None
    for w in tok._check_fitted_input(raw):
        x, _, _ = preprocess(w.data[:, tok.picks_], w.sfreq, tok.codec_.preprocessing,
                             band_limited=w.band_limited, verbose="ERROR")
        xs.append(x)
        names = [w.ch_names[p] for p in tok.picks_]
    return np.concatenate(xs), names


def time_codec_only(codec, x, names):
    t0 = time.perf_counter()
    with show_progress(False):
        encode(codec, x, names, batch_size=BATCH_SIZE, device="cpu")
    return time.perf_counter() - t0


def time_end_to_end(source, out, threads):
    t0 = time.perf_counter()
    summary = tokenize_corpus([source], out, window_s=WINDOW_S, device="cpu",
                              batch_size=BATCH_SIZE, num_threads=threads, progress=False)
    wall = time.perf_counter() - t0
    if summary["failed"]:
        raise RuntimeError(f"{source} failed: {summary['failed']}")
    return wall


def profile(files, out, threads, top):
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    tokenize_corpus(files, out, window_s=WINDOW_S, device="cpu", num_threads=threads,
                    progress=False)
    prof.disable()
    wall = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    cumulative = {}
    for (filename, _, name), (_, n_calls, _, ct, _) in stats.stats.items():
        for stage, (suffix, functions) in STAGES.items():
            functions = (functions,) if isinstance(functions, str) else functions
            if name in functions and filename.replace("\\", "/").endswith(suffix):
                calls, sec = cumulative.get(stage, (0, 0.0))
                cumulative[stage] = (calls + n_calls, sec + ct)
    print(f"\nProfile of {len(files)} recordings end to end ({wall:.1f} s under cProfile; "
          "a stage's seconds include those of the stages it calls):")
    print("| stage | calls | seconds | share of wall |")
    print("|---|---|---|---|")
    for stage in STAGES:  # a stage with 0 calls names a function that is not called
        calls, sec = cumulative.get(stage, (0, 0.0))
        print(f"| {stage} | {calls} | {sec:.2f} | {sec / wall:.1%} |")
    print(f"\nTop {top} functions by cumulative time:")
    stats.sort_stats("cumulative").print_stats(top)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile-n", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None,
                        help="only the first N recordings (a quick check)")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    mne.set_log_level("ERROR")
    files = find_recordings([args.data])[: args.limit]
    # the tokenizer's codec: loaded once, weight norm folded (prepare_for_inference)
    codec = load_codec("default", verbose="ERROR").prepare_for_inference()
    with show_progress(False):  # warm-up
        encode(codec, np.zeros((1, 2, 1250), np.float32), device="cpu")

    e2e_s = codec_s = channel_s = 0.0
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "corpus"
        print("| recording | channels x windows | end to end (s) | codec only (s) | ratio |")
        print("|---|---|---|---|---|")
        for i, source in enumerate(files):
            x, names = coded_windows(source, codec)
            if i % 2:  # alternate which goes first
                c = time_codec_only(codec, x, names)
                e = time_end_to_end(source, out, args.threads)
            else:
                e = time_end_to_end(source, out, args.threads)
                c = time_codec_only(codec, x, names)
            torch.set_num_threads(args.threads)  # tokenize_corpus restores it; to be sure
            cs = x.shape[0] * x.shape[1] * WINDOW_S
            e2e_s, codec_s, channel_s = e2e_s + e, codec_s + c, channel_s + cs
            print(f"| {source.name} | {x.shape[1]} x {x.shape[0]} | {e:.2f} | {c:.2f} | "
                  f"{c / e:.2f} |", flush=True)
        records = [json.loads(line)
                   for line in (out / "manifest.jsonl").read_text().splitlines()]
        assert len(records) == len(files)
        coded = sum(r["n_windows"] * r["n_channels"] * WINDOW_S for r in records)
        assert coded == channel_s, (coded, channel_s)
        read = sum(r["n_channels"] * r["duration_s"] for r in records)
        size = sum((out / "shards" / r["shard"]).stat().st_size for r in records)
        print(f"\n{len(files)} recordings, {read / 3600:.2f} channel-hours read, "
              f"{channel_s / 3600:.2f} coded in whole {WINDOW_S:g}-s windows, "
              f"{size / 1e6:.1f} MB of shards ({size / channel_s:.0f} bytes per "
              f"channel-second); codec {codec.name}, {args.threads} torch thread(s)")
        print(f"end to end: {e2e_s:.1f} s, {channel_s / e2e_s:.0f} channel-s/s")
        print(f"codec only: {codec_s:.1f} s, {channel_s / codec_s:.0f} channel-s/s")
        print(f"end to end / codec only: {codec_s / e2e_s:.3f}")
        print(f"(interleaved over {(time.time() - started) / 60:.1f} min)")
        if args.profile_n:
            profile(files[: args.profile_n], Path(tmp) / "profiled", args.threads, args.top)
    print(f"\nmeasured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, torch "
          f"{torch.__version__}, numpy {np.__version__}, mne {mne.__version__}")


if __name__ == "__main__":
    main()
