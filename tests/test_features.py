"""Token features: band covariances, Riemannian geometry, features from Tokens, the cache."""

import mne
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

from mne_codec import CodecTokenizer, Tokens
from mne_codec.features import (
    DEFAULT_BANDS,
    band_covariances,
    riemannian_mean,
    tangent_space,
    token_covariances,
    token_features,
)

from .conftest import make_tiny_codec


def _spd(rng, n_mats, n, spread=1.0):
    a = rng.standard_normal((n_mats, n, 3 * n)) * spread
    return a @ a.swapaxes(-1, -2) / (3 * n) + 0.1 * np.eye(n)


@pytest.fixture(scope="module")
def small_epochs(mi_epochs):
    """Ten 4-s epochs of 16 channels of S001's imagery."""
    return mi_epochs[:10].copy().pick(mi_epochs.ch_names[:16])


# -- numerics ------------------------------------------------------------------------
def test_band_covariances_are_shrunk_cospectra(rng):
    sfreq, n_times = 100.0, 400
    x = rng.standard_normal((5, 4, n_times)) * 1e-5
    covs = band_covariances(x, sfreq, [(8.0, 13.0), (13.0, 30.0)])
    assert covs.shape == (5, 2, 4, 4)
    np.testing.assert_allclose(covs, covs.swapaxes(-1, -2))
    assert (np.linalg.eigvalsh(covs) > 0).all()
    # the OAS of the band's Fourier samples, as scikit-learn computes it
    from sklearn.covariance import oas

    spec = np.fft.rfft((x - x.mean(-1, keepdims=True)) * 1e6)
    freqs = np.fft.rfftfreq(n_times, 1 / sfreq)
    band = spec[2][:, (freqs >= 8) & (freqs < 13)]
    samples = np.concatenate([band.real, band.imag], axis=-1).T
    np.testing.assert_allclose(covs[2, 0] - 1e-12 * np.eye(4),
                               oas(samples, assume_centered=True)[0], rtol=1e-10)
    # unshrunk, it is the covariance of the window band-passed in the frequency domain
    # (Parseval), up to the normalisation: samples of the band, not of the window
    mask = (freqs >= 8) & (freqs < 13)
    xf = np.fft.irfft(np.where(mask, np.fft.rfft(x[2] - x[2].mean(-1, keepdims=True)), 0),
                      n_times) * 1e6
    emp = samples.T @ samples / len(samples)
    np.testing.assert_allclose(emp * len(samples) * 2 / n_times, xf @ xf.T, rtol=1e-8)
    # a sinusoid in one band shows in that band only
    t = np.arange(n_times) / sfreq
    y = np.zeros((1, 2, n_times))
    y[0, 0] = 1e-5 * np.sin(2 * np.pi * 10 * t)
    y[0, 1] = 1e-7 * rng.standard_normal(n_times)
    alpha, beta = band_covariances(y, sfreq, [(8.0, 13.0), (13.0, 30.0)])[0]
    assert alpha[0, 0] > 100 * beta[0, 0]


def test_band_covariances_bad_input(rng):
    x = rng.standard_normal((2, 3, 100)) * 1e-5
    with pytest.raises(ValueError, match="no frequency bin"):
        band_covariances(x, 100.0, [(4.2, 4.8)])  # 1 Hz resolution
    with pytest.raises(ValueError, match="Nyquist"):
        band_covariances(x, 100.0, [(40.0, 60.0)])
    with pytest.raises(ValueError, match="low < high"):
        band_covariances(x, 100.0, [(13.0, 8.0)])
    with pytest.raises(ValueError, match="pairs"):
        band_covariances(x, 100.0, [4.0, 8.0])
    with pytest.raises(ValueError, match="NaN"):
        band_covariances(np.full((1, 2, 100), np.nan), 100.0)
    # silent windows (flat channels) keep a logarithm
    assert np.isfinite(tangent_space(band_covariances(np.zeros((1, 2, 100)), 100.0),
                                     np.stack([np.eye(2)] * len(DEFAULT_BANDS)))).all()


def test_riemannian_mean_and_tangent_space(rng):
    covs = _spd(rng, 12, 4)
    mean = riemannian_mean(covs)
    # the mean of one matrix is itself; of commuting matrices, their geometric mean
    np.testing.assert_allclose(riemannian_mean(covs[:1]), covs[0], rtol=1e-6)
    diag = np.stack([np.diag(d) for d in rng.uniform(0.5, 2.0, (5, 3))])
    np.testing.assert_allclose(riemannian_mean(diag),
                               np.diag(np.exp(np.log(np.diagonal(diag, 0, 1, 2)).mean(0))),
                               rtol=1e-6)
    # invariant under congruence: mean(A C A^T) = A mean(C) A^T
    a = rng.standard_normal((4, 4)) + 4 * np.eye(4)
    np.testing.assert_allclose(riemannian_mean(a @ covs @ a.T), a @ mean @ a.T, rtol=1e-4)
    # the tangent vectors at the mean sum to (nearly) zero, and their norm is the
    # affine-invariant distance to the reference
    vec = tangent_space(covs, mean)
    assert vec.shape == (12, 10)
    assert np.abs(vec.mean(0)).max() < 1e-4
    w = np.linalg.eigvals(np.linalg.solve(mean, covs[0])).real
    np.testing.assert_allclose(np.linalg.norm(vec[0]), np.sqrt(np.sum(np.log(w) ** 2)))
    # each matrix on its own: a subset maps to the subset
    np.testing.assert_allclose(tangent_space(covs[[3, 1]], mean), vec[[3, 1]])
    with pytest.raises(ValueError, match="do not match"):
        tangent_space(covs, mean[:3, :3])


