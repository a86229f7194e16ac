"""Residual vector quantization shared by every codec of the package.

One implementation covers what the published EEG codecs need:

- BioCodec (EnCodec lineage): cosine assignment in 16-d projections of a
  128-d latent, EMA codebooks with Laplace smoothing, L2-normalised codewords,
  k-means initialisation on the first training batch, dead-code replacement,
  commitment loss with straight-through gradients;
- DAC: factorised codes (projection to 8-d), L2-normalised lookup, codebooks
  learned by gradient (codebook + commitment losses), quantizer dropout;
- NeuroRVQ: cosine lookup in 128-d codebooks of 8192 codes (``distance=
  "normalized_euclidean"``: the residual is L2-normalised, the codewords are
  not, and the nearest codeword in Euclidean distance wins, as in the
  authors' ``NormEMAVectorQuantizer``).

In eval mode the quantizer is deterministic and never mutates its state: all
codebook updates, k-means initialisation and dead-code replacement happen only
in training mode (the reference implementations initialise or update
codebooks on eval forwards in some places; we do not).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Literal, NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

__all__ = ["RVQConfig", "ResidualVQ", "VectorQuantizer", "Codebook", "CodebookSync", "kmeans"]


@dataclass
class RVQConfig:
    """Configuration of a :class:`ResidualVQ`.

    Parameters
    ----------
    dim : int
        Dimension of the latent vectors that are quantized.
    n_codebooks : int
        Number of residual levels.
    codebook_size : int
        Number of codes per level.
    codebook_dim : int | None
        Dimension of the codebook space. If it differs from ``dim``, each level
        projects its residual (``project_in``) and maps the codeword back
        (``project_out``), see ``projection``. ``None`` means ``dim`` (no
        projection).
    distance : ``"cosine"`` | ``"euclidean"`` | ``"normalized_euclidean"``
        How codes are assigned: largest cosine similarity, smallest Euclidean
        distance, or smallest Euclidean distance from the L2-normalised
        vector to the raw codewords, computed as
        ``||z||^2 + ||e||^2 - 2 z.e`` (NeuroRVQ/LaBraM; equal to the cosine
        rule when codewords have unit norm). Ties go to the first index. In
        training, ``"normalized_euclidean"`` also normalises the vectors
        before k-means, the EMA update and the commitment loss, and the
        straight-through output is the normalised vector's codeword.
    ema_decay : float | None
        Decay of the exponential moving average codebook update. ``None``
        makes the codebook a parameter learned by gradient (DAC style), with a
        codebook loss.
    epsilon : float
        Laplace smoothing of the EMA cluster sizes.
    normalize_codewords : bool
        Keep codewords on the unit sphere after every update (BioCodec).
    kmeans_init : bool
        Initialise codebooks with k-means on the first training batch. When
        False the ``inited`` flag is constant and not saved in the state dict.
    kmeans_iters : int
        Number of k-means iterations.
    dead_code_threshold : float
        Codes whose EMA cluster size falls below this are replaced with random
        vectors from the current batch (training only). 0 disables it. For
        codebooks learned by gradient (``ema_decay=None``), the statistic is
        an exponential moving average (decay ``code_usage_decay``) of the
        number of vectors a code is assigned per training step, kept in the
        ``code_usage`` buffer (part of the state dict only then), starting
        at and reset to 1 on replacement.
    dead_code_clamp : float | None
        Clamp replacement vectors to ``[-clamp, clamp]`` before use (BioCodec).
    code_usage_decay : float
        Decay of the ``code_usage`` statistic of gradient codebooks.
    commitment_weight : float
        Weight of the commitment loss ``||sg(q) - z||^2``.
    codebook_weight : float
        Weight of the codebook loss ``||q - sg(z)||^2`` (gradient codebooks).
    quantizer_dropout : float
        In training, the fraction of the batch that uses a random number of
        levels (DAC), so that fewer levels still decode well. The losses of
        the levels an item drops are masked out, as in DAC.
    projection : ``"linear"`` | ``"conv1x1_weight_norm"``
        Kind of ``project_in``/``project_out``: ``nn.Linear`` (EnCodec,
        BioCodec) or a weight-normalised 1x1 ``nn.Conv1d`` (DAC's factorised
        codes; its parameters are ``bias`` and
        ``parametrizations.weight.original0/1``).
    loss_reduction : ``"mean"`` | ``"sum"``
        How the levels' losses are combined: their mean (BioCodec) or their
        sum (DAC).
    detach_residual : bool
        Stop gradients through the residual passed to the next level. DAC
        does not, so later levels' losses also train earlier projections.
    warmup_steps : int
        Training forwards at the start during which the quantizer is
        bypassed: the latent reaches the decoder unquantized and the
        quantizer's loss is zero, so that encoder and decoder first learn a
        latent that carries the signal, and codes are then drawn from it.
        Trained from scratch on EEG without it, DAC's factorised codes
        collapse onto one code per level (see the DAC page of the
        documentation). The forwards are counted in the ``warmup_count``
        buffer, part of the state dict only when ``warmup_steps > 0``.
    """

    dim: int = 128
    n_codebooks: int = 6
    codebook_size: int = 256
    codebook_dim: int | None = 16
    distance: Literal["cosine", "euclidean", "normalized_euclidean"] = "cosine"
    ema_decay: float | None = 0.99
    epsilon: float = 1e-5
    normalize_codewords: bool = True
    kmeans_init: bool = True
    kmeans_iters: int = 50
    dead_code_threshold: float = 2.0
    dead_code_clamp: float | None = 1.0
    code_usage_decay: float = 0.98
    commitment_weight: float = 0.25
    codebook_weight: float = 1.0
    quantizer_dropout: float = 0.0
    projection: Literal["linear", "conv1x1_weight_norm"] = "linear"
    loss_reduction: Literal["mean", "sum"] = "mean"
    detach_residual: bool = True
    warmup_steps: int = 0

    def to_dict(self):
        """Return the configuration as a JSON-serialisable dict."""
        return asdict(self)


class QuantizerOutput(NamedTuple):
    """What a training-mode forward of the quantizer returns."""

    quantized: torch.Tensor
    """Quantized latent, shape (batch, dim, n_frames), straight-through."""
    codes: torch.Tensor
    """Integer codes, shape (batch, n_codebooks, n_frames)."""
    loss: torch.Tensor
    """Commitment (+ codebook) loss, mean over levels."""


def kmeans(samples, n_clusters, n_iters=50, generator=None):
    """Lloyd's k-means with Euclidean distance.

    Parameters
    ----------
    samples : torch.Tensor, shape (n_samples, dim)
        Data.
    n_clusters : int
        Number of centroids.
    n_iters : int
        Number of iterations.
    generator : torch.Generator | None
        Random generator for the initial centroids.

    Returns
    -------
    centroids : torch.Tensor, shape (n_clusters, dim)
    counts : torch.Tensor, shape (n_clusters,)
        Number of samples assigned to each centroid at the last iteration.
    """
    n_samples = samples.shape[0]
    device = samples.device
    if n_samples >= n_clusters:
        idx = torch.randperm(n_samples, device=device, generator=generator)[:n_clusters]
    else:
        idx = torch.randint(0, n_samples, (n_clusters,), device=device, generator=generator)
    centroids = samples[idx].clone()
    sq_norm = samples.pow(2).sum(1, keepdim=True)
    counts = torch.zeros(n_clusters, dtype=samples.dtype, device=device)
    for _ in range(n_iters):
        # squared distances via one matrix product (no n x k x d tensor)
        dist = sq_norm - 2 * samples @ centroids.T + centroids.pow(2).sum(1)
        assign = dist.argmin(dim=1)
        counts = torch.bincount(assign, minlength=n_clusters).to(samples.dtype)
        sums = torch.zeros_like(centroids).index_add_(0, assign, samples)
        empty = counts == 0
        new = sums / counts.clamp(min=1)[:, None]
        centroids = torch.where(empty[:, None], centroids, new)
    return centroids, counts


#: Rows of the distance matrix computed at a time on the CPU (at least this
#: many per block, fewer only when there are fewer rows). A block of 256 x 8192
#: floats stays in the last-level cache while the elementwise passes and the
#: argmin run (the whole matrix, tens of MB, goes to memory several times).
#: BLAS may pick another kernel, with other roundings, for a product of very
#: few rows (MKL does below 4 rows per thread); the blocks are large enough to
#: stay on the kernel of the whole matrix, so the codes are those of one matmul
#: (blocks never have fewer than 8 rows per thread).
ASSIGN_BLOCK_ROWS = 256


#: Per (dtype, dim): whether ``addmm(s, z, e.T, alpha=-2)`` gives exactly
#: ``s - z @ (2e).T`` (one rounding of the subtraction, as the reference's
#: separate operations) with this BLAS. MKL does (a BLAS that splits the depth
#: into several passes, or a kernel that starts its sums from ``s``, would
#: not): checked on the first block of real data, the fused form used only if
#: equal.
_FUSED_EXACT = {}


def _argmin_rows(d, width=128):
    """``d.argmin(1)`` for a 2-d ``d``, with the same result, faster on the CPU.

    PyTorch's CPU argmin is a scalar loop, while ``amin`` is vectorised. Each
    row is cut into blocks of ``width``; the first block whose minimum equals
    the row minimum holds the row's first minimum, and an argmin within that
    block alone finds it. Ties (first index), signed zeros and NaN (the first
    NaN wins, as in argmin) resolve exactly as in ``d.argmin(1)``.
    """
    m, k = d.shape
    if k % width or k < 2 * width or not d.is_contiguous():
        return d.argmin(1)
    blocks = d.view(m, k // width, width)
    first = blocks.amin(2).argmin(1)
    rows = torch.arange(m, device=d.device)
    return first * width + blocks[rows, first].argmin(1)


def _nearest_normalized(x, embed, block_rows=None):
    """NeuroRVQ's assignment: argmin of ``||z||^2 + ||e||^2 - 2 z.e``, ``z = x/||x||``.

    The distance is evaluated with the reference's operation order and
    roundings (``(||z||^2 + ||e||^2) - z @ (2e).T``; ``z @ (2e).T`` equals
    ``2 * (z @ e.T)`` bit for bit, scaling by 2 being exact), so that
    near-ties resolve as in the authors' code. On the CPU the rows go in
    blocks of ``block_rows`` into a reused per-thread buffer: this avoids
    allocating (and page-faulting) matrices of tens of MB and keeps the passes
    over the block in cache. The subtraction is fused into the GEMM where that rounds
    alike (see ``_FUSED_EXACT``).

    Parameters
    ----------
    x : torch.Tensor, shape (n, dim)
        Vectors to quantize (not normalised).
    embed : torch.Tensor, shape (codebook_size, dim)
        Codewords (any norm).
    block_rows : int | None
        Rows per block (default: :data:`ASSIGN_BLOCK_ROWS`), at least 8 per
        thread; blocks hold between ``block_rows`` and ``2 * block_rows - 1``
        rows (one block when ``n < 2 * block_rows``).

    Returns
    -------
    codes : torch.Tensor, shape (n,)
        Index of the nearest codeword (first index on ties).
    """
    z = F.normalize(x, dim=1)
    z_sq = z.pow(2).sum(1, keepdim=True)
    e_sq = embed.pow(2).sum(1)
    n = z.shape[0]
    if x.device.type != "cpu":
        return (z_sq + e_sq - z @ (2 * embed).T).argmin(1)
    if block_rows is None:
        block_rows = ASSIGN_BLOCK_ROWS
    # never fewer than 8 rows per thread: MKL's kernel for 1 to 3 rows (per
    # thread) rounds otherwise, and would flip near-ties (measured)
    block_rows = max(int(block_rows), 8 * torch.get_num_threads())
    n_blocks = max(1, n // block_rows)
    bounds = [i * n // n_blocks for i in range(n_blocks + 1)]
    rows = max(b - a for a, b in zip(bounds[:-1], bounds[1:])) if n else 0
    dist = _scratch(rows, embed.shape[0], z)
    e2t, key = None, (z.dtype, z.shape[1])
    codes = torch.empty(n, dtype=torch.long, device=z.device)
    for a, b in zip(bounds[:-1], bounds[1:]):
        d = torch.add(z_sq[a:b], e_sq, out=dist[:b - a])
        fused = _FUSED_EXACT.get(key)
        if fused:
            # one pass fewer: the product is subtracted inside the GEMM
            # (beta = 1, alpha = -2: scaling by -2 is exact wherever BLAS applies it)
            d.addmm_(z[a:b], embed.T, alpha=-2)
        else:
            if e2t is None:
                e2t = (2 * embed).T
            p = torch.mm(z[a:b], e2t)
            if fused is None:  # first block of the process: does addmm round alike?
                _FUSED_EXACT[key] = torch.equal(torch.addmm(d, z[a:b], embed.T, alpha=-2),
                                                d - p)
            d.sub_(p)
        codes[a:b] = _argmin_rows(d)
    return codes


_SCRATCH = threading.local()


def _scratch(rows, cols, like):
    """Return a (rows, cols) work buffer like ``like``, kept per thread and reused.

    A fresh buffer of several MB per codebook lookup would be mapped and
    page-faulted by the allocator at every call (NeuroRVQ makes 32 per window
    batch); the buffer is only written and read within one lookup.
    """
    buf = getattr(_SCRATCH, "buf", None)
    size = rows * cols
    # an inference-mode tensor cannot be written in place outside inference
    # mode (and a normal one inside it is fine, but keep them apart anyway)
    if (buf is None or buf.numel() < size or buf.dtype != like.dtype
            or buf.device != like.device or buf.is_inference() != like.is_inference()):
        buf = _SCRATCH.buf = like.new_empty(size)
    return buf[:size].view(rows, cols)


class Codebook(nn.Module):
    """One codebook with its assignment rule and (optional) EMA state."""

    def __init__(self, config: RVQConfig, dim: int):
        super().__init__()
        self.config = config
        size = config.codebook_size
        if config.ema_decay is None:
            embed = torch.empty(size, dim)
            nn.init.kaiming_uniform_(embed)
            self.embed = nn.Parameter(embed)
        else:
            init = torch.zeros(size, dim)
            if not config.kmeans_init:
                nn.init.kaiming_uniform_(init)
            self.register_buffer("embed", init)
            self.register_buffer("embed_avg", init.clone())
            self.register_buffer("cluster_size", torch.zeros(size))
        if config.ema_decay is None and config.dead_code_threshold > 0:
            self.register_buffer("code_usage", torch.ones(size))
        # without k-means the flag never changes: keep it out of the state dict
        # so that files without it (DAC's) load strictly
        self.register_buffer("inited", torch.tensor([float(not config.kmeans_init)]),
                             persistent=config.kmeans_init)

    # -- assignment ----------------------------------------------------------
    def scores(self, x):
        """Score ``x`` (n, dim) against every code, as (n, codebook_size).

        The code with the highest score wins (first index on ties); the gap
        between the two best scores says how close a token is to a tie.
        """
        embed = self.embed
        if self.config.distance == "cosine":
            # eps as F.normalize's default, so near-ties resolve like the
            # reference implementations
            return F.normalize(x, dim=1) @ F.normalize(embed, dim=1).T
        if self.config.distance == "normalized_euclidean":
            # the very sum NeuroRVQ evaluates (same operation order), so that
            # near-ties resolve as in the reference
            z = F.normalize(x, dim=1)
            return -(z.pow(2).sum(1, keepdim=True) + embed.pow(2).sum(1) - 2 * (z @ embed.T))
        # argmax of -||x - e||^2 = argmax of 2 x.e - ||e||^2
        return 2 * x @ embed.T - embed.pow(2).sum(1)

    def assign(self, x):
        """Return code indices for ``x`` of shape (n, dim): one matmul."""
        if self.config.distance == "normalized_euclidean":
            with torch.no_grad():  # integer codes: no gradient, and out= needs none
                return _nearest_normalized(x.detach(), self.embed.detach())
        return self.scores(x).argmax(dim=1)

    @property
    def usage(self):
        """Moving average of each code's uses per training step, or ``None``.

        ``cluster_size`` for EMA codebooks, ``code_usage`` for gradient ones
        with dead-code replacement; codes below ``dead_code_threshold`` are
        replaced.
        """
        if self.config.ema_decay is not None:
            return self.cluster_size
        return getattr(self, "code_usage", None)

    def lookup(self, codes):
        """Return the raw codewords for integer ``codes``."""
        return F.embedding(codes, self.embed)

    # -- training-time state changes -----------------------------------------
    @torch.no_grad()
    def _kmeans_init(self, x):
        centroids, counts = kmeans(x, self.config.codebook_size, self.config.kmeans_iters)
        if self.config.normalize_codewords:
            centroids = F.normalize(centroids, dim=1)
        self.embed.data.copy_(centroids)
        if self.config.ema_decay is not None:
            self.embed_avg.data.copy_(centroids)
            self.cluster_size.data.copy_(counts)
        self.inited.fill_(1.0)

    @torch.no_grad()
    def _ema_update(self, x, codes):
        cfg = self.config
        onehot_counts = torch.bincount(codes, minlength=cfg.codebook_size).to(x.dtype)
        sums = torch.zeros_like(self.embed_avg).index_add_(0, codes, x)
        self.cluster_size.mul_(cfg.ema_decay).add_(onehot_counts, alpha=1 - cfg.ema_decay)
        self.embed_avg.mul_(cfg.ema_decay).add_(sums, alpha=1 - cfg.ema_decay)
        self._embed_from_statistics()

    @torch.no_grad()
    def _embed_from_statistics(self):
        """Set the codewords from the EMA sums and Laplace-smoothed cluster sizes."""
        cfg = self.config
        total = self.cluster_size.sum()
        smoothed = ((self.cluster_size + cfg.epsilon)
                    / (total + cfg.codebook_size * cfg.epsilon) * total)
        embed = self.embed_avg / smoothed[:, None]
        if cfg.normalize_codewords:
            embed = F.normalize(embed, dim=1)
        self.embed.data.copy_(embed)

    @torch.no_grad()
    def _replace_dead_codes(self, x):
        """Replace rarely used codes with batch vectors.

        Unlike the EnCodec/BioCodec release, where the replaced codewords are
        overwritten by the EMA step that follows, the EMA statistics of the
        replaced codes are reset too, so that the replacement takes effect.
        """
        cfg = self.config
        if cfg.dead_code_threshold <= 0:
            return 0
        dead = self.usage < cfg.dead_code_threshold
        n_dead = int(dead.sum())
        if n_dead == 0:
            return 0
        idx = torch.randint(0, x.shape[0], (n_dead,), device=x.device)
        new = x[idx]
        if cfg.dead_code_clamp is not None:
            new = new.clamp(-cfg.dead_code_clamp, cfg.dead_code_clamp)
        if cfg.normalize_codewords:
            new = F.normalize(new, dim=1)
        self.embed.data[dead] = new
        if cfg.ema_decay is None:
            self.code_usage[dead] = 1.0  # a grace period before the next check
            return n_dead
        self.embed_avg.data[dead] = new * cfg.dead_code_threshold
        self.cluster_size.data[dead] = cfg.dead_code_threshold
        return n_dead

    @property
    def n_dead(self):
        """Number of codes below ``dead_code_threshold`` (``None`` without usage statistics)."""
        usage = self.usage
        if usage is None:
            return None
        return int((usage < self.config.dead_code_threshold).sum())

    @torch.no_grad()
    def synchronize(self, broadcast=False):
        """Make this codebook identical on every rank of ``torch.distributed``.

        Every rank updates its codebook in place from its own batch (EMA,
        k-means initialisation, dead-code replacement); this is called after
        each training step so that the ranks keep one codebook.

        Parameters
        ----------
        broadcast : bool
            Copy rank 0's state, e.g. after k-means initialisation, when the
            ranks' codebooks are unrelated. Otherwise the EMA statistics are
            averaged over the ranks (a linear function of the batch, so their
            mean is the EMA of the global batch up to a constant) and the
            codewords recomputed from them with the rule of the EMA update.
            Codebooks learned by gradient are kept equal by
            DistributedDataParallel; only the codewords each rank replaced
            with vectors of its own batch (and their usage) come from rank 0.
        """
        if self.config.ema_decay is None:
            if self.usage is not None:
                dist.broadcast(self.embed.data, 0)
                dist.broadcast(self.code_usage, 0)
            return
        if broadcast:
            for buf in (self.embed, self.embed_avg, self.cluster_size, self.inited):
                dist.broadcast(buf, 0)
            return
        flat = torch.cat([self.embed_avg.reshape(-1), self.cluster_size])
        dist.all_reduce(flat)
        flat /= dist.get_world_size()
        n = self.embed_avg.numel()
        self.embed_avg.copy_(flat[:n].view_as(self.embed_avg))
        self.cluster_size.copy_(flat[n:])
        self._embed_from_statistics()

    @torch.no_grad()
    def _track_usage(self, codes):
        """Update ``code_usage`` of a gradient codebook with a step's codes."""
        counts = torch.bincount(codes, minlength=self.config.codebook_size)
        decay = self.config.code_usage_decay
        self.code_usage.mul_(decay).add_(counts.to(self.code_usage.dtype), alpha=1 - decay)


