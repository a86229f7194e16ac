"""Codec families: one module per family, one :class:`Codec` interface."""

from .base import Codec
from .biocodec import BioCodec, BioCodecConfig
from .neurorvq import NeuroRVQ, NeuroRVQConfig
from .dac import DAC, DACConfig

#: family name -> (model class, config class)
FAMILIES = {"biocodec": (BioCodec, BioCodecConfig), "dac": (DAC, DACConfig),
            "neurorvq": (NeuroRVQ, NeuroRVQConfig)}

__all__ = ["Codec", "BioCodec", "BioCodecConfig", "DAC", "DACConfig", "NeuroRVQ", "NeuroRVQConfig",
           "FAMILIES"]
