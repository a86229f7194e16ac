"""scikit-learn transformers: signals -> tokens (and features), tokens -> signals."""

from __future__ import annotations

import copy
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from mne import BaseEpochs
from mne.io import BaseRaw
from mne.utils import logger, use_log_level, warn
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import metadata_routing
from sklearn.utils.validation import check_is_fitted, check_memory

from ._cache import DiskTokenCache, WindowCache, window_key
from ._docs import fill_doc
from ._validation import iter_input, pick_codec_channels
from .checkpoints import load_codec
from .features import (
    DEFAULT_BANDS,
    FEATURE_OUTPUTS,
    SIGNALS,
    check_bands,
    resolve_signal,
    riemannian_mean,
    tangent_space,
    token_covariances,
    token_features,
)
from .models import Codec
from .pipeline import (
    check_precision,
    chunk_samples,
    codec_info,
    detokenize,
    resolve_device,
    show_progress,
    tokenize,
)
from .preprocessing import band_limit
from .tokens import Tokens

__all__ = ["CodecTokenizer", "CodecReconstructor"]

_OUTPUTS = FEATURE_OUTPUTS
_CODEC_CACHE = {}
#: per-window tokens and covariances of every estimator in the process (clones
#: included), content-keyed and bounded (MNE config MNE_CODEC_MEMORY_CACHE_MB)
_WINDOW_CACHE = WindowCache()


class _NoWindowCache:
    """Stands in for :data:`_WINDOW_CACHE` where each window is coded once (corpora)."""

    def get(self, key):
        return None

    def put(self, key, entry):
        pass


_NO_WINDOW_CACHE = _NoWindowCache()


def _load_codec_copy(codec):
    """Return a private copy of the codec, so estimators never share mutable state."""
    if isinstance(codec, Codec):
        return copy.deepcopy(codec).prepare_for_inference()
    key = str(codec)
    if key not in _CODEC_CACHE:
        _CODEC_CACHE[key] = load_codec(codec, verbose=False).prepare_for_inference()
    return copy.deepcopy(_CODEC_CACHE[key])


def _positive_number_or_none(value):
    if value is None:
        return True
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return False
    return bool(np.isfinite(value) and value > 0)


def _check_band_fits(prep, sfreq):
    """Refuse a rate whose Nyquist frequency is below the codec's high-pass edge."""
    if prep.l_freq is not None and sfreq / 2.0 <= prep.l_freq:
        band = f"{prep.l_freq:g}-{prep.h_freq:g} Hz" if prep.h_freq else f">{prep.l_freq:g} Hz"
        raise ValueError(
            f"Data sampled at {sfreq:g} Hz cannot hold the codec's {band} band (Nyquist "
            f"{sfreq / 2:g} Hz). Is sfreq in Hz (not kHz)?")


def _cache_entry_check(codec, n_channels):
    """Return a check of one window's ``memory=`` cache entry (as token files are read).

    An entry that loads but holds what this codec cannot have written (codes
    beyond its codebook, another shape, non-finite scaling) fails the check
    (False or ValueError) and is recomputed.
    """
    rows, n_side = codec.n_code_rows, codec.n_side
    meta = {"codebook_size": codec.codebook_size}

    def check(entry):
        codes, center, scale = entry["codes"], entry["center"], entry["scale"]
        n_times_codec, side = entry["n_times_codec"], entry.get("side") if n_side else None
        # what the token-file rules do not say: the codec's shape, float scaling
        if not (codes.ndim == 3 and codes.shape[:2] == (n_channels, rows) and codes.shape[2] > 0
                and center.dtype.kind == scale.dtype.kind == "f"
                and n_times_codec.shape == () and n_times_codec.dtype.kind in "iu"
                and (not n_side or (side is not None and side.ndim == 3
                                    and side.shape[1] == n_side))):
            return False
        # the token-file rules (codes in the codebook, finite scaling and side
        # information, shapes that agree): Tokens raises ValueError otherwise
        Tokens(codes=codes[None], center=center[None], scale=scale[None], ch_names=None,
               sfreq=1.0, n_times=1, n_times_codec=int(n_times_codec), onsets_s=np.zeros(1),
               codec=meta, side=None if side is None else side[None])
        return True

    return check


