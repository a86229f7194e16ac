"""Fidelity report of a codec on recordings: the figures of model cards and the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import mne
import numpy as np
from mne.utils import logger, verbose

from . import metrics
from ._validation import check_input
from .baselines import dct_code, gaussian_rd_nmse
from .checkpoints import load_codec
from .pipeline import codec_info, decode_windows, encode, progress_bar, show_progress
from .preprocessing import band_limit, preprocess

__all__ = ["evaluate_codec", "format_report", "plot_rate_distortion"]


def _read(source, prepare_raw):
    if isinstance(source, (str, Path)):
        raw = mne.io.read_raw(source, preload=True, verbose=False)
    else:
        raw = source.copy().load_data()
    if prepare_raw is not None:
        raw = prepare_raw(raw)
    return raw


@verbose
def evaluate_codec(codec, sources, *, prepare_raw=None, window_s=5.0, n_codebooks=None,
                   baselines=False, batch_size=256, device="auto", picks=None, progress=None,
                   verbose=None):
    """Measure how well a codec reconstructs recordings, level by level.

    Every recording is cut into windows of ``window_s``; each window and channel
    goes through the codec's preprocessing exactly as in
    :class:`~mne_codec.CodecTokenizer`, is encoded once with all levels, and
    decoded with the first ``k`` levels for each ``k``. Errors are measured at
    the codec's rate in its scaled units, where NMSE, PRD, SNR and Pearson r
    are the same as in volts (they are invariant to the per-window scaling).

    Parameters
    ----------
    codec : str | path-like | Codec
        The codec (see :func:`~mne_codec.load_codec`).
    sources : list of path-like | mne.io.Raw
        Recordings (any format :func:`mne.io.read_raw` reads).
    prepare_raw : callable | None
        Applied to each Raw after reading (e.g. to fix channel types).
    window_s : float
        Window length in seconds.
    n_codebooks : list of int | None
        Levels to evaluate; ``1 ... max`` if None.
    baselines : bool
        Also measure, on the same windows and at each level's bit rate, the
        classical DCT code (:func:`~mne_codec.baselines.dct_code`) and the
        Gaussian rate-distortion bound
        (:func:`~mne_codec.baselines.gaussian_rd_nmse`), as ``dct_nmse`` and
        ``bound_nmse`` of each level (means over channel-windows, like ``nmse``).
    batch_size : int
        Channel-windows per forward pass.
    device : str
        Device.
    picks : str | list | None
        Channels to evaluate, as in :class:`~mne_codec.CodecTokenizer`
        (None: the EEG channels, less those whose names say they are not EEG).
    progress : bool | None
        Show progress bars (recordings encoded, levels decoded). None: as
        MNE's ``verbose`` says (shown at ``"INFO"`` and below), so that
        ``progress=True, verbose="WARNING"`` shows the bars without the
        messages.
    %(verbose)s

    Returns
    -------
    report : dict
        ``codec`` (name, fingerprint, rates), ``n_signals`` (channel-windows),
        ``duration_s`` (channel-seconds), and ``levels``: one dict per number of
        levels with ``bits_per_second`` (tokens, per channel; for NeuroRVQ
        ``k`` levels of every branch), ``side_bits_per_second`` (side
        information per channel), ``nmse``, ``snr_db`` (of the mean NMSE),
        ``prd``, ``pearson_r``, ``spectral_error``, ``band_nmse`` (per band) and
        ``usage``/``perplexity`` of each level's codes, ``entropy_bits`` (the
        empirical entropy of each level's codes, ``log2(perplexity)``, in bits
        per token) and ``entropy_bits_per_second`` (the rate an ideal entropy
        coder of those histograms would spend, per channel; it ignores
        dependencies between tokens, which a context model could also use).
    """
    with show_progress(progress):
        return _evaluate(codec, sources, prepare_raw, window_s, n_codebooks, baselines,
                         batch_size, device, picks)


def _evaluate(codec, sources, prepare_raw, window_s, n_codebooks, baselines, batch_size, device,
              picks):
    codec = load_codec(codec)
    levels = list(range(1, codec.max_codebooks + 1)) if n_codebooks is None else list(n_codebooks)
    # a codec may code a window's channels jointly: keep each recording's windows whole
    xs, codes, sides, names, side_bits = [], [], [], [], 0.0
    sources = list(sources)
    bar = progress_bar(len(sources), "Encoding recordings", unit="rec", leave=True, min_total=1)
    for source in sources:
        raw = _read(source, prepare_raw)
        prep = codec.preprocessing
        w = check_input(raw, window_s=window_s, ch_types=prep.ch_types, picks=picks,
                        continuous_filter=lambda d, sf: band_limit(d, sf, prep))
        x, _, _ = preprocess(w.data, w.sfreq, prep, band_limited=True, verbose=False)
        codec.set_num_codebooks(None)
        keep = codec.pick_channels(w.ch_names, "drop")
        x = x[:, keep]
        names.append([w.ch_names[p] for p in keep])
        c, side = encode(codec, x, names[-1], batch_size=batch_size, device=device)
        codes.append(c)
        sides.append(side)
        n_blocks = len(codec.coding_blocks(x.shape[1], x.shape[2])) * x.shape[0]
        side_bits += n_blocks * codec.n_side * 32  # float32 side values per coded block
        xs.append(x)
        logger.info(f"{getattr(source, 'filenames', [source])[0]}: {w.data.shape[0]} windows "
                    f"x {w.data.shape[1]} channels"
                    + (f"; left out as not EEG: {list(w.left_out)}" if w.left_out else ""))
        bar.update()
    bar.close()

    def decode(k):
        rows = codec.code_rows(k)
        return np.concatenate([
            decode_windows(codec, c[:, :, rows], x.shape[-1], n, side, batch_size=batch_size,
                           device=device).reshape(-1, x.shape[-1])
            for c, side, n, x in zip(codes, sides, names, xs)])[:, None]

    x = np.concatenate([v.reshape(-1, 1, v.shape[-1]) for v in xs])
    duration_s = float(x.shape[0] * x.shape[-1] / codec.sfreq)
    rows = []
    bar = progress_bar(len(levels), "Decoding levels", unit="level", leave=True, min_total=1)
    for k in levels:
        y = decode(k)
        nmse = metrics.nmse(x, y)
        bands = metrics.band_errors(x, y, codec.sfreq)
        sel = codec.code_rows(k)
        level_codes = np.concatenate([c[:, :, sel].reshape(-1, 1, len(sel), c.shape[-1])
                                      for c in codes])
        usage, perplexity = metrics.codebook_usage(level_codes, codec.codebook_size)
        mean_nmse = float(np.nanmean(nmse))
        bits_per_second = metrics.bits_per_second(codec.frame_rate, len(codec.code_rows(k)),
                                                  codec.codebook_size)
        # what an ideal entropy coder of each level's code histogram would spend
        entropy = np.log2(perplexity)
        rows.append(dict(
            n_codebooks=k,
            bits_per_second=bits_per_second,
            entropy_bits=entropy.tolist(),
            entropy_bits_per_second=float(bits_per_second * entropy.mean()
                                          / math.log2(codec.codebook_size)),
            side_bits_per_second=side_bits / duration_s,
            nmse=mean_nmse,
            snr_db=-10 * math.log10(mean_nmse),
            prd=float(np.nanmean(metrics.prd(x, y))),
            pearson_r=float(np.nanmean(metrics.pearson_r(x, y))),
            spectral_error=float(np.mean(metrics.spectral_error(x[:, 0], y[:, 0]))),
            band_nmse={b: float(np.nanmean(v)) for b, v in bands.items()},
            usage=usage.tolist(),
            perplexity=perplexity.tolist(),
        ))
        if baselines:
            bps = rows[-1]["bits_per_second"] + rows[-1]["side_bits_per_second"]
            signals = x[:, 0].astype(np.float64)
            rows[-1]["dct_nmse"] = float(np.nanmean(
                metrics.nmse(signals, dct_code(signals, codec.sfreq, bps))))
            rows[-1]["bound_nmse"] = float(np.nanmean(gaussian_rd_nmse(signals, codec.sfreq,
                                                                       bps)))
        bar.update()
    bar.close()
    codec.set_num_codebooks(None)
    return dict(
        codec=codec_info(codec),
        window_s=window_s,
        n_signals=int(x.shape[0]),
        duration_s=duration_s,
        levels=rows,
    )


def format_report(report, title=None):
    """Markdown tables of :func:`evaluate_codec`'s report."""
    lines = []
    if title:
        lines += [f"**{title}** ({report['n_signals']} channel-windows of "
                  f"{report['window_s']:g} s, {report['duration_s'] / 3600:.2f} channel-hours)", ""]
    bands = list(report["levels"][0]["band_nmse"])
    anchors = [k for k in ("dct_nmse", "bound_nmse") if k in report["levels"][0]]
    names = {"dct_nmse": "DCT NMSE", "bound_nmse": "Gaussian bound"}
    lines.append("| levels | bit/s | NMSE | "
                 + "".join(f"{names[k]} | " for k in anchors)
                 + "entropy bit/s | SNR (dB) | PRD (%) | r | spectral err | "
                 + " | ".join(f"{b} NMSE" for b in bands) + " |")
    lines.append("|" + "---|" * (8 + len(anchors) + len(bands)))
    for row in report["levels"]:
        lines.append(
            f"| {row['n_codebooks']} | {row['bits_per_second']:.0f} | {row['nmse']:.3f} | "
            + "".join(f"{row[k]:.4f} | " for k in anchors)
            + f"{row.get('entropy_bits_per_second', float('nan')):.0f} | "
            + f"{row['snr_db']:.1f} | {row['prd']:.1f} | {row['pearson_r']:.3f} | "
            f"{row['spectral_error']:.3f} | "
            + " | ".join(f"{row['band_nmse'][b]:.3f}" for b in bands) + " |"
        )
    last = report["levels"][-1]
    lines += ["", f"| level | codes used (of {report['codec']['codebook_size']}) | perplexity "
              "| entropy (bit/token) |", "|---|---|---|---|"]
    for k, (u, p) in enumerate(zip(last["usage"], last["perplexity"]), 1):
        lines.append(f"| {k} | {u * report['codec']['codebook_size']:.0f} ({100 * u:.0f} %) | "
                     f"{p:.1f} | {math.log2(p):.2f} |")
    return "\n".join(lines)


