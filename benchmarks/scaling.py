"""Per-window or per-recording amplitude scaling: what the default codec makes of each.

The shipped default codec (``biocodec-eeg-mne``) was trained on crops of
recordings scaled per channel over the WHOLE recording (median/IQR, clip
+-10), while :class:`~mne_codec.CodecTokenizer` scales each 5 s window. On the
validation subjects of the default codec (EEGMMIDB S009-S010 runs 4/8/12,
eegmat Subject03) this script codes the same 5 s windows both ways:

(a) ``window``: the tokenizer's path (each recording band-passed once, cut into
    5 s windows at its own rate, each window resampled to 250 Hz and scaled
    on its own, :func:`~mne_codec.preprocessing.preprocess`);
(b) ``recording``: the recording band-passed, resampled and scaled once as a
    whole (one window, as the training data were), then cut into the same
    5 s windows.

Both reconstructions are returned to volts with their own statistics and
compared, at 250 Hz and in the codec's band, with the unclipped band-passed
signal (``NMSE``, the mean over channel-windows of
``||y - x||^2 / ||x - mean(x)||^2``; it is invariant to the scaling, so
both columns measure the same thing), and also with the clipped model input
(``NMSE in``, the definition of the model card). It also prints how far the
per-window statistics are from the per-recording ones. A seeded subset of
the channel-windows keeps the CPU time to a few minutes::

    python benchmarks/scaling.py [--codec default] [--max-windows 3072] [--seed 0]
"""

import argparse
import time

import mne
import numpy as np

from mne_codec import load_codec
from mne_codec._validation import check_input
from mne_codec.evaluation import _read
from mne_codec.inference import decode_windows, encode_windows, show_progress
from mne_codec.metrics import nmse
from mne_codec.preprocessing import band_limit, preprocess, resample_to
from mne_codec.training.default import (
    default_data_dir,
    eegmat_files,
    eegmmidb_files,
    prepare_eegbci,
    prepare_eegmat,
)

WINDOW_S = 5.0


def _both_ways(codec, source, prepare):
    """Channel-windows of one recording scaled per window and per recording.

    Returns a dict of arrays of shape (n_windows * n_channels, n_times) or
    (n_windows * n_channels,): the model inputs ``x_window``/``x_recording``,
    their statistics, and the unclipped band-passed references in volts.
    """
    prep = codec.preprocessing
    raw = _read(source, prepare)
    w = check_input(raw, window_s=WINDOW_S, ch_types=prep.ch_types,
                    continuous_filter=lambda d, sf: band_limit(d, sf, prep))
    n_win, n_ch, n_native = w.data.shape
    x_w, c_w, s_w = preprocess(w.data, w.sfreq, prep, band_limited=True, verbose=False)
    # (b): the same samples as one window, the whole recording at once
    whole = w.data.transpose(1, 0, 2).reshape(n_ch, n_win * n_native)
    x_r, c_r, s_r = preprocess(whole[None], w.sfreq, prep, band_limited=True, verbose=False)
    n_codec = x_w.shape[-1]
    x_r = x_r[0, :, : n_win * n_codec].reshape(n_ch, n_win, n_codec).transpose(1, 0, 2)
    ref_w = resample_to(w.data, w.sfreq, prep.sfreq)
    ref_r = resample_to(whole, w.sfreq, prep.sfreq)[:, : n_win * n_codec]
    ref_r = ref_r.reshape(n_ch, n_win, n_codec).transpose(1, 0, 2)
    rec = np.broadcast_to(c_r[0], (n_win, n_ch)), np.broadcast_to(s_r[0], (n_win, n_ch))
    out = dict(x_window=x_w, center_window=c_w, scale_window=s_w, ref_window=ref_w,
               x_recording=x_r, center_recording=rec[0], scale_recording=rec[1],
               ref_recording=ref_r)
    return {k: np.ascontiguousarray(v).reshape(n_win * n_ch, *v.shape[2:])
            for k, v in out.items()}


