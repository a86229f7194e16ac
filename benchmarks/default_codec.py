"""Fidelity of a codec on the default codec's validation subjects, with a classical baseline.

Evaluates the codec (default: the shipped default) on EEGMMIDB S009-S010 (runs
4/8/12) and eegmat Subject03, separately, at 1..K RVQ levels, through the
same preprocessing as inference (5 s windows, 0.5-40 Hz, 250 Hz, median/IQR
scaling). For reference it codes the same windows with a plain DCT low-pass
code at the same bit rate (lowest-frequency DCT coefficients, 8 bits each,
uniform quantisation per window; side information not counted), the curve a
neural codec should be judged against on band-limited EEG::

    python benchmarks/default_codec.py [--codec default] [--json out.json] [--plot rd.png]
"""

import argparse
import json

import numpy as np
from scipy.fft import dct, idct

from mne_codec import load_codec, metrics
from mne_codec._validation import check_input
from mne_codec.evaluation import evaluate_codec, format_report, plot_rate_distortion
from mne_codec.preprocessing import band_limit, preprocess
from mne_codec.training.default import (
    default_data_dir,
    eegmat_files,
    eegmmidb_files,
    prepare_eegbci,
    prepare_eegmat,
)


def dct_baseline(codec, files, prepare, bits_per_second, window_s=5.0):
    """NMSE of a DCT low-pass code of ``bits_per_second`` (8-bit coefficients)."""
    import mne

    xs = []
    for f in files:
        raw = prepare(mne.io.read_raw(f, preload=True, verbose=False))
        prep = codec.preprocessing  # the same windows as evaluate_codec codes
        w = check_input(raw, window_s=window_s,
                        continuous_filter=lambda d, sf: band_limit(d, sf, prep))
        x, _, _ = preprocess(w.data, w.sfreq, prep, band_limited=True, verbose=False)
        xs.append(x.reshape(-1, x.shape[-1]).astype(np.float64))
    x = np.concatenate(xs)
    coefs = dct(x, norm="ortho", axis=-1)
    out = []
    for bps in bits_per_second:
        n_keep = int(bps * window_s / 8)
        kept = coefs[:, :n_keep]
        lo, hi = kept.min(1, keepdims=True), kept.max(1, keepdims=True)
        step = np.where(hi > lo, (hi - lo) / 255.0, 1.0)
        q = np.round((kept - lo) / step) * step + lo
        full = np.zeros_like(coefs)
        full[:, :n_keep] = q
        y = idct(full, norm="ortho", axis=-1)
        out.append(float(np.nanmean(metrics.nmse(x, y))))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codec", default="default")
    parser.add_argument("--json", default=None)
    parser.add_argument("--plot", default=None)
    args = parser.parse_args()
    data = default_data_dir()
    codec = load_codec(args.codec)
    sets = {
        "EEGMMIDB S009-S010": (eegmmidb_files(data, (9, 10)), prepare_eegbci),
        "eegmat Subject03": (eegmat_files(data, (3,)), prepare_eegmat),
    }
    reports = {}
    for name, (files, prepare) in sets.items():
        rep = evaluate_codec(codec, files, prepare_raw=prepare, verbose="WARNING")
        bps = [r["bits_per_second"] for r in rep["levels"]]
        rep["dct_baseline_nmse"] = dct_baseline(codec, files, prepare, bps)
        reports[name] = rep
        print(format_report(rep, title=name))
        print("\nDCT low-pass baseline at the same bit rates: "
              + ", ".join(f"{b:.0f} bit/s: {n:.3f}" for b, n in zip(bps, rep["dct_baseline_nmse"])))
        print()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(reports, f, indent=1)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        fig = plot_rate_distortion(reports, ylabel="NMSE (validation)")
        ax = fig.axes[0]
        for i, (name, rep) in enumerate(reports.items()):
            ax.plot([r["bits_per_second"] for r in rep["levels"]], rep["dct_baseline_nmse"],
                    "s--", color=f"C{i}", alpha=0.6, label=f"DCT baseline, {name}")
        ax.legend(fontsize=7)
        fig.savefig(args.plot, dpi=100)


if __name__ == "__main__":
    main()
