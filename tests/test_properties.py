"""Property-based tests: every input either gives a documented result or one of our errors.

Over the transformers' parameters and input shapes, dtypes and values, and over
the contents of token files and codec configs, the outcome is either a result of
the documented shape with finite values, or an error of the library's own types
(ValueError and its subclasses CheckpointError and TokenFileError, TypeError)
raised before any window is coded; never an internal RuntimeError, IndexError
or OverflowError. Each test draws about half its cases within what the
docstrings allow ("valid": these must give the documented result) and half
anywhere ("hostile"). Each test records what it tried in ``OUTCOMES`` (printed
with ``pytest -s``).
"""

import collections
import json
import shutil
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mne_codec.pipeline as pipeline
from mne_codec import CodecReconstructor, CodecTokenizer, read_tokens
from mne_codec.checkpoints import load_codec, save_codec
from mne_codec.tokens import TokenFileError

from .conftest import make_tiny_codec

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = make_tiny_codec()  # 100 Hz, hop 4, 3 x 16 codes, 1-30 Hz band
OURS = (ValueError, TypeError)  # CheckpointError and TokenFileError are ValueErrors
# derandomize: the same examples on every run, so that CI does not meet a new case each time
SETTINGS = dict(deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
OUTCOMES = collections.defaultdict(collections.Counter)


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    for test, counts in OUTCOMES.items():
        print(f"\n{test}: {sum(counts.values())} examples, {dict(counts)}")


class _CountEncodes:
    """Counts the calls into the codec's encoder (the heavy work)."""

    def __init__(self, monkeypatch):
        self.n = 0
        encode = pipeline.encode_windows

        def counted(*args, **kwargs):
            self.n += 1
            return encode(*args, **kwargs)

        monkeypatch.setattr(pipeline, "encode_windows", counted)


def _outcome(test, fn, counter=None, prefix=""):
    """Run ``fn``; return its result, or None after one of our errors (counted)."""
    n_before = 0 if counter is None else counter.n
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # quality warnings are expected on random data
            result = fn()
    except OURS as err:
        OUTCOMES[test][prefix + type(err).__name__] += 1
        if counter is not None:  # refused before any window was coded
            assert counter.n == n_before, f"{type(err).__name__} after coding: {err}"
        return None
    OUTCOMES[test][prefix + "result"] += 1
    return result


# -- transformer parameters and inputs ---------------------------------------------
# Two kinds of case, drawn about equally: "valid" ones, within what the docstrings
# allow (they must give a result of the documented shape), and "hostile" ones, over
# any parameter, shape, dtype and value (a result or our error, raised before coding).
_numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True),
                     st.floats(0.01, 10.0), st.integers(-2, 400), st.booleans(),
                     st.sampled_from(["5", "", [1.0]]))
_hostile_params = st.fixed_dictionaries({}, optional={
    "window_s": _numbers, "sfreq": st.one_of(_numbers, st.just(100.0)),
    "n_codebooks": st.one_of(st.none(), st.integers(-1, 5), st.sampled_from([2.5, "3", True])),
    "batch_size": st.one_of(st.integers(-1, 9), st.sampled_from([2.0, None, "8"])),
    "output": st.sampled_from(["tangent", "histogram", "embedding", "tokens", "codes", None]),
    "chunk_s": st.one_of(st.none(), st.floats(-1.0, 2.0)),
    "unknown": st.sampled_from(["raise", "drop", "ignore"]),
    "resample": st.sampled_from([True, False, 0, "yes"]),
    "picks": st.sampled_from([None, "eeg", [0], ["nope"]]),
})
_valid_params = st.fixed_dictionaries({}, optional={
    "window_s": st.sampled_from([None, 0.5, 1.0, 2.5]),
    # other rates are resampled to the codec's 100 Hz (its 1-30 Hz band fits)
    "sfreq": st.sampled_from([100.0, 128.0, 160.0, 250.0]),
    "n_codebooks": st.one_of(st.none(), st.integers(1, 3)),
    "batch_size": st.integers(1, 9),
    "output": st.sampled_from(["tangent", "histogram", "embedding", "tokens"]),
    "chunk_s": st.sampled_from([None, 0.4, 1.0]),  # whole numbers of 40-ms frames
    "unknown": st.sampled_from(["raise", "drop"]),
    "picks": st.sampled_from([None, "eeg"]),  # ignored for arrays
})
_hostile_dtypes = st.sampled_from([np.float16, np.float32, np.float64, np.int16, np.int64,
                                   np.uint8, np.complex64, np.bool_, object])
_hostile_values = st.sampled_from(["normal", "zeros", "huge", "tiny", "nan", "inf",
                                   "microvolts"])
_valid_case = st.tuples(
    st.just("valid"), _valid_params,
    st.lists(st.integers(1, 3), min_size=1, max_size=2),  # (n_epochs,) or (n_epochs, n_ch)
    st.integers(100, 400), st.sampled_from([np.float32, np.float64]),
    st.sampled_from(["normal", "microvolts"]), st.integers(0, 999))
