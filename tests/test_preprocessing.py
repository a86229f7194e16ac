"""One preprocessing path: training crops are the model inputs of inference windows."""

import numpy as np
import pytest
import torch

from mne_codec import CodecTokenizer
from mne_codec.preprocessing import band_limit, preprocess
from mne_codec.training import MontageCrops, RecordingCrops, fixed_crops

from .conftest import make_tiny_codec

SEGMENT_S = 2.0
# the pool keeps band-limited volts in float32; scaled values reach the clip at 10
TOL = dict(rtol=1e-5, atol=2e-5)


def _codec_inputs(tok, inst, monkeypatch):
    """Transform ``inst`` with ``tok``; return the windows it gave the codec, and the tokens."""
    from mne_codec import pipeline

    seen = []
    encode = pipeline.encode

    def recording(codec, x, *args, **kwargs):
        seen.append(np.array(x))
        return encode(codec, x, *args, **kwargs)

    monkeypatch.setattr(pipeline, "encode", recording)
    tokens = tok.transform(inst)
    return np.concatenate(seen), tokens


def _sliding_inputs(raw, picks, prep):
    """Every window of ``SEGMENT_S`` of the band-limited channels, as inference prepares it."""
    sfreq = raw.info["sfreq"]
    filtered = band_limit(raw.get_data(picks=picks), sfreq, prep)
    n = int(round(SEGMENT_S * sfreq))
    windows = np.lib.stride_tricks.sliding_window_view(filtered, n, axis=-1)
    x, _, _ = preprocess(windows.transpose(1, 0, 2), sfreq, prep, band_limited=True,
                         verbose="ERROR")
    return x  # (n_starts, n_channels, n_times_codec)


def test_fixed_crops_are_the_tokenizer_inputs(mi_raw, monkeypatch):
    """fixed_crops of a real recording equal what CodecTokenizer feeds the codec."""
    codec = make_tiny_codec()  # 100 Hz, 1-30 Hz, median/IQR, clip 10: resampled from 160 Hz
    raw = mi_raw.copy().crop(0.0, 20.0)
    tok = CodecTokenizer(codec, window_s=SEGMENT_S, output="tokens").fit(raw)
    inputs, tokens = _codec_inputs(tok, raw, monkeypatch)
    n_win, n_ch = tokens.shape[:2]  # codes (n_windows, n_channels, n_codebooks, n_frames)
    assert (n_win, n_ch) == (10, 64)
    # the tokenizer codes window-major, fixed_crops lists channel-major
    inference = inputs.reshape(n_win, n_ch, -1).transpose(1, 0, 2).reshape(-1, 1, 200)
    crops = fixed_crops([raw], codec, segment_s=SEGMENT_S).numpy()
    assert crops.shape == inference.shape == (640, 1, 200)
    np.testing.assert_allclose(crops, inference, **TOL)
    # scaled per window: every crop has median 0 and IQR 1, unlike a recording-wide scale
    q25, q50, q75 = np.percentile(crops[:, 0].astype(np.float64), [25, 50, 75], axis=-1)
    np.testing.assert_allclose(q50, 0.0, atol=1e-5)
    np.testing.assert_allclose(q75 - q25, 1.0, atol=1e-5)


@pytest.mark.parametrize("kind", ["recording", "montage"])
def test_random_crops_are_inference_windows(mi_raw, kind):
    """A random training crop is the inference input of the window over its samples."""
    codec = make_tiny_codec()
    picks = ["C3", "Cz", "C4", "FC3", "CP3"]
    raw = mi_raw.copy().pick(picks).crop(0.0, 8.0)
    if kind == "recording":
        ds = RecordingCrops([raw], codec, segment_s=SEGMENT_S, crops_per_recording=6, seed=4)
    else:
        ds = MontageCrops([raw], codec, n_channels=3, segment_s=SEGMENT_S,
                          crops_per_recording=6, seed=4)
    reference = _sliding_inputs(raw, picks, codec.preprocessing)  # (n_starts, 5, 200)
    from mne_codec.channels import CHANNEL_VOCABULARY

    lower = [p.lower() for p in picks]
    starts = set()
    for _, item in zip(range(6), ds):
        if kind == "recording":
            crop = item.numpy()
            assert crop.dtype == np.float32 and crop.shape == (1, 200)
            # the window and channel it came from, among all of them
            err = np.abs(reference - crop).max(-1)  # (n_starts, n_channels)
            start, ch = np.unravel_index(np.argmin(err), err.shape)
            expected = reference[start, [ch]]
        else:
            crop = item[0].numpy()
            rows = [lower.index(CHANNEL_VOCABULARY[int(i)].lower()) for i in item[1]]
            assert crop.dtype == np.float32 and crop.shape == (3, 200)
            start = int(np.argmin(np.abs(reference[:, rows] - crop).max(-1).max(-1)))
            expected = reference[start, rows]
        np.testing.assert_allclose(crop, expected, **TOL)
        starts.add(int(start))
    assert len(starts) > 1  # random positions, not one window


def test_flat_windows_are_left_out():
    """A flat channel's windows (scale 0) are no crops; the others are inference inputs."""
    import mne

    rng = np.random.default_rng(0)
    data = rng.standard_normal((2, 1600)) * 1e-5
    data[1] = 0.0  # flat
    raw = mne.io.RawArray(data, mne.create_info(["C3", "C4"], 160.0, "eeg"), verbose=False)
    codec = make_tiny_codec()
    crops = fixed_crops([raw], codec, segment_s=SEGMENT_S)
    assert crops.shape == (5, 1, 200)  # the 5 windows of C3; C4's flat windows left out
    x, _, _ = preprocess(band_limit(data[:1], 160.0, codec.preprocessing)
                         .reshape(5, 1, 320), 160.0, codec.preprocessing, band_limited=True)
    torch.testing.assert_close(crops, torch.from_numpy(x), **TOL)
