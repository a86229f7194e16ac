"""Signal read-outs: the decoded signal read linearly from the decoder's input latent."""

import pickle

import numpy as np
import pytest
import torch

from mne_codec import CodecTokenizer, load_codec
from mne_codec.checkpoints import save_codec
from mne_codec.features import token_covariances, token_signal
from mne_codec.models.weights import CheckpointError
from mne_codec.pipeline import decode_windows, detokenize, tokenize
from mne_codec.readout import READOUT_FILE, SignalReadout, _design_gram, fit_readout, readout_r2

from .conftest import _eegbci_raw, make_tiny_codec


def _tiny_tokens(codec, rng, n_windows=6, n_channels=3, n_times=400):
    t = np.arange(n_times) / codec.sfreq
    x = (rng.standard_normal((n_windows, n_channels, n_times))
         + 3 * np.sin(2 * np.pi * 10 * t)) * 1e-5
    return tokenize(codec, x, codec.sfreq, [f"X{i}" for i in range(n_channels)])


def test_readout_is_the_least_squares_map(rng):
    """The convolution applies the fitted matrix; the fit's R^2 is that of its predictions."""
    codec = make_tiny_codec()
    tokens = [_tiny_tokens(codec, rng), _tiny_tokens(codec, rng, n_windows=4)]
    readout = fit_readout(codec, tokens, context=2, validation=tokens)
    assert readout.hop_length == codec.hop_length and readout.dim == codec.config.dimension
    # apply = the design matrix (frames f-2..f+2, edges repeated, and a 1) times the weights
    z = torch.randn(5, readout.dim, 7, dtype=torch.float64)
    design = _design_gram(z, 2).numpy()
    expected = (design @ readout.weights.astype(np.float64)).reshape(5, -1)
    np.testing.assert_allclose(readout.apply(z.float()).numpy(), expected, rtol=1e-4, atol=1e-4)
    # the R^2 gathered during the fit (from sums) is the one of the predictions
    assert readout.info["train_r2"] == pytest.approx(readout.info["validation_r2"], abs=1e-4)
    assert 0.5 < readout.info["train_r2"] <= 1.0
    # least squares: any other map explains less of the same data
    worse = SignalReadout(readout.weights * 1.05, 2, codec.fingerprint())
    assert readout_r2(codec, worse, tokens)["all"] < readout.info["train_r2"]


def test_readout_travels_with_the_codec(rng, tmp_path):
    codec = make_tiny_codec()
    tokens = _tiny_tokens(codec, rng)
    codec.readout = fit_readout(codec, tokens, context=1, info={"data": "noise"})
    folder = save_codec(codec, tmp_path / "codec")
    loaded = load_codec(folder)
    np.testing.assert_array_equal(loaded.readout.weights, codec.readout.weights)
    assert loaded.readout.info["data"] == "noise" and loaded.readout.context == 1
    assert pickle.loads(pickle.dumps(loaded)).readout.fingerprint == codec.fingerprint()
    # the read-out is what the features use by default, decoding on request
    auto = token_signal(tokens, loaded)
    np.testing.assert_allclose(auto, detokenize(loaded, tokens, readout=loaded.readout))
    assert not np.allclose(auto, token_signal(tokens, loaded, signal="decoded"))
    # a damaged or foreign read-out is refused with the reason
    (folder / READOUT_FILE).write_bytes(b"not a read-out")
    with pytest.raises(CheckpointError, match="Checksum mismatch"):
        load_codec(folder)
    other = make_tiny_codec(seed=1)
    with pytest.raises(ValueError, match="fitted for the codec of fingerprint"):
        decode_windows(other, tokens.codes, tokens.n_times_codec, readout=codec.readout)
    # saved without one: no file left behind that could be taken for its read-out
    codec.readout = None
    save_codec(codec, folder)
    assert not (folder / READOUT_FILE).exists() and load_codec(folder).readout is None


def test_readout_errors(rng):
    codec = make_tiny_codec()
    tokens = _tiny_tokens(codec, rng)
    with pytest.raises(ValueError, match="signal must be one of"):
        token_signal(tokens, codec, signal="volts")
    with pytest.raises(ValueError, match="no signal read-out"):
        token_covariances(tokens, codec, signal="readout")
    with pytest.raises(ValueError, match="no signal read-out"):
        CodecTokenizer(codec, sfreq=codec.sfreq, signal="readout").fit(
            rng.standard_normal((2, 2, 400)) * 1e-5)
    with pytest.raises(ValueError, match="signal must be one of"):
        CodecTokenizer(codec, signal="volts").fit(rng.standard_normal((2, 2, 400)) * 1e-5)
    with pytest.raises(ValueError, match="ridge"):
        fit_readout(codec, tokens, ridge=-1.0)
    with pytest.raises(ValueError, match="context"):
        SignalReadout(np.zeros((3 * 16 + 1, 4)), -1, "x")
    with pytest.raises(ValueError, match="do not fit a context"):
        SignalReadout(np.zeros((16 + 1, 4)), 1, "x")
    with pytest.raises(CheckpointError, match="not a signal read-out"):
        SignalReadout.load(__file__)


def test_codecs_without_a_linear_readout_say_so():
    from mne_codec.models import NeuroRVQ

    codec = NeuroRVQ.__new__(NeuroRVQ)  # the check reads only the class
    with pytest.raises(ValueError, match="no linear read-out"):
        NeuroRVQ._check_readout_support(codec)


@pytest.fixture(scope="module")
def validation_tokens(shared_data):
    """Tokens of 8 windows of 4 s of S010 run 4 (a validation subject of the recipes)."""
    raw = _eegbci_raw(shared_data, 10, [4])
    n = int(4 * raw.info["sfreq"])
    x = np.stack([raw.get_data()[:, i * n:(i + 1) * n] for i in range(8)])
    codec = load_codec("default", verbose=False)
    return codec, tokenize(codec, x, raw.info["sfreq"], raw.ch_names)


def test_shipped_readout_explains_the_decoded_signal(validation_tokens):
    """On an unseen subject, the default codec's read-out keeps every band of its signal."""
    codec, tokens = validation_tokens
    assert codec.readout is not None, "the default codec ships a read-out"
    r2 = readout_r2(codec, codec.readout, tokens)
    assert r2["all"] > 0.95, r2
    for band in ("theta", "alpha", "beta"):
        assert r2[band] > 0.9, r2


def test_readout_features_match_decoded_ones(validation_tokens):
    """Band covariances of the read-out are close to those of the decoded signal."""
    from mne_codec.features import riemannian_mean, tangent_space

    codec, tokens = validation_tokens
    read = token_covariances(tokens, codec, signal="readout")
    dec = token_covariances(tokens, codec, signal="decoded")
    # each at its own reference, as a fitted tokenizer uses it (measured 0.94-0.95)
    t_read, t_dec = tangent_space(read, riemannian_mean(read)), tangent_space(dec,
                                                                           riemannian_mean(dec))
    corr = [np.corrcoef(a, b)[0, 1] for a, b in zip(t_read, t_dec)]
    assert min(corr) > 0.9, corr
    # band power (measured within 4 %)
    ratio = np.trace(read, axis1=-2, axis2=-1) / np.trace(dec, axis1=-2, axis2=-1)
    np.testing.assert_allclose(ratio, 1.0, atol=0.1)