class _PointwiseConv1d(nn.Conv1d):
    """A 1x1 ``Conv1d`` applied to rows ``(n, in_channels)`` as a linear map.

    It is a convolution only so that its parameters have the names and
    shapes of DAC's weight-normalised projections.
    """

    def __init__(self, in_channels, out_channels):
        super().__init__(in_channels, out_channels, kernel_size=1)

    def forward(self, x):
        return F.linear(x, self.weight[..., 0], self.bias)


def _projection(kind, in_dim, out_dim):
    if kind == "linear":
        return nn.Linear(in_dim, out_dim)
    if kind == "conv1x1_weight_norm":
        return weight_norm(_PointwiseConv1d(in_dim, out_dim))
    raise ValueError(f"projection must be 'linear' or 'conv1x1_weight_norm', got {kind!r}")


def _masked_mse(a, b, mask):
    """Mean squared error where rows with ``mask == 0`` count as zero (DAC)."""
    if mask is None:
        return F.mse_loss(a, b)
    return ((a - b).pow(2) * mask[:, None]).mean()


class VectorQuantizer(nn.Module):
    """One level of the residual quantizer: projection + codebook."""

    def __init__(self, config: RVQConfig):
        super().__init__()
        cb_dim = config.codebook_dim or config.dim
        if cb_dim != config.dim:
            self.project_in = _projection(config.projection, config.dim, cb_dim)
            self.project_out = _projection(config.projection, cb_dim, config.dim)
        else:
            self.project_in = nn.Identity()
            self.project_out = nn.Identity()
        self.codebook = Codebook(config, cb_dim)
        self.config = config

    def encode(self, z):
        """Codes for latents ``z`` of shape (n, dim)."""
        return self.codebook.assign(self.project_in(z))

    def decode(self, codes):
        """Latent-space vectors (n, dim) for codes (n,)."""
        return self.project_out(self.codebook.lookup(codes))

    def forward(self, z, mask=None):
        """Training/eval forward on ``z`` (n, dim): (quantized, codes, loss).

        ``mask`` (n,) zeroes the losses of rows that drop this level.
        """
        cfg = self.config
        zp = self.project_in(z)
        if cfg.distance == "normalized_euclidean":
            zp = F.normalize(zp, dim=1)
        codebook = self.codebook
        if self.training and not bool(codebook.inited):
            codebook._kmeans_init(zp.detach())
        codes = codebook.assign(zp.detach())
        q = codebook.lookup(codes)
        loss = zp.new_zeros(())
        if self.training:
            if cfg.commitment_weight > 0:
                loss = loss + cfg.commitment_weight * _masked_mse(zp, q.detach(), mask)
            if cfg.ema_decay is None:
                loss = loss + cfg.codebook_weight * _masked_mse(q, zp.detach(), mask)
                if cfg.dead_code_threshold > 0:
                    # rows that drop this level (quantizer dropout) do not count
                    used = codes if mask is None else codes[mask > 0]
                    codebook._track_usage(used)
                    codebook._replace_dead_codes(zp.detach())
            else:
                # rows that drop this level (quantizer dropout) hold the residual of an
                # earlier level: they must not pull this level's codewords towards it
                kept = zp.detach() if mask is None else zp.detach()[mask > 0]
                if len(kept):
                    codebook._replace_dead_codes(kept)
                    codebook._ema_update(kept, codes if mask is None else codes[mask > 0])
            q = zp + (q - zp).detach()  # straight-through estimator
        return self.project_out(q), codes, loss


