"""Figures people would rather look at than read."""

from __future__ import annotations

import numpy as np
from scipy.signal import welch

__all__ = ["plot_reconstruction"]


def plot_reconstruction(original, reconstruction, sfreq, ch_names, *,
                        picks=("Fp1", "C3", "O1"), tmin=None, duration_s=5.0,
                        original_label="original", title=None):
    """Plot signals next to their reconstruction from tokens, and the spectra.

    One panel per picked channel with both traces over ``duration_s``, and a
    last panel with the power spectra of the original, the reconstruction and
    their difference (means over all channels). Every panel names and colours
    the signals alike, with one legend for the figure.

    Parameters
    ----------
    original, reconstruction : array, shape (n_channels, n_times)
        Signals in volts at ``sfreq`` (compare a reconstruction with the
        original band-limited as the codec sees it:
        :func:`mne_codec.preprocessing.band_limit`).
    sfreq : float
        Sampling frequency in Hz.
    ch_names : list of str
        Channel names.
    picks : list of str
        Channels to show as traces (those present; the first channel if none).
    tmin : float | None
        Start of the traces in seconds; None: the middle of the recording. Its
        very first samples are a poor choice: a zero-phase band-pass (odd
        extension) pins them to 0 µV.
    duration_s : float
        Length of the traces.
    original_label : str
        Legend name of the original (e.g. with its band).
    title : str | None
        Title of the figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt  # lazy: pyplot is slow to import and only plots need it

    original = np.asarray(original, dtype=np.float64)
    reconstruction = np.asarray(reconstruction, dtype=np.float64)
    if original.ndim != 2 or original.shape != reconstruction.shape:
        raise ValueError("original and reconstruction must have one shape (n_channels, "
                         f"n_times), got {original.shape} and {reconstruction.shape}")
    if len(ch_names) != original.shape[0]:
        raise ValueError(f"{len(ch_names)} channel names for {original.shape[0]} channels")
    n_ch, n_times = original.shape
    times = np.arange(n_times) / sfreq
    duration_s = min(duration_s, times[-1])
    if tmin is None:
        tmin = max(0.0, min(times[-1] / 2 - duration_s / 2, times[-1] - duration_s))
    sel = (times >= tmin) & (times < tmin + duration_s)
    show = [list(ch_names).index(c) for c in picks if c in ch_names] or [0]
    fig, axes = plt.subplots(len(show) + 1, 1, figsize=(10, 2.2 * (len(show) + 1)),
                             layout="constrained")
    signals = {"ref": (original, original_label, "k"),
               "rec": (reconstruction, "reconstruction from tokens", "C1"),
               "err": (reconstruction - original, "error (reconstruction - original)", "C3")}
    for ax, idx in zip(axes, show):
        for key in ("ref", "rec"):
            data, _, color = signals[key]
            ax.plot(times[sel], 1e6 * data[idx, sel], color=color, lw=1)
        ax.set(ylabel=f"{ch_names[idx]} (µV)", xlim=(tmin, tmin + duration_s))
    axes[len(show) - 1].set(xlabel="Time (s)")
    nperseg = min(n_times, int(2 * sfreq))
    ax = axes[-1]
    for data, label, color in signals.values():
        f, psd = welch(data, sfreq, nperseg=nperseg)
        keep = f <= min(60.0, sfreq / 2)
        ax.semilogy(f[keep], 1e12 * psd[:, keep].mean(0), color=color, label=label)
    ax.set(xlabel="Frequency (Hz)", ylabel="PSD (µV²/Hz)",
           title=f"Spectra, mean over the {n_ch} channels")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=3,
               fontsize=9)
    if title:
        fig.suptitle(title)
    return fig