def _token_entry(tokens, i):
    """Return what the caches keep of window ``i`` of ``tokens``."""
    # copies: a view would keep the whole batch's arrays alive, beyond the cache's bound
    entry = dict(codes=tokens.codes[i].copy(), center=tokens.center[i].copy(),
                 scale=tokens.scale[i].copy(), n_times_codec=np.array(tokens.n_times_codec))
    if tokens.side is not None:
        entry["side"] = tokens.side[i].copy()
    return entry


def _channels(w):
    """Channel names of a block of windows, or their number for arrays (which have none)."""
    return w.data.shape[1] if w.ch_names is None else w.ch_names


def _n_features(w):
    """``X.shape[1]`` as scikit-learn counts it: channels, or samples for 2-D arrays."""
    return w.data.shape[-1] if w.squeeze else w.data.shape[1]


class _CodecBase(TransformerMixin, BaseEstimator):
    """Shared parameters, fitting and tokenization of the two transformers."""

    def __init__(self, codec="default", *, sfreq=None, window_s=5.0, chunk_s=None,
                 n_codebooks=None, picks=None, ch_names=None, unknown="raise", resample=True,
                 device="auto", precision="fp32", batch_size=256, memory=None, progress=None,
                 verbose=None):
        self.codec = codec
        self.progress = progress
        self.picks = picks
        self.ch_names = ch_names
        self.chunk_s = chunk_s
        self.precision = precision
        self.unknown = unknown
        self.sfreq = sfreq
        self.window_s = window_s
        self.n_codebooks = n_codebooks
        self.resample = resample
        self.device = device
        self.batch_size = batch_size
        self.memory = memory
        self.verbose = verbose

    def _log(self):
        """Apply ``verbose`` (messages) and ``progress`` (bars) within."""
        stack = ExitStack()
        if self.verbose is not None:
            stack.enter_context(use_log_level(self.verbose))
        stack.enter_context(show_progress(self.progress))
        return stack

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.target_tags.required = False
        tags.requires_fit = True
        tags.non_deterministic = False
        return tags

    # -- fitting ----------------------------------------------------------------
    def _check_params(self):
        # every parameter is checked here, before any data is read or codec loaded
        for name in ("window_s", "sfreq", "chunk_s"):
            if not _positive_number_or_none(getattr(self, name)):
                raise ValueError(f"{name} must be a positive number or None (finite), got "
                                 f"{getattr(self, name)!r}")
        n = self.n_codebooks
        if n is not None and (isinstance(n, (bool, np.bool_))
                              or not isinstance(n, (int, np.integer)) or n < 1):
            raise ValueError(f"n_codebooks must be a positive integer or None, got {n!r}")
        if isinstance(self.codec, (str, Path)) and not str(self.codec).strip():
            raise ValueError("codec is empty: give a registered name (mne-codec list), a "
                             "path, or 'default'.")
        if not isinstance(self.batch_size, (int, np.integer)) or isinstance(
                self.batch_size, (bool, np.bool_)) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if self.unknown not in ("raise", "drop"):
            raise ValueError(f"unknown must be 'raise' or 'drop', got {self.unknown!r}")
        if not isinstance(self.resample, (bool, np.bool_)):
            raise TypeError(f"resample must be a bool, got {self.resample!r}")
        check_precision(self.precision, resolve_device(self.device))
        check_memory(self.memory)
        names = self.ch_names
        if names is not None and (isinstance(names, str) or not all(
                isinstance(n, str) for n in names) or len(names) == 0):
            raise ValueError(f"ch_names must be a list of channel names or None, got {names!r}")

    def _windows(self, X, pad_tail=False, filtered=True):
        """Blocks of validated windows (one for Epochs/arrays; a Raw is read in blocks)."""
        prep = self.codec_.preprocessing
        continuous_filter = None
        if filtered:
            continuous_filter = lambda data, sfreq: band_limit(data, sfreq, prep)  # noqa: E731
        window_s = self.window_s
        # None: this estimator codes every window (no reject_by_annotation to suggest)
        reject = getattr(self, "reject_by_annotation", None)
        if window_s is None and isinstance(X, BaseRaw):  # the whole recording, one window
            window_s, reject = X.n_times / X.info["sfreq"], None
        blocks = iter_input(X, sfreq=self.sfreq, window_s=window_s, ch_types=prep.ch_types,
                            pad_tail=pad_tail, reject_by_annotation=reject,
                            continuous_filter=continuous_filter, picks=self.picks)
        if self.ch_names is None:
            return blocks
        return (self._named(w) for w in blocks)

    def _named(self, w):
        """Arrays' windows with the names of ``ch_names`` (MNE objects keep their own)."""
        if w.kind != "array":
            return w
        names = list(self.ch_names)
        if len(names) != w.data.shape[1]:
            raise ValueError(f"ch_names has {len(names)} names for arrays of "
                             f"{w.data.shape[1]} channels.")
        return w._replace(ch_names=names)

    #: whether windows go through the in-process cache; the corpus tokenizer turns it
    #: off (every window is seen once: caching would only cost hashing and memory)
    _cache_windows = True

    @property
    def _window_cache(self):
        return _WINDOW_CACHE if self._cache_windows else _NO_WINDOW_CACHE

    @property
    def _streamed(self):
        return self.window_s is None

    def fit(self, X, y=None):
        """Validate the data and load the codec (which stays frozen).

        Parameters
        ----------
        X : mne.io.Raw | mne.Epochs | array, shape (n_epochs, n_channels, n_times)
            Data; a 2-D array is read as single-channel epochs ``(n_epochs, n_times)``.
        y : None
            Ignored.

        Returns
        -------
        self : instance
        """
        with self._log():
            self._check_params()
            codec = _load_codec_copy(self.codec)
            codec.set_num_codebooks(self.n_codebooks)
            if self._streamed:  # a streamable codec and whole-frame chunks, before any work
                codec.stream("encode")
                chunk_samples(codec, self.chunk_s)
            self.codec_ = codec
            # the whole input is validated (block by block for a Raw, unfiltered:
            # the checks look at the recorded signal); only the first block is kept
            w = None
            for block in self._windows(X, filtered=False):
                w = block if w is None else w
            _check_band_fits(codec.preprocessing, w.sfreq)  # a rate typed in kHz, first
            self._check_length(w)
            # the codec says which channels it codes (all, or those whose names it knows)
            self.picks_ = np.asarray(codec.pick_channels(_channels(w), self.unknown))
            self.n_codebooks_ = codec.n_codebooks
            self.ch_names_left_out_ = list(w.left_out)
            if w.left_out:
                logger.info(f"Coding {len(w.ch_names)} channels; left out "
                            f"{len(w.left_out)} typed EEG whose names say they are not EEG: "
                            f"{list(w.left_out)} (choose the channels with picks=).")
            self.sfreq_ = w.sfreq
            self.ch_names_ = w.ch_names
            self.n_features_in_ = _n_features(w)
        return self

    def _block_coded_names(self, w):
        """Names of the coded channels of ``w`` (None for arrays: never coded by position)."""
        if w.ch_names is None:
            return None
        return [w.ch_names[p] for p in self.picks_]

    def _coded_names(self):
        """Names of the coded channels seen in fit."""
        if self.ch_names_ is None:
            return None
        return [self.ch_names_[p] for p in self.picks_]

    def _check_length(self, w):
        codec = self.codec_
        with np.errstate(over="ignore"):
            n_codec = np.ceil(w.data.shape[-1] * codec.sfreq / w.sfreq)
        if not np.isfinite(n_codec):  # e.g. sfreq=1e-308 and a codec without high-pass
            raise ValueError(f"sfreq={w.sfreq:g} Hz is too low to resample to the codec's "
                             f"{codec.sfreq:g} Hz.")
        if n_codec < codec.hop_length:
            raise ValueError(
                f"Windows of {w.data.shape[-1]} samples at {w.sfreq:g} Hz are shorter than "
                f"one codec frame ({codec.hop_length} samples at {codec.sfreq:g} Hz, "
                f"{1000 * codec.hop_length / codec.sfreq:.1f} ms)."
            )

    def _check_fitted_input(self, X, pad_tail=False):
        """Yield validated blocks of windows, checked against what fit saw."""
        check_is_fitted(self, "codec_")
        for w in self._windows(X, pad_tail=pad_tail):
            self._check_block(w)
            yield w

    def _check_block(self, w):
        if w.ch_names is None:  # even after a fit on MNE data, a codec may refuse an array
            self.codec_.pick_channels(w.data.shape[1], self.unknown)
        if w.kind == "array":
            if _n_features(w) != self.n_features_in_:
                raise ValueError(
                    f"X has {_n_features(w)} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input."
                )
        elif self.ch_names_ is not None and w.ch_names != self.ch_names_:
            raise ValueError(
                f"The channels differ from those seen in fit: {w.ch_names} vs {self.ch_names_}."
            )
        if w.sfreq != self.sfreq_:
            raise ValueError(f"sfreq {w.sfreq} differs from the {self.sfreq_} seen in fit.")
        self._check_length(w)

    def _tokenize(self, X):
        return Tokens.concatenate(self._tokens_from_windows(w)
                                  for w in self._check_fitted_input(X))

    def _window_keys(self, w):
        """Content keys of the windows of ``w``: what decides their tokens, hashed."""
        # a window's tokens depend on its samples, the rate, the codec and these
        codec = self.codec_
        prefix = (f"{codec.fingerprint()}:{codec.n_codebooks}:{w.sfreq!r}:{self.resample}:"
                  f"{w.band_limited}:{self._streamed}")
        if self.precision != "fp32":  # autocast may change codes at near-ties
            prefix += f":{self.precision}"
        names = self._block_coded_names(w)
        if names is not None:  # codes may depend on the channels coded together, by name
            prefix += ":" + ",".join(names)
        return [window_key(prefix, row) for row in w.data[:, self.picks_]]

    def _tokens_from_windows(self, w, keys=None):
        """Tokens of a block of windows: from the caches where seen, else encoded."""
        # the in-process cache first (shared by clones: the folds of a cross-validation
        # encode each window once), then memory= on disk, then the codec
        keys = self._window_keys(w) if keys is None else keys
        found = [self._window_cache.get("tokens:" + k) for k in keys]
        location = check_memory(self.memory).location
        disk = None if location is None else DiskTokenCache(location)
        if disk is not None:
            check = _cache_entry_check(self.codec_, len(self.picks_))
            found = [f if f is not None else disk.load(k, check=check)  # damaged: recomputed
                     for f, k in zip(found, keys)]
        shapes = {(f["codes"].shape, int(f["n_times_codec"])) for f in found if f is not None}
        if len(shapes) > 1:  # entries that disagree with each other: trust none of them
            found = [None] * len(keys)
        todo = [i for i, f in enumerate(found) if f is None]
        if len(todo) == len(keys) and disk is None:  # nothing seen: no per-window copies
            new = self._encode_windows(w)
            for i, key in enumerate(keys):
                self._window_cache.put("tokens:" + key, _token_entry(new, i))
            return new
        if todo:
            new = self._encode_windows(w._replace(data=w.data[todo], onsets_s=w.onsets_s[todo]))
            for j, i in enumerate(todo):
                found[i] = _token_entry(new, j)
                if disk is not None:
                    disk.save(keys[i], **found[i])
        for key, entry in zip(keys, found):
            self._window_cache.put("tokens:" + key, entry)
        logger.debug(f"Token cache: {len(keys) - len(todo)} of {len(keys)} windows found.")
        codec = self.codec_
        names = self._block_coded_names(w)
        side = None
        if all("side" in f for f in found):
            side = np.stack([f["side"] for f in found])
        elif codec.n_side:
            raise ValueError(f"The token cache at {location} lacks side information; "
                             "clear it.")
        return Tokens(codes=np.stack([f["codes"] for f in found]),
                      center=np.stack([f["center"] for f in found]),
                      scale=np.stack([f["scale"] for f in found]), ch_names=names,
                      sfreq=w.sfreq, n_times=w.data.shape[-1],
                      n_times_codec=int(found[0]["n_times_codec"]), onsets_s=w.onsets_s,
                      codec=codec_info(codec), side=side)

    def _encode_windows(self, w):
        """Tokens of a block of windows, from the codec."""
        return tokenize(self.codec_, w.data[:, self.picks_], w.sfreq, self._block_coded_names(w),
                        onsets_s=w.onsets_s, resample=self.resample,
                        band_limited=w.band_limited, stream=self._streamed,
                        chunk_s=self.chunk_s, batch_size=self.batch_size, device=self.device,
                        precision=self.precision)

    def _check_same_codec(self, tokens):
        theirs = tokens.codec.get("fingerprint")
        ours = self.codec_.fingerprint()
        if theirs is not None and theirs != ours:
            raise ValueError(
                f"These tokens were written by codec {tokens.codec.get('name')!r} "
                f"(fingerprint {theirs}), not by this estimator's {self.codec_.name!r} "
                f"(fingerprint {ours}): decoding them with another codec gives a wrong "
                "signal. Use the codec that wrote them, or pass check_codec=False."
            )

    def _decode_tokens(self, tokens):
        return detokenize(self.codec_, tokens, stream=self._streamed, chunk_s=self.chunk_s,
                          batch_size=self.batch_size, device=self.device)


