"""Bad input, property tests, untrusted files and lossless token files."""

import io
import zipfile

import mne
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mne_codec import CodecReconstructor, CodecTokenizer, read_tokens
from mne_codec.checkpoints import CheckpointError, load_codec, save_codec
from mne_codec.preprocessing import band_limit as validation_band_limit
from mne_codec.preprocessing import preprocess

from .conftest import assert_codes_equal_up_to_near_ties, make_tiny_codec

TINY = make_tiny_codec()  # module-level: hypothesis reuses it across examples


def _epochs(data, sfreq=100.0, names=None):
    names = names or [f"E{i}" for i in range(data.shape[1])]
    info = mne.create_info(names, sfreq, "eeg")
    return mne.EpochsArray(data, info, verbose=False)


# -- bad input, one by one -----------------------------------------------------
def test_flat_channel_warns_and_codes_silence(rng):
    X = rng.standard_normal((3, 3, 300)) * 1e-5
    X[:, 1] = 2e-6  # a dead channel at a constant offset
    with pytest.warns(RuntimeWarning, match=r"Flat \(constant\) channels.*E1"):
        tok = CodecTokenizer(TINY, output="tokens").fit(_epochs(X))
    rec = CodecReconstructor(TINY).fit(_epochs(X)).transform(_epochs(X))
    # the codec's 1 Hz high-pass removes the offset: silence, not amplified noise
    assert np.isfinite(rec).all() and np.abs(rec[:, 1]).max() < 1e-12
    # without band-pass, the constant comes back exactly
    nofilt = make_tiny_codec(filters=False)
    rec = CodecReconstructor(nofilt).fit(_epochs(X)).transform(_epochs(X))
    np.testing.assert_allclose(rec[:, 1], 2e-6, rtol=1e-12)
    assert tok.transform(_epochs(X)).shape[:2] == (3, 3)


def test_flat_and_clipped_channels_warn_for_raw_too(rng):
    """Raw is band-passed before windowing; the checks see the unfiltered recording."""
    data = rng.standard_normal((3, 1000)) * 1e-5
    data[1] = 2e-6
    data[2] = np.clip(data[2], -5e-6, 5e-6)
    raw = mne.io.RawArray(data, mne.create_info(["A", "B", "C"], 100.0, "eeg"), verbose=False)
    with pytest.warns(RuntimeWarning, match=r"Flat \(constant\) channels.*'B'"):
        with pytest.warns(RuntimeWarning, match=r"clipped or saturated.*'C'"):
            CodecTokenizer(TINY, window_s=2.0).fit(raw)


def test_clipped_channel_warns(rng):
    X = rng.standard_normal((2, 2, 500)) * 1e-5
    X[:, 0] = np.clip(X[:, 0], -5e-6, 5e-6)  # saturated amplifier
    with pytest.warns(RuntimeWarning, match=r"clipped or saturated.*E0"):
        CodecTokenizer(TINY).fit(_epochs(X))


def test_bad_annotations_skip_windows(rng):
    info = mne.create_info(["C3", "C4"], 100.0, "eeg")
    raw = mne.io.RawArray(rng.standard_normal((2, 1000)) * 1e-5, info, verbose=False)
    raw.set_annotations(mne.Annotations([2.5], [1.0], ["BAD_muscle"]))
    tok = CodecTokenizer(TINY, window_s=2.0, output="tokens").fit(raw)
    tokens = tok.tokenize(raw)
    np.testing.assert_allclose(tokens.onsets_s, [0.0, 4.0, 6.0, 8.0])  # 2-4 s skipped
    kept = CodecTokenizer(TINY, window_s=2.0, reject_by_annotation=False).fit(raw)
    assert len(kept.tokenize(raw).onsets_s) == 5
    # the reconstructor always returns the whole recording
    rec = CodecReconstructor(TINY, window_s=2.0).fit(raw).reconstruct(raw)
    assert rec.get_data().shape == raw.get_data().shape
    raw.set_annotations(mne.Annotations([0], [10.0], ["bad_all"]))
    with pytest.raises(ValueError, match="Every window overlaps a BAD_"):
        CodecTokenizer(TINY, window_s=2.0).fit(raw)


