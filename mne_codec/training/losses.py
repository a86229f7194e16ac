"""Training objectives of the codec families (BioCodec, NeuroRVQ, DAC)."""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn
from torch.nn import functional as F

from ..metrics import BANDS
from ..models.neurorvq_fm import random_patch_mask
from ..preprocessing import prepare_windows
from ..spectral import band_nmse_loss, multiscale_mel_loss, multiscale_stft_loss
from .discriminators import Discriminator, discriminator_loss, generator_losses

__all__ = ["BioCodecLoss", "CodecLoss", "DACLoss", "MaskedTokenLoss", "NeuroRVQLoss"]


def _split_batch(batch):
    """``(x, channels, rest)`` of a training batch.

    A batch is a tensor of crops (:class:`~mne_codec.training.RecordingCrops`)
    or ``(x, ch_ix, ...)`` (:class:`~mne_codec.training.MontageCrops`).
    """
    if isinstance(batch, (tuple, list)):
        x, channels, *rest = batch
        return x, channels, rest
    return batch, None, []


def _deprecated(old, new, stacklevel=3):
    warnings.warn(f"{old} is deprecated: use {new}.", DeprecationWarning, stacklevel=stacklevel)


def _legacy_terms(out):
    """Rename ``"total"`` to ``"loss"``, as in the forms before the one loss interface."""
    out = dict(out)
    out["loss"] = out.pop("total")
    return out


class CodecLoss(nn.Module):
    """Base class of the training objectives: what :class:`~mne_codec.training.Trainer` calls.

    Every objective is called the same way, ``loss(model, batch,
    adversary_step=None)``: it runs the (possibly DistributedDataParallel
    wrapped) ``model`` on the batch as ``model(x, channels)`` (the channels,
    indices or names, are ``None`` for batches of crops alone;
    channel-independent codecs ignore them) and returns a dict of scalar
    tensors whose ``"total"`` is minimised; the other entries are logged.

    An objective that trains a module of its own against the model (DAC's
    discriminator) declares it as :attr:`adversary` with the settings of
    its optimiser (:attr:`adversary_options`); the trainer creates that
    optimiser, steps, checkpoints and restores it like the model's, and
    passes ``adversary_step``: the objective calls ``adversary_step(loss)``
    with the adversary's loss, where the adversary's step belongs in its
    computation.
    """

    @property
    def adversary(self):
        """Module trained by the objective against the model, or ``None``."""
        return None

    @property
    def adversary_options(self):
        """``{"lr", "betas", "grad_clip"}`` of the adversary's Adam (``{}`` without one)."""
        return {}


