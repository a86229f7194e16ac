"""CodecTokenizer / CodecReconstructor on real EEG, arrays and bad input."""

import json
import pickle

import mne
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from mne_codec import CodecReconstructor, CodecTokenizer, Tokens, read_tokens
from mne_codec.checkpoints import CheckpointError
from mne_codec.models import BioCodec, BioCodecConfig

from .conftest import assert_codes_equal_up_to_near_ties, make_tiny_codec


@pytest.fixture(scope="module")
def small_epochs(mi_epochs):
    """Ten 4-s epochs of 16 channels: enough for shapes, fast on 2 cores."""
    return mi_epochs[:10].copy().pick(mi_epochs.ch_names[:16])


def test_epochs_tokens_reconstruction_keep_shape_units_info(small_epochs, ref_codec):
    tok = CodecTokenizer(ref_codec, output="tokens").fit(small_epochs)
    assert tok.n_features_in_ == 16 and tok.sfreq_ == 160.0
    assert tok.ch_names_ == small_epochs.ch_names and tok.n_codebooks_ == 6
    codes = tok.transform(small_epochs)
    n_frames = ref_codec.n_frames(1002)  # 641 samples at 160 Hz -> 1002 at 250 Hz
    assert codes.shape == (10, 16, 6, n_frames) and codes.dtype == np.int16
    assert codes.min() >= 0 and codes.max() < 256

    tokens = tok.tokenize(small_epochs)
    assert isinstance(tokens, Tokens) and tokens.ch_names == small_epochs.ch_names
    np.testing.assert_array_equal(tokens.codes, codes)
    volts = tok.inverse_transform(tokens)
    assert volts.shape == small_epochs.get_data().shape and np.isfinite(volts).all()
    # volts in, volts out: same order of magnitude as the data (tens of µV)
    ratio = volts.std() / small_epochs.get_data().std()
    assert 0.01 < ratio < 100

    rec = CodecReconstructor(ref_codec)
    out = rec.fit(small_epochs).reconstruct(small_epochs)
    assert isinstance(out, mne.BaseEpochs)
    assert out.ch_names == small_epochs.ch_names
    np.testing.assert_array_equal(out.events, small_epochs.events)
    assert out.event_id == small_epochs.event_id
    assert out.get_data().shape == small_epochs.get_data().shape
    assert np.isfinite(out.get_data()).all()
    assert not np.allclose(out.get_data(), small_epochs.get_data())


def test_raw_windows_and_reconstruction(mi_raw, ref_codec):
    raw = mi_raw.copy().pick(mi_raw.ch_names[:4]).crop(0, 12.3)
    tok = CodecTokenizer(ref_codec, window_s=5.0, output="tokens").fit(raw)
    tokens = tok.tokenize(raw)
    assert tokens.codes.shape[:2] == (2, 4)  # the 2.3 s tail is dropped for tokens
    np.testing.assert_allclose(tokens.onsets_s, [0.0, 5.0])
    rec = CodecReconstructor(ref_codec, window_s=5.0).fit(raw)
    out = rec.reconstruct(raw)  # the whole recording, tail included
    assert isinstance(out, mne.io.BaseRaw)
    assert out.get_data().shape == raw.get_data().shape
    assert np.isfinite(out.get_data()).all()
    assert out.annotations == raw.annotations or len(out.annotations) == len(raw.annotations)
    np.testing.assert_array_equal(out.annotations.onset, raw.annotations.onset)
    assert out.info["sfreq"] == raw.info["sfreq"] and out.ch_names == raw.ch_names


def test_arrays_2d_and_3d(rng, tiny_codec):
    X = rng.standard_normal((6, 3, 300)) * 1e-5
    rec = CodecReconstructor(tiny_codec, sfreq=100.0).fit(X)
    assert rec.n_features_in_ == 3
    assert rec.transform(X).shape == X.shape
    X2 = X[:, 0]
    assert CodecReconstructor(tiny_codec, sfreq=100.0).fit(X2).transform(X2).shape == X2.shape
    feats = CodecTokenizer(tiny_codec, sfreq=100.0, output="histogram").fit_transform(X)
    assert feats.shape == (6, 3 * 3 * 16)
    # each (channel, level) histogram sums to one
    np.testing.assert_allclose(feats.reshape(6, 9, 16).sum(-1), 1.0)
    emb = CodecTokenizer(tiny_codec, sfreq=100.0, output="embedding").fit_transform(X)
    assert emb.shape == (6, 3 * 16) and np.isfinite(emb).all()
    # the default: 2 bands x the 6 entries of a 3 x 3 symmetric matrix
    tangent = CodecTokenizer(tiny_codec, sfreq=100.0).fit_transform(X)
    assert tangent.shape == (6, 2 * 6) and np.isfinite(tangent).all()


