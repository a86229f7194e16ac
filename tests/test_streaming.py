"""Streaming: long signals coded in chunks give the whole-signal codes (causal codecs)."""

import numpy as np
import pytest
import torch

from mne_codec import load_codec
from mne_codec.inference import decode_stream, decode_windows, encode_stream, encode_windows
from mne_codec.models import DAC, BioCodec, BioCodecConfig, DACConfig
from mne_codec.preprocessing import preprocess

from .conftest import assert_codes_equal_up_to_near_ties, make_tiny_codec

#: decoded chunks vs the whole pass, in the codec's scaled units (measured: at most 4.8e-7
#: here, 1.2e-6 on 30 s of 4 channels, on signals of peak 3.6 to 4.4: float rounding)
DECODE_ATOL = 1e-5


pytestmark = pytest.mark.usefixtures("one_thread")


def _assert_same_codes(codec, x, a, b, ch_names=None):
    """The default mixes channels: its attention runs on batches of frames whose shape
    differs between chunks and the whole pass, so a near-tie may flip (the per-channel
    codec below gives equal codes)."""
    assert_codes_equal_up_to_near_ties(codec, x, a, b,
                                       latent=lambda t: codec._latent(t, ch_names)[0])


@pytest.fixture(scope="module")
def codec():
    return load_codec("default", verbose=False).prepare_for_inference()


@pytest.fixture(scope="module")
def signal(mi_raw, codec):
    """6.5 s of 6 channels of real EEG, preprocessed as one window (not whole frames)."""
    data = mi_raw.get_data(picks=[0, 8, 10, 12, 30, 60], start=1600, stop=1600 + 1040)
    x, _, _ = preprocess(data[None], mi_raw.info["sfreq"], codec.preprocessing)
    assert x.shape == (1, 6, 1625) and x.shape[-1] % codec.hop_length
    return x


@pytest.mark.parametrize("chunk_s", [0.048, 0.192, 0.96, 2.4, None])
def test_chunked_codes_equal_whole_signal_codes(codec, signal, chunk_s):
    # 0.048 s is one frame (12 samples): shorter than the receptive field, so the
    # first pieces wait for enough signal to pad the start as the whole pass does
    whole = encode_windows(codec, signal, batch_size=6)
    chunked = encode_stream(codec, signal, chunk_s=chunk_s, batch_size=6)
    assert chunked.dtype == whole.dtype and chunked.shape == whole.shape == (1, 6, 8, 136)
    _assert_same_codes(codec, signal, chunked, whole)


def test_batches_and_memmap_input(codec, signal, tmp_path):
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32,
                                   shape=(2, 3, signal.shape[-1]))
    mm[:] = signal.reshape(2, 3, -1)
    whole = encode_windows(codec, np.asarray(mm), batch_size=2)
    _assert_same_codes(codec, np.asarray(mm),
                       encode_stream(codec, mm, chunk_s=0.96, batch_size=2), whole)


def test_pieces_follow_the_chunks(codec, signal):
    x = torch.from_numpy(signal)
    with torch.inference_mode():
        whole = codec.encode(x)
        stream = codec.stream("encode")
        first = stream.push(x[..., :12])  # one frame: not enough to reflect-pad every layer
        assert first.shape[-1] == 0
        pieces = [first] + [stream.push(x[..., t:t + 240]) for t in range(12, 1452, 240)]
        # once started, every chunk of whole frames yields its own frames
        assert [p.shape[-1] for p in pieces[2:]] == [20] * 5
        pieces.append(stream.push(x[..., 1452:], final=True))
        torch.testing.assert_close(torch.cat(pieces, -1), whole, rtol=0, atol=0)
        with pytest.raises(RuntimeError, match="closed"):
            stream.push(x[..., :12])


@pytest.mark.parametrize("chunk_s", [0.048, 0.96, None])
def test_chunked_decoding_equals_whole_decoding(codec, signal, chunk_s):
    codes = encode_windows(codec, signal)
    n_times = signal.shape[-1]
    whole = decode_windows(codec, codes, n_times, batch_size=6)
    chunked = decode_stream(codec, codes, n_times, chunk_s=chunk_s, batch_size=4)
    assert chunked.shape == whole.shape == signal.shape and chunked.dtype == np.float32
    assert 1 < np.abs(whole).max() < 20  # scaled units: the tolerance is relative to this
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=DECODE_ATOL)


