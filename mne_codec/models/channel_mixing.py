"""Attention across the channels of a latent frame, for codecs that code channels jointly.

Neighbouring EEG electrodes record largely the same sources (in the
validation recordings of ``shared/data``, one spatial component holds 55-65 %
of a 5-s window's variance), so a code that reads each channel on its own
spends most of its bits on what its neighbours already say. The modules here
let a per-channel codec exchange information between the channels of every
latent frame, identified by electrode name:

- :class:`ChannelMixer`: a learned embedding of each electrode (rows of
  :data:`mne_codec.channels.CHANNEL_VOCABULARY`, so any montage subset works)
  plus pre-norm attention blocks across the channels of each frame, added to
  the latent through a zero-initialised projection (so a new mixer is the
  identity);
- :class:`NamedChannels`: what a codec that reads channels by name answers
  (:meth:`~NamedChannels.pick_channels`, :meth:`~NamedChannels.coding_blocks`)
  and how names or vocabulary indices become embedding rows.

DAC-MC (:class:`~mne_codec.models.DACMC`) mixes before its quantizer;
BioCodec with :class:`ChannelMixingConfig` mixes before the quantizer and
again after it, so that the decoder of each channel reads the codes of all
the others (joint coding: each channel's codes need only carry what the
others do not).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..channels import CHANNEL_VOCABULARY, channel_names, map_channels
from .base import needs_names

__all__ = ["ChannelMixingConfig", "AttentionBlock", "ChannelMixer", "NamedChannels"]


@dataclass
class ChannelMixingConfig:
    """Sizes of the attention across channels of a BioCodec (see :class:`ChannelMixer`).

    Parameters
    ----------
    channel_dim : int
        Size of the learned electrode embedding.
    attention_dim : int
        Width of the attention (the latent is projected to it and back).
    n_heads : int
        Attention heads (must divide ``attention_dim``).
    encoder_layers : int
        Attention blocks before the quantizer (0: none).
    decoder_layers : int
        Attention blocks after the quantizer (0: none).
    n_electrodes : int | None
        Named electrodes of the embedding (``None``: the size of
        :data:`mne_codec.channels.CHANNEL_VOCABULARY`, fixed at creation so
        that saved models keep loading if the vocabulary grows). One more
        row stands for a channel whose name is unknown or not given (arrays).
    unnamed_rate : float
        In training, the fraction of windows whose channels are all read as
        unnamed, so that the codec also codes channels it cannot place.
    """

    channel_dim: int = 32
    attention_dim: int = 128
    n_heads: int = 4
    encoder_layers: int = 1
    decoder_layers: int = 1
    n_electrodes: int | None = None
    unnamed_rate: float = 0.1

    def __post_init__(self):
        if self.n_electrodes is None:
            self.n_electrodes = len(CHANNEL_VOCABULARY)
        if self.attention_dim % self.n_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must divide attention_dim "
                             f"({self.attention_dim})")

    def to_dict(self):
        """JSON-serialisable dict."""
        return asdict(self)


class AttentionBlock(nn.Module):
    """Pre-norm self-attention + MLP over the tokens of a set (no positions).

    Parameters
    ----------
    width : int
        Token width.
    n_heads : int
        Attention heads.
    """

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
        """Tokens ``t`` (n_sets, set_size, width) -> same shape."""
        n, c, w = t.shape
        qkv = self.qkv(self.norm1(t)).view(n, c, 3, self.n_heads, w // self.n_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (n, heads, c, w / heads)
        a = F.scaled_dot_product_attention(q, k, v)
        t = t + self.proj(a.transpose(1, 2).reshape(n, c, w))
        return t + self.mlp(self.norm2(t))


class ChannelMixer(nn.Module):
    """Attention across the channels of every latent frame, as a residual.

    The output projection starts at zero, so the module starts as the
    identity (exactly: ``z + 0``). The channels of a frame are a set: the
    result is equivariant to their order, and only the electrode embedding
    tells them apart.

    Parameters
    ----------
    latent_dim : int
        Channels of the latent it mixes.
    channel_dim : int
        Size of the electrode embeddings it reads.
    attention_dim : int
        Width of the attention.
    n_heads : int
        Attention heads.
    n_layers : int
        Attention blocks.
    """

    def __init__(self, latent_dim, channel_dim, attention_dim, n_heads, n_layers):
        super().__init__()
        d, w = latent_dim, attention_dim
        self.norm_in = nn.LayerNorm(d)
        self.project_in = nn.Linear(d, w)
        self.project_channel = nn.Linear(channel_dim, w)
        self.layers = nn.ModuleList(AttentionBlock(w, n_heads) for _ in range(n_layers))
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


class NamedChannels:
    """Channel handling of a codec whose channels are identified by electrode name.

    Mixed into a :class:`~mne_codec.models.Codec` that has
    ``config.n_electrodes`` embedding rows (``n_electrodes`` from
    :meth:`_n_electrodes`) and codes the channels of a window together.
    Channels are named as in :func:`mne_codec.channels.map_channels` (the
    package's 10-05 vocabulary; old 10-20 names such as T3 are aliases) or,
    for training batches, given as indices in
    :data:`~mne_codec.channels.CHANNEL_VOCABULARY`.
    """

    #: what the vocabulary is called in messages
    _electrode_what = "electrode"

    def _n_electrodes(self):
        return self.config.n_electrodes

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
                                   what=self._electrode_what)
        self._check_rows(rows)
        return picks, rows

    def _check_rows(self, rows):
        n = self._n_electrodes()
        bad = sorted({int(r) for r in rows if not 0 <= int(r) < n})
        if bad:
            names = channel_names([r for r in bad if 0 <= r < len(CHANNEL_VOCABULARY)])
            raise ValueError(f"Electrode indices {bad} {names or ''} are outside this "
                             f"model's {n} electrode embeddings.")

    def _channel_context(self, ch_names, b, c, device):
        """Embedding rows of the channels (see :meth:`Codec._channel_context`)."""
        return self._channel_ix(needs_names(self, ch_names), b, c, device)

    def _channel_ix(self, channels, batch, n_channels, device):
        """Embedding rows (batch | 1, n_channels) for names or vocabulary indices."""
        if torch.is_tensor(channels):
            ix = channels.long()
            if ix.ndim == 1:
                ix = ix[None]
            if ix.ndim != 2 or ix.shape[1] != n_channels or ix.shape[0] not in (1, batch):
                raise ValueError(f"channel indices must have shape ({batch}, {n_channels}) or "
                                 f"({n_channels},), got {tuple(channels.shape)}")
            n = self._n_electrodes()
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
