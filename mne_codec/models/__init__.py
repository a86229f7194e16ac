"""Codec families: one module per family, one :class:`Codec` interface."""

from .base import Codec
from .biocodec import BioCodec, BioCodecConfig

#: family name -> (model class, config class)
FAMILIES = {"biocodec": (BioCodec, BioCodecConfig)}

__all__ = ["Codec", "BioCodec", "BioCodecConfig", "FAMILIES"]