class BioCodecLoss(CodecLoss):
    """Time-domain Huber + multi-resolution STFT + commitment loss.

    ``loss = time_weight * SmoothL1_beta(y, x) + freq_weight * L_f(y, x)
    + commitment_weight * commit``, with ``L_f`` from
    :func:`~mne_codec.spectral.multiscale_stft_loss` and ``commit`` the
    quantizer loss returned by :meth:`Codec.forward <mne_codec.models.Codec.forward>`.

    Parameters
    ----------
    time_weight : float
        Weight of the Huber loss (0.2 in BioCodec's EEG recipe).
    freq_weight : float
        Weight of the spectral loss (1.0).
    commitment_weight : float
        Multiplier of the quantizer's loss. The authors' trainer calls
        ``backward`` on the commitment loss a second time after the total
        loss, so their effective multiplier is 2.0 (i.e. 0.5 x the mean
        squared commitment error with the RVQ's own weight of 0.25).
        The default of 1.0 counts it once.
    huber_beta : float
        Transition point of the Huber loss (0.7).
    n_ffts : tuple of int
        Resolutions of the spectral loss.
    feature_weights : tuple of float
        Weights of log-magnitude, cosine and sine features.
    band_weight : float
        Weight of the per-band NMSE (:func:`~mne_codec.spectral.band_nmse_loss`
        over ``bands``); 0 (BioCodec's objective) leaves it out.
    sfreq : float
        Sampling frequency of the crops in Hz (for the bands).
    bands : dict | None
        Band edges in Hz (default :data:`mne_codec.metrics.BANDS`).
    """

    def __init__(self, time_weight=0.2, freq_weight=1.0, commitment_weight=1.0,
                 huber_beta=0.7, n_ffts=(32, 64, 128, 256), feature_weights=(1.0, 0.2, 0.2),
                 band_weight=0.0, sfreq=250.0, bands=None):
        super().__init__()
        self.band_weight = float(band_weight)
        self.sfreq = float(sfreq)
        self.bands = dict(BANDS if bands is None else bands)
        self.time_weight = float(time_weight)
        self.freq_weight = float(freq_weight)
        self.commitment_weight = float(commitment_weight)
        self.huber_beta = float(huber_beta)
        self.n_ffts = tuple(n_ffts)
        self.feature_weights = tuple(feature_weights)

    def forward(self, model, batch, adversary_step=None):
        """Forward ``model`` on a training batch and return the losses.

        Parameters
        ----------
        model : Codec | torch.nn.parallel.DistributedDataParallel
            The model, in training mode; called as ``model(x, channels)``.
        batch : torch.Tensor | tuple of torch.Tensor
            Crops (batch, n_channels, n_times), or ``(x, ch_ix)``.
        adversary_step : None
            Unused (this objective has no adversary).

        Returns
        -------
        losses : dict of str to torch.Tensor
            ``"total"`` (the weighted total to minimise), ``"time"``,
            ``"freq"`` and ``"commit"`` (unweighted components).
        """
        if torch.is_tensor(model):  # the form before the one interface: (y, x, commit)
            _deprecated("BioCodecLoss()(y, x, commit)", "BioCodecLoss().terms(y, x, commit) "
                        "or BioCodecLoss()(model, batch)", stacklevel=5)
            return _legacy_terms(self.terms(model, batch, adversary_step))
        x, channels, _ = _split_batch(batch)
        y, _, commit = model(x, channels)
        return self.terms(y.float(), x, commit.float())

    def terms(self, y, x, commit):
        """Compute the loss of a reconstruction.

        Parameters
        ----------
        y : torch.Tensor, shape (batch, n_channels, n_times)
            Reconstruction.
        x : torch.Tensor, shape (batch, n_channels, n_times)
            Target.
        commit : torch.Tensor
            Quantizer loss (scalar).

        Returns
        -------
        losses : dict of str to torch.Tensor
            ``"total"`` (the weighted total to minimise), ``"time"``,
            ``"freq"`` and ``"commit"`` (unweighted components), and
            ``"band"`` when ``band_weight`` is not 0.
        """
        l_t = F.smooth_l1_loss(y, x, beta=self.huber_beta)
        l_f = multiscale_stft_loss(y, x, self.n_ffts, self.feature_weights)
        total = self.time_weight * l_t + self.freq_weight * l_f + self.commitment_weight * commit
        out = {"time": l_t, "freq": l_f, "commit": commit}
        if self.band_weight:
            out["band"] = band_nmse_loss(y, x, self.sfreq, self.bands)
            total = total + self.band_weight * out["band"]
        return {"total": total, **out}


class NeuroRVQLoss(CodecLoss):
    """NeuroRVQ's objective: amplitude, phase, time and code losses, weighted.

    ``loss = amplitude_weight * L_amp + phase_weight * L_phase + time_weight
    * L_time + code_weight * L_code``, with the terms of
    :meth:`NeuroRVQ.forward <mne_codec.models.NeuroRVQ.forward>`: the MSE of
    the standardised ``log1p`` Fourier amplitudes, the phase loss (1 - cosine
    similarity of (cos, sin) plus 0.1 x the unit-circle penalty), the MSE of
    the window-standardised signals and the quantizers' loss. The authors sum
    the four with weight 1, the defaults here.

    Called as ``loss(model, batch)`` (see :class:`CodecLoss`), on
    batches ``(x, ch_ix)`` of :class:`~mne_codec.training.MontageCrops`
    (``ch_ix``: indices in :data:`mne_codec.channels.CHANNEL_VOCABULARY`).

    Parameters
    ----------
    amplitude_weight, phase_weight, time_weight, code_weight : float
        Weights of the four terms.
    """

    def __init__(self, amplitude_weight=1.0, phase_weight=1.0, time_weight=1.0,
                 code_weight=1.0):
        super().__init__()
        self.weights = {"amplitude": float(amplitude_weight), "phase": float(phase_weight),
                        "time": float(time_weight), "code": float(code_weight)}

    def forward(self, model, batch, adversary_step=None):
        """Forward ``model`` on a batch and return the losses.

        Parameters
        ----------
        model : NeuroRVQ | torch.nn.parallel.DistributedDataParallel
            The model (training mode).
        batch : tuple of torch.Tensor
            ``x`` (batch, n_channels, n_times) in the codec's units and
            ``ch_ix`` (batch, n_channels).
        adversary_step : None
            Unused (this objective has no adversary).

        Returns
        -------
        losses : dict of str to torch.Tensor
            ``"total"`` (the weighted total) and the four unweighted terms.
        """
        x, channels, _ = _split_batch(batch)
        _, _, terms = model(x, channels)
        out = {name: terms[name].float() for name in self.weights}
        out["total"] = sum(self.weights[k] * v for k, v in out.items())
        return out

    def step(self, model, batch):
        """Return ``loss(model, batch)`` with ``"loss"`` for ``"total"`` (deprecated)."""
        _deprecated("NeuroRVQLoss.step(model, batch)", "loss(model, batch)")
        return _legacy_terms(self(model, batch))