def test_empty_epochs(rng):
    epochs = _epochs(rng.standard_normal((2, 2, 300)) * 1e-5)
    epochs.drop([0, 1], verbose=False)
    with pytest.raises(ValueError, match="Epochs are empty"):
        CodecTokenizer(TINY).fit(epochs)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32])
def test_dtypes_give_the_same_tokens(rng, dtype):
    X = np.round(rng.standard_normal((2, 2, 300)) * 1000)  # integer-valued "ADC counts"
    scale = 1e-8  # counts -> volts
    ref = CodecTokenizer(TINY, sfreq=100.0, output="tokens").fit_transform(X * scale)
    Xd = (X * scale).astype(dtype) if dtype != np.int32 else X.astype(dtype)
    with pytest.warns(RuntimeWarning, match="microvolts") if dtype == np.int32 else _nullwarn():
        out = CodecTokenizer(TINY, sfreq=100.0, output="tokens").fit_transform(Xd)
    assert out.shape == ref.shape and out.min() >= 0
    if dtype in (np.float32, np.float64, np.int32):  # robust scaling removes the unit
        np.testing.assert_array_equal(out, ref)


def _nullwarn():
    import contextlib

    return contextlib.nullcontext()


def test_non_contiguous_and_odd_lengths(rng):
    X = rng.standard_normal((3, 4, 301)) * 1e-5
    Xf = np.asfortranarray(X)
    Xs = np.swapaxes(np.swapaxes(X, 1, 2).copy(), 1, 2)  # a non-contiguous view
    a = CodecTokenizer(TINY, sfreq=100.0, output="tokens").fit_transform(X)
    b = CodecTokenizer(TINY, sfreq=100.0, output="tokens").fit_transform(Xf)
    c = CodecTokenizer(TINY, sfreq=100.0, output="tokens").fit_transform(Xs)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    # 301 samples is not a multiple of the hop (4): the last frame covers the remainder
    assert a.shape[-1] == int(np.ceil(301 / 4))
    rec = CodecReconstructor(TINY, sfreq=100.0).fit(X).transform(X)
    assert rec.shape == X.shape and np.isfinite(rec).all()


def test_sfreq_mismatch_with_info(rng):
    epochs = _epochs(rng.standard_normal((2, 2, 300)) * 1e-5)
    with pytest.raises(ValueError, match="does not match the data's info"):
        CodecTokenizer(TINY, sfreq=250.0).fit(epochs)
    tok = CodecTokenizer(TINY).fit(epochs)
    other = _epochs(rng.standard_normal((2, 2, 300)) * 1e-5, sfreq=200.0)
    with pytest.raises(ValueError, match="sfreq 200.0 differs"):
        tok.transform(other)
    renamed = _epochs(rng.standard_normal((2, 2, 300)) * 1e-5, names=["A", "B"])
    with pytest.raises(ValueError, match="channels differ"):
        tok.transform(renamed)


def test_non_eeg_channels_are_left_out(rng):
    info = mne.create_info(["C3", "C4", "EOG", "STI"], 100.0, ["eeg", "eeg", "eog", "stim"])
    epochs = mne.EpochsArray(rng.standard_normal((2, 4, 300)) * 1e-5, info, verbose=False)
    tok = CodecTokenizer(TINY, output="tokens").fit(epochs)
    assert tok.ch_names_ == ["C3", "C4"] and tok.transform(epochs).shape[1] == 2
    rec = CodecReconstructor(TINY).fit(epochs).reconstruct(epochs)
    np.testing.assert_array_equal(rec.get_data(picks=["EOG", "STI"]),
                                  epochs.get_data(picks=["EOG", "STI"]))


