"""Fidelity of the default codecs on their validation subjects, beside the classical anchors.

Evaluates each codec (default: the shipped default and the former default,
``biocodec-eeg-mne``) on EEGMMIDB S009-S010 (runs 4/8/12) and eegmat
Subject03, separately, at 1..K RVQ levels, through the same preprocessing as
inference (5 s windows, 0.5-40 Hz, 250 Hz, median/IQR scaling). Beside them,
on the same windows and at the same bit rates: a plain DCT low-pass code
(lowest-frequency DCT coefficients, 8 bits each, uniform quantisation per
window; side information not counted), the curve a neural codec should be
judged against on band-limited EEG, and the Gaussian rate-distortion bound of
each window's spectrum (reverse water-filling per channel), the limit of an
ideal transform coder of each channel on its own (see
:mod:`mne_codec.baselines`). Prints, per data set, one table with every codec
side by side, then each codec's full report (per band, entropy of the codes,
codebook use)::

    python benchmarks/default_codec.py [--codecs default biocodec-eeg-mne]
        [--json out.json] [--plot rd.png]
"""

import argparse
import json

from mne_codec import load_codec
from mne_codec.evaluation import evaluate_codec, format_report
from mne_codec.training.splits import (
    default_data_dir,
    eegmat_files,
    eegmmidb_files,
    prepare_eegbci,
    prepare_eegmat,
)


def side_by_side(reports):
    """Markdown table: NMSE of every codec and of the anchors at each bit rate."""
    rates = sorted({round(r["bits_per_second"]) for rep in reports.values()
                    for r in rep["levels"]})
    anchors = {}
    for rep in reports.values():
        for r in rep["levels"]:
            anchors.setdefault(round(r["bits_per_second"]), (r["dct_nmse"], r["bound_nmse"]))
    names = list(reports)
    lines = ["| bit/s per channel | " + " | ".join(names) + " | DCT code | Gaussian bound |",
             "|---|" + "---|" * (len(names) + 2)]
    for rate in rates:
        cells = []
        for name in names:
            row = [r for r in reports[name]["levels"] if round(r["bits_per_second"]) == rate]
            cells.append(f"{row[0]['nmse']:.4f}" if row else "")
        dct, bound = anchors[rate]
        lines.append(f"| {rate} | " + " | ".join(cells) + f" | {dct:.4f} | {bound:.4f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codecs", nargs="+", default=["default", "biocodec-eeg-mne"],
                        help="registered names or folders")
    parser.add_argument("--json", default=None)
    parser.add_argument("--plot", default=None)
    args = parser.parse_args()
    data = default_data_dir()
    codecs = {}
    for spec in dict.fromkeys(args.codecs):
        codec = load_codec(spec)
        codecs.setdefault(codec.name or spec, codec)  # "default" is a registered codec too
    sets = {
        "EEGMMIDB S009-S010": (eegmmidb_files(data, (9, 10)), prepare_eegbci),
        "eegmat Subject03": (eegmat_files(data, (3,)), prepare_eegmat),
    }
    reports = {}
    for set_name, (files, prepare) in sets.items():
        reports[set_name] = {
            name: evaluate_codec(codec, files, prepare_raw=prepare, baselines=True,
                                 verbose="WARNING")
            for name, codec in codecs.items()}
        print(f"## {set_name}: NMSE at each bit rate\n")
        print(side_by_side(reports[set_name]))
        print()
        for name, rep in reports[set_name].items():
            print(format_report(rep, title=f"{name}, {set_name}"))
            print()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(reports, f, indent=1)
    if args.plot:
        plot(reports, args.plot)


def plot(reports, fname):
    """One panel per data set: each codec's NMSE against bit rate, with the anchors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(reports), figsize=(5 * len(reports), 3.8), sharey=True,
                             layout="constrained")
    for ax, (set_name, per) in zip(axes, reports.items()):
        longest = max(per.values(), key=lambda rep: len(rep["levels"]))["levels"]
        bps = [r["bits_per_second"] for r in longest]
        for i, (name, rep) in enumerate(per.items()):
            ax.plot([r["bits_per_second"] for r in rep["levels"]],
                    [r["nmse"] for r in rep["levels"]], "o-", color=f"C{i}", label=name)
        ax.plot(bps, [r["dct_nmse"] for r in longest], "s--", color="0.4", label="DCT code")
        ax.plot(bps, [r["bound_nmse"] for r in longest], ":", color="0.2",
                label="Gaussian bound (per channel)")
        ax.set(title=set_name, xlabel="bit/s per channel", yscale="log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("NMSE (validation subjects)")
    axes[0].legend(fontsize=8)
    fig.savefig(fname, dpi=100)


if __name__ == "__main__":
    main()
