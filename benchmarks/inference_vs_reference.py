r"""Tokenization speed of mne_codec's BioCodec against the authors' code, same weights.

Both encode the same real EEG (EEGMMIDB S009, 64 channels, 10 s windows at
250 Hz, preprocessed as the tokenizer does) with the same weights (the shipped
default codec, exported to the authors' key names). Reports channel-seconds
of EEG tokenized per wall-second (median of repeated runs, interleaved so both
see the same machine load), the speed ratio, and whether the tokens are
identical. The authors' code (klean2050/BioCodec-release, MIT) is imported
from a checkout outside this repository; nothing of it is part of mne_codec::

    python benchmarks/inference_vs_reference.py --reference /path/to/BioCodec-release \\
        [--threads 1 2] [--batch-size 64] [--repeats 7]

Their code needs ``einops`` (install it anywhere on ``PYTHONPATH``).

Measured (2 shared AMD EPYC cores with AVX2, another process training on
them, so absolute figures vary by 2x between runs; torch 2.11, oneDNN 3.10)
with ``python benchmarks/inference_vs_reference.py --reference
/tmp/biocodec_ref --repeats 5``, tokens identical in every run (0 of 80,256
differ), ratios ours / authors per run:

- before the in-place, chunked inference encoder: 1.16 (1 thread) and 1.11
  (2 threads); 1.10 / 0.61 again under load;
- with it: 1.25 / 0.92, 1.01 / 0.85, 1.61 / 1.08, 1.41 / 1.08, 2.02 / 0.59.

On the same 2 cores once idle (load below 1.3), old and new encoder in
turn: before 1.03 / 1.10 and 1.09 / 1.09 (ours 424-484 and 820-832
channel-s/s); with it 1.29 / 1.32, 1.26 / 1.27 and 1.52 / 1.53 (ours
443-467 and 782-834 channel-s/s, the authors' 292-368 and 541-655);
later, on main: 1.46 / 1.62, 1.18 / 1.13, 1.54 / 1.58 and 1.47 / 1.53
(the last two at load 0.25: ours 454-455 and 793-814, the authors' 296-308
and 514-517). Over these seven idle runs the median ratio is 1.46 with 1
thread and 1.53 with 2 (range 1.13-1.62): our throughput is steady, the
authors' swings.
With 2 threads on the busy cores both implementations ran slower than
with 1, so those ratios measure the load. Nine interleaved runs per
implementation in one process (1 thread), the old and the new encoder in
turn: wall-time ratio 1.08 -> 1.53, CPU-time ratio 1.09 -> 1.48.

Tried and not kept: ``torch.jit.trace`` + ``freeze`` +
``optimize_for_inference`` of the encoder (identical outputs, no speed-up);
channels-last 2-d convolutions (oneDNN's NHWC kernels: 3.4x faster on the
first stage's 3-tap convolutions alone, no faster over the whole encoder,
and 1 token of 80,256 differs); torch's native LSTM instead of oneDNN's
(slower, and not bit-identical); chunks of fewer than 16 windows (single
threaded, torch then runs 1x1 convolutions with its own kernel: latents
differ in the last bits).
"""

import argparse
import copy
import statistics
import sys
import time

import numpy as np
import torch

from mne_codec import load_codec
from mne_codec._validation import check_input
from mne_codec.checkpoints import biocodec_state_to_authors
from mne_codec.preprocessing import preprocess
from mne_codec.training.default import default_data_dir, eegmmidb_files, prepare_eegbci


def _their_model(reference, state):
    sys.path.insert(0, str(reference))
    from biocodec.model import BioCodecModel  # noqa: PLC0415 - the authors' code, not ours

    torch.manual_seed(0)
    model = BioCodecModel._get_optimized_model(signal_normalize=False)
    model.load_state_dict(biocodec_state_to_authors(state), strict=True)
    return model.eval()


def _eeg_windows(codec, n_windows):
    import mne

    raw = prepare_eegbci(mne.io.read_raw_edf(eegmmidb_files(default_data_dir(), [9])[0],
                                             preload=True, verbose=False))
    w = check_input(raw, window_s=10.0)
    x, _, _ = preprocess(w.data, w.sfreq, codec.preprocessing, verbose=False)
    flat = x.reshape(-1, 1, x.shape[-1])
    return torch.from_numpy(flat[:n_windows].copy())


def _time(fn, repeats):
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", required=True, help="checkout of BioCodec-release")
    parser.add_argument("--codec", default="default")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    ours = load_codec(args.codec)
    theirs = _their_model(args.reference, ours.state_dict())
    ours = copy.deepcopy(ours).prepare_for_inference()  # what CodecTokenizer runs
    x = _eeg_windows(ours, args.batch_size)
    seconds = x.shape[0] * x.shape[-1] / ours.sfreq
    print(f"codec {ours.name}: batch {x.shape[0]} x 10 s single-channel windows "
          f"({seconds:.0f} channel-s), median of {args.repeats} runs after 2 warm-ups")

    with torch.inference_mode():
        ref_codes = theirs.encode(x)[0][0]
        our_codes = ours.encode(x)[:, 0]
        same = torch.equal(ref_codes, our_codes)
        mismatch = float((ref_codes != our_codes).float().mean())
        print(f"tokens identical: {same} (mismatch fraction {mismatch:.2e}, "
              f"{ref_codes.numel()} tokens)")
        print(f"{'threads':>8}{'authors ch-s/s':>16}{'ours ch-s/s':>14}{'ratio':>8}")
        for n in args.threads:
            torch.set_num_threads(n)
            for _ in range(2):
                theirs.encode(x)
                ours.encode(x)
            t_ref, t_our = [], []
            for _ in range(args.repeats):  # interleaved: both see the same load
                t_ref += _time(lambda: theirs.encode(x), 1)
                t_our += _time(lambda: ours.encode(x), 1)
            r_ref = seconds / statistics.median(t_ref)
            r_our = seconds / statistics.median(t_our)
            print(f"{n:>8}{r_ref:>16.0f}{r_our:>14.0f}{r_our / r_ref:>8.2f}")
    return 0 if same else 1


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    sys.exit(main())
