"""The recipes of the package's default codecs.

Run as::

    python -m mne_codec.training.default --out DIR (--minutes M | --steps N) [--version 2]
        [--data PATH] [--device cuda] [--amp] [--resume] [--init NAME]
        [--codebook-dim D]

``--version 2`` (the default; ``biocodec-eeg-mne-v2``): BioCodec's SEANet
encoder/decoder and residual quantizer (250 Hz, hop 12, 256 codes per
level, 8 levels) with attention across the channels of every latent frame,
before and after the quantizer (:class:`~mne_codec.models.channel_mixing.ChannelMixingConfig`),
so that the channels of a window are coded jointly, by electrode name.
Trained with quantizer dropout (half of the windows use a random number of
levels, all channels of a window the same), so that every prefix of levels
decodes well. Crops: ``--n-channels`` (19) channels drawn at random from one
recording, ``--segment-s`` (4) s, each preprocessed as the tokenizer
preprocesses a window; validation on whole montages (64 EEGMMIDB channels,
19 eegmat channels). ``--codebook-dim D`` trains a variant of it whose
levels assign codes in ``D``-d projections instead of 16-d ones (named
``biocodec-eeg-mne-v2-cbD``; an ablation of the rate allocation).

``--version 1`` (``biocodec-eeg-mne``): ``BioCodec(BioCodecConfig())`` (the
authors' EEG architecture, 6 levels, one channel at a time), batches of 32
random single-channel 5 s crops. The shipped v1 weights were trained before
the crops were scaled on their own, with one median and IQR per channel over
the whole recording (see its model card and ``benchmarks/scaling.py``).

After training, both fit the codec's signal read-out
(:func:`~mne_codec.training.readout.fit_recipe_readout`), saved with it.

Both: BioCodec's objective (0.2 Huber + 1.0 multi-resolution STFT +
commitment, counted twice as in the authors' trainer), to which version 2
adds ``--band-weight`` (0.1) times the per-band NMSE averaged over delta,
theta, alpha, beta and gamma (:func:`~mne_codec.spectral.band_nmse_loss`),
so that every band is kept alike; Adam, betas (0.5,
0.9), linear warm-up then cosine to 0 (fitted to the time budget with
``--minutes``); gradient clipping at 1. Runs on a GPU with ``--device cuda``
(and ``--amp`` for bfloat16 autocast; the quantizer's codebook maths stays in
fp32), under ``torchrun`` for several, and resumes from ``OUT/checkpoint.pt``
with ``--resume``. ``--init NAME`` fine-tunes a trained codec of the same
version (e.g. ``biocodec-eeg-mne-v2``) with a new schedule.

Data (``shared/data``, see its README): training on EEGMMIDB S001-S008 runs
4/8/12 and eegmat Subject00-02 (rest and task); validation on EEGMMIDB
S009-S010 and eegmat Subject03, reported per dataset.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ..checkpoints import load_codec, save_codec
from ..models import BioCodec, BioCodecConfig
from ..models.channel_mixing import ChannelMixingConfig
from ..quantization import RVQConfig
from .data import MontageCrops, RecordingCrops, fixed_crops, fixed_montage_crops
from .losses import BioCodecLoss
from .readout import fit_recipe_readout
from .recipes import RECIPES
from .splits import (  # noqa: F401 - re-exported: the recipes' data helpers lived here
    EEGMAT_CHANNELS,
    EEGMMIDB,
    PrepareRaw,
    default_data_dir,
    eegmat_files,
    eegmmidb_files,
    prepare_eegbci,
    prepare_eegmat,
)
from .trainer import Trainer
from .validation import validation_metrics

#: former private name of :class:`~mne_codec.training.splits.PrepareRaw`
_Prepare = PrepareRaw

#: peak learning rate chosen by the probe (see ``PROBE``)
DEFAULT_LR = 1e-3
#: Probes of 3.5 minutes (two at a time, 1 thread each, batch 32, warm-up 100
#: steps, cosine fitted to the budget, seed 0): learning rate -> (steps,
#: validation NMSE at 6 levels on 256 EEGMMIDB / 256 eegmat segments). The
#: second pair ran on a busier machine (fewer steps), so 2e-3 and 1e-3 are not
#: strictly comparable; 1e-3 was kept as the best-supported and safer choice.
PROBE = {
    1e-4: (127, 1.458, 1.448),
    5e-4: (77, 1.406, 1.461),
    1e-3: (124, 0.273, 0.179),
    2e-3: (74, 0.592, 0.541),
}

def v2_config(codebook_dim=16):
    """Return the architecture of ``biocodec-eeg-mne-v2``.

    BioCodec's EEG model with 8 levels of 256 codes (cosine assignment in
    ``codebook_dim``-d projections), quantizer dropout 0.5, and attention
    across channels before and after the quantizer (one block each, width
    128, 4 heads, 32-d electrode embeddings).
    """
    rvq = RVQConfig(dim=128, n_codebooks=8, codebook_size=256, codebook_dim=codebook_dim,
                    quantizer_dropout=0.5)
    return BioCodecConfig(rvq=rvq, channel_mixing=ChannelMixingConfig())


#: architecture of each version of the default codec
CONFIGS = {1: BioCodecConfig, 2: v2_config}


def build_data(codec, data, *, seed=0, val_segments=None, n_channels=None, segment_s=5.0):
    """Training stream and validation sets of the default recipes.

    Parameters
    ----------
    codec : BioCodec
        The model (its preprocessing is applied).
    data : path-like
        The data folder.
    seed : int
        Seed of the crops.
    val_segments : int | None
        Most validation crops per set.
    n_channels : int | None
        ``None``: single-channel crops (version 1). Otherwise crops of that
        many channels of one recording, with their electrodes (version 2);
        validation crops then hold every channel of the recording.
    segment_s : float
        Crop length in seconds.

    Returns
    -------
    train : RecordingCrops | MontageCrops
    val : dict of str to torch.Tensor | tuple
        ``"eegmmidb"`` and ``"eegmat"`` validation segments (with their
        electrodes for montage crops).
    """
    train_files = eegmmidb_files(data, range(1, 9)) + eegmat_files(data, range(0, 3))
    missing = [str(f) for f in train_files if not f.exists()]
    if missing:
        raise FileNotFoundError(f"Missing training files, e.g. {missing[0]}")
    val_sets = {"eegmmidb": (eegmmidb_files(data, (9, 10)), prepare_eegbci, 64),
                "eegmat": (eegmat_files(data, (3,)), prepare_eegmat, len(EEGMAT_CHANNELS))}
    common = dict(segment_s=segment_s, seed=seed)
    if n_channels is None:
        train = RecordingCrops(train_files, codec, prepare_raw=PrepareRaw(),
                               max_recordings_in_memory=len(train_files), **common)
        val = {name: fixed_crops(files, codec, prepare_raw=prep, max_segments=val_segments,
                                 **common)
               for name, (files, prep, _) in val_sets.items()}
        return train, val
    train = MontageCrops(train_files, codec, n_channels=n_channels, prepare_raw=PrepareRaw(),
                         max_recordings_in_memory=len(train_files), **common)
    # whole montages: what the tokenizer codes
    val = {name: fixed_montage_crops(files, codec, n_channels=n_all, prepare_raw=prep,
                                     max_segments=val_segments, **common)
           for name, (files, prep, n_all) in val_sets.items()}
    return train, val


#: per version: batch (crops), channels per crop (None: one), crop length (s),
#: validation segments per set at the end
VERSION_DEFAULTS = {1: dict(batch_size=32, n_channels=None, segment_s=5.0, final_val_segments=1024,
                           band_weight=0.0),
                    2: dict(batch_size=4, n_channels=19, segment_s=4.0, final_val_segments=64,
                           band_weight=0.1)}


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--minutes", type=float, default=None,
                        help="training time budget (the cosine schedule is fitted to it)")
    budget.add_argument("--steps", type=int, default=None,
                        help="fixed number of steps (machine-independent schedule)")
    parser.add_argument("--version", type=int, choices=tuple(CONFIGS), default=2,
                        help="1: biocodec-eeg-mne, 2: biocodec-eeg-mne-v2 (default)")
    parser.add_argument("--data", type=Path, default=None, help="shared/data folder")
    parser.add_argument("--lr", type=float, default=DEFAULT_LR)
    parser.add_argument("--warmup-steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="crops per step (default: 32 for version 1, 4 for version 2)")
    parser.add_argument("--n-channels", type=int, default=None,
                        help="channels per crop, version 2 (default 19)")
    parser.add_argument("--segment-s", type=float, default=None,
                        help="crop length in seconds (default: 5 for version 1, 4 for version 2)")
    parser.add_argument("--band-weight", type=float, default=None,
                        help="weight of the per-band NMSE term (default: 0 for version 1, "
                             "0.1 for version 2)")
    parser.add_argument("--codebook-dim", type=int, default=None,
                        help="dimension of the codebook space, version 2 (default 16); "
                             "another value trains a variant named ...-cb<dim>")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default=None, help="default: CUDA if available, else CPU")
    parser.add_argument("--amp", action="store_true",
                        help="bfloat16 autocast on CUDA (codebook maths stays fp32)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-every", type=int, default=250)
    parser.add_argument("--val-segments", type=int, default=256,
                        help="segments per validation set during training")
    parser.add_argument("--final-val-segments", type=int, default=None,
                        help="segments per validation set for the final report (0: all; "
                             "default: 1024 for version 1, 64 whole montages for version 2)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--init", default=None,
                        help="fine-tune: start from the weights of this codec (a registered name "
                             "or a folder) of the same architecture, with a new schedule")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    opts = {k: v if getattr(args, k) is None else getattr(args, k)
            for k, v in VERSION_DEFAULTS[args.version].items()}
    if args.version == 1 and args.n_channels is not None:
        parser.error("--n-channels applies to version 2 (version 1 codes one channel at a time)")
    if args.version == 1 and args.codebook_dim is not None:
        parser.error("--codebook-dim applies to version 2 (version 1 is BioCodec's own model)")
    if args.codebook_dim is not None and args.codebook_dim < 1:
        parser.error(f"--codebook-dim must be a positive integer, got {args.codebook_dim}")
    arch = {} if args.codebook_dim is None else {"codebook_dim": args.codebook_dim}

    torch.set_num_threads(args.threads)
    data = args.data or default_data_dir()
    torch.manual_seed(args.seed)
    codec = BioCodec(CONFIGS[args.version](**arch))
    if args.init:  # strict: another architecture's weights are refused by name and shape
        codec.load_state_dict(load_codec(args.init, verbose=False).state_dict())
    t0 = time.time()
    crops = dict(seed=args.seed, n_channels=opts["n_channels"], segment_s=opts["segment_s"])
    train, val = build_data(codec, data, val_segments=args.val_segments, **crops)
    print(f"data ready in {time.time() - t0:.0f} s: "
          + ", ".join(f"{k} {tuple(_crops(v).shape)}" for k, v in val.items()), flush=True)
    # the family's settings (Adam betas 0.5/0.9, clip 1, commitment x 2)
    config = RECIPES["biocodec"].train_config(
        lr=args.lr, warmup_steps=args.warmup_steps, total_steps=args.steps,
        batch_size=opts["batch_size"], segment_s=opts["segment_s"], seed=args.seed,
        val_every=args.val_every, checkpoint_every=args.val_every, max_minutes=args.minutes,
        num_threads=args.threads, amp=args.amp, progress=not args.no_progress)
    name = "biocodec-eeg-mne" if args.version == 1 else f"biocodec-eeg-mne-v{args.version}"
    if arch.get("codebook_dim", 16) != 16:  # an architecture variant, not the shipped codec
        name += f"-cb{arch['codebook_dim']}"
    meta = {"recipe": "mne_codec.training.default", "version": args.version, "name": name,
            "train_data": "EEGMMIDB S001-S008 runs 4/8/12 + eegmat Subject00-02 (_1, _2)",
            "val_data": "EEGMMIDB S009-S010 runs 4/8/12 + eegmat Subject03 (_1, _2)",
            "crops": {**crops, "batch_size": opts["batch_size"]},
            "band_weight": opts["band_weight"], "init": args.init}
    loss = BioCodecLoss(commitment_weight=config.commitment_weight,
                        band_weight=opts["band_weight"], sfreq=codec.sfreq)
    trainer = Trainer(codec, train, val, config, args.out, loss=loss, meta=meta,
                      device=args.device)
    summary = trainer.fit(resume=args.resume)
    # training throughput: channel-seconds of EEG per second of training
    per_step = opts["batch_size"] * (opts["n_channels"] or 1) * opts["segment_s"]
    train_s = 60 * (summary["train_minutes"] - summary["validation_minutes"])
    summary["channel_seconds_per_second"] = summary["steps"] * per_step / max(train_s, 1e-9)
    summary["device"] = str(trainer.device)

    # final report on larger validation sets
    n_final = opts["final_val_segments"] or None
    if n_final != args.val_segments:
        _, val = build_data(codec, data, val_segments=n_final, **crops)
    report = {name: validation_metrics(codec, x) for name, x in val.items()}
    report = {name: {**m, "n_segments": len(_crops(val[name]))} for name, m in report.items()}
    summary["final_validation"] = report
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2))
    # the linear read-out of the decoded signal that token features use (no labels)
    codec.eval().readout = fit_recipe_readout(codec, data, verbose=False)
    save_codec(codec, Path(args.out) / "final", meta={**meta, "training": summary})
    print(f"training: {summary['steps']} steps in {summary['train_minutes']:.1f} min on "
          f"{summary['device']}, {summary['channel_seconds_per_second']:.0f} channel-s of EEG "
          "per second (validations excluded)", flush=True)
    k = codec.max_codebooks
    for name, m in report.items():
        levels = " ".join(f"{m[f'nmse_{j}']:.3f}" for j in range(1, k + 1))
        print(f"{name}: NMSE at 1..{k} levels = {levels} ({m['n_segments']} segments)", flush=True)
    return summary


def _crops(val):
    """Return the crops of a validation set (a tensor, or ``(crops, electrodes)``)."""
    return val[0] if isinstance(val, tuple) else val


if __name__ == "__main__":
    main()
