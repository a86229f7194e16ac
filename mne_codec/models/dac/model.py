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

The multi-channel extension, :class:`~mne_codec.models.DACMC`, is in
:mod:`mne_codec.models.dac.dac_mc`.
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
from ..base import Codec, ConfigMixin
from ..weights import CheckpointError, load_state_strict
from . import convert

__all__ = ["DACConfig", "DAC", "DAC_RELEASES", "dac_rate_table"]

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
    :func:`mne_codec.models.dac.convert.dac_state_from_official`: weight norm is a
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
    authors_format = "dac"

    def __init__(self, config=None):
        super().__init__()
        self.config = config or DACConfig()
        self.encoder = _Encoder(self.config)
        self.quantizer = ResidualVQ(self.config.rvq)
        self.decoder = _Decoder(self.config)
        self._init_weights()

    @classmethod
    def is_authors_state(cls, obj):
        """Whether ``obj`` is a DAC weight file's content.

        See :func:`mne_codec.models.dac.convert.is_authors_state`.
        """
        return convert.is_authors_state(obj)

    @classmethod
    def from_authors_state(cls, obj, source="checkpoint", preprocessing=None):
        """Build a DAC from the content of one of DAC's released weight files.

        Parameters
        ----------
        obj : dict
            ``{"state_dict": ..., "metadata": {"kwargs": {...}}}``, as loaded.
        source : str
            Where it comes from, for the error messages.
        preprocessing : Preprocessing | None
            What the codec reads; default EEG at 250 Hz, robust-scaled and
            clipped at 5 (see :meth:`DACConfig.eeg`).

        Returns
        -------
        codec : DAC
            Every hyper-parameter from the file, loaded strictly, in eval mode.
        """
        kwargs = convert.dac_kwargs(obj, source)
        try:
            config = DACConfig.from_dac_kwargs(kwargs, preprocessing)
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{source}: invalid DAC hyper-parameters {kwargs}: "
                                  f"{err}") from err
        state = convert.dac_state_from_official(obj["state_dict"])
        return load_state_strict(DAC(config), state, str(source)).eval()

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
