"""DAC: parity with descript-audio-codec on the same weights, its file format, EEG adaptation."""

import pickle

import numpy as np
import pytest
import torch

from mne_codec.checkpoints import (
    CheckpointError,
    dac_state_from_official,
    dac_state_to_official,
    load_codec,
    load_dac_checkpoint,
    save_codec,
)
from mne_codec.models import DAC, FAMILIES, DACConfig
from mne_codec.preprocessing import Preprocessing

from .conftest import DATA_DIR

REF_FILE = DATA_DIR / "dac_ref_small.pth"
#: the reference file's metadata["kwargs"], as DAC's BaseModel.save writes them
REF_KWARGS = dict(encoder_dim=8, encoder_rates=[2, 5], latent_dim=32, decoder_dim=32,
                  decoder_rates=[5, 2], n_codebooks=3, codebook_size=64, codebook_dim=8,
                  quantizer_dropout=False, sample_rate=16000)


def _rel(y, ref):
    return float(np.linalg.norm(y - ref) / np.linalg.norm(ref))


def _dac_units():
    """Preprocessing without clip: the model then reads DAC's own units (no gain)."""
    return Preprocessing(sfreq=250.0, clip=None)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny models: one thread is fastest, and avoids oversubscribing a busy machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def ref():
    return np.load(DATA_DIR / "dac_ref_small.npz")


@pytest.fixture
def ref_dac():
    return load_dac_checkpoint(REF_FILE, preprocessing=_dac_units())


def _small_config(**kwargs):
    params = dict(encoder_dim=4, encoder_rates=(2, 5), decoder_dim=16, decoder_rates=(5, 2),
                  n_codebooks=3, codebook_size=16, codebook_dim=4, quantizer_dropout=0.0)
    params.update(kwargs)
    return DACConfig.eeg(sfreq=100.0, **params)


@pytest.mark.parametrize("case", ["a", "b"])
def test_parity_with_reference_code(ref_dac, ref, case):
    """Equal codes, reconstruction within 1e-5 relative (see tests/data/README.md)."""
    x = torch.from_numpy(ref[f"x_{case}"])  # (batch, 1, n_times): one channel
    n = x.shape[-1]
    with torch.no_grad():
        latent = ref_dac._encode_latent(x)
        codes = ref_dac.encode(x)
        full = ref_dac.decode(codes)
        recon = ref_dac.decode(codes, n)
        y, codes_fwd, _ = ref_dac(x)
        codes2 = ref_dac.set_num_codebooks(2).encode(x)
    assert _rel(latent.numpy(), ref[f"emb_{case}"]) < 1e-6
    np.testing.assert_array_equal(codes[:, 0].numpy(), ref[f"codes_{case}"])
    np.testing.assert_array_equal(codes_fwd[:, 0].numpy(), ref[f"codes_{case}"])
    np.testing.assert_array_equal(codes2[:, 0].numpy(), ref[f"codes2_{case}"])
    # DAC's decoder loses a sample per odd stride: 158 of 160 here; we pad the tail
    ref_full = ref[f"recon_codes_{case}"]
    assert full.shape[-1] == codes.shape[-1] * 10 > ref_full.shape[-1]
    assert _rel(full[..., : ref_full.shape[-1]].numpy(), ref_full) < 1e-5
    m = ref[f"recon_{case}"].shape[-1]  # DAC's forward: decoder output cropped to n
    assert recon.shape[-1] == y.shape[-1] == n >= m
    assert _rel(recon[..., :m].numpy(), ref[f"recon_{case}"]) < 1e-5
    assert _rel(y[..., :m].numpy(), ref[f"recon_{case}"]) < 1e-5
    torch.testing.assert_close(full[..., m:n], full[..., m - 1 : m].expand(-1, -1, n - m))


def test_training_losses_match_reference(ref_dac, ref):
    """Commitment + codebook losses, summed over levels and weighted 0.25 / 1 as DAC trains."""
    ref_dac.train()
    y, _, loss = ref_dac(torch.from_numpy(ref["x_a"]))
    expected = 0.25 * ref["train_commitment_a"] + ref["train_codebook_a"]
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    assert _rel(y.detach().numpy(), ref["train_recon_a"]) < 1e-5


def test_loader_recovers_every_hyperparameter():
    obj = torch.load(REF_FILE, weights_only=True)  # the released format needs no pickle code
    assert set(obj) == {"state_dict", "metadata"} and obj["metadata"]["kwargs"] == REF_KWARGS
    assert any(k.endswith(".weight_g") for k in obj["state_dict"])
    codec = load_dac_checkpoint(REF_FILE)
    assert not codec.training and codec.family == "dac"
    assert codec.config.dac_kwargs() == REF_KWARGS
    assert codec.config.quantizer_dropout == 0.0 and codec.hop_length == 10
    # load_codec recognises DAC files by their layout; BioCodec files still load
    by_path = load_codec(REF_FILE)
    assert isinstance(by_path, DAC) and by_path.config == codec.config
    assert load_codec(DATA_DIR / "biocodec_ref_emg_small.pt").family == "biocodec"
    # and our names map back to exactly the file's
    official = dac_state_to_official(codec.state_dict())
    assert sorted(official) == sorted(obj["state_dict"])
    assert dac_state_from_official(official).keys() == codec.state_dict().keys()


