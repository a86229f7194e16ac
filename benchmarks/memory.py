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
    args = parser.parse_args()
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
