"""BioCodec: SEANet encoder/decoder with residual VQ, one channel at a time.

Avramidis et al. 2025, "Neural Codecs as Biosignal Tokenizers"
(arXiv 2510.09095); reference code klean2050/BioCodec-release (MIT).

Modules: :mod:`~mne_codec.models.biocodec.model` (the codec and its
config), ``_seanet`` (the SEANet building
blocks) and :mod:`~mne_codec.models.biocodec.convert` (the authors'
checkpoint format).
"""

from .config import BioCodecConfig
from .model import BioCodec, _inference_chunks  # noqa: F401 - tests use _inference_chunks

__all__ = ["BioCodecConfig", "BioCodec"]