def test_strict_loading_rejects_mismatches(tmp_path):
    obj = torch.load(REF_FILE, weights_only=True)
    state, meta = obj["state_dict"], obj["metadata"]

    def save(name, state=state, meta=meta):
        torch.save({"state_dict": state, "metadata": meta}, tmp_path / name)
        return tmp_path / name

    missing = {k: v for k, v in state.items() if not k.startswith("decoder.model.0.")}
    with pytest.raises(CheckpointError, match="missing keys"):
        load_dac_checkpoint(save("missing.pth", state=missing))
    extra = dict(state, **{"quantizer.quantizers.3.codebook.weight": torch.zeros(64, 8)})
    with pytest.raises(CheckpointError, match="unexpected keys"):
        load_dac_checkpoint(save("extra.pth", state=extra))
    wrong = {"kwargs": dict(REF_KWARGS, codebook_size=32)}
    with pytest.raises(CheckpointError, match="other shapes"):
        load_dac_checkpoint(save("shapes.pth", meta=wrong))
    for kwargs in ({k: v for k, v in REF_KWARGS.items() if k != "latent_dim"},
                   dict(REF_KWARGS, n_layers=3)):
        with pytest.raises(CheckpointError, match="hyper-parameters"):
            load_dac_checkpoint(save("kwargs.pth", meta={"kwargs": kwargs}))
    with pytest.raises(CheckpointError, match="kwargs"):
        load_dac_checkpoint(save("nokwargs.pth", meta={}))
    torch.save(state, tmp_path / "bare.pth")  # a bare state dict is not DAC's format
    with pytest.raises(CheckpointError, match="not a DAC weight file"):
        load_dac_checkpoint(tmp_path / "bare.pth")


def test_corrupt_missing_and_unsafe_files(tmp_path):
    raw = REF_FILE.read_bytes()
    (tmp_path / "truncated.pth").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_dac_checkpoint(tmp_path / "truncated.pth")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_codec(tmp_path / "truncated.pth")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_dac_checkpoint(tmp_path / "nope.pth")
    with pytest.raises(CheckpointError, match="Checksum mismatch"):
        load_dac_checkpoint(REF_FILE, sha256="0" * 64)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "evil.pth", "wb") as f:
        pickle.dump({"state_dict": {}, "metadata": Evil()}, f, protocol=2)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_dac_checkpoint(tmp_path / "evil.pth")