def test_bad_channels_are_coded_with_a_warning(rng):
    epochs = _epochs(rng.standard_normal((2, 3, 300)) * 1e-5)
    epochs.info["bads"] = ["E2"]
    with pytest.warns(RuntimeWarning, match="marked bad are coded"):
        tok = CodecTokenizer(TINY).fit(epochs)
    assert tok.ch_names_ == ["E0", "E1", "E2"]


# -- property tests --------------------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_epochs=st.integers(1, 3), n_channels=st.integers(1, 4),
       n_times=st.integers(4, 240), log_amp=st.floats(-7.0, -3.0),
       batch_size=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_properties_tokens_in_range_deterministic_finite(n_epochs, n_channels, n_times,
                                                         log_amp, batch_size, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_epochs, n_channels, n_times)) * 10.0**log_amp
    codec = make_tiny_codec(filters=False) if False else TINY
    tok = CodecTokenizer(codec, sfreq=100.0, output="tokens", batch_size=batch_size,
                         verbose="ERROR")
    with _ignore_quality_warnings():
        codes = tok.fit_transform(X)
        again = CodecTokenizer(codec, sfreq=100.0, output="tokens", batch_size=64,
                               verbose="ERROR").fit_transform(X)
        rec = CodecReconstructor(codec, sfreq=100.0, batch_size=batch_size,
                                 verbose="ERROR").fit(X).transform(X)
    assert codes.shape == (n_epochs, n_channels, 3, int(np.ceil(n_times / 4)))
    assert codes.min() >= 0 and codes.max() < 16
    # across runs and batch sizes: equal, but for float near-ties
    x, _, _ = preprocess(X, 100.0, tok.codec_.preprocessing, verbose="ERROR")
    assert_codes_equal_up_to_near_ties(tok.codec_, x, codes, again)
    np.testing.assert_array_equal(codes, CodecTokenizer(
        codec, sfreq=100.0, output="tokens", batch_size=batch_size,
        verbose="ERROR").fit_transform(X))  # same batch size: bit-identical
    assert rec.shape == X.shape and np.isfinite(rec).all()


