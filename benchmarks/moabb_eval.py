"""MOABB: codec-token pipelines against CSP+LDA and TS+LR on PhysionetMI, offline.

MOABB's ``PhysionetMI`` (EEGMMIDB imagined left vs right fist, runs 4/8/12,
64 channels at 160 Hz) is read from ``../shared/data`` by
:func:`mne_codec.datasets.moabb_physionet_mi`, which downloads nothing.
MOABB's ``LeftRightImagery`` paradigm cuts its trials (0-3 s after the cue,
band-passed 8-32 Hz as MOABB does for every pipeline) and two evaluations
score the pipelines on them with ROC AUC, MOABB's score for two classes:

- ``WithinSessionEvaluation``: 5-fold cross-validation within each subject;
- ``CrossSubjectEvaluation``: leave one subject out.

Pipelines (MOABB hands them arrays; the channel names go to the tokenizer
with ``ch_names=``, for codecs that code channels by name):

- ``tokens+LR (<codec>)``: MOABB's microvolts to volts, ``CodecTokenizer(codec)`` (default output,
  ``"tangent"``) and ``LogisticRegression()``, for each ``--codecs`` entry;
- ``CSP+LDA``: pyRiemann OAS covariances, CSP (6 filters), LDA (MOABB's
  standard CSP pipeline);
- ``TS+LR``: pyRiemann OAS covariances, tangent space, logistic regression
  (MOABB's standard tangent-space pipeline).

It writes MOABB's results (``moabb_results.csv``, every subject, fold
average, pipeline and evaluation), a summary table (``moabb_summary.csv``,
printed) and MOABB's score plot (``moabb_scores.png``) to ``--out``.

    python benchmarks/moabb_eval.py [--subjects 1 ... 10] [--codecs default ...]
        [--evaluations within cross] [--channels C3 Cz C4 ...] [--out moabb_results]

Needs ``pip install "mne-codec[moabb]"`` (moabb) and pyriemann.
"""

import argparse
import time
import warnings
from functools import partial
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import mne
import numpy as np
import pandas as pd
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from mne_codec import CodecTokenizer
from mne_codec.datasets import moabb_physionet_mi


def pipelines(codecs, ch_names, sfreq, unit_factor):
    """MOABB pipelines: one token pipeline per codec, and the two classical ones.

    MOABB hands arrays multiplied by ``unit_factor`` (1e6: microvolts); the
    token pipelines divide it out (volts, as the tokenizer expects).
    """
    from pyriemann.estimation import Covariances
    from pyriemann.spatialfilters import CSP
    from pyriemann.tangentspace import TangentSpace

    out = {}
    for codec in codecs:
        out[f"tokens+LR ({codec})"] = make_pipeline(
            FunctionTransformer(partial(np.multiply, 1.0 / unit_factor)),
            CodecTokenizer(codec, sfreq=sfreq, ch_names=list(ch_names), verbose="WARNING"),
            LogisticRegression(max_iter=1000))
    out["CSP+LDA"] = make_pipeline(Covariances("oas"), CSP(nfilter=6),
                                   LinearDiscriminantAnalysis(solver="svd"))
    out["TS+LR"] = make_pipeline(Covariances("oas"), TangentSpace(metric="riemann"),
                                 LogisticRegression(max_iter=1000))
    return out


def evaluate(subjects, codecs, evaluations, out_dir, n_splits=5, channels=None):
    """Run MOABB's evaluations (on ``channels``, default all); return its results."""
    from moabb.evaluations import CrossSubjectEvaluation, WithinSessionEvaluation
    from moabb.paradigms import LeftRightImagery

    dataset = moabb_physionet_mi(subjects)
    paradigm = LeftRightImagery(channels=channels)
    # the paradigm's channels and rate, for the tokenizers
    epochs, _, _ = paradigm.get_data(dataset, subjects[:1], return_epochs=True)
    pipes = pipelines(codecs, epochs.ch_names, epochs.info["sfreq"], dataset.unit_factor)
    kinds = {"within": WithinSessionEvaluation, "cross": CrossSubjectEvaluation}
    results = []
    for name in evaluations:
        kwargs = dict(n_splits=n_splits) if name == "within" else {}
        evaluation = kinds[name](paradigm=paradigm, datasets=[dataset], overwrite=True,
                                 hdf5_path=str(out_dir), random_state=42, **kwargs)
        t0 = time.perf_counter()
        res = evaluation.process(pipes)
        res["evaluation"] = type(evaluation).__name__
        results.append(res)
        print(f"{type(evaluation).__name__}: {time.perf_counter() - t0:.0f} s", flush=True)
    return pd.concat(results, ignore_index=True)


def summary(results):
    """Mean and sd over subjects of each pipeline and evaluation."""
    table = (results.groupby(["evaluation", "pipeline"])["score"]
             .agg(["mean", "std", "count"]).reset_index())
    return table.rename(columns={"count": "n_subjects"})


def score_figure(results):
    """MOABB's score plot, one panel per evaluation."""
    import matplotlib.pyplot as plt
    from moabb.analysis.plotting import score_plot

    figs = []
    for name, res in results.groupby("evaluation"):
        fig, _ = score_plot(res)
        fig.suptitle(name)
        figs.append(fig)
    if len(figs) == 1:
        return figs[0]
    # side by side in one file: the panels as images
    out, axes = plt.subplots(1, len(figs), figsize=(6 * len(figs), 5), layout="constrained")
    for ax, fig in zip(axes, figs):
        fig.canvas.draw()
        ax.imshow(np.asarray(fig.canvas.buffer_rgba()))
        ax.set_axis_off()
        plt.close(fig)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, nargs="+", default=list(range(1, 11)))
    parser.add_argument("--codecs", nargs="+", default=["default"],
                        help="codec names or paths (e.g. the old and the new default)")
    parser.add_argument("--evaluations", nargs="+", default=["within", "cross"],
                        choices=["within", "cross"])
    parser.add_argument("--channels", nargs="+", default=None,
                        help="a subset of channels (default: all 64)")
    parser.add_argument("--out", type=Path, default=Path("moabb_results"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    mne.set_log_level("ERROR")
    args.out.mkdir(parents=True, exist_ok=True)
    results = evaluate(args.subjects, args.codecs, args.evaluations, args.out,
                       channels=args.channels)
    results.to_csv(args.out / "moabb_results.csv", index=False)
    table = summary(results)
    table.to_csv(args.out / "moabb_summary.csv", index=False)
    print(f"\nROC AUC, PhysionetMI S{min(args.subjects):03d}-S{max(args.subjects):03d}, "
          "LeftRightImagery (8-32 Hz, 0-3 s); mean and sd over subjects")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    score_figure(results).savefig(args.out / "moabb_scores.png", dpi=100)
    print(f"\nwritten: {args.out / 'moabb_results.csv'}, {args.out / 'moabb_summary.csv'}, "
          f"{args.out / 'moabb_scores.png'}")


if __name__ == "__main__":
    main()