def test_determinism_and_batch_size_invariance(rng, tiny_codec):
    X = rng.standard_normal((5, 4, 400)) * 1e-5
    a = CodecTokenizer(tiny_codec, sfreq=100.0, output="tokens", batch_size=3).fit_transform(X)
    b = CodecTokenizer(tiny_codec, sfreq=100.0, output="tokens", batch_size=64).fit_transform(X)
    # the same call twice (same shapes): exactly the same tokens
    again = CodecTokenizer(tiny_codec, sfreq=100.0, output="tokens",
                           batch_size=3).fit_transform(X)
    np.testing.assert_array_equal(a, again)
    # across batch sizes (and subsets of epochs) the convolutions' float results
    # may differ in the last bits, so the tokens are equal but for near-ties
    from mne_codec.preprocessing import preprocess

    x, _, _ = preprocess(X, 100.0, tiny_codec.preprocessing, verbose="ERROR")
    assert_codes_equal_up_to_near_ties(tiny_codec, x, a, b)
    c = CodecTokenizer(tiny_codec, sfreq=100.0, output="tokens").fit_transform(X[2:4])
    assert_codes_equal_up_to_near_ties(tiny_codec, x[2:4], a[2:4], c)


def test_fewer_codebooks(rng, tiny_codec):
    X = rng.standard_normal((2, 2, 300)) * 1e-5
    full = CodecTokenizer(tiny_codec, sfreq=100.0, output="tokens").fit_transform(X)
    two = CodecTokenizer(tiny_codec, sfreq=100.0, output="tokens",
                         n_codebooks=2).fit_transform(X)
    np.testing.assert_array_equal(two, full[:, :, :2])


def test_pipeline_cross_val_on_arrays_and_epochs(small_epochs, ref_codec):
    y = small_epochs.events[:, 2]
    X = small_epochs.get_data()
    pipe = Pipeline([("tok", CodecTokenizer(ref_codec, sfreq=160.0, verbose="WARNING")),
                     ("clf", LogisticRegression(max_iter=500))])
    scores = cross_val_score(pipe, X, y, cv=2)
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))
    # Epochs directly: sklearn's splitters index them into lists of one-epoch Epochs
    pipe_ep = Pipeline([("tok", CodecTokenizer(ref_codec, verbose="WARNING")),
                        ("clf", LogisticRegression(max_iter=500))])
    pipe_ep.fit(small_epochs, y)
    assert pipe_ep.predict(small_epochs).shape == (10,)
    np.testing.assert_allclose(cross_val_score(pipe_ep, small_epochs, y, cv=2), scores)
    search = GridSearchCV(pipe_ep, {"tok__n_codebooks": [1, 2]}, cv=2, error_score="raise")
    search.fit(small_epochs, y)
    assert search.best_params_["tok__n_codebooks"] in (1, 2)
    tok = CodecTokenizer(ref_codec, output="tokens").fit(small_epochs)
    # two epochs vs all ten: other batch shapes, so equal but for float near-ties
    from mne_codec.preprocessing import preprocess

    x, _, _ = preprocess(small_epochs.get_data()[[3, 1]], small_epochs.info["sfreq"],
                         ref_codec.preprocessing, verbose="ERROR")
    assert_codes_equal_up_to_near_ties(ref_codec, x,
                                       tok.transform([small_epochs[i] for i in (3, 1)]),
                                       tok.transform(small_epochs)[[3, 1]])
    other = small_epochs.copy().pick(small_epochs.ch_names[:2])
    with pytest.raises(ValueError, match="differ in channels or sfreq"):
        tok.transform([small_epochs[0], other[1]])


