"""BioCodec: SEANet encoder/decoder with residual VQ, one channel at a time.

Avramidis et al. 2025, "Neural Codecs as Biosignal Tokenizers"
(arXiv 2510.09095); reference code klean2050/BioCodec-release (MIT).

The EEG model (the authors' ``_get_optimized_model``) reads 250 Hz signals,
downsamples by 2 * 2 * 3 = 12 (20.8 frames/s) and quantizes a 128-d latent
with 6 levels of 256 codes, each assigned by cosine similarity in a 16-d
projection: 125 tokens/s and 1000 bit/s per channel. The EMG model is the
same class with :meth:`BioCodecConfig.emg` (1000 Hz, hop 18).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...channels import CHANNEL_VOCABULARY, map_channels
from ...quantization import ResidualVQ
from ..base import Codec
from ..channel_mixing import ChannelMixer, NamedChannels
from ..weights import load_state_strict
from . import convert
from ._seanet import _inference_forward, build_decoder, build_encoder, stream_forward
from .config import BioCodecConfig

__all__ = ["BioCodecConfig", "BioCodec"]

# samples per chunk of windows at inference (32 windows of 10 s at 250 Hz):
# measured fastest on CPU, where larger activations fall out of cache
_CHUNK_SAMPLES = 80_000
# the fewest windows in a chunk: below 16, single-threaded torch runs 1x1
# convolutions with another kernel than oneDNN's, whose sums round
# differently, so codes would depend on how a batch was cut
_MIN_CHUNK = 16


def _inference_chunks(n_windows, n_times):
    """``(start, stop)`` of the chunks of windows that inference encodes at once.

    Chunks have at least :data:`_MIN_CHUNK` windows (a smaller remainder
    joins the last chunk), so that every window is computed by the same
    kernels as in a single pass over the batch: the codes do not depend on
    the chunking.
    """
    size = max(_MIN_CHUNK, _CHUNK_SAMPLES // max(n_times, 1))
    starts = list(range(0, n_windows, size))
    if len(starts) > 1 and n_windows - starts[-1] < _MIN_CHUNK:
        starts.pop()
    return list(zip(starts, starts[1:] + [n_windows]))


class BioCodec(NamedChannels, Codec):
    """BioCodec neural codec: one channel at a time, or channels jointly by name.

    Parameters
    ----------
    config : BioCodecConfig | None
        Architecture; the authors' EEG model by default.

    Notes
    -----
    With ``config.channel_mixing`` (a
    :class:`~mne_codec.models.channel_mixing.ChannelMixingConfig`), the
    channels of a window are coded jointly: every channel goes through the
    shared SEANet encoder, then the latents of each frame attend to each
    other across channels (with a learned embedding of each electrode) before
    the residual quantizer, and the quantized latents attend to each other
    again before the shared decoder, so that each channel is reconstructed
    from the codes of all of them. Codes stay one stream per channel,
    ``(n_channels, n_codebooks, n_frames)``, but they depend on the other
    channels coded with them. Channels are placed by name (10-05
    electrodes; old 10-20 names such as T3 are aliases); a channel whose name
    is not an electrode, or every channel of an array given without names,
    is read as unnamed (a learned embedding of its own, which training also
    uses for a fraction of the windows), so any montage, and arrays, can be
    coded. Without ``channel_mixing`` (the authors' model), each channel is
    coded on its own and names are ignored.

    Module names follow the authors' release, so their checkpoints load with
    :func:`mne_codec.checkpoints.load_biocodec_checkpoint` after renaming only
    the quantizer keys. A freshly built model has empty codebooks (they are
    initialised by k-means on the first training batch): load weights or
    train before encoding.
    """

    family = "biocodec"
    authors_format = "biocodec"

    def __init__(self, config=None):
        super().__init__()
        self.config = config or BioCodecConfig()
        if self.config.rvq.dim != self.config.dimension:
            raise ValueError("rvq.dim must equal the latent dimension")
        self.encoder = nn.Module()
        self.encoder.model = build_encoder(self.config)
        self.decoder = nn.Module()
        self.decoder.model = build_decoder(self.config)
        self.quantizer = ResidualVQ(self.config.rvq)
        mixing = self.config.channel_mixing
        if mixing is not None:
            self.channel_policy = "named"
            # one row more: channels without a known name
            self.channel_embedding = nn.Embedding(mixing.n_electrodes + 1, mixing.channel_dim)

            def mixer(n_layers):
                return ChannelMixer(self.config.dimension, mixing.channel_dim,
                                    mixing.attention_dim, mixing.n_heads, n_layers)

            self.encoder_mixer = mixer(mixing.encoder_layers) if mixing.encoder_layers else None
            self.decoder_mixer = mixer(mixing.decoder_layers) if mixing.decoder_layers else None

    @classmethod
    def is_authors_state(cls, obj):
        """Whether ``obj`` is an authors' BioCodec checkpoint.

        See :func:`mne_codec.models.biocodec.convert.is_authors_state`.
        """
        return convert.is_authors_state(obj)

    @classmethod
    def from_authors_state(cls, obj, source="checkpoint", config=None):
        """Build a BioCodec from an authors' checkpoint object.

        Parameters
        ----------
        obj : dict
            Their state dict or ``{"model_state_dict": ...}``, as loaded.
        source : str
            Where it comes from, for the error messages.
        config : BioCodecConfig | None
            Architecture; read from the tensor shapes if None
            (:func:`~mne_codec.models.biocodec.convert.infer_config`).

        Returns
        -------
        codec : BioCodec
            Loaded strictly, in eval mode.
        """
        state = convert.biocodec_state_from_authors(obj)
        config = config or convert.infer_config(state)
        return load_state_strict(cls(config), state, source).eval()

    @property
    def hop_length(self):
        """Samples per token frame."""
        return self.config.hop_length

    # -- channels: all of them, named, when mixed; else each on its own ------------------
    @property
    def _joint(self):
        return self.config.channel_mixing is not None

    @property
    def _decodes_jointly(self):
        return self._joint and self.decoder_mixer is not None

    def _n_electrodes(self):
        return self.config.channel_mixing.n_electrodes

    # every channel can be coded, named or not (see Notes)
    pick_channels = Codec.pick_channels

    # the whole window in one block, padded by the encoder as a stream pads its end
    # (mixed or not), so that streamed codes equal whole-window codes to the last frame
    coding_blocks = Codec.coding_blocks

    def _rows(self, ch_names, unknown="raise"):
        # a channel whose name is not a 10-05 electrode is coded as unnamed
        picks, rows = map_channels(ch_names, CHANNEL_VOCABULARY, unknown="keep")
        self._check_rows(rows[rows >= 0])
        return picks, np.where(rows >= 0, rows, self._n_electrodes())

    def _channel_context(self, ch_names, b, c, device):
        if not self._joint:
            return None
        unnamed = self._n_electrodes()
        if ch_names is None or not isinstance(ch_names, (list, tuple, np.ndarray, torch.Tensor,
                                                         str)):  # no names: a count
            ix = torch.full((1, c), unnamed, dtype=torch.long, device=device)
        else:
            ix = self._channel_ix(ch_names, b, c, device)
        rate = self.config.channel_mixing.unnamed_rate
        if self.training and rate > 0:
            drop = torch.rand(b, 1, device=device) < rate
            ix = torch.where(drop, torch.full_like(ix, unnamed), ix)
        return self.channel_embedding(ix)

    def _mixed(self, mixer, z, emb, b, c):
        if emb is None or mixer is None:
            return z
        return mixer(z.view(b, c, *z.shape[1:]), emb).reshape(z.shape)

    def _mix_latent(self, z, emb, b, c):
        return self._mixed(self.encoder_mixer if self._joint else None, z, emb, b, c)

    def _mix_quantized(self, q, emb, b, c):
        return self._mixed(self.decoder_mixer if self._joint else None, q, emb, b, c)

    def _encode_latent(self, x):
        if torch.is_grad_enabled():
            return self.encoder.model(x)
        # inference: in place where safe, and in chunks of windows whose
        # activations stay in the CPU cache (measured 1.2-1.3x faster than one pass)
        chunks = _inference_chunks(x.shape[0], x.shape[-1])
        if len(chunks) < 2 or x.device.type != "cpu":  # a GPU wants the whole batch
            return _inference_forward(self.encoder.model, x)
        return torch.cat([_inference_forward(self.encoder.model, x[a:b]) for a, b in chunks])

    def _decode_latent(self, z):
        if torch.is_grad_enabled():
            return self.decoder.model(z)
        # inference: as the encoder (in place where safe, cache-sized chunks of
        # windows); measured 2x faster than one pass on 1280 4-s windows, same values
        chunks = _inference_chunks(z.shape[0], z.shape[-1] * self.hop_length)
        if len(chunks) < 2 or z.device.type != "cpu":
            return _inference_forward(self.decoder.model, z)
        return torch.cat([_inference_forward(self.decoder.model, z[a:b]) for a, b in chunks])

    @property
    def streamable(self):
        """True when causal: then :meth:`stream` codes chunks exactly as the whole signal.

        Channel mixing does not stand in the way: its attention runs across the
        channels of one frame at a time, never across frames.
        """
        return bool(self.config.causal)

    def _stream_encode_latent(self, x, state, final):
        return stream_forward(self.encoder.model, x, state, final)

    def _stream_decode_latent(self, z, state, final):
        return stream_forward(self.decoder.model, z, state, final)