class DACLoss(CodecLoss):
    """DAC's reconstruction objective, for DAC and DAC-MC on EEG.

    ``loss = mel_weight * L_mel + waveform_weight * L1(y, x) + stft_weight *
    L_stft + quantizer_weight * L_vq``, where

    - ``L_mel`` is DAC's multi-scale mel loss
      (:func:`~mne_codec.spectral.multiscale_mel_loss`: L1 between ``log10``
      mel magnitudes clamped at 1e-5, summed over scales), weighted 15 as in
      DAC's ``conf/base.yml``;
    - ``L1(y, x)`` is the waveform L1 (DAC logs it with weight 0; DAC's
      adversarial and feature-matching terms are what constrain the phase
      there, so without a discriminator a waveform term is needed for the
      reconstruction to match sample by sample, see Notes);
    - ``L_stft`` is the package's multi-resolution STFT loss
      (:func:`~mne_codec.spectral.multiscale_stft_loss`, log-magnitude and
      phase), off by default;
    - ``L_vq`` is the quantizer's loss as returned by the model's forward:
      for DAC's factorised codebooks (:class:`~mne_codec.quantization.ResidualVQ`
      with ``ema_decay=None``) it is, summed over the levels an item uses,
      ``0.25 * commitment + 1.0 * codebook`` (DAC's weights, held by the
      quantizer's config), so ``quantizer_weight`` 1 is DAC's objective.

    Quantizer dropout (DAC: half of the batch uses a random number of
    levels) happens inside the model's training forward
    (``DACConfig.quantizer_dropout``).

    Parameters
    ----------
    sfreq : float
        Sampling frequency the mel scale is computed at, in Hz. The default,
        16000, is the audio rate of DAC's 16 kHz model: EEG read by the
        codec sample for sample is then seen by the loss exactly as the
        audio DAC was trained on (the model's strides and the loss's windows
        count samples). In EEG units (codec rate ``f``), the Slaney mel
        scale's break from linear to logarithmic spacing (1 kHz) then lies at
        ``1000 * f / 16000`` Hz: 15.6 Hz at 250 Hz, so the filters are
        linear through delta, theta and alpha and logarithmic through beta
        and gamma. Pass the codec's own rate (e.g. 250) for filters that are
        linear over the whole EEG band.
    window_lengths : tuple of int
        Window lengths (samples) of the mel scales. Default: DAC's seven
        scales less the two longest (1024 and 2048), which at EEG rates span
        4 and 8 s, more than a training crop holds in frames (at 250 Hz the
        windows are 0.128 to 2.05 s; the longest resolves 0.49 Hz).
    n_mels : tuple of int
        Mel filters per scale (DAC's 5, 10, 20, 40, 80 for those windows).
    mel_weight, waveform_weight, stft_weight, quantizer_weight : float
        Weights of the four terms.
    stft_n_ffts : tuple of int
        Resolutions of the STFT term.
    adversarial_weight : float
        Weight of DAC's adversarial (LSGAN) term; 0 (the default) turns the
        discriminator off. DAC: 1.
    feature_matching_weight : float
        Weight of the feature-matching term (used when
        ``adversarial_weight`` is not 0). DAC: 2.
    discriminator : dict | torch.nn.Module | None
        The discriminator when ``adversarial_weight`` is not 0: a module
        called as :class:`~mne_codec.training.discriminators.Discriminator`,
        or keyword arguments of that class (``None``: its defaults).
    discriminator_lr : float
        Learning rate of the discriminator's Adam (DAC: 1e-4, constant here;
        DAC decays it by 0.999996 per step).
    discriminator_betas : tuple of float
        Its Adam betas (DAC: 0.8, 0.99).
    discriminator_grad_clip : float | None
        Max gradient norm of the discriminator (DAC: 10).

    Notes
    -----
    Without a discriminator (the default), ``waveform_weight`` takes the
    place of DAC's adversarial terms in keeping the phase, which the mel
    loss ignores; 1 makes both terms of the same order at initialisation on
    robust-scaled EEG.

    With ``adversarial_weight > 0``, the loss holds DAC's discriminator
    (:class:`~mne_codec.training.discriminators.Discriminator`: multi-period
    and multi-band STFT discriminators) as its :attr:`adversary`, whose Adam
    optimiser (``discriminator_lr``, ``discriminator_betas``, clipping at
    ``discriminator_grad_clip``) the :class:`~mne_codec.training.Trainer`
    creates, checkpoints and restores. A call trains both as DAC does: after
    the generator's forward, ``adversary_step`` is given the LSGAN loss
    ``sum mean(d(y)^2) + mean((1 - d(x))^2)`` over the sub-discriminators
    (``y`` detached) for the discriminator's step, then the terms
    ``"adversarial"`` (``sum mean((1 - d(y))^2)``) and ``"feature_matching"``
    (L1 between the feature maps of ``y`` and of ``x``, the latter
    detached) are added to ``"total"`` with their weights, for the
    optimiser of the codec (the discriminator receives no gradient from
    them). ``"discriminator"`` reports the discriminator's loss. Only DAC's
    generator is released, so fine-tuning from the audio weights starts the
    discriminator afresh.
    """

    def __init__(self, sfreq=16000.0, window_lengths=(32, 64, 128, 256, 512),
                 n_mels=(5, 10, 20, 40, 80), mel_weight=15.0, waveform_weight=1.0,
                 stft_weight=0.0, quantizer_weight=1.0, stft_n_ffts=(32, 64, 128, 256),
                 adversarial_weight=0.0, feature_matching_weight=2.0, discriminator=None,
                 discriminator_lr=1e-4, discriminator_betas=(0.8, 0.99),
                 discriminator_grad_clip=10.0):
        super().__init__()
        if len(window_lengths) != len(n_mels):
            raise ValueError("window_lengths and n_mels must have the same length")
        self.sfreq = float(sfreq)
        self.window_lengths = tuple(int(w) for w in window_lengths)
        self.n_mels = tuple(int(m) for m in n_mels)
        self.weights = {"mel": float(mel_weight), "waveform": float(waveform_weight),
                        "stft": float(stft_weight), "quantizer": float(quantizer_weight)}
        self.stft_n_ffts = tuple(stft_n_ffts)
        self.adversarial_weight = float(adversarial_weight)
        self.feature_matching_weight = float(feature_matching_weight)
        self.discriminator_lr = float(discriminator_lr)
        self.discriminator_betas = tuple(discriminator_betas)
        self.discriminator_grad_clip = discriminator_grad_clip
        self.discriminator = None
        self._legacy_optimizer = None  # only for the deprecated step()
        if self.adversarial_weight < 0:
            raise ValueError(f"adversarial_weight must be >= 0, got {adversarial_weight}")
        if self.adversarial_weight:
            if not isinstance(discriminator, nn.Module):
                discriminator = Discriminator(**(discriminator or {}))
            self.discriminator = discriminator

    @property
    def adversary(self):
        """The discriminator (``None`` when ``adversarial_weight`` is 0)."""
        return self.discriminator

    @property
    def adversary_options(self):
        """The discriminator's Adam settings and gradient clip (``{}`` without one)."""
        if self.discriminator is None:
            return {}
        return {"lr": self.discriminator_lr, "betas": self.discriminator_betas,
                "grad_clip": self.discriminator_grad_clip}

    def forward(self, model, batch, adversary_step=None):
        """Forward ``model`` on a training batch and return the losses.

        Parameters
        ----------
        model : DAC | DACMC | torch.nn.parallel.DistributedDataParallel
            The model, in training mode; called as ``model(x, channels)``.
        batch : torch.Tensor | tuple of torch.Tensor
            Single-channel crops (batch, 1, n_times) from
            :class:`~mne_codec.training.RecordingCrops` (DAC), or ``(x,
            ch_ix)`` from :class:`~mne_codec.training.MontageCrops` (DAC-MC:
            ``ch_ix`` (batch, n_channels) indices in
            :data:`mne_codec.channels.CHANNEL_VOCABULARY`).
        adversary_step : callable | None
            With a discriminator: called with its loss to take its step (the
            trainer's); ``None``: the discriminator is not trained.

        Returns
        -------
        losses : dict of str to torch.Tensor
            See :meth:`terms`; with a discriminator, also ``"adversarial"``
            and ``"feature_matching"`` (unweighted, in ``"total"`` with their
            weights) and ``"discriminator"`` (its LSGAN loss before its step,
            detached).
        """
        if torch.is_tensor(model):  # the form before the one interface: (y, x, q_loss)
            _deprecated("DACLoss()(y, x, quantizer_loss)",
                        "DACLoss().terms(y, x, quantizer_loss) or DACLoss()(model, batch)",
                        stacklevel=5)
            return _legacy_terms(self.terms(model, batch, adversary_step))
        x, channels, _ = _split_batch(batch)
        y, _, q_loss = model(x, channels)
        out = self.terms(y.float(), x.float(), q_loss.float())
        if self.discriminator is not None:
            out.update(self._adversarial(y.float(), x.float(), adversary_step))
            out["total"] = (out["total"] + self.adversarial_weight * out["adversarial"]
                            + self.feature_matching_weight * out["feature_matching"])
        return out

    def terms(self, y, x, quantizer_loss):
        """Compute the reconstruction loss.

        Parameters
        ----------
        y : torch.Tensor, shape (batch, n_channels, n_times)
            Reconstruction.
        x : torch.Tensor, shape (batch, n_channels, n_times)
            Target (``n_times`` must exceed half the longest window).
        quantizer_loss : torch.Tensor
            The quantizer's loss (scalar) from the model's forward.

        Returns
        -------
        losses : dict of str to torch.Tensor
            ``"total"`` (the weighted total) and the unweighted terms
            ``"mel"``, ``"waveform"``, ``"quantizer"`` (and ``"stft"`` when
            its weight is not 0).
        """
        out = {"mel": multiscale_mel_loss(y, x, self.sfreq, self.window_lengths, self.n_mels),
               "waveform": F.l1_loss(y, x)}
        if self.weights["stft"]:
            out["stft"] = multiscale_stft_loss(y, x, self.stft_n_ffts)
        out["quantizer"] = torch.as_tensor(quantizer_loss, dtype=y.dtype, device=y.device)
        out["total"] = sum(self.weights[k] * v for k, v in out.items())
        return out

    def _adversarial(self, y, x, adversary_step):
        """Take the discriminator's step, then compute the generator's adversarial terms."""
        disc = self.discriminator
        disc.train()
        d_loss = discriminator_loss(disc(y.detach()), disc(x))
        if adversary_step is not None:
            adversary_step(d_loss)
        # the generator's terms: no gradient to the discriminator's weights
        params = list(disc.parameters())
        flags = [p.requires_grad for p in params]
        for p in params:
            p.requires_grad_(False)
        try:
            with torch.no_grad():
                d_real = disc(x)
            adv, fm = generator_losses(disc(y), d_real)
        finally:
            for p, f in zip(params, flags):
                p.requires_grad_(f)
        return {"adversarial": adv, "feature_matching": fm, "discriminator": d_loss.detach()}

    # -- the forms before the one interface (the loss owned the discriminator's optimiser)
    def _own_optimizer(self):
        if self._legacy_optimizer is None:
            self._legacy_optimizer = torch.optim.Adam(
                self.discriminator.parameters(), lr=self.discriminator_lr,
                betas=self.discriminator_betas)
        return self._legacy_optimizer

    def _own_step(self, d_loss):
        opt = self._own_optimizer()
        opt.zero_grad(set_to_none=True)
        d_loss.backward()
        if self.discriminator_grad_clip:
            torch.nn.utils.clip_grad_norm_(self.discriminator.parameters(),
                                           self.discriminator_grad_clip)
        opt.step()

    def step(self, model, batch):
        """Return ``loss(model, batch)`` with ``"loss"`` for ``"total"`` (deprecated).

        The discriminator, if any, is stepped by an optimiser of the loss's own
        (:attr:`discriminator_optimizer`), single process, on the batch's device.
        """
        _deprecated("DACLoss.step(model, batch)",
                    "loss(model, batch, adversary_step) (the Trainer steps the discriminator)")
        step = None
        if self.discriminator is not None:
            x = _split_batch(batch)[0]
            self.discriminator.to(x.device)
            step = self._own_step
        return _legacy_terms(self(model, batch, step))

    @property
    def discriminator_optimizer(self):
        """Deprecated: the Trainer owns the discriminator's optimiser (``None`` without one)."""
        _deprecated("DACLoss.discriminator_optimizer", "Trainer.adversary_optimizer")
        return None if self.discriminator is None else self._own_optimizer()

    def checkpoint_state(self):
        """Return the discriminator's state (deprecated: the Trainer checkpoints it).

        Returns
        -------
        state : dict
            ``{"discriminator": ..., "optimizer": ...}`` of the deprecated
            :meth:`step`'s optimiser, or ``{}``.
        """
        _deprecated("DACLoss.checkpoint_state()", "Trainer.state_dict()")
        if self.discriminator is None:
            return {}
        return {"discriminator": self.discriminator.state_dict(),
                "optimizer": self._own_optimizer().state_dict()}

    def load_checkpoint_state(self, state):
        """Restore what :meth:`checkpoint_state` returned (deprecated).

        Parameters
        ----------
        state : dict
            As returned by :meth:`checkpoint_state`.
        """
        _deprecated("DACLoss.load_checkpoint_state()", "Trainer.load_checkpoint()")
        if not state:
            return
        if self.discriminator is None:
            raise ValueError("The checkpoint holds a discriminator but this DACLoss has none "
                             "(adversarial_weight=0).")
        self.discriminator.load_state_dict(state["discriminator"])
        self._own_optimizer().load_state_dict(state["optimizer"])