def test_tiny_codec_streams_too(rng):
    # another hop (4), a one-layer LSTM and no band-pass: the same equalities
    codec = make_tiny_codec()
    x = rng.standard_normal((2, 3, 403)).astype(np.float32)
    whole = encode_windows(codec, x)
    for chunk_s in (0.04, 0.2, 1.0):
        np.testing.assert_array_equal(encode_stream(codec, x, chunk_s=chunk_s), whole)
        np.testing.assert_allclose(decode_stream(codec, whole, 403, chunk_s=chunk_s),
                                   decode_windows(codec, whole, 403), rtol=0, atol=DECODE_ATOL)
    codec.set_num_codebooks(2)  # fewer levels: the codes of the first two
    two = encode_stream(codec, x, chunk_s=0.2)
    assert two.shape == (2, 3, 2, 101)
    np.testing.assert_array_equal(two, whole[:, :, :2])
    np.testing.assert_allclose(decode_stream(codec, two, 403, chunk_s=0.2),
                               decode_windows(codec, two, 403), rtol=0, atol=DECODE_ATOL)


def test_channel_mixing_codec_streams_all_channels_together(mi_raw, signal):
    """v2 mixes channels frame by frame: chunks code as the whole signal, names included."""
    codec = load_codec("biocodec-eeg-mne-v2", verbose=False).prepare_for_inference()
    assert codec.streamable
    names = [mi_raw.ch_names[p] for p in (0, 8, 10, 12, 30, 60)]
    x = np.concatenate([signal, signal[:, ::-1]])  # two windows: batches of whole windows
    whole = encode_windows(codec, x, names)
    chunked = encode_stream(codec, x, names, chunk_s=0.96, batch_size=6)
    assert chunked.shape == whole.shape == (2, 6, 8, 136)
    # the attention sees one chunk's frames per batch, not the window's: near-ties may flip
    assert_codes_equal_up_to_near_ties(codec, x, chunked, whole,
                                       latent=lambda t: codec._latent(t, names)[0])
    unnamed = encode_stream(codec, x, chunk_s=0.96)  # the names reach the stream
    assert (unnamed != whole).mean() > 0.05
    n_times = x.shape[-1]
    y_whole = decode_windows(codec, whole, n_times, names)
    y_chunked = decode_stream(codec, whole, n_times, names, chunk_s=0.96, batch_size=6)
    assert 1 < np.abs(y_whole).max() < 20
    np.testing.assert_allclose(y_chunked, y_whole, rtol=0, atol=DECODE_ATOL)
    with pytest.raises(ValueError, match="5 channel names for 6 channels"):
        encode_stream(codec, x, names[:5])


@pytest.mark.parametrize("chunk_s, match", [
    (0.05, r"12.5 samples .* whole codec frames of 12 samples \(48 ms\), e.g. chunk_s=0.048"),
    (10.0, "2500 samples .* e.g. chunk_s=9.984"),
    (0, "positive number"), (-0.96, "positive number"), (float("nan"), "positive number"),
    ("0.96", "positive number"), (True, "positive number"),
])
def test_bad_chunk_sizes(codec, signal, chunk_s, match):
    with pytest.raises(ValueError, match=match):
        encode_stream(codec, signal, chunk_s=chunk_s)
    codes = np.zeros((1, 1, 6, 10), np.int16)
    with pytest.raises(ValueError, match=match):
        decode_stream(codec, codes, 120, chunk_s=chunk_s)


def test_bad_signals_and_lengths(codec, signal):
    with pytest.raises(ValueError, match="shorter than one codec frame"):
        encode_stream(codec, signal[..., :11])
    with pytest.raises(ValueError, match=r"shape \(n_windows, n_channels, n_times\)"):
        encode_stream(codec, signal[0])
    codes = encode_windows(codec, signal)
    with pytest.raises(ValueError, match=r"n_times must be in \[1, 1632\]"):
        decode_stream(codec, codes, 1633)
    with pytest.raises(ValueError, match="mode must be"):
        codec.stream("both")
    with torch.inference_mode(), pytest.raises(ValueError, match="shorter than one codec frame"):
        codec.stream("encode").push(torch.zeros(1, 1, 5), final=True)