def test_token_file_round_trip(tmp_path, small_epochs, ref_codec):
    tok = CodecTokenizer(ref_codec, output="tokens").fit(small_epochs)
    tokens = tok.tokenize(small_epochs[:3])
    fname = tokens.save(tmp_path / "tok.npz")
    again = read_tokens(fname)
    np.testing.assert_array_equal(again.codes, tokens.codes)
    np.testing.assert_array_equal(again.center, tokens.center)
    np.testing.assert_array_equal(again.scale, tokens.scale)
    np.testing.assert_array_equal(again.onsets_s, tokens.onsets_s)
    assert again.ch_names == tokens.ch_names and again.codec == tokens.codec
    np.testing.assert_array_equal(tok.inverse_transform(again), tok.inverse_transform(tokens))
    with pytest.raises(FileExistsError):
        tokens.save(fname)
    # Tokens.load is the counterpart of save, and takes the name save was given
    assert tokens.save(tmp_path / "tok2") == tmp_path / "tok2.npz"
    for loaded in (Tokens.load(fname), Tokens.load(tmp_path / "tok2")):
        np.testing.assert_array_equal(loaded.codes, tokens.codes)
        assert loaded.ch_names == tokens.ch_names
    with pytest.raises(FileNotFoundError, match="No token file"):
        Tokens.load(tmp_path / "missing")
    assert again.side is None  # a channel-independent codec sends no side information
    # version-1 files (written before side information existed) still read; files of
    # a newer format are refused
    meta = dict(tokens._meta(), version=1)
    for version in (1, 3):
        meta["version"] = version
        with open(tmp_path / f"v{version}.npz", "wb") as f:
            np.savez(f, codes=tokens.codes, center=tokens.center, scale=tokens.scale,
                     onsets_s=tokens.onsets_s,
                     meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    v1 = read_tokens(tmp_path / "v1.npz")
    assert v1.side is None and v1.ch_names == tokens.ch_names
    np.testing.assert_array_equal(v1.codes, tokens.codes)
    np.testing.assert_array_equal(tok.inverse_transform(v1), tok.inverse_transform(tokens))
    with pytest.raises(ValueError, match="newer than this"):
        read_tokens(tmp_path / "v3.npz")
    (tmp_path / "bad.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a valid mne-codec token file"):
        read_tokens(tmp_path / "bad.npz")


def test_clone_and_pickle(small_epochs, ref_codec):
    tok = CodecTokenizer(ref_codec, output="tokens", n_codebooks=3)
    assert clone(tok).get_params()["n_codebooks"] == 3
    tok.fit(small_epochs[:2])
    again = pickle.loads(pickle.dumps(tok))
    np.testing.assert_array_equal(again.transform(small_epochs[:2]),
                                  tok.transform(small_epochs[:2]))


# -- bad input ---------------------------------------------------------------
def test_wrong_sfreq_without_resampling(small_epochs, ref_codec):
    with pytest.raises(ValueError, match="expects 250.0 Hz"):
        CodecTokenizer(ref_codec, resample=False).fit(small_epochs).transform(small_epochs)


def test_array_without_sfreq(rng, tiny_codec):
    with pytest.raises(ValueError, match="sfreq is required"):
        CodecTokenizer(tiny_codec).fit(rng.standard_normal((2, 2, 300)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf(rng, tiny_codec, bad):
    X = rng.standard_normal((2, 2, 300)) * 1e-5
    X[1, 0, 10] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        CodecTokenizer(tiny_codec, sfreq=100.0).fit(X)
    good = rng.standard_normal((2, 2, 300)) * 1e-5
    tok = CodecTokenizer(tiny_codec, sfreq=100.0).fit(good)
    with pytest.raises(ValueError, match="NaN or infinite"):
        tok.transform(X)


def test_window_shorter_than_a_frame(rng, ref_codec):
    with pytest.raises(ValueError, match="shorter than one codec frame"):
        CodecTokenizer(ref_codec, sfreq=250.0).fit(rng.standard_normal((2, 1, 11)) * 1e-5)


def test_no_eeg_channels(rng, ref_codec):
    info = mne.create_info(["a", "b"], 250.0, "misc")
    epochs = mne.EpochsArray(rng.standard_normal((2, 2, 500)) * 1e-5, info, verbose=False)
    with pytest.raises(ValueError, match="No channel of type eeg"):
        CodecTokenizer(ref_codec).fit(epochs)


def test_unknown_codec_and_bad_checkpoint(rng, tmp_path):
    X = rng.standard_normal((2, 1, 500)) * 1e-5
    with pytest.raises(ValueError, match="Unknown codec"):
        CodecTokenizer("not-a-codec", sfreq=250.0).fit(X)
    (tmp_path / "corrupt.pt").write_bytes(b"\x80\x04corrupt")
    with pytest.raises(CheckpointError):
        CodecTokenizer(tmp_path / "corrupt.pt", sfreq=250.0).fit(X)


def test_bad_params_and_mismatched_transform(rng, tiny_codec, small_epochs):
    X = rng.standard_normal((2, 2, 300)) * 1e-5
    with pytest.raises(ValueError, match="output must be one of"):
        CodecTokenizer(tiny_codec, sfreq=100.0, output="nope").fit(X)
    with pytest.raises(ValueError, match="window_s must be a positive"):
        CodecTokenizer(tiny_codec, sfreq=100.0, window_s=-1).fit(X)
    tok = CodecTokenizer(tiny_codec, sfreq=100.0).fit(X)
    with pytest.raises(ValueError, match="X has 3 features"):
        tok.transform(rng.standard_normal((2, 3, 300)) * 1e-5)
    with pytest.raises(TypeError, match="Raw, mne.Epochs or an array"):
        tok.transform("not data")
    with pytest.raises(ValueError, match="shape"):
        tok.transform(rng.standard_normal((2, 2, 3, 300)))


def test_microvolts_warning(rng, tiny_codec):
    with pytest.warns(RuntimeWarning, match="microvolts"):
        CodecTokenizer(tiny_codec, sfreq=100.0).fit(rng.standard_normal((2, 2, 300)) * 50)


def test_inverse_transform_of_bare_codes_warns(rng, tiny_codec):
    X = rng.standard_normal((2, 2, 300)) * 1e-5
    tok = CodecTokenizer(tiny_codec, sfreq=100.0, output="tokens").fit(X)
    with pytest.warns(RuntimeWarning, match="scaled units"):
        out = tok.inverse_transform(tok.transform(X))
    assert out.shape == X.shape
    with pytest.raises(ValueError, match="cannot be decoded"):
        tok.inverse_transform(np.zeros((2, 96)))
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 15\]"):
        tok.inverse_transform(np.full((1, 2, 3, 10), 99))


# -- scikit-learn's estimator checks -----------------------------------------
def _tiny_instances():
    # a codec with hop 1 and no band-pass, so that sklearn's tiny 2-D arrays (read as
    # single-channel epochs of n_features samples) are codable at all
    codec = make_tiny_codec(ratios=(1,), filters=False)
    return [CodecTokenizer(codec, sfreq=100.0, output="histogram", verbose="WARNING"),
            CodecTokenizer(codec, sfreq=100.0, bands=[(0.0, 50.0)], verbose="WARNING"),
            CodecReconstructor(codec, sfreq=100.0, verbose="WARNING")]


@parametrize_with_checks(_tiny_instances(), expected_failed_checks=lambda est: {})
def test_sklearn_checks_hop1_codec(estimator, check):
    """Every applicable check passes when the codec can code sklearn's test data."""
    check(estimator)


def _real_instances():
    from mne_codec.checkpoints import load_biocodec_checkpoint

    from .conftest import DATA_DIR

    codec = load_biocodec_checkpoint(DATA_DIR / "biocodec_ref_eeg_ckpt.pt")
    return [CodecTokenizer(codec, sfreq=250.0, verbose="WARNING"),
            CodecReconstructor(codec, sfreq=250.0, verbose="WARNING")]


# The checks a real codec cannot meet. scikit-learn's checks feed 2-D arrays of
# 1-10 features, read as single-channel windows of 1-10 samples: shorter than one
# BioCodec frame (12 samples at 250 Hz), so fit raises our "shorter than one codec
# frame" ValueError. Every other check passes with the real architecture.
_SHORTER_THAN_A_FRAME = (
    "sklearn's test arrays have 1-10 samples per window, fewer than one 12-sample "
    "BioCodec frame"
)
_REAL_CODEC_FAILS = {name: _SHORTER_THAN_A_FRAME for name in [
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
]}


@parametrize_with_checks(_real_instances(), expected_failed_checks=lambda est: _REAL_CODEC_FAILS)
def test_sklearn_checks_biocodec(estimator, check):
    check(estimator)


class _NamedTiny(BioCodec):
    """A channel-independent codec behind the ``"named"`` protocol, with Codec's defaults.

    No side information, every name known, one sub-window per window: what a
    jointly coding codec without a token budget (e.g. a multi-channel DAC) declares.
    """

    family = "named-tiny"
    channel_policy = "named"

    def pick_channels(self, ch_names, unknown="raise"):
        from mne_codec.models.base import needs_names

        return np.arange(len(needs_names(self, ch_names)))

    def encode(self, x, ch_names=None):
        assert len(ch_names) == x.shape[1]
        return super().encode(x)

    def decode(self, codes, ch_names=None, n_times=None, side=None):
        assert side is None and len(ch_names) == codes.shape[1]
        return super().decode(codes, n_times=n_times)


def test_named_codec_protocol(small_epochs, monkeypatch):
    """Any codec with the named protocol runs through the estimators, not only NeuroRVQ."""
    from mne_codec.models import FAMILIES
    from mne_codec.preprocessing import preprocess

    monkeypatch.setitem(FAMILIES, "named-tiny", (_NamedTiny, BioCodecConfig))  # deepcopy
    plain = make_tiny_codec()
    named = _NamedTiny(plain.config)
    named.load_state_dict(plain.state_dict())
    named.eval()
    # 4-s epochs at 100 Hz (the tiny codec's rate; 400 samples, whole frames)
    info = mne.create_info(small_epochs.ch_names[:6], 100.0, "eeg")
    data = small_epochs.get_data()[:3, :6, :400]
    epochs = mne.EpochsArray(data, info, verbose=False)
    tok = CodecTokenizer(named, output="tokens").fit(epochs)
    assert type(tok.codec_) is _NamedTiny
    tokens = tok.tokenize(epochs)
    assert tokens.side is None and tokens.side_bits_per_second == 0.0
    ref = CodecTokenizer(plain, output="tokens").fit(epochs).tokenize(epochs)
    x, _, _ = preprocess(data, 100.0, plain.preprocessing)
    assert_codes_equal_up_to_near_ties(plain, x, tokens.codes, ref.codes)
    y = CodecReconstructor(named).fit(epochs).transform(epochs)
    np.testing.assert_allclose(y, CodecReconstructor(plain).fit(epochs).transform(epochs),
                               rtol=1e-4, atol=1e-4 * np.abs(y).max())
    with pytest.raises(ValueError, match="arrays carry no channel names"):
        CodecTokenizer(named, sfreq=100.0).fit(data)


def test_fit_does_not_mutate_the_codec(rng, tiny_codec):
    before = {k: v.clone() for k, v in tiny_codec.state_dict().items()}
    X = rng.standard_normal((3, 2, 300)) * 1e-5
    CodecTokenizer(tiny_codec, sfreq=100.0, n_codebooks=1).fit(X).transform(X)
    assert tiny_codec.n_codebooks == 3 and not tiny_codec.training
    for k, v in tiny_codec.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_default_codec_round_trip_on_held_out_subject(shared_data):
    """The shipped codec reconstructs EEG of a validation subject it never saw.

    EEGMMIDB S009 (not in the default codec's training set), left/right imagery
    epochs of 4 s, 64 channels at 160 Hz: the reconstruction keeps the shape,
    units and info, has no NaN, and its error against the codec's band-passed
    input stays small at 6 levels and grows as levels are removed.
    """
    from mne.datasets import eegbci

    from mne_codec import metrics
    from mne_codec.preprocessing import band_limit

    from .conftest import _eegbci_raw

    raw = _eegbci_raw(shared_data, 9, [4])
    events, _ = mne.events_from_annotations(raw, event_id=dict(T1=0, T2=1), verbose=False)
    epochs = mne.Epochs(raw, events, dict(left=0, right=1), tmin=0.0, tmax=4.0,
                        baseline=None, preload=True, verbose=False)[:8]
    assert eegbci is not None
    errors = []
    for n in (6, 3, 1):
        rec = CodecReconstructor("default", n_codebooks=n).fit(epochs)
        out = rec.reconstruct(epochs)
        assert out.get_data().shape == epochs.get_data().shape
        assert np.isfinite(out.get_data()).all() and out.info["sfreq"] == 160.0
        ref = band_limit(epochs.get_data(), 160.0, rec.codec_.preprocessing)
        errors.append(float(np.mean(metrics.nmse(ref, out.get_data()))))
    assert errors[0] < 0.1, errors
    assert errors[0] < errors[1] < errors[2], errors


def test_raw_is_filtered_before_windowing(shared_data):
    """A Raw is band-passed as one recording, so window edges carry no filter transients.

    On the shipped sample, the reconstruction is compared with the continuously
    band-passed recording: per-window filtering alone would cost NMSE ~0.04 there.
    """
    from mne_codec import metrics
    from mne_codec.datasets import sample_raw
    from mne_codec.preprocessing import band_limit

    raw = sample_raw(verbose=False)
    rec = CodecReconstructor(window_s=5.0).fit(raw)
    out = rec.transform(raw)
    ref = band_limit(raw.get_data(), raw.info["sfreq"], rec.codec_.preprocessing)
    assert out.shape == ref.shape
    assert float(np.mean(metrics.nmse(ref, out))) < 0.01


def test_memory_cache_tokenizes_each_window_once_across_folds(small_epochs, ref_codec,
                                                               tmp_path, monkeypatch):
    import mne_codec.pipeline as pipeline

    monkeypatch.setenv("MNE_CODEC_MEMORY_CACHE_MB", "0")  # the disk cache alone

    X, y = small_epochs.get_data(), small_epochs.events[:, 2]
    plain = CodecTokenizer(ref_codec, sfreq=160.0, output="tokens").fit(X).tokenize(X)
    encoded = []
    encode = pipeline.encode

    def counting(codec, x, *args, **kwargs):
        encoded.append(len(x))
        return encode(codec, x, *args, **kwargs)

    monkeypatch.setattr(pipeline, "encode", counting)
    pipe = Pipeline([("tok", CodecTokenizer(ref_codec, sfreq=160.0, memory=str(tmp_path),
                                            output="histogram", verbose="WARNING")),
                     ("clf", LogisticRegression(max_iter=500))])
    scores = cross_val_score(pipe, X, y, cv=3)
    assert np.isfinite(scores).all()
    assert sum(encoded) == len(X)  # every window once, over 3 folds x (train + test)
    # the cached tokens equal fresh ones, statistics included
    cached = CodecTokenizer(ref_codec, sfreq=160.0, memory=str(tmp_path)).fit(X).tokenize(X)
    assert sum(encoded) == len(X)
    np.testing.assert_array_equal(cached.codes, plain.codes)
    np.testing.assert_array_equal(cached.scale, plain.scale)
    assert cached.codec == plain.codec and cached.n_times_codec == plain.n_times_codec
    # parameters that change tokens are part of the key
    CodecTokenizer(ref_codec, sfreq=160.0, n_codebooks=2, output="histogram",
                   memory=str(tmp_path)).fit(X).transform(X[:2])
    assert sum(encoded) == len(X) + 2
    # a damaged cache file is recomputed, not trusted
    victim = next((tmp_path / "mne_codec_tokens").rglob("*.npz"))
    victim.write_bytes(b"not a zip")
    again = CodecTokenizer(ref_codec, sfreq=160.0, output="tokens",
                           memory=str(tmp_path)).fit(X).transform(X)
    np.testing.assert_array_equal(again, plain.codes)
    assert sum(encoded) == len(X) + 3


def test_non_eeg_names_left_out_unless_picked(tiny_codec, rng):
    """Channels typed EEG whose names say otherwise are not coded by default."""
    from mne_codec.channels import non_eeg_channels

    eeg = ["Fc5.", "C3..", "Iz..", "EEG Fp1-REF", "FP1-LE", "Fp1-A1", "EEG T3", "Cz", "E12",
           "AFF1h", "EEG 001"]
    non_eeg = ["ECG ECG", "EEG A2-A1", "A1", "M2", "EKG", "HEOG", "VEOGL", "EMG chin",
               "Status", "STI 014", "TRIGGER", "Fp1-F7"]
    assert non_eeg_channels(eeg + non_eeg) == non_eeg
    # every name of MNE's 10-05 montage and of the EEGBCI files is EEG, but the ear and
    # mastoid references; BioSemi's A1...A32 and B1...B32 are EEG too
    for kind in ("colin27_1005", "biosemi128"):
        names = mne.channels.make_standard_montage(kind).ch_names
        assert set(non_eeg_channels(names)) <= {"A1", "A2", "M1", "M2"}
        assert kind == "colin27_1005" or non_eeg_channels(names) == []

    names = ["Fp1", "Cz", "EEG A2-A1", "ECG ECG", "O1"]
    info = mne.create_info(names, 100.0, "eeg")
    raw = mne.io.RawArray(1e-5 * rng.standard_normal((5, 800)), info, verbose=False)
    with mne.utils.catch_logging(verbose="INFO") as log:
        tok = CodecTokenizer(tiny_codec, window_s=2.0, output="tokens").fit(raw)
        log = log.getvalue()
    assert tok.ch_names_ == ["Fp1", "Cz", "O1"]
    assert tok.ch_names_left_out_ == ["EEG A2-A1", "ECG ECG"]
    assert "left out 2 typed EEG" in log and "picks=" in log
    assert tok.tokenize(raw).ch_names == ["Fp1", "Cz", "O1"]
    # picks choose, as MNE's picks: by type (every channel typed EEG) or by name
    assert CodecTokenizer(tiny_codec, window_s=2.0, picks="eeg").fit(raw).ch_names_ == names
    tok = CodecTokenizer(tiny_codec, window_s=2.0, picks=["Cz", "ECG ECG"]).fit(raw)
    assert tok.ch_names_ == ["Cz", "ECG ECG"] and tok.ch_names_left_out_ == []
    # the reconstruction leaves channels it did not code untouched
    out = CodecReconstructor(tiny_codec, window_s=2.0).reconstruct(raw)
    np.testing.assert_array_equal(out.get_data(picks="ECG ECG"), raw.get_data(picks="ECG ECG"))
    assert not np.allclose(out.get_data(picks="Cz"), raw.get_data(picks="Cz"))
    # all-EEG montages are coded whole, as before
    raw.drop_channels(["EEG A2-A1", "ECG ECG"])
    assert CodecTokenizer(tiny_codec, window_s=2.0).fit(raw).ch_names_left_out_ == []
    only = mne.io.RawArray(np.zeros((1, 800)), mne.create_info(["ECG"], 100.0, "eeg"),
                           verbose=False)
    with pytest.raises(ValueError, match="left out as not EEG by their names"):
        CodecTokenizer(tiny_codec, window_s=2.0).fit(only)


def test_resampling_said_once_and_progress_bars_kept(small_epochs, tiny_codec, monkeypatch,
                                                     capsys):
    """The resampling notice is said once per process; verbose and progress are apart."""
    from mne_codec import preprocessing

    monkeypatch.setenv("MNE_CODEC_MEMORY_CACHE_MB", "0")  # every call codes (and shows bars)
    monkeypatch.setattr(preprocessing, "_RESAMPLING_SAID", set())
    epochs = small_epochs[:4]
    tok = CodecTokenizer(tiny_codec, output="tokens", verbose="INFO", progress=False)
    with mne.utils.catch_logging(verbose="INFO") as log:
        for est in (tok, clone(tok)):  # two folds of a cross-validation
            est.fit(epochs).transform(epochs)
        log = log.getvalue()
    assert log.count("Resampling from 160 Hz") == 1, log
    assert capsys.readouterr().err == ""  # progress=False: no bar even at INFO
    # silenced messages, bars kept
    CodecTokenizer(tiny_codec, output="tokens", verbose="WARNING",
                   progress=True).fit(epochs).transform(epochs)
    assert "Encoding" in capsys.readouterr().err
    # the default follows verbose, as before
    CodecTokenizer(tiny_codec, output="tokens", verbose="WARNING").fit(epochs).transform(epochs)
    assert capsys.readouterr().err == ""
