"""DAC (the Descript Audio Codec, adapted to EEG) and DAC-MC (its multi-channel extension).

Kumar et al. 2023 (arXiv 2306.06546), reference code
descriptinc/descript-audio-codec (MIT); Kastrati et al. 2025 (arXiv
2511.23142) for EEG and DAC-MC.

Modules: :mod:`~mne_codec.models.dac.model` (DAC), :mod:`~mne_codec.models.dac.dac_mc` (DAC-MC) and
:mod:`~mne_codec.models.dac.convert` (DAC's released weight format).
"""

from .dac_mc import DACMC, DACMCConfig, DACMCEncoding
from .model import DAC, DAC_RELEASES, DACConfig, dac_rate_table

__all__ = ["DACConfig", "DAC", "DAC_RELEASES", "DACMCConfig", "DACMC", "DACMCEncoding",
           "dac_rate_table"]
