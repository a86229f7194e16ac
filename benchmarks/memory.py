"""Peak memory of tokenizing long recordings: bounded, whatever the length.

Builds 64-channel recordings of several lengths from real EEGMMIDB imagery
runs (S001-S010 runs 4/8/12 of ../shared/data, concatenated; repeated if a
longer recording is asked for), saves each as a FIF file, and
tokenizes it with ``CodecTokenizer`` from a Raw opened with ``preload=False``
in a fresh process, reporting its peak resident memory (VmHWM, Linux) and the
throughput. A Raw is read, filtered and coded in blocks
(``mne_codec._validation.RAW_BLOCK_S``), so the peak should not grow with the
recording's length; the token array itself (int16) is what grows.

    python benchmarks/memory.py [--minutes 10 60] [--threads 2] [--codec default]

With ``--stream``, it measures instead the codec's streaming
(:func:`mne_codec.pipeline.encode_stream` then ``decode_stream``) of one
whole recording of 64 channels: real EEGMMIDB imagery runs preprocessed as
one window each (per-recording scaling), tiled to the length asked for and
saved as float32 ``.npy``; a fresh process loads it, encodes it in chunks of
``--chunk-s`` and decodes the codes, reporting the peak resident memory of
each pass (VmHWM, reset between them through ``/proc/self/clear_refs``). The
input, the codes and the decoded signal grow with the length (they are
printed); the codec's working memory should not.

    python benchmarks/memory.py --stream [--minutes 1 10 60] [--chunk-s 9.984]
                                [--mmap-threshold 65536]

Most of the resident memory the stream adds is glibc's heap, which keeps
freed chunk-sized blocks (its dynamic mmap threshold grows after the first
frees); ``--mmap-threshold`` sets ``MALLOC_MMAP_THRESHOLD_`` in the child so
that large blocks are returned to the system, showing the stream's own
working memory.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, sys, time


def hwm_mib():  # this process's peak resident memory (ru_maxrss survives exec)
    with open("/proc/self/status") as fid:
        return next(int(l.split()[1]) for l in fid if l.startswith("VmHWM:")) / 1024


import torch
torch.set_num_threads(int(sys.argv[3]))
import mne
from mne_codec import CodecTokenizer
raw = mne.io.read_raw_fif(sys.argv[1], preload=False, verbose="ERROR")
base = hwm_mib()
tok = CodecTokenizer(sys.argv[2], window_s=10.0, output="tokens", verbose="ERROR").fit(raw)
t0 = time.perf_counter()
tokens = tok.tokenize(raw)
wall = time.perf_counter() - t0
peak = hwm_mib()
print(json.dumps(dict(wall_s=wall, peak_mib=peak, base_mib=base,
                      tokens_mib=tokens.codes.nbytes / 2**20,
                      ch_s=len(raw.ch_names) * raw.n_times / raw.info["sfreq"])))
"""


STREAM_CHILD = r"""
import json, sys, time


def hwm_mib():
    with open("/proc/self/status") as fid:
        return next(int(l.split()[1]) for l in fid if l.startswith("VmHWM:")) / 1024


def reset_hwm():  # Linux: "5" resets the peak resident set size to the current one
    with open("/proc/self/clear_refs", "w") as fid:
        fid.write("5")


import numpy as np
import torch
torch.set_num_threads(int(sys.argv[3]))
from mne_codec import load_codec
from mne_codec.pipeline import decode_stream, encode_stream
codec = load_codec(sys.argv[2], verbose=False).prepare_for_inference()
chunk_s = float(sys.argv[4])
x = np.load(sys.argv[1])
base = hwm_mib()
t0 = time.perf_counter()
codes = encode_stream(codec, x, chunk_s=chunk_s)
t_enc = time.perf_counter() - t0
peak_enc = hwm_mib()
reset_hwm()
base_dec = hwm_mib()
t0 = time.perf_counter()
y = decode_stream(codec, codes, x.shape[-1], chunk_s=chunk_s)
t_dec = time.perf_counter() - t0
print(json.dumps(dict(base_mib=base, peak_enc_mib=peak_enc, base_dec_mib=base_dec,
                      peak_dec_mib=hwm_mib(), x_mib=x.nbytes / 2**20,
                      codes_mib=codes.nbytes / 2**20, y_mib=y.nbytes / 2**20,
                      enc_s=t_enc, dec_s=t_dec, ch_s=x.shape[1] * x.shape[-1] / codec.sfreq)))
"""


def _imagery_runs(n_times_160):
    """EEGMMIDB imagery runs 4/8/12 of S001-S010 until ``n_times_160`` samples (or all)."""
    import mne
    from mne.datasets import eegbci

    from mne_codec.training.default import default_data_dir

    raws, n = [], 0
    for subject in range(1, 11):  # about 62 min in all
        files = eegbci.load_data(subjects=[subject], runs=[4, 8, 12],
                                 path=str(default_data_dir()), update_path=False)
        raws += [mne.io.read_raw_edf(f, preload=True, verbose="ERROR") for f in files]
        n = sum(r.n_times for r in raws)
        if n >= n_times_160:
            break
    return raws


