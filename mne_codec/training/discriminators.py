"""DAC's adversarial discriminators, for EEG: multi-period and multi-band STFT.

The architecture of the discriminators of the Descript Audio Codec (Kumar et
al. 2023, "High-Fidelity Audio Compression with Improved RVQGAN"), written
here with torch only:

- :class:`PeriodDiscriminator` (MPD, from HiFi-GAN): the signal is folded
  into a 2-D array of ``period`` columns and read by weight-normalised
  convolutions along the folded time axis;
- :class:`BandSpectrogramDiscriminator` (DAC's MRD): the complex STFT (real
  and imaginary parts as two channels) is split into frequency bands given
  as fractions of Nyquist, each read by its own stack of weight-normalised
  2-D convolutions, the outputs joined along frequency by a last
  convolution;
- :class:`Discriminator` runs all of them on the same input and returns
  every sub-discriminator's feature maps (the last one is its score map).

They are used by :class:`~mne_codec.training.DACLoss` when its
``adversarial_weight`` is not 0.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm

from ..spectral import dac_stft

__all__ = ["BandSpectrogramDiscriminator", "Discriminator", "PeriodDiscriminator", "BANDS"]

#: DAC's frequency bands of the spectrogram discriminator, as fractions of Nyquist
BANDS = ((0.0, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0))


def _conv2d(in_ch, out_ch, kernel_size, stride=1, padding=0):
    return weight_norm(nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding))


class PeriodDiscriminator(nn.Module):
    """Multi-period discriminator for one period (HiFi-GAN's, as in DAC).

    The input (batch, 1, n_times) is padded at the end (reflect) to a
    multiple of ``period`` and reshaped to (batch, 1, n_times / period,
    period); convolutions of ``(kernel_size, 1)`` then read every phase of
    the period separately, strided by 3 along time except in the last
    layer, each followed by a leaky ReLU (slope 0.1), and a last
    ``(3, 1)`` convolution gives one score per position.

    Parameters
    ----------
    period : int
        Samples per row of the folded signal.
    channels : tuple of int
        Output channels of the convolutions before the score layer (DAC:
        32, 128, 512, 1024, 1024).
    kernel_size : int
        Kernel length along time (DAC: 5).
    stride : int
        Stride along time of all layers but the last (DAC: 3).
    """

    def __init__(self, period, channels=(32, 128, 512, 1024, 1024), kernel_size=5, stride=3):
        super().__init__()
        self.period = int(period)
        pad = (kernel_size // 2, 0)
        layers, in_ch = [], 1
        for i, out_ch in enumerate(channels):
            s = (stride, 1) if i < len(channels) - 1 else (1, 1)
            layers.append(_conv2d(in_ch, out_ch, (kernel_size, 1), s, pad))
            in_ch = out_ch
        self.convs = nn.ModuleList(layers)
        self.conv_post = _conv2d(in_ch, 1, (3, 1), 1, (1, 0))

    def forward(self, x):
        """Feature maps of every layer.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, 1, n_times)
            Signals.

        Returns
        -------
        fmaps : list of torch.Tensor
            One (batch, channels, rows, period) map per layer; the last,
            with one channel, is the score map.
        """
        n = x.shape[-1]
        extra = (-n) % self.period
        if extra:
            x = F.pad(x, (0, extra), mode="reflect" if extra < n else "constant")
        h = x.reshape(x.shape[0], x.shape[1], -1, self.period)
        fmaps = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.1)
            fmaps.append(h)
        fmaps.append(self.conv_post(h))
        return fmaps


class BandSpectrogramDiscriminator(nn.Module):
    """DAC's multi-band complex spectrogram discriminator at one resolution.

    The STFT (periodic Hann window of ``window_length``, hop
    ``window_length // 4``, framed as ``audiotools`` with ``match_stride``:
    ``ceil(n_times / hop)`` frames) is taken as a (batch, 2, frames, bins)
    array of real and imaginary parts and split into ``bands``; every band
    goes through its own convolutions (``(3, 9)`` kernels, the second to
    fourth strided by 2 along frequency, then a ``(3, 3)``), each followed by
    a leaky ReLU (slope 0.1); the bands' outputs are joined along frequency
    and a last ``(3, 3)`` convolution gives the score map.

    Parameters
    ----------
    window_length : int
        STFT window (and FFT) length in samples. The signals must be longer
        than ``window_length // 2`` (reflect padding).
    bands : tuple of tuple of float
        Frequency bands as fractions ``(low, high)`` of Nyquist; band ``k``
        holds bins ``int(low * n_bins)`` to ``int(high * n_bins)`` of the
        ``n_bins = window_length // 2 + 1`` bins (DAC's rule). Every band
        must hold at least one bin.
    channels : int
        Channels of the convolutions (DAC: 32).
    """

    def __init__(self, window_length, bands=BANDS, channels=32):
        super().__init__()
        self.window_length = int(window_length)
        n_bins = self.window_length // 2 + 1
        self.bands = tuple((int(lo * n_bins), int(hi * n_bins)) for lo, hi in bands)
        if any(hi <= lo for lo, hi in self.bands):
            raise ValueError(f"A band holds no bin at window_length={self.window_length}: "
                             f"bins {self.bands}")
        ch = int(channels)

        def stack():
            return nn.ModuleList([
                _conv2d(2, ch, (3, 9), (1, 1), (1, 4)),
                _conv2d(ch, ch, (3, 9), (1, 2), (1, 4)),
                _conv2d(ch, ch, (3, 9), (1, 2), (1, 4)),
                _conv2d(ch, ch, (3, 9), (1, 2), (1, 4)),
                _conv2d(ch, ch, (3, 3), (1, 1), (1, 1)),
            ])

        self.band_convs = nn.ModuleList([stack() for _ in self.bands])
        self.conv_post = _conv2d(ch, 1, (3, 3), (1, 1), (1, 1))

    def spectrogram(self, x):
        """Compute the bands of the complex STFT.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, 1, n_times)
            Signals.

        Returns
        -------
        bands : list of torch.Tensor
            One (batch, 2, n_frames, band bins) array per band.
        """
        with torch.autocast(device_type=x.device.type, enabled=False):
            spec = dac_stft(x[:, 0].float(), self.window_length, match_stride=True)
        spec = torch.view_as_real(spec).permute(0, 3, 2, 1)  # (batch, 2, frames, bins)
        return [spec[..., lo:hi] for lo, hi in self.bands]

    def forward(self, x):
        """Feature maps of every layer.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, 1, n_times)
            Signals.

        Returns
        -------
        fmaps : list of torch.Tensor
            The maps of every band's layers (band by band), then the score
            map (batch, 1, n_frames, joined bins).
        """
        fmaps, outs = [], []
        for band, stack in zip(self.spectrogram(x), self.band_convs):
            for conv in stack:
                band = F.leaky_relu(conv(band), 0.1)
                fmaps.append(band)
            outs.append(band)
        fmaps.append(self.conv_post(torch.cat(outs, dim=-1)))
        return fmaps


class Discriminator(nn.Module):
    """DAC's discriminator: multi-period and multi-band spectrogram ones.

    Every input channel is judged on its own (channels are folded into the
    batch), after DAC's normalisation: the mean is removed and the peak
    scaled to 0.8, per signal, so the discriminators judge the waveform's
    shape and spectrum, not its amplitude (which the reconstruction terms
    hold).

    Parameters
    ----------
    periods : tuple of int
        Periods of the :class:`PeriodDiscriminator` (DAC: 2, 3, 5, 7, 11).
    window_lengths : tuple of int
        Window lengths of the :class:`BandSpectrogramDiscriminator`. DAC
        uses 2048, 1024 and 512 on 0.38-s audio excerpts (16 896 samples at
        44.1 kHz); the defaults here, 512, 256 and 128, suit EEG crops of a
        few thousand samples (e.g. 2560 at 250 Hz: 20 to 80 frames per
        crop; 0.49 to 1.95 Hz per bin).
    bands : tuple of tuple of float
        Frequency bands (fractions of Nyquist) of the spectrogram
        discriminators (DAC's by default).
    period_channels : tuple of int
        Channels of the period discriminators' layers (DAC's by default;
        smaller ones give a cheaper discriminator).
    band_channels : int
        Channels of the spectrogram discriminators' layers (DAC: 32).
    normalize : bool
        Remove the mean and scale the peak to 0.8 before judging (DAC).
    """

    def __init__(self, periods=(2, 3, 5, 7, 11), window_lengths=(512, 256, 128), bands=BANDS,
                 period_channels=(32, 128, 512, 1024, 1024), band_channels=32, normalize=True):
        super().__init__()
        self.periods = tuple(int(p) for p in periods)
        self.window_lengths = tuple(int(w) for w in window_lengths)
        self.normalize = bool(normalize)
        discs = [PeriodDiscriminator(p, tuple(period_channels)) for p in self.periods]
        discs += [BandSpectrogramDiscriminator(w, bands, band_channels)
                  for w in self.window_lengths]
        self.discriminators = nn.ModuleList(discs)

    def forward(self, x):
        """Feature maps of every sub-discriminator.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, n_channels, n_times)
            Signals (real or reconstructed); channels are judged separately.

        Returns
        -------
        fmaps : list of list of torch.Tensor
            One list per sub-discriminator (periods first, then window
            lengths), of its layers' maps for the ``batch * n_channels``
            signals; the last map of each is its score map.
        """
        x = x.reshape(-1, 1, x.shape[-1])
        if self.normalize:
            x = x - x.mean(dim=-1, keepdim=True)
            x = 0.8 * x / (x.abs().amax(dim=-1, keepdim=True) + 1e-9)
        return [d(x) for d in self.discriminators]


def discriminator_loss(d_fake, d_real):
    """LSGAN loss of the discriminator (DAC's).

    ``sum over sub-discriminators of mean(d_fake^2) + mean((1 - d_real)^2)``
    on their score maps (the last feature map).

    Parameters
    ----------
    d_fake, d_real : list of list of torch.Tensor
        :class:`Discriminator` outputs on reconstructions and targets.

    Returns
    -------
    loss : torch.Tensor
        Scalar.
    """
    return sum(torch.mean(f[-1].float() ** 2) + torch.mean((1 - r[-1].float()) ** 2)
               for f, r in zip(d_fake, d_real))


def generator_losses(d_fake, d_real):
    """Adversarial (LSGAN) and feature-matching losses of the generator (DAC's).

    Parameters
    ----------
    d_fake : list of list of torch.Tensor
        :class:`Discriminator` output on the reconstructions.
    d_real : list of list of torch.Tensor
        Its output on the targets (detached here).

    Returns
    -------
    adversarial : torch.Tensor
        ``sum over sub-discriminators of mean((1 - d_fake)^2)``.
    feature_matching : torch.Tensor
        Sum over sub-discriminators and their layers (score maps excluded)
        of the mean absolute difference of the feature maps.
    """
    adv = sum(torch.mean((1 - f[-1].float()) ** 2) for f in d_fake)
    fm = sum(F.l1_loss(a.float(), b.detach().float())
             for f, r in zip(d_fake, d_real) for a, b in zip(f[:-1], r[:-1]))
    return adv, fm
