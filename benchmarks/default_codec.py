"""Fidelity of a codec on the default codec's validation subjects, with a classical baseline.

Evaluates the codec (default: the shipped default) on EEGMMIDB S009-S010 (runs
4/8/12) and eegmat Subject03, separately, at 1..K RVQ levels, through the
same preprocessing as inference (5 s windows, 0.5-40 Hz, 250 Hz, median/IQR
scaling). For reference it gives, on the same windows and at the same bit
rates, a plain DCT low-pass code (lowest-frequency DCT coefficients, 8 bits
each, uniform quantisation per window; side information not counted), the
curve a neural codec should be judged against on band-limited EEG, and the
Gaussian rate-distortion bound of each window's spectrum (reverse
water-filling), the limit of an ideal transform coder (see
:mod:`mne_codec.baselines`)::

    python benchmarks/default_codec.py [--codec default] [--json out.json] [--plot rd.png]
"""

import argparse
import json

from mne_codec import load_codec
from mne_codec.evaluation import evaluate_codec, format_report, plot_rate_distortion
from mne_codec.training.default import (
    default_data_dir,
    eegmat_files,
    eegmmidb_files,
    prepare_eegbci,
    prepare_eegmat,
)


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
        rep = evaluate_codec(codec, files, prepare_raw=prepare, baselines=True,
                             verbose="WARNING")
        reports[name] = rep
        print(format_report(rep, title=name))
        print()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(reports, f, indent=1)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        plot_rate_distortion(reports, args.plot, ylabel="NMSE (validation)")


if __name__ == "__main__":
    main()
