"""DAC: the Descript Audio Codec generator, adapted to EEG.

Kumar et al. 2023, "High-Fidelity Audio Compression with Improved RVQGAN"
(arXiv 2306.06546); reference code descriptinc/descript-audio-codec (MIT).
Kastrati et al. 2025, "Adapting Neural Audio Codecs to EEG" (arXiv
2511.23142) feed EEG to it sample for sample.

The generator is re-implemented on torch alone, module for module, so that
the released weight files load strictly
(:func:`mne_codec.checkpoints.load_dac_checkpoint`): Snake activations,
weight-normalised convolutions, residual units with dilations 1, 3 and 9,
strided encoder and decoder blocks, a ``tanh`` output, and DAC's factorised
residual VQ (per level a weight-normalised 1x1 projection to 8-d, lookup by
cosine similarity, the raw codeword out, codebooks learned by gradient,
quantizer dropout) expressed through :class:`~mne_codec.quantization.ResidualVQ`.

EEG adaptation
--------------
Each electrode is a mono stream folded into the batch, fed at a chosen EEG
rate ``preprocessing.sfreq`` *as if it were audio*: one token frame covers
``hop_length`` samples (320 for the 16 and 24 kHz models), so the frame rate
is ``sfreq / hop_length`` (0.78 frames/s at 250 Hz). Amplitudes are robustly
scaled per window and channel (median, inter-quartile range), clipped to
``[-clip, clip]``, and the model divides them by ``clip`` so that the clipped
range maps onto the ``tanh`` range ``[-1, 1]``; it multiplies its output back,
and :func:`mne_codec.preprocessing.restore` returns it to volts.

DAC-MC
------
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

import math
from dataclasses import dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from ...preprocessing import Preprocessing
from ...quantization import ResidualVQ, RVQConfig
from ..base import Codec, ConfigMixin, Encoding, _decode_args, _needs_names

__all__ = ["DACConfig", "DAC", "DAC_RELEASES", "DACMCConfig", "DACMC", "DACMCEncoding",
           "dac_rate_table"]

#: Architectures of the released DAC models (``metadata.kwargs`` of their
#: files), by release name; every other field is the :class:`DACConfig`
#: default (``latent_dim`` None: ``encoder_dim * 16``, i.e. 1024). They were
#: trained with ``quantizer_dropout`` 0.5; the files record ``False`` (DAC's
#: ``save`` stores the constructor default of an argument it keeps no
#: attribute for).
DAC_RELEASES = {
    "16khz": dict(encoder_rates=(2, 4, 5, 8), decoder_rates=(8, 5, 4, 2), n_codebooks=12,
                  sample_rate=16000),
    "24khz": dict(encoder_rates=(2, 4, 5, 8), decoder_rates=(8, 5, 4, 2), n_codebooks=32,
                  sample_rate=24000),
    "44khz": dict(encoder_rates=(2, 4, 8, 8), decoder_rates=(8, 8, 4, 2), n_codebooks=9,
                  sample_rate=44100),
    "44khz_16kbps": dict(encoder_rates=(2, 4, 8, 8), decoder_rates=(8, 8, 4, 2),
                         n_codebooks=18, latent_dim=128, sample_rate=44100),
}

#: the keyword arguments of DAC's constructor, as stored in ``metadata.kwargs``
_DAC_KWARGS = ("encoder_dim", "encoder_rates", "latent_dim", "decoder_dim", "decoder_rates",
               "n_codebooks", "codebook_size", "codebook_dim", "quantizer_dropout",
               "sample_rate")


def _eeg_preprocessing(sfreq=250.0, clip=5.0, **kwargs):
    """Robust scaling clipped at ``clip`` inter-quartile ranges (see the module doc)."""
    kwargs.setdefault("scaling", "robust")
    return Preprocessing(sfreq=float(sfreq), clip=clip, **kwargs)


@dataclass
class DACConfig(ConfigMixin):
    """Architecture of a DAC model and the EEG it reads.

    The defaults are the released 16 kHz model (74.2 M parameters, hop 320,
    12 levels of 1024 codes) reading EEG at 250 Hz; see :meth:`eeg` for the
    trade-offs and :meth:`release` for the other released models.

    Parameters
    ----------
    encoder_dim : int
        Width of the first convolution; doubled by every encoder block.
    encoder_rates : tuple of int
        Strides of the encoder blocks; their product is the hop length.
    latent_dim : int | None
        Latent dimension (``None``: ``encoder_dim * 2 ** len(encoder_rates)``).
    decoder_dim : int
        Width of the first decoder convolution; halved by every decoder block.
    decoder_rates : tuple of int
        Upsampling factors of the decoder blocks (same product as
        ``encoder_rates``).
    n_codebooks : int
        Number of residual levels.
    codebook_size : int
        Codes per level.
    codebook_dim : int
        Dimension each level projects its residual to before the lookup.
    quantizer_dropout : float
        Fraction of a training batch that uses a random number of levels.
    dead_code_threshold : float
        In training, codes used less than this many times per step (moving
        average) are replaced with vectors of the batch (the
        :class:`~mne_codec.quantization.RVQConfig` field; not part of DAC:
        0 turns it off).
    quantizer_warmup_steps : int
        Training steps at the start that bypass the quantizer (the
        :class:`~mne_codec.quantization.RVQConfig` ``warmup_steps``; not part
        of DAC, whose files do not have it). Needed to train on EEG from
        scratch without the codes collapsing.
    sample_rate : int
        Audio rate the weights were trained at (kept as metadata; the rate the
        codec reads is ``preprocessing.sfreq``).
    preprocessing : Preprocessing
        What the codec reads: EEG at ``sfreq``, robust-scaled and clipped;
        ``clip`` is also the amplitude that maps to the ``tanh`` bound 1.
    """

    encoder_dim: int = 64
    encoder_rates: tuple = (2, 4, 5, 8)
    latent_dim: int | None = None
    decoder_dim: int = 1536
    decoder_rates: tuple = (8, 5, 4, 2)
    n_codebooks: int = 12
    codebook_size: int = 1024
    codebook_dim: int = 8
    quantizer_dropout: float = 0.5
    dead_code_threshold: float = 0.0
    quantizer_warmup_steps: int = 0
    sample_rate: int = 16000
    preprocessing: Preprocessing = field(default_factory=_eeg_preprocessing)

    def __post_init__(self):
        self.encoder_rates = tuple(int(r) for r in self.encoder_rates)
        self.decoder_rates = tuple(int(r) for r in self.decoder_rates)
        if self.latent_dim is None:
            self.latent_dim = self.encoder_dim * 2 ** len(self.encoder_rates)
        if isinstance(self.codebook_dim, (list, tuple)):
            # DAC accepts one dimension per level; every release uses one for all
            if len(set(self.codebook_dim)) != 1:
                raise ValueError("codebook_dim must be the same for every level, "
                                 f"got {self.codebook_dim}")
            self.codebook_dim = self.codebook_dim[0]
        self.quantizer_dropout = float(self.quantizer_dropout)  # DAC files store a bool
        if math.prod(self.encoder_rates) != math.prod(self.decoder_rates):
            raise ValueError(f"encoder_rates {self.encoder_rates} and decoder_rates "
                             f"{self.decoder_rates} must have the same product (the hop)")
        if self.decoder_dim % 2 ** len(self.decoder_rates):
            raise ValueError("decoder_dim must be divisible by 2 ** len(decoder_rates)")

    # -- derived quantities ----------------------------------------------------
    @property
    def hop_length(self):
        """Samples per token frame."""
        return math.prod(self.encoder_rates)

    @property
    def frame_rate(self):
        """Token frames per second and channel at ``preprocessing.sfreq``."""
        return self.preprocessing.sfreq / self.hop_length

    @property
    def tokens_per_second(self):
        """Tokens per second and channel (all levels)."""
        return self.frame_rate * self.n_codebooks

    @property
    def bits_per_second(self):
        """Bits per second and channel (all levels)."""
        return self.tokens_per_second * math.log2(self.codebook_size)

    @property
    def rvq(self):
        """DAC's factorised quantizer as an :class:`RVQConfig`."""
        return RVQConfig(
            dim=self.latent_dim, n_codebooks=self.n_codebooks,
            codebook_size=self.codebook_size, codebook_dim=self.codebook_dim,
            distance="cosine",  # DAC: nearest L2-normalised codeword
            ema_decay=None, normalize_codewords=False, kmeans_init=False,
            dead_code_threshold=self.dead_code_threshold, dead_code_clamp=None,
            commitment_weight=0.25, codebook_weight=1.0,  # conf/base.yml loss weights
            quantizer_dropout=self.quantizer_dropout,
            projection="conv1x1_weight_norm", loss_reduction="sum", detach_residual=False,
            warmup_steps=self.quantizer_warmup_steps,
        )

    # -- constructors ------------------------------------------------------------
    @classmethod
    def release(cls, name="16khz", **kwargs):
        """Return the architecture of a released model.

        ``name`` is ``"16khz"``, ``"24khz"``, ``"44khz"`` or ``"44khz_16kbps"``;
        ``kwargs`` override fields.
        """
        if name not in DAC_RELEASES:
            raise ValueError(f"Unknown DAC release {name!r}; known: {sorted(DAC_RELEASES)}")
        params = dict(DAC_RELEASES[name])
        params.update(kwargs)
        return cls(**params)

    @classmethod
    def eeg(cls, sfreq=250.0, n_codebooks=None, codebook_size=None, *, clip=5.0,
            base="16khz", l_freq=0.5, h_freq=40.0, **kwargs):
        """DAC reading EEG: the trade-offs of Kastrati et al. as parameters.

        Parameters
        ----------
        sfreq : float
            EEG rate fed to the codec's stride framing. Frames per second and
            channel are ``sfreq / hop_length`` (hop 320 for ``"16khz"``).
        n_codebooks : int | None
            Residual levels (``None``: the release's, 12 for ``"16khz"``).
            Each level adds ``frame_rate * log2(codebook_size)`` bit/s.
            With pretrained weights, fewer levels can also be chosen at
            inference with :meth:`DAC.set_num_codebooks`.
        codebook_size : int | None
            Codes per level (``None``: the release's 1024). Another size
            cannot reuse the audio codebooks (train the quantizer).
        clip : float
            Robust-scaled amplitudes are clipped to ``[-clip, clip]``
            inter-quartile ranges, and ``clip`` maps to the ``tanh`` bound 1.
            5 puts a Gaussian signal's standard deviation near 0.15, close to
            the loudness DAC was trained at, and clips only artefacts.
        base : str
            Released architecture (see :data:`DAC_RELEASES`).
        l_freq, h_freq : float | None
            Band-pass of the preprocessing (an edge above Nyquist is skipped).
        **kwargs
            Other :class:`DACConfig` fields, or :class:`Preprocessing` fields
            (``notch_freqs``, ``scaling``, ``ch_types``...).

        Returns
        -------
        config : DACConfig
        """
        if "preprocessing" in kwargs:
            raise TypeError("DACConfig.eeg builds the preprocessing: pass its fields "
                            "(sfreq, clip, l_freq, scaling...) instead")
        prep_names = {f.name for f in fields(Preprocessing)}
        prep_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in prep_names}
        prep = _eeg_preprocessing(sfreq, clip, l_freq=l_freq, h_freq=h_freq, **prep_kwargs)
        if n_codebooks is not None:
            kwargs["n_codebooks"] = n_codebooks
        if codebook_size is not None:
            kwargs["codebook_size"] = codebook_size
        return cls.release(base, preprocessing=prep, **kwargs)

    def dac_kwargs(self):
        """Return the ten constructor arguments of DAC, as its files store them."""
        d = {k: getattr(self, k) for k in _DAC_KWARGS}
        d["encoder_rates"] = list(self.encoder_rates)
        d["decoder_rates"] = list(self.decoder_rates)
        return d

    @classmethod
    def from_dac_kwargs(cls, kwargs, preprocessing=None):
        """Config from DAC's ``metadata["kwargs"]``, every value taken from it.

        Parameters
        ----------
        kwargs : dict
            The ten constructor arguments of DAC (no more, no fewer).
        preprocessing : Preprocessing | None
            What the codec reads (default: EEG at 250 Hz, see :meth:`eeg`).
        """
        missing = sorted(set(_DAC_KWARGS) - set(kwargs))
        unknown = sorted(set(kwargs) - set(_DAC_KWARGS))
        if missing or unknown:
            raise ValueError(f"DAC kwargs: missing {missing}, unknown {unknown}")
        prep = preprocessing if preprocessing is not None else _eeg_preprocessing()
        return cls(**dict(kwargs), preprocessing=prep)