def test_same_geometry_as_pyriemann(rng):
    pytest.importorskip("pyriemann", reason="pyriemann (test extra) compares the geometry")
    from pyriemann.tangentspace import TangentSpace

    covs = _spd(rng, 20, 5, spread=2.0)
    ts = TangentSpace(metric="riemann").fit(covs)
    np.testing.assert_allclose(riemannian_mean(covs), ts.reference_, rtol=1e-4)
    np.testing.assert_allclose(tangent_space(covs, ts.reference_), ts.transform(covs),
                               rtol=1e-6, atol=1e-9)


# -- features of tokens -----------------------------------------------------------------
def test_features_from_a_token_file_equal_the_transformers(small_epochs, tmp_path):
    """A user with only the token file (and the codec's name) gets the same features."""
    tok = CodecTokenizer(verbose="WARNING").fit(small_epochs)
    feats = tok.transform(small_epochs)
    n_ch = len(small_epochs.ch_names)
    assert tok.output == "tangent"
    assert feats.shape == (10, len(DEFAULT_BANDS) * n_ch * (n_ch + 1) // 2)
    assert tok.reference_.shape == (len(DEFAULT_BANDS), n_ch, n_ch)
    fname = tok.tokenize(small_epochs).save(tmp_path / "tokens.npz")
    tokens = Tokens.load(fname)
    np.testing.assert_allclose(token_features(tokens, reference=tok.reference_), feats,
                               rtol=1e-6, atol=1e-8)
    covs = token_covariances(tokens)  # the codec the tokens name
    np.testing.assert_allclose(riemannian_mean(covs), tok.reference_, rtol=1e-6)
    for output in ("histogram", "embedding", "tokens"):
        np.testing.assert_array_equal(
            token_features(tokens, tok.codec_, output=output),
            CodecTokenizer(output=output, verbose="WARNING").fit_transform(small_epochs))
    # another codec's decoder would give a wrong signal without a word
    with pytest.raises(ValueError, match="fingerprint"):
        token_features(tokens, make_tiny_codec())


def test_tangent_transform_is_per_window(small_epochs, monkeypatch):
    """Features of a subset are those of the whole (no batch-dependent recentering)."""
    monkeypatch.setenv("MNE_CODEC_MEMORY_CACHE_MB", "0")  # recomputed, not remembered
    tok = CodecTokenizer(verbose="WARNING").fit(small_epochs)
    whole = tok.transform(small_epochs)
    part = tok.transform(small_epochs[[7, 2]])
    # other batch shapes may flip codes at float near-ties: nearly, not bit-, equal
    np.testing.assert_allclose(part, whole[[7, 2]], rtol=0, atol=0.02 * np.abs(whole).max())
    # fit_transform is fit then transform
    np.testing.assert_allclose(clone(tok).fit_transform(small_epochs), whole, rtol=1e-6,
                               atol=1e-8)


def test_cross_validation_codes_each_window_once(small_epochs, monkeypatch):
    """Clones share the in-process cache: each epoch is encoded and decoded once."""
    import mne_codec.features as features
    import mne_codec.transformers as transformers

    encoded, decoded = [], []
    tokenize, detokenize = transformers.tokenize, features.detokenize

    def counting_tokenize(codec, data, *args, **kwargs):
        encoded.append(len(data))
        return tokenize(codec, data, *args, **kwargs)

    def counting_detokenize(codec, tokens, *args, **kwargs):
        decoded.append(len(tokens.codes))
        return detokenize(codec, tokens, *args, **kwargs)

    monkeypatch.setattr(transformers, "tokenize", counting_tokenize)
    monkeypatch.setattr(features, "detokenize", counting_detokenize)
    X, y = small_epochs.get_data(), small_epochs.events[:, 2]
    pipe = make_pipeline(CodecTokenizer(sfreq=160.0, verbose="WARNING"), LogisticRegression())
    scores = cross_val_score(pipe, X, y, cv=5)
    assert np.isfinite(scores).all()
    assert sum(encoded) == len(X) and sum(decoded) == len(X)
    # the other outputs reuse the tokens; other parameters that change them do not
    CodecTokenizer(sfreq=160.0, output="histogram").fit_transform(X)
    assert sum(encoded) == len(X)
    CodecTokenizer(sfreq=160.0, n_codebooks=2).fit_transform(X[:3])
    assert sum(encoded) == len(X) + 3
    # bands are part of the covariances' key, not of the tokens'
    CodecTokenizer(sfreq=160.0, bands=[(8.0, 30.0)]).fit_transform(X)
    assert sum(encoded) == len(X) + 3 and sum(decoded) == 2 * len(X) + 3
    # disabled: everything is computed again
    monkeypatch.setenv("MNE_CODEC_MEMORY_CACHE_MB", "0")
    transformers._WINDOW_CACHE.clear()
    cross_val_score(pipe, X, y, cv=2)
    assert sum(encoded) == 3 * len(X) + 3  # fit (train) and transform (test) per fold


def test_window_cache_is_bounded(monkeypatch):
    from mne_codec._cache import WindowCache

    cache = WindowCache(max_bytes=10_000)
    for i in range(10):
        cache.put(str(i), dict(a=np.zeros(250)))  # 2 kB each, plus overhead
    assert cache.n_bytes <= 10_000 and len(cache.items) == 4
    assert cache.get("0") is None and cache.get("9") is not None
    cache.put("big", dict(a=np.zeros(5_000)))  # larger than the bound: not kept
    assert cache.get("big") is None
    monkeypatch.setenv("MNE_CODEC_MEMORY_CACHE_MB", "0.01")
    assert WindowCache().max_bytes == int(0.01 * 2**20)
    monkeypatch.setenv("MNE_CODEC_MEMORY_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="MNE_CODEC_MEMORY_CACHE_MB"):
        WindowCache().put("x", dict(a=np.zeros(1)))


def test_bands_parameter(rng, tiny_codec):
    X = rng.standard_normal((4, 2, 300)) * 1e-5
    feats = CodecTokenizer(tiny_codec, sfreq=100.0, bands=[(8.0, 30.0)]).fit_transform(X)
    assert feats.shape == (4, 3)
    for bad in ([(30.0, 8.0)], [], "alpha", [(1.0, 2.0, 3.0)]):
        with pytest.raises(ValueError, match="bands must be"):
            CodecTokenizer(tiny_codec, sfreq=100.0, bands=bad).fit(X)
    with pytest.raises(ValueError, match="Nyquist"):
        CodecTokenizer(tiny_codec, sfreq=100.0, bands=[(40.0, 60.0)]).fit(X)
    with pytest.raises(ValueError, match="reference_|not fitted"):
        tok = CodecTokenizer(tiny_codec, sfreq=100.0, output="histogram").fit(X)
        tok.set_params(output="tangent").transform(X)


def test_array_channel_names_for_named_codecs(rng, tiny_codec, monkeypatch):
    """Arrays take their channel names from ch_names= (e.g. MOABB pipelines)."""
    from mne_codec.models import FAMILIES

    from .test_transformers import _NamedTiny

    monkeypatch.setitem(FAMILIES, "named-tiny", (_NamedTiny, type(tiny_codec.config)))
    named = _NamedTiny(tiny_codec.config)
    named.load_state_dict(tiny_codec.state_dict())
    named.eval()
    X = rng.standard_normal((3, 2, 300)) * 1e-5
    with pytest.raises(ValueError, match="arrays carry no channel names"):
        CodecTokenizer(named, sfreq=100.0).fit(X)
    tok = CodecTokenizer(named, sfreq=100.0, ch_names=["C3", "C4"], output="tokens").fit(X)
    assert tok.ch_names_ == ["C3", "C4"] and tok.tokenize(X).ch_names == ["C3", "C4"]
    assert tok.transform(X).shape[:2] == (3, 2)
    with pytest.raises(ValueError, match="2 names for arrays of 3 channels"):
        CodecTokenizer(named, sfreq=100.0, ch_names=["C3", "C4"]).fit(
            rng.standard_normal((3, 3, 300)) * 1e-5)
    with pytest.raises(ValueError, match="ch_names must be"):
        CodecTokenizer(named, sfreq=100.0, ch_names="C3").fit(X)
    # MNE objects name their own channels
    epochs = mne.EpochsArray(X, mne.create_info(["Fz", "Pz"], 100.0, "eeg"), verbose=False)
    tok = CodecTokenizer(named, ch_names=["C3", "C4"], output="tokens").fit(epochs)
    assert tok.ch_names_ == ["Fz", "Pz"]


def test_whole_recording_is_decoded_in_chunks(rng, tiny_codec, monkeypatch):
    """window_s=None: the recording is one window, decoded as a stream (bounded memory)."""
    import mne_codec.pipeline as pipeline

    streamed = []
    decode_stream = pipeline.decode_stream

    def counting(*args, **kwargs):
        streamed.append(True)
        return decode_stream(*args, **kwargs)

    monkeypatch.setattr(pipeline, "decode_stream", counting)
    raw = mne.io.RawArray(rng.standard_normal((3, 2000)) * 1e-5,
                          mne.create_info(3, 100.0, "eeg"), verbose=False)
    feats = CodecTokenizer(tiny_codec, window_s=None, chunk_s=4.0).fit_transform(raw)
    assert feats.shape == (1, len(DEFAULT_BANDS) * 6) and streamed
    # a single window is its own reference: its tangent vectors are zero
    np.testing.assert_allclose(feats, 0.0, atol=1e-6)