class ResidualVQ(nn.Module):
    """Residual vector quantizer.

    Parameters
    ----------
    config : RVQConfig
        Its configuration.

    Notes
    -----
    Latents are laid out as (batch, dim, n_frames) as in convolutional codecs;
    codes as (batch, n_codebooks, n_frames).
    """

    def __init__(self, config: RVQConfig):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(VectorQuantizer(config) for _ in range(config.n_codebooks))
        # without a warm-up the count never changes: kept out of the state dict
        # so that files without it (DAC's) load strictly
        self.register_buffer("warmup_count", torch.zeros((), dtype=torch.long),
                             persistent=config.warmup_steps > 0)

    @property
    def warming_up(self):
        """Whether the next training forward bypasses the quantizer."""
        return int(self.warmup_count) < self.config.warmup_steps

    @property
    def n_codebooks(self):
        """Number of levels available."""
        return len(self.layers)

    def _check_n(self, n_codebooks):
        n = self.n_codebooks if n_codebooks is None else int(n_codebooks)
        if not 1 <= n <= self.n_codebooks:
            raise ValueError(
                f"n_codebooks must be between 1 and {self.n_codebooks}, got {n_codebooks}"
            )
        return n

    @staticmethod
    def _flatten(z):
        b, d, t = z.shape
        return z.transpose(1, 2).reshape(b * t, d), (b, t)

    def encode(self, z, n_codebooks=None):
        """Quantize ``z`` (batch, dim, n_frames) to codes (batch, n, n_frames).

        Deterministic and read-only: the codebooks are never updated here.
        """
        n = self._check_n(n_codebooks)
        residual, (b, t) = self._flatten(z)
        codes = []
        for layer in self.layers[:n]:
            c = layer.encode(residual)
            residual = residual - layer.decode(c)
            codes.append(c)
        return torch.stack(codes, 1).view(b, t, n).transpose(1, 2)

    def decode(self, codes):
        """Sum of the levels' codewords for ``codes`` (batch, n, n_frames)."""
        if codes.ndim != 3 or codes.shape[1] > self.n_codebooks:
            raise ValueError(
                f"codes must have shape (batch, <= {self.n_codebooks}, n_frames), "
                f"got {tuple(codes.shape)}"
            )
        b, n, t = codes.shape
        flat = codes.transpose(1, 2).reshape(b * t, n)
        out = 0.0
        for k in range(n):
            out = out + self.layers[k].decode(flat[:, k])
        return out.view(b, t, -1).transpose(1, 2)

    @torch.no_grad()
    def flip_gaps(self, residual, codes_a, codes_b):
        """How near a tie each token was where two codings of it differ.

        Float results change with batch shape, thread count or device, so a
        token whose two best codewords score within float noise may flip. For
        each token where ``codes_a`` and ``codes_b`` differ, this gives, at the
        first level they differ (later levels follow another residual), the
        gap between the two codes' scores on ``codes_a``'s residual divided
        by the range of that level's scores.

        Parameters
        ----------
        residual : Tensor, shape (n_tokens, dim)
            The latent of each token, before quantization.
        codes_a, codes_b : Tensor, shape (n_tokens, n_levels)
            Two codings of the tokens (integer).

        Returns
        -------
        gaps : Tensor, shape (n_differing,)
            Relative score gap of each differing token.
        levels : Tensor, shape (n_differing,)
            The level at which it first differs.
        """
        decided = torch.zeros(len(codes_a), dtype=torch.bool)
        gaps, levels = [], []
        for level, layer in enumerate(self.layers[: codes_a.shape[1]]):
            scores = layer.codebook.scores(layer.project_in(residual))
            first = (codes_a[:, level] != codes_b[:, level]) & ~decided
            if first.any():
                sa = scores[first, codes_a[first, level]]
                sb = scores[first, codes_b[first, level]]
                spread = scores[first].max(1).values - scores[first].min(1).values
                gaps.append((sa - sb).abs() / spread)
                levels.append(torch.full((int(first.sum()),), level))
            decided |= first
            residual = residual - layer.decode(codes_a[:, level])
        if not gaps:
            return torch.zeros(0), torch.zeros(0, dtype=torch.long)
        return torch.cat(gaps), torch.cat(levels)

    def forward(self, z, n_codebooks=None, group_size=1):
        """Quantize with straight-through gradients and training updates.

        Parameters
        ----------
        z : torch.Tensor, shape (batch, dim, n_frames)
            Latents.
        n_codebooks : int | None
            Levels to use (default: all).
        group_size : int
            Consecutive batch rows that share one draw of quantizer dropout:
            the channels of a window, for a codec that decodes them jointly
            (at inference they all use the same levels).

        Returns
        -------
        out : QuantizerOutput
            ``quantized`` (batch, dim, n_frames), ``codes`` and ``loss``.
        """
        n = self._check_n(n_codebooks)
        with torch.autocast(z.device.type, enabled=False):  # codebook maths in fp32
            return self._forward(z.float(), n, group_size)

    def _forward(self, z, n, group_size):
        if self.training and self.warming_up:
            self.warmup_count += 1
            with torch.no_grad():
                codes = self.encode(z, n)  # what the codes would be, for logging
            # every parameter in the graph with a zero gradient, as
            # DistributedDataParallel expects of all of them at every step
            zero = sum(p.sum() for p in self.parameters()) * 0.0
            return QuantizerOutput(z, codes, zero)
        residual, (b, t) = self._flatten(z)
        quantized = torch.zeros_like(residual)
        codes, losses = [], []
        keep = None
        if self.training and self.config.quantizer_dropout > 0:
            # per-sample number of levels (DAC): a fraction of the batch uses
            # a random prefix of the levels
            if b % group_size:
                raise ValueError(f"group_size {group_size} does not divide the batch of {b}")
            groups = b // group_size
            n_per = torch.full((groups,), n, device=z.device)
            drop = torch.rand(groups, device=z.device) < self.config.quantizer_dropout
            n_per[drop] = torch.randint(1, n + 1, (int(drop.sum()),), device=z.device)
            keep = n_per.repeat_interleave(group_size * t)
        for k, layer in enumerate(self.layers[:n]):
            mask = None if keep is None else (k < keep).to(residual.dtype)
            q, c, loss = layer(residual, mask)
            if mask is not None:
                q = q * mask[:, None]
            residual = residual - (q.detach() if self.config.detach_residual else q)
            quantized = quantized + q
            codes.append(c)
            losses.append(loss)
        codes = torch.stack(codes, 1).view(b, t, n).transpose(1, 2)
        quantized = quantized.view(b, t, -1).transpose(1, 2)
        losses = torch.stack(losses)
        loss = losses.sum() if self.config.loss_reduction == "sum" else losses.mean()
        return QuantizerOutput(quantized, codes, loss)


