"""braindecode models built on codec tokens and on the NeuroRVQ foundation model.

This module imports braindecode (and, through it, torchaudio), so it is never
imported by ``import mne_codec``; import it explicitly::

    from mne_codec.braindecode import CodecEncoder, TokenClassifier

braindecode 1.8 needs a torch/torchaudio pair that loads together, e.g.
``pip install "torch==2.11.0" "torchaudio==2.11.0" "mne-codec[braindecode]"``.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

try:
    from braindecode.models.base import EEGModuleMixin
except ImportError as err:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "mne_codec.braindecode needs braindecode, which imports torchaudio at import time: "
        "install a torch/torchaudio pair that loads together, e.g. "
        "pip install \"torch==2.11.0\" \"torchaudio==2.11.0\" \"mne-codec[braindecode]\" "
        f"({type(err).__name__}: {err})"
    ) from err

from dataclasses import replace

from braindecode.preprocessing import Preprocessor

from ._cache import MemoryTokenCache, window_key
from ._validation import pick_codec_channels
from .checkpoints import load_codec, load_neurorvq_fm
from .models import Codec
from .models.neurorvq_fm import NeuroRVQFM, NeuroRVQFMConfig
from .pipeline import encode, show_progress
from .preprocessing import band_limit, prepare_windows

__all__ = ["CodecEncoder", "NeuroRVQFMClassifier", "TokenClassifier", "codec_preprocessors",
           "layer_decay_param_groups"]

_OUTPUTS = ("tokens", "embedding")


def codec_preprocessors(codec="default"):
    """Braindecode preprocessors that apply a codec's filters to continuous data.

    The modules of this file scale and resample each window as the codec
    expects, but leave filtering to the continuous recordings (filtering
    short windows adds edge transients). Apply these before windowing::

        from braindecode.preprocessing import preprocess
        preprocess(dataset, codec_preprocessors("default"))

    Parameters
    ----------
    codec : str | Codec | NeuroRVQFM
        The codec (or model) whose ``preprocessing`` to follow.

    Returns
    -------
    preprocessors : list of braindecode.preprocessing.Preprocessor
        Channel-type picking, notch and band-pass filters (zero-phase
        Butterworth, as :func:`mne_codec.preprocessing.band_limit`).
    """
    if not hasattr(codec, "preprocessing"):
        codec = load_codec(codec, verbose=False)
    prep = codec.preprocessing

    def _filter(data, sfreq):
        return band_limit(data, sfreq, prep)

    def _apply(raw):
        raw.pick(pick_codec_channels(raw.info, prep.ch_types))
        raw.apply_function(_filter, channel_wise=False, sfreq=raw.info["sfreq"])
        return raw

    return [Preprocessor(_apply, apply_on_array=False)]


#: shared by every module in the process, so the folds of a cross-validation
#: and the epochs of a training run encode each window once
_TOKEN_CACHE = MemoryTokenCache()


class CodecEncoder(EEGModuleMixin, nn.Module):
    """A codec as a braindecode module: EEG windows to tokens or quantized embeddings.

    Each window and channel is resampled to the codec's rate and scaled as
    the codec declares (median/IQR per window and channel, then clipped),
    by the tokenizer's own :func:`~mne_codec.preprocessing.preprocess` (on
    the CPU); the codec's band-pass is left to the continuous recordings (see
    :func:`codec_preprocessors`). Each window is coded as the codec codes it
    (:func:`mne_codec.pipeline.encode`): channel-independent codecs take any
    number of channels; codecs that code channels jointly by name (NeuroRVQ,
    DAC-MC) read the names from ``chs_info`` (or ``ch_names``), all of which
    they must know.

    Parameters
    ----------
    n_chans, chs_info, n_times, input_window_seconds, sfreq, n_outputs
        braindecode's signal parameters (:class:`braindecode.models.base.EEGModuleMixin`);
        ``n_outputs`` is unused.
    codec : str | Codec
        Codec name, path or instance (a private copy is made).
    output : ``"tokens"`` | ``"embedding"``
        ``"tokens"``: integer codes ``(batch, n_chans, n_codebooks, n_frames)``;
        ``"embedding"``: quantized latent ``(batch, n_chans, dim, n_frames)``.
    n_codebooks : int | None
        Levels used (default: all).
    freeze : bool
        Keep the codec frozen (in eval mode, no gradients). With
        ``freeze=False`` and ``output="embedding"`` the encoder is fine-tuned:
        gradients reach it through the quantizer by the straight-through
        estimator; the codebooks stay fixed.
    cache_tokens : bool
        With a frozen codec, remember the codes of windows already seen
        (content-keyed, bounded LRU shared across modules).
    ch_names : list of str | None
        The channels' names (default: from ``chs_info``), for codecs that code
        channels by name.
    """

    _HUB_NOTES_TEMPLATE = ""  # see TokenClassifier

    def __init__(self, n_chans=None, chs_info=None, n_times=None, input_window_seconds=None,
                 sfreq=None, n_outputs=None, *, codec="default", output="embedding",
                 n_codebooks=None, freeze=True, cache_tokens=True, ch_names=None):
        super().__init__(n_outputs=n_outputs, n_chans=n_chans, chs_info=chs_info,
                         n_times=n_times, input_window_seconds=input_window_seconds,
                         sfreq=sfreq)
        if output not in _OUTPUTS:
            raise ValueError(f"output must be one of {_OUTPUTS}, got {output!r}")
        if not freeze and output == "tokens":
            raise ValueError("Tokens carry no gradient: use output='embedding' with "
                             "freeze=False to fine-tune the encoder.")
        try:
            self.sfreq, self.n_times  # noqa: B018 - inferred or given, else ValueError
        except ValueError as err:
            raise ValueError(
                f"{type(self).__name__} needs the windows' sampling frequency and length to "
                "resample them to the codec's rate: pass sfreq and n_times (or "
                "input_window_seconds). With EEGClassifier, braindecode infers them from "
                "Epochs but not from datasets: pass module__sfreq=..."
            ) from err
        loaded = codec if isinstance(codec, Codec) else load_codec(codec, verbose=False)
        self.codec = copy.deepcopy(loaded).prepare_for_inference()
        if ch_names is None and self._chs_info is not None:
            ch_names = [ch["ch_name"] for ch in self._chs_info]
        if ch_names is not None and self._n_chans is not None and len(ch_names) != self.n_chans:
            raise ValueError(f"{len(ch_names)} channel names for n_chans={self.n_chans}")
        # the codec refuses, now rather than at the first batch, channels it cannot code
        # (codecs that code by name: missing or unknown names)
        if ch_names is not None or self._n_chans is not None:
            self.codec.pick_channels(ch_names if ch_names is not None else self.n_chans)
        self.ch_names = None if ch_names is None else list(ch_names)
        self.codec.set_num_codebooks(n_codebooks)
        self.output = output
        self.freeze = freeze
        self.cache_tokens = cache_tokens
        self.n_times_codec = int(round(self.n_times * self.codec.sfreq / self.sfreq))
        if self.n_times_codec < self.codec.hop_length:
            raise ValueError(
                f"Windows of {self.n_times} samples at {self.sfreq:g} Hz are shorter than one "
                f"codec frame ({self.codec.hop_length} samples at {self.codec.sfreq:g} Hz).")
        self.n_frames = self.codec.n_frames(self.n_times_codec)
        for p in self.codec.parameters():
            p.requires_grad_(not freeze)
        if not freeze:  # the codebooks stay fixed: only the encoder is trained
            for p in self.codec.quantizer.parameters():
                p.requires_grad_(False)
        self.codec.eval()

    def train(self, mode=True):
        """Set the training mode; a frozen codec stays in eval mode."""
        super().train(mode)
        if self.freeze:
            self.codec.eval()  # no dropout, no codebook updates, ever
        return self

    def _prepare(self, x):
        if x.ndim != 3:
            raise ValueError(f"x must have shape (batch, n_chans, n_times), got {tuple(x.shape)}")
        if x.shape[-1] != self.n_times:
            raise ValueError(f"Windows have {x.shape[-1]} samples; the module was built for "
                             f"n_times={self.n_times}.")
        return prepare_windows(x, self.n_times_codec, self.codec.preprocessing, self.sfreq)

    def _encode(self, rows, device):
        """Codes (n, n_chans, K, T) of prepared windows (numpy), as the pipeline codes them."""
        with show_progress(False):  # one batch of a training loop: no bar of its own
            return encode(self.codec, rows, self.ch_names, device=device).codes

    def _codes(self, x):
        """Codes (batch, n_chans, K, T) of prepared windows, from the cache where seen."""
        rows = x.detach().cpu().contiguous().numpy()
        if not (self.cache_tokens and self.freeze):
            return torch.from_numpy(self._encode(rows, x.device)).long().to(x.device)
        prefix = f"{self.codec.fingerprint()}:{self.codec.n_codebooks}:{rows.shape}"
        if self.ch_names is not None:  # codes may depend on the channels, by name
            prefix += ":" + ",".join(self.ch_names)
        keys = [window_key(prefix, row) for row in rows]
        found = [_TOKEN_CACHE.get(k) for k in keys]
        todo = [i for i, f in enumerate(found) if f is None]
        if todo:
            with torch.no_grad():
                new = self._encode(rows[todo], x.device)
            for j, i in enumerate(todo):
                found[i] = new[j]
                _TOKEN_CACHE.put(keys[i], new[j])
        return torch.from_numpy(np.stack(found)).long().to(x.device)

    def forward(self, x):
        """Encode ``x`` of shape (batch, n_chans, n_times), in volts at ``sfreq``."""
        x = self._prepare(x)
        if not self.freeze:  # gradients reach the encoder through the quantizer
            return self.codec.quantized_latent(x, self.ch_names)
        codes = self._codes(x)
        if self.output == "tokens":
            return codes
        with torch.no_grad():
            return self.codec.quantized(codes)


class _SinusoidalPositions(nn.Module):
    """Adds the sinusoidal position encoding of "Attention is all you need"."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):  # (batch, length, dim)
        pos = torch.arange(x.shape[1], device=x.device, dtype=x.dtype)[:, None]
        freqs = torch.exp(torch.arange(0, self.dim, 2, device=x.device, dtype=x.dtype)
                          * (-math.log(10000.0) / self.dim))
        pe = torch.zeros(x.shape[1], self.dim, device=x.device, dtype=x.dtype)
        pe[:, 0::2] = torch.sin(pos * freqs)
        pe[:, 1::2] = torch.cos(pos * freqs[: self.dim // 2])
        return x + pe


class TokenClassifier(EEGModuleMixin, nn.Module):
    """BioCodec's downstream classifier on codec tokens, as a braindecode model.

    Takes raw EEG windows, tokenizes them with a frozen codec
    (:class:`CodecEncoder`), embeds each level's codes with embeddings
    initialised from the codec's codebooks (per-dimension z-score, then unit
    norm, ``max_norm=1``) and sums the levels; a transformer layer runs across
    time per channel, another across channels per frame (each with sinusoidal
    positions; the two start from identical weights), then the mean over time
    feeds an MLP head (Avramidis et al. 2025, ``ft_model.BioCodecFT``).

    Parameters
    ----------
    n_outputs, n_chans, chs_info, n_times, input_window_seconds, sfreq
        braindecode's signal parameters.
    codec : str | Codec
        The codec (frozen).
    n_codebooks : int | None
        Levels used (default: all).
    emb_dim : int | None
        Embedding size; default the codebook dimension, so that the
        embeddings start from the codebooks (otherwise they start random).
    n_heads : int
        Attention heads of both transformer layers.
    ff_dim : int
        Feed-forward width of the transformer layers.
    dropout : float
        Dropout in the transformer layers.
    hidden_dim : int
        Width of the MLP head.
    head_dropout : float
        Dropout before each layer of the head.
    channel_pooling : ``"flatten"`` | ``"mean"``
        ``"flatten"`` (the authors'): the head sees every channel's features
        concatenated, so the model is tied to ``n_chans``; ``"mean"``: the head
        sees their mean, so the trained model takes any number of channels.
    cache_tokens : bool
        Remember the codes of windows already seen (see :class:`CodecEncoder`).
    """

    # braindecode appends Hub notes written for its own models (their import
    # path, their heads); they would be wrong here
    _HUB_NOTES_TEMPLATE = ""

    def __init__(self, n_outputs=None, n_chans=None, chs_info=None, n_times=None,
                 input_window_seconds=None, sfreq=None, *, codec="default", n_codebooks=None,
                 emb_dim=None, n_heads=8, ff_dim=64, dropout=0.2, hidden_dim=64,
                 head_dropout=0.5, channel_pooling="flatten", cache_tokens=True):
        super().__init__(n_outputs=n_outputs, n_chans=n_chans, chs_info=chs_info,
                         n_times=n_times, input_window_seconds=input_window_seconds,
                         sfreq=sfreq)
        if channel_pooling not in ("flatten", "mean"):
            raise ValueError(f"channel_pooling must be 'flatten' or 'mean', got "
                             f"{channel_pooling!r}")
        # with "mean" pooling nothing depends on the number of channels
        n_chans_known = channel_pooling == "flatten" or n_chans is not None or chs_info
        self.encoder = CodecEncoder(n_chans=self.n_chans if n_chans_known else None,
                                    n_times=self.n_times,
                                    sfreq=self.sfreq, codec=codec, output="tokens",
                                    n_codebooks=n_codebooks, freeze=True,
                                    cache_tokens=cache_tokens)
        codec = self.encoder.codec
        levels = codec.quantizer.layers[: codec.n_codebooks]
        cb_dim = levels[0].codebook.embed.shape[1]
        emb_dim = cb_dim if emb_dim is None else emb_dim
        if emb_dim % n_heads:
            raise ValueError(f"emb_dim={emb_dim} must be a multiple of n_heads={n_heads}.")
        self.embeddings = nn.ModuleList()
        for level in levels:
            emb = nn.Embedding(codec.codebook_size, emb_dim, max_norm=1.0)
            if emb_dim == cb_dim:
                with torch.no_grad():
                    book = level.codebook.embed.detach().float()
                    book = (book - book.mean(0)) / book.std(0).clamp_min(1e-6)
                    emb.weight.copy_(nn.functional.normalize(book, dim=1))
            self.embeddings.append(emb)
        self.positions = _SinusoidalPositions(emb_dim)
        self.time_transformer = nn.TransformerEncoderLayer(
            emb_dim, n_heads, ff_dim, dropout, activation="gelu", batch_first=True)
        self.channel_transformer = copy.deepcopy(self.time_transformer)
        self.channel_pooling = channel_pooling
        n_features = emb_dim * (self.n_chans if channel_pooling == "flatten" else 1)
        self.emb_dim, self.hidden_dim, self.head_dropout = emb_dim, hidden_dim, head_dropout
        self.final_layer = self._head(n_features, self.n_outputs)

    def _head(self, n_features, n_outputs):
        return nn.Sequential(nn.Dropout(self.head_dropout), nn.Linear(n_features, self.hidden_dim),
                             nn.GELU(), nn.Dropout(self.head_dropout),
                             nn.Linear(self.hidden_dim, n_outputs))

    def reset_head(self, n_outputs):
        """Replace the classification head for ``n_outputs`` classes."""
        self._n_outputs = n_outputs
        self.final_layer[-1] = nn.Linear(self.hidden_dim, n_outputs)

    def forward(self, x, return_features=False):
        """Class scores of EEG windows ``x`` (batch, n_chans, n_times) in volts."""
        if self.channel_pooling == "flatten" and x.shape[1] != self.n_chans:
            raise ValueError(
                f"The model was built for n_chans={self.n_chans} but got {x.shape[1]} channels "
                "(use channel_pooling='mean' for a model that takes any number).")
        codes = self.encoder(x)  # (B, C, K, T)
        b, c, k, t = codes.shape
        h = sum(emb(codes[:, :, i]) for i, emb in enumerate(self.embeddings))  # (B, C, T, D)
        h = self.time_transformer(self.positions(h.reshape(b * c, t, -1)))
        h = h.reshape(b, c, t, -1).transpose(1, 2).reshape(b * t, c, -1)
        h = self.channel_transformer(self.positions(h))
        h = h.reshape(b, t, c, -1).mean(1)  # mean over time: (B, C, D)
        features = h.reshape(b, -1) if self.channel_pooling == "flatten" else h.mean(1)
        out = self.final_layer(features)
        return {"features": features, "out": out} if return_features else out


def _lr_scale(layer, depth, layer_decay):
    """Learning-rate multiplier of layer ``layer`` (0: embeddings ... depth + 1: head)."""
    return layer_decay ** (depth + 1 - layer)


#: parameters without weight decay (besides biases and norms), as LaBraM's
#: ``no_weight_decay``
_NO_DECAY = ("cls_token", "pos_embed", "time_embed", "mask_token")


def layer_decay_param_groups(lr, layer_decay=0.975, depth=12, prefix="encoder."):
    """Skorch ``optimizer__param_groups`` for layer-wise learning-rate decay.

    For :class:`NeuroRVQFMClassifier` in :class:`braindecode.EEGClassifier`::

        EEGClassifier(NeuroRVQFMClassifier, lr=5e-4, optimizer=torch.optim.AdamW,
                      optimizer__param_groups=layer_decay_param_groups(5e-4, 0.975, 12))

    Block ``l`` of the encoder gets ``lr * layer_decay ** (depth - l)``, the
    convolution front and the embeddings ``lr * layer_decay ** (depth + 1)``,
    the classification head (every parameter no pattern matches) ``lr``: the
    same rates as :meth:`NeuroRVQFMClassifier.param_groups` (which also
    exempts biases, norms and embeddings from weight decay).

    Parameters
    ----------
    lr : float
        Learning rate of the head (the optimizer's ``lr``).
    layer_decay : float
        Decay per layer (the authors' 0.975).
    depth : int
        Blocks of the encoder.
    prefix : str
        Name of the encoder in the module, with a trailing dot.

    Returns
    -------
    groups : list of (str, dict)
        ``(fnmatch pattern, {"lr": ...})``, in matching order.
    """
    groups = [(f"{prefix}blocks.{i}.*", {"lr": lr * _lr_scale(i + 1, depth, layer_decay)})
              for i in range(depth)]
    groups.append((f"{prefix}*", {"lr": lr * _lr_scale(0, depth, layer_decay)}))
    return groups


class NeuroRVQFMClassifier(EEGModuleMixin, nn.Module):
    """NeuroRVQ-FM encoder with a pooled classification head, as a braindecode model.

    The authors' fine-tuning model: the foundation model's token features
    (:meth:`NeuroRVQFM.features <mne_codec.models.NeuroRVQFM.features>`: the
    four branches concatenated, no final norm) averaged over the window's
    channel x patch tokens, then ``fc_norm`` (LayerNorm) and a linear layer
    (``final_layer``). Windows in volts at ``sfreq`` are resampled to the
    model's 200 Hz, scaled to microvolts and clipped at +-500 by
    :func:`~mne_codec.preprocessing.preprocess`, as the model reads them;
    the band-pass belongs to the continuous recordings
    (``codec_preprocessors(model)``). Windows must hold whole 1-s patches and
    ``n_chans * n_patches`` must fit the token budget (256).

    Layer-wise learning-rate decay: :meth:`param_groups` (a torch optimizer)
    or :func:`layer_decay_param_groups` (``optimizer__param_groups`` of
    :class:`~braindecode.EEGClassifier`) give block ``l`` (1-based) the rate
    ``lr * layer_decay ** (depth + 1 - l)``, the convolution front and the
    embeddings ``lr * layer_decay ** (depth + 1)`` and the head ``lr``: one
    rate per layer. The authors' fine-tuning script instead scales each
    parameter tensor by ``layer_decay ** (n_tensors - index)``, its index in
    ``named_parameters()``, so that the rate decays with every tensor (about
    16 per block) rather than every layer: the first tensors train at
    ``0.975 ** 200 = 0.6 %`` of the head's rate where the first layer's
    would be ``0.975 ** 13 = 72 %``. We decay per layer, as LaBraM and BEiT.

    Parameters
    ----------
    n_outputs, n_chans, chs_info, n_times, input_window_seconds, sfreq
        braindecode's signal parameters.
    model : str | path-like | NeuroRVQFM | NeuroRVQFMConfig | None
        The pre-trained model: a path (the authors'
        ``NeuroRVQ_EEG_foundation_model_v1.pt``, licensed **CC BY-NC 4.0**,
        non-commercial use only; or our folder, see
        :func:`mne_codec.checkpoints.load_neurorvq_fm`), a model (copied),
        or a config / ``None`` (the v1 architecture) for random weights. The
        prediction heads are not kept.
    ch_names : list of str | None
        The channels' names (default: from ``chs_info``); they select the
        spatial embeddings, so they are required.
    """

    _HUB_NOTES_TEMPLATE = ""  # see TokenClassifier

    def __init__(self, n_outputs=None, n_chans=None, chs_info=None, n_times=None,
                 input_window_seconds=None, sfreq=None, *, model=None, ch_names=None):
        super().__init__(n_outputs=n_outputs, n_chans=n_chans, chs_info=chs_info,
                         n_times=n_times, input_window_seconds=input_window_seconds,
                         sfreq=sfreq)

        if ch_names is None and self._chs_info is not None:
            ch_names = [ch["ch_name"] for ch in self._chs_info]
        if ch_names is None:
            raise ValueError("NeuroRVQFMClassifier needs the channel names (ch_names= or "
                             "chs_info) to pick the spatial embeddings.")
        if len(ch_names) != self.n_chans:
            raise ValueError(f"{len(ch_names)} channel names for n_chans={self.n_chans}")
        try:
            self.sfreq, self.n_times  # noqa: B018 - inferred or given, else ValueError
        except ValueError as err:
            raise ValueError("NeuroRVQFMClassifier needs the windows' sampling frequency and "
                             "length: pass sfreq and n_times (or input_window_seconds); with "
                             "EEGClassifier on datasets, module__sfreq=...") from err
        if model is None or isinstance(model, NeuroRVQFMConfig):
            source = NeuroRVQFM(model or NeuroRVQFMConfig(n_targets=0))
        elif isinstance(model, NeuroRVQFM):
            source = model
        else:
            source = load_neurorvq_fm(model)  # CC BY-NC 4.0 for the authors' weights
        config = replace(source.config, n_targets=0)
        self.encoder = NeuroRVQFM(config)
        state = {k: v for k, v in source.state_dict().items() if not k.startswith("head_pre_")}
        self.encoder.load_state_dict(state, strict=True)
        # kept for the key layout, unused by the features: not trained
        for p in (self.encoder.mask_token, *self.encoder.norm_pre.parameters()):
            p.requires_grad_(False)
        self.ch_names = list(ch_names)
        prep = config.preprocessing
        self.n_times_model = int(round(self.n_times * prep.sfreq / self.sfreq))
        n_patches, rest = divmod(self.n_times_model, config.patch_size)
        if rest or n_patches == 0:
            raise ValueError(
                f"Windows of {self.n_times} samples at {self.sfreq:g} Hz give "
                f"{self.n_times_model} samples at {prep.sfreq:g} Hz: not whole patches of "
                f"{config.patch_size}.")
        # the names and the token budget are checked once, here
        self.encoder.embedding_indices(self.ch_names, n_patches)
        width = config.n_branches * config.embed_dim
        self.fc_norm = nn.LayerNorm(width)
        self.final_layer = nn.Linear(width, self.n_outputs)
        nn.init.trunc_normal_(self.final_layer.weight, std=0.02)
        nn.init.zeros_(self.final_layer.bias)

    def reset_head(self, n_outputs):
        """Replace the classification head for ``n_outputs`` classes."""
        self._n_outputs = n_outputs
        self.final_layer = nn.Linear(self.final_layer.in_features, n_outputs,
                                     device=self.final_layer.weight.device)

    def param_groups(self, lr, weight_decay=0.01, layer_decay=0.975):
        """Parameter groups with layer-wise learning-rate decay, for a torch optimizer.

        Parameters
        ----------
        lr : float
            Learning rate of the head.
        weight_decay : float
            Weight decay of the weight matrices; biases, norms, the cls,
            mask, spatial and temporal embeddings get none.
        layer_decay : float
            Decay per layer (see the class docstring).

        Returns
        -------
        groups : list of dict
            One group per (layer, decay or not), with ``lr``,
            ``weight_decay`` and ``layer`` (0 front and embeddings, ``l`` block
            ``l``, ``depth + 1`` the head).
        """
        depth = self.encoder.config.depth
        groups = {}
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            if name.startswith("encoder."):
                inner = name.removeprefix("encoder.")
                layer = self.encoder.layer_id(inner)
            else:
                inner, layer = name, depth + 1
            no_decay = p.ndim == 1 or inner.endswith(".bias") or inner in _NO_DECAY
            key = (layer, no_decay)
            if key not in groups:
                groups[key] = {"params": [], "lr": lr * _lr_scale(layer, depth, layer_decay),
                               "weight_decay": 0.0 if no_decay else weight_decay,
                               "layer": layer}
            groups[key]["params"].append(p)
        return [groups[k] for k in sorted(groups)]

    def forward(self, x, return_features=False):
        """Class scores of EEG windows ``x`` (batch, n_chans, n_times) in volts."""
        if x.ndim != 3 or x.shape[1:] != (self.n_chans, self.n_times):
            raise ValueError(f"x must have shape (batch, {self.n_chans}, {self.n_times}), got "
                             f"{tuple(x.shape)}")
        x = prepare_windows(x, self.n_times_model, self.encoder.preprocessing, self.sfreq)
        features = self.encoder.features(x, self.ch_names).mean(1)
        out = self.final_layer(self.fc_norm(features))
        return {"features": features, "out": out} if return_features else out
