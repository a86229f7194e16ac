"""Training loop of the codecs: single process or DistributedDataParallel."""

from __future__ import annotations

import csv
import json
import math
import os
import random
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .._io import atomic_path
from ..checkpoints import save_codec
from ..quantization import CodebookSync
from .losses import BioCodecLoss, CodecLoss
from .validation import validation_metrics

__all__ = ["TrainConfig", "Trainer", "lr_factor", "validation_metrics"]


@dataclass
class TrainConfig:
    """Hyper-parameters and bookkeeping of a training run.

    Parameters
    ----------
    lr : float
        Peak learning rate of Adam (BioCodec: 1e-4).
    betas : tuple of float
        Adam betas (BioCodec: (0.5, 0.9)).
    weight_decay : float
        Adam weight decay (BioCodec: 0).
    warmup_steps : int
        Linear warm-up from ``5e-4 * lr`` (as the authors) to ``lr``.
    total_steps : int | None
        Steps of the cosine decay to 0 (training stops there). ``None``
        requires ``max_minutes``: the number of steps is then estimated from
        the measured speed after ``calibration_steps`` steps (and re-fitted
        to the average speed at every validation), so that the cosine
        reaches 0 when the budget is spent (such a run is not reproducible
        step for step across machines).
    batch_size : int
        Crops per step and process.
    segment_s : float
        Crop length in seconds (informative; the dataset makes the crops).
    grad_clip : float | None
        Max global gradient norm (``None``: no clipping).
    seed : int
        Seed of the torch and Python random generators (rank ``r`` uses
        ``seed + r``).
    amp : bool
        bfloat16 autocast on CUDA (ignored on CPU).
    log_every : int
        Steps between training log rows (losses averaged over the interval).
    val_every : int | None
        Steps between validations (also run at the end).
    checkpoint_every : int | None
        Steps between checkpoints (also written at the end).
    max_minutes : float | None
        Wall-clock budget of :meth:`Trainer.fit`; training stops cleanly and
        checkpoints when it is spent.
    num_threads : int | None
        Torch threads during :meth:`Trainer.fit` (restored afterwards).
    commitment_weight : float
        Multiplier of the quantizer loss (see
        :class:`~mne_codec.training.BioCodecLoss`).
    calibration_steps : int
        Steps timed before fixing ``total_steps`` when it is ``None``.
    num_workers : int
        Data-loader worker processes.
    progress : bool
        Show a tqdm progress bar (rank 0).
    val_batch_size : int
        Segments per validation forward.
    """

    lr: float = 1e-4
    betas: tuple = (0.5, 0.9)
    weight_decay: float = 0.0
    warmup_steps: int = 100
    total_steps: int | None = 1000
    batch_size: int = 32
    segment_s: float = 5.0
    grad_clip: float | None = 1.0
    seed: int = 0
    amp: bool = False
    log_every: int = 10
    val_every: int | None = 200
    checkpoint_every: int | None = 200
    max_minutes: float | None = None
    num_threads: int | None = None
    commitment_weight: float = 1.0
    calibration_steps: int = 30
    num_workers: int = 0
    progress: bool = True
    val_batch_size: int = 64

    def to_dict(self):
        """JSON-serialisable dict."""
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d


