"""The recipe of a small NeuroRVQ foundation model, pre-trained by masked-token prediction.

Run as::

    python -m mne_codec.training.neurorvq_fm --out DIR (--minutes 5 | --steps N)
        [--target default] [--data PATH] [--threads 1]

Model (:func:`small_config`): the authors' NeuroRVQ-FM architecture (the
tokenizer's four temporal convolution branches, a transformer with q/k norm
and layer scale shared by the branches, a mask token and one prediction head
per target row; Barmpas et al. 2025) scaled down: width 100 (4 feature maps
per branch), 4 blocks of 5 heads, channel names read through the package's
10-05 vocabulary. It reads the NeuroRVQ tokenizer's input (notches,
0.5-44.5 Hz, microvolts clipped at +-500, 200 Hz, 1-s patches).

Target (``--target``, frozen): any codec of the package, by name or path
(default: the package's default BioCodec, 6 levels of 256 codes at 20.8
frames/s, read at ``--frames-per-patch`` 4 evenly spaced frames per patch:
24 heads); see :class:`~mne_codec.training.MaskedTokenLoss`.

Objective: :class:`~mne_codec.training.MaskedTokenLoss`, half of every
crop's tokens masked at random, plus the symmetric pass. Optimiser: Adam,
betas (0.9, 0.98), linear warm-up then cosine to 0, gradient clip 3,
bfloat16 autocast on CUDA, batches of random 4-s crops of 8 random channels
(:class:`~mne_codec.training.MontageCrops`, 32 tokens a crop;
``--channel-sampling neighbours`` for local montages). With
``--target-pool ROUNDS`` the crops are instead every non-overlapping 4-s
segment of the training recordings, ``ROUNDS`` random montages each, coded
once by the target before training and drawn in shuffled order (the target
codec, not the model, dominates a CPU step otherwise).

Data (``shared/data``): the splits of the other recipes (see
:mod:`mne_codec.training.default`): training on EEGMMIDB S001-S008 runs
4/8/12 and eegmat Subject00-02; validation on EEGMMIDB S009-S010 and eegmat
Subject03 (fixed crops and masks), reporting the loss and the masked-token
accuracy per RVQ level next to the majority baseline (the most frequent code
of each row).

The architecture follows the authors' code, licensed CC BY-NC 4.0; this
recipe and the weights it produces are ours (trained on ODC-By data); the
target codec's licence is its own.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ..checkpoints import load_codec, save_neurorvq_fm
from ..models.neurorvq import NeuroRVQFM, NeuroRVQFMConfig
from .data import MontageCrops, fixed_montage_crops
from .losses import MaskedTokenLoss
from .recipes import default_splits
from .splits import PrepareRaw, default_data_dir
from .trainer import TrainConfig, Trainer

__all__ = ["small_config", "main"]

#: channels per training crop and crop length (8 x 4 patches = 32 tokens)
N_CHANNELS = 8
SEGMENT_S = 4.0


def small_config(vocab_size, n_targets, depth=4):
    """Build the small NeuroRVQ-FM of this recipe (see the module docstring).

    Parameters
    ----------
    vocab_size : int
        Codebook size of the target codec.
    n_targets : int
        Target codes per channel and patch.
    depth : int
        Transformer blocks.

    Returns
    -------
    config : NeuroRVQFMConfig
    """
    return NeuroRVQFMConfig(out_chans=4, embed_dim=100, depth=depth, num_heads=5, mlp_ratio=4.0,
                            vocab_size=vocab_size, n_targets=n_targets, canonical_names=True)


class _TargetPool(torch.utils.data.IterableDataset):
    """Endless shuffled ``(x, ch_ix, targets)`` of a fixed pool of crops."""

    def __init__(self, x, ch_ix, targets, seed=0):
        super().__init__()
        self.x, self.ch_ix, self.targets, self.seed = x, ch_ix, targets, seed

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed)
        while True:
            for i in torch.randperm(len(self.x), generator=gen).tolist():
                yield self.x[i], self.ch_ix[i], self.targets[i]


def _target_pool(files, model, loss, rounds, seed, channel_sampling):
    """Crops of every training segment, ``rounds`` montages each, with their targets."""
    xs, chs, ts = [], [], []
    for r in range(rounds):
        x, ch = fixed_montage_crops(files, model, n_channels=N_CHANNELS, segment_s=SEGMENT_S,
                                    channel_sampling=channel_sampling, prepare_raw=PrepareRaw(),
                                    seed=seed + 1000 * (r + 1))
        for start in range(0, len(x), 64):
            ts.append(loss.targets(model, x[start:start + 64], ch[start:start + 64]))
        xs.append(x)
        chs.append(ch)
    return _TargetPool(torch.cat(xs), torch.cat(chs), torch.cat(ts), seed)


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--minutes", type=float, default=None)
    budget.add_argument("--steps", type=int, default=None)
    parser.add_argument("--target", default="default",
                        help="target codec: registered name or path (default: %(default)s)")
    parser.add_argument("--frames-per-patch", type=int, default=4,
                        help="frames read per patch from a channel-independent target")
    parser.add_argument("--mask-ratio", type=float, default=0.5)
    parser.add_argument("--depth", type=int, default=4, help="transformer blocks")
    parser.add_argument("--channel-sampling", choices=("random", "neighbours"), default="random",
                        help="channels of a crop: a random subset, or a local montage "
                        "(MontageCrops)")
    parser.add_argument("--max-recordings", type=int, default=64,
                        help="training recordings held in memory at once")
    parser.add_argument("--data", type=Path, default=None, help="shared/data folder")
    parser.add_argument("--device", default=None, help="default: CUDA if available")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup-steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-every", type=int, default=100)
    parser.add_argument("--val-segments", type=int, default=128)
    parser.add_argument("--target-pool", type=int, default=0, metavar="ROUNDS",
                        help="train on a fixed pool of crops (every training segment, ROUNDS "
                        "random montages each) whose targets are computed once, instead of "
                        "an endless stream of random crops coded at every step (for a "
                        "target codec that is slow on CPU)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    data = args.data or default_data_dir()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    tokenizer = load_codec(args.target, verbose=False)
    loss = MaskedTokenLoss(tokenizer, mask_ratio=args.mask_ratio,
                           frames_per_patch=args.frames_per_patch)
    n_rows, _ = loss.target_layout(1.0)
    model = NeuroRVQFM(small_config(tokenizer.codebook_size, n_rows, args.depth))
    if model.config.patch_size / model.sfreq != 1.0:  # target_layout was asked for 1-s patches
        raise RuntimeError("the recipe's patches must last 1 s")
    t0 = time.time()
    if args.target_pool:
        train = _target_pool(default_splits(data, "train"), model, loss, args.target_pool,
                             args.seed, args.channel_sampling)
        print(f"target pool: {len(train.x)} crops coded in {time.time() - t0:.0f} s", flush=True)
    else:
        train = MontageCrops(default_splits(data, "train"), model, n_channels=N_CHANNELS,
                             segment_s=SEGMENT_S, channel_sampling=args.channel_sampling,
                             prepare_raw=PrepareRaw(), seed=args.seed,
                             max_recordings_in_memory=args.max_recordings)
    val = {}
    for name, files in default_splits(data, "val").items():
        if all(f.exists() for f in files):
            val[name] = fixed_montage_crops(files, model, n_channels=N_CHANNELS,
                                            segment_s=SEGMENT_S,
                                            channel_sampling=args.channel_sampling,
                                            prepare_raw=PrepareRaw(),
                                            max_segments=args.val_segments, seed=args.seed)
        else:
            print(f"validation set {name}: files absent, skipped", flush=True)
    print(f"validation data ready in {time.time() - t0:.0f} s; target "
          f"{getattr(tokenizer, 'meta', {}).get('name', args.target)}: {n_rows} codes per "
          f"channel-second of {tokenizer.codebook_size}", flush=True)
    config = TrainConfig(lr=args.lr, betas=(0.9, 0.98), weight_decay=0.0,
                         warmup_steps=args.warmup_steps, total_steps=args.steps,
                         max_minutes=args.minutes, batch_size=args.batch_size,
                         segment_s=SEGMENT_S, grad_clip=3.0, seed=args.seed, amp=True,
                         log_every=10, val_every=args.val_every,
                         checkpoint_every=args.val_every, num_threads=args.threads,
                         progress=not args.no_progress)
    meta = {"recipe": "mne_codec.training.neurorvq_fm",
            "licence": "weights: ours (BSD-3); architecture after the authors' code (CC BY-NC 4.0)",
            "target": str(args.target), "target_rows": n_rows,
            "frames_per_patch": args.frames_per_patch, "mask_ratio": args.mask_ratio,
            "train_data": "EEGMMIDB S001-S008 runs 4/8/12 + eegmat Subject00-02 (_1, _2)",
            "val_data": "EEGMMIDB S009-S010 runs 4/8/12 + eegmat Subject03 (_1, _2)",
            "crops": f"{N_CHANNELS} random channels x {SEGMENT_S:g} s",
            "target_pool_rounds": args.target_pool, "channel_sampling": args.channel_sampling}
    trainer = Trainer(model, train, val, config, args.out, loss=loss, meta=meta,
                      device=args.device, validate=loss.validate, save=save_neurorvq_fm)
    summary = trainer.fit()
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary["validation"]), flush=True)
    return summary


if __name__ == "__main__":
    main()