class CodebookSync:
    """Keep the codebooks of a model identical over the ranks of ``torch.distributed``.

    The codebooks update themselves in training forwards (EMA, k-means
    initialisation, dead-code replacement), each rank from its own batch.
    Call :meth:`before_step` before and :meth:`after_step` after every
    training step: the state of a codebook that was initialised during the
    step is broadcast from rank 0, every other codebook is reconciled by
    :meth:`Codebook.synchronize`. Single-process training needs neither.

    Parameters
    ----------
    model : torch.nn.Module
        Any module; every :class:`Codebook` in it is kept (e.g. the four
        branch quantizers of NeuroRVQ).
    """

    def __init__(self, model):
        self.codebooks = [m for m in model.modules() if isinstance(m, Codebook)]
        self._inited = None

    def before_step(self):
        """Note which codebooks are initialised before the step."""
        self._inited = [bool(cb.inited) for cb in self.codebooks]

    def after_step(self):
        """Reconcile the ranks' codebooks after the step."""
        inited = self._inited or [True] * len(self.codebooks)
        just_inited = any(not was and bool(cb.inited)
                          for was, cb in zip(inited, self.codebooks))
        for cb in self.codebooks:
            cb.synchronize(broadcast=just_inited)

    def dead_codes(self):
        """``{"dead_k": count}`` of every codebook with usage statistics (1-based ``k``)."""
        out = {}
        for k, cb in enumerate(self.codebooks):
            n_dead = cb.n_dead
            if n_dead is not None:
                out[f"dead_{k + 1}"] = n_dead
        return out