@fill_doc
class CodecTokenizer(_CodecBase):
    """Turn EEG into discrete codec tokens (and features built on them).

    Parameters
    ----------
    %(codec)s
    %(sfreq)s
    %(window_s)s
    %(chunk_s)s
    %(n_codebooks)s
    %(picks)s
    %(ch_names)s
    output : ``"tangent"`` | ``"histogram"`` | ``"embedding"`` | ``"tokens"``
        What :meth:`transform` returns (all computed from the tokens by
        :func:`~mne_codec.features.token_features`; see :ref:`token-features`
        for when each is the right choice, with measured accuracies):

        - ``"tangent"`` (default): the spatial covariance of each window's
          signal as the tokens code it (see ``signal``), in each band
          of ``bands`` (shrunk cospectra,
          :func:`~mne_codec.features.band_covariances`), mapped to the
          tangent space at their Riemannian mean over the windows seen in
          :meth:`fit` (``reference_``), shape
          ``(n_epochs, n_bands * n_channels * (n_channels + 1) / 2)``: the
          features of classical EEG decoders (tangent space + a linear
          model), from tokens;
        - ``"histogram"``: per channel and level, the normalised
          histogram of the codes over time, shape
          ``(n_epochs, n_channels * n_codebooks * codebook_size)``: a bag of
          tokens (for codecs with large codebooks, e.g. NeuroRVQ's 32 x 8192
          codes per channel, more than 2**22 features per epoch raise a
          ValueError: use ``"embedding"``);
        - ``"embedding"``: the time-averaged quantized latent of each channel,
          ``(n_epochs, n_channels * dim)`` (NeuroRVQ: its branches' latents
          side by side, ``dim = n_branches * code_dim``);
        - ``"tokens"``: the integer codes,
          ``(n_epochs, n_channels, n_codebooks, n_frames)``.
    bands : list of (float, float) | None
        Frequency bands in Hz of ``output="tangent"``; None:
        :data:`~mne_codec.features.DEFAULT_BANDS`, alpha/mu (8-13 Hz) and
        beta (13-30 Hz); add ``(4.0, 8.0)`` for tasks that modulate theta.
    signal : ``"auto"`` | ``"readout"`` | ``"decoded"``
        The signal whose band covariances ``output="tangent"`` computes:
        ``"readout"`` reads it linearly from the latent the codec's decoder
        reads, with the :class:`~mne_codec.readout.SignalReadout` shipped with
        the codec (no decoder: a tokenization with features costs about half
        as much); ``"decoded"`` decodes the tokens; ``"auto"`` (default): the
        read-out where the codec has one (the package's BioCodec codecs do),
        else decoding. Both score alike (see :ref:`token-features`).
    reject_by_annotation : bool
        When cutting a Raw into windows, skip those overlapping ``BAD_``
        annotations (their onsets are in :attr:`Tokens.onsets_s`). Epochs are
        already rejected by MNE when they are made.
    %(unknown)s
    %(resample)s
    %(device)s
    %(precision)s
    %(batch_size)s
    %(memory)s
    %(progress)s
    %(verbose_est)s

    Attributes
    ----------
    %(fitted_attributes)s
    reference_ : ndarray, shape (n_bands, n_channels, n_channels)
        With ``output="tangent"``: the Riemannian mean of the band
        covariances of the windows seen in :meth:`fit`, the point whose
        tangent space the features live in.

    Notes
    -----
    Each window and channel is band-passed, resampled and scaled as the codec
    declares (:attr:`Codec.preprocessing`); the scaling statistics are kept in
    :meth:`tokenize`'s :class:`~mne_codec.Tokens` so that
    :meth:`inverse_transform` returns volts.

    Codecs that code channels jointly by name (NeuroRVQ) need MNE objects
    (channel names). A window is coded in the sub-windows the codec defines
    (NeuroRVQ: all channels together, in chunks of whole 1-s patches within
    its 256-token budget, e.g. 5-s windows of 64 channels as 3 + 2 patches);
    their side information travels in :attr:`Tokens.side`.

    Each window's tokens (and, for ``output="tangent"``, its band
    covariances) are kept in a cache in memory shared by every estimator of
    the process, keyed by a hash of the window's samples, the codec's
    fingerprint and the parameters that change them: the clones that
    cross-validation and grid searches make code each window once. It holds
    at most 256 MiB (least recently used entries are dropped first); set the
    MNE config ``MNE_CODEC_MEMORY_CACHE_MB`` to change that, 0 to disable it.
    ``memory=`` adds a cache of tokens on disk.
    """

    # check_codec is an option of the call, not metadata to route through a Pipeline
    # (scikit-learn would otherwise add a set_inverse_transform_request method)
    __metadata_request__inverse_transform = {"check_codec": metadata_routing.UNUSED}


    def __init__(self, codec="default", *, sfreq=None, window_s=5.0, chunk_s=None,
                 n_codebooks=None, picks=None, ch_names=None, output="tangent", bands=None,
                 signal="auto", reject_by_annotation=True, unknown="raise", resample=True,
                 device="auto", precision="fp32", batch_size=256, memory=None, progress=None,
                 verbose=None):
        super().__init__(codec, sfreq=sfreq, window_s=window_s, chunk_s=chunk_s,
                         n_codebooks=n_codebooks, picks=picks, ch_names=ch_names,
                         unknown=unknown, resample=resample, device=device,
                         precision=precision, batch_size=batch_size, memory=memory,
                         progress=progress, verbose=verbose)
        self.output = output
        self.bands = bands
        self.signal = signal
        self.reject_by_annotation = reject_by_annotation

    def _check_params(self):
        super()._check_params()
        if self.output not in _OUTPUTS:
            raise ValueError(f"output must be one of {_OUTPUTS}, got {self.output!r}")
        if self.signal not in SIGNALS:  # before any data is read (the codec: at fit)
            raise ValueError(f"signal must be one of {SIGNALS}, got {self.signal!r}")
        self._bands()

    def _signal(self):
        """Return the signal of the band covariances, ``"readout"`` or ``"decoded"``."""
        return resolve_signal(self.codec_, self.signal)

    def _bands(self):
        """``bands`` as a tuple of (low, high) float pairs (checked)."""
        bands = DEFAULT_BANDS if self.bands is None else self.bands
        try:
            pairs = tuple((float(lo), float(hi)) for lo, hi in bands)
        except (TypeError, ValueError):
            pairs = ()
        if not pairs or not all(np.isfinite(p).all() and 0 <= p[0] < p[1] for p in pairs):
            raise ValueError("bands must be a sequence of (low, high) pairs in Hz with "
                             f"0 <= low < high, got {self.bands!r}")
        return pairs

    def fit(self, X, y=None):
        """Validate the data and load the codec (which stays frozen).

        With ``output="tangent"``, the windows of ``X`` are tokenized and the
        Riemannian mean of their band covariances is kept (``reference_``).

        Parameters
        ----------
        X : mne.io.Raw | mne.Epochs | array, shape (n_epochs, n_channels, n_times)
            Data; a 2-D array is read as single-channel epochs ``(n_epochs, n_times)``.
        y : None
            Ignored.

        Returns
        -------
        self : instance
        """
        self._fit(X)
        return self

    def fit_transform(self, X, y=None):
        """Fit to ``X`` and return its features (each window is tokenized once).

        Parameters
        ----------
        X : mne.io.Raw | mne.Epochs | array
            Data.
        y : None
            Ignored.

        Returns
        -------
        Xt : ndarray
            See ``output``.
        """
        covs = self._fit(X)
        if covs is None:
            return self.transform(X)
        return tangent_space(covs, self.reference_)

    def _fit(self, X):
        """Fit; return the band covariances of ``X`` for ``output="tangent"`` (else None)."""
        super().fit(X)
        for name in ("reference_",):  # a refit with another output forgets it
            self.__dict__.pop(name, None)
        if self.output != "tangent":
            return None
        covs = self._covariances(X)
        with self._log():
            self.reference_ = riemannian_mean(covs)
        return covs

    def _covariances(self, X):
        """Band covariances (n_windows, n_bands, n_ch, n_ch) of the tokens of ``X``."""
        bands = self._bands()
        signal = self._signal()
        tag = f"covs:{signal}:" + ";".join(f"{lo!r}-{hi!r}" for lo, hi in bands) + ":"
        out = []
        with self._log():
            for w in self._check_fitted_input(X):
                check_bands(bands, w.sfreq, w.data.shape[-1])  # before any coding
                keys = self._window_keys(w)
                found = [self._window_cache.get(tag + k) for k in keys]
                todo = [i for i, f in enumerate(found) if f is None]
                if todo:
                    sub = w._replace(data=w.data[todo], onsets_s=w.onsets_s[todo])
                    tokens = self._tokens_from_windows(sub, [keys[i] for i in todo])
                    covs = token_covariances(tokens, self.codec_, bands=bands, signal=signal,
                                             stream=self._streamed, chunk_s=self.chunk_s,
                                             batch_size=self.batch_size, device=self.device)
                    for j, i in enumerate(todo):
                        found[i] = dict(covs=covs[j])
                        self._window_cache.put(tag + keys[i], found[i])
                out.append(np.stack([f["covs"] for f in found]))
        return np.concatenate(out)

    def tokenize(self, X):
        """Tokens of ``X`` with their metadata and scaling statistics.

        Parameters
        ----------
        X : mne.io.Raw | mne.Epochs | array
            Data.

        Returns
        -------
        tokens : Tokens
        """
        with self._log():
            return self._tokenize(X)

    def transform(self, X):
        """Tokenize ``X`` and return :attr:`output`.

        Parameters
        ----------
        X : mne.io.Raw | mne.Epochs | array
            Data.

        Returns
        -------
        Xt : ndarray
            See ``output``.
        """
        self._check_params()
        if self.output == "tangent":
            check_is_fitted(self, "reference_")
            return tangent_space(self._covariances(X), self.reference_)
        tokens = self.tokenize(X)
        if self.output == "histogram":
            n_features = int(np.prod(tokens.codes.shape[1:3])) * self.codec_.codebook_size
            if n_features > 2 ** 22:
                raise ValueError(
                    f"output='histogram' would give {n_features} features per epoch "
                    f"({tokens.codes.shape[1]} channels x {tokens.codes.shape[2]} code rows x "
                    f"{self.codec_.codebook_size} codes); use output='embedding' or "
                    "'tokens', or fewer codebooks (n_codebooks)."
                )
        with self._log():
            return token_features(tokens, self.codec_, output=self.output,
                                  batch_size=self.batch_size, device=self.device)

    def inverse_transform(self, X, *, check_codec=True):
        """Decode tokens back to signals.

        Parameters
        ----------
        X : Tokens | array of int, shape (n_epochs, n_channels, n_codebooks, n_frames)
            A :class:`~mne_codec.Tokens` (returns volts at the input rate) or
            bare codes (returns the codec's scaled units at the input rate, as
            the amplitude statistics are not part of the codes).
        check_codec : bool
            Refuse Tokens written by another codec (their ``codec``
            fingerprint differs from this codec's): another codec's decoder
            turns them into a wrong signal without any error. Pass False to
            decode them anyway.

        Returns
        -------
        X : ndarray, shape (n_epochs, n_channels, n_times)
        """
        check_is_fitted(self, "codec_")
        with self._log():
            if isinstance(X, Tokens):
                if check_codec:
                    self._check_same_codec(X)
                return self._decode_tokens(X)
            codes = np.asarray(X)
            if codes.ndim != 4:
                raise ValueError(
                    "inverse_transform takes Tokens or codes of shape (n_epochs, n_channels, "
                    f"n_codebooks, n_frames), got shape {codes.shape} (output="
                    f"{self.output!r} features cannot be decoded)."
                )
            if self.codec_.n_side:
                raise ValueError(
                    f"{type(self.codec_).__name__} needs the side information of the tokens "
                    "to decode them: pass the Tokens from tokenize()."
                )
            warn("Bare codes carry no amplitude statistics: the output is in the codec's "
                 "scaled units. Use tokenize() and pass its Tokens to get volts.")
            n_codec = codes.shape[-1] * self.codec_.hop_length
            n_times = int(round(n_codec * self.sfreq_ / self.codec_.sfreq))
            tokens = Tokens(codes=codes, center=np.zeros(codes.shape[:2]),
                            scale=np.ones(codes.shape[:2]),
                            ch_names=self._coded_names(),
                            sfreq=self.sfreq_, n_times=n_times, n_times_codec=n_codec,
                            onsets_s=np.zeros(len(codes)), codec={})
            return self._decode_tokens(tokens)