_hostile_case = st.tuples(
    st.just("hostile"), _hostile_params, st.lists(st.integers(0, 3), min_size=1, max_size=4),
    st.integers(0, 260), _hostile_dtypes, _hostile_values, st.integers(0, 999))
_cases = st.one_of(_valid_case, _hostile_case)


def _array(shape, dtype, values, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 1e-5
    if values == "zeros":
        x[:] = 0.0
    elif values == "huge":
        x *= 1e300
    elif values == "tiny":
        x *= 1e-300
    elif values == "microvolts":
        x *= 1e6
    elif values in ("nan", "inf") and x.size:
        x.flat[seed % x.size] = np.nan if values == "nan" else np.inf
    with np.errstate(all="ignore"):
        return x.astype(dtype)


def _run_case(test, case, monkeypatch, make):
    """Run the case; a valid one must give a result, a hostile one a result or our error."""
    kind, params, shape, n_times, dtype, values, seed = case
    counter = _CountEncodes(monkeypatch)
    X = _array((*shape, n_times), dtype, values, seed)
    kwargs = {"sfreq": 100.0, "window_s": None, **params}
    if kind == "valid":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # quality warnings are expected on random data
            out = make(kwargs, X)
        OUTCOMES[test]["valid: result"] += 1
        return X, out
    return X, _outcome(test, lambda: make(kwargs, X), counter, prefix="hostile: ")


@settings(max_examples=200, **SETTINGS)
@given(case=_cases)
def test_tokenizer_gives_documented_result_or_our_error(monkeypatch, case):
    def make(kwargs, X):
        tok = CodecTokenizer(TINY, device="cpu", verbose="ERROR", **kwargs).fit(X)
        return tok, tok.transform(X)

    X, out = _run_case("tokenizer", case, monkeypatch, make)
    if out is None:
        return
    tok, Xt = out
    n_epochs = X.shape[0]
    n_ch = 1 if X.ndim == 2 else X.shape[1]
    n_q = tok.n_codebooks_
    if tok.output == "tokens":
        assert Xt.shape[:3] == (n_epochs, n_ch, n_q) and Xt.min() >= 0 and Xt.max() < 16
    elif tok.output == "tangent":  # per band, the upper triangle of a covariance
        assert Xt.shape == (n_epochs, 2 * n_ch * (n_ch + 1) // 2)
    elif tok.output == "histogram":
        assert Xt.shape == (n_epochs, n_ch * n_q * 16)
        np.testing.assert_allclose(Xt.reshape(n_epochs, n_ch * n_q, 16).sum(-1), 1.0)
    else:
        assert Xt.shape == (n_epochs, n_ch * TINY.config.rvq.dim)
    assert np.isfinite(Xt).all()


@settings(max_examples=100, **SETTINGS)
@given(case=_cases)
def test_reconstructor_gives_documented_result_or_our_error(monkeypatch, case):
    case[1].pop("output", None)

    def make(kwargs, X):
        return CodecReconstructor(TINY, device="cpu", verbose="ERROR", **kwargs).fit(
            X).transform(X)

    X, rec = _run_case("reconstructor", case, monkeypatch, make)
    if rec is not None:
        assert rec.shape == X.shape and np.isfinite(rec).all()


# -- token files ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def token_file(tmp_path_factory):
    X = np.random.default_rng(0).standard_normal((2, 2, 300)) * 1e-5
    tok = CodecTokenizer(TINY, sfreq=100.0, output="tokens").fit(X)
    path = tok.tokenize(X).save(tmp_path_factory.mktemp("tokens") / "t.npz")
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    return tok, arrays


_meta_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3),
                         st.lists(st.text(max_size=2), max_size=3), st.just({}))


_hostile_file = st.tuples(
    st.just("hostile"),
    st.dictionaries(st.sampled_from(["sfreq", "n_times", "n_times_codec", "ch_names", "codec",
                                     "version", "format"]), _meta_values, max_size=3),
    st.sampled_from([None, "codes", "center", "scale", "onsets_s"]), st.integers(-1, 1),
    st.sampled_from([0, -1, 15, 16, 2**15 - 1, np.nan, np.inf, -1e300, 1e-300]),
    st.sampled_from([None, np.int8, np.uint16, np.float32, np.float64, np.bool_]))
# edits a token file may hold: other codes of the book, other statistics, other names
_valid_file = st.tuples(
    st.just("valid"),
    st.fixed_dictionaries({}, optional={"ch_names": st.just(["C3", "C4"]),
                                        "n_times": st.integers(297, 300)}),
    st.sampled_from([None, "codes", "center", "scale"]), st.just(0),
    st.floats(1e-3, 15.0), st.sampled_from([None, np.float32]))


