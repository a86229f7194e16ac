"""The one codec protocol: every family answers encode/decode/forward the same way."""

import pickle
import re

import numpy as np
import pytest
import torch

from mne_codec.models import FAMILIES, Encoding

NAMES = ["Fp1", "Fp2", "C3", "C4"]


def _tiny(family):
    """A small codec of ``family``, in eval mode."""
    from dataclasses import replace

    from mne_codec.models import DAC, DACMC, NeuroRVQ, NeuroRVQConfig
    from mne_codec.models.dac import DACConfig
    from mne_codec.models.neurorvq import _eeg_rvq

    from .conftest import make_tiny_codec

    torch.manual_seed(0)
    if family == "biocodec":
        return make_tiny_codec()
    if family == "neurorvq":
        cfg = NeuroRVQConfig(n_patches=16, out_chans=4, embed_dim=100, depth_encoder=1,
                             depth_decoder=1, num_heads=5, mlp_ratio=2,
                             rvq=replace(_eeg_rvq(), dim=16, codebook_size=32))
        return NeuroRVQ(cfg).eval()
    dac = DAC(DACConfig.eeg(sfreq=100.0, encoder_dim=4, encoder_rates=(2, 5), decoder_dim=16,
                            decoder_rates=(5, 2), n_codebooks=3, codebook_size=16,
                            codebook_dim=4, quantizer_dropout=0.0))
    return (dac if family == "dac" else DACMC.from_dac(dac)).eval()


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def codec(request):
    return _tiny(request.param)


def test_every_family_round_trips_through_one_call(codec):
    """encode(x, ch_names) -> Encoding; decode(encoding, ch_names, n_times) -> signals."""
    n_times = 2 * codec.hop_length * 4
    if codec.family == "neurorvq":
        n_times = 2 * codec.config.patch_size
    x = torch.randn(2, len(NAMES), n_times)
    with torch.no_grad():
        enc = codec.encode(x, NAMES)
        assert isinstance(enc, Encoding)
        assert enc.codes.dtype == torch.int64 and type(enc.codes) is torch.Tensor
        assert enc.codes.shape[:3] == (2, len(NAMES), codec.n_code_rows)
        assert (enc.side is None) == (codec.n_side == 0)
        if enc.side is not None:
            assert enc.side.shape == (2, codec.n_side)
        y = codec.decode(enc, NAMES, n_times)
        assert y.shape == x.shape and torch.isfinite(y).all()
        # plain codes and side= decode alike
        y2 = codec.decode(enc.codes, ch_names=NAMES, n_times=n_times, side=enc.side)
        torch.testing.assert_close(y, y2, rtol=0, atol=0)
        out = codec(x, NAMES)
        assert out[0].shape == x.shape


def test_encoding_is_its_codes():
    codes = torch.arange(12).reshape(1, 2, 2, 3)
    enc = Encoding(codes, torch.ones(1, 2))
    assert torch.equal(enc, codes) and torch.equal(enc.codes, codes)
    assert type(enc[:, :1]) is torch.Tensor  # a slice is no longer an encoding
    again = pickle.loads(pickle.dumps(enc))
    assert torch.equal(again.codes, codes) and torch.equal(again.side, enc.side)
    with pytest.raises(ValueError, match="side must have shape"):
        Encoding(codes, torch.ones(3, 2))


def test_named_codecs_ask_for_names():
    codec = _tiny("dac_mc")
    with pytest.raises(ValueError, match="codes channels jointly by name"):
        codec.encode(torch.randn(1, 2, 100))


def test_old_decode_forms_warn_and_still_work():
    codec = _tiny("dac")
    x = torch.randn(1, 2, 100)
    with torch.no_grad():
        enc = codec.encode(x)
        new = codec.decode(enc, n_times=100)
        with pytest.warns(DeprecationWarning, match=r"decode\(codes, n_times\)"):
            old = codec.decode(enc.codes, 100)
    np.testing.assert_array_equal(new.numpy(), old.numpy())
    mc = _tiny("dac_mc")
    with torch.no_grad():
        enc = mc.encode(x, NAMES[:2])
        with pytest.warns(DeprecationWarning, match="side, ch_names"):
            old = mc.decode(enc.codes, None, NAMES[:2], 100)
        new = mc.decode(enc, NAMES[:2], 100)
    np.testing.assert_array_equal(new.numpy(), old.numpy())
    with pytest.raises(TypeError, match="more positional"):
        codec.decode(enc.codes, None, 100, 3)


def test_no_caller_branches_on_the_family():
    """Outside mne_codec/models/, code reaches codecs through the protocol alone.

    The recipe modules of mne_codec/training/ (one per shipped family: the
    data, sizes and objective of *that* family) may check that a starting
    point is of their family; the trainer, losses, data, pipeline,
    transformers, evaluation, CLI and benchmarks may not branch on it.
    """
    from pathlib import Path

    import mne_codec

    root = Path(mne_codec.__file__).parent
    recipes = {root / "training" / f"{name}.py" for name in ("default", "dac", "neurorvq",
                                                              "neurorvq_fm")}
    files = [p for p in root.rglob("*.py")
             if "models" not in p.relative_to(root).parts and p not in recipes]
    bench = root.parent / "benchmarks"
    files += sorted(bench.glob("*.py")) if bench.is_dir() else []
    branch = re.compile(r"channel_policy|\.family\s*(==|!=|in\b|not\s+in\b)")
    found = [f"{p.name}:{i}: {line.strip()}" for p in files
             for i, line in enumerate(p.read_text().splitlines(), 1) if branch.search(line)]
    assert not found, "branches on the codec family outside models/:\n" + "\n".join(found)