@settings(max_examples=25, deadline=None)
@given(n_frames=st.integers(3, 40), extra=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_property_causal_prefix_tokens(n_frames, extra, seed):
    """The codec is causal: a window's tokens equal those of a longer window's prefix.

    Without per-window scaling (codec level), frames that end before the shorter
    window's last frame see the same samples; only the last frame, which sees the
    right-edge padding, may differ. The documented exception: the left padding is a
    reflection (as in the authors' code), so the first frames also see a few samples
    ahead; a 2-frame window of this codec is too short for them to stay clear of the
    right edge (for the EEG model, frame 0 sees samples up to index 35).
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 2, (n_frames + extra) * 4, generator=g)
    with torch.no_grad():
        long = TINY.encode(x)
        short = TINY.encode(x[..., : n_frames * 4])
    assert torch.equal(short[..., : n_frames - 1], long[..., : n_frames - 1])


def _ignore_quality_warnings():
    import warnings

    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore", RuntimeWarning)

    class _Ctx:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            ctx.__exit__(*a)

    return _Ctx()


# -- untrusted files: fuzzing ------------------------------------------------------
def _mutations(data, n, seed):
    rng = np.random.default_rng(seed)
    arr = np.frombuffer(data, np.uint8)
    for i in range(n):
        kind = i % 3
        if kind == 0:  # truncate
            yield data[: int(rng.integers(0, len(data)))]
        elif kind == 1:  # flip bytes
            m = arr.copy()
            idx = rng.integers(0, len(m), size=int(rng.integers(1, 16)))
            m[idx] = rng.integers(0, 256, size=len(idx), dtype=np.uint8)
            yield m.tobytes()
        else:  # splice random garbage in
            pos = int(rng.integers(0, len(data)))
            yield data[:pos] + rng.bytes(int(rng.integers(1, 64))) + data[pos:]


def test_fuzz_token_file_reader(tmp_path, rng):
    X = rng.standard_normal((2, 2, 300)) * 1e-5
    tok = CodecTokenizer(TINY, sfreq=100.0).fit(X)
    fname = tok.tokenize(X).save(tmp_path / "t.npz")
    data = fname.read_bytes()
    outcomes = {"rejected": 0, "loaded": 0}
    for i, blob in enumerate(_mutations(data, 600, 0)):
        path = tmp_path / f"m{i}.npz"
        path.write_bytes(blob)
        try:
            tokens = read_tokens(path)
        except ValueError:
            outcomes["rejected"] += 1
        else:  # a mutation that still parses must give a consistent container
            outcomes["loaded"] += 1
            assert tokens.codes.ndim == 4
    assert outcomes["rejected"] > 0 and sum(outcomes.values()) == 600


def test_fuzz_checkpoint_readers(tmp_path):
    path = save_codec(TINY, tmp_path / "tiny")
    weights = (path / "model.safetensors").read_bytes()
    config = (path / "config.json").read_bytes()
    torch.save({"model_state_dict": TINY.state_dict()}, tmp_path / "authors.pt")
    authors = (tmp_path / "authors.pt").read_bytes()
    n = 0
    for i, blob in enumerate(_mutations(weights, 150, 1)):
        (path / "model.safetensors").write_bytes(blob)
        with pytest.raises(CheckpointError):
            load_codec(path)
        n += 1
    (path / "model.safetensors").write_bytes(weights)
    for i, blob in enumerate(_mutations(config, 150, 2)):
        (path / "config.json").write_bytes(blob)
        try:
            load_codec(path)
        except (CheckpointError, ValueError):
            pass
        n += 1
    for i, blob in enumerate(_mutations(authors, 150, 3)):
        (tmp_path / "m.pt").write_bytes(blob)
        try:
            load_codec(tmp_path / "m.pt")
        except CheckpointError:
            pass
        n += 1
    assert n == 450


# -- lossless token files ----------------------------------------------------------
def test_interrupted_write_leaves_no_valid_file(tmp_path, rng, monkeypatch):
    X = rng.standard_normal((2, 2, 300)) * 1e-5
    tokens = CodecTokenizer(TINY, sfreq=100.0).fit(X).tokenize(X)

    def boom(f, **arrays):
        f.write(b"PK\x03\x04partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        tokens.save(tmp_path / "t.npz")
    assert not (tmp_path / "t.npz").exists()
    assert not list(tmp_path.glob("*.part"))


def test_token_file_keeps_everything(tmp_path, rng):
    info = mne.create_info(["C3", "C4"], 100.0, "eeg")
    raw = mne.io.RawArray(rng.standard_normal((2, 1000)) * 1e-5, info, first_samp=37,
                          verbose=False)
    tok = CodecTokenizer(TINY, window_s=2.0, output="tokens").fit(raw)
    tokens = tok.tokenize(raw)
    again = read_tokens(tokens.save(tmp_path / "t"))
    for field in ("codes", "center", "scale", "onsets_s"):
        a, b = getattr(tokens, field), getattr(again, field)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert again.codec == tokens.codec and again.ch_names == ["C3", "C4"]
    assert (again.sfreq, again.n_times, again.n_times_codec) == (
        tokens.sfreq, tokens.n_times, tokens.n_times_codec)
    np.testing.assert_array_equal(tok.inverse_transform(again), tok.inverse_transform(tokens))
    assert tokens.onsets_s[0] == pytest.approx(37 / 100.0)
    assert zipfile.is_zipfile(io.BytesIO((tmp_path / "t.npz").read_bytes()))


# -- resource limits ---------------------------------------------------------------
def test_raw_is_read_and_filtered_in_bounded_blocks(mi_raw, ref_codec, monkeypatch):
    """A long Raw is processed block by block: same tokens, bounded reads."""
    import mne_codec._validation as validation

    raw = mi_raw.copy().pick(mi_raw.ch_names[:3]).crop(0, 61.0)
    raw.set_annotations(mne.Annotations([12.5], [1.0], ["BAD_blink"]))
    tok = CodecTokenizer(ref_codec, window_s=4.0, output="tokens", verbose="ERROR").fit(raw)
    whole = tok.tokenize(raw)  # one block: the recording is shorter than RAW_BLOCK_S
    rec_whole = CodecReconstructor(ref_codec, window_s=4.0, verbose="ERROR").fit(raw)
    rec_whole = rec_whole.transform(raw)

    reads = []
    get_data = mne.io.BaseRaw.get_data

    def spy(self, *args, start=0, stop=None, **kwargs):
        reads.append((stop if stop is not None else self.n_times) - start)
        return get_data(self, *args, start=start, stop=stop, **kwargs)

    monkeypatch.setattr(validation, "RAW_BLOCK_S", 10.0)  # 2 windows of 4 s per block
    monkeypatch.setattr(mne.io.BaseRaw, "get_data", spy)
    blocks = tok.tokenize(raw)
    sfreq = raw.info["sfreq"]
    margin = validation.filter_margin_samples(
        lambda d, sf: validation_band_limit(d, sf, tok.codec_.preprocessing), sfreq)
    assert max(reads) <= 8 * sfreq + 2 * margin < raw.n_times  # never the whole recording
    np.testing.assert_array_equal(blocks.onsets_s, whole.onsets_s)  # 12-16 s skipped
    assert 12.0 not in whole.onsets_s and len(whole.onsets_s) == 14
    np.testing.assert_allclose(blocks.scale, whole.scale, rtol=1e-9)
    prep = tok.codec_.preprocessing
    filtered = validation_band_limit(get_data(raw), sfreq, prep)
    starts = (whole.onsets_s * sfreq).astype(int)
    x_whole, _, _ = preprocess(np.stack([filtered[:, s:s + 640] for s in starts]), sfreq,
                               prep, band_limited=True, verbose="ERROR")
    assert_codes_equal_up_to_near_ties(tok.codec_, x_whole, whole.codes, blocks.codes,
                                       rtol=1e-4)
    rec_blocks = CodecReconstructor(ref_codec, window_s=4.0, verbose="ERROR").fit(raw)
    rec_blocks = rec_blocks.transform(raw)
    assert rec_blocks.shape == rec_whole.shape == (3, raw.n_times)
    err = np.abs(rec_blocks - rec_whole).max() / np.abs(rec_whole).max()
    assert err < 1e-3, err


class _OOMAboveBatch(torch.nn.Module):
    """Wraps a codec and raises CUDA's out-of-memory error above ``limit`` items."""

    def __init__(self, codec, limit):
        super().__init__()
        self.codec, self.limit, self.calls = codec, limit, []

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.codec, name)

    def encode(self, x, ch_names=None):
        self.calls.append(len(x))
        if len(x) > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.codec.encode(x)

    def decode(self, codes, ch_names=None, n_times=None, side=None):
        self.calls.append(len(codes))
        if len(codes) > self.limit:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory (simulated)")
        return self.codec.decode(codes, n_times=n_times)


