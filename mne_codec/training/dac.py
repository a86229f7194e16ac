"""The recipes of the package's small DAC-EEG and DAC-MC.

Run as::

    python -m mne_codec.training.dac --model dac --out DIR (--minutes 5 | --steps N)
    python -m mne_codec.training.dac --model dac --init weights_16khz.pth --out DIR ...
    python -m mne_codec.training.dac --model dac_mc --init DIR/final --out DIR_MC ...
    python -m mne_codec.training.dac --evaluate DIR/final

Models:

- ``--model dac`` without ``--init``: a small DAC trained from scratch
  (:func:`small_config`: DAC's architecture and strides, hop 320, encoder
  width 32, decoder width 512, 12 levels of 1024 codes, 12.0 M parameters)
  reading EEG at ``--sfreq`` (250 Hz: 0.78 frames/s, 94 bit/s per channel).
  With ``--init FILE.pth``, a released DAC generator (e.g. the 16 kHz model,
  74 M parameters, MIT) fine-tuned from its audio weights, as Kastrati et
  al. 2025.
- ``--model dac_mc``: DAC-MC (:class:`~mne_codec.models.DACMC`) built on
  ``--init`` (a DAC saved by this recipe, e.g. ``DIR/final``, or a released
  ``.pth``), so that training starts exactly at that DAC; without
  ``--init``, on a small DAC from scratch. Crops hold ``--n-channels`` (4)
  channels around a random pivot electrode, drawn with probability decaying
  with scalp distance (:class:`~mne_codec.training.MontageCrops`,
  ``channel_sampling="neighbours"``).

Objective: :class:`~mne_codec.training.DACLoss`, DAC's commitment 0.25 and
codebook 1 losses summed over levels, quantizer dropout 0.5; DAC's
discriminators only with ``--adversarial-weight`` > 0 (off by default). From
scratch: 15 x waveform L1 and no mel term, and the first
``--quantizer-warmup-steps`` (100) steps bypass the quantizer, so that the
encoder and decoder learn a latent that carries the waveform before codes
are drawn from it (without either, the codes collapse onto one per level
and the output loses the waveform: see the DAC page of the documentation).
From a released ``.pth`` (``--init``): DAC's 15 x multi-scale mel (with the
mel scale of the model's audio rate) and 1 x waveform L1; from a model of
this recipe (``--init DIR/final``), the from-scratch objective. Optimiser:
Adam, betas (0.8, 0.99) as DAC, linear warm-up then cosine to 0, gradient
clipping at 1000 as DAC, fp32. Crops of 8 frames (10.24 s at 250 Hz).

Data (``shared/data``): the default codec's splits
(:mod:`mne_codec.training.default`): training on EEGMMIDB S001-S008 runs
4/8/12 and eegmat Subject00-02; validation on EEGMMIDB S009-S010 and eegmat
Subject03 (a set whose files are absent is skipped). The final report gives
the validation NMSE with 1..K levels and the bits per second of each.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from dataclasses import replace
from pathlib import Path

import torch

from ..checkpoints import load_codec, load_dac_checkpoint
from ..models import DAC, DACMC, DACConfig, DACMCConfig
from .data import MontageCrops, RecordingCrops, fixed_crops, fixed_montage_crops
from .losses import DACLoss
from .recipes import RECIPES, _dac_segment_s, default_splits, evaluate_splits, print_evaluation
from .splits import PrepareRaw, default_data_dir
from .trainer import Trainer
from .validation import validation_metrics as _validation_metrics

__all__ = ["small_config", "segment_seconds", "validation_metrics", "main"]

#: token frames per training crop (at least; see :func:`segment_seconds`)
N_FRAMES = 8
#: architectures of the recipe (``--size``): "compact" trains about 3x faster
#: than "small" on a CPU (2.0 M parameters); "tiny" is for smoke tests only
SIZES = {
    "small": dict(encoder_dim=32, decoder_dim=512),
    "compact": dict(encoder_dim=16, decoder_dim=128),
    "tiny": dict(encoder_dim=4, encoder_rates=(2, 5), decoder_dim=16, decoder_rates=(5, 2),
                 codebook_dim=4),
}
#: from scratch, steps that bypass the quantizer before codes are drawn
WARMUP_STEPS = 100
#: from scratch, codes used less than this many times per step (moving average;
#: a batch of 32 crops has 256 frames, 0.25 per code if all 1024 were used
#: equally) are replaced with batch vectors
DEAD_CODE_THRESHOLD = 0.05
#: loss weights (mel, waveform): from scratch or from a model of this recipe, and
#: from a released audio DAC (DAC's mel 15)
LOSS_WEIGHTS = {"scratch": (0.0, 15.0), "init": (15.0, 1.0)}


def small_config(sfreq=250.0, n_codebooks=12, codebook_size=1024, size="small",
                 quantizer_warmup_steps=WARMUP_STEPS, dead_code_threshold=DEAD_CODE_THRESHOLD):
    """Build the small DAC-EEG of this recipe (see the module docstring).

    Parameters
    ----------
    sfreq : float
        EEG input rate (Hz).
    n_codebooks : int
        Residual levels.
    codebook_size : int
        Codes per level.
    size : ``"small"`` | ``"compact"`` | ``"tiny"``
        Widths: ``"compact"`` (encoder 16, decoder 128, hop 320) trains
        about 3x faster than ``"small"`` on a CPU; ``"tiny"`` (hop 10) is
        for smoke tests.
    quantizer_warmup_steps : int
        Training steps that bypass the quantizer at the start (see
        :class:`~mne_codec.models.DACConfig`).
    dead_code_threshold : float
        Codes used less than this many times per training step (moving
        average) are replaced with batch vectors (see
        :class:`~mne_codec.models.DACConfig`).

    Returns
    -------
    config : DACConfig
    """
    return DACConfig.eeg(sfreq=sfreq, n_codebooks=n_codebooks, codebook_size=codebook_size,
                         quantizer_dropout=0.5, quantizer_warmup_steps=quantizer_warmup_steps,
                         dead_code_threshold=dead_code_threshold, **SIZES[size])


def validation_metrics(codec, data, batch_size=64):
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
    warnings.warn("mne_codec.training.dac.validation_metrics is deprecated: use "
                  "mne_codec.training.validation_metrics.", DeprecationWarning, stacklevel=2)
    return _validation_metrics(codec, data, batch_size)


def segment_seconds(codec, loss=None):
    """Return the crop length of the recipe, in seconds.

    ``N_FRAMES`` frames, and at least twice the longest window of the loss's mel
    scales (for models with a short hop).
    """
    return _dac_segment_s(codec, loss or DACLoss(), N_FRAMES)

def _initial_dac(path, sfreq):
    """Load a DAC to start from: a released ``.pth`` (dropout 0.5) or a saved codec."""
    path = Path(path)
    if path.is_dir():
        codec = load_codec(path)
        if codec.family not in ("dac", "dac_mc"):
            raise ValueError(f"{path} holds a {codec.family} codec, not a DAC")
        return codec
    prep = DACConfig.eeg(sfreq=sfreq).preprocessing
    audio = load_dac_checkpoint(path, preprocessing=prep)
    # the files record quantizer_dropout False; the released models trained with 0.5
    codec = DAC(replace(audio.config, quantizer_dropout=0.5))
    codec.load_state_dict(audio.state_dict())
    return codec


def _build_model(args):
    size_args = (args.n_codebooks, args.codebook_size)
    if args.init is not None:
        if any(a is not None for a in size_args):
            raise SystemExit("--n-codebooks and --codebook-size come from --init")
        base = _initial_dac(args.init, args.sfreq)
    else:
        base = DAC(small_config(args.sfreq, args.n_codebooks or 12, args.codebook_size or 1024,
                                args.size, args.quantizer_warmup_steps,
                                args.dead_code_threshold))
    if args.model == "dac":
        if base.family != "dac":
            raise SystemExit(f"--init holds a {base.family} model, not a DAC")
        return base
    mc = dict(attention_dim=args.attention_dim, n_heads=args.heads)
    if base.family == "dac_mc":
        return base
    if args.init is None:
        return DACMC(DACMCConfig.from_dac(base.config, **mc))
    return DACMC.from_dac(base.train(), **mc)


def _given(value, default):
    return default if value is None else value


def _datasets(codec, data, args):
    segment_s = segment_seconds(codec)
    train_files = default_splits(data, "train")
    missing = [str(f) for f in train_files if not f.exists()]
    if missing:
        raise FileNotFoundError(f"Missing training files, e.g. {missing[0]}")
    common = dict(segment_s=segment_s, prepare_raw=PrepareRaw(), seed=args.seed)
    named = args.model == "dac_mc"  # DAC-MC reads montages of named channels
    if named:
        train = MontageCrops(train_files, codec, n_channels=args.n_channels,
                             channel_sampling="neighbours",
                             max_recordings_in_memory=args.max_recordings, **common)
    else:
        train = RecordingCrops(train_files, codec, max_recordings_in_memory=args.max_recordings,
                               **common)
    val = {}
    for name, files in default_splits(data, "val").items():
        if not all(f.exists() for f in files):
            print(f"validation set {name}: files absent, skipped", flush=True)
        elif named:
            val[name] = fixed_montage_crops(files, codec, n_channels=args.n_channels,
                                            channel_sampling="neighbours",
                                            max_segments=args.val_segments, **common)
        else:
            val[name] = fixed_crops(files, codec, max_segments=args.val_segments, **common)
    return train, val, segment_s


def _report(name, metrics, codec, n_segments):
    k_max = codec.max_codebooks
    bits = codec.frame_rate * math.log2(codec.codebook_size)
    print(f"{name} ({n_segments} crops):", flush=True)
    for k in range(1, k_max + 1):
        print(f"  levels {k:2d}: {bits * k:7.1f} bit/s per channel, "
              f"NMSE {metrics[f'nmse_{k}']:.3f}", flush=True)


def _evaluate(model_dir, data, window_s):
    """Evaluate the trained model next to the default codec on the validation recordings."""
    report = evaluate_splits(model_dir, data, window_s=window_s)
    print_evaluation(report)
    return report


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("dac", "dac_mc"), default="dac")
    parser.add_argument("--out", type=Path, help="output folder")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, default=None,
                        help="training time budget (the cosine schedule is fitted to it)")
    budget.add_argument("--steps", type=int, default=None, help="fixed number of steps")
    parser.add_argument("--init", type=Path, default=None,
                        help="start from a released DAC .pth (fine-tuning from audio) or a "
                             "codec folder saved by this recipe")
    parser.add_argument("--evaluate", type=Path, default=None, metavar="MODEL_DIR",
                        help="only evaluate a trained model next to the default codec")
    parser.add_argument("--data", type=Path, default=None, help="shared/data folder")
    parser.add_argument("--device", default=None, help="default: CUDA if available")
    parser.add_argument("--sfreq", type=float, default=250.0, help="EEG input rate (Hz)")
    parser.add_argument("--n-codebooks", type=int, default=None, help="levels (default 12)")
    parser.add_argument("--codebook-size", type=int, default=None, help="default 1024")
    parser.add_argument("--size", choices=tuple(SIZES), default="small")
    parser.add_argument("--n-channels", type=int, default=4, help="DAC-MC: channels per crop")
    parser.add_argument("--attention-dim", type=int, default=256, help="DAC-MC")
    parser.add_argument("--heads", type=int, default=4, help="DAC-MC")
    parser.add_argument("--lr", type=float, default=None,
                        help="peak learning rate (default 1e-3 from scratch, 1e-4 from --init)")
    parser.add_argument("--waveform-weight", type=float, default=None,
                        help="weight of the waveform L1 loss (default 15; 1 from a "
                             "released .pth)")
    parser.add_argument("--mel-weight", type=float, default=None,
                        help="weight of the multi-scale mel loss (default 0; DAC's 15 "
                             "from a released .pth)")
    parser.add_argument("--adversarial-weight", type=float, default=0.0,
                        help="weight of DAC's adversarial (LSGAN) term; > 0 trains DAC's "
                             "multi-period and multi-band STFT discriminators (default 0: off; "
                             "DAC: 1)")
    parser.add_argument("--feature-matching-weight", type=float, default=2.0,
                        help="weight of the discriminators' feature-matching term (DAC: 2)")
    parser.add_argument("--quantizer-warmup-steps", type=int, default=WARMUP_STEPS,
                        help="from scratch: steps that bypass the quantizer at the start")
    parser.add_argument("--dead-code-threshold", type=float, default=DEAD_CODE_THRESHOLD,
                        help="from scratch: codes used less than this many times per step "
                             "(moving average) are replaced with batch vectors; 0: off")
    parser.add_argument("--warmup-steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-every", type=int, default=500)
    parser.add_argument("--val-segments", type=int, default=256,
                        help="crops per validation set")
    parser.add_argument("--max-recordings", type=int, default=32,
                        help="preprocessed recordings held in memory")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    data = args.data or default_data_dir()
    if args.evaluate is not None:
        codec = load_codec(args.evaluate)
        report = _evaluate(args.evaluate, data, segment_seconds(codec))
        (args.evaluate / "evaluation.json").write_text(json.dumps(report, indent=1))
        return report
    if args.out is None or (args.minutes is None and args.steps is None):
        parser.error("training needs --out and --minutes or --steps")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    codec = _build_model(args)
    t0 = time.time()
    train, val, segment_s = _datasets(codec, data, args)
    print(f"{codec!r}; crops of {segment_s:g} s; validation data ready in "
          f"{time.time() - t0:.0f} s", flush=True)
    if args.init is not None and val:
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        codec.to(device)
        for name, v in val.items():  # where training starts
            _report(f"{name} at step 0", _validation_metrics(codec, v), codec,
                    len(v[0] if isinstance(v, tuple) else v))
    lr = args.lr if args.lr is not None else (1e-4 if args.init is not None else 1e-3)
    # the family's optimiser settings (Adam betas 0.8/0.99, clip 1e3), as mne-codec train
    config = RECIPES[args.model].train_config(
        lr=lr, warmup_steps=args.warmup_steps, total_steps=args.steps, max_minutes=args.minutes,
        batch_size=args.batch_size, segment_s=segment_s, seed=args.seed,
        val_every=args.val_every, checkpoint_every=args.val_every, num_threads=args.threads,
        progress=not args.no_progress)
    # DAC's objective for its audio weights; the EEG one for a model of this recipe
    audio_init = args.init is not None and not args.init.is_dir()
    mel_weight, waveform_weight = LOSS_WEIGHTS["init" if audio_init else "scratch"]
    loss = DACLoss(sfreq=codec.config.sample_rate,
                   waveform_weight=_given(args.waveform_weight, waveform_weight),
                   mel_weight=_given(args.mel_weight, mel_weight),
                   adversarial_weight=args.adversarial_weight,
                   feature_matching_weight=args.feature_matching_weight)
    meta = {"recipe": "mne_codec.training.dac", "model": args.model,
            "init": None if args.init is None else str(args.init),
            "licence": "weights: BSD-3 (mne-codec); an audio initialisation is DAC's (MIT)",
            "train_data": "EEGMMIDB S001-S008 runs 4/8/12 + eegmat Subject00-02 (_1, _2)",
            "val_data": "EEGMMIDB S009-S010 runs 4/8/12 + eegmat Subject03 (_1, _2)",
            "crops": (f"{args.n_channels} neighbouring channels x " if args.model == "dac_mc"
                      else "1 channel x ") + f"{segment_s:g} s"}
    trainer = Trainer(codec, train, val, config, args.out, loss=loss, meta=meta,
                      device=args.device, validate=_validation_metrics)
    summary = trainer.fit()
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2))
    for name, v in val.items():
        metrics = {k.split("/", 1)[1]: value for k, value in summary["validation"].items()
                   if k.startswith(name + "/")}
        _report(f"{name} after {summary['steps']} steps", metrics, codec,
                len(v[0] if isinstance(v, tuple) else v))
    return summary


if __name__ == "__main__":
    main()