def test_non_causal_codecs_are_refused(signal):
    """The documented exception: non-causal codecs are coded in windows, not streamed.

    A code of a non-causal codec depends on later samples, so chunk borders
    would change codes: the stream refuses them rather than differ silently.
    """
    torch.manual_seed(0)
    dac = DAC(DACConfig.eeg(sfreq=100.0, encoder_dim=4, encoder_rates=(2, 5), decoder_dim=16,
                            decoder_rates=(5, 2), n_codebooks=3, codebook_size=16,
                            codebook_dim=4)).eval()
    symmetric = BioCodec(BioCodecConfig(causal=False)).eval()
    assert not dac.streamable and not symmetric.streamable
    for model in (dac, symmetric):
        with pytest.raises(ValueError, match="not causal: its codes at a time depend on later"):
            encode_stream(model, signal)
        with pytest.raises(ValueError, match="Code it in windows"):
            decode_stream(model, np.zeros((1, 1, 3, 4), np.int16), 40)
    # what the refusal protects: chunk borders change a symmetric codec's latent
    x = torch.from_numpy(signal[:, :1])
    with torch.inference_mode():
        whole = symmetric._encode_latent(x[0:1, :, :480])
        halves = torch.cat([symmetric._encode_latent(x[0:1, :, :240]),
                            symmetric._encode_latent(x[0:1, :, 240:480])], -1)
    assert not torch.allclose(whole, halves, atol=1e-3)


def test_named_codecs_are_refused():
    from mne_codec.models import NeuroRVQ, NeuroRVQConfig

    codec = NeuroRVQ(NeuroRVQConfig(n_patches=16, out_chans=4, embed_dim=100, depth_encoder=1,
                                    depth_decoder=1, num_heads=5, mlp_ratio=2)).eval()
    assert not codec.streamable
    with pytest.raises(ValueError, match="codes channels jointly in patches"):
        codec.stream("encode")


# -- through the transformers: window_s=None streams the whole recording ----------------
@pytest.fixture(scope="module")
def short_raw(mi_raw):
    raw = mi_raw.copy().pick([0, 8, 10, 30]).crop(0, 20)
    raw.annotations.append(2.0, 1.0, "BAD_blink")  # does not drop the one window
    return raw


def test_transformers_stream_the_whole_recording(codec, short_raw):
    from mne_codec import CodecReconstructor, CodecTokenizer
    from mne_codec.preprocessing import restore

    tok = CodecTokenizer(codec, window_s=None, chunk_s=2.4, output="tokens",
                         verbose="ERROR").fit(short_raw)
    tokens = tok.tokenize(short_raw)
    sfreq = short_raw.info["sfreq"]
    # one window, scaled once per channel over the recording, coded as in one pass
    x, center, scale = preprocess(short_raw.get_data()[None], sfreq, codec.preprocessing)
    assert tokens.codes.shape == (1, 4, 8, codec.n_frames(x.shape[-1]))
    assert tokens.n_times == short_raw.n_times and tokens.onsets_s.tolist() == [0.0]
    np.testing.assert_allclose(tokens.center, center)
    np.testing.assert_allclose(tokens.scale, scale)
    names = short_raw.ch_names  # the transformers pass the channels' names
    _assert_same_codes(codec, x, tokens.codes, encode_windows(codec, x, names), names)
    np.testing.assert_array_equal(tok.transform(short_raw), tokens.codes)

    rec = CodecReconstructor(codec, window_s=None, chunk_s=2.4, verbose="ERROR")
    y = rec.fit(short_raw).transform(short_raw)
    whole = restore(decode_windows(codec, tokens.codes, x.shape[-1], names), center, scale,
                    codec.preprocessing, sfreq, short_raw.n_times)[0]
    assert y.shape == short_raw.get_data().shape
    np.testing.assert_allclose(y, whole, rtol=0, atol=DECODE_ATOL * scale.max())
    out = rec.reconstruct(short_raw)
    np.testing.assert_array_equal(out.get_data(), y)


def test_transformers_refuse_what_cannot_stream(short_raw):
    from mne_codec import CodecTokenizer

    torch.manual_seed(0)
    symmetric = BioCodec(BioCodecConfig(causal=False)).eval()
    with pytest.raises(ValueError, match="not causal"):
        CodecTokenizer(symmetric, window_s=None).fit(short_raw)
    with pytest.raises(ValueError, match="whole codec frames"):
        CodecTokenizer(window_s=None, chunk_s=1.0).fit(short_raw)
    with pytest.raises(ValueError, match="positive number or None"):
        CodecTokenizer(window_s=0).fit(short_raw)
