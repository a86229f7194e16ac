"""Training objectives of the codec families (BioCodec, NeuroRVQ, DAC)."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

import torch

from ..spectral import multiscale_mel_loss, multiscale_stft_loss

__all__ = ["BioCodecLoss", "DACLoss", "NeuroRVQLoss"]


class BioCodecLoss(nn.Module):
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
    """

    def __init__(self, time_weight=0.2, freq_weight=1.0, commitment_weight=1.0,
                 huber_beta=0.7, n_ffts=(32, 64, 128, 256), feature_weights=(1.0, 0.2, 0.2)):
        super().__init__()
        self.time_weight = float(time_weight)
        self.freq_weight = float(freq_weight)
        self.commitment_weight = float(commitment_weight)
        self.huber_beta = float(huber_beta)
        self.n_ffts = tuple(n_ffts)
        self.feature_weights = tuple(feature_weights)

    def forward(self, y, x, commit):
        """Compute the loss.

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
            ``"loss"`` (the weighted total to minimise), ``"time"``,
            ``"freq"`` and ``"commit"`` (unweighted components).
        """
        l_t = F.smooth_l1_loss(y, x, beta=self.huber_beta)
        l_f = multiscale_stft_loss(y, x, self.n_ffts, self.feature_weights)
        total = self.time_weight * l_t + self.freq_weight * l_f + self.commitment_weight * commit
        return {"loss": total, "time": l_t, "freq": l_f, "commit": commit}


class NeuroRVQLoss(nn.Module):
    """NeuroRVQ's objective: amplitude, phase, time and code losses, weighted.

    ``loss = amplitude_weight * L_amp + phase_weight * L_phase + time_weight
    * L_time + code_weight * L_code``, with the terms of
    :meth:`NeuroRVQ.forward <mne_codec.models.NeuroRVQ.forward>`: the MSE of
    the standardised ``log1p`` Fourier amplitudes, the phase loss (1 - cosine
    similarity of (cos, sin) plus 0.1 x the unit-circle penalty), the MSE of
    the window-standardised signals and the quantizers' loss. The authors sum
    the four with weight 1, the defaults here.

    Used by :class:`~mne_codec.training.Trainer` through :meth:`step`, on
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

    def step(self, model, batch):
        """Forward ``model`` on a batch and return the losses.

        Parameters
        ----------
        model : NeuroRVQ | torch.nn.parallel.DistributedDataParallel
            The model (training mode).
        batch : tuple of torch.Tensor
            ``x`` (batch, n_channels, n_times) in the codec's units and
            ``ch_ix`` (batch, n_channels).

        Returns
        -------
        losses : dict of str to torch.Tensor
            ``"loss"`` (the weighted total) and the four unweighted terms.
        """
        x, ch_ix = batch
        _, _, terms = model(x, ch_ix)
        out = {name: terms[name].float() for name in self.weights}
        out["loss"] = sum(self.weights[k] * v for k, v in out.items())
        return out


class DACLoss(nn.Module):
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

    Notes
    -----
    DAC's adversarial terms (multi-period and multi-resolution STFT
    discriminators, LSGAN, feature matching weighted 2) are not part of this
    objective; the trainer runs one optimiser, and only DAC's generator is
    released, so fine-tuning from the audio weights starts any
    discriminator afresh. ``waveform_weight`` takes their place in keeping
    the phase, which the mel loss ignores; 1 makes both terms of the same
    order at initialisation on robust-scaled EEG.
    """

    def __init__(self, sfreq=16000.0, window_lengths=(32, 64, 128, 256, 512),
                 n_mels=(5, 10, 20, 40, 80), mel_weight=15.0, waveform_weight=1.0,
                 stft_weight=0.0, quantizer_weight=1.0, stft_n_ffts=(32, 64, 128, 256)):
        super().__init__()
        if len(window_lengths) != len(n_mels):
            raise ValueError("window_lengths and n_mels must have the same length")
        self.sfreq = float(sfreq)
        self.window_lengths = tuple(int(w) for w in window_lengths)
        self.n_mels = tuple(int(m) for m in n_mels)
        self.weights = {"mel": float(mel_weight), "waveform": float(waveform_weight),
                        "stft": float(stft_weight), "quantizer": float(quantizer_weight)}
        self.stft_n_ffts = tuple(stft_n_ffts)

    def forward(self, y, x, quantizer_loss):
        """Compute the loss.

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
            ``"loss"`` (the weighted total) and the unweighted terms
            ``"mel"``, ``"waveform"``, ``"quantizer"`` (and ``"stft"`` when
            its weight is not 0).
        """
        out = {"mel": multiscale_mel_loss(y, x, self.sfreq, self.window_lengths, self.n_mels),
               "waveform": F.l1_loss(y, x)}
        if self.weights["stft"]:
            out["stft"] = multiscale_stft_loss(y, x, self.stft_n_ffts)
        out["quantizer"] = torch.as_tensor(quantizer_loss, dtype=y.dtype, device=y.device)
        out["loss"] = sum(self.weights[k] * v for k, v in out.items())
        return out

    def step(self, model, batch):
        """Forward ``model`` on a training batch and return the losses.

        Parameters
        ----------
        model : DAC | DACMC | torch.nn.parallel.DistributedDataParallel
            The model, in training mode.
        batch : torch.Tensor | tuple of torch.Tensor
            Single-channel crops (batch, 1, n_times) from
            :class:`~mne_codec.training.RecordingCrops` (DAC), or ``(x,
            ch_ix)`` from :class:`~mne_codec.training.MontageCrops` (DAC-MC:
            ``ch_ix`` (batch, n_channels) indices in
            :data:`mne_codec.channels.CHANNEL_VOCABULARY`).

        Returns
        -------
        losses : dict of str to torch.Tensor
            See :meth:`forward`.
        """
        if isinstance(batch, (tuple, list)):
            x, ch_ix = batch
            y, _, q_loss = model(x, ch_ix)
        else:
            x = batch
            y, _, q_loss = model(x)
        return self(y.float(), x.float(), q_loss.float())