@fill_doc
class CodecReconstructor(_CodecBase):
    """Encode and decode EEG through a codec: what the tokens keep of the signal.

    Parameters
    ----------
    %(codec)s
    %(sfreq)s
    %(window_s)s
    %(chunk_s)s
    %(n_codebooks)s
    %(picks)s
    %(ch_names)s
    %(unknown)s
    %(resample)s
    %(device)s
    %(precision)s
    %(batch_size)s
    %(memory)s
    %(progress)s
    %(verbose_est)s

    Attributes
    ----------
    %(fitted_attributes)s

    Notes
    -----
    The reconstruction is of the codec's band (its band-pass is applied
    before coding), at the input's rate and in volts.
    """

    def transform(self, X):
        """Reconstruct ``X``.

        Parameters
        ----------
        X : mne.io.Raw | mne.Epochs | array
            Data.

        Returns
        -------
        X_rec : ndarray
            Same shape and units as the coded data: ``(n_epochs, n_channels,
            n_times)`` for Epochs and 3-D arrays, ``(n_epochs, n_times)`` for
            2-D arrays, ``(n_channels, n_times)`` for a Raw (whole recording).
            ``n_channels`` counts the coded channels (:attr:`picks_`): without
            those a named codec dropped (``unknown="drop"``).
        """
        with self._log():
            if isinstance(X, BaseRaw):
                return self._reconstruct_raw(X)
            (w,) = self._check_fitted_input(X)
            rec = self._decode_tokens(self._tokens_from_windows(w))
        return rec[:, 0] if w.squeeze else rec

    def _reconstruct_raw(self, raw):
        # block by block into one output: memory is the output plus one block
        out, pos = None, 0
        for w in self._check_fitted_input(raw, pad_tail=True):
            rec = self._decode_tokens(self._tokens_from_windows(w))
            n_ch, n = rec.shape[1], rec.shape[0] * rec.shape[2]
            if out is None:
                out = np.empty((n_ch, raw.n_times))
            stop = min(pos + n, raw.n_times)
            out[:, pos:stop] = rec.transpose(1, 0, 2).reshape(n_ch, n)[:, :stop - pos]
            pos = stop
        return out

    def reconstruct(self, inst):
        """Return a copy of ``inst`` whose coded channels are replaced by their reconstruction.

        Parameters
        ----------
        inst : mne.io.Raw | mne.Epochs
            Data (fitted on the fly if the estimator is not fitted).

        Returns
        -------
        inst_rec : mne.io.Raw | mne.Epochs
            Same info, events, annotations and metadata; other channel types,
            and channels a named codec dropped (``unknown="drop"``), are left
            untouched.
        """
        if not isinstance(inst, (BaseRaw, BaseEpochs)):
            raise TypeError(f"inst must be a Raw or Epochs, got {type(inst).__name__}")
        if not hasattr(self, "codec_"):
            self.fit(inst)
        rec = self.transform(inst)
        picks = pick_codec_channels(inst.info, self.codec_.preprocessing.ch_types,
                            self.picks)[self.picks_]
        out = inst.copy().load_data()
        if isinstance(out, BaseRaw):
            out._data[picks] = rec
        else:
            out._data[:, picks] = rec
        return out