def test_out_of_memory_falls_back_to_smaller_batches(rng, tiny_codec):
    from mne_codec.inference import decode_windows, encode_windows

    codec = tiny_codec.eval()
    x = (rng.standard_normal((16, 1, 64))).astype(np.float32)
    expected = encode_windows(codec, x, batch_size=2)
    flaky = _OOMAboveBatch(codec, limit=5)
    with pytest.warns(RuntimeWarning, match="Out of memory.*batch_size=8"):
        codes = encode_windows(flaky, x, batch_size=16)
    calls = flaky.calls[1:]  # the first is the one-item memory probe
    assert flaky.calls[0] == 1 and calls[:3] == [16, 8, 4] and max(calls[3:]) <= 4
    assert_codes_equal_up_to_near_ties(codec, x, expected, codes)
    flaky.calls.clear()
    with pytest.warns(RuntimeWarning, match="Out of memory"):
        y = decode_windows(flaky, codes, 64, batch_size=20)
    np.testing.assert_allclose(y, decode_windows(codec, codes, 64), rtol=1e-5, atol=1e-6)
    # not even one item fits: a clear MemoryError, not a crash or an endless loop
    with pytest.raises(MemoryError, match="single channel-window of 64 samples"):
        encode_windows(_OOMAboveBatch(codec, limit=0), x, batch_size=4)
    # other runtime errors are not mistaken for memory errors
    bad = _OOMAboveBatch(codec, limit=100)
    bad.encode = lambda x, ch_names=None: (_ for _ in ()).throw(RuntimeError("shape mismatch"))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        encode_windows(bad, x)


