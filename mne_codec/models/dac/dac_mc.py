"""DAC-MC: DAC with electrode embeddings, attention across channels and a conditioned decoder.

Kastrati et al. 2025, "Adapting Neural Audio Codecs to EEG" (arXiv
2511.23142), their multi-channel extension of DAC
(:mod:`mne_codec.models.dac.model`).

:class:`DACMC` (Kastrati et al.'s multi-channel extension) keeps the DAC
generator and adds, around its quantizer, what lets channels inform each
other: a learned embedding of each electrode (rows of
:data:`mne_codec.channels.CHANNEL_VOCABULARY`, so any montage subset works),
attention across the channels of every latent frame before quantization,
and a decoder conditioned on the electrode (FiLM of the quantized latent).
Both additions are zero-initialised residuals, so a DAC-MC built from a DAC
(:meth:`DACMC.from_dac`) codes and decodes exactly as that DAC until it is
trained.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from ...channels import CHANNEL_VOCABULARY, channel_names, map_channels
from ...preprocessing import Preprocessing
from ..base import Encoding, decode_args, needs_names
from .model import DAC, DACConfig

__all__ = ["DACMCConfig", "DACMC", "DACMCEncoding"]


def _n_electrodes():
    return len(CHANNEL_VOCABULARY)


@dataclass
class DACMCConfig(DACConfig):
    """Architecture of a DAC-MC model: a :class:`DACConfig` and the channel modules.

    Every :class:`DACConfig` field and constructor (:meth:`~DACConfig.eeg`,
    :meth:`~DACConfig.release`) applies; the fields below size what DAC-MC
    adds (see :class:`DACMC`).

    Parameters
    ----------
    channel_dim : int
        Size of the learned electrode embedding.
    attention_dim : int
        Width of the attention across channels (the latent is projected to
        it and back).
    n_heads : int
        Attention heads (must divide ``attention_dim``).
    n_layers : int
        Attention blocks (attention + MLP, pre-norm).
    n_electrodes : int | None
        Rows of the electrode embedding (``None``: the size of
        :data:`mne_codec.channels.CHANNEL_VOCABULARY`, fixed at creation so
        that saved models keep loading if the vocabulary grows).
    """

    channel_dim: int = 64
    attention_dim: int = 256
    n_heads: int = 4
    n_layers: int = 1
    n_electrodes: int | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.n_electrodes is None:
            self.n_electrodes = _n_electrodes()
        if self.attention_dim % self.n_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must divide attention_dim "
                             f"({self.attention_dim})")

    @property
    def n_patches(self):
        """Frames of the one-channel window that the memory probe of
        :mod:`mne_codec.inference` codes (DAC-MC codes windows of any length).
        """
        return 64

    @classmethod
    def from_dac(cls, config, **kwargs):
        """Make the DAC-MC config of a :class:`DACConfig` (its every field), with ``kwargs``."""
        params = {f.name: getattr(config, f.name) for f in fields(DACConfig)}
        params["preprocessing"] = Preprocessing.from_dict(config.preprocessing.to_dict())
        params.update(kwargs)
        return cls(**params)


#: what :meth:`DACMC.encode` returned before the one codec protocol (kept for old code)
DACMCEncoding = Encoding


class _AttentionBlock(nn.Module):
    """Pre-norm self-attention + MLP over the tokens of a set (no positions)."""

    def __init__(self, width, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(),
                                 nn.Linear(4 * width, width))

    def forward(self, t):
        n, c, w = t.shape
        qkv = self.qkv(self.norm1(t)).view(n, c, 3, self.n_heads, w // self.n_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (n, heads, c, w / heads)
        a = F.scaled_dot_product_attention(q, k, v)
        t = t + self.proj(a.transpose(1, 2).reshape(n, c, w))
        return t + self.mlp(self.norm2(t))


class _ChannelMixer(nn.Module):
    """Attention across the channels of every latent frame, as a residual.

    The output projection starts at zero, so the module starts as the
    identity (exactly: ``z + 0``).
    """

    def __init__(self, config):
        super().__init__()
        d, w = config.latent_dim, config.attention_dim
        self.norm_in = nn.LayerNorm(d)
        self.project_in = nn.Linear(d, w)
        self.project_channel = nn.Linear(config.channel_dim, w)
        self.layers = nn.ModuleList(_AttentionBlock(w, config.n_heads)
                                    for _ in range(config.n_layers))
        self.norm_out = nn.LayerNorm(w)
        self.project_out = nn.Linear(w, d)
        nn.init.zeros_(self.project_out.weight)
        nn.init.zeros_(self.project_out.bias)

    def forward(self, z, emb):
        """``z`` (batch, C, D, F) and electrode embeddings ``emb`` (batch | 1, C, E)."""
        b, c, d, f = z.shape
        tokens = z.permute(0, 3, 1, 2)  # (b, f, c, d): the channels of each frame
        t = self.project_in(self.norm_in(tokens)) + self.project_channel(emb)[:, None]
        t = t.reshape(b * f, c, -1)
        for layer in self.layers:
            t = layer(t)
        delta = self.project_out(self.norm_out(t)).view(b, f, c, d)
        return z + delta.permute(0, 2, 3, 1)


class DACMC(DAC):
    """DAC-MC: DAC with channel attention and a channel-conditioned decoder.

    Kastrati et al. 2025: electrode embeddings, attention across channels and a
    decoder conditioned on the channel.

    Every channel goes through the shared DAC encoder as a mono stream. For
    every latent frame, the channels' latents, plus a projection of their
    learned electrode embeddings, attend to each other (:class:`DACMCConfig`
    sizes the attention), and the result is added to the latents through a
    zero-initialised projection. Each channel is then quantized by DAC's
    residual quantizer (codes per channel, as DAC). The decoder, shared by
    the channels, reads the quantized latent modulated by the electrode
    (FiLM: ``z * (1 + gamma(e)) + beta(e)``, ``gamma`` and ``beta``
    zero-initialised). At initialisation, or after :meth:`from_dac`, the
    model therefore codes and decodes exactly as DAC.

    Parameters
    ----------
    config : DACMCConfig | None
        Architecture (default: the released 16 kHz DAC reading EEG at 250 Hz,
        with the default channel modules).

    Notes
    -----
    Channels are identified by electrode name through
    :func:`mne_codec.channels.map_channels` (the package's 10-05 vocabulary;
    old 10-20 names such as T3 are aliases), or, for training batches, by
    their indices in :data:`~mne_codec.channels.CHANNEL_VOCABULARY`. A
    window's codes depend on the other channels coded with it, and are
    equivariant to the channels' order (no position but the electrode's
    enters the attention). Amplitudes are robust-scaled per window and
    channel as for :class:`DAC`; there is no side information.
    """

    family = "dac_mc"
    channel_policy = "named"
    #: side information per coded window: none
    n_side = 0
    #: the channel of the memory probe of :mod:`mne_codec.inference`
    _probe_channel = "Cz"

    def __init__(self, config=None):
        config = config or DACMCConfig()
        if not isinstance(config, DACMCConfig):
            raise TypeError(f"DACMC needs a DACMCConfig, got {type(config).__name__} "
                            "(see DACMC.from_dac)")
        super().__init__(config)
        self.channel_embedding = nn.Embedding(config.n_electrodes, config.channel_dim)
        self.mixer = _ChannelMixer(config)
        self.film = nn.Linear(config.channel_dim, 2 * config.latent_dim)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    #: parameter-name prefixes of what DAC-MC adds to DAC
    _added = ("channel_embedding.", "mixer.", "film.")
    #: no released weights of its own: :meth:`from_authors_state` starts from DAC's
    authors_format = None

    @classmethod
    def from_authors_state(cls, obj, source="checkpoint", preprocessing=None, **kwargs):
        """Build a DAC-MC that starts as the DAC of one of DAC's released weight files.

        Parameters
        ----------
        obj : dict
            The file's content, as loaded (see :meth:`DAC.from_authors_state`).
        source : str
            Where it comes from, for the error messages.
        preprocessing : Preprocessing | None
            What the codec reads (see :meth:`DAC.from_authors_state`).
        **kwargs
            :class:`DACMCConfig` fields (see :meth:`from_dac`).

        Returns
        -------
        model : DACMC
            In eval mode; codes as that DAC until it is trained.
        """
        return cls.from_dac(DAC.from_authors_state(obj, source, preprocessing), **kwargs)

    @classmethod
    def from_dac(cls, dac, **kwargs):
        """Build a DAC-MC that starts as ``dac``: its generator weights, new channel modules.

        Parameters
        ----------
        dac : DAC
            A DAC (e.g. the audio weights of
            :func:`~mne_codec.checkpoints.load_dac_checkpoint`, or a DAC
            trained on EEG), not folded by ``prepare_for_inference``.
        **kwargs
            :class:`DACMCConfig` fields (``attention_dim``...).

        Returns
        -------
        model : DACMC
            In ``dac``'s mode, on its device; codes and reconstructions equal
            ``dac``'s until it is trained.
        """
        if type(dac) is not DAC:
            raise TypeError(f"from_dac needs a DAC, got {type(dac).__name__}")
        param = next(dac.parameters())
        model = cls(DACMCConfig.from_dac(dac.config, **kwargs)).to(param.device)
        missing, unexpected = model.load_state_dict(dac.state_dict(), strict=False)
        others = [k for k in missing if not k.startswith(cls._added)]
        if unexpected or others:
            raise ValueError(
                "The DAC's weights do not fit: unexpected "
                f"{unexpected[:3]}, missing {others[:3]} (a DAC folded by "
                "prepare_for_inference cannot be extended; load it again)."
            )
        model.name = dac.name
        model.set_num_codebooks(dac._n_codebooks)
        return model.train(dac.training)

    # -- channels ------------------------------------------------------------------
    def pick_channels(self, ch_names, unknown="raise"):
        """Positions in ``ch_names`` of the channels this codec can code.

        Parameters
        ----------
        ch_names : list of str
            Channel names.
        unknown : ``"raise"`` | ``"drop"``
            See :func:`mne_codec.channels.map_channels`.

        Returns
        -------
        picks : ndarray of int
        """
        return self._rows(needs_names(self, ch_names), unknown)[0]

    def _rows(self, ch_names, unknown="raise"):
        picks, rows = map_channels(ch_names, CHANNEL_VOCABULARY, unknown=unknown,
                                   what="DAC-MC electrode")
        self._check_rows(rows)
        return picks, rows

    def _check_rows(self, rows):
        n = self.config.n_electrodes
        bad = sorted({int(r) for r in rows if not 0 <= int(r) < n})
        if bad:
            names = channel_names([r for r in bad if 0 <= r < len(CHANNEL_VOCABULARY)])
            raise ValueError(f"Electrode indices {bad} {names or ''} are outside this "
                             f"model's {n} electrode embeddings.")

    def _channel_ix(self, channels, batch, n_channels, device):
        """Embedding rows (batch | 1, n_channels) for names or vocabulary indices."""
        if torch.is_tensor(channels):
            ix = channels.long()
            if ix.ndim == 1:
                ix = ix[None]
            if ix.ndim != 2 or ix.shape[1] != n_channels or ix.shape[0] not in (1, batch):
                raise ValueError(f"channel indices must have shape ({batch}, {n_channels}) or "
                                 f"({n_channels},), got {tuple(channels.shape)}")
            n = self.config.n_electrodes
            if int(ix.min()) < 0 or int(ix.max()) >= n:  # one sync, not a list
                self._check_rows(ix.unique().tolist())
            return ix.to(device)
        if isinstance(channels, str):
            raise TypeError("ch_names must be a list of channel names, not a string")
        names = list(channels)
        if len(names) != n_channels:
            raise ValueError(f"{len(names)} channel names for {n_channels} channels")
        _, rows = self._rows(names, unknown="raise")
        return torch.as_tensor(rows, dtype=torch.long, device=device)[None]

    def coding_blocks(self, n_channels, n_times):
        """All channels of a window are coded together, over the whole window.

        Returns
        -------
        blocks : list of (int, int, int, int)
            ``[(0, n_channels, 0, n_frames * hop_length)]`` (the tail is
            zero-padded to a whole frame, as :meth:`encode` does).
        """
        return [(0, int(n_channels), 0, self.n_frames(n_times) * self.hop_length)]

    # -- the interface -------------------------------------------------------------
    def _mixed_latent(self, x, channels):
        self._check_signal(x)
        b, c, n = x.shape
        ix = self._channel_ix(channels, b, c, x.device)
        z = self._encode_latent(x.reshape(b * c, 1, n))
        z = self.mixer(z.view(b, c, *z.shape[1:]), self.channel_embedding(ix))
        return z.reshape(b * c, *z.shape[2:]), ix

    def _decode_quantized(self, q, ix, b, c):
        """Channel-conditioned decoding of quantized latents (b * c, D, F)."""
        gamma, beta = self.film(self.channel_embedding(ix)).expand(b, c, -1).chunk(2, dim=-1)
        q = q * (1 + gamma.reshape(b * c, -1, 1)) + beta.reshape(b * c, -1, 1)
        return self._decode_latent(q)

    def quantized_latent(self, x, ch_names=None):
        """Quantized latent (after the channel mixer), straight-through (see :class:`Codec`).

        Parameters
        ----------
        x : torch.Tensor, shape (batch, n_channels, n_times)
            Preprocessed signals.
        ch_names : list of str | torch.Tensor of int64
            The channels (see :meth:`encode`).

        Returns
        -------
        z : torch.Tensor, shape (batch, n_channels, dim, n_frames)
        """
        b, c, _ = x.shape
        z, _ = self._mixed_latent(x, needs_names(self, ch_names))
        return self._straight_through(z, b, c)

    def encode(self, x, ch_names=None):
        """Encode windows of named channels to codes.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, n_channels, n_times)
            Preprocessed signals (see :attr:`preprocessing`).
        ch_names : list of str | torch.Tensor of int64
            The channels' names (one montage for the batch; all must be
            known, see :meth:`pick_channels`), or their indices in
            :data:`mne_codec.channels.CHANNEL_VOCABULARY`, shape
            (batch, n_channels) or (n_channels,).

        Returns
        -------
        encoding : Encoding
            Codes (batch, n_channels, n_codebooks, n_frames), no side
            information (the robust scaling per window and channel is kept
            by the preprocessing).
        """
        b, c, _ = x.shape
        z, _ = self._mixed_latent(x, needs_names(self, ch_names))
        codes = self.quantizer.encode(z, self.n_codebooks)
        return Encoding(codes.view(b, c, *codes.shape[1:]))

    def decode(self, codes, *args, ch_names=None, n_times=None, side=None):
        """Decode codes of named channels to signals.

        Parameters
        ----------
        codes : Encoding | torch.Tensor of int, shape (batch, n_channels, n_codebooks, n_frames)
            What :meth:`encode` returned, or codes of the first
            ``n_codebooks`` levels.
        *args
            ``ch_names`` and then ``n_times`` may be given by position.
        ch_names : list of str | torch.Tensor of int64
            The channels, as given to :meth:`encode`.
        n_times : int | None
            Trim the output to this many samples (default ``n_frames * hop``).
        side : None
            Side information (DAC-MC has none).

        Returns
        -------
        x : torch.Tensor, shape (batch, n_channels, n_times)
        """
        codes, ch_names, n_times, side = decode_args(codes, args, ch_names, n_times, side)
        ch_names = needs_names(self, ch_names)
        if side is not None:
            raise ValueError("DAC-MC has no side information: pass side=None")
        if codes.ndim != 4:
            raise ValueError("codes must have shape (batch, n_channels, n_codebooks, n_frames), "
                             f"got {tuple(codes.shape)}")
        b, c, k, t = codes.shape
        ix = self._channel_ix(ch_names, b, c, codes.device)
        q = self.quantizer.decode(codes.reshape(b * c, k, t).long())
        y = self._decode_quantized(q, ix, b, c)
        if n_times is not None:
            y = y[..., :n_times]
        return y.reshape(b, c, y.shape[-1])

    def forward(self, x, ch_names=None, n_codebooks=None):
        """Training forward: ``(reconstruction, codes, quantizer_loss)``.

        ``x`` (batch, n_channels, n_times); ``ch_names`` as in :meth:`encode`
        (per-item indices for training batches of
        :class:`~mne_codec.training.MontageCrops`). Gradients flow through the
        quantizer by the straight-through estimator; quantizer dropout
        applies in training mode.
        """
        b, c, n = x.shape
        z, ix = self._mixed_latent(x, needs_names(self, ch_names))
        q = self.quantizer(z, n_codebooks)
        y = self._decode_quantized(q.quantized, ix, b, c)[..., :n].reshape(b, c, n)
        return y, q.codes.view(b, c, *q.codes.shape[1:]), q.loss
