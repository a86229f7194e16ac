"""Tokens for language models: layouts, the shard dataset, its sharding, the export."""

import numpy as np
import pytest

from mne_codec.lm import LAYOUTS, DelayLayout, get_layout, recording_codes


@pytest.fixture(scope="module")
def real_tokens(shared_data):
    """Default-codec tokens of 10 s of EEGMMIDB S001 (64 channels, two 5-s windows)."""
    from mne_codec import CodecTokenizer
    from mne_codec.datasets import eegbci_raw

    raw = eegbci_raw(1, [4], path=shared_data, verbose=False).crop(0, 10)
    return CodecTokenizer(window_s=5.0, output="tokens", verbose="ERROR").fit(raw).tokenize(raw)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layout_round_trip_on_real_tokens(name, real_tokens):
    codes = recording_codes(real_tokens.codes)
    n_ch, n_lev, n_fr = codes.shape
    assert (n_ch, n_lev) == (64, 6) and n_fr == 2 * real_tokens.codes.shape[3]
    layout = get_layout(name, n_lev, real_tokens.codec["codebook_size"])
    seq = layout.encode(codes)
    assert seq.dtype == np.int64 and len(seq) == layout.length(n_ch, n_fr)
    assert seq.shape[1:] == (() if layout.width == 1 else (n_lev,))
    assert seq.min() >= 0 and seq.max() < layout.vocab_size
    np.testing.assert_array_equal(layout.decode(seq), codes)
    # every code token sits at its own level; the levels' vocabularies do not overlap
    levels = layout.level_of(seq.copy())
    is_code = levels >= 0
    assert is_code.sum() == codes.size
    np.testing.assert_array_equal(seq[is_code] // layout.codebook_size, levels[is_code])
    assert np.bincount(levels[is_code], minlength=n_lev).tolist() == [n_ch * n_fr] * n_lev


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layout_round_trip_on_random_codes(name):
    rng = np.random.default_rng(0)
    for _ in range(20):
        n_ch, n_lev, n_fr, size = rng.integers(1, 6, 4)
        codes = rng.integers(0, size, (n_ch, n_lev, n_fr)).astype(np.int16)
        layout = LAYOUTS[name](n_lev, size)
        seq = layout.encode(codes)
        assert len(seq) == layout.length(n_ch, n_fr)
        np.testing.assert_array_equal(layout.decode(seq), codes)


def test_layouts_place_tokens_as_documented():
    codes = np.arange(12).reshape(2, 3, 2) % 4  # ch0: a=[0,1] b=[2,3] c=[0,1]; ch1 ...
    flat = LAYOUTS["flatten"](3, 4)
    bos, eos, sep, pad = flat.bos_id, flat.eos_id, flat.sep_id, flat.pad_id
    assert (flat.vocab_size, pad, bos, eos, sep) == (16, 12, 13, 14, 15)
    # levels offset by 4: a -> 0..3, b -> 4..7, c -> 8..11
    assert flat.encode(codes).tolist() == [bos, sep, 0, 6, 8, 1, 7, 9,
                                           sep, 2, 4, 10, 3, 5, 11, eos]
    assert LAYOUTS["interleave"](3, 4).encode(codes).tolist() == [
        bos, sep, 0, 6, 8, 2, 4, 10, sep, 1, 7, 9, 3, 5, 11, eos]
    assert LAYOUTS["channels"](3, 4).encode(codes)[:4].tolist() == [
        [bos] * 3, [sep] * 3, [0, 6, 8], [1, 7, 9]]
    delay = DelayLayout(3, 4).encode(codes[:1])
    assert delay.T.tolist() == [[bos, sep, 0, 1, pad, pad, eos],
                                [bos, sep, pad, 6, 7, pad, eos],
                                [bos, sep, pad, pad, 8, 9, eos]]


def test_layouts_refuse_bad_codes_and_sequences():
    layout = get_layout("flatten", 2, 4)
    with pytest.raises(ValueError, match="levels"):
        layout.encode(np.zeros((1, 3, 2), int))
    with pytest.raises(ValueError, match=r"in \[0, 4\)"):
        layout.encode(np.full((1, 2, 2), 4))
    with pytest.raises(ValueError, match="one of"):
        get_layout("spiral", 2, 4)
    with pytest.raises(ValueError, match="does not fit"):
        get_layout(layout, 3, 4)
    for name in LAYOUTS:
        lay = get_layout(name, 2, 4)
        seq = lay.encode(np.ones((2, 2, 3), int))
        with pytest.raises(ValueError, match="bos"):
            lay.decode(seq[1:])
        bad = seq.copy()
        bad[3] = lay.bos_id  # a special token among the codes
        with pytest.raises(ValueError, match="structure|pad"):
            lay.decode(bad)
        # a code of the wrong level
        swapped = seq.copy()
        flat = swapped.reshape(-1)
        first = np.flatnonzero(lay.level_of(flat.copy()) == 0)[0]
        flat[first] += lay.codebook_size
        with pytest.raises(ValueError, match="structure"):
            lay.decode(swapped)
