"""NeuroRVQ: multi-scale transformer tokenizer with residual VQ and Fourier decoding.

Barmpas et al. 2025, "NeuroRVQ: multi-scale EEG tokenization for generative
large brainwave models" (arXiv 2510.13068); reference code
KonstantinosBarmpas/NeuroRVQ. The reference code and the authors' weights are
licensed **CC BY-NC 4.0** (non-commercial); this module is our own
implementation (BSD-3) of the architecture, with the same module and
parameter names so that the authors' state dicts load after renaming only the
codebook keys (:func:`mne_codec.checkpoints.load_neurorvq_checkpoint`, conversion in
:mod:`mne_codec.models.neurorvq.convert`).

A window of ``n_channels`` x ``n_patches`` patches of 1 s (200 samples at
200 Hz) is read as one sequence of ``n_channels * n_patches`` tokens
(channel-major, at most 256). A front of four temporal convolution branches
(kernels 21/9, 15/7, 9/5, 5/3) embeds every patch four times; one transformer
encoder (shared weights) runs on each branch's sequence with spatial
(electrode) and temporal embeddings and a cls token; each branch has its own
head and its own residual quantizer (8 levels x 8192 codes x 128-d). The
decoder runs a second transformer on each branch's quantized latent, joins
the branches and predicts, per patch, the standardised log-amplitude and the
sine and cosine of the phase of the 200-bin FFT; the signal is the real part
of the inverse FFT.

Side information. The amplitude head predicts ``log1p|FFT|`` standardised over
the whole window, so decoding needs the window's mean and (unbiased) standard
deviation of ``log1p|FFT|``: 2 float32 = 64 bits per window, carried by
:meth:`NeuroRVQ.encode` beside the codes. For a window of ``n_patches``
seconds that is ``64 / n_patches`` bit/s for the window (all channels), e.g.
6.4 bit/s for 10-s windows, against 416 bit/s per channel for the tokens
(32 codes of 13 bits per channel-second): see :meth:`NeuroRVQ.side_bits_per_second`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from ... import channels as channel_utils  # its map_channels; ours wraps it
from ...channels import (
    CHANNEL_ALIASES,
    CHANNEL_VOCABULARY,
    channel_names,
    normalize_channel_name,
    vocabulary_index,
)
from ...preprocessing import Preprocessing
from ...quantization import ResidualVQ, RVQConfig
from .. import neurorvq as neurorvq_package  # it holds the GROUP_TOKENS tunable
from ..base import Codec, ConfigMixin, Encoding, decode_args, needs_names
from ..weights import CheckpointError, load_state_strict
from . import convert

__all__ = [
    "NeuroRVQConfig",
    "NeuroRVQ",
    "NeuroRVQEncoding",
    "NEURORVQ_CHANNELS",
    "map_channels",
    "split_windows",
    "neurorvq_preprocessing",
]

#: The authors' electrode vocabulary (``ch_names_global`` of the EEG v1
#: tokenizer): 104 lower-case names; the spatial embedding of a channel is row
#: ``index`` of ``pos_embed`` (row 0 is shared with the cls token, as upstream).
NEURORVQ_CHANNELS = (
    "a1", "a2", "af3", "af4", "af7", "af8", "afz", "c1", "c2", "c3", "c4", "c5", "c6",
    "ccp1", "ccp2", "ccp3", "ccp4", "ccp5", "ccp6", "ccp7", "ccp8", "cfc1", "cfc2",
    "cfc3", "cfc4", "cfc5", "cfc6", "cfc7", "cfc8", "cp1", "cp2", "cp3", "cp4", "cp5",
    "cp6", "cpz", "cz", "eog", "f1", "f10", "f2", "f3", "f4", "f5", "f6", "f7", "f8",
    "f9", "fc1", "fc2", "fc3", "fc4", "fc5", "fc6", "fcz", "fp1", "fp2", "fpz", "ft7",
    "ft8", "fz", "iz", "loc", "o1", "o2", "oz", "p08", "p1", "p10", "p2", "p3", "p4",
    "p5", "p6", "p7", "p8", "p9", "po1", "po10", "po2", "po3", "po4", "po7", "po8",
    "po9", "poz", "pz", "roc", "sp1", "sp2", "t1", "t10", "t2", "t3", "t4", "t5", "t6",
    "t7", "t8", "t9", "tp10", "tp7", "tp8", "tp9",
)



#: The authors' ECG lead vocabulary (``ch_names_global`` of the ECG v1
#: tokenizer): the 12 standard leads and the Frank leads vx/vy/vz, lower-case,
#: in the authors' order (their spatial embedding rows).
NEURORVQ_ECG_LEADS = ("avf", "avl", "avr", "i", "ii", "iii", "v1", "v2", "v3", "v4", "v5",
                      "v6", "vx", "vy", "vz")
#: The authors' EMG channel vocabulary (EMG v1 tokenizer): ``c1`` to ``c16`` in
#: their (lexicographic) order, which is the order of their embedding rows.
NEURORVQ_EMG_CHANNELS = ("c1", "c10", "c11", "c12", "c13", "c14", "c15", "c16", "c2", "c3",
                         "c4", "c5", "c6", "c7", "c8", "c9")
#: The authors' PPG vocabulary (PPG v1 tokenizer): one channel.
NEURORVQ_PPG_CHANNELS = ("ppg_c1",)
#: Channel vocabulary of each modality's tokenizer.
MODALITY_CHANNELS = {"eeg": NEURORVQ_CHANNELS, "ecg": NEURORVQ_ECG_LEADS,
                     "emg": NEURORVQ_EMG_CHANNELS, "ppg": NEURORVQ_PPG_CHANNELS}
_WHAT = {"eeg": "electrodes", "ecg": "leads", "emg": "channels", "ppg": "channels"}


def _eeg_rvq(n_codebooks=8):
    # upstream: beta = 1, no dead-code replacement, 10 k-means iterations (cosine
    # k-means there, Euclidean k-means of normalised vectors + normalised
    # centroids here), EMA decay 0.99 on unit-norm codewords
    return RVQConfig(dim=128, n_codebooks=n_codebooks, codebook_size=8192, codebook_dim=None,
                     distance="normalized_euclidean", ema_decay=0.99, epsilon=1e-5,
                     normalize_codewords=True, kmeans_init=True, kmeans_iters=10,
                     dead_code_threshold=0.0, dead_code_clamp=None, commitment_weight=1.0)


def neurorvq_preprocessing(modality="eeg"):
    """Return a modality's recipe as a :class:`~mne_codec.preprocessing.Preprocessing`.

    Parameters
    ----------
    modality : ``"eeg"`` | ``"ecg"`` | ``"emg"`` | ``"ppg"``
        The tokenizer's modality.

    Returns
    -------
    preprocessing : Preprocessing

    Notes
    -----
    **EEG**: notches at 50, 60 and 100 Hz (those below Nyquist), a zero-phase
    Butterworth band-pass of order 3 from 0.5 to 44.5 Hz at the native rate,
    resampling to 200 Hz, amplitudes in microvolts (``unit_scale=1e6``,
    no per-window scaling: the encoder reads raw amplitudes) clipped to
    +-500 uV. Differences from the upstream example: it notches with
    ``scipy.signal.iirnotch`` (Q = f0 / 2), clips before resampling, resamples
    with ``scipy.signal.resample`` (FFT) and lowers the band edge to
    ``min(45, fs / 2) - 0.5`` for data sampled below 90 Hz; we use the
    package's filters (MNE IIR notch, polyphase resampling), clip after
    resampling and skip the low-pass when 44.5 Hz is above Nyquist.

    **ECG**: 200 Hz, no filter and no clipping (the authors' PTB-XL example
    applies none), millivolts (``unit_scale=1e3``, PTB-XL's unit), channels
    of MNE type ``ecg``.

    **EMG**: 1000 Hz, no filter (the authors' EMG preprocessing script is not
    in their public release), microvolts, channels of type ``emg``.

    **PPG**: Butterworth band-pass of order 3 from 0.5 to ``min(40, fs / 2) -
    0.5`` = 39.5 Hz at the native rate, then 100 Hz, in the recording's own
    units (``unit_scale=1``, as the authors' BIDMC example), channels of type
    ``bio`` or ``misc`` (MNE has no PPG type).
    """
    if modality == "eeg":
        return Preprocessing(sfreq=200.0, l_freq=0.5, h_freq=44.5, filter_order=3,
                             notch_freqs=(50.0, 60.0, 100.0), scaling=None, clip=500.0,
                             ch_types=("eeg",), unit_scale=1e6)
    if modality == "ecg":
        return Preprocessing(sfreq=200.0, l_freq=None, h_freq=None, scaling=None, clip=None,
                             ch_types=("ecg",), unit_scale=1e3)
    if modality == "emg":
        return Preprocessing(sfreq=1000.0, l_freq=None, h_freq=None, scaling=None, clip=None,
                             ch_types=("emg",), unit_scale=1e6)
    if modality == "ppg":
        return Preprocessing(sfreq=100.0, l_freq=0.5, h_freq=39.5, filter_order=3,
                             scaling=None, clip=None, ch_types=("bio", "misc"), unit_scale=1.0)
    raise ValueError(f"modality must be one of {sorted(MODALITY_CHANNELS)}, got {modality!r}")


# the authors' v1 tokenizers (flags/NeuroRVQ_<MODALITY>_v1.yml and NeuroRVQ_<MODALITY>/
# NeuroRVQ.py of their release): patch, time table, width, kernels, RVQ levels
_MODALITY_FIELDS = {
    "eeg": dict(patch_size=200, n_patches=256, embed_dim=200,
                branch_kernels=((21, 9), (15, 7), (9, 5), (5, 3)), n_codebooks=8),
    "ecg": dict(patch_size=40, n_patches=600, embed_dim=40,
                branch_kernels=((21, 9), (15, 7), (9, 5), (5, 3)), n_codebooks=8),
    "emg": dict(patch_size=200, n_patches=256, embed_dim=200,
                branch_kernels=((51, 25), (17, 9), (8, 4), (5, 3)), n_codebooks=16),
    "ppg": dict(patch_size=80, n_patches=12, embed_dim=80,
                branch_kernels=((41, 17), (31, 13), (17, 9), (9, 5)), n_codebooks=8),
}


@dataclass
class _FrontConfig(ConfigMixin):
    """Fields that the NeuroRVQ tokenizer and foundation model share.

    The multi-scale front and the transformer (documented in each subclass).
    """

    patch_size: int = 200
    n_patches: int = 256
    n_global_electrodes: int = len(NEURORVQ_CHANNELS)
    out_chans: int = 8
    branch_kernels: tuple = ((21, 9), (15, 7), (9, 5), (5, 3))
    pools: tuple = (2, 4)
    norm_groups: int = 4
    embed_dim: int = 200
    num_heads: int = 10
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    max_tokens: int | None = None
    canonical_names: bool = False
    preprocessing: Preprocessing = field(default_factory=neurorvq_preprocessing)
    modality: str = "eeg"
    channels: tuple = NEURORVQ_CHANNELS

    @property
    def n_branches(self):
        """Number of convolution branches."""
        return len(self.branch_kernels)

    @property
    def token_budget(self):
        """Largest number of channel x patch tokens in one window."""
        return self.max_tokens or self.n_patches

    def __post_init__(self):
        self.branch_kernels = tuple(tuple(int(k) for k in ks) for ks in self.branch_kernels)
        self.pools = tuple(int(p) for p in self.pools)
        self.channels = tuple(str(c).lower() for c in self.channels)
        if self.modality not in MODALITY_CHANNELS:
            raise ValueError(f"modality must be one of {sorted(MODALITY_CHANNELS)}, got "
                             f"{self.modality!r}")
        if not self.channels or len(self.channels) > self.n_global_electrodes:
            raise ValueError(f"{len(self.channels)} channel names for n_global_electrodes="
                             f"{self.n_global_electrodes} embedding rows")
        _check_front(self)


@dataclass
class NeuroRVQConfig(_FrontConfig):
    """Architecture of a NeuroRVQ tokenizer.

    Defaults are the authors' EEG v1 tokenizer (``flags/NeuroRVQ_EEG_v1.yml``).

    Parameters
    ----------
    patch_size : int
        Samples per patch (one token per channel and patch).
    n_patches : int
        Rows of the temporal embedding table; patch ``a`` of ``A`` gets row
        ``n_patches - A + a`` (right-aligned). Also the token budget:
        ``n_channels * n_patches_in_window <= n_patches``.
    n_global_electrodes : int
        Size of the electrode vocabulary (``pos_embed`` has one row more).
    out_chans : int
        Feature maps per convolution branch; ``embed_dim`` must equal
        ``out_chans * patch_size / prod(pools)``.
    branch_kernels : tuple of (int, int)
        Kernel sizes of the first and second temporal convolution of every
        branch (padding ``k // 2``).
    pools : tuple of (int, int)
        Average-pooling factors after the first and second convolutions.
    norm_groups : int
        Groups of the GroupNorm layers.
    embed_dim : int
        Transformer width.
    depth_encoder, depth_decoder : int
        Transformer blocks.
    num_heads : int
        Attention heads (q and k pass a per-head LayerNorm, eps 1e-6).
    mlp_ratio : float
        MLP hidden width / ``embed_dim``.
    qkv_bias : bool
        q and v biases (k has none).
    init_values : float
        Layer-scale init; 0 disables layer scale (the tokenizer's setting).
    decoder_out_dim : int | None
        Bins predicted per patch (``None``: ``patch_size``).
    rvq : RVQConfig
        One residual quantizer per branch; ``rvq.dim`` is the code dimension.
    max_tokens : int | None
        Largest ``n_channels * n_patches`` per window (``None``: ``n_patches``).
    canonical_names : bool
        Read channel names through the package's 10-05 vocabulary first
        (:mod:`mne_codec.channels`), so that old and new names of one
        electrode (T3/T7, T4/T8, T5/P7, T6/P8) share one embedding row, as
        in training from :class:`~mne_codec.training.MontageCrops`. False for
        the authors' weights, whose vocabulary gives T3 and T7 separate rows.
    preprocessing : Preprocessing
        What the model reads.
    modality : ``"eeg"`` | ``"ecg"`` | ``"emg"`` | ``"ppg"``
        What the tokenizer codes (named in the errors of a channel mismatch).
    channels : tuple of str
        The channel vocabulary: name ``i`` takes row ``i`` of ``pos_embed``
        (the authors' 104 EEG electrodes by default).

    Notes
    -----
    :meth:`eeg`, :meth:`ecg`, :meth:`emg` and :meth:`ppg` build the authors'
    four v1 tokenizers (keyword arguments override fields, e.g. a smaller
    depth for tests).
    """

    depth_encoder: int = 12
    depth_decoder: int = 3
    init_values: float = 0.0
    decoder_out_dim: int | None = None
    rvq: RVQConfig = field(default_factory=_eeg_rvq)

    @property
    def n_branches(self):
        """Number of convolution branches (and quantizers)."""
        return len(self.branch_kernels)

    @property
    def code_dim(self):
        """Dimension of the quantized latent."""
        return self.rvq.dim

    def __post_init__(self):
        super().__post_init__()
        if self.decoder_out_dim is None:
            self.decoder_out_dim = self.patch_size
        if self.rvq.codebook_dim not in (None, self.rvq.dim):
            raise ValueError(
                "NeuroRVQ quantizers have no projection: rvq.codebook_dim must be None"
            )

    @classmethod
    def for_modality(cls, modality, **kwargs):
        """Build the authors' v1 tokenizer of ``modality``; ``kwargs`` override fields.

        Parameters
        ----------
        modality : ``"eeg"`` | ``"ecg"`` | ``"emg"`` | ``"ppg"``
            EEG: 200 Hz, 1-s patches, 104 electrodes, 8 levels. ECG: 200 Hz,
            0.2-s patches of 40 samples, 15 leads (12 standard + vx/vy/vz),
            600-patch time table, 8 levels. EMG: 1000 Hz, 0.2-s patches,
            channels c1-c16, other kernels, 16 levels. PPG: 100 Hz, 0.8-s
            patches of 80 samples, one channel, other kernels, 12-patch time
            table, 8 levels.
        **kwargs
            Fields to override (an ``rvq`` given here replaces the preset's).

        Returns
        -------
        config : NeuroRVQConfig
        """
        if modality not in _MODALITY_FIELDS:
            raise ValueError(f"modality must be one of {sorted(_MODALITY_FIELDS)}, got "
                             f"{modality!r}")
        preset = dict(_MODALITY_FIELDS[modality])
        n_codebooks = preset.pop("n_codebooks")
        preset.update(modality=modality, channels=MODALITY_CHANNELS[modality],
                      n_global_electrodes=len(MODALITY_CHANNELS[modality]),
                      decoder_out_dim=preset["patch_size"],
                      preprocessing=neurorvq_preprocessing(modality),
                      rvq=_eeg_rvq(n_codebooks))
        preset.update(kwargs)
        if "patch_size" in kwargs and "decoder_out_dim" not in kwargs:
            preset["decoder_out_dim"] = kwargs["patch_size"]
        return cls(**preset)

    @classmethod
    def eeg(cls, **kwargs):
        """Build the authors' EEG v1 tokenizer (76M parameters)."""
        return cls.for_modality("eeg", **kwargs)

    @classmethod
    def ecg(cls, **kwargs):
        """Build the authors' ECG v1 tokenizer (see :meth:`for_modality`)."""
        return cls.for_modality("ecg", **kwargs)

    @classmethod
    def emg(cls, **kwargs):
        """Build the authors' EMG v1 tokenizer (see :meth:`for_modality`)."""
        return cls.for_modality("emg", **kwargs)

    @classmethod
    def ppg(cls, **kwargs):
        """Build the authors' PPG v1 tokenizer (see :meth:`for_modality`)."""
        return cls.for_modality("ppg", **kwargs)


def _check_front(config):
    """Check that the convolution front and the transformer fit together."""
    reduced = config.patch_size // math.prod(config.pools)
    if (config.patch_size % math.prod(config.pools)
            or reduced * config.out_chans != config.embed_dim):
        raise ValueError(
            f"embed_dim ({config.embed_dim}) must equal out_chans ({config.out_chans}) x "
            f"patch_size ({config.patch_size}) / {math.prod(config.pools)}"
        )
    if config.embed_dim % config.num_heads:
        raise ValueError("embed_dim must be a multiple of num_heads")


# -- channels and windows -------------------------------------------------------
def map_channels(ch_names, unknown="raise", vocabulary=NEURORVQ_CHANNELS):
    """Map channel names to the electrode vocabulary of NeuroRVQ.

    Names are matched case-insensitively, after removing an ``"EEG "`` prefix,
    a reference suffix (``"-REF"``, ``"-LE"``...) and trailing dots (EEGBCI).
    A name that is not in the vocabulary falls back to its alias
    (:data:`CHANNEL_ALIASES`: T3/T7, T4/T8, T5/P7, T6/P8, M1/A1, M2/A2).

    Parameters
    ----------
    ch_names : list of str
        Channel names (e.g. ``raw.ch_names``).
    unknown : ``"raise"`` | ``"drop"``
        What to do with names that match nothing: raise a ValueError, or drop
        them with a warning.
    vocabulary : list of str
        The electrode vocabulary (the authors' 104 names by default).

    Returns
    -------
    picks : ndarray of int
        Positions in ``ch_names`` of the channels kept, in their order.
    spatial_ix : ndarray of int
        Their rows in the vocabulary.
    """
    return channel_utils.map_channels(ch_names, vocabulary, unknown=unknown,
                                      what="NeuroRVQ electrode")


_ROWS = {}


def _vocabulary_rows(vocabulary=NEURORVQ_CHANNELS):
    """Map each :data:`~mne_codec.channels.CHANNEL_VOCABULARY` entry to its row in ``vocabulary``.

    -1 where ``vocabulary`` has none (cached per vocabulary).
    """
    if vocabulary not in _ROWS:
        lookup = {v: i for i, v in enumerate(vocabulary)}
        rows = []
        for name in CHANNEL_VOCABULARY:
            n = normalize_channel_name(name)
            rows.append(lookup.get(n, lookup.get(CHANNEL_ALIASES.get(n), -1)))
        _ROWS[vocabulary] = torch.tensor(rows, dtype=torch.long)
    return _ROWS[vocabulary]


def _known(name, vocabulary):
    """Whether a recorded name maps to ``vocabulary`` (directly or by its alias)."""
    lookup = vocabulary_index(vocabulary)
    n = normalize_channel_name(name)
    return n in lookup or CHANNEL_ALIASES.get(n) in lookup


def check_modality(config, ch_names, unknown="raise"):
    """Raise a ValueError naming the modality if ``ch_names`` do not fit its vocabulary.

    Raised when no name is in the vocabulary of ``config.channels``, or (with
    ``unknown="raise"``) when some are not; the message names the
    tokenizer's modality, its expected channels and, where the names belong
    to another NeuroRVQ modality, which tokenizer reads them.

    Parameters
    ----------
    config : NeuroRVQConfig | NeuroRVQFMConfig
        Holds ``modality`` and ``channels``.
    ch_names : list of str
        The channels' names.
    unknown : ``"raise"`` | ``"drop"``
        As in :func:`map_channels`.
    """
    bad = [c for c in ch_names if not _known(c, config.channels)]
    if not bad or (unknown == "drop" and len(bad) < len(ch_names)):
        return
    mod = config.modality
    others = [m for m, voc in MODALITY_CHANNELS.items()
              if m != mod and all(_known(c, voc) for c in bad)]
    expected = list(config.channels)
    shown = ", ".join(expected[:20]) + (f", ... ({len(expected)} in all)"
                                        if len(expected) > 20 else "")
    hint = (f" They are {others[0].upper()} channel names: use the NeuroRVQ "
            f"{others[0].upper()} tokenizer (neurorvq-{others[0]}-v1)." if others else "")
    raise ValueError(
        f"{len(bad)} of the {len(ch_names)} channels are not in the NeuroRVQ {mod.upper()} "
        f"tokenizer's vocabulary, the {mod.upper()} {_WHAT[mod]} {shown}: {bad[:10]}.{hint} "
        "Rename the channels (raw.rename_channels), pick them, or pass "
        "unknown='drop' to leave the others out."
    )


def split_windows(n_channels, n_times, patch_size=200, max_tokens=256, max_patches=None):
    """Split a recording into windows of whole patches within the token budget.

    Every window has at most ``max_tokens // n_channels`` patches (and at most
    ``max_patches``), so that ``n_channels * n_patches <= max_tokens``; the
    patches are shared out as evenly as possible. A final partial patch counts
    as a patch: the last window's ``stop`` may then exceed ``n_times`` and the
    caller pads the signal up to it (and trims the reconstruction).

    Parameters
    ----------
    n_channels : int
        Channels coded together.
    n_times : int
        Samples of the recording at the codec's rate.
    patch_size : int
        Samples per patch.
    max_tokens : int
        Token budget per window (256 for NeuroRVQ EEG).
    max_patches : int | None
        Size of the temporal embedding table (``None``: ``max_tokens``).

    Returns
    -------
    windows : list of (int, int)
        ``(start, stop)`` sample ranges; ``stop - start`` is a multiple of
        ``patch_size``.
    """
    if n_channels < 1 or n_times < 1:
        raise ValueError("n_channels and n_times must be positive")
    per_window = max_tokens // n_channels
    if max_patches is not None:
        per_window = min(per_window, max_patches)
    if per_window < 1:
        raise ValueError(
            f"{n_channels} channels exceed the budget of {max_tokens} tokens per window."
        )
    total = math.ceil(n_times / patch_size)
    n_win = math.ceil(total / per_window)
    base, extra = divmod(total, n_win)
    windows, start = [], 0
    for w in range(n_win):
        n = base + (w < extra)
        windows.append((start * patch_size, (start + n) * patch_size))
        start += n
    return windows


# -- modules (names as upstream) ---------------------------------------------------
class MultiDimentionalTemporalConv(nn.Module):
    """The multi-scale temporal front: per branch conv-GroupNorm-GELU-pool twice.

    Upstream's class name (sic). Input ``(B, L, T)`` patches; output, per
    branch, ``(B, L, embed_dim)`` with features ordered time-major
    (``t * out_chans + c``). GroupNorm pools over all patches of the window.
    """

    def __init__(self, config):
        super().__init__()
        c = config.out_chans
        for k, (k1, k2) in enumerate(config.branch_kernels, start=1):
            setattr(self, f"conv1_{k}", nn.Conv2d(1, c, (1, k1), padding=(0, k1 // 2)))
            setattr(self, f"norm1_{k}", nn.GroupNorm(config.norm_groups, c))
            setattr(self, f"pool1_{k}", nn.AvgPool2d((1, config.pools[0])))
            setattr(self, f"conv2_{k}", nn.Conv2d(c, c, (1, k2), padding=(0, k2 // 2)))
            setattr(self, f"norm2_{k}", nn.GroupNorm(config.norm_groups, c))
            setattr(self, f"pool2_{k}", nn.AvgPool2d((1, config.pools[1])))
        self.gelu1 = nn.GELU()
        self.gelu2 = nn.GELU()
        self.n_branches = config.n_branches

    def forward(self, x):
        x = x.unsqueeze(1)  # (B, 1, L, T)
        out = []
        for k in range(1, self.n_branches + 1):
            y = getattr(self, f"conv1_{k}")(x)
            y = getattr(self, f"pool1_{k}")(self.gelu1(getattr(self, f"norm1_{k}")(y)))
            y = getattr(self, f"conv2_{k}")(y)
            y = getattr(self, f"pool2_{k}")(self.gelu2(getattr(self, f"norm2_{k}")(y)))
            b, c, n, t = y.shape
            out.append(y.permute(0, 2, 3, 1).reshape(b, n, t * c))  # time-major features
        return out


class PatchEmbed(nn.Module):
    """Decoder input: a 1x1 convolution from the code dimension to ``embed_dim``."""

    def __init__(self, in_chans, embed_dim):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=(1, 1))

    def forward(self, x):  # (B, code_dim, C, A) -> (B, C*A, embed_dim)
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with q/v biases and per-head q/k LayerNorm."""

    def __init__(self, dim, num_heads, qkv_bias=True):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(dim))
            self.v_bias = nn.Parameter(torch.zeros(dim))
        else:
            self.q_bias = self.v_bias = None
        self.q_norm = nn.LayerNorm(head_dim, eps=1e-6)
        self.k_norm = nn.LayerNorm(head_dim, eps=1e-6)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        bias = None
        if self.q_bias is not None:
            bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, bias)
        q, k, v = qkv.reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q = self.q_norm(q) * self.scale
        k = self.k_norm(k)
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    """Two linear layers with an exact (erf) GELU between."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-LN transformer block (LayerNorm eps 1e-5), optional layer scale."""

    def __init__(self, dim, num_heads, mlp_ratio=4.0, qkv_bias=True, init_values=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        if init_values > 0:
            self.gamma_1 = nn.Parameter(init_values * torch.ones(dim))
            self.gamma_2 = nn.Parameter(init_values * torch.ones(dim))
        else:
            self.gamma_1 = self.gamma_2 = None

    def forward(self, x):
        if self.gamma_1 is None:
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))
        x = x + self.gamma_1 * self.attn(self.norm1(x))
        return x + self.gamma_2 * self.mlp(self.norm2(x))


class NeuroRVQTransformer(nn.Module):
    """Encoder (``use_as_encoder=True``: conv front) or decoder (1x1 patch embeds).

    Each branch's sequence runs through the same blocks on its own; the cls
    token is dropped and each branch has its own final LayerNorm
    (``fc_norm_k``).
    """

    def __init__(self, config, depth, use_as_encoder):
        super().__init__()
        d = config.embed_dim
        self.use_as_encoder = use_as_encoder
        self.n_branches = config.n_branches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        if use_as_encoder:
            self.patch_embed = MultiDimentionalTemporalConv(config)
        else:
            for k in range(1, self.n_branches + 1):
                setattr(self, f"patch_embed_{k}", PatchEmbed(config.code_dim, d))
        self.pos_embed = nn.Parameter(torch.zeros(config.n_global_electrodes + 1, d))
        self.time_embed = nn.Parameter(torch.zeros(config.n_patches, d))
        self.blocks = nn.ModuleList(
            Block(d, config.num_heads, config.mlp_ratio, config.qkv_bias, config.init_values)
            for _ in range(depth)
        )
        for k in range(1, self.n_branches + 1):
            setattr(self, f"fc_norm_{k}", nn.LayerNorm(d))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.time_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(_init_weights)

    def _branch(self, x, k, spatial_ix, temporal_ix):
        """Run branch ``k`` (1-based) on tokens ``(B, L, D)``; returns (B, L, D)."""
        x = _embed_tokens(self, x, spatial_ix, temporal_ix)
        for blk in self.blocks:
            x = blk(x)
        return getattr(self, f"fc_norm_{k}")(x[:, 1:])

    def _branch_in_groups(self, x, k, spatial_ix, temporal_ix):
        """:meth:`_branch` on groups of about ``GROUP_TOKENS`` tokens, without autograd.

        ``GROUP_TOKENS`` is read from :mod:`mne_codec.models.neurorvq` at each
        call.

        Every operation of the blocks works per window (attention within a
        window, the rest per token), so the result is the same, and measured
        bitwise equal (the GEMMs' rows do not depend on their number). The
        temporaries of a group (attention maps of MB rather than tens of MB)
        stay in cache and are reused by the allocator instead of being mapped
        and page-faulted at each operation.
        """
        b, n = x.shape[:2]
        step = max(1, neurorvq_package.GROUP_TOKENS // max(n, 1))
        if torch.is_grad_enabled() or b <= step:
            return self._branch(x, k, spatial_ix, temporal_ix)
        per_item = spatial_ix.ndim == 2 and spatial_ix.shape[0] == b
        return torch.cat([
            self._branch(x[i:i + step], k, spatial_ix[i:i + step] if per_item else spatial_ix,
                         temporal_ix)
            for i in range(0, b, step)
        ])

    def forward(self, x, spatial_ix, temporal_ix):
        """Run on ``x``: patches (B, L, T) to encode, or a list of (B, code_dim, C, A) to decode."""
        if self.use_as_encoder:
            tokens = self.patch_embed(x)  # whole batch: oneDNN convolutions round per batch size
        else:
            tokens = [getattr(self, f"patch_embed_{k + 1}")(q) for k, q in enumerate(x)]
        return [self._branch_in_groups(t, k + 1, spatial_ix, temporal_ix)
                for k, t in enumerate(tokens)]


def _embed_tokens(module, x, spatial_ix, temporal_ix):
    """Prepend the cls token and add the spatial and temporal embeddings.

    ``module`` holds ``cls_token`` (1, 1, D), ``pos_embed`` and
    ``time_embed``; ``x`` is (B, L, D) channel-major tokens, ``spatial_ix``
    (L,) or (B, L) rows of ``pos_embed`` (the cls token takes row 0) and
    ``temporal_ix`` (L,) rows of ``time_embed`` (none for the cls token).
    Returns (B, L + 1, D).
    """
    b = x.shape[0]
    x = torch.cat([module.cls_token.expand(b, -1, -1), x], dim=1)
    x = x + module.pos_embed[F.pad(spatial_ix, (1, 0))]  # row 0 for the cls token
    time = module.time_embed[temporal_ix]
    return x + torch.cat([time.new_zeros(1, time.shape[-1]), time])  # not the cls token


def _init_weights(m):
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


class _ElectrodeIndexing:
    """Spatial and temporal embedding rows of channel-major patch tokens.

    Shared by :class:`NeuroRVQ` and :class:`~mne_codec.models.NeuroRVQFM`:
    needs ``self.config`` with ``n_patches``, ``token_budget``,
    ``patch_size`` and ``canonical_names``.
    """

    def _names(self, ch_names):
        """Return the names as the embedding reads them (see ``canonical_names``)."""
        if not self.config.canonical_names:
            return list(ch_names)
        lookup = vocabulary_index(CHANNEL_VOCABULARY)
        out = []
        for name in ch_names:
            n = normalize_channel_name(name)
            row = lookup.get(n, lookup.get(CHANNEL_ALIASES.get(n)))
            out.append(name if row is None else CHANNEL_VOCABULARY[row])
        return out

    def _map(self, ch_names, unknown="raise"):
        """:func:`map_channels` on the config's vocabulary, after :func:`check_modality`."""
        names = self._names(ch_names)
        check_modality(self.config, names, unknown)
        return map_channels(names, unknown=unknown, vocabulary=self.config.channels)

    def pick_channels(self, ch_names, unknown="raise"):
        """Positions of the channels this codec can code (see :func:`map_channels`)."""
        picks, _ = self._map(needs_names(self, ch_names), unknown=unknown)
        return picks

    # -- indices --------------------------------------------------------------------
    def embedding_indices(self, ch_names, n_patches, unknown="raise"):
        """Spatial and temporal rows of the tokens of a window (channel-major).

        Returns ``picks`` (channels kept), ``spatial_ix`` and ``temporal_ix``,
        the latter two int64 tensors of length ``len(picks) * n_patches``.
        """
        cfg = self.config
        if not 1 <= n_patches <= cfg.n_patches:
            raise ValueError(f"A window holds 1 to {cfg.n_patches} patches, got {n_patches}")
        picks, rows = self._map(ch_names, unknown=unknown)
        if len(picks) * n_patches > cfg.token_budget:
            raise ValueError(
                f"{len(picks)} channels x {n_patches} patches exceed the budget of "
                f"{cfg.token_budget} tokens per window; split the recording with "
                "mne_codec.models.neurorvq.split_windows."
            )
        spatial = torch.as_tensor(rows, dtype=torch.long).repeat_interleave(n_patches)
        temporal = torch.arange(cfg.n_patches - n_patches, cfg.n_patches).repeat(len(picks))
        return picks, spatial, temporal

    def _indices(self, channels, n_channels, n_patches, device):
        """Spatial and temporal embedding rows for names or vocabulary indices.

        ``channels`` is a list of names (one montage for the whole batch) or
        an int64 tensor (batch, n_channels) of indices in
        :data:`mne_codec.channels.CHANNEL_VOCABULARY` (a montage per item,
        as :class:`~mne_codec.training.MontageCrops` yields); the spatial
        rows are then (batch, n_channels * n_patches).
        """
        if not torch.is_tensor(channels):
            if len(channels) != n_channels:
                raise ValueError(f"{len(channels)} channel names for {n_channels} channels")
            _, spatial, temporal = self.embedding_indices(channels, n_patches, unknown="raise")
            return spatial.to(device), temporal.to(device)
        if channels.ndim != 2 or channels.shape[1] != n_channels:
            raise ValueError(f"channel indices must have shape (batch, {n_channels}), got "
                             f"{tuple(channels.shape)}")
        cfg = self.config
        if not 1 <= n_patches <= cfg.n_patches or n_channels * n_patches > cfg.token_budget:
            raise ValueError(f"{n_channels} channels x {n_patches} patches do not fit the "
                             f"budget of {cfg.token_budget} tokens per window.")
        rows = _vocabulary_rows(cfg.channels).to(channels.device)[channels]
        if bool((rows < 0).any()):
            bad = sorted(set(channel_names(channels[rows < 0].cpu())))
            check_modality(cfg, bad)  # names the modality where it is not EEG
            raise ValueError(f"Channels {bad} are not in the NeuroRVQ electrode vocabulary.")
        spatial = rows.repeat_interleave(n_patches, dim=1)
        temporal = torch.arange(cfg.n_patches - n_patches, cfg.n_patches).repeat(n_channels)
        return spatial.to(device), temporal.to(device)

    def _prepare(self, x, ch_names):
        if x.ndim != 3:
            raise ValueError(
                f"x must have shape (batch, n_channels, n_times), got {tuple(x.shape)}"
            )
        p = self.config.patch_size
        if x.shape[-1] % p or x.shape[-1] == 0:
            raise ValueError(f"n_times ({x.shape[-1]}) must be a positive multiple of the "
                             f"patch size ({p}).")
        n_patches = x.shape[-1] // p
        spatial, temporal = self._indices(ch_names, x.shape[1], n_patches, x.device)
        return n_patches, spatial, temporal


def modality_of(n_global_electrodes, patch_size):
    """Name the authors' tokenizer with these channel rows and patch size (None: none).

    EEG 104 x 200, ECG 15 x 40, EMG 16 x 200, PPG 1 x 80.
    """
    return next((m for m, v in _MODALITY_FIELDS.items()
                 if len(MODALITY_CHANNELS[m]) == n_global_electrodes
                 and v["patch_size"] == patch_size), None)


def config_from_state(state, source="checkpoint"):
    """Build the :class:`NeuroRVQConfig` of a (renamed) tokenizer state dict.

    The architecture comes from the tensors' shapes; the modality from the
    number of electrode rows and the patch size, which tell the authors' four
    tokenizers apart (see :meth:`NeuroRVQConfig.for_modality`).

    Parameters
    ----------
    state : dict
        Our state dict (the authors' renamed, or :meth:`NeuroRVQ.state_dict`).
    source : str
        Where it comes from, for the error messages.

    Returns
    -------
    config : NeuroRVQConfig
    """
    f = convert.tokenizer_config_fields(state, source)
    rows, patch = f["n_global_electrodes"], f["patch_size"]
    modality = modality_of(rows, patch)
    if modality is None:
        known = ", ".join(f"{m.upper()} {len(MODALITY_CHANNELS[m])} x {v['patch_size']}"
                          for m, v in _MODALITY_FIELDS.items())
        raise CheckpointError(
            f"{source} has {rows} electrode rows and patches of {patch} samples, which is "
            f"none of the NeuroRVQ tokenizers ({known}); pass its config=.")
    rvq = replace(_eeg_rvq(f.pop("n_codebooks")), dim=f.pop("code_dim"),
                  codebook_size=f.pop("codebook_size"))
    try:
        return NeuroRVQConfig.for_modality(modality, rvq=rvq, **f)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{source}: invalid NeuroRVQ architecture ({err}).") from err


class NeuroRVQEncoding(Encoding):
    """What :meth:`NeuroRVQ.encode` returns: an :class:`~mne_codec.models.Encoding`.

    Its codes are int64, (batch, n_channels, n_branches * n_codebooks,
    n_patches), axis 2 branch-major (index ``k * n_codebooks + q`` is level
    ``q`` of branch ``k``); its side information is :attr:`stats`.
    """

    @property
    def stats(self):
        """float32, (batch, 2): mean and unbiased std of ``log1p|FFT|`` of the window."""
        return self.side


class NeuroRVQ(_ElectrodeIndexing, Codec):
    """NeuroRVQ tokenizer (multi-scale, channels coded jointly by name).

    Parameters
    ----------
    config : NeuroRVQConfig | None
        Architecture; the authors' EEG v1 tokenizer by default.

    Notes
    -----
    Module and parameter names are the authors'; only the codebooks differ
    (``quantize_k.layers.j.codebook.*``, our :class:`ResidualVQ`, against
    upstream ``quantize_k.layers.j.embedding.*``). The authors' weights are
    licensed CC BY-NC 4.0 and load with
    :func:`mne_codec.checkpoints.load_neurorvq_checkpoint`.

    Tokens: per channel and 1-s patch, ``n_branches * n_codebooks`` = 32 codes
    of 13 bits (416 bit/s per channel). A window is coded jointly (attention
    and GroupNorm span all its channels and patches), so codes depend on the
    window's other channels. Windows need ``n_channels * n_patches <= 256``:
    see :func:`split_windows`. Eval-mode calls never change the state (the
    reference updates usage buffers and may run k-means on eval forwards).
    """

    family = "neurorvq"
    channel_policy = "named"
    authors_format = "neurorvq"
    _why_not_streamable = "it codes channels jointly in patches"
    #: licence of the authors' weights (warned once per process when loaded)
    authors_weights_license = ("CC BY-NC 4.0 (weights and reference code; non-commercial use "
                               "only)")
    #: values of side information per coded sub-window (the amplitude statistics)
    n_side = 2

    @property
    def _probe_channel(self):
        """A name of the codec's vocabulary, for the pipeline's memory probe."""
        return "Cz" if "cz" in self.config.channels else self.config.channels[0]

    @classmethod
    def is_authors_state(cls, obj):
        """Whether ``obj`` is an authors' tokenizer state dict.

        See :func:`mne_codec.models.neurorvq.convert.is_authors_state`.
        """
        return convert.is_authors_state(obj)

    @classmethod
    def from_authors_state(cls, obj, source="checkpoint", config=None):
        """Build a NeuroRVQ from an authors' tokenizer state dict (CC BY-NC 4.0 weights).

        Loaded strictly: every key of the model, renamed by
        :func:`~mne_codec.models.neurorvq.convert.neurorvq_state_from_authors`,
        and the k-means counts of every codebook (checked, then dropped).

        Parameters
        ----------
        obj : dict
            The tokenizer's ``state_dict()`` (or ``{"model": ...}``), as loaded.
        source : str
            Where it comes from, for the error messages.
        config : NeuroRVQConfig | None
            Architecture. None: read from the tensors' shapes
            (:func:`~mne_codec.models.neurorvq.convert.tokenizer_config_fields`),
            the modality (channel vocabulary, rate, preprocessing) from the
            number of electrode rows and the patch size of the authors' four
            tokenizers (EEG 104 x 200, ECG 15 x 40, EMG 16 x 200, PPG 1 x 80).

        Returns
        -------
        codec : NeuroRVQ
            In eval mode.
        """
        state, dropped = convert.neurorvq_state_from_authors(obj)
        if config is None:
            config = config_from_state(state, source)
        model = cls(config)
        convert.check_dropped(model, dropped, source)
        return load_state_strict(model, state, source).eval()

    def __init__(self, config=None):
        super().__init__()
        self.config = config or NeuroRVQConfig()
        cfg = self.config
        self.encoder = NeuroRVQTransformer(cfg, cfg.depth_encoder, use_as_encoder=True)
        self.decoder = NeuroRVQTransformer(cfg, cfg.depth_decoder, use_as_encoder=False)
        d, out = cfg.embed_dim, cfg.decoder_out_dim
        for k in range(1, cfg.n_branches + 1):
            setattr(self, f"quantize_{k}", ResidualVQ(cfg.rvq))
        for k in range(1, cfg.n_branches + 1):
            setattr(self, f"encode_task_layer_{k}",
                    nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, cfg.code_dim)))
        joint = cfg.n_branches * d
        self.decode_task_layer_amplitude = nn.Sequential(
            nn.Linear(joint, d), nn.GELU(), nn.Linear(d, out))
        self.decode_task_layer_angle_sin = nn.Sequential(
            nn.Linear(joint, d), nn.Tanh(), nn.Linear(d, out), nn.Tanh())
        self.decode_task_layer_angle_cos = nn.Sequential(
            nn.Linear(joint, d), nn.Tanh(), nn.Linear(d, out), nn.Tanh())
        for name, m in self.named_children():
            if name.startswith(("encode_task", "decode_task")):
                m.apply(_init_weights)

    # -- description --------------------------------------------------------------
    @property
    def quantizer(self):
        """The first branch's quantizer (all branches have the same config)."""
        return self.quantize_1

    @property
    def quantizers(self):
        """The per-branch quantizers, in branch order."""
        return [getattr(self, f"quantize_{k}") for k in range(1, self.config.n_branches + 1)]

    @property
    def n_branches(self):
        """Number of convolution branches."""
        return self.config.n_branches

    @property
    def hop_length(self):
        """Samples per patch (one token frame)."""
        return self.config.patch_size

    @property
    def bits_per_second(self):
        """Bits per second and channel of the tokens (all branches)."""
        return self.n_branches * super().bits_per_second

    @property
    def n_code_rows(self):
        """Rows of axis 2 of the codes: ``n_branches * n_codebooks``."""
        return self.n_branches * self.n_codebooks

    def code_rows(self, n_codebooks):
        """Rows of axis 2 holding the first ``n_codebooks`` levels of every branch."""
        n_q = self.n_codebooks
        return [k * n_q + q for k in range(self.n_branches) for q in range(n_codebooks)]

    def coding_blocks(self, n_channels, n_times):
        """How a window is cut into the sub-windows that are coded together.

        All channels of a window are coded together, in chunks of whole
        patches that keep ``n_channels * n_patches`` within the token budget
        (:func:`split_windows`); beyond ``token_budget`` channels, the
        channels are split into even groups of consecutive channels coded
        one patch at a time.

        Parameters
        ----------
        n_channels : int
            Channels of the window.
        n_times : int
            Samples of the window at the codec's rate.

        Returns
        -------
        blocks : list of (int, int, int, int)
            ``(ch_start, ch_stop, start, stop)``; ``stop`` may exceed
            ``n_times`` (the last partial patch is zero-padded).
        """
        cfg = self.config
        n_groups = math.ceil(n_channels / cfg.token_budget)
        size, extra = divmod(n_channels, n_groups)
        blocks, c0 = [], 0
        for g in range(n_groups):
            c1 = c0 + size + (g < extra)
            for start, stop in split_windows(c1 - c0, n_times, cfg.patch_size,
                                             cfg.token_budget, cfg.n_patches):
                blocks.append((c0, c1, start, stop))
            c0 = c1
        return blocks

    @staticmethod
    def side_bits_per_second(n_patches):
        """Bits per second of the side information, per window (all channels).

        Two float32 (the amplitude statistics) per window of ``n_patches``
        patches of 1 s: ``64 / n_patches``.
        """
        return 64.0 / n_patches

    @staticmethod
    def _spectrum(x4):
        """``log1p|FFT|`` and the phase's sin/cos of patches (..., T)."""
        spec = torch.fft.fft(x4, dim=-1)
        angle = torch.angle(spec)
        return torch.log1p(torch.abs(spec)), torch.sin(angle), torch.cos(angle)

    @staticmethod
    def amplitude_stats(log_amp):
        """Mean and unbiased std (variance clamped at 1e-8) per window: (batch, 2)."""
        dims = tuple(range(1, log_amp.ndim))
        mean = log_amp.mean(dim=dims)
        std = torch.sqrt(log_amp.var(dim=dims).clamp(min=1e-8))
        return torch.stack([mean, std], dim=1)

    # -- the interface --------------------------------------------------------------
    def _latents(self, x, ch_names):
        b, c, n = x.shape
        n_patches, spatial, temporal = self._prepare(x, ch_names)
        patches = x.reshape(b, c * n_patches, self.config.patch_size)  # channel-major
        feats = self.encoder(patches, spatial, temporal)
        lat = [getattr(self, f"encode_task_layer_{k + 1}")(f) for k, f in enumerate(feats)]
        return lat, n_patches, spatial, temporal

    def encode(self, x, ch_names=None):
        """Encode windows to codes and the amplitude statistics.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, n_channels, n_times)
            Preprocessed signals (microvolts, 200 Hz); ``n_times`` is a multiple
            of the patch size and ``n_channels * n_times / patch_size <= 256``.
        ch_names : list of str
            Channel names (all must map to the vocabulary: select channels
            with :func:`map_channels` first).

        Returns
        -------
        encoding : NeuroRVQEncoding
            ``codes`` (batch, n_channels, n_branches * n_codebooks, n_patches)
            and ``stats`` (batch, 2).
        """
        lat, n_patches, _, _ = self._latents(x, needs_names(self, ch_names))
        b, c, _ = x.shape
        codes = []
        for k, z in enumerate(lat):
            ck = self.quantizers[k].encode(z.transpose(1, 2), self.n_codebooks)  # (B, Q, C*A)
            codes.append(ck.reshape(b, -1, c, n_patches))
        codes = torch.cat(codes, dim=1).permute(0, 2, 1, 3).contiguous()
        log_amp, _, _ = self._spectrum(x.reshape(b, c, n_patches, self.config.patch_size))
        return NeuroRVQEncoding(codes, self.amplitude_stats(log_amp))

    def quantized_latent(self, x, ch_names=None):
        """Not available: NeuroRVQ's tokens are not fine-tuned through its quantizers here.

        Raises
        ------
        NotImplementedError
            Always; fine-tune the NeuroRVQ foundation model instead
            (:class:`mne_codec.braindecode.NeuroRVQFMClassifier`).
        """
        raise NotImplementedError(
            "NeuroRVQ's encoder cannot be fine-tuned through its tokens here (freeze=False); "
            "fine-tune the NeuroRVQ foundation model (NeuroRVQFMClassifier) instead.")

    def quantized(self, codes):
        """Quantized latent of every token: (batch, n_channels, n_branches * code_dim, n_patches).

        The branches' latents are stacked along axis 2 (branch-major).
        """
        return torch.cat([q.permute(0, 2, 1, 3) for q in self._quantized_branches(codes)], dim=2)

    def _quantized_branches(self, codes):
        """Quantized latents per branch: list of (batch, code_dim, n_channels, n_patches)."""
        b, c, kq, a = codes.shape
        if kq % self.n_branches:
            raise ValueError(f"codes axis 2 ({kq}) is not a multiple of {self.n_branches} branches")
        n_q = kq // self.n_branches
        per = codes.long().permute(0, 2, 1, 3).reshape(b, self.n_branches, n_q, c * a)
        return [self.quantizers[k].decode(per[:, k]).reshape(b, -1, c, a)
                for k in range(self.n_branches)]

    def _heads(self, quantized, spatial, temporal):
        feats = torch.cat(self.decoder(quantized, spatial, temporal), dim=-1)
        return (self.decode_task_layer_amplitude(feats), self.decode_task_layer_angle_sin(feats),
                self.decode_task_layer_angle_cos(feats))

    def _synthesise(self, amp, sin, cos, stats, shape):
        """Signal from the standardised log-amplitude and the phase's sin/cos."""
        b, c, a = shape
        mean, std = stats[:, 0].reshape(b, 1, 1), stats[:, 1].reshape(b, 1, 1)
        mag = torch.expm1(amp * std + mean)
        y = torch.fft.ifft(torch.complex(mag * cos, mag * sin), dim=-1).real
        return y.reshape(b, c, a * y.shape[-1])

    def decode(self, codes, *args, ch_names=None, n_times=None, side=None):
        """Decode codes (and the window statistics) to signals.

        Parameters
        ----------
        codes : NeuroRVQEncoding | torch.Tensor of int
            Shape (batch, n_channels, n_branches * n_q, n_patches).
            What :meth:`encode` returned (``n_q`` levels in use per branch),
            or its codes with ``side``.
        *args
            ``ch_names`` and then ``n_times`` may be given by position.
        ch_names : list of str
            The channels' names, as given to :meth:`encode`.
        n_times : int | None
            Trim the output to this many samples.
        side : torch.Tensor, shape (batch, 2) | None
            The amplitude statistics from :meth:`encode`, if ``codes`` are
            plain codes.

        Returns
        -------
        x : torch.Tensor, shape (batch, n_channels, n_times)
        """
        codes, ch_names, n_times, stats = decode_args(codes, args, ch_names, n_times, side)
        if codes.ndim != 4:
            raise ValueError("codes must have shape (batch, n_channels, n_branches * "
                             f"n_codebooks, n_patches), got {tuple(codes.shape)}")
        if stats is None:
            raise ValueError("NeuroRVQ needs the amplitude statistics to decode: pass the "
                             "encoding from encode(), or side=encoding.side.")
        b, c, _, a = codes.shape
        spatial, temporal = self._indices(needs_names(self, ch_names), c, a, codes.device)
        heads = self._heads(self._quantized_branches(codes), spatial, temporal)
        y = self._synthesise(*heads, stats.to(heads[0].dtype), (b, c, a))
        return y if n_times is None else y[..., :n_times]

    def forward(self, x, ch_names=None, n_codebooks=None):
        """Training forward with the authors' four losses.

        Returns
        -------
        recon : torch.Tensor, (batch, n_channels, n_times)
            Reconstruction (in the input's units).
        codes : torch.Tensor
            As :meth:`encode`.
        losses : dict of torch.Tensor
            ``code`` (quantizers), ``amplitude`` (MSE of the standardised
            log-amplitude), ``phase`` (1 - cosine similarity of (cos, sin)
            plus 0.1 x the unit-circle penalty) and ``time`` (MSE of the
            window-standardised signals); ``total`` is their sum.

        Notes
        -----
        The amplitude, phase and time terms are the authors'. The code term
        is our :class:`ResidualVQ`'s (``commitment_weight`` x MSE between the
        normalised residual and its codeword, mean over levels, summed over
        branches); upstream adds ``0.4 * MSE(q_l, sg(r_{l+1}))`` per level, and
        its EMA renormalises the codewords directly (``w <- l2norm(0.99 w +
        0.01 l2norm(mean))``) where ours averages sums and counts first.
        """
        b, c, n = x.shape
        lat, a, spatial, temporal = self._latents(x, needs_names(self, ch_names))
        quantized, codes, code_loss = [], [], 0.0
        for k, z in enumerate(lat):
            out = self.quantizers[k](z.transpose(1, 2), n_codebooks)
            quantized.append(out.quantized.reshape(b, -1, c, a))
            codes.append(out.codes.reshape(b, -1, c, a))
            code_loss = code_loss + out.loss
        codes = torch.cat(codes, dim=1).permute(0, 2, 1, 3)
        p = self.config.patch_size
        log_amp, sin_t, cos_t = self._spectrum(x.reshape(b, c * a, p))
        stats = self.amplitude_stats(log_amp)
        amp_t = (log_amp - stats[:, :1, None]) / stats[:, 1:, None]
        amp, sin, cos = self._heads(quantized, spatial, temporal)
        recon = self._synthesise(amp, sin, cos, stats, (b, c, a))
        rec = torch.stack([cos, sin], -1)
        phase = (1 - F.cosine_similarity(rec, torch.stack([cos_t, sin_t], -1), dim=-1).mean()
                 + 0.1 * (sin.pow(2) + cos.pow(2) - 1).pow(2).mean())

        def std_norm(v):
            v = v.reshape(b, -1)
            return (v - v.mean(1, keepdim=True)) / v.var(1, keepdim=True).clamp(min=1e-8).sqrt()

        losses = dict(code=code_loss, amplitude=F.mse_loss(amp, amp_t), phase=phase,
                      time=F.mse_loss(std_norm(recon), std_norm(x)))
        losses["total"] = sum(losses.values())
        return recon, codes, losses

    def reference_token_layout(self, codes):
        """Codes in the authors' ``get_tokens`` layout: (n_branches, n_q, batch, C * A)."""
        b, c, kq, a = codes.shape
        k = self.n_branches
        per = codes.reshape(b, c, k, kq // k, a).permute(2, 3, 0, 1, 4)
        return per.reshape(k, kq // k, b, c * a)