def lr_factor(step, warmup_steps, total_steps, start=5e-4):
    """Multiplier of the peak learning rate at ``step``.

    Linear warm-up from ``start`` to 1 over ``warmup_steps``, then a cosine
    decay to 0 at ``total_steps``.
    """
    if step < warmup_steps:
        return start + (1.0 - start) * step / warmup_steps
    if total_steps is None:
        return 1.0
    span = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _to_device(batch, device):
    """Move a batch (tensor, or tuple/list/dict of tensors) to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


class _LegacyLoss(CodecLoss):
    """A loss of the forms before :class:`~mne_codec.training.CodecLoss` (deprecated).

    Such a loss had a method ``step(model, batch)`` returning ``"loss"``, or
    was called as ``loss(y, x, commit)`` on the model's outputs.
    """

    def __init__(self, loss):
        super().__init__()
        self.loss = loss

    def forward(self, model, batch, adversary_step=None):
        step = getattr(self.loss, "step", None)
        if step is not None:
            out = dict(step(model, batch))
        else:
            y, _, commit = model(batch)
            out = dict(self.loss(y.float(), batch, commit.float()))
        out["total"] = out.pop("loss")
        return out


class Trainer:
    """Train a :class:`~mne_codec.models.Codec` on crops.

    Parameters
    ----------
    codec : Codec
        The model, freshly built (codebooks are initialised by k-means on
        the first training forward) or loaded.
    train_dataset : torch.utils.data.IterableDataset
        Endless stream of crops (n_channels, n_times), e.g.
        :class:`~mne_codec.training.RecordingCrops`. Under ``torchrun``
        every rank must read its own shard (``RecordingCrops`` does).
    val_data : torch.Tensor | dict | None
        Validation segments (n, n_channels, n_times), or several sets by
        name (reported separately), e.g. from
        :func:`~mne_codec.training.fixed_crops`. With ``validate``, anything
        that function takes.
    config : TrainConfig | None
        Hyper-parameters.
    out_dir : path-like
        Where logs (``log_train.csv``, ``log_val.csv``, ``log.jsonl``), the
        checkpoint (``checkpoint.pt``) and the final model (``final/``) go.
    loss : CodecLoss | None
        The objective (default: :class:`~mne_codec.training.BioCodecLoss` with
        ``config.commitment_weight``), called as ``loss(model, batch,
        adversary_step)`` with the (DDP-wrapped) model and the batch on the
        device (whatever the dataset yields, collated: a tensor, or e.g.
        ``(x, ch_ix)`` from :class:`~mne_codec.training.MontageCrops`); its
        ``"total"`` is minimised and logged as ``loss``, the other entries
        are logged. Its :attr:`~mne_codec.training.CodecLoss.adversary`, if
        any (e.g. :class:`~mne_codec.training.DACLoss`'s discriminator), is
        trained by an Adam optimiser of the trainer
        (:attr:`adversary_optimizer`, settings from the loss's
        ``adversary_options``), saved with the checkpoint and restored on
        resume. A loss of the former forms (a method ``step(model, batch)``
        returning ``"loss"``, or ``loss(y, x, commit)``) is deprecated.
    meta : dict | None
        Extra JSON metadata saved with the final model (data description...).
    device : str | torch.device | None
        Default: CUDA (this rank's ``LOCAL_RANK``) if available, else CPU.
    validate : callable | None
        ``validate(model, data, batch_size) -> dict of float`` for one
        validation set (default: :func:`validation_metrics`).
    save : callable | None
        ``save(model, path, meta)`` writes the final model (default:
        :func:`mne_codec.checkpoints.save_codec`).

    Notes
    -----
    When ``WORLD_SIZE > 1`` (``torchrun``), the process group is initialised
    (NCCL on CUDA, Gloo on CPU), the model is wrapped in
    DistributedDataParallel, only rank 0 logs and saves, and the codebooks,
    which every rank updates in place, are reconciled after every step by
    :class:`~mne_codec.quantization.CodebookSync`. The adversary's weights
    are broadcast from rank 0 at the start and its gradients averaged.
    """

    def __init__(self, codec, train_dataset, val_data=None, config=None, out_dir="runs/codec",
                 *, loss=None, meta=None, device=None, validate=None, save=None):
        self.config = config or TrainConfig()
        cfg = self.config
        if cfg.total_steps is None and cfg.max_minutes is None:
            raise ValueError("TrainConfig needs total_steps or max_minutes")
        self.world_size = int(os.environ.get("WORLD_SIZE", 1))
        self.rank = int(os.environ.get("RANK", 0))
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        if device is None:
            device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cuda":
            if self.device.index is None:  # "cuda": the rank's GPU (set_device needs an index)
                self.device = torch.device("cuda", local_rank)
            torch.cuda.set_device(self.device)
        if self.world_size > 1:
            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.is_main = self.rank == 0
        _seed_everything(cfg.seed + self.rank)
        self.codec = codec.to(self.device)
        self.model = self.codec
        if self.world_size > 1:
            # codebooks are synchronised by CodebookSync; DDP's own buffer
            # broadcast (at every forward) would discard the other ranks' EMA
            self.model = DistributedDataParallel(
                self.codec, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                broadcast_buffers=False)
        self.train_dataset = train_dataset
        if val_data is not None and not isinstance(val_data, dict):
            val_data = {"val": val_data}
        self.val_data = val_data or {}
        self.out_dir = Path(out_dir)
        if loss is None:
            loss = BioCodecLoss(commitment_weight=cfg.commitment_weight)
        elif not isinstance(loss, CodecLoss):
            warnings.warn("A loss that is not a mne_codec.training.CodecLoss (with step(model, "
                          "batch) or called as loss(y, x, commit)) is deprecated: subclass "
                          "CodecLoss and return 'total' from loss(model, batch).",
                          DeprecationWarning, stacklevel=2)
            loss = _LegacyLoss(loss)
        self.loss_fn = loss
        self.codebooks = CodebookSync(self.codec)
        self.adversary = loss.adversary
        self.adversary_optimizer = None
        if self.adversary is not None:
            opts = loss.adversary_options
            self.adversary.to(self.device)
            self.adversary_optimizer = torch.optim.Adam(
                self.adversary.parameters(), lr=opts["lr"], betas=tuple(opts["betas"]))
            if self.world_size > 1:
                with torch.no_grad():
                    for t in list(self.adversary.parameters()) + list(self.adversary.buffers()):
                        dist.broadcast(t, 0)
        self.meta = dict(meta or {})
        self.validate_fn = validate or validation_metrics
        self.save_fn = save
        self.optimizer = torch.optim.Adam(self.codec.parameters(), lr=cfg.lr,
                                          betas=tuple(cfg.betas),
                                          weight_decay=cfg.weight_decay)
        self._total_steps = cfg.total_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: lr_factor(s, cfg.warmup_steps, self._total_steps))
        self.step = 0
        self.elapsed = 0.0  # training seconds over all sessions (resumes included)
        self.history = []
        self.last_val = {}

    # -- checkpoints -----------------------------------------------------------
    @property
    def checkpoint_path(self):
        """Path of the (latest) checkpoint."""
        return self.out_dir / "checkpoint.pt"

    def state_dict(self):
        """Everything needed to resume; loadable with ``weights_only=True``."""
        state = {
            "model": self.codec.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "total_steps": -1 if self._total_steps is None else int(self._total_steps),
            "elapsed": float(self.elapsed),
            "rng_torch": torch.get_rng_state(),
            "rng_python": _python_rng_state(),
            "config": self.config.to_dict(),
        }
        if torch.cuda.is_available():
            state["rng_cuda"] = torch.cuda.get_rng_state_all()
        if self.adversary is not None:
            state["adversary"] = {"module": self.adversary.state_dict(),
                                  "optimizer": self.adversary_optimizer.state_dict()}
        return state

    def save_checkpoint(self, path=None):
        """Write the checkpoint atomically (rank 0 only); returns its path."""
        path = Path(path) if path is not None else self.checkpoint_path
        if self.is_main:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                torch.save(self.state_dict(), tmp)
        return path

    def load_checkpoint(self, path=None):
        """Restore model, optimizer, scheduler, step and random states."""
        path = Path(path) if path is not None else self.checkpoint_path
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.codec.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        # "loss": checkpoints before the trainer owned the adversary (DACLoss's discriminator)
        adversary = state.get("adversary")
        if adversary is None and "loss" in state:
            adversary = {"module": state["loss"]["discriminator"],
                         "optimizer": state["loss"]["optimizer"]}
        if adversary is not None:
            if self.adversary is None:
                raise ValueError(f"{path} holds an adversary (e.g. a discriminator) but the "
                                 "loss has none.")
            self.adversary.load_state_dict(adversary["module"])
            self.adversary_optimizer.load_state_dict(adversary["optimizer"])
        self.step = int(state["step"])
        self._total_steps = None if state["total_steps"] < 0 else int(state["total_steps"])
        self.elapsed = float(state["elapsed"])
        if self.world_size == 1:  # the saved states are rank 0's
            torch.set_rng_state(state["rng_torch"])
            random.setstate(_to_python_rng_state(state["rng_python"]))
            if "rng_cuda" in state and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["rng_cuda"])
        else:
            _seed_everything(self.config.seed + self.rank + 7919 * self.step)
        return self

    # -- logging ---------------------------------------------------------------
    def _log(self, kind, row):
        row = {"kind": kind, **row}
        self.history.append(row)
        if not self.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        path = self.out_dir / f"log_{kind}.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row), extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)

    def _dead_codes(self):
        return self.codebooks.dead_codes()

    def validate(self):
        """Compute validation metrics per set (rank 0 computes, others return {})."""
        if not self.is_main or not self.val_data:
            return {}
        out = {}
        for name, x in self.val_data.items():
            for key, value in self.validate_fn(self.codec, x, self.config.val_batch_size).items():
                out[f"{name}/{key}"] = value
        return out

    # -- training --------------------------------------------------------------
    def _batches(self):
        cfg = self.config
        if hasattr(self.train_dataset, "set_resume"):
            self.train_dataset.set_resume(self.step, cfg.batch_size)
        # an own generator: creating the loader must not consume the global
        # torch RNG (it would shift the k-means and dead-code draws on resume)
        gen = torch.Generator().manual_seed(cfg.seed + self.rank)
        loader = DataLoader(self.train_dataset, batch_size=cfg.batch_size,
                            num_workers=cfg.num_workers, drop_last=True, generator=gen)
        while True:  # a finite dataset is cycled
            yield from loader
            if hasattr(self.train_dataset, "set_resume"):
                self.train_dataset.set_resume(0, cfg.batch_size)

    def _adversary_step(self, loss):
        """One step of the loss's adversary on its loss (called by the loss)."""
        params = list(self.adversary.parameters())
        self.adversary_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.world_size > 1:
            for p in params:
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad /= self.world_size
        clip = self.loss_fn.adversary_options.get("grad_clip")
        if clip:
            torch.nn.utils.clip_grad_norm_(params, clip)
        self.adversary_optimizer.step()

    def _train_step(self, batch):
        cfg = self.config
        batch = _to_device(batch, self.device)
        self.codec.train()
        if self.world_size > 1:
            self.codebooks.before_step()
        self.optimizer.zero_grad(set_to_none=True)
        adversary_step = self._adversary_step if self.adversary is not None else None
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16,
                            enabled=cfg.amp and self.device.type == "cuda"):
            terms = self.loss_fn(self.model, batch, adversary_step)
        total = terms.pop("total")
        total.backward()
        losses = {"loss": total, **terms}
        if cfg.grad_clip:
            losses["grad_norm"] = torch.nn.utils.clip_grad_norm_(self.codec.parameters(),
                                                                  cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        if self.world_size > 1:
            self.codebooks.after_step()
        self.step += 1
        return {k: float(v.detach()) for k, v in losses.items()}

    def _calibrate(self, seconds_per_step, seconds_per_val):
        """Fix the cosine length so that it ends when the time budget does."""
        cfg = self.config
        remaining = cfg.max_minutes * 60 - self.elapsed
        per_step = seconds_per_step + (seconds_per_val / cfg.val_every if cfg.val_every else 0.0)
        steps = self.step + max(int(remaining / per_step), 1)
        if self.world_size > 1:  # every rank must stop at the same step
            t = torch.tensor([steps], dtype=torch.long)
            dist.broadcast(t, 0)
            steps = int(t)
        self._total_steps = max(steps, cfg.warmup_steps + 1)

    def fit(self, resume=False, max_steps=None):
        """Train until ``total_steps`` or the time budget.

        Parameters
        ----------
        resume : bool | path-like
            ``True``: continue from ``out_dir/checkpoint.pt`` if it exists;
            a path: continue from that checkpoint.
        max_steps : int | None
            Stop this session after that many steps (checkpointing), e.g.
            to split a run; :meth:`fit` with ``resume=True`` continues it.

        Returns
        -------
        summary : dict
            Steps, time and the last validation metrics.
        """
        # the thread count is the run's, not the process's: restored afterwards, so
        # that a training run inside a larger program leaves its threads as they were
        n_threads = torch.get_num_threads()
        if self.config.num_threads:
            torch.set_num_threads(int(self.config.num_threads))
        try:
            return self._fit(resume, max_steps)
        finally:
            torch.set_num_threads(n_threads)

    def _fit(self, resume, max_steps):
        cfg = self.config
        if resume:
            path = self.checkpoint_path if resume is True else Path(resume)
            if path.exists():
                self.load_checkpoint(path)
        session_start = time.perf_counter()
        elapsed0 = self.elapsed
        step0 = self.step
        budget = cfg.max_minutes * 60 if cfg.max_minutes is not None else math.inf
        bar = tqdm(total=self._total_steps, initial=self.step,
                   disable=not (cfg.progress and self.is_main),
                   mininterval=5.0, file=sys.stderr, dynamic_ncols=True)
        acc, n_acc = {}, 0
        t_interval = time.perf_counter()
        val_seconds = 0.0
        calib_start = None
        stopped_by_time = False
        batches = self._batches()
        while self._total_steps is None or self.step < self._total_steps:
            losses = self._train_step(next(batches))
            self.elapsed = elapsed0 + time.perf_counter() - session_start
            for k, v in losses.items():
                acc[k] = acc.get(k, 0.0) + v
            n_acc += 1
            bar.update(1)
            if self._total_steps is None:
                if self.step == step0 + 5:  # skip the first steps (k-means, allocation)
                    calib_start = (time.perf_counter(), val_seconds)
                elif calib_start is not None and self.step == step0 + 5 + cfg.calibration_steps:
                    t0, v0 = calib_start
                    elapsed = time.perf_counter() - t0 - (val_seconds - v0)
                    per_step = elapsed / cfg.calibration_steps
                    per_val = 0.0
                    if cfg.val_every and self.val_data:
                        # one validation now, to know what the later ones cost
                        v1 = self._val_seconds
                        self._run_validation()
                        val_seconds = self._val_seconds
                        per_val = val_seconds - v1
                        if self.world_size > 1:
                            t = torch.tensor([per_val], dtype=torch.float64)
                            dist.broadcast(t, 0)
                            per_val = float(t)
                    self._calibrate(per_step, per_val)
                    bar.total = self._total_steps
                    bar.refresh()
            stop = self.elapsed >= budget
            session_done = max_steps is not None and self.step - step0 >= max_steps
            last = stop or session_done or (
                self._total_steps is not None and self.step >= self._total_steps)
            if n_acc and (self.step % cfg.log_every == 0 or last):  # the last step is logged too
                now = time.perf_counter()
                row = {"step": self.step, "time_s": round(self.elapsed, 2),
                       "lr": self.scheduler.get_last_lr()[0],
                       **{k: v / n_acc for k, v in acc.items()},
                       "crops_per_s": n_acc * cfg.batch_size * self.world_size / (now - t_interval),
                       **self._dead_codes()}
                self._log("train", row)
                bar.set_postfix(loss=f"{row['loss']:.3f}", refresh=False)
                acc, n_acc, t_interval = {}, 0, now
            if self.world_size > 1:  # ranks must agree on when to stop
                t = torch.tensor([int(stop)])
                dist.broadcast(t, 0)
                stop = bool(t)
            if cfg.val_every and self.step % cfg.val_every == 0:
                v1 = self._val_seconds
                self._run_validation()
                val_seconds = self._val_seconds
                if cfg.total_steps is None and calib_start is not None and self._total_steps:
                    # re-fit the cosine to the average speed so far: the
                    # first estimate can be off on a machine with other load
                    t0, v0 = calib_start
                    n = self.step - (step0 + 5)
                    per_step = (time.perf_counter() - t0 - (val_seconds - v0)) / n
                    self._calibrate(per_step, val_seconds - v1)
                    bar.total = self._total_steps
            if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                self.save_checkpoint()
            if stop:
                stopped_by_time = True
                break
            if session_done:
                break
        bar.close()
        if not (cfg.val_every and self.step % cfg.val_every == 0):
            self._run_validation()
        self.save_checkpoint()
        summary = {"steps": self.step, "train_minutes": round(self.elapsed / 60, 2),
                   # of which validations (this session's)
                   "validation_minutes": round(self._val_seconds / 60, 2),
                   "stopped_by_time": stopped_by_time, "total_steps": self._total_steps,
                   "world_size": self.world_size, "train_config": cfg.to_dict(),
                   "validation": self.last_val}
        if self.is_main:
            save = self.save_fn or save_codec
            save(self.codec, self.out_dir / "final", {**self.meta, "training": summary})
        if self.world_size > 1:
            dist.barrier()
        return summary

    _n_vals = 0
    _val_seconds = 0.0

    def _run_validation(self):
        t0 = time.perf_counter()
        metrics = self.validate()
        self._val_seconds += time.perf_counter() - t0
        self._n_vals += 1
        if metrics:
            self.last_val = {"step": self.step, **metrics}
            self._log("val", {"step": self.step, "time_s": round(self.elapsed, 2),
                              **metrics, **self._dead_codes()})


def _seed_everything(seed):
    torch.manual_seed(seed)
    random.seed(seed)


def _python_rng_state():
    version, internal, gauss = random.getstate()
    return {"version": version, "internal": torch.tensor(internal, dtype=torch.int64),
            "gauss": gauss}


def _to_python_rng_state(d):
    return (d["version"], tuple(int(v) for v in d["internal"]), d["gauss"])