@settings(max_examples=120, **SETTINGS)
@given(case=st.one_of(_valid_file, _hostile_file))
def test_token_files_read_as_documented_or_raise_ours(tmp_path, token_file, case):
    kind, meta_changes, array, shape_delta, value, dtype = case
    tok, arrays = token_file
    arrays = dict(arrays)
    meta = json.loads(arrays["meta"].tobytes().decode())
    meta.update(meta_changes)
    if array is not None:
        a = arrays[array]
        if shape_delta:  # one element more or fewer along the last axis
            a = (np.concatenate([a, a[..., :1]], axis=-1) if shape_delta > 0
                 else a[..., :-1])
        if array == "codes" and dtype is not None and kind == "valid":
            dtype = None  # codes stay integers
        with np.errstate(all="ignore"):
            a = a.astype(dtype or a.dtype, copy=True)
            if a.size:
                a.flat[0] = value if a.dtype.kind == "f" else np.array(value).astype(
                    a.dtype) if np.isfinite(value) else 0
        arrays[array] = a
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path = tmp_path / "t.npz"
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    if kind == "valid":
        tokens = read_tokens(path)
        rec = tok.inverse_transform(tokens, check_codec=False)
        OUTCOMES["token files"]["valid: read and decoded"] += 1
    else:
        try:
            tokens = read_tokens(path)
        except TokenFileError:
            OUTCOMES["token files"]["hostile: TokenFileError"] += 1
            return
        rec = _outcome("token files", lambda: tok.inverse_transform(tokens, check_codec=False),
                       prefix="hostile: decoded, ")
    if rec is not None:
        n_win, n_ch = tokens.codes.shape[:2]
        assert rec.shape == (n_win, n_ch, tokens.n_times) and np.isfinite(rec).all()


# -- codec configs --------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_codec(tmp_path_factory):
    path = save_codec(TINY, tmp_path_factory.mktemp("codec") / "tiny")
    return path, json.loads((path / "config.json").read_text())


def _fields(doc, prefix=""):
    for key, value in doc.items():
        if isinstance(value, dict):
            yield from _fields(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


_CONFIG_FIELDS = sorted(set(_fields(json.loads(json.dumps(
    {"family": "biocodec", "config": TINY.config.to_dict()})))))
_config_values = st.one_of(st.none(), st.booleans(), st.integers(-3, 64),
                           st.floats(-1e3, 1e3), st.sampled_from([float("nan"), "six", "", [],
                                                                  [-1, 2], {}, [2, 2, 2]]))


# fields the weights do not depend on, and values within what the config allows
_VALID_CONFIG_CHANGES = {
    "config.preprocessing.l_freq": st.sampled_from([None, 0.5, 1.0, 2.0]),
    "config.preprocessing.h_freq": st.sampled_from([None, 20.0, 30.0, 45.0]),
    "config.preprocessing.clip": st.one_of(st.none(), st.floats(1.0, 50.0)),
    "config.preprocessing.scaling": st.sampled_from(["robust", "zscore"]),
    "config.preprocessing.filter_order": st.integers(1, 6),
    "config.rvq.kmeans_iters": st.integers(1, 50),
    "config.rvq.ema_decay": st.floats(0.5, 0.999),
    "config.rvq.commitment_weight": st.floats(0.0, 2.0),
    "config.rvq.quantizer_dropout": st.floats(0.0, 0.5),
}
_valid_config = st.tuples(st.just("valid"),
                          st.fixed_dictionaries({}, optional=_VALID_CONFIG_CHANGES))
_hostile_config = st.tuples(st.just("hostile"), st.dictionaries(
    st.sampled_from(_CONFIG_FIELDS), _config_values, min_size=1, max_size=2))


@settings(max_examples=120, **SETTINGS)
@given(case=st.one_of(_valid_config, _hostile_config))
def test_configs_load_as_documented_or_raise_ours(tmp_path, saved_codec, case):
    kind, changes = case
    path, doc = saved_codec
    doc = json.loads(json.dumps(doc))
    for field, value in changes.items():
        node = doc
        *parents, leaf = field.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    copy = tmp_path / "codec"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(path, copy)
    (copy / "config.json").write_text(json.dumps(doc))
    X = np.random.default_rng(0).standard_normal((1, 2, 200)) * 1e-5
    if kind == "valid":
        codec = load_codec(copy)
        Xt = CodecTokenizer(codec, sfreq=100.0, output="tokens", device="cpu").fit_transform(X)
        OUTCOMES["configs"]["valid: loaded and coded"] += 1
    else:
        codec = _outcome("configs", lambda: load_codec(copy), prefix="hostile: ")
        if codec is None:
            return
        Xt = _outcome("configs (hostile, loaded, then coded)", lambda: CodecTokenizer(
            codec, sfreq=100.0, output="tokens", device="cpu").fit_transform(X))
    if Xt is not None:
        assert Xt.shape[:2] == (1, 2) and Xt.min() >= 0 and Xt.max() < codec.codebook_size

