"""BioCodec's training objective."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from ..spectral import multiscale_stft_loss

__all__ = ["BioCodecLoss", "NeuroRVQLoss"]


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
