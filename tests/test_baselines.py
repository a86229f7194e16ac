"""The classical anchors of the rate-distortion curves: DCT code and Gaussian bound."""

import numpy as np
import pytest
from scipy.fft import idct

from mne_codec import metrics
from mne_codec.baselines import dct_code, gaussian_rd_nmse
from mne_codec.evaluation import evaluate_codec, format_report


def test_gaussian_bound_of_white_noise_matches_shannon(rng):
    """White noise on [0, fs/2]: NMSE = 2 ** (-2 R / fs), the textbook result."""
    sfreq = 250.0
    x = rng.standard_normal((4, int(120 * sfreq)))
    for rate in (0.0, 62.5, 125.0, 250.0):
        expected = 2.0 ** (-2 * rate / sfreq)
        np.testing.assert_allclose(gaussian_rd_nmse(x, sfreq, rate), expected, rtol=0.08)


def test_gaussian_bound_falls_with_rate_and_is_below_the_dct(rng):
    # a stationary red (AR(1)) signal: most power at low frequencies, as in EEG
    from scipy.signal import lfilter

    sfreq = 250.0
    x = lfilter([1.0], [1.0, -0.9], rng.standard_normal((6, 2500)), axis=-1)[:, 1250:]
    rates = [50.0, 167.0, 333.0, 500.0]
    bound = [gaussian_rd_nmse(x, sfreq, r).mean() for r in rates]
    dct = [metrics.nmse(x, dct_code(x, sfreq, r)).mean() for r in rates]
    assert all(a > b for a, b in zip(bound, bound[1:]))
    assert all(b < d for b, d in zip(bound, dct))
    assert np.isnan(gaussian_rd_nmse(np.ones((1, 100)), sfreq, 10.0)).all()
    with pytest.raises(ValueError, match="bits_per_second"):
        gaussian_rd_nmse(x, sfreq, -1.0)
    with pytest.raises(ValueError, match="n_times"):
        dct_code(np.ones(1), sfreq, 10.0)


def test_dct_code_keeps_what_its_rate_pays_for(rng):
    sfreq, n_times = 250.0, 1250  # 5 s: 8 bits per coefficient -> 1.6 bit/s each
    coefs = np.zeros((3, n_times))
    coefs[:, :10] = rng.standard_normal((3, 10))
    x = idct(coefs, norm="ortho", axis=-1)
    # ten coefficients at 16 bits: 10 * 16 / 5 s = 32 bit/s, nearly exact
    np.testing.assert_allclose(dct_code(x, sfreq, 32.0, coef_bits=16), x, atol=1e-4)
    assert np.allclose(dct_code(x, sfreq, 0.0), 0.0)  # no bits, no signal
    half = metrics.nmse(x, dct_code(x, sfreq, 16.0, coef_bits=16))  # 5 of 10 kept
    assert np.all((half > 0.05) & (half < 0.95))


def test_evaluate_codec_reports_the_anchors_beside_each_level(tiny_codec, rng):
    import mne

    info = mne.create_info(3, 100.0, "eeg")
    raw = mne.io.RawArray(rng.standard_normal((3, 2000)) * 1e-5, info, verbose=False)
    report = evaluate_codec(tiny_codec, [raw], window_s=4.0, baselines=True, verbose=False)
    for row in report["levels"]:
        assert 0 < row["bound_nmse"] <= row["dct_nmse"] <= 1.0 + 1e-9
    text = format_report(report)
    assert "DCT NMSE" in text and "Gaussian bound" in text
    assert "dct_nmse" not in evaluate_codec(tiny_codec, [raw], window_s=4.0,
                                            verbose=False)["levels"][0]
