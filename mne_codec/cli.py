"""Command-line interface: ``mne-codec <command>``."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _demo(args):
    """Tokenize and reconstruct the shipped sample recording; print figures, save a plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from . import CodecTokenizer, metrics
    from .datasets import sample_raw
    from .preprocessing import band_limit

    raw = sample_raw(verbose=False)
    tok = CodecTokenizer(args.codec, n_codebooks=args.n_codebooks, output="tokens",
                         window_s=5.0, device=args.device, verbose="WARNING").fit(raw)
    codec = tok.codec_
    tokens = tok.tokenize(raw)
    rec = tok.inverse_transform(tokens)  # (n_windows, n_channels, n_times), volts
    n_win, n_ch, n_times = rec.shape
    rec = rec.transpose(1, 0, 2).reshape(n_ch, -1)
    sfreq = raw.info["sfreq"]
    ref = band_limit(raw.get_data(picks=tok.ch_names_)[:, : rec.shape[1]], sfreq,
                     codec.preprocessing)
    bands = metrics.band_errors(ref, rec, sfreq)
    bps = codec.bits_per_second
    print(f"Codec            {codec.name} ({codec.family}, {codec.sfreq:g} Hz, "
          f"hop {codec.hop_length}, {tok.n_codebooks_} x {codec.codebook_size} codes)")
    print(f"Recording        {raw.filenames[0].name}: {n_ch} channels x "
          f"{raw.times[-1] + 1 / sfreq:g} s at {sfreq:g} Hz")
    print(f"Tokens           shape {tokens.codes.shape} (windows, channels, codebooks, frames)")
    print(f"Rate             {codec.frame_rate:.2f} frames/s, {bps:g} bit/s per channel, "
          f"{bps * n_ch / 1000:.1f} kbit/s for {n_ch} channels; "
          f"{metrics.compression_ratio(sfreq, codec.frame_rate, tok.n_codebooks_, codec.codebook_size):.0f}x "
          f"smaller than float32 at {sfreq:g} Hz")
    print(f"Reconstruction   NMSE {np.mean(metrics.nmse(ref, rec)):.3f}, "
          f"SNR {np.mean(metrics.snr_db(ref, rec)):.1f} dB, "
          f"Pearson r {np.mean(metrics.pearson_r(ref, rec)):.3f} "
          f"(mean over channels; reference band-passed "
          f"{codec.preprocessing.l_freq}-{codec.preprocessing.h_freq} Hz)")
    print("Per-band NMSE    " + ", ".join(f"{b} {np.nanmean(v):.3f}" for b, v in bands.items()))

    times = np.arange(rec.shape[1]) / sfreq
    sel = times < 5.0
    show = [tok.ch_names_.index(c) for c in ("Fp1", "C3", "O1") if c in tok.ch_names_][:3] or [0]
    fig, axes = plt.subplots(len(show) + 1, 1, figsize=(10, 2.2 * (len(show) + 1)),
                             layout="constrained")
    for ax, idx in zip(axes, show):
        ax.plot(times[sel], 1e6 * ref[idx, sel], color="k", lw=1, label="original (band-passed)")
        ax.plot(times[sel], 1e6 * rec[idx, sel], color="C1", lw=1, label="reconstruction")
        ax.set(ylabel=f"{tok.ch_names_[idx]} (µV)")
    axes[0].legend(loc="upper right", fontsize=8)
    axes[len(show) - 1].set(xlabel="Time (s)")
    from scipy.signal import welch

    f, p_ref = welch(ref, sfreq, nperseg=int(2 * sfreq))
    _, p_rec = welch(rec, sfreq, nperseg=int(2 * sfreq))
    _, p_err = welch(rec - ref, sfreq, nperseg=int(2 * sfreq))
    keep = f <= 60
    ax = axes[-1]
    for p, label, color in ((p_ref, "original", "k"), (p_rec, "reconstruction", "C1"),
                            (p_err, "error", "C3")):
        ax.semilogy(f[keep], 1e12 * p[:, keep].mean(0), color=color, label=label)
    ax.set(xlabel="Frequency (Hz)", ylabel="PSD (µV²/Hz)")
    ax.legend(fontsize=8)
    fig.suptitle(f"{codec.name}: {bps:g} bit/s per channel, mean NMSE "
                 f"{np.mean(metrics.nmse(ref, rec)):.3f}")
    fig.savefig(args.plot, dpi=100)
    print(f"Plot             {args.plot}")
    return 0


def _list(args):
    """List the registered codecs."""
    from .checkpoints import REGISTRY

    for name, info in sorted(REGISTRY.items()):
        print(f"{name:20s} {info.family:10s} {info.license}\n    {info.description}")
    return 0


def _sys_info(args):
    """Print versions of the platform and dependencies."""
    from . import sys_info

    sys_info()
    return 0


def _build_parser():
    parser = argparse.ArgumentParser(prog="mne-codec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help=_demo.__doc__)
    p.add_argument("--codec", default="default", help="registered name or checkpoint path")
    p.add_argument("--n-codebooks", type=int, default=None, help="RVQ levels to use")
    p.add_argument("--device", default="auto")
    p.add_argument("--plot", default="mne-codec-demo.png", help="where to save the figure")
    p.set_defaults(func=_demo)
    sub.add_parser("list", help=_list.__doc__).set_defaults(func=_list)
    sub.add_parser("sys_info", help=_sys_info.__doc__).set_defaults(func=_sys_info)
    return parser


def main(argv=None):
    """Entry point of ``mne-codec``."""
    args = _build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