def plot_rate_distortion(reports, fname=None, *, ylabel="NMSE"):
    """Plot NMSE against bit rate for one or more reports.

    Parameters
    ----------
    reports : dict
        Label -> report of :func:`evaluate_codec`.
    fname : path-like | None
        Save the figure there if given.
    ylabel : str
        Label of the y-axis: say what was measured (e.g. ``"NMSE on the
        validation recordings"``).

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt  # lazy: pyplot is slow to import and only plots need it

    fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    for i, (label, report) in enumerate(reports.items()):
        bps = [r["bits_per_second"] for r in report["levels"]]
        ax.plot(bps, [r["nmse"] for r in report["levels"]], "o-", color=f"C{i}", label=label)
        # the classical anchors of evaluate_codec(baselines=True), same colour, dashed
        for key, style, name in (("dct_nmse", "s--", "DCT code"),
                                 ("bound_nmse", ":", "Gaussian bound")):
            if key in report["levels"][0]:
                suffix = f", {label}" if len(reports) > 1 else " (same bit rate)"
                ax.plot(bps, [r[key] for r in report["levels"]], style, color=f"C{i}",
                        alpha=0.6, label=name + suffix)
    ax.set(xlabel="bit/s per channel", ylabel=ylabel, yscale="log",
           title=f"Rate-distortion, 1 to {len(report['levels'])} RVQ levels")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    if fname is not None:
        fig.savefig(fname, dpi=100)
    return fig