def test_key_list_of_the_16khz_release():
    """DACConfig() builds the released 16 kHz generator: names and shapes of its file."""
    expected = {}
    for line in (DATA_DIR / "dac_keys_16khz.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, shape, _, _ = line.split("\t")
            expected[name] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    torch.manual_seed(0)
    codec = DAC(DACConfig())
    got = {k: tuple(v.shape) for k, v in dac_state_to_official(codec.state_dict()).items()}
    assert len(expected) == 322 and got == expected
    assert sum(p.numel() for p in codec.parameters()) == 74_175_906
    assert codec.hop_length == 320 and codec.max_codebooks == 12 and codec.codebook_size == 1024


def test_encode_decode_shapes_and_read_only_eval():
    torch.manual_seed(0)
    codec = DAC(_small_config()).eval()
    x = torch.randn(2, 3, 157)  # not a multiple of the hop (10)
    before = {k: v.clone() for k, v in codec.state_dict().items()}
    with torch.no_grad():
        codes = codec.encode(x)
        y_full = codec.decode(codes)
        y = codec.decode(codes, 157)
        y_fwd, codes_fwd, _ = codec(x)
        z = codec.quantized(codes)
    assert codes.shape == (2, 3, 3, 16) and codes.dtype == torch.int64
    assert y_full.shape == (2, 3, 160) and y.shape == y_fwd.shape == (2, 3, 157)
    assert z.shape == (2, 3, 16, 16) and torch.equal(codes_fwd, codes)
    # channels are independent mono streams: one channel alone gives the same codes
    with torch.no_grad():
        np.testing.assert_array_equal(codec.encode(x[:, 1:2]).numpy(), codes[:, 1:2].numpy())
    for k, v in codec.state_dict().items():
        assert torch.equal(v, before[k]), k
    with pytest.raises(ValueError, match="shorter than one codec frame"):
        codec.encode(torch.randn(1, 1, 9))


def test_set_num_codebooks_and_rates():
    torch.manual_seed(0)
    codec = DAC(_small_config()).eval()
    x = torch.randn(1, 2, 100)
    with torch.no_grad():
        full = codec.encode(x)
        codec.set_num_codebooks(2)
        two = codec.encode(x)
    assert torch.equal(two, full[:, :, :2])
    assert codec.frame_rate == pytest.approx(10.0)
    assert codec.bits_per_second == pytest.approx(10.0 * 2 * 4)
    with torch.no_grad():
        assert codec.decode(two).shape == (1, 2, 100)
    with pytest.raises(ValueError, match="between 1 and 3"):
        codec.set_num_codebooks(4)


@pytest.mark.parametrize(
    "kwargs, frame_rate, bits",
    [
        (dict(), 250 / 320, 250 / 320 * 12 * 10),  # the default: 16 kHz model at 250 Hz
        (dict(sfreq=256.0, n_codebooks=4, codebook_size=256), 0.8, 0.8 * 4 * 8),
        (dict(sfreq=512.0, base="44khz"), 1.0, 1.0 * 9 * 10),
    ],
)
def test_eeg_tradeoffs(kwargs, frame_rate, bits):
    cfg = DACConfig.eeg(**kwargs)
    assert cfg.frame_rate == pytest.approx(frame_rate)
    assert cfg.tokens_per_second == pytest.approx(frame_rate * cfg.n_codebooks)
    assert cfg.bits_per_second == pytest.approx(bits)
    assert cfg.preprocessing.scaling == "robust" and cfg.preprocessing.clip == 5.0
    assert DACConfig.from_dict(cfg.to_dict()) == cfg


def test_amplitude_maps_clip_to_the_tanh_range():
    """The model reads x / clip and returns clip * tanh(...): robust units in, robust units out."""
    torch.manual_seed(0)
    plain = DAC(_small_config(clip=None)).eval()
    scaled = DAC(_small_config(clip=4.0)).eval()
    scaled.load_state_dict(plain.state_dict())
    assert scaled.amplitude_scale == 4.0 and plain.amplitude_scale == 1.0
    x = torch.randn(2, 1, 120)
    with torch.no_grad():
        codes = scaled.encode(4.0 * x)
        assert torch.equal(codes, plain.encode(x))
        y = scaled.decode(codes)
        torch.testing.assert_close(y, 4.0 * plain.decode(codes))
    assert y.abs().max() <= 4.0


def test_training_forward_with_quantizer_dropout():
    torch.manual_seed(0)
    codec = DAC(_small_config(quantizer_dropout=1.0)).train()
    y, codes, loss = codec(torch.randn(4, 2, 50))
    (y.pow(2).mean() + loss).backward()
    assert torch.isfinite(loss) and loss > 0
    layers = codec.quantizer.layers
    assert layers[0].codebook.embed.grad is not None  # codebooks learned by gradient
    # DAC does not detach the residual: later levels' losses reach earlier projections
    assert layers[0].project_out.parametrizations.weight.original1.grad.abs().sum() > 0
    assert codec.encoder.block[0].parametrizations.weight.original1.grad is not None


def test_round_trips(tmp_path):
    torch.manual_seed(0)
    codec = DAC(_small_config()).eval()
    x = torch.randn(1, 2, 80)
    with torch.no_grad():
        codes = codec.encode(x)
    again = pickle.loads(pickle.dumps(codec))
    saved = load_codec(save_codec(codec, tmp_path / "dac"))
    for other in (again, saved):
        assert isinstance(other, DAC) and other.config == codec.config
        with torch.no_grad():
            assert torch.equal(other.encode(x), codes)
    assert FAMILIES["dac"] == (DAC, DACConfig)
    folded = pickle.loads(pickle.dumps(codec)).prepare_for_inference()
    with torch.no_grad():
        assert torch.equal(folded.encode(x), codes)


def test_registered_release_from_cache(monkeypatch, tmp_path):
    """Official files are registered (MIT, URL, no checksum) and found in the cache."""
    import shutil

    from mne_codec.checkpoints import REGISTRY

    names = ["dac-16khz", "dac-24khz", "dac-44khz", "dac-44khz-16kbps"]
    for name in names:
        info = REGISTRY[name]
        assert info.family == "dac" and info.fmt == "dac" and info.license == "MIT"
        assert info.url.startswith("https://github.com/descriptinc/descript-audio-codec/")
    monkeypatch.setenv("MNE_CODEC_DATA", str(tmp_path))
    with pytest.raises(CheckpointError, match="fetch_codec"):
        load_codec("dac-16khz")  # never downloaded by a test
    # any file in DAC's format under the registered name loads (here the small one)
    shutil.copy(REF_FILE, tmp_path / REGISTRY["dac-16khz"].filename)
    codec = load_codec("dac-16khz")
    assert isinstance(codec, DAC) and codec.name == "dac-16khz"