# -- building blocks (module names as in DAC, so the state dicts match) ---------
class _Snake1d(nn.Module):
    """Snake activation ``x + sin(alpha x)^2 / alpha`` with one alpha per channel."""

    def __init__(self, channels):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x):
        # 1e-9 as DAC: alpha may be learned to ~0 (then Snake -> x + alpha x^2)
        return x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)


def _wn_conv(in_ch, out_ch, kernel_size, stride=1, dilation=1, padding=0):
    return weight_norm(nn.Conv1d(in_ch, out_ch, kernel_size, stride=stride,
                                 dilation=dilation, padding=padding))


def _wn_conv_transpose(in_ch, out_ch, kernel_size, stride, padding):
    return weight_norm(nn.ConvTranspose1d(in_ch, out_ch, kernel_size, stride=stride,
                                          padding=padding))


class _ResidualUnit(nn.Module):
    def __init__(self, dim, dilation):
        super().__init__()
        self.block = nn.Sequential(
            _Snake1d(dim),
            _wn_conv(dim, dim, 7, dilation=dilation, padding=3 * dilation),
            _Snake1d(dim),
            _wn_conv(dim, dim, 1),
        )

    def forward(self, x):
        y = self.block(x)
        # the padding keeps lengths equal; DAC centre-crops the skip if not
        crop = (x.shape[-1] - y.shape[-1]) // 2
        if crop > 0:
            x = x[..., crop:-crop]
        return x + y


