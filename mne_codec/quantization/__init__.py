"""Residual vector quantization shared by all codecs."""

from .rvq import Codebook, QuantizerOutput, ResidualVQ, RVQConfig, VectorQuantizer, kmeans

__all__ = ["Codebook", "QuantizerOutput", "ResidualVQ", "RVQConfig", "VectorQuantizer", "kmeans"]
