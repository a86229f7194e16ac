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

from .conftest import DATA_DIR, assert_codes_equal_up_to_near_ties

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


pytestmark = pytest.mark.usefixtures("one_thread")


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
        alone = codec.encode(x[:, 1:2]).numpy()  # another batch shape: up to near-ties
    assert_codes_equal_up_to_near_ties(codec, x[:, 1:2].numpy(), alone, codes[:, 1:2].numpy())
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
    """Official files are registered (MIT, pinned release URL) and found in the cache."""
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
    # a file under the registered name must be the pinned one (sha256)...
    shutil.copy(REF_FILE, tmp_path / REGISTRY["dac-16khz"].filename)
    with pytest.raises(CheckpointError, match="Checksum mismatch"):
        load_codec("dac-16khz")
    # ... and a file in DAC's format under an unpinned name loads (here the small one)
    shutil.copy(REF_FILE, tmp_path / REGISTRY["dac-44khz-16kbps"].filename)
    codec = load_codec("dac-44khz-16kbps")
    assert isinstance(codec, DAC) and codec.name == "dac-44khz-16kbps"


# -- fine-tuning objective ----------------------------------------------------------
def test_mel_filterbank_is_librosa_slaney():
    """Slaney mel filters, equal to librosa.filters.mel's defaults (used by DAC's loss).

    Reference rows from ``torchaudio.functional.melscale_fbanks(17, 0, 8000, 5,
    16000, norm="slaney", mel_scale="slaney")`` (librosa's defaults), not a
    dependency of the package.
    """
    from mne_codec.spectral import mel_filterbank

    fb = mel_filterbank(32, 5, 16000.0)
    assert fb.shape == (5, 17) and fb.dtype == np.float32 and not fb.flags.writeable
    np.testing.assert_allclose(
        fb[3], [0, 0, 0, 0, 1.763508189e-04, 4.597895895e-04, 5.952651845e-04,
                4.264939926e-04, 2.577228006e-04, 8.895164501e-05, 0, 0, 0, 0, 0, 0, 0],
        rtol=1e-5, atol=1e-10)
    np.testing.assert_allclose(
        fb[4, 6:16], [3.288142761e-05, 1.333747350e-04, 2.338680497e-04, 3.343613644e-04,
                      3.590267734e-04, 2.991889487e-04, 2.393511095e-04, 1.795132848e-04,
                      1.196754383e-04, 5.983760275e-05], rtol=1e-5)
    # below 1 kHz the Slaney scale is linear: at an EEG rate, equal-area triangles
    # of equal width, whose weights sum to the same value in every filter
    eeg = mel_filterbank(128, 20, 250.0)
    np.testing.assert_allclose(eeg.sum(1), eeg.sum(1)[0], rtol=1e-5)
    with pytest.raises(ValueError, match="fmax"):
        mel_filterbank(64, 8, 250.0, fmax=200.0)