def _residual_units(dim):
    return [_ResidualUnit(dim, d) for d in (1, 3, 9)]


class _EncoderBlock(nn.Module):
    def __init__(self, dim, stride):
        super().__init__()
        self.block = nn.Sequential(
            *_residual_units(dim // 2),
            _Snake1d(dim // 2),
            # kernel 2s, padding ceil(s/2): L -> L / s for L a multiple of s
            _wn_conv(dim // 2, dim, 2 * stride, stride=stride, padding=math.ceil(stride / 2)),
        )

    def forward(self, x):
        return self.block(x)


class _Encoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        dim = config.encoder_dim
        layers = [_wn_conv(1, dim, 7, padding=3)]
        for stride in config.encoder_rates:
            dim *= 2
            layers.append(_EncoderBlock(dim, stride))
        layers += [_Snake1d(dim), _wn_conv(dim, config.latent_dim, 3, padding=1)]
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        return self.block(x)


class _DecoderBlock(nn.Module):
    def __init__(self, in_dim, out_dim, stride):
        super().__init__()
        self.block = nn.Sequential(
            _Snake1d(in_dim),
            # L -> L * s (L * s - 1 for odd s: DAC sets no output_padding)
            _wn_conv_transpose(in_dim, out_dim, 2 * stride, stride, math.ceil(stride / 2)),
            *_residual_units(out_dim),
        )

    def forward(self, x):
        return self.block(x)


class _Decoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        dim = config.decoder_dim
        layers = [_wn_conv(config.latent_dim, dim, 7, padding=3)]
        for i, stride in enumerate(config.decoder_rates):
            layers.append(_DecoderBlock(dim // 2**i, dim // 2 ** (i + 1), stride))
        out_dim = dim // 2 ** len(config.decoder_rates)
        layers += [_Snake1d(out_dim), _wn_conv(out_dim, 1, 7, padding=3), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class DAC(Codec):
    """The DAC generator as a codec of ``mne_codec`` (non-causal, one channel at a time).

    Parameters
    ----------
    config : DACConfig | None
        Architecture and preprocessing; the released 16 kHz model reading
        EEG at 250 Hz by default.

    Notes
    -----
    The state dict has DAC's names with two renamings, done by
    :func:`mne_codec.checkpoints.dac_state_from_official`: weight norm is a
    parametrisation (``weight_g``/``weight_v`` become
    ``parametrizations.weight.original0/1``) and the quantizer is our
    :class:`~mne_codec.quantization.ResidualVQ`
    (``quantizer.quantizers.{i}.in_proj`` becomes
    ``quantizer.layers.{i}.project_in``, ``out_proj`` ``project_out``,
    ``codebook.weight`` ``codebook.embed``).

    Like DAC, :meth:`encode` right-pads the input with zeros to a multiple of
    the hop. The decoder loses one sample per odd stride (8 samples per
    frame sequence for the 16 and 24 kHz models); the missing tail is filled
    with the last output sample so that ``n_frames * hop`` samples come back.
    """

    family = "dac"
    channel_policy = "independent"

    def __init__(self, config=None):
        super().__init__()
        self.config = config or DACConfig()
        self.encoder = _Encoder(self.config)
        self.quantizer = ResidualVQ(self.config.rvq)
        self.decoder = _Decoder(self.config)
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self):
        # DAC's init_weights draws Conv1d weights, but under legacy weight norm
        # only its zero bias survives (the weight is recomputed from g and v);
        # its codebooks are nn.Embedding rows drawn from N(0, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv1d) and m.bias is not None:
                m.bias.zero_()
        for layer in self.quantizer.layers:
            nn.init.normal_(layer.codebook.embed)

    @property
    def hop_length(self):
        """Samples per token frame."""
        return self.config.hop_length

    @property
    def amplitude_scale(self):
        """Input amplitude that maps to the ``tanh`` bound 1 (``preprocessing.clip``)."""
        return float(self.preprocessing.clip or 1.0)

    def _encode_latent(self, x):
        # DAC.preprocess: zero right-padding to a whole number of frames
        pad = -x.shape[-1] % self.hop_length
        x = F.pad(x / self.amplitude_scale, (0, pad))
        return self.encoder(x)

    def _decode_latent(self, z):
        y = self.decoder(z) * self.amplitude_scale
        missing = z.shape[-1] * self.hop_length - y.shape[-1]
        if missing > 0:
            y = F.pad(y, (0, missing), mode="replicate")
        return y


# -- DAC-MC: the multi-channel extension -----------------------------------------
def _n_electrodes():
    from ...channels import CHANNEL_VOCABULARY

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
        from ...preprocessing import Preprocessing

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
        return self._rows(ch_names, unknown)[0]

    def _rows(self, ch_names, unknown="raise"):
        from ...channels import CHANNEL_VOCABULARY, map_channels

        picks, rows = map_channels(ch_names, CHANNEL_VOCABULARY, unknown=unknown,
                                   what="DAC-MC electrode")
        self._check_rows(rows)
        return picks, rows

    def _check_rows(self, rows):
        n = self.config.n_electrodes
        bad = sorted({int(r) for r in rows if not 0 <= int(r) < n})
        if bad:
            from ...channels import CHANNEL_VOCABULARY, channel_names

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
        z, _ = self._mixed_latent(x, _needs_names(self, ch_names))
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
        codes, ch_names, n_times, side = _decode_args(codes, args, ch_names, n_times, side)
        ch_names = _needs_names(self, ch_names)
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
        z, ix = self._mixed_latent(x, _needs_names(self, ch_names))
        q = self.quantizer(z, n_codebooks)
        y = self._decode_quantized(q.quantized, ix, b, c)[..., :n].reshape(b, c, n)
        return y, q.codes.view(b, c, *q.codes.shape[1:]), q.loss


def dac_rate_table(sfreqs=(128.0, 250.0, 256.0, 512.0), n_codebooks=(1, 2, 4, 8, 12),
                   codebook_sizes=(256, 1024), base="16khz"):
    """Tokens and bits per second of DAC reading EEG, for the paper's trade-offs.

    Each row is a :meth:`DACConfig.eeg` configuration: the EEG input rate
    ``sfreq`` sets the frame rate (``sfreq / hop``), then each level adds
    ``log2(codebook_size)`` bits per frame.

    Parameters
    ----------
    sfreqs : list of float
        EEG input rates (Hz).
    n_codebooks : list of int
        Numbers of levels.
    codebook_sizes : list of int
        Codes per level.
    base : str
        Released architecture (:data:`DAC_RELEASES`), which sets the hop.

    Returns
    -------
    rows : list of dict
        ``sfreq``, ``hop_length``, ``frame_rate``, ``n_codebooks``,
        ``codebook_size``, ``tokens_per_second`` and ``bits_per_second`` (per
        channel), and ``compression`` (relative to 16-bit samples at
        ``sfreq``).
    """
    rows = []
    for sfreq in sfreqs:
        for size in codebook_sizes:
            for k in n_codebooks:
                cfg = DACConfig.eeg(sfreq=sfreq, n_codebooks=k, codebook_size=size, base=base)
                rows.append(dict(sfreq=float(sfreq), hop_length=cfg.hop_length,
                                 frame_rate=cfg.frame_rate, n_codebooks=int(k),
                                 codebook_size=int(size),
                                 tokens_per_second=cfg.tokens_per_second,
                                 bits_per_second=cfg.bits_per_second,
                                 compression=16.0 * float(sfreq) / cfg.bits_per_second))
    return rows