def _levels(codec, x, center, scale, ref):
    """Per level: channel-window NMSE against the reference, mean NMSE against the input."""
    codes = encode_windows(codec, x[:, None], batch_size=128)
    rows = []
    for k in range(1, codec.max_codebooks + 1):
        y = decode_windows(codec, codes[:, :, :k], x.shape[-1], batch_size=128)[:, 0]
        volts = y.astype(np.float64) * np.where(scale > 0, scale, 1.0)[:, None] + center[:, None]
        rows.append((nmse(ref, volts), float(np.mean(nmse(x, y)))))
    return rows


def _pct(a, q):
    return np.percentile(a, q)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codec", default="default")
    parser.add_argument("--max-windows", type=int, default=3072,
                        help="channel-windows per data set (seeded subset)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    t0 = time.perf_counter()
    mne.set_log_level("WARNING")  # not the dropped tail of every recording
    codec = load_codec(args.codec, verbose=False)
    clip = codec.preprocessing.clip
    data = default_data_dir()
    sets = {
        "EEGMMIDB S009-S010": (eegmmidb_files(data, (9, 10)), prepare_eegbci),
        "eegmat Subject03": (eegmat_files(data, (3,)), prepare_eegmat),
    }
    print(f"codec {codec.name}, {WINDOW_S:g} s windows, NMSE at {codec.sfreq:g} Hz in "
          f"{codec.preprocessing.l_freq}-{codec.preprocessing.h_freq} Hz")
    for name, (files, prepare) in sets.items():
        parts = [_both_ways(codec, f, prepare) for f in files]
        d = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        n_all = len(d["x_window"])
        keep = np.arange(n_all)
        # flat channel-windows have no defined NMSE
        keep = keep[(d["scale_window"] > 0) & (d["ref_window"].std(-1) > 0)]
        if len(keep) > args.max_windows:
            rng = np.random.default_rng(args.seed)
            keep = np.sort(rng.choice(keep, args.max_windows, replace=False))
        d = {k: v[keep] for k, v in d.items()}
        ratio = d["scale_window"] / d["scale_recording"]
        shift = np.abs(d["center_window"] - d["center_recording"]) / d["scale_recording"]
        print(f"\n## {name}: {len(keep)} of {n_all} channel-windows")
        print(f"per-window IQR / per-recording IQR: median {np.median(ratio):.3f}, "
              f"5-95% {_pct(ratio, 5):.3f}-{_pct(ratio, 95):.3f}, "
              f"outside [0.5, 2]: {np.mean((ratio < 0.5) | (ratio > 2)):.1%}; "
              f"|median shift| / per-recording IQR: median {np.median(shift):.3f}, "
              f"95% {_pct(shift, 95):.3f}")
        if clip is not None:
            for how in ("window", "recording"):
                x = d[f"x_{how}"]
                print(f"samples at the +-{clip:g} clip, per {how}: "
                      f"{np.mean(np.abs(x) >= clip):.4%} "
                      f"(channel-windows with any: {np.mean((np.abs(x) >= clip).any(-1)):.2%})")
        with show_progress(False):
            res = {how: _levels(codec, d[f"x_{how}"], d[f"center_{how}"], d[f"scale_{how}"],
                                d[f"ref_{how}"]) for how in ("window", "recording")}
        print("\n| levels | NMSE (a) per window | NMSE (b) per recording | (b) / (a) | "
              "(b) - (a), 95% CI | NMSE in (a) | NMSE in (b) |")
        print("|---|---|---|---|---|---|---|")
        for k, ((a, a_in), (b, b_in)) in enumerate(zip(res["window"], res["recording"]), 1):
            diff = b - a  # paired: the same channel-windows
            half = 1.96 * diff.std(ddof=1) / np.sqrt(len(diff))
            print(f"| {k} | {a.mean():.4f} | {b.mean():.4f} | {b.mean() / a.mean():.3f} | "
                  f"{diff.mean():+.4f} +- {half:.4f} | {a_in:.4f} | {b_in:.4f} |")
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