def _stream_input(minutes, codec_name, path):
    """64 channels, each run preprocessed as one window, tiled to ``minutes``: float32 .npy."""
    import numpy as np

    from mne_codec import load_codec
    from mne_codec.preprocessing import preprocess

    prep = load_codec(codec_name, verbose=False).preprocessing
    n = int(round(minutes * 60 * prep.sfreq))
    raws = _imagery_runs(min(n, 10 * 60 * 160) * 160 / prep.sfreq)  # tile beyond 10 min
    parts = [preprocess(r.get_data()[None], r.info["sfreq"], prep, verbose=False)[0][0]
             for r in raws]
    data = np.concatenate(parts, axis=1)
    x = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(1, 64, n))
    for start in range(0, n, data.shape[1]):
        stop = min(n, start + data.shape[1])
        x[0, :, start:stop] = data[:, :stop - start]
    x.flush()


def _stream(args):
    print(f"codec {args.codec}: encode_stream + decode_stream of one 64-channel recording "
          f"(float32, codec rate), chunk_s={args.chunk_s:g}, {args.threads} thread(s)"
          + (f", MALLOC_MMAP_THRESHOLD_={args.mmap_threshold}" if args.mmap_threshold else ""))
    print(f"{'minutes':>8} {'input MiB':>9} {'base MiB':>8} {'enc peak':>8} {'codes MiB':>9} "
          f"{'dec peak':>8} {'out MiB':>7} {'enc ch-s/s':>10} {'dec ch-s/s':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            path = os.path.join(tmp, f"x_{minutes:g}min.npy")
            _stream_input(minutes, args.codec, path)
            env = dict(os.environ)
            if args.mmap_threshold:
                env["MALLOC_MMAP_THRESHOLD_"] = str(args.mmap_threshold)
            out = subprocess.run([sys.executable, "-c", STREAM_CHILD, path, args.codec,
                                  str(args.threads), str(args.chunk_s)],
                                 capture_output=True, text=True, check=True, env=env)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{minutes:>8g} {res['x_mib']:>9.0f} {res['base_mib']:>8.0f} "
                  f"{res['peak_enc_mib']:>8.0f} {res['codes_mib']:>9.1f} "
                  f"{res['peak_dec_mib']:>8.0f} {res['y_mib']:>7.0f} "
                  f"{res['ch_s'] / res['enc_s']:>10.0f} {res['ch_s'] / res['dec_s']:>10.0f}",
                  flush=True)
            os.remove(path)


def _recording(minutes, path):
    import mne
    import numpy as np
    from mne.datasets import eegbci

    from mne_codec.training.default import default_data_dir

    raws = []
    n = int(minutes * 60 * 160)
    for subject in range(1, 11):  # imagery runs 4/8/12 of S001-S010: about 62 min
        files = eegbci.load_data(subjects=[subject], runs=[4, 8, 12],
                                 path=str(default_data_dir()), update_path=False)
        raws += [mne.io.read_raw_edf(f, preload=True, verbose="ERROR") for f in files]
        if sum(r.n_times for r in raws) >= n:
            break
    data = np.concatenate([r.get_data() for r in raws], axis=1)
    reps = int(np.ceil(n / data.shape[1]))
    data = np.tile(data, reps)[:, :n]
    raw = mne.io.RawArray(data, raws[0].info, verbose="ERROR")
    eegbci.standardize(raw)
    raw.save(path, overwrite=True, verbose="ERROR")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--codec", default="default")
    parser.add_argument("--stream", action="store_true",
                        help="measure encode_stream/decode_stream of one whole recording")
    parser.add_argument("--chunk-s", type=float, default=9.984,
                        help="chunk length of --stream (whole codec frames)")
    parser.add_argument("--mmap-threshold", type=int, default=0,
                        help="--stream: MALLOC_MMAP_THRESHOLD_ of the child (0: glibc's)")
    args = parser.parse_args()
    if args.stream:
        return _stream(args)
    print(f"codec {args.codec}, 64 channels at 160 Hz, 10 s windows, "
          f"{args.threads} thread(s), Raw opened with preload=False")
    print(f"{'minutes':>8} {'peak MiB':>9} {'import MiB':>10} {'tokens MiB':>10} "
          f"{'ch-s/s':>8} {'wall s':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            path = os.path.join(tmp, f"rec_{minutes:g}min_raw.fif")
            _recording(minutes, path)
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", CHILD, path, args.codec,
                                  str(args.threads)], capture_output=True, text=True,
                                 check=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{minutes:>8g} {res['peak_mib']:>9.0f} {res['base_mib']:>10.0f} "
                  f"{res['tokens_mib']:>10.1f} {res['ch_s'] / res['wall_s']:>8.0f} "
                  f"{time.perf_counter() - t0:>7.0f}", flush=True)


if __name__ == "__main__":
    main()
