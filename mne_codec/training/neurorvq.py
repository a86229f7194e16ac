"""The recipe of the package's small NeuroRVQ.

Run as::

    python -m mne_codec.training.neurorvq --out DIR (--minutes 5 | --steps N) [--data PATH]
    python -m mne_codec.training.neurorvq --evaluate DIR/final [--data PATH]

Model (:func:`small_config`): the authors' NeuroRVQ architecture (four
temporal convolution branches, transformer encoder and decoder, one residual
quantizer per branch, Fourier amplitude/phase decoding; Barmpas et al. 2025)
scaled down: width 100, 6 encoder and 3 decoder blocks, 8 levels of 1024
codes of dimension 32 per branch (320 bit/s per channel), a 256-token window
budget, channel names read through the package's 10-05 vocabulary. It reads
the authors' preprocessing (notches, 0.5-44.5 Hz, microvolts clipped at
+-500, 200 Hz).

Objective: :class:`~mne_codec.training.NeuroRVQLoss` (amplitude + phase +
time + code, weights 1 as the authors). Optimiser: Adam, betas (0.9, 0.99),
linear warm-up then cosine to 0, bfloat16 autocast on CUDA, batches of 64
random 8-s crops of 16 random channels (:class:`~mne_codec.training.MontageCrops`).

Data (``shared/data``): the default codec's splits (see
:mod:`mne_codec.training.default`): training on EEGMMIDB S001-S008 runs
4/8/12 and eegmat Subject00-02; validation on EEGMMIDB S009-S010 and eegmat
Subject03. Validation sets whose files are absent are skipped (e.g. on a
machine that holds only the training files); ``--evaluate`` then reports
the trained model next to the default BioCodec codec on the validation
recordings, with :func:`~mne_codec.evaluation.evaluate_codec`.

The architecture and losses follow the authors' code, licensed CC BY-NC 4.0;
this recipe and the weights it produces are ours (trained on ODC-By data).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from dataclasses import replace
from pathlib import Path

import torch

from ..models.neurorvq import NeuroRVQ, NeuroRVQConfig
from .data import MontageCrops, fixed_montage_crops
from .losses import NeuroRVQLoss
from .recipes import RECIPES, default_splits, evaluate_splits, print_evaluation
from .splits import PrepareRaw, default_data_dir
from .trainer import Trainer
from .validation import validation_metrics as _validation_metrics

__all__ = ["small_config", "validation_metrics", "main"]

#: channels per training crop and crop length (16 x 8 patches = 128 tokens)
N_CHANNELS = 16
SEGMENT_S = 8.0


def small_config():
    """Build the small NeuroRVQ of this recipe (see the module docstring)."""
    rvq = replace(NeuroRVQConfig().rvq, dim=32, n_codebooks=8, codebook_size=1024)
    return NeuroRVQConfig(out_chans=4, embed_dim=100, depth_encoder=6, depth_decoder=3,
                          num_heads=5, mlp_ratio=4.0, rvq=rvq, canonical_names=True)


def validation_metrics(codec, data, batch_size=32):
    """Compute the validation metrics (deprecated: :func:`mne_codec.training.validation_metrics`).

    Parameters
    ----------
    codec : Codec
        The model.
    data : torch.Tensor | tuple of torch.Tensor
        Crops, or ``(x, ch_ix)`` from
        :func:`~mne_codec.training.fixed_montage_crops`.
    batch_size : int
        Crops per forward.

    Returns
    -------
    metrics : dict
        See :func:`mne_codec.training.validation_metrics`.
    """
    warnings.warn("mne_codec.training.neurorvq.validation_metrics is deprecated: use "
                  "mne_codec.training.validation_metrics.", DeprecationWarning, stacklevel=2)
    return _validation_metrics(codec, data, batch_size)


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="output folder")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, default=None)
    budget.add_argument("--steps", type=int, default=None)
    parser.add_argument("--evaluate", type=Path, default=None, metavar="MODEL_DIR",
                        help="only evaluate a trained model (and the default codec)")
    parser.add_argument("--data", type=Path, default=None, help="shared/data folder")
    parser.add_argument("--device", default=None, help="default: CUDA if available")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup-steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-every", type=int, default=500)
    parser.add_argument("--val-segments", type=int, default=256)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    data = args.data or default_data_dir()
    if args.evaluate is not None:
        report = evaluate_splits(args.evaluate, data)
        print_evaluation(report)
        (args.evaluate / "evaluation.json").write_text(json.dumps(report, indent=1))
        return report
    if args.out is None or (args.minutes is None and args.steps is None):
        parser.error("training needs --out and --minutes or --steps")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    codec = NeuroRVQ(small_config())
    t0 = time.time()
    train = MontageCrops(default_splits(data, "train"), codec, n_channels=N_CHANNELS,
                         segment_s=SEGMENT_S, prepare_raw=PrepareRaw(), seed=args.seed,
                         max_recordings_in_memory=64)
    val = {}
    for name, files in default_splits(data, "val").items():
        if all(f.exists() for f in files):
            val[name] = fixed_montage_crops(files, codec, n_channels=N_CHANNELS,
                                            segment_s=SEGMENT_S, prepare_raw=PrepareRaw(),
                                            max_segments=args.val_segments, seed=args.seed)
        else:
            print(f"validation set {name}: files absent, skipped", flush=True)
    print(f"validation data ready in {time.time() - t0:.0f} s", flush=True)
    # the family's optimiser settings (Adam betas 0.9/0.99, clip 3, bfloat16 on CUDA)
    config = RECIPES["neurorvq"].train_config(
        lr=args.lr, warmup_steps=args.warmup_steps, total_steps=args.steps,
        max_minutes=args.minutes, batch_size=args.batch_size, segment_s=SEGMENT_S,
        seed=args.seed, val_every=args.val_every, checkpoint_every=args.val_every,
        num_threads=args.threads, progress=not args.no_progress)
    meta = {"recipe": "mne_codec.training.neurorvq",
            "licence": "weights: ours (BSD-3); architecture after the authors' code (CC BY-NC 4.0)",
            "train_data": "EEGMMIDB S001-S008 runs 4/8/12 + eegmat Subject00-02 (_1, _2)",
            "val_data": "EEGMMIDB S009-S010 runs 4/8/12 + eegmat Subject03 (_1, _2)",
            "crops": f"{N_CHANNELS} random channels x {SEGMENT_S:g} s"}
    trainer = Trainer(codec, train, val, config, args.out, loss=NeuroRVQLoss(), meta=meta,
                      device=args.device)
    summary = trainer.fit()
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary["validation"]), flush=True)
    return summary


if __name__ == "__main__":
    main()