def test_batch_that_cannot_fit_gives_a_clear_error(rng, tiny_codec, monkeypatch):
    import mne_codec.pipeline as inference

    codec = tiny_codec.eval()
    x = rng.standard_normal((6, 1, 400)).astype(np.float32)
    per_item = inference._bytes_per_sample(codec, "encode") * 400
    assert per_item > 0
    # free memory for about 2.5 channel-windows: batch 6 is refused with what fits
    monkeypatch.setattr(inference, "_available_bytes",
                        lambda dev: int(2.5 * per_item / inference._MEMORY_FRACTION))
    with pytest.raises(MemoryError, match=r"batch_size=6 .* Use batch_size=2 or less"):
        inference.encode_windows(codec, x, batch_size=6)
    codes = inference.encode_windows(codec, x, batch_size=2)  # fits
    # a window's channels are coded in one pass: 3 of them do not fit
    with pytest.raises(MemoryError, match="One window of 3 channels of 400 samples needs"):
        inference.encode_windows(codec, x.reshape(2, 3, 400), batch_size=1)
    monkeypatch.setattr(inference, "_available_bytes", lambda dev: int(0.5 * per_item))
    with pytest.raises(MemoryError, match="One channel-window of 400 samples needs"):
        inference.encode_windows(codec, x, batch_size=1)
    with pytest.raises(MemoryError, match="decode"):
        inference.decode_windows(codec, codes, 400, batch_size=1)
    # through the transformer, the message reaches the user unchanged
    tok = CodecTokenizer(codec, sfreq=100.0, batch_size=1, output="histogram")
    tok.fit(x.astype(np.float64) * 1e-5)  # fit codes nothing for this output
    with pytest.raises(MemoryError, match="shorter windows"):
        tok.transform(x.astype(np.float64) * 1e-5)
    with pytest.raises(MemoryError, match="shorter windows"):  # the default codes in fit
        CodecTokenizer(codec, sfreq=100.0, batch_size=1).fit(x.astype(np.float64) * 1e-5)


def test_memory_estimate_scales_with_window_length(tiny_codec):
    from mne_codec.pipeline import _bytes_per_sample

    codec = tiny_codec.eval()
    per_sample = _bytes_per_sample(codec, "encode")
    # the largest activation of the tiny SEANet is 4 channels x n_times float32
    assert 4 * 4 <= per_sample <= 100 * 4 * 4
    assert _bytes_per_sample(codec, "encode") == per_sample  # cached


def test_precision_is_validated(tiny_codec):
    """Autocast precisions are for CUDA; unknown precisions are refused clearly."""
    from mne_codec import CodecTokenizer
    from mne_codec.inference import encode_windows

    X = np.random.default_rng(0).standard_normal((2, 3, 500)) * 1e-5
    with pytest.raises(ValueError, match="for CUDA devices"):
        CodecTokenizer(tiny_codec, sfreq=250.0, precision="bf16", device="cpu").fit(X)
    with pytest.raises(ValueError, match="precision must be one of"):
        CodecTokenizer(tiny_codec, sfreq=250.0, precision="fp64").fit(X)
    x = np.zeros((1, 2, 500), np.float32)
    with pytest.raises(ValueError, match="for CUDA devices"):
        encode_windows(tiny_codec.eval(), x, device="cpu", precision="fp16")
    np.testing.assert_array_equal(encode_windows(tiny_codec, x, device="cpu", precision="fp32"),
                                  encode_windows(tiny_codec, x, device="cpu"))