def _unwrap(model):
    return model.module if hasattr(model, "module") else model


class MaskedTokenLoss(CodecLoss):
    """Masked-token prediction with a frozen codec as the target tokenizer.

    The objective of NeuroRVQ's (and LaBraM's) stage 2, for
    :class:`~mne_codec.models.NeuroRVQFM`: every item of a batch gets a
    random patch mask (:func:`~mne_codec.models.neurorvq_fm.random_patch_mask`,
    ``mask_ratio`` of its channel x patch tokens); the model predicts the
    target codes of the masked tokens and, in the symmetric pass, those of
    the complementary tokens; ``loss`` is the cross-entropy averaged over
    the target rows (one head per row) of the first pass, plus that of the
    symmetric pass (as LaBraM sums the two).

    The targets are the codes the frozen ``tokenizer`` gives each 1-s
    patch (see :meth:`targets`). A codec that reads the model's input (same
    :class:`~mne_codec.preprocessing.Preprocessing`, e.g. a NeuroRVQ
    tokenizer) codes the windows as they are; for any other (BioCodec, DAC),
    the windows are converted to its input (volts, its rate by FFT
    resampling, its unit, per-window scaling and clip; its band-pass is not
    re-applied). The codec's ``n_code_rows`` codes (``n_codebooks``, or
    ``n_branches x n_codebooks`` for NeuroRVQ) are read at
    ``frames_per_patch`` evenly spaced frames of every patch (frame
    ``floor((a + (i + 0.5) / r) * f)`` for patch ``a``, ``i < r``, ``f``
    frames per patch): rows ``q * r + i`` for code row ``q``.

    Called as ``loss(model, batch)`` (see :class:`CodecLoss`) on
    batches ``(x, ch_ix)`` of :class:`~mne_codec.training.MontageCrops`
    made with the model's preprocessing; :meth:`validate` is a ``validate=``
    function for the trainer.

    Parameters
    ----------
    tokenizer : Codec
        The target codec (kept frozen, in eval mode, outside the model).
    mask_ratio : float
        Fraction of tokens masked per item.
    symmetric : bool
        Add the complementary mask's pass.
    frames_per_patch : int | None
        Frames read per patch (default: all whole frames, ``floor(frames
        per patch)``; 1 for a codec with one frame a patch, as NeuroRVQ).
    """

    def __init__(self, tokenizer, mask_ratio=0.5, symmetric=True, frames_per_patch=None):
        super().__init__()
        self.tokenizer = tokenizer.eval()
        for p in self.tokenizer.parameters():
            p.requires_grad_(False)
        self.mask_ratio = float(mask_ratio)
        self.symmetric = bool(symmetric)
        self.frames_per_patch = frames_per_patch

    def train(self, mode=True):
        """Set the training mode; the frozen tokenizer stays in eval mode."""
        super().train(mode)
        self.tokenizer.eval()  # frozen: no codebook updates, ever
        return self

    def target_layout(self, patch_s):
        """Rows of targets per patch and the RVQ level of each row.

        Parameters
        ----------
        patch_s : float
            Patch duration of the model in seconds.

        Returns
        -------
        n_rows : int
            Codes per channel and patch (the model's ``n_targets``).
        levels : list of int
            The (0-based) RVQ level of every row.
        """
        tok = self.tokenizer
        # the level of every row of the codec's codes (several rows a level for NeuroRVQ)
        row_level = {}
        for q in range(tok.n_codebooks):
            for row in set(tok.code_rows(q + 1)) - set(tok.code_rows(q)):
                row_level[row] = q
        per_patch = self._frames_per_patch(patch_s)
        n_rows = tok.n_code_rows * per_patch
        return n_rows, [row_level[r // per_patch] for r in range(n_rows)]

    def _frames_per_patch(self, patch_s):
        frames = patch_s * self.tokenizer.frame_rate
        if frames < 1:
            raise ValueError(f"A patch of {patch_s:g} s holds less than one frame of the "
                             f"target codec ({self.tokenizer.frame_rate:g} frames/s).")
        r = self.frames_per_patch or int(math.floor(frames + 1e-9))
        if not 1 <= r <= frames + 1e-9:
            raise ValueError(f"frames_per_patch must be in [1, {frames:g}], got {r}")
        return int(r)

    @torch.no_grad()
    def targets(self, model, x, channels):
        """Target codes of every token: int64 (batch, n_channels * n_patches, n_rows).

        Parameters
        ----------
        model : NeuroRVQFM
            The model (its preprocessing and patch size define the input).
        x : torch.Tensor, shape (batch, n_channels, n_times)
            Windows as the model reads them.
        channels : list of str | torch.Tensor
            Channel names or vocabulary indices (batch, n_channels).

        Returns
        -------
        targets : torch.Tensor
            Channel-major tokens, rows as :meth:`target_layout`.
        """
        # the codec's codes are defined in float32: never under the training step's autocast
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self._targets(model, x, channels)

    def _targets(self, model, x, channels):
        tok = self.tokenizer
        cfg = model.config
        prep = model.preprocessing
        b, c, n = x.shape
        n_patches = n // cfg.patch_size
        tok.to(x.device)
        if tok.preprocessing == prep:  # the codec reads the model's input as it is
            x_tok = x.float()
        else:
            volts = x.float() / prep.unit_scale
            n_out = int(round(n * tok.sfreq / prep.sfreq))
            x_tok = prepare_windows(volts, n_out, tok.preprocessing)
        codes = tok.encode(x_tok, channels).codes  # (B, C, R, F)
        per_patch = cfg.patch_size / prep.sfreq * tok.frame_rate
        r = self._frames_per_patch(cfg.patch_size / prep.sfreq)
        offsets = (torch.arange(r, dtype=torch.float64) + 0.5) / r
        pos = (torch.arange(n_patches, dtype=torch.float64)[:, None] + offsets) * per_patch
        idx = pos.floor().long().clamp(max=codes.shape[-1] - 1).to(x.device)  # (A, r)
        codes = codes[..., idx.reshape(-1)].reshape(b, c, -1, n_patches, r)
        codes = codes.permute(0, 1, 2, 4, 3).reshape(b, c, -1, n_patches)  # rows q*r+i
        return codes.long().permute(0, 1, 3, 2).reshape(b, c * n_patches, -1)

    def _passes(self, model, x, channels, targets, mask):
        logits, logits_sym = model(x, channels, mask, symmetric=self.symmetric)
        passes = [(logits, targets[mask])]
        if self.symmetric:
            passes.append((logits_sym, targets[~mask]))
        return passes

    def forward(self, model, batch, adversary_step=None):
        """Forward ``model`` on a batch and return the losses.

        Parameters
        ----------
        model : NeuroRVQFM | torch.nn.parallel.DistributedDataParallel
            The model (training mode).
        batch : tuple of torch.Tensor
            ``x`` (batch, n_channels, n_times) as the model reads it and
            ``ch_ix`` (batch, n_channels); optionally third, the targets of
            :meth:`targets`, computed beforehand (e.g. once for a fixed pool
            of crops).
        adversary_step : None
            Unused (this objective has no adversary).

        Returns
        -------
        losses : dict of str to torch.Tensor
            ``"total"`` (masked + symmetric cross-entropy), ``"masked"``,
            ``"symmetric"`` and ``"accuracy"`` (of the masked pass, all rows).
        """
        x, channels, *given = batch
        fm = _unwrap(model)
        targets = given[0] if given else self.targets(fm, x, channels)
        mask = random_patch_mask(*targets.shape[:2], self.mask_ratio, device=x.device)
        out, total = {}, 0.0
        for name, (logits, t) in zip(("masked", "symmetric"),
                                     self._passes(model, x, channels, targets, mask)):
            ce = torch.stack([F.cross_entropy(lg.float(), t[:, j]) for j, lg in enumerate(logits)])
            out[name] = ce.mean()
            total = total + out[name]
            if name == "masked":
                out["accuracy"] = (logits.argmax(-1) == t.T).float().mean().detach()
        out["total"] = total
        return out

    def step(self, model, batch):
        """Return ``loss(model, batch)`` with ``"loss"`` for ``"total"`` (deprecated)."""
        _deprecated("MaskedTokenLoss.step(model, batch)", "loss(model, batch)")
        return _legacy_terms(self(model, batch))

    @torch.no_grad()
    def validate(self, model, data, batch_size=32, seed=0):
        """Loss and masked-token accuracy per RVQ level, on fixed crops and masks.

        Parameters
        ----------
        model : NeuroRVQFM
            The model (evaluated in eval mode; its mode is restored).
        data : tuple of torch.Tensor
            ``x`` (n, n_channels, n_times) and ``ch_ix`` (n, n_channels),
            from :func:`~mne_codec.training.fixed_montage_crops`.
        batch_size : int
            Crops per forward.
        seed : int
            Seed of the masks (the same at every call).

        Returns
        -------
        metrics : dict of str to float
            ``loss`` (the ``"total"`` of a call); ``acc_level_q`` (1-based ``q``): the
            fraction of tokens whose level-``q`` code is predicted, over every
            token (each token is predicted once: in the masked pass or, when
            symmetric, in the complementary one) and over that level's rows;
            ``majority_level_q``: the same for always predicting each row's
            most frequent code in these targets (the baseline to beat;
            chance is ``1 / vocab_size``); ``ce_level_q``: the cross-entropy
            (nats per token and row) of those predictions, and
            ``unigram_ce_level_q`` that of the best prediction without
            context, each row's code frequencies in these targets (their
            entropy; a model below it uses the context). ``acc``,
            ``majority``, ``ce`` and ``unigram_ce`` average all rows.
        """
        x_all, ch_all = data
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        gen = torch.Generator().manual_seed(seed)
        n_rows, levels = self.target_layout(model.config.patch_size / model.sfreq)
        correct = torch.zeros(n_rows, dtype=torch.float64)
        ce_sum = torch.zeros(n_rows, dtype=torch.float64)
        counts = torch.zeros(n_rows, model.config.vocab_size, dtype=torch.float64)
        loss, n_tokens, n_batches = 0.0, 0, 0
        try:
            for start in range(0, len(x_all), batch_size):
                x = x_all[start:start + batch_size].to(device)
                ch = ch_all[start:start + batch_size].to(device)
                targets = self.targets(model, x, ch)
                mask = random_patch_mask(*targets.shape[:2], self.mask_ratio,
                                         generator=gen).to(device)
                batch_loss = 0.0
                for logits, t in self._passes(model, x, ch, targets, mask):
                    ce = torch.stack([F.cross_entropy(lg.float(), t[:, j], reduction="sum")
                                      for j, lg in enumerate(logits)]).double().cpu()
                    batch_loss += float(ce.mean()) / max(t.shape[0], 1)
                    ce_sum += ce
                    correct += (logits.argmax(-1) == t.T).sum(1).double().cpu()
                    n_tokens += t.shape[0]
                flat = targets.reshape(-1, n_rows).cpu()
                counts.scatter_add_(1, flat.T, torch.ones(flat.T.shape, dtype=torch.float64))
                loss += batch_loss
                n_batches += 1
        finally:
            model.train(was_training)
        # every pass covers its own tokens: n_tokens counts each predicted token once
        acc = correct / n_tokens
        majority = counts.max(1).values / counts.sum(1)
        freq = counts / counts.sum(1, keepdim=True)
        unigram = -(freq * torch.log(freq.clamp_min(1e-300))).sum(1)  # entropy, nats
        ce = ce_sum / n_tokens
        out = {"loss": loss / n_batches}
        for q in sorted(set(levels)):
            rows = [r for r, lv in enumerate(levels) if lv == q]
            out[f"acc_level_{q + 1}"] = float(acc[rows].mean())
            out[f"majority_level_{q + 1}"] = float(majority[rows].mean())
            out[f"ce_level_{q + 1}"] = float(ce[rows].mean())
            out[f"unigram_ce_level_{q + 1}"] = float(unigram[rows].mean())
        out["acc"] = float(acc.mean())
        out["majority"] = float(majority.mean())
        out["ce"] = float(ce.mean())
        out["unigram_ce"] = float(unigram.mean())
        return out