def test_mel_spectrogram_framing():
    """DAC's framing: hop n_fft / 4, centred frames; a sinusoid peaks in its mel band."""
    from mne_codec.spectral import mel_filterbank, mel_spectrogram

    t = torch.arange(1000) / 250.0
    x = torch.sin(2 * np.pi * 10.0 * t).repeat(2, 3, 1)  # 10 Hz at 250 Hz
    mel = mel_spectrogram(x, 128, 20, 250.0)
    assert mel.shape == (2, 3, 20, 1000 // 32 + 1)
    fb = mel_filterbank(128, 20, 250.0)
    peak_bin = round(10.0 * 128 / 250.0)
    assert int(mel[0, 0, :, 10].argmax()) == int(fb[:, peak_bin].argmax())


def _eeg_windows(raw, prep, n_times, n_windows=2, picks=None):
    """Consecutive preprocessed windows (n_windows, n_channels, n_times) of a Raw."""
    from mne_codec.preprocessing import preprocess

    data = raw.get_data(picks=picks)
    sfreq = raw.info["sfreq"]
    n_in = int(np.ceil(n_times * sfreq / prep.sfreq))
    win = np.stack([data[:, i * n_in:(i + 1) * n_in] for i in range(n_windows)])
    x, _, _ = preprocess(win, sfreq, prep, verbose=False)
    return torch.from_numpy(np.ascontiguousarray(x[..., :n_times], dtype=np.float32))


def test_dac_loss_terms():
    from mne_codec.training import DACLoss

    torch.manual_seed(0)
    x = torch.randn(2, 3, 600)
    loss = DACLoss(sfreq=250.0)
    same = loss.terms(x, x, torch.tensor(0.0))
    assert set(same) == {"total", "mel", "waveform", "quantizer"}
    assert float(same["total"]) == 0.0
    y = x + 0.1 * torch.randn_like(x)
    out = loss.terms(y, x, torch.tensor(2.0))
    expected = 15.0 * out["mel"] + out["waveform"] + 2.0
    assert float(out["total"]) == pytest.approx(float(expected), rel=1e-6)
    with pytest.deprecated_call(match="terms"):  # the form before the one interface
        assert float(loss(y, x, torch.tensor(2.0))["loss"]) == float(out["total"])
    with_stft = DACLoss(sfreq=250.0, stft_weight=0.5).terms(y, x, torch.tensor(0.0))
    assert float(with_stft["stft"]) > 0
    assert float(with_stft["total"]) == pytest.approx(
        float(15 * with_stft["mel"] + with_stft["waveform"] + 0.5 * with_stft["stft"]), rel=1e-6)
    # the mel scale is DAC's 16 kHz one by default: another rate, another loss
    assert float(DACLoss().terms(y, x, 0.0)["mel"]) != float(out["mel"])
    with pytest.raises(ValueError, match="same length"):
        DACLoss(window_lengths=(32, 64), n_mels=(5,))


def _dacmc(dac=None, **kwargs):
    from mne_codec.models import DACMC

    if dac is None:
        torch.manual_seed(0)
        dac = DAC(_small_config())
    params = dict(attention_dim=16, n_heads=2, channel_dim=8)
    params.update(kwargs)
    return DACMC.from_dac(dac, **params)


def _eegmat_raw(shared_data):
    import mne

    from mne_codec.training.default import prepare_eegmat

    raw = mne.io.read_raw_edf(shared_data / "eegmat" / "Subject00_2.edf", preload=True,
                              verbose=False)
    return prepare_eegmat(raw)


@pytest.mark.parametrize("model", ["dac", "dac_mc"])
def test_dac_loss_decreases_on_real_eeg(mi_raw, model):
    """A few Adam steps on real EEG lower DAC's objective (DAC and DAC-MC)."""
    from mne_codec.channels import channel_indices
    from mne_codec.training import DACLoss

    torch.manual_seed(0)
    codec = DAC(_small_config(quantizer_dropout=0.5))
    picks = ["C3", "Cz", "C4", "FCz"]
    x = _eeg_windows(mi_raw, codec.preprocessing, 600, n_windows=4, picks=picks)
    if model == "dac_mc":
        codec = _dacmc(codec)
        _, ix = channel_indices(picks)
        batch = (x, torch.from_numpy(ix).repeat(len(x), 1))
    else:
        batch = x.reshape(-1, 1, x.shape[-1])  # single-channel crops
    codec.train()
    loss = DACLoss(sfreq=codec.config.sample_rate)
    opt = torch.optim.Adam(codec.parameters(), lr=3e-3, betas=(0.8, 0.99))
    history = []
    for _ in range(12):
        opt.zero_grad()
        out = loss(codec, batch)
        assert all(torch.isfinite(v) for v in out.values())
        out["total"].backward()
        opt.step()
        history.append(float(out["total"].detach()))
    assert np.mean(history[-3:]) < 0.9 * np.mean(history[:3])
    if model == "dac_mc":  # the channel modules leave zero: they are trained too
        assert codec.mixer.project_out.weight.abs().sum() > 0
        assert codec.film.weight.abs().sum() > 0


# -- DAC-MC ------------------------------------------------------------------------
def test_dacmc_equals_dac_at_initialisation(mi_raw):
    """Zero-initialised attention output and FiLM: codes and signals are DAC's, exactly."""
    torch.manual_seed(0)
    dac = DAC(_small_config(quantizer_dropout=0.5)).eval()
    mc = _dacmc(dac)
    assert mc.channel_policy == "named" and mc.n_side == 0 and not mc.training
    names = mi_raw.ch_names[:19]
    x = _eeg_windows(mi_raw, dac.preprocessing, 157, picks=names)
    with torch.no_grad():
        codes = dac.encode(x)
        enc = mc.encode(x, names)
        assert enc.side is None and torch.equal(enc.codes, codes)
        for k in (1, 3):
            torch.testing.assert_close(mc.decode(codes[:, :, :k], None, names, 157),
                                       dac.decode(codes[:, :, :k], 157), rtol=0, atol=0)
        y_dac, c_dac, l_dac = dac(x)
        y_mc, c_mc, l_mc = mc(x, names)
    assert torch.equal(y_mc, y_dac) and torch.equal(c_mc, c_dac) and torch.equal(l_mc, l_dac)
    # training mode (quantizer dropout draws the same levels from the same seed)
    dac.train()
    mc.train()
    torch.manual_seed(1)
    y_dac, _, l_dac = dac(x)
    torch.manual_seed(1)
    y_mc, _, l_mc = mc(x, names)
    assert torch.equal(y_mc, y_dac) and torch.equal(l_mc, l_dac)
    # what DAC-MC adds is small beside the generator
    added = sum(p.numel() for n, p in mc.named_parameters() if n.startswith(mc._added))
    assert 0 < added < sum(p.numel() for p in dac.parameters()) * 2


def _trained_like(mc, seed=0):
    """Give the zero-initialised channel modules non-zero weights, as after training."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in (mc.mixer.project_out.weight, mc.film.weight):
            p.copy_(0.2 * torch.randn(p.shape, generator=gen))
    return mc.eval()


def test_validation_metrics_names_or_indices():
    """The one validation reads DAC-MC crops with per-crop indices or one montage's names."""
    from mne_codec.channels import channel_indices
    from mne_codec.training import validation_metrics

    mc = _trained_like(_dacmc())
    picks = ["C3", "Cz", "C4"]
    _, ix = channel_indices(picks)
    x = torch.randn(5, 3, 640, generator=torch.Generator().manual_seed(0))
    by_index = validation_metrics(mc, (x, torch.from_numpy(ix).repeat(5, 1)), batch_size=2)
    assert validation_metrics(mc, (x, picks), batch_size=3) == pytest.approx(by_index)
    assert set(by_index) == {f"{m}_{k}" for m in ("nmse", "usage", "perplexity")
                             for k in (1, 2, 3)}
    assert not mc.training and mc.n_codebooks == 3  # mode and levels restored
    with pytest.raises(ValueError, match="codes channels jointly by name"):
        validation_metrics(mc, x)  # a named codec needs its channels


def test_dacmc_any_subset_of_known_channels(mi_raw):
    """Any montage subset codes and decodes; names and vocabulary indices agree."""
    from mne_codec.channels import channel_indices

    mc = _trained_like(_dacmc())
    names = mi_raw.ch_names
    x = _eeg_windows(mi_raw, mc.preprocessing, 120, n_windows=1)
    for subset in (["Cz"], ["C3", "Cz", "C4", "CPz"], names[:19], names):
        pos = [names.index(n) for n in subset]
        xs = x[:, pos]
        with torch.no_grad():
            enc = mc.encode(xs, subset)
            y = mc.decode(enc.codes, None, subset, 120)
            _, ix = channel_indices(subset)
            by_ix = mc.encode(xs, torch.from_numpy(ix))
            y_ix = mc.decode(enc.codes, None, torch.from_numpy(ix)[None], 120)
        assert enc.codes.shape == (1, len(subset), 3, 12) and y.shape == xs.shape
        assert torch.equal(by_ix.codes, enc.codes) and torch.equal(y_ix, y)
    # spellings of the same electrodes (case, prefixes, reference suffixes, 10-20 aliases)
    with torch.no_grad():
        a = mc.encode(x[:, :3], ["T7", "Cz", "Fp1"]).codes
        b = mc.encode(x[:, :3], ["EEG T3-REF", "cz", "FP1."]).codes
    assert torch.equal(a, b)
    assert list(mc.pick_channels(["C3", "T3", "Cz"])) == [0, 1, 2]


def test_dacmc_rejects_unknown_channels():
    mc = _dacmc().eval()
    x = torch.randn(2, 3, 100)
    match = r"not in the DAC-MC electrode vocabulary: \['XYZ', 'EMG1'\]"
    with pytest.raises(ValueError, match=match):
        mc.encode(x, ["Cz", "XYZ", "EMG1"])
    with pytest.raises(ValueError, match="same electrode"):
        mc.encode(x, ["T3", "T7", "Cz"])
    with pytest.raises(ValueError, match="2 channel names for 3 channels"):
        mc.encode(x, ["Cz", "C3"])
    with pytest.raises(ValueError, match=r"indices \[5000\]"):
        mc(x, torch.tensor([[1, 2, 5000]] * 2))
    with pytest.raises(ValueError, match="shape"):
        mc.encode(x, torch.zeros(3, 3, dtype=torch.long))
    codes = mc.encode(x, ["Cz", "C3", "C4"]).codes
    with pytest.raises(ValueError, match="XYZ"):
        mc.decode(codes, None, ["Cz", "C3", "XYZ"])
    with pytest.raises(ValueError, match="no side information"):
        mc.decode(codes, torch.zeros(2, 2), ["Cz", "C3", "C4"])
    with pytest.warns(RuntimeWarning, match=r"\['XYZ'\].*dropped"):
        assert list(mc.pick_channels(["Cz", "XYZ"], unknown="drop")) == [0]
    with pytest.raises(TypeError, match="DACMCConfig"):
        from mne_codec.models import DACMC

        DACMC(_small_config())


def test_dacmc_channels_inform_each_other_and_order_is_equivariant(mi_raw):
    """Once trained, a channel's codes depend on its neighbours; permuting the
    channels (with their names) permutes the codes and reconstructions."""
    mc = _trained_like(_dacmc())
    names = ["C3", "C1", "Cz", "C2", "C4", "FCz"]
    x = _eeg_windows(mi_raw, mc.preprocessing, 300, picks=names)
    with torch.no_grad():
        z, _ = mc._latent(x, names)
        z_alone, _ = mc._latent(x[:, :1], names[:1])
        codes = mc.encode(x, names).codes
        y = mc.decode(codes, None, names, 300)
        perm = [4, 2, 0, 5, 1, 3]
        z_p, _ = mc._latent(x[:, perm], [names[i] for i in perm])
        codes_p = mc.encode(x[:, perm], [names[i] for i in perm]).codes
        y_p = mc.decode(codes[:, perm], None, [names[i] for i in perm], 300)
    b, c = x.shape[:2]
    z, z_p = z.view(b, c, *z.shape[1:]), z_p.view(b, c, *z_p.shape[1:])
    assert not torch.allclose(z[:, :1], z_alone.view(b, 1, *z_alone.shape[1:]), atol=1e-3)
    torch.testing.assert_close(z_p, z[:, perm], rtol=1e-5, atol=1e-5)
    assert (codes_p == codes[:, perm]).float().mean() > 0.99  # up to float near-ties
    torch.testing.assert_close(y_p, y[:, perm], rtol=1e-5, atol=1e-5)
    # the electrode conditions the decoder: the same codes under another name differ
    with torch.no_grad():
        other = mc.decode(codes, None, ["P3", "P1", "Pz", "P2", "P4", "CPz"], 300)
    assert not torch.allclose(other, y, atol=1e-4)


def test_dacmc_round_trips(tmp_path):
    from mne_codec.models import DACMC, DACMCConfig

    mc = _trained_like(_dacmc())
    mc.set_num_codebooks(2)
    x = torch.randn(1, 4, 80)
    names = ["Fz", "Cz", "Pz", "Oz"]
    with torch.no_grad():
        codes = mc.encode(x, names).codes
    assert codes.shape[2] == 2
    saved = load_codec(save_codec(mc, tmp_path / "dac_mc"))
    again = pickle.loads(pickle.dumps(mc))
    folded = pickle.loads(pickle.dumps(mc)).prepare_for_inference()
    for other in (saved, again, folded):
        assert isinstance(other, DACMC) and other.config == mc.config
        other.set_num_codebooks(2)
        with torch.no_grad():
            assert torch.equal(other.encode(x, names).codes, codes)
    assert FAMILIES["dac_mc"] == (DACMC, DACMCConfig)
    assert DACMCConfig.from_dict(mc.config.to_dict()) == mc.config
    with pytest.raises(ValueError, match="folded"):
        DACMC.from_dac(pickle.loads(pickle.dumps(DAC(_small_config()))).prepare_for_inference())


# -- through the estimators ------------------------------------------------------------
@pytest.mark.parametrize("dataset", ["eegmat-19", "eegmmidb-64"])
def test_dac_through_the_transformers(shared_data, mi_raw, dataset):
    """DAC-EEG (independent channels) tokenizes and reconstructs 19 and 64 channels."""
    from mne_codec import CodecReconstructor, CodecTokenizer

    torch.manual_seed(0)
    codec = DAC(_small_config()).eval()
    raw = (_eegmat_raw(shared_data) if dataset == "eegmat-19" else mi_raw.copy()).crop(0, 12.5)
    n_ch = len(raw.ch_names)
    tok = CodecTokenizer(codec, output="tokens", window_s=4.0).fit(raw)
    tokens = tok.tokenize(raw)
    assert tokens.codes.shape == (3, n_ch, 3, 40)
    assert tokens.bits_per_second == pytest.approx(codec.bits_per_second)
    y = tok.inverse_transform(tokens)
    assert y.shape == (3, n_ch, int(4.0 * raw.info["sfreq"])) and 0 < np.abs(y).max() < 1e-3
    rec = CodecReconstructor(codec).fit(raw).reconstruct(raw)
    assert rec.get_data().shape == raw.get_data().shape and rec.ch_names == raw.ch_names


@pytest.mark.parametrize("dataset", ["eegmat-19", "eegmmidb-64"])
def test_dacmc_through_the_transformers(shared_data, mi_raw, dataset):
    """DAC-MC (channels coded jointly by name) tokenizes and reconstructs 19 and 64 channels."""
    from mne_codec import CodecReconstructor, CodecTokenizer
    from mne_codec.preprocessing import band_limit, preprocess

    mc = _trained_like(_dacmc())
    raw = (_eegmat_raw(shared_data) if dataset == "eegmat-19" else mi_raw.copy()).crop(0, 12.5)
    n_ch = len(raw.ch_names)
    tok = CodecTokenizer(mc, output="tokens", window_s=4.0).fit(raw)
    tokens = tok.tokenize(raw)
    assert tokens.codes.shape == (3, n_ch, 3, 40) and tokens.side is None
    assert tokens.ch_names == raw.ch_names
    # the tokens are the codec's own on each window, all channels together
    sfreq, prep = raw.info["sfreq"], mc.preprocessing
    filtered = band_limit(raw.get_data(), sfreq, prep)
    x, _, _ = preprocess(filtered[None, :, : int(4.0 * sfreq)], sfreq, prep, band_limited=True)
    with torch.no_grad():
        enc = mc.encode(torch.from_numpy(x), raw.ch_names)
    # one window here, three in the tokenizer's batch: equal up to float near-ties
    assert_codes_equal_up_to_near_ties(
        mc, x, enc.codes.numpy(), tokens.codes[:1],
        latent=lambda v: mc._latent(v, raw.ch_names)[0])
    y = tok.inverse_transform(tokens)
    assert y.shape == (3, n_ch, int(4.0 * sfreq)) and 0 < np.abs(y).max() < 1e-3
    rec = CodecReconstructor(mc).fit(raw).reconstruct(raw)
    assert rec.get_data().shape == raw.get_data().shape
    bad = raw.copy().rename_channels({raw.ch_names[0]: "X9"})
    with pytest.raises(ValueError, match="X9"):
        CodecTokenizer(mc).fit(bad)


# -- rates and the training recipe -------------------------------------------------
def test_rate_table():
    from mne_codec.models.dac import dac_rate_table

    rows = dac_rate_table(sfreqs=(250.0, 512.0), n_codebooks=(1, 12), codebook_sizes=(256, 1024))
    assert len(rows) == 8
    row = [r for r in rows if r["sfreq"] == 250 and r["n_codebooks"] == 12
           and r["codebook_size"] == 1024][0]
    assert row["hop_length"] == 320 and row["frame_rate"] == pytest.approx(250 / 320)
    assert row["tokens_per_second"] == pytest.approx(9.375)
    assert row["bits_per_second"] == pytest.approx(93.75)
    assert row["compression"] == pytest.approx(16 * 250 / 93.75)
    small = [r for r in rows if r["sfreq"] == 512 and r["n_codebooks"] == 1
             and r["codebook_size"] == 256][0]
    assert small["bits_per_second"] == pytest.approx(512 / 320 * 8)
    (hop44,) = dac_rate_table((512.0,), (9,), (1024,), base="44khz")
    assert hop44["hop_length"] == 512 and hop44["bits_per_second"] == pytest.approx(90.0)


def _recipe_data(tmp_path, shared):
    """The recipe's file layout, every training file a link to one real recording."""
    from mne_codec.training.default import EEGMMIDB

    root = tmp_path / "data"
    src = shared / EEGMMIDB
    for s in list(range(1, 11)):
        for r in (4, 8, 12):
            link = root / EEGMMIDB / f"S{s:03d}" / f"S{s:03d}R{r:02d}.edf"
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(src / ("S001/S001R04.edf" if s < 9 else "S009/S009R04.edf"))
    (root / "eegmat").mkdir()
    for s in range(3):  # no Subject03: that validation set is skipped
        for k in (1, 2):
            (root / "eegmat" / f"Subject{s:02d}_{k}.edf").symlink_to(
                shared / "eegmat" / "Subject00_1.edf")
    return root


def test_training_recipe_smoke(shared_data, tmp_path, capsys):
    """The recipe trains a tiny DAC, then a DAC-MC on it, and reports NMSE and bit/s."""
    from mne_codec.models import DACMC
    from mne_codec.training.dac import main

    data = _recipe_data(tmp_path, shared_data)
    common = ["--data", str(data), "--steps", "2", "--batch-size", "2", "--size", "tiny",
              "--max-recordings", "1", "--val-segments", "4", "--threads", "1", "--no-progress"]
    n = torch.get_num_threads()
    try:
        summary = main(["--model", "dac", "--out", str(tmp_path / "dac"), "--n-codebooks", "3",
                        "--codebook-size", "16", "--quantizer-warmup-steps", "1", *common])
        assert summary["steps"] == 2 and "eegmmidb/nmse_3" in summary["validation"]
        codec = load_codec(tmp_path / "dac" / "final")
        assert isinstance(codec, DAC) and codec.config.quantizer_dropout == 0.5
        # one step bypassed the quantizer, the second quantized
        assert codec.config.quantizer_warmup_steps == 1 and int(codec.quantizer.warmup_count) == 1
        summary = main(["--model", "dac_mc", "--init", str(tmp_path / "dac" / "final"),
                        "--out", str(tmp_path / "mc"), "--attention-dim", "8", "--heads", "2",
                        "--n-channels", "3", *common])
    finally:
        torch.set_num_threads(n)
    mc = load_codec(tmp_path / "mc" / "final")
    assert isinstance(mc, DACMC) and summary["steps"] == 2
    assert not mc.quantizer.warming_up  # DAC-MC starts from the warmed-up DAC
    out = capsys.readouterr().out
    assert "eegmmidb at step 0" in out and "eegmmidb after 2 steps" in out
    assert "levels  3:   300.0 bit/s per channel, NMSE" in out
    assert "eegmat: files absent, skipped" in out


# -- adversarial option (DAC's discriminators) ---------------------------------------
#: a cheap discriminator of DAC's layout for the tests (DAC's widths: 42 M parameters)
_SMALL_DISC = dict(period_channels=(4, 8, 8, 16, 16), band_channels=4, window_lengths=(128, 64))


def test_discriminator_shapes_on_an_eeg_crop():
    """Five period and three spectrogram discriminators on a 2560-sample crop."""
    from mne_codec.spectral import _dac_stft
    from mne_codec.training.discriminators import Discriminator

    torch.manual_seed(0)
    disc = Discriminator()
    assert len(disc.discriminators) == 8
    x = torch.randn(2, 1, 2560)
    with torch.no_grad():
        fmaps = disc(x)
    assert len(fmaps) == 8
    for period, maps in zip((2, 3, 5, 7, 11), fmaps[:5]):
        assert len(maps) == 6 and [m.shape[1] for m in maps] == [32, 128, 512, 1024, 1024, 1]
        assert all(m.shape[0] == 2 and m.shape[-1] == period for m in maps)
        assert maps[-1].shape[2] == maps[-2].shape[2] > 1
    for window, maps in zip((512, 256, 128), fmaps[5:]):
        assert len(maps) == 5 * 5 + 1  # five bands of five layers, then the score map
        score = maps[-1]
        assert score.shape[:3] == (2, 1, 2560 // (window // 4))  # ceil(n / hop) frames
        assert maps[0].shape[1:3] == (32, 2560 // (window // 4))
    assert all(torch.isfinite(m).all() for maps in fmaps for m in maps)
    # DAC's framing of the spectrogram: ceil(n / hop) frames, periodic Hann
    spec = _dac_stft(torch.randn(3, 1000), 128, match_stride=True)
    assert spec.shape == (3, 65, 32) and spec.is_complex()
    # channels are judged separately (folded into the batch)
    small = Discriminator(**_SMALL_DISC)
    with torch.no_grad():
        out = small(torch.randn(2, 3, 640))
    assert len(out) == 7 and all(maps[-1].shape[0] == 6 for maps in out)
    with pytest.raises(ValueError, match="no bin"):
        Discriminator(window_lengths=(8,))


def test_dac_loss_default_has_no_discriminator():
    from mne_codec.training import DACLoss

    torch.manual_seed(0)
    loss = DACLoss(sfreq=100.0)
    assert loss.adversary is None and loss.adversary_options == {}
    assert list(loss.state_dict()) == []
    codec = DAC(_small_config()).train()
    out = loss(codec, torch.randn(2, 1, 640))
    assert set(out) == {"total", "mel", "waveform", "quantizer"}
    with pytest.deprecated_call():  # the loss no longer owns an optimiser
        assert loss.discriminator_optimizer is None and loss.checkpoint_state() == {}
        with pytest.raises(ValueError, match="has none"):
            loss.load_checkpoint_state({"discriminator": {}, "optimizer": {}})


@pytest.mark.parametrize("model", ["dac", "dac_mc"])
def test_dac_loss_adversarial_step(model):
    """One step trains the discriminator; the generator terms reach the codec only."""
    from mne_codec.training import DACLoss

    torch.manual_seed(0)
    codec = DAC(_small_config())
    x = torch.randn(2, 3, 640)
    if model == "dac_mc":
        codec = _trained_like(_dacmc(codec))
        batch = (x, torch.tensor([[1, 2, 3]] * 2))
    else:
        batch = x[:, :1]
    codec.train()
    loss = DACLoss(sfreq=100.0, adversarial_weight=1.0, discriminator=_SMALL_DISC)
    assert any(k.startswith("discriminator.") for k in loss.state_dict())
    assert loss.adversary is loss.discriminator
    opts = loss.adversary_options
    assert opts == {"lr": 1e-4, "betas": (0.8, 0.99), "grad_clip": 10.0}
    opt = torch.optim.Adam(loss.adversary.parameters(), lr=opts["lr"], betas=opts["betas"])
    stepped = []

    def adversary_step(d_loss):  # what the Trainer does
        opt.zero_grad()
        d_loss.backward()
        opt.step()
        stepped.append(float(d_loss.detach()))

    before = {k: v.clone() for k, v in loss.discriminator.state_dict().items()}
    out = loss(codec, batch, adversary_step)
    assert stepped == [float(out["discriminator"])]
    assert set(out) == {"total", "mel", "waveform", "quantizer", "adversarial",
                        "feature_matching", "discriminator"}
    assert all(torch.isfinite(v) for v in out.values())
    terms = {k: float(v.detach()) for k, v in out.items()}
    assert terms["feature_matching"] > 0 and terms["adversarial"] > 0
    expected = (15.0 * terms["mel"] + terms["waveform"] + terms["quantizer"]
                + terms["adversarial"] + 2.0 * terms["feature_matching"])
    assert terms["total"] == pytest.approx(expected, rel=1e-5)
    changed = [k for k, v in loss.discriminator.state_dict().items()
               if not torch.equal(v, before[k])]
    assert changed  # the discriminator took its step
    d_grads = {n: p.grad.clone() for n, p in loss.discriminator.named_parameters()}
    enc = [p for n, p in codec.named_parameters() if n.startswith("encoder")]
    grads = torch.autograd.grad(out["adversarial"] + out["feature_matching"], enc,
                                retain_graph=True, allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    out["total"].backward()
    # the generator's backward leaves the discriminator's gradients as its own step left them
    for n, p in loss.discriminator.named_parameters():
        assert torch.equal(p.grad, d_grads[n]), n
        assert p.requires_grad
    # the former step() still trains the discriminator, with an optimiser of its own
    with pytest.deprecated_call(match="adversary_step"):
        old = loss.step(codec, batch)
    assert "loss" in old and "total" not in old
    with pytest.deprecated_call():
        assert len(loss.checkpoint_state()["optimizer"]["state"]) > 0


class _EEGLikeCrops(torch.utils.data.IterableDataset):
    """Fixed random crops (1, n_times), resumable as the trainer expects."""

    def __init__(self, n=8, n_times=640):
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 1, n_times, generator=gen)
        self.skip = 0

    def set_resume(self, step, batch_size):
        self.skip = (step * batch_size) % len(self.x)

    def __iter__(self):
        yield from self.x[self.skip:]


def _adversarial_run(out, steps, max_steps=None, resume=False):
    from mne_codec.training import DACLoss, TrainConfig, Trainer

    torch.manual_seed(0)
    codec = DAC(_small_config())
    loss = DACLoss(sfreq=100.0, adversarial_weight=1.0, discriminator=_SMALL_DISC)
    cfg = TrainConfig(lr=1e-3, betas=(0.8, 0.99), warmup_steps=1, total_steps=steps,
                      batch_size=2, log_every=1, val_every=None, checkpoint_every=None,
                      num_threads=1, progress=False)
    trainer = Trainer(codec, _EEGLikeCrops(), None, cfg, out, loss=loss, device="cpu",
                      save=lambda *args: None)
    trainer.fit(resume=resume, max_steps=max_steps)
    return codec, loss, trainer


def test_trainer_with_discriminator_resumes_exactly(tmp_path):
    n = torch.get_num_threads()
    try:
        ref, ref_loss, trainer = _adversarial_run(tmp_path / "a", 4)
        rows = [r for r in trainer.history if r["kind"] == "train"]
        assert len(rows) == 4 and all(np.isfinite(r["adversarial"]) for r in rows)
        state = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
        assert set(state["adversary"]) == {"module", "optimizer"}
        assert len(state["adversary"]["optimizer"]["state"]) > 0
        _, _, first = _adversarial_run(tmp_path / "b", 4, max_steps=2)
        assert first.step == 2
        # a checkpoint of the former layout (the discriminator under "loss") resumes alike
        old = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
        adversary = old.pop("adversary")
        old["loss"] = {"discriminator": adversary["module"], "optimizer": adversary["optimizer"]}
        (tmp_path / "c").mkdir()
        torch.save(old, tmp_path / "c" / "checkpoint.pt")
        resumed, resumed_loss, second = _adversarial_run(tmp_path / "b", 4, resume=True)
        from_old, from_old_loss, _ = _adversarial_run(tmp_path / "c", 4, resume=True)
    finally:
        torch.set_num_threads(n)
    assert second.step == 4
    for a, b in ((ref, resumed), (ref_loss, resumed_loss), (ref, from_old),
                 (ref_loss, from_old_loss)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        for key in sa:
            torch.testing.assert_close(sa[key], sb[key], rtol=0, atol=0, msg=key)


def test_training_recipe_adversarial_flags(shared_data, tmp_path, monkeypatch):
    """--adversarial-weight and --feature-matching-weight reach DACLoss (default: off)."""
    import mne_codec.training.dac as recipe
    import mne_codec.training.losses as losses
    from mne_codec.training.dac import main

    real, seen = losses.DACLoss, []

    class _Stop(Exception):
        pass

    def spy(**kwargs):
        if "adversarial_weight" in kwargs:  # the recipe's objective: stop before training
            seen.append(kwargs)
            raise _Stop
        return real(**kwargs)

    monkeypatch.setattr(recipe, "DACLoss", spy)  # the recipe's own name for the objective
    data = _recipe_data(tmp_path, shared_data)
    common = ["--model", "dac", "--out", str(tmp_path / "dac"), "--data", str(data), "--steps",
              "1", "--size", "tiny", "--max-recordings", "1", "--val-segments", "2",
              "--threads", "1", "--no-progress"]
    n = torch.get_num_threads()
    try:
        for extra in ([], ["--adversarial-weight", "1", "--feature-matching-weight", "3"]):
            with pytest.raises(_Stop):
                main(common + extra)
    finally:
        torch.set_num_threads(n)
    assert [(k["adversarial_weight"], k["feature_matching_weight"]) for k in seen] == [
        (0.0, 2.0), (1.0, 3.0)]


_DDP_ADVERSARIAL = """
import sys, torch
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.test_dac import DAC, _SMALL_DISC, _EEGLikeCrops, _small_config
from mne_codec.training import DACLoss, TrainConfig, Trainer

rank = int(__import__("os").environ["RANK"])
torch.manual_seed(0)
codec = DAC(_small_config())
torch.manual_seed(100 + rank)  # unrelated discriminators: rank 0's must be broadcast
loss = DACLoss(sfreq=100.0, adversarial_weight=1.0, discriminator=_SMALL_DISC)


class Shard(_EEGLikeCrops):
    def __iter__(self):
        yield from self.x[rank::2][self.skip // 2:]


cfg = TrainConfig(lr=1e-3, warmup_steps=1, total_steps=3, batch_size=2, log_every=1,
                  val_every=None, checkpoint_every=None, num_threads=1, progress=False)
Trainer(codec, Shard(), None, cfg, Path({out!r}) / "run", loss=loss, device="cpu",
        save=lambda *args: None).fit()
torch.save(loss.discriminator.state_dict(), Path({out!r}) / f"disc{{rank}}.pt")
torch.distributed.destroy_process_group()
"""


def test_discriminator_identical_across_ddp_ranks(tmp_path):
    """torchrun with 2 CPU ranks on different crops: the discriminators stay identical."""
    from pathlib import Path

    from .conftest import run_torchrun

    script = tmp_path / "ddp.py"
    script.write_text(_DDP_ADVERSARIAL.format(root=str(Path(__file__).parents[1]),
                                              out=str(tmp_path)))
    run_torchrun(["--standalone", script], timeout=120)
    s0 = torch.load(tmp_path / "disc0.pt", weights_only=True)
    s1 = torch.load(tmp_path / "disc1.pt", weights_only=True)
    for key in s0:
        torch.testing.assert_close(s0[key], s1[key], rtol=0, atol=0, msg=key)
