"""Command-line interface: ``mne-codec <command>``."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

__all__ = ["main"]


def _demo(args):
    """Tokenize and reconstruct the shipped sample recording; print figures, save a plot."""
    import matplotlib  # lazy: matplotlib only for the plot

    matplotlib.use("Agg")

    from . import CodecTokenizer, metrics  # lazy: CLI starts without torch
    from .datasets import sample_raw  # lazy: CLI starts without torch
    from .preprocessing import band_limit  # lazy: CLI starts without torch
    from .viz import plot_reconstruction  # lazy: CLI starts without torch

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
    ratio = metrics.compression_ratio(sfreq, codec.frame_rate, tok.n_codebooks_,
                                      codec.codebook_size)
    print(f"Tokens           shape {tokens.codes.shape} (windows, channels, codebooks, frames)")
    print(f"Rate             {codec.frame_rate:.2f} frames/s, {bps:g} bit/s per channel, "
          f"{bps * n_ch / 1000:.1f} kbit/s for {n_ch} channels; "
          f"{ratio:.0f}x "
          f"smaller than float32 at {sfreq:g} Hz")
    print(f"Reconstruction   NMSE {np.mean(metrics.nmse(ref, rec)):.3f}, "
          f"SNR {np.mean(metrics.snr_db(ref, rec)):.1f} dB, "
          f"Pearson r {np.mean(metrics.pearson_r(ref, rec)):.3f} "
          f"(mean over channels; reference band-passed "
          f"{codec.preprocessing.l_freq}-{codec.preprocessing.h_freq} Hz)")
    print("Per-band NMSE    " + ", ".join(f"{b} {np.nanmean(v):.3f}" for b, v in bands.items()))

    prep = codec.preprocessing
    fig = plot_reconstruction(
        ref, rec, sfreq, tok.ch_names_,
        original_label=f"original, band-passed {prep.l_freq:g}-{prep.h_freq:g} Hz",
        title=f"{codec.name} on {raw.filenames[0].name}: {bps:g} bit/s per channel, "
              f"mean NMSE {np.mean(metrics.nmse(ref, rec)):.3f}")
    fig.savefig(args.plot, dpi=100)
    print(f"Plot             {args.plot}")
    return 0


class _PrepareRaw:
    """Channel fixes from a config/CLI: retype, then drop channels (picklable)."""

    def __init__(self, channel_types=None, drop_channels=None, eegbci_names=False):
        self.channel_types = dict(channel_types or {})
        self.drop_channels = list(drop_channels or [])
        self.eegbci_names = eegbci_names

    def __call__(self, raw):
        if self.eegbci_names:
            from mne.datasets import eegbci  # lazy: CLI starts without MNE

            eegbci.standardize(raw)
        types = {k: v for k, v in self.channel_types.items() if k in raw.ch_names}
        if types:
            raw.set_channel_types(types, on_unit_change="ignore", verbose=False)
        drop = [c for c in self.drop_channels if c in raw.ch_names]
        if drop:
            raw.drop_channels(drop)
        return raw


def _data_options(p):
    p.add_argument("--channel-types", default=None,
                   help='JSON dict of channel types to set, e.g. \'{"ECG ECG": "ecg"}\'')
    p.add_argument("--drop-channels", nargs="*", default=None, help="channels to drop")
    p.add_argument("--eegbci-names", action="store_true",
                   help="standardise EEGMMIDB channel names ('Fc5.' -> 'FC5')")


def _channel_types(text):
    """``--channel-types``: a JSON object of channel names to types."""
    try:
        types = json.loads(text)
    except ValueError as err:
        raise SystemExit(f"mne-codec: --channel-types is not valid JSON ({err}): {text!r}; "
                         'give e.g. \'{"ECG ECG": "ecg"}\'') from None
    if not isinstance(types, dict):
        raise SystemExit(f"mne-codec: --channel-types must be a JSON object of channel names "
                         f"to types, got {text!r}")
    return types


def _prepare_from(args, config=None):
    data = dict((config or {}).get("data", {}))
    types = _channel_types(args.channel_types) if args.channel_types else \
        data.get("channel_types")
    drop = args.drop_channels if args.drop_channels is not None else data.get("drop_channels")
    return _PrepareRaw(types, drop, args.eegbci_names or data.get("eegbci_names", False))


def _train(args):
    """Train or fine-tune a codec of any family from a JSON config or --family, on recordings."""
    from .checkpoints import build_codec, load_codec  # lazy: CLI starts without torch
    from .training import Trainer  # lazy: CLI starts without torch
    from .training.recipes import RECIPES  # lazy: CLI starts without torch

    config = json.loads(Path(args.config).read_text()) if args.config else {}
    codec_spec = dict(config.get("codec", {}))
    if args.family is not None:
        if codec_spec.get("family", args.family) != args.family:
            raise SystemExit(f"mne-codec train: --family {args.family} but the config's codec "
                             f"is a {codec_spec['family']}")
        codec_spec["family"] = args.family
    if "init" in codec_spec:  # fine-tune: start from a registered or saved codec
        codec = load_codec(codec_spec["init"]).train()
    else:
        from .models import FAMILIES  # lazy: CLI starts without torch

        family = codec_spec.get("family", "biocodec")
        if family not in FAMILIES:
            raise SystemExit(f"mne-codec train: unknown family {family!r}; known: "
                             f"{', '.join(sorted(FAMILIES))}")
        if codec_spec.get("config") is None:
            codec = FAMILIES[family][0]()
        else:
            codec = build_codec(family, codec_spec["config"])
    recipe = RECIPES[codec.family]
    train_fields = {**config.get("train", {}), **_overrides(args)}
    train_cfg = recipe.train_config(**train_fields)
    loss = recipe.loss(codec, train_cfg, **config.get("loss", {}))
    if recipe.segment_s is not None and "segment_s" not in train_fields:
        train_cfg = replace(train_cfg, segment_s=recipe.segment_s(codec, loss))
    data = config.get("data", {})
    train_files = args.train or data.get("train")
    val_files = args.val or data.get("val")
    if not train_files:
        raise SystemExit("mne-codec train: no training recordings (--train or data.train)")
    train, val = recipe.datasets(
        codec, train_files, val_files, segment_s=train_cfg.segment_s,
        prepare_raw=_prepare_from(args, config), seed=train_cfg.seed,
        val_segments=args.val_segments, n_channels=data.get("n_channels"),
        channel_sampling=data.get("channel_sampling"),
        max_recordings_in_memory=data.get("max_recordings_in_memory", 8))
    meta = {"config": config, "family": codec.family,
            "train_files": [str(f) for f in train_files],
            "val_files": [str(f) for f in val_files or []]}
    trainer = Trainer(codec, train, val, train_cfg, args.out, loss=loss, meta=meta,
                      device=args.device)
    summary = trainer.fit(resume=args.resume, max_steps=args.max_steps)
    print(json.dumps(summary.get("validation", {}), indent=1))
    print(f"Model saved to {Path(args.out) / 'final'}")
    return 0


def _overrides(args):
    out = {}
    for key in ("total_steps", "max_minutes", "lr", "batch_size", "seed"):
        value = getattr(args, key, None)
        if value is not None:
            out[key] = value
    return out


def _evaluate(args):
    """Fidelity report of a codec on recordings (NMSE, SNR, per band, usage) per level."""
    # lazy: CLI starts without torch
    from .evaluation import evaluate_codec, format_report, plot_rate_distortion

    report = evaluate_codec(args.codec, args.files, prepare_raw=_prepare_from(args),
                            window_s=args.window_s, device=args.device, picks=args.picks,
                            progress=not args.no_progress, verbose="WARNING")
    on = (Path(args.files[0]).name if len(args.files) == 1
          else f"{len(args.files)} recordings")
    print(format_report(report, title=f"{report['codec']['name']} on {on}"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
        print(f"\nReport written to {Path(args.json).resolve()}")
    if args.plot:
        import matplotlib  # lazy: matplotlib only for the plot

        matplotlib.use("Agg")
        plot_rate_distortion({report["codec"]["name"]: report}, args.plot,
                             ylabel=f"NMSE on {on}")
        print(f"Plot written to {Path(args.plot).resolve()}")
    if not (args.json or args.plot):
        print("\n(--json FILE saves the report, --plot FILE a rate-distortion plot)")
    return 0


def _tokenize(args):
    """Tokenize recordings or folders (BIDS too) into token shards, resumably."""
    from .corpus import tokenize_corpus  # lazy: CLI starts without torch

    summary = tokenize_corpus(args.inputs, args.out, codec=args.codec, window_s=args.window_s,
                              n_codebooks=args.n_codebooks,
                              reject_by_annotation=not args.keep_bad, batch_size=args.batch_size,
                              device=args.device, unknown=args.unknown, picks=args.picks,
                              n_jobs=args.jobs, num_threads=args.threads,
                              prepare_raw=_prepare_from(args),
                              progress=not args.no_progress)
    print(f"{summary['n_recordings']} recordings: {summary['done']} tokenized, "
          f"{summary['skipped']} already done, {len(summary['failed'])} failed")
    for group in summary["channels"]:
        left_out = ", ".join(group["left_out"]) or "none"
        print(f"  {group['n_recordings']} recording(s): coded {len(group['ch_names'])} channels "
              f"({', '.join(group['ch_names'])}); left out as not EEG: {left_out}")
    if any(group["left_out"] for group in summary["channels"]):
        print("  (choose the channels with --picks; the manifest lists them per recording)")
    for record in summary["failed"]:
        print(f"  FAILED {record['source']}: {record['error']}")
    for record in summary["partial"]:
        print(f"  PARTIAL {record['source']}: {'; '.join(record['warnings'])}")
    return 1 if summary["failed"] else 0


def _list(args):
    """List the registered codecs: source, pinned revision, checksum, size, licence, status."""
    # lazy: only `list` reads the registry
    from ._registry import (
        DEFAULT_CODEC,
        REGISTRY,
        checksum_status,
        codec_status,
        get_cache_dir,
        recorded_checksums,
    )

    records = recorded_checksums()
    for name, info in sorted(REGISTRY.items()):
        status, path = codec_status(name)
        if status == "download":
            where = f"needs a download: mne_codec.fetch_codec({name!r})"
        else:
            where = f"{status}, usable now ({path})"
        if path is not None:
            files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
            size = f"{sum(f.stat().st_size for f in files) / 1e6:.1f} MB on disk"
        elif info.size is not None:
            size = f"{info.size_mb:.1f} MB (published)"
        elif isinstance(records.get(name), dict) and records[name].get("size"):
            size = f"{records[name]['size'] / 1e6:.1f} MB (recorded on first download)"
        else:
            size = "not known before the download"
        _, checksum = checksum_status(name)
        default = " (default)" if name == DEFAULT_CODEC else ""
        modality = "" if info.modality == "eeg" else f", {info.modality.upper()}"
        nc = " -- NON-COMMERCIAL" if info.noncommercial else ""
        print(f"{name}{default}\n    {info.family}{modality}; {where}"
              f"\n    source: {info.url or info.source}"
              f"\n    revision: {info.revision or 'the installed package'}"
              f"\n    checksum: {checksum}\n    size: {size}"
              f"\n    licence: {info.license}{nc}\n    {info.description}")
    print(f"\nCache folder: {get_cache_dir()} (MNE config key MNE_CODEC_DATA); codecs on the "
          "Hugging Face Hub load as codec='hf://owner/repo@revision' (pip install "
          "'mne-codec[hub]').")
    return 0


def _sys_info(args):
    """Print versions of the platform and dependencies."""
    from . import sys_info  # lazy: CLI starts without torch

    sys_info()
    return 0


_PICKS_HELP = ("channels to code (names, or types such as 'eeg'); default: the EEG channels, "
               "less those whose names say they are not EEG (ECG, EOG, EMG, A1/A2/M1/M2, "
               "bipolar labels such as A2-A1, status/trigger)")


def _build_parser():
    parser = argparse.ArgumentParser(prog="mne-codec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help=_demo.__doc__)
    p.add_argument("--codec", default="default", help="registered name or checkpoint path")
    p.add_argument("--n-codebooks", type=int, default=None, help="RVQ levels to use")
    p.add_argument("--device", default="auto")
    p.add_argument("--plot", default="mne-codec-demo.png", help="where to save the figure")
    p.set_defaults(func=_demo)
    p = sub.add_parser("train", help=_train.__doc__)
    p.add_argument("config", nargs="?", default=None,
                   help="JSON file: {codec: {family, config} | {init}, train: TrainConfig "
                        "fields, loss: keyword arguments of the family's loss, data: {train, "
                        "val, channel_types, drop_channels, n_channels, channel_sampling}}")
    p.add_argument("--family", choices=("biocodec", "dac", "dac_mc", "neurorvq"), default=None,
                   help="codec family to train from scratch with its recipe (default: the "
                        "config's, else biocodec)")
    p.add_argument("--max-steps", dest="max_steps", type=int, default=None,
                   help="stop this session after that many steps (checkpointed; --resume "
                        "continues)")
    p.add_argument("--device", default=None, help="default: CUDA if available")
    p.add_argument("--train", nargs="+", default=None, help="training recordings")
    p.add_argument("--val", nargs="+", default=None, help="validation recordings")
    p.add_argument("--out", required=True, help="output folder (logs, checkpoint, final/)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--total-steps", dest="total_steps", type=int, default=None)
    p.add_argument("--max-minutes", dest="max_minutes", type=float, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--batch-size", dest="batch_size", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--val-segments", type=int, default=512)
    _data_options(p)
    p.set_defaults(func=_train)
    p = sub.add_parser("evaluate", help=_evaluate.__doc__)
    p.add_argument("files", nargs="+", help="recordings (any format MNE reads)")
    p.add_argument("--codec", default="default")
    p.add_argument("--window-s", type=float, default=5.0)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", default=None, help="write the report as JSON")
    p.add_argument("--plot", default=None, help="save a rate-distortion plot")
    p.add_argument("--picks", nargs="+", default=None, help=_PICKS_HELP)
    p.add_argument("--no-progress", action="store_true")
    _data_options(p)
    p.set_defaults(func=_evaluate)
    p = sub.add_parser("tokenize", help=_tokenize.__doc__,
                       description=_tokenize.__doc__ + " Output layout: see mne_codec.corpus. "
                       "Over many machines or GPUs: torchrun --nproc-per-node N -m "
                       "mne_codec.cli tokenize ...")
    p.add_argument("inputs", nargs="+", help="recordings and folders (searched recursively)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--codec", default="default", help="registered name or checkpoint path")
    p.add_argument("--window-s", type=float, default=5.0)
    p.add_argument("--n-codebooks", type=int, default=None)
    p.add_argument("--keep-bad", action="store_true",
                   help="also tokenize windows that overlap BAD_ annotations")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="auto")
    p.add_argument("--unknown", choices=("raise", "drop"), default="raise",
                   help="channels a codec that reads channel names (NeuroRVQ) does not know: "
                        "fail the recording, or drop them with a warning")
    p.add_argument("--picks", nargs="+", default=None, help=_PICKS_HELP)
    p.add_argument("--jobs", type=int, default=1, help="processes on this machine")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per process, whatever --jobs (the codes do not depend "
                        "on --jobs; on CPU, other thread counts may flip near-tied codes)")
    p.add_argument("--no-progress", action="store_true")
    _data_options(p)
    p.set_defaults(func=_tokenize)
    sub.add_parser("list", help=_list.__doc__).set_defaults(func=_list)
    sub.add_parser("sys_info", help=_sys_info.__doc__).set_defaults(func=_sys_info)
    return parser


def main(argv=None):
    """Entry point of ``mne-codec``."""
    args = _build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as err:  # the user's input, named in one line
        print(f"mne-codec {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
