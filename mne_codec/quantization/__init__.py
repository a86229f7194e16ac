"""Residual vector quantization shared by all codecs."""

from .rvq import (
    Codebook,
    CodebookSync,
    QuantizerOutput,
    ResidualVQ,
    RVQConfig,
    VectorQuantizer,
    kmeans,
)

__all__ = ["Codebook", "CodebookSync", "QuantizerOutput", "ResidualVQ", "RVQConfig",
           "VectorQuantizer", "kmeans"]
