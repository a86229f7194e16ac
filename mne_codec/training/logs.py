"""Read the trainer's CSV logs and turn them into figures."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

__all__ = ["read_log", "plot_log"]


def read_log(out_dir):
    """Read ``log_train.csv`` and ``log_val.csv`` of a training run.

    Parameters
    ----------
    out_dir : path-like
        The trainer's output folder.

    Returns
    -------
    train, val : dict of str to ndarray
        One array per column (``step``, ``loss``, ``eegmat/nmse_6``...).
    """
    out = []
    for name in ("log_train.csv", "log_val.csv"):
        path = Path(out_dir) / name
        if not path.exists():
            raise FileNotFoundError(f"No training log at {path}")
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        cols = {}
        for key in rows[0] if rows else []:
            if key == "kind":
                continue
            cols[key] = np.array([float(r[key]) if r[key] not in ("", None) else np.nan
                                  for r in rows])
        out.append(cols)
    return tuple(out)


def plot_log(out_dir, fname=None):
    """Plot training loss, validation NMSE per level and codebook usage.

    Parameters
    ----------
    out_dir : path-like
        The trainer's output folder.
    fname : path-like | None
        Save the figure there if given.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt  # lazy: pyplot is slow to import and only plots need it

    train, val = read_log(out_dir)
    sets = sorted({k.split("/")[0] for k in val if "/" in k})
    n_levels = max(int(k.rsplit("_", 1)[1]) for k in val if "/nmse_" in k)
    fig, axes = plt.subplots(1, 2 + len(sets), figsize=(4 * (2 + len(sets)), 3.2),
                             layout="constrained")
    ax = axes[0]
    for comp in ("loss", "time", "freq", "commit"):
        if comp in train:
            ax.plot(train["step"], train[comp], label=comp, lw=1)
    ax.set(xlabel="step", ylabel="training loss", yscale="log", title="Objective")
    ax.legend(fontsize=8)
    colors = plt.cm.viridis(np.linspace(0, 0.9, n_levels))
    for ax, name in zip(axes[1:], sets):
        for k in range(1, n_levels + 1):
            ax.plot(val["step"], val[f"{name}/nmse_{k}"], color=colors[k - 1], label=f"{k}")
        ax.set(xlabel="step", ylabel="validation NMSE", yscale="log", title=name)
        ax.legend(title="levels", fontsize=7, ncol=2)
        ax.grid(True, which="both", alpha=0.3)
    ax = axes[-1]
    for k in range(1, n_levels + 1):
        ax.plot(val["step"], val[f"{sets[0]}/usage_{k}"], color=colors[k - 1], label=f"{k}")
    ax.set(xlabel="step", ylabel=f"fraction of codes used ({sets[0]})", ylim=(0, 1.05),
           title="Codebook usage")
    ax.legend(title="level", fontsize=7, ncol=2)
    if fname is not None:
        fig.savefig(fname, dpi=100)
    return fig
