"""Codec families: one subpackage per family, one :class:`Codec` interface."""

from .base import Codec, CodecStream, Encoding
from .biocodec import BioCodec, BioCodecConfig
from .dac import DAC, DACMC, DACConfig, DACMCConfig
from .neurorvq import NeuroRVQ, NeuroRVQConfig, NeuroRVQFM, NeuroRVQFMConfig

#: family name -> (model class, config class)
FAMILIES = {"biocodec": (BioCodec, BioCodecConfig), "dac": (DAC, DACConfig),
            "dac_mc": (DACMC, DACMCConfig), "neurorvq": (NeuroRVQ, NeuroRVQConfig)}

__all__ = ["Codec", "CodecStream", "Encoding", "BioCodec", "BioCodecConfig", "DAC",
           "DACConfig", "DACMC", "DACMCConfig", "NeuroRVQ", "NeuroRVQConfig", "NeuroRVQFM",
           "NeuroRVQFMConfig",
           "FAMILIES"]
