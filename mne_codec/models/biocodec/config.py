"""The architecture of BioCodec: :class:`BioCodecConfig` (EEG and EMG models)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ...preprocessing import Preprocessing
from ...quantization import RVQConfig
from ..base import ConfigMixin
from ..channel_mixing import ChannelMixingConfig

__all__ = ["BioCodecConfig"]

#: padding modes of the SEANet convolutions (torch.nn.functional.pad's)
_PAD_MODES = ("reflect", "constant", "replicate", "circular")


def _eeg_rvq():
    return RVQConfig(dim=128, n_codebooks=6, codebook_size=256, codebook_dim=16)


@dataclass
class BioCodecConfig(ConfigMixin):
    """Architecture of a BioCodec model.

    Parameters
    ----------
    ratios : tuple of int
        Decoder upsampling ratios (the encoder uses them reversed as strides);
        their product is the hop length.
    n_filters : int
        Width of the first convolution; doubled at each downsampling.
    dimension : int
        Latent dimension.
    n_residual_layers : int
        Residual units per resolution, with dilations ``dilation_base ** j``.
    kernel_size, last_kernel_size, residual_kernel_size : int
        Kernel sizes of the first, last and residual convolutions.
    dilation_base : int
        Dilation growth in the residual units.
    compress : int
        Width reduction inside residual units (1: none).
    lstm_layers : int
        Layers of the skip-connected LSTM after the convolutions.
    causal : bool
        Causal padding (all of it on the left).
    pad_mode : str
        Padding mode of the convolutions (``"reflect"`` as the authors).
    norm : str
        ``"weight_norm"`` or ``"none"``.
    rvq : RVQConfig
        Residual quantizer.
    preprocessing : Preprocessing
        What the model reads.
    channel_mixing : ChannelMixingConfig | None
        Attention across the channels of every latent frame, before and after
        the quantizer (:class:`~mne_codec.models.channel_mixing.ChannelMixer`):
        the channels of a window are then coded jointly and named by
        electrode. ``None`` (the authors' model): every channel on its own.
    """

    ratios: tuple = (3, 2, 2)
    n_filters: int = 32
    dimension: int = 128
    n_residual_layers: int = 2
    kernel_size: int = 3
    last_kernel_size: int = 3
    residual_kernel_size: int = 3
    dilation_base: int = 2
    compress: int = 1
    lstm_layers: int = 2
    causal: bool = True
    pad_mode: str = "reflect"
    norm: str = "weight_norm"
    rvq: RVQConfig = field(default_factory=_eeg_rvq)
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    channel_mixing: ChannelMixingConfig | None = None

    def __post_init__(self):
        if self.pad_mode not in _PAD_MODES:
            raise ValueError(f"pad_mode must be one of {_PAD_MODES}, got {self.pad_mode!r}")
        if self.norm not in ("weight_norm", "none"):
            raise ValueError(f"norm must be 'weight_norm' or 'none', got {self.norm!r}")
        if not (self.channel_mixing is None
                or isinstance(self.channel_mixing, ChannelMixingConfig)):
            raise TypeError("channel_mixing must be a ChannelMixingConfig or None, got "
                            f"{type(self.channel_mixing).__name__}")

    @property
    def hop_length(self):
        """Samples per token frame."""
        return math.prod(self.ratios)

    @classmethod
    def eeg(cls, **kwargs):
        """Build the authors' EEG model: 250 Hz, hop 12, 6 x 256 codes."""
        return cls(**kwargs)

    @classmethod
    def emg(cls, **kwargs):
        """Build the authors' EMG model: 1000 Hz, hop 18, 6 x 256 codes."""
        kwargs.setdefault("ratios", (3, 3, 2))
        kwargs.setdefault(
            "preprocessing",
            Preprocessing(sfreq=1000.0, l_freq=None, h_freq=None, ch_types=("emg",)),
        )
        return cls(**kwargs)
