"""NeuroRVQ-FM: the masked-token foundation model of NeuroRVQ (stage 2).

Barmpas et al. 2025, "NeuroRVQ: multi-scale EEG tokenization for generative
large brainwave models" (arXiv 2510.13068); reference code
KonstantinosBarmpas/NeuroRVQ (``NeuroRVQFM`` in ``NeuroRVQ/NeuroRVQ.py``).
The reference code and the authors' weights
(``NeuroRVQ_EEG_foundation_model_v1.pt``) are licensed **CC BY-NC 4.0**
(non-commercial); this module is our own implementation (BSD-3) with the
authors' parameter names, so that their file loads strictly
(:func:`mne_codec.checkpoints.load_neurorvq_fm`).

The model reads the raw signal, not tokens: the tokenizer's multi-scale
front (:class:`~mne_codec.models.neurorvq.MultiDimentionalTemporalConv`)
embeds every 1-s patch four times; one transformer (12 blocks of 200-d, 10
heads, q/k LayerNorm, layer scale 1e-5; shared by the branches, each branch
run on its own) reads each branch's channel-major sequence with a cls token
and the spatial (electrode) and temporal embeddings. For pre-training, the
patches of a random mask are replaced by ``mask_token`` in every branch
(one token, shared by the branches, as upstream), a second pass replaces the
complementary patches (the "symmetric" mask of LaBraM), and after
``norm_pre`` one linear head per target row (``head_pre_1`` ...) predicts
the target tokenizer's code of every masked patch: with the authors'
NeuroRVQ tokenizer, 32 heads over 8192 codes, heads 1-8 reading branch 1
(its 8 RVQ levels), 9-16 branch 2, and so on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..weights import CheckpointError, load_state_strict
from . import convert
from .tokenizer import (
    MODALITY_CHANNELS,
    Block,
    MultiDimentionalTemporalConv,
    _ElectrodeIndexing,
    _embed_tokens,
    _FrontConfig,
    _init_weights,
    modality_of,
    neurorvq_preprocessing,
)

__all__ = ["NeuroRVQFMConfig", "NeuroRVQFM", "random_patch_mask"]


@dataclass
class NeuroRVQFMConfig(_FrontConfig):
    """Architecture of a NeuroRVQ foundation model.

    Defaults are the authors' EEG v1 foundation model
    (``flags/NeuroRVQ_EEG_v1.yml``, ``*_second_stage``): 5.87 M parameters
    without the prediction heads, 58.56 M with the 32 heads over 8192 codes.

    Parameters
    ----------
    patch_size : int
        Samples per patch (one token per channel and patch).
    n_patches : int
        Rows of the temporal embedding table (patch ``a`` of ``A`` gets row
        ``n_patches - A + a``), and the token budget of a window.
    n_global_electrodes : int
        Size of the electrode vocabulary (``pos_embed`` has one row more).
    out_chans : int
        Feature maps per convolution branch (``embed_dim = out_chans *
        patch_size / prod(pools)``).
    branch_kernels : tuple of (int, int)
        Kernel sizes of the two temporal convolutions of every branch.
    pools : tuple of (int, int)
        Average-pooling factors after the two convolutions.
    norm_groups : int
        Groups of the GroupNorm layers.
    embed_dim : int
        Transformer width.
    depth : int
        Transformer blocks.
    num_heads : int
        Attention heads (q and k pass a per-head LayerNorm, eps 1e-6).
    mlp_ratio : float
        MLP hidden width / ``embed_dim``.
    qkv_bias : bool
        q and v biases.
    init_values : float
        Layer-scale initial value (0: no layer scale).
    vocab_size : int
        Codebook size of the target tokenizer (outputs of every head).
    n_targets : int
        Prediction heads: one per code the target tokenizer gives a patch
        (32 = 4 branches x 8 levels for NeuroRVQ). 0 builds the encoder only
        (fine-tuning).
    max_tokens : int | None
        Largest ``n_channels * n_patches`` per window (``None``: ``n_patches``).
    canonical_names : bool
        Read channel names through the package's 10-05 vocabulary first (see
        :class:`~mne_codec.models.NeuroRVQConfig`); False for the authors'
        weights.
    preprocessing : Preprocessing
        What the model reads (the tokenizer's: microvolts at 200 Hz).
    """

    depth: int = 12
    init_values: float = 1e-5
    vocab_size: int = 8192
    n_targets: int = 32

    def __post_init__(self):
        super().__post_init__()
        if self.n_targets < 0 or self.vocab_size < 1:
            raise ValueError("n_targets must be >= 0 and vocab_size >= 1")

    def head_branch(self, row):
        """Branch (0-based) whose features head ``row`` (0-based) reads.

        The heads are shared out in contiguous blocks: ``row * n_branches //
        n_targets``; with 32 heads and 4 branches, heads 0-7 read branch 0,
        as upstream.
        """
        return row * self.n_branches // self.n_targets


def random_patch_mask(batch_size, n_tokens, mask_ratio=0.5, generator=None, device=None):
    """Random patch mask with a fixed number of masked tokens per item.

    As LaBraM's and NeuroRVQ's pre-training: ``round(mask_ratio * n_tokens)``
    tokens of every item, drawn uniformly without replacement (at least one
    masked and, when ``n_tokens > 1``, at least one visible, so that both
    the mask and its complement predict something).

    Parameters
    ----------
    batch_size, n_tokens : int
        Shape of the mask.
    mask_ratio : float
        Fraction of masked tokens, in (0, 1).
    generator : torch.Generator | None
        Random generator (CPU).
    device : torch.device | str | None
        Device of the returned mask.

    Returns
    -------
    mask : torch.Tensor of bool, shape (batch_size, n_tokens)
        True where the token is masked.
    """
    if not 0.0 < mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio!r}")
    n_mask = int(round(mask_ratio * n_tokens))
    n_mask = min(max(n_mask, 1), max(n_tokens - 1, 1))
    order = torch.rand(batch_size, n_tokens, generator=generator).argsort(dim=1)
    mask = order < n_mask
    return mask.to(device) if device is not None else mask


class NeuroRVQFM(_ElectrodeIndexing, nn.Module):
    """NeuroRVQ foundation model: multi-scale front, transformer, masked-token heads.

    Parameters
    ----------
    config : NeuroRVQFMConfig | None
        Architecture; the authors' EEG v1 foundation model by default.

    Notes
    -----
    Parameter names are the authors' (``cls_token``, ``pos_embed``,
    ``time_embed``, ``mask_token``, ``patch_embed.*``, ``blocks.*``,
    ``norm_pre.*``, ``head_pre_k.*``), the layout of their pre-training model
    (``use_for_pretraining=True``), in which the released file is saved.
    Initialisation as upstream (truncated normal 0.02, the output projections
    of block ``l`` divided by ``sqrt(2 l)``).

    The branches run through the blocks as one batch (``n_branches *
    batch`` sequences), which computes the same as upstream's loop over
    branches.

    :meth:`features` gives what the authors' fine-tuning reads: the blocks'
    output without ``norm_pre`` (their fine-tuning model replaces it by an
    identity), the branches concatenated (``n_branches * embed_dim``).
    """

    family = "neurorvq_fm"
    #: the authors' checkpoint format that :meth:`from_authors_state` reads
    authors_format = "neurorvq_fm"
    #: licence of the authors' weights (warned once per process when loaded)
    authors_weights_license = ("CC BY-NC 4.0 (weights and reference code; non-commercial use "
                               "only)")

    @classmethod
    def from_authors_state(cls, obj, source="checkpoint", config=None):
        """Build a NeuroRVQ-FM from an authors' state dict (CC BY-NC 4.0 weights).

        Their file is the ``state_dict()`` of their pre-training model; it is
        loaded strictly, every key of the model present with its shape and no
        other. The prediction heads (``head_pre_*``) may be absent as a whole:
        the model is then built without them (``n_targets=0``).

        Parameters
        ----------
        obj : dict
            The state dict (or ``{"model": ...}``), as loaded.
        source : str
            Where it comes from, for the error messages.
        config : NeuroRVQFMConfig | None
            Architecture (default: read from the tensors' shapes, see
            :func:`~mne_codec.models.neurorvq.convert.fm_config_fields`).

        Returns
        -------
        model : NeuroRVQFM
            In eval mode, with empty ``meta``.
        """
        state = convert.fm_state_from_authors(obj, source)
        if config is None:
            fields = convert.fm_config_fields(state, source)
            modality = modality_of(fields["n_global_electrodes"], fields["patch_size"])
            if modality is not None:  # the channel names, rate and recipe of its modality
                fields.update(modality=modality, channels=MODALITY_CHANNELS[modality],
                              preprocessing=neurorvq_preprocessing(modality))
            try:
                config = NeuroRVQFMConfig(**fields)
            except (ValueError, ZeroDivisionError) as err:
                raise CheckpointError(f"{source} is not a NeuroRVQ foundation-model state "
                                      f"dict ({type(err).__name__}: {err}).") from err
        model = load_state_strict(cls(config), state, source)
        model.meta = {}
        return model.eval()

    def __init__(self, config=None):
        super().__init__()
        self.config = config or NeuroRVQFMConfig()
        cfg = self.config
        d = cfg.embed_dim
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.patch_embed = MultiDimentionalTemporalConv(cfg)
        self.pos_embed = nn.Parameter(torch.zeros(cfg.n_global_electrodes + 1, d))
        self.time_embed = nn.Parameter(torch.zeros(cfg.n_patches, d))
        self.blocks = nn.ModuleList(
            Block(d, cfg.num_heads, cfg.mlp_ratio, cfg.qkv_bias, cfg.init_values)
            for _ in range(cfg.depth)
        )
        self.mask_token = nn.Parameter(torch.zeros(1, 1, d))
        self.norm_pre = nn.LayerNorm(d)
        for k in range(1, cfg.n_targets + 1):
            setattr(self, f"head_pre_{k}", nn.Linear(d, cfg.vocab_size))
        for p in (self.pos_embed, self.time_embed, self.cls_token, self.mask_token):
            nn.init.trunc_normal_(p, std=0.02)
        self.apply(_init_weights)
        with torch.no_grad():
            for layer, blk in enumerate(self.blocks, start=1):
                blk.attn.proj.weight.div_(math.sqrt(2.0 * layer))
                blk.mlp.fc2.weight.div_(math.sqrt(2.0 * layer))

    # -- description ------------------------------------------------------------------
    @property
    def preprocessing(self):
        """What the model reads (:class:`~mne_codec.preprocessing.Preprocessing`)."""
        return self.config.preprocessing

    @property
    def sfreq(self):
        """Sampling frequency of the input (Hz)."""
        return self.config.preprocessing.sfreq

    @property
    def n_branches(self):
        """Number of convolution branches."""
        return self.config.n_branches

    @property
    def heads(self):
        """The prediction heads, in target-row order."""
        return [getattr(self, f"head_pre_{k}") for k in range(1, self.config.n_targets + 1)]

    def layer_id(self, name):
        """Depth index of a parameter, for layer-wise learning-rate decay.

        0 for everything before the first block (the convolution front and
        the cls, mask, spatial and temporal embeddings), ``l + 1`` for block
        ``l``, ``depth + 1`` for what follows the blocks (``norm_pre``, the
        prediction heads).

        Parameters
        ----------
        name : str
            A name from :meth:`named_parameters`.

        Returns
        -------
        layer : int
        """
        if name.startswith("blocks."):
            return int(name.split(".")[1]) + 1
        if name.startswith(("norm_pre.", "head_pre_")):
            return self.config.depth + 1
        return 0

    # -- the network ------------------------------------------------------------------
    def _branch_tokens(self, x, channels):
        """Per-branch patch tokens and the embedding rows of a batch of windows."""
        b, c, _ = x.shape
        n_patches, spatial, temporal = self._prepare(x, channels)
        patches = x.reshape(b, c * n_patches, self.config.patch_size)  # channel-major
        return self.patch_embed(patches), spatial, temporal

    def _transformer(self, tokens, spatial, temporal, norm):
        """Run the blocks on a list of (B, L, D) sequences as one batch; drop cls."""
        n = len(tokens)
        x = torch.cat(tokens, dim=0)
        if spatial.ndim == 2:  # per-item montages: repeat them for every sequence
            spatial = spatial.repeat(n, 1)
        x = _embed_tokens(self, x, spatial, temporal)
        for blk in self.blocks:
            x = blk(x)
        if norm:
            x = self.norm_pre(x)
        return list(x[:, 1:].chunk(n, dim=0))

    def features(self, x, channels):
        """Token features for fine-tuning: (batch, n_channels * n_patches, n_branches * embed_dim).

        Parameters
        ----------
        x : torch.Tensor, shape (batch, n_channels, n_times)
            Preprocessed windows (microvolts at 200 Hz for the authors'
            weights); ``n_times`` a multiple of the patch size and
            ``n_channels * n_patches`` within the token budget.
        channels : list of str | torch.Tensor
            Channel names (one montage for the batch) or indices (batch,
            n_channels) in :data:`mne_codec.channels.CHANNEL_VOCABULARY`.

        Returns
        -------
        features : torch.Tensor
            Channel-major tokens (``c * n_patches + a``), the branches
            concatenated in order; no final norm (as the authors' fine-tuning).
        """
        tokens, spatial, temporal = self._branch_tokens(x, channels)
        return torch.cat(self._transformer(tokens, spatial, temporal, norm=False), dim=-1)

    def forward(self, x, channels, mask, symmetric=True):
        """Masked-token logits, on the mask and on its complement.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, n_channels, n_times)
            Preprocessed windows.
        channels : list of str | torch.Tensor
            As :meth:`features`.
        mask : torch.Tensor of bool, shape (batch, n_channels * n_patches)
            True for the masked tokens (channel-major), e.g. from
            :func:`random_patch_mask`.
        symmetric : bool
            Also run the complementary mask (LaBraM's symmetric pass).

        Returns
        -------
        logits : torch.Tensor, shape (n_targets, n_masked, vocab_size)
            Predictions of head ``k`` for the masked tokens, in
            ``x[mask]`` order.
        logits_symmetric : torch.Tensor | None
            ``(n_targets, n_visible, vocab_size)``: the predictions for the
            tokens visible in the first pass, with those masked and the
            others visible (``None`` without ``symmetric``).
        """
        if self.config.n_targets == 0:
            raise RuntimeError("This model has no prediction heads (n_targets=0).")
        tokens, spatial, temporal = self._branch_tokens(x, channels)
        if mask.shape != tokens[0].shape[:2]:
            raise ValueError(f"mask must have shape {tuple(tokens[0].shape[:2])} (batch, "
                             f"n_channels * n_patches), got {tuple(mask.shape)}")
        mask = mask.bool()
        fill = self.mask_token.to(tokens[0].dtype)
        masks = [mask, ~mask] if symmetric else [mask]
        seqs = [torch.where(m[..., None], fill, t) for m in masks for t in tokens]
        out = self._transformer(seqs, spatial, temporal, norm=True)
        k = self.n_branches
        result = []
        for i, m in enumerate(masks):
            branches = out[i * k:(i + 1) * k]
            result.append(torch.stack([
                head(branches[self.config.head_branch(j)][m]) for j, head in enumerate(self.heads)
            ]))
        return result[0], (result[1] if symmetric else None)
