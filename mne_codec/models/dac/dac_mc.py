"""DAC-MC: DAC with electrode embeddings, attention across channels and a conditioned decoder.

Kastrati et al. 2025, "Adapting Neural Audio Codecs to EEG" (arXiv
2511.23142), their multi-channel extension of DAC
(:mod:`mne_codec.models.dac.model`).

:class:`DACMC` (Kastrati et al.'s multi-channel extension) keeps the DAC
generator and adds, around its quantizer, what lets channels inform each
other: a learned embedding of each electrode (rows of
:data:`mne_codec.channels.CHANNEL_VOCABULARY`, so any montage subset works),
attention across the channels of every latent frame before quantization,
and a decoder conditioned on the electrode (FiLM of the quantized latent).
Both additions are zero-initialised residuals, so a DAC-MC built from a DAC
(:meth:`DACMC.from_dac`) codes and decodes exactly as that DAC until it is
trained.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from torch import nn

from ...channels import CHANNEL_VOCABULARY
from ...preprocessing import Preprocessing
from ..base import Encoding
from ..channel_mixing import ChannelMixer, NamedChannels
from .model import DAC, DACConfig

__all__ = ["DACMCConfig", "DACMC", "DACMCEncoding"]


def _n_electrodes():
    return len(CHANNEL_VOCABULARY)


@dataclass
class DACMCConfig(DACConfig):
    """Architecture of a DAC-MC model: a :class:`DACConfig` and the channel modules.

    Every :class:`DACConfig` field and constructor (:meth:`~DACConfig.eeg`,
    :meth:`~DACConfig.release`) applies; the fields below size what DAC-MC
    adds (see :class:`DACMC`).

    Parameters
    ----------
    channel_dim : int
        Size of the learned electrode embedding.
    attention_dim : int
        Width of the attention across channels (the latent is projected to
        it and back).
    n_heads : int
        Attention heads (must divide ``attention_dim``).
    n_layers : int
        Attention blocks (attention + MLP, pre-norm).
    n_electrodes : int | None
        Rows of the electrode embedding (``None``: the size of
        :data:`mne_codec.channels.CHANNEL_VOCABULARY`, fixed at creation so
        that saved models keep loading if the vocabulary grows).
    """

    channel_dim: int = 64
    attention_dim: int = 256
    n_heads: int = 4
    n_layers: int = 1
    n_electrodes: int | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.n_electrodes is None:
            self.n_electrodes = _n_electrodes()
        if self.attention_dim % self.n_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must divide attention_dim "
                             f"({self.attention_dim})")

    @property
    def n_patches(self):
        """Frames of the one-channel window that the memory probe of
        :mod:`mne_codec.inference` codes (DAC-MC codes windows of any length).
        """
        return 64

    @classmethod
    def from_dac(cls, config, **kwargs):
        """Make the DAC-MC config of a :class:`DACConfig` (its every field), with ``kwargs``."""
        params = {f.name: getattr(config, f.name) for f in fields(DACConfig)}
        params["preprocessing"] = Preprocessing.from_dict(config.preprocessing.to_dict())
        params.update(kwargs)
        return cls(**params)


#: what :meth:`DACMC.encode` returned before the one codec protocol (kept for old code)
DACMCEncoding = Encoding


class DACMC(NamedChannels, DAC):
    """DAC-MC: DAC with channel attention and a channel-conditioned decoder.

    Kastrati et al. 2025: electrode embeddings, attention across channels and a
    decoder conditioned on the channel.

    Every channel goes through the shared DAC encoder as a mono stream. For
    every latent frame, the channels' latents, plus a projection of their
    learned electrode embeddings, attend to each other (:class:`DACMCConfig`
    sizes the attention), and the result is added to the latents through a
    zero-initialised projection. Each channel is then quantized by DAC's
    residual quantizer (codes per channel, as DAC). The decoder, shared by
    the channels, reads the quantized latent modulated by the electrode
    (FiLM: ``z * (1 + gamma(e)) + beta(e)``, ``gamma`` and ``beta``
    zero-initialised). At initialisation, or after :meth:`from_dac`, the
    model therefore codes and decodes exactly as DAC.

    Parameters
    ----------
    config : DACMCConfig | None
        Architecture (default: the released 16 kHz DAC reading EEG at 250 Hz,
        with the default channel modules).

    Notes
    -----
    Channels are identified by electrode name through
    :func:`mne_codec.channels.map_channels` (the package's 10-05 vocabulary;
    old 10-20 names such as T3 are aliases), or, for training batches, by
    their indices in :data:`~mne_codec.channels.CHANNEL_VOCABULARY`. A
    window's codes depend on the other channels coded with it, and are
    equivariant to the channels' order (no position but the electrode's
    enters the attention). Amplitudes are robust-scaled per window and
    channel as for :class:`DAC`; there is no side information.
    """

    family = "dac_mc"
    channel_policy = "named"
    _electrode_what = "DAC-MC electrode"
    #: side information per coded window: none
    n_side = 0
    #: the channel of the memory probe of :mod:`mne_codec.inference`
    _probe_channel = "Cz"

    def __init__(self, config=None):
        config = config or DACMCConfig()
        if not isinstance(config, DACMCConfig):
            raise TypeError(f"DACMC needs a DACMCConfig, got {type(config).__name__} "
                            "(see DACMC.from_dac)")
        super().__init__(config)
        self.channel_embedding = nn.Embedding(config.n_electrodes, config.channel_dim)
        self.mixer = ChannelMixer(config.latent_dim, config.channel_dim, config.attention_dim,
                                  config.n_heads, config.n_layers)
        self.film = nn.Linear(config.channel_dim, 2 * config.latent_dim)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    #: parameter-name prefixes of what DAC-MC adds to DAC
    _added = ("channel_embedding.", "mixer.", "film.")
    #: no released weights of its own: :meth:`from_authors_state` starts from DAC's
    authors_format = None

    @classmethod
    def from_authors_state(cls, obj, source="checkpoint", preprocessing=None, **kwargs):
        """Build a DAC-MC that starts as the DAC of one of DAC's released weight files.

        Parameters
        ----------
        obj : dict
            The file's content, as loaded (see :meth:`DAC.from_authors_state`).
        source : str
            Where it comes from, for the error messages.
        preprocessing : Preprocessing | None
            What the codec reads (see :meth:`DAC.from_authors_state`).
        **kwargs
            :class:`DACMCConfig` fields (see :meth:`from_dac`).

        Returns
        -------
        model : DACMC
            In eval mode; codes as that DAC until it is trained.
        """
        return cls.from_dac(DAC.from_authors_state(obj, source, preprocessing), **kwargs)

    @classmethod
    def from_dac(cls, dac, **kwargs):
        """Build a DAC-MC that starts as ``dac``: its generator weights, new channel modules.

        Parameters
        ----------
        dac : DAC
            A DAC (e.g. the audio weights of
            :func:`~mne_codec.checkpoints.load_dac_checkpoint`, or a DAC
            trained on EEG), not folded by ``prepare_for_inference``.
        **kwargs
            :class:`DACMCConfig` fields (``attention_dim``...).

        Returns
        -------
        model : DACMC
            In ``dac``'s mode, on its device; codes and reconstructions equal
            ``dac``'s until it is trained.
        """
        if type(dac) is not DAC:
            raise TypeError(f"from_dac needs a DAC, got {type(dac).__name__}")
        param = next(dac.parameters())
        model = cls(DACMCConfig.from_dac(dac.config, **kwargs)).to(param.device)
        missing, unexpected = model.load_state_dict(dac.state_dict(), strict=False)
        others = [k for k in missing if not k.startswith(cls._added)]
        if unexpected or others:
            raise ValueError(
                "The DAC's weights do not fit: unexpected "
                f"{unexpected[:3]}, missing {others[:3]} (a DAC folded by "
                "prepare_for_inference cannot be extended; load it again)."
            )
        model.name = dac.name
        model.set_num_codebooks(dac._n_codebooks)
        return model.train(dac.training)

    # -- the interface: the hooks of Codec's encode, decode and forward ---------------
    def _mix_latent(self, z, ix, b, c):
        z = self.mixer(z.view(b, c, *z.shape[1:]), self.channel_embedding(ix))
        return z.reshape(b * c, *z.shape[2:])

    def _decode_quantized(self, q, ix, b, c):
        """Channel-conditioned decoding of quantized latents (b * c, D, F)."""
        gamma, beta = self.film(self.channel_embedding(ix)).expand(b, c, -1).chunk(2, dim=-1)
        q = q * (1 + gamma.reshape(b * c, -1, 1)) + beta.reshape(b * c, -1, 1)
        return self._decode_latent(q)
