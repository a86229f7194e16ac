"""NeuroRVQ: parity with the authors' code on the same weights, channels, windows, loading."""

import pickle
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mne_codec.checkpoints import (
    CheckpointError,
    load_codec,
    load_neurorvq_checkpoint,
    neurorvq_state_from_authors,
)
from mne_codec.models import FAMILIES, NeuroRVQ, NeuroRVQConfig
from mne_codec.models.neurorvq import (
    NEURORVQ_CHANNELS,
    _eeg_rvq,
    map_channels,
    neurorvq_preprocessing,
    split_windows,
)
from mne_codec.preprocessing import Preprocessing, preprocess, restore
from mne_codec.quantization import ResidualVQ

from .conftest import DATA_DIR, assert_named_codes_equal_up_to_near_ties

REF_PT = DATA_DIR / "neurorvq_ref_small.pt"


def small_config():
    """The configuration of the committed reference (see tests/data/README.md)."""
    return NeuroRVQConfig(n_patches=16, out_chans=4, embed_dim=100, depth_encoder=1,
                          depth_decoder=1, num_heads=5, mlp_ratio=2,
                          rvq=replace(_eeg_rvq(), dim=16, codebook_size=32))


@pytest.fixture(scope="module")
def ref_small():
    return load_neurorvq_checkpoint(REF_PT, config=small_config())


def _relative_error(y, ref):
    return float(np.linalg.norm(y - ref) / np.linalg.norm(ref))


@pytest.mark.parametrize("case", ["a", "b"])
def test_parity_with_authors_code(ref_small, case):
    """Equal tokens per branch and level, reconstruction within 1e-5 relative."""
    ref = np.load(DATA_DIR / "neurorvq_ref_small.npz")
    x = torch.from_numpy(ref[f"x_{case}"])
    ch = [str(c) for c in ref[f"ch_names_{case}"]]
    with torch.no_grad():
        enc = ref_small.encode(x, ch)
        recon = ref_small.decode(enc.codes, enc.stats, ch)
        recon_fwd, codes_fwd, _ = ref_small(x, ch)
        latents, _, _, _ = ref_small._latents(x, ch)
    # the continuous encoder outputs (before quantisation)
    np.testing.assert_allclose(torch.stack(latents).numpy(), ref[f"latent_{case}"],
                               rtol=1e-5, atol=1e-5)
    b, c, n = x.shape
    assert enc.codes.shape == (b, c, 4 * 8, n // 200)
    np.testing.assert_array_equal(ref_small.reference_token_layout(enc.codes).numpy(),
                                  ref[f"tokens_{case}"])
    np.testing.assert_allclose(enc.stats.numpy(),
                               np.stack([ref[f"amp_mean_{case}"], ref[f"amp_std_{case}"]], 1),
                               rtol=1e-6)
    assert _relative_error(recon.numpy(), ref[f"recon_{case}"]) < 1e-5
    # the training forward (in eval) gives the same tokens and signal, and the
    # reference's window-standardised output
    assert torch.equal(codes_fwd, enc.codes)
    assert _relative_error(recon_fwd.numpy(), ref[f"recon_{case}"]) < 1e-5
    std = recon_fwd.reshape(b, -1)
    std = (std - std.mean(1, keepdim=True)) / std.var(1, keepdim=True).sqrt()
    assert _relative_error(std.reshape(ref[f"std_recon_{case}"].shape).numpy(),
                           ref[f"std_recon_{case}"]) < 1e-5


def test_fewer_levels_are_a_prefix(ref_small):
    ref = np.load(DATA_DIR / "neurorvq_ref_small.npz")
    x, ch = torch.from_numpy(ref["x_a"]), [str(c) for c in ref["ch_names_a"]]
    codec = NeuroRVQ(ref_small.config)
    codec.load_state_dict(ref_small.state_dict())
    codec.eval().set_num_codebooks(3)
    assert codec.bits_per_second == pytest.approx(4 * 3 * 5)  # 32 codes = 5 bits
    with torch.no_grad():
        enc = codec.encode(x, ch)
        y = codec.decode(enc.codes, enc.stats, ch, n_times=550)
    tokens = codec.reference_token_layout(enc.codes).numpy()
    np.testing.assert_array_equal(tokens, ref["tokens_a"][:, :3])
    assert y.shape == (2, 5, 550)


def test_transformer_in_groups_of_windows_is_bitwise_the_same(ref_small, monkeypatch):
    # without autograd the blocks run on groups of windows (cache, no page
    # faults); every operation is per window, and the latents must not change
    # by a bit, whatever the group size, with one montage or one per window
    from mne_codec.channels import channel_indices
    from mne_codec.models import neurorvq

    ref = np.load(DATA_DIR / "neurorvq_ref_small.npz")
    x, ch = torch.from_numpy(ref["x_a"]), [str(c) for c in ref["ch_names_a"]]
    x = torch.cat([x, 1.5 * x, -x])  # 6 windows
    _, idx = channel_indices(ch)
    per_item = torch.as_tensor(idx, dtype=torch.long)[None].expand(len(x), -1)
    with torch.no_grad():
        monkeypatch.setattr(neurorvq, "GROUP_TOKENS", 10 ** 9)
        whole = ref_small._latents(x, ch)[0]
        whole_items = ref_small._latents(x, per_item)[0]
        for tokens in [1, 10, 25, 60]:
            monkeypatch.setattr(neurorvq, "GROUP_TOKENS", tokens)
            for got, expected in [(ref_small._latents(x, ch)[0], whole),
                                  (ref_small._latents(x, per_item)[0], whole_items)]:
                assert all(torch.equal(a, b) for a, b in zip(got, expected))


def test_eval_is_read_only(ref_small):
    before = {k: v.clone() for k, v in ref_small.state_dict().items()}
    x = 20 * torch.randn(2, 3, 600)
    with torch.no_grad():
        enc = ref_small.encode(x, ["C3", "Cz", "C4"])
        ref_small.decode(enc.codes, enc.stats, ["C3", "Cz", "C4"])
        ref_small(x, ["C3", "Cz", "C4"])
    for k, v in ref_small.state_dict().items():
        assert torch.equal(v, before[k]), k
    # a fresh model in eval mode does not k-means-initialise on a forward either
    fresh = NeuroRVQ(small_config()).eval()
    with torch.no_grad():
        fresh(x, ["C3", "Cz", "C4"])
    assert all(layer.codebook.inited.item() == 0
               for q in fresh.quantizers for layer in q.layers)


def test_training_forward_losses_and_kmeans_init():
    torch.manual_seed(0)
    codec = NeuroRVQ(small_config()).train()
    x = 20 * torch.randn(2, 4, 800)
    recon, codes, losses = codec(x, ["Fp1", "Fp2", "O1", "O2"])
    assert recon.shape == x.shape and codes.shape == (2, 4, 32, 4)
    assert set(losses) == {"code", "amplitude", "phase", "time", "total"}
    assert all(torch.isfinite(v) for v in losses.values())
    losses["total"].backward()
    assert codec.encode_task_layer_1[0].weight.grad is not None
    assert codec.decode_task_layer_angle_cos[0].weight.grad is not None
    assert all(layer.codebook.inited.item() == 1 for q in codec.quantizers for layer in q.layers)
    # codebooks stay on the unit sphere (normalised EMA)
    norms = codec.quantize_2.layers[0].codebook.embed.norm(dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms))


def test_normalized_euclidean_distance_and_ties():
    from mne_codec.quantization import RVQConfig

    rvq = ResidualVQ(RVQConfig(dim=4, n_codebooks=1, codebook_size=3, codebook_dim=None,
                               distance="normalized_euclidean", kmeans_init=False)).eval()
    cb = rvq.layers[0].codebook
    # not unit norm: the ||e||^2 term matters ([2,0,0,0] is farther than [0.9,0.5,0,0])
    cb.embed.copy_(torch.tensor([[2.0, 0, 0, 0], [0.9, 0.5, 0, 0], [0.9, 0.5, 0, 0]]))
    z = torch.tensor([[3.0, 0, 0, 0]])[:, :, None]
    assert rvq.encode(z).item() == 1  # tie between rows 1 and 2: first index


def test_architecture_of_the_release():
    """Our model's names and shapes are the authors' 505 keys, codebooks renamed."""
    with torch.device("meta"):
        model = NeuroRVQ()
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {}
    for line in (DATA_DIR / "neurorvq_eeg_v1_keys.txt").read_text().splitlines():
        key, shape = line.split("\t")
        theirs[key] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    assert len(theirs) == 505
    state, dropped = neurorvq_state_from_authors(
        {k: torch.empty(s, device="meta") for k, s in theirs.items()})
    assert len(dropped) == 32 and all(k.endswith("embedding.cluster_size") for k in dropped)
    assert {k: tuple(v.shape) for k, v in state.items()} == own
    assert sum(p.numel() for p in model.parameters()) == 8_355_440  # trainable, as upstream
    assert sum(np.prod(s) for s in theirs.values()) == 75_988_624
    assert model.bits_per_second == pytest.approx(416.0)
    assert model.hop_length == 200 and model.sfreq == 200
    assert NeuroRVQ.side_bits_per_second(10) == pytest.approx(6.4)


def test_strict_loading(tmp_path):
    state = {k: v.float() for k, v in torch.load(REF_PT, weights_only=True).items()}
    assert len(state) == 284
    torch.save(state, tmp_path / "ok.pt")
    codec = load_neurorvq_checkpoint(tmp_path / "ok.pt", config=small_config())
    assert not codec.training
    # a missing key (also a missing k-means count)
    for drop in ["decoder.blocks.0.attn.q_bias", "quantize_3.layers.7.embedding.cluster_size"]:
        torch.save({k: v for k, v in state.items() if k != drop}, tmp_path / "missing.pt")
        with pytest.raises(CheckpointError, match="1 missing keys"):
            load_neurorvq_checkpoint(tmp_path / "missing.pt", config=small_config())
    # an unexpected key
    extra = dict(state, **{"encoder.head.weight": torch.zeros(1)})
    torch.save(extra, tmp_path / "extra.pt")
    with pytest.raises(CheckpointError, match="unexpected keys"):
        load_neurorvq_checkpoint(tmp_path / "extra.pt", config=small_config())
    extra = dict(state, **{"quantize_1.layers.0.embedding.bogus": torch.zeros(1)})
    torch.save(extra, tmp_path / "extra2.pt")
    with pytest.raises(CheckpointError, match="Unexpected NeuroRVQ codebook key"):
        load_neurorvq_checkpoint(tmp_path / "extra2.pt", config=small_config())
    # the full EEG config does not fit the small weights; without a config the
    # architecture is read from the file
    with pytest.raises(CheckpointError):
        load_neurorvq_checkpoint(tmp_path / "ok.pt", config=NeuroRVQConfig.eeg())
    assert load_neurorvq_checkpoint(tmp_path / "ok.pt").config == small_config()
    # not a checkpoint / not there / wrong checksum
    (tmp_path / "garbage.pt").write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_neurorvq_checkpoint(tmp_path / "garbage.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_neurorvq_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="Checksum mismatch"):
        load_neurorvq_checkpoint(REF_PT, config=small_config(), sha256="0" * 64)


def test_registry_and_round_trips(ref_small, tmp_path):
    from mne_codec.checkpoints import REGISTRY

    info = REGISTRY["neurorvq-eeg-v1"]
    assert info.family == "neurorvq" and "CC BY-NC 4.0" in info.license
    assert FAMILIES["neurorvq"] == (NeuroRVQ, NeuroRVQConfig)
    cfg = ref_small.config
    assert NeuroRVQConfig.from_dict(cfg.to_dict()) == cfg
    again = pickle.loads(pickle.dumps(ref_small))
    assert again.fingerprint() == ref_small.fingerprint()
    from mne_codec.checkpoints import save_codec

    save_codec(ref_small, tmp_path / "ours")
    assert load_codec(tmp_path / "ours").fingerprint() == ref_small.fingerprint()


# -- channels and windows ----------------------------------------------------------
def test_vocabulary():
    assert len(NEURORVQ_CHANNELS) == 104 == len(set(NEURORVQ_CHANNELS))
    assert list(NEURORVQ_CHANNELS) == sorted(NEURORVQ_CHANNELS)


def test_channel_mapping_and_aliases():
    picks, rows = map_channels(["FP1", "Cz", "EEG T3-REF", "Fc5.", "M1", "O2"])
    assert picks.tolist() == [0, 1, 2, 3, 4, 5]
    assert [NEURORVQ_CHANNELS[r] for r in rows] == ["fp1", "cz", "t3", "fc5", "a1", "o2"]
    # T3 and T7 are both in the vocabulary: each keeps its own embedding;
    # aliases apply to names missing from the vocabulary
    _, rows = map_channels(["T3", "T7", "t5", "P7"])
    assert [NEURORVQ_CHANNELS[r] for r in rows] == ["t3", "t7", "t5", "p7"]
    voc = [c for c in NEURORVQ_CHANNELS if c not in ("t7", "p8")]
    with pytest.raises(ValueError, match="same electrode"):
        map_channels(["T3", "T7"], vocabulary=voc)
    _, rows = map_channels(["T7", "P8"], vocabulary=voc)
    assert [voc[r] for r in rows] == ["t3", "t6"]


def test_unknown_channel_policy():
    with pytest.raises(ValueError, match="not in the NeuroRVQ electrode vocabulary"):
        map_channels(["Cz", "STI 014", "X9"])
    with pytest.warns(RuntimeWarning, match="dropped"):
        picks, rows = map_channels(["Cz", "STI 014", "Pz"], unknown="drop")
    assert picks.tolist() == [0, 2]
    with pytest.raises(ValueError, match="'raise', 'drop' or 'keep'"):
        map_channels(["Cz"], unknown="ignore")
    with pytest.raises(ValueError, match="No channel"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        map_channels(["X1"], unknown="drop")


@pytest.mark.parametrize("n_channels,n_times", [(19, 200 * 37), (64, 200 * 10 + 7), (1, 200 * 600),
                                                (104, 401), (3, 199)])
def test_split_windows_respects_the_budget(n_channels, n_times):
    windows = split_windows(n_channels, n_times)
    assert windows[0][0] == 0 and windows[-1][1] >= n_times > windows[-1][1] - 200
    sizes = [(stop - start) // 200 for start, stop in windows]
    assert all((stop - start) % 200 == 0 for start, stop in windows)
    assert all(n_channels * s <= 256 for s in sizes) and max(sizes) - min(sizes) <= 1
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:]))
    with pytest.raises(ValueError, match="exceed the budget"):
        split_windows(300, 1000)


def test_window_checks(ref_small):
    x = torch.randn(1, 5, 4 * 200)  # 20 tokens > 16 in the small config
    with pytest.raises(ValueError, match="exceed the budget"):
        ref_small.encode(x, ["C3", "C4", "Cz", "Pz", "Fz"])
    with pytest.raises(ValueError, match="multiple of the patch size"):
        ref_small.encode(torch.randn(1, 2, 300), ["C3", "C4"])
    with pytest.raises(ValueError, match="channel names"):
        ref_small.encode(torch.randn(1, 2, 200), ["C3"])
    with pytest.raises(ValueError, match="not in the NeuroRVQ"):
        ref_small.encode(torch.randn(1, 2, 200), ["C3", "EMG1"])


def test_preprocessing_recipe():
    prep = neurorvq_preprocessing()
    assert (prep.sfreq, prep.l_freq, prep.h_freq, prep.filter_order) == (200, 0.5, 44.5, 3)
    assert prep.notch_freqs == (50.0, 60.0, 100.0) and prep.scaling is None
    assert prep.clip == 500 and prep.unit_scale == 1e6
    assert Preprocessing.from_dict(prep.to_dict()) == prep
    # older dicts without unit_scale still load (volts)
    d = prep.to_dict()
    del d["unit_scale"]
    assert Preprocessing.from_dict(d).unit_scale == 1.0
    rng = np.random.default_rng(0)
    data = 20e-6 * rng.standard_normal((2, 3, 2500))
    data[0, 0, 1000] = 5e-3  # a 5 mV artefact is clipped at 500 uV
    x, center, scale = preprocess(data, 250.0, prep)
    assert x.shape == (2, 3, 2000) and np.abs(x).max() == pytest.approx(500)
    assert 5 < x[1].std() < 40  # microvolts
    back = restore(x, center, scale, prep, 250.0, 2500)
    assert back.shape == data.shape and np.abs(back).max() < 1e-3  # volts


def test_long_recording_in_windows_within_the_budget():
    """64 channels of an odd length: split, pad, encode, decode, stitch, trim."""
    import mne

    torch.manual_seed(0)
    cfg = replace(small_config(), n_patches=256)
    codec = NeuroRVQ(cfg).train()
    names = mne.channels.make_standard_montage("standard_1005").ch_names
    names = [n for n in names if n.lower() in NEURORVQ_CHANNELS][:63] + ["STI 014"]
    with torch.no_grad():  # calibrate the codebooks (k-means on a training forward)
        codec(20 * torch.randn(2, 16, 400), names[:16])
    codec.eval()
    n_times = 1037
    data = 20 * torch.randn(1, 64, n_times)
    with pytest.warns(RuntimeWarning, match="dropped"):
        picks, _ = map_channels(names, unknown="drop")
    x, ch = data[:, picks], [names[i] for i in picks]
    windows = split_windows(len(ch), n_times, cfg.patch_size, cfg.token_budget, cfg.n_patches)
    assert [(b - a) // 200 for a, b in windows] == [3, 3]  # 6 patches, <= 4 per window
    padded = F.pad(x, (0, windows[-1][1] - n_times))
    out = []
    with torch.no_grad():
        for start, stop in windows:
            enc = codec.encode(padded[..., start:stop], ch)
            assert enc.codes.shape == (1, 63, 32, 3) and enc.codes.max() < 32
            out.append(codec.decode(enc.codes, enc.stats, ch))
    recon = torch.cat(out, -1)[..., :n_times]
    assert recon.shape == (1, 63, n_times) and torch.isfinite(recon).all()


# -- through the scikit-learn transformers ---------------------------------------------
def _window_config(n_patches=64, codebook_size=32):
    """A small seeded-architecture NeuroRVQ with a 64-token budget."""
    return NeuroRVQConfig(n_patches=n_patches, out_chans=4, embed_dim=100, depth_encoder=1,
                          depth_decoder=1, num_heads=5, mlp_ratio=2,
                          rvq=replace(_eeg_rvq(), dim=16, codebook_size=codebook_size))


def _spread_codebooks(codec):
    """Seeded unit-norm codewords, as after training (k-means init leaves zeros)."""
    with torch.no_grad():
        for q in codec.quantizers:
            for layer in q.layers:
                cb = layer.codebook
                cb.embed.copy_(F.normalize(torch.randn_like(cb.embed), dim=1))
                cb.embed_avg.copy_(cb.embed)
                cb.inited.fill_(1)
    return codec


@pytest.fixture(scope="module")
def window_codec():
    torch.manual_seed(0)
    codec = _spread_codebooks(NeuroRVQ(_window_config()).eval())
    # all-zero codebooks would give only code 0: the tests below need real codes
    assert len(codec.quantize_1.layers[0].codebook.embed.unique(dim=0)) == 32
    return codec


def _eegmat_raw(shared_data, prepare=True):
    import mne

    from mne_codec.training.default import prepare_eegmat

    raw = mne.io.read_raw_edf(shared_data / "eegmat" / "Subject00_2.edf", preload=True,
                              verbose=False)
    return prepare_eegmat(raw) if prepare else raw


def test_coding_blocks_keep_the_token_budget(window_codec):
    """All channels together in whole-patch chunks; channel groups beyond the budget."""
    hop = window_codec.hop_length
    blocks = window_codec.coding_blocks(19, 5 * hop)
    assert blocks == [(0, 19, 0, 3 * hop), (0, 19, 3 * hop, 5 * hop)]
    blocks = window_codec.coding_blocks(64, 5 * hop + 7)  # a partial 6th patch
    assert [b[2:] for b in blocks] == [(k * hop, (k + 1) * hop) for k in range(6)]
    assert all(b[:2] == (0, 64) for b in blocks)
    blocks = window_codec.coding_blocks(150, 2 * hop)  # > 64 channels: 3 groups of 50
    assert {b[:2] for b in blocks} == {(0, 50), (50, 100), (100, 150)}
    for c0, c1, start, stop in blocks + window_codec.coding_blocks(19, 37 * hop):
        assert (c1 - c0) * (stop - start) // hop <= 64


@pytest.mark.parametrize("dataset", ["eegmat-19", "eegmmidb-64"])
def test_transformers_tokenize_and_reconstruct(window_codec, shared_data, dataset):
    """19 and 64 channels of any length: the estimators code the codec's sub-windows."""
    from mne_codec import CodecReconstructor, CodecTokenizer
    from mne_codec.preprocessing import band_limit

    from .conftest import _eegbci_raw

    if dataset == "eegmat-19":
        raw = _eegmat_raw(shared_data).crop(0, 37.3)
    else:
        raw = _eegbci_raw(shared_data, 1, [4]).crop(0, 37.3)
    n_ch = len(raw.ch_names)
    tok = CodecTokenizer(window_codec, output="tokens", window_s=5.0).fit(raw)
    tokens = tok.tokenize(raw)
    n_win = int(37.3 // 5)
    assert tokens.codes.shape == (n_win, n_ch, 4 * 8, 5)
    assert tokens.side.shape == (n_win, n_ch, 2, 5) and tokens.ch_names == raw.ch_names
    assert len(np.unique(tokens.codes)) > 16  # real codes, not one codeword
    # the tokens are the codec's own on each sub-window (all channels, whole patches):
    # 19 x 5 and 64 x 5 patches exceed the 64-token budget, so windows are split
    sfreq, prep = raw.info["sfreq"], window_codec.preprocessing
    filtered = band_limit(raw.get_data(), sfreq, prep)  # the Raw is filtered as a whole
    x, _, _ = preprocess(filtered[None, :, : int(5 * sfreq)], sfreq, prep, band_limited=True)
    blocks = window_codec.coding_blocks(n_ch, x.shape[-1])
    assert len(blocks) == (2 if n_ch == 19 else 5)
    direct = np.empty(x.shape, np.float32)
    for c0, c1, start, stop in blocks:
        with torch.no_grad():
            enc = window_codec.encode(torch.from_numpy(x[:, c0:c1, start:stop]),
                                      raw.ch_names[c0:c1])
            direct[:, c0:c1, start:stop] = window_codec.decode(
                enc.codes, enc.stats, raw.ch_names[c0:c1]).numpy()
        f0, f1 = start // 200, stop // 200
        assert_named_codes_equal_up_to_near_ties(  # other batch shapes: up to near-ties
            window_codec, x[:, c0:c1, start:stop], raw.ch_names[c0:c1], enc.codes.numpy(),
            tokens.codes[:1, c0:c1, :, f0:f1])
        np.testing.assert_allclose(tokens.side[:1, c0:c1, :, f0:f1],
                                   enc.stats.numpy()[:, None, :, None]
                                   .repeat(c1 - c0, 1).repeat(f1 - f0, 3), rtol=1e-5)
    np.testing.assert_array_equal(tok.tokenize(raw).codes, tokens.codes)  # deterministic
    # bits: 32 code rows of 5 bits per channel-second, side information once per sub-window
    assert tokens.bits_per_second == 32 * 5
    assert tokens.side_bits_per_second == pytest.approx(len(blocks) * 64 / (5.0 * n_ch))
    # volts back: the codec's own decoding of each sub-window, stitched and restored
    y = tok.inverse_transform(tokens)
    assert y.shape == (n_win, n_ch, 5 * int(sfreq))
    expected = restore(direct, tokens.center[:1], tokens.scale[:1], prep, sfreq, tokens.n_times)
    np.testing.assert_allclose(y[:1], expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    assert 0 < np.abs(y).max() < 1e-3  # volts, not microvolts
    # the whole recording through the reconstructor (blockwise, any length): the
    # whole windows are those of the tokens, the 2.3-s tail is coded padded
    rec = CodecReconstructor(window_codec).fit(raw).reconstruct(raw)
    assert rec.get_data().shape == raw.get_data().shape
    n_full = n_win * int(5 * sfreq)
    np.testing.assert_allclose(rec.get_data()[:, :n_full],
                               y.transpose(1, 0, 2).reshape(n_ch, n_full),
                               rtol=1e-5, atol=1e-6 * np.abs(y).max())
    assert np.isfinite(rec.get_data()[:, n_full:]).all()
    # embedding: each channel's quantized latents (4 branches x 16) averaged over time
    emb = CodecTokenizer(window_codec, output="embedding").fit_transform(raw)
    assert emb.shape == (n_win, n_ch * 4 * 16) and np.isfinite(emb).all()
    with torch.no_grad():
        z = window_codec.quantized(torch.from_numpy(tokens.codes[:1]).long())
    np.testing.assert_allclose(emb[:1], z.mean(-1).reshape(1, -1).numpy(), rtol=1e-5,
                               atol=1e-7)


@pytest.mark.filterwarnings("ignore:Flat")
def test_transformers_unknown_channels(window_codec, shared_data):
    """Unknown channel names raise, or are dropped with a warning and left untouched."""
    from mne_codec import CodecReconstructor, CodecTokenizer

    raw = _eegmat_raw(shared_data, prepare=False).crop(0, 12.0)
    raw.set_channel_types({"ECG ECG": "eeg"}, on_unit_change="ignore")
    raw.rename_channels({"ECG ECG": "X9"})
    raw.drop_channels(["EEG A2-A1"])  # not EEG by its name: left out before the codec
    with pytest.raises(ValueError, match="X9"):
        CodecTokenizer(window_codec).fit(raw)
    with pytest.warns(RuntimeWarning, match="dropped"):
        rec = CodecReconstructor(window_codec, unknown="drop").fit(raw)
    assert "X9" not in rec._coded_names() and len(rec.picks_) == len(raw.ch_names) - 1
    out = rec.reconstruct(raw)
    np.testing.assert_array_equal(out.get_data(picks="X9"), raw.get_data(picks="X9"))
    assert not np.allclose(out.get_data(picks="EEG Cz"), raw.get_data(picks="EEG Cz"))
    with pytest.raises(ValueError, match="unknown must be"):
        CodecTokenizer(window_codec, unknown="ignore").fit(raw)
    with pytest.raises(ValueError, match="arrays carry no channel names"):
        CodecTokenizer(window_codec, sfreq=200.0).fit(np.zeros((2, 3, 1000)))
    # dropped channels are not in the tokens; arrays are refused after a fit on MNE data
    # too (they would be coded by position, under the names seen in fit)
    with pytest.warns(RuntimeWarning, match="dropped"):
        tok = CodecTokenizer(window_codec, sfreq=500.0, unknown="drop", output="tokens").fit(raw)
    tokens = tok.tokenize(raw)
    assert tokens.ch_names == [c for c in raw.ch_names if c != "X9"]
    assert tokens.codes.shape[1] == len(raw.ch_names) - 1
    with pytest.raises(ValueError, match="arrays carry no channel names"):
        tok.transform(raw.get_data()[None, :, :2500])


def _decode_what_was_encoded(codec):
    """Make ``codec`` decode exactly what it encoded (an ideal decoder).

    Its heads are replaced by the true standardised ``log1p|FFT|`` and phase of
    the sub-windows it encoded, looked up by their side information; the
    amplitude statistics then alone set the scale of the output. Returns the
    list of sub-windows decoded this way.
    """
    memo, used, p = {}, [], codec.config.patch_size
    encode, decode = codec.encode, codec.decode

    def ideal_encode(x, ch_names):
        enc = encode(x, ch_names)
        b, c, n = x.shape
        log_amp, sin, cos = codec._spectrum(x.reshape(b, c * (n // p), p))
        amp = (log_amp - enc.stats[:, :1, None]) / enc.stats[:, 1:, None]
        for i in range(b):
            memo[enc.stats[i].numpy().tobytes()] = (amp[i], sin[i], cos[i])
        return enc

    def ideal_decode(codes, ch_names=None, n_times=None, side=None):
        stats = side
        keys = [s.numpy().tobytes() for s in stats]
        if not all(k in memo for k in keys):  # e.g. the memory probe
            return decode(codes, ch_names, n_times, side=stats)
        used.extend(keys)
        b, c, _, a = codes.shape
        heads = [torch.stack(h) for h in zip(*(memo[k] for k in keys))]
        y = codec._synthesise(*heads, stats, (b, c, a))
        return y[..., :n_times]

    codec.encode, codec.decode = ideal_encode, ideal_decode
    return used


def test_side_information_restores_volts(window_codec, shared_data):
    """With an ideal decoder, the tokens' side information gives back the input in volts.

    19 channels at 500 Hz in 4.1-s windows: 820 samples at 200 Hz, i.e. 4 patches and
    a partial one, coded as 3 + 2 patches (64-token budget), the last zero-padded.
    The output must be the codec's input (band-passed, resampled, microvolts)
    brought back to volts at 500 Hz; only the amplitude statistics carry the scale.
    """
    from mne_codec import CodecTokenizer
    from mne_codec.preprocessing import band_limit

    raw = _eegmat_raw(shared_data).crop(0, 12.3)
    sfreq, prep, n_ch = raw.info["sfreq"], window_codec.preprocessing, len(raw.ch_names)
    tok = CodecTokenizer(window_codec, output="tokens", window_s=4.1).fit(raw)
    used = _decode_what_was_encoded(tok.codec_)  # the estimator's own copy
    tokens = tok.tokenize(raw)
    assert tokens.n_times_codec == 820
    assert len(tok.codec_.coding_blocks(n_ch, 820)) == 2
    y = tok.inverse_transform(tokens)
    assert len(used) == 2 * 3  # every sub-window of every window decoded ideally
    n = tokens.n_times
    filtered = band_limit(raw.get_data(), sfreq, prep)[:, : 3 * n]
    windows = filtered.reshape(n_ch, 3, n).transpose(1, 0, 2)
    x, center, scale = preprocess(windows, sfreq, prep, band_limited=True)
    assert np.abs(x).max() < prep.clip  # no clipping: the round trip can be exact
    expected = restore(x, center, scale, prep, sfreq, n)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    # and that is the band-passed recording in volts (away from the edges, where
    # resampling each window on its own differs)
    mid = slice(n // 8, -n // 8)
    err = np.sum((y[..., mid] - windows[..., mid]) ** 2) / np.sum(windows[..., mid] ** 2)
    assert err < 1e-4
    assert 1e-6 < np.std(y) < 1e-4  # tens of microvolts, in volts


def test_channel_groups_beyond_the_budget(window_codec, mi_epochs):
    """More channels than the token budget: groups of consecutive channels, a patch each."""
    from mne_codec import CodecReconstructor, CodecTokenizer

    codec = NeuroRVQ(replace(window_codec.config, max_tokens=24)).eval()
    codec.load_state_dict(window_codec.state_dict())
    epochs = mi_epochs[:2]  # 64 channels, 641 samples at 160 Hz: 802 at 200 Hz
    n_ch = len(epochs.ch_names)
    blocks = codec.coding_blocks(n_ch, 802)
    assert sorted({b[:2] for b in blocks}) == [(0, 22), (22, 43), (43, 64)]
    assert len(blocks) == 3 * 5 and all(stop - start == 200 for _, _, start, stop in blocks)
    tok = CodecTokenizer(codec, output="tokens").fit(epochs)
    tokens = tok.tokenize(epochs)
    assert tokens.codes.shape == (2, n_ch, 32, 5) and tokens.side.shape == (2, n_ch, 2, 5)
    # each group is coded on its own: its codes do not depend on the other groups
    x, _, _ = preprocess(epochs.get_data(), epochs.info["sfreq"], codec.preprocessing)
    xp = F.pad(torch.from_numpy(x), (0, 1000 - x.shape[-1]))
    for c0, c1, start, stop in blocks:
        with torch.no_grad():
            enc = codec.encode(xp[:, c0:c1, start:stop], epochs.ch_names[c0:c1])
        f = start // 200
        # the tokenizer coded every block in one batch: equal up to float near-ties
        assert_named_codes_equal_up_to_near_ties(
            codec, xp[:, c0:c1, start:stop].numpy(), epochs.ch_names[c0:c1],
            enc.codes.numpy(), tokens.codes[:, c0:c1, :, f:f + 1])
    # the comparison fails on a real difference (a code that is no near-tie)
    bad = enc.codes.numpy().copy()
    bad[0, 0, 0, 0] = (bad[0, 0, 0, 0] + 1) % codec.codebook_size
    with pytest.raises(AssertionError, match="codes differ at level 0"):
        assert_named_codes_equal_up_to_near_ties(
            codec, xp[:, c0:c1, start:stop].numpy(), epochs.ch_names[c0:c1],
            enc.codes.numpy(), bad)
        np.testing.assert_allclose(tokens.side[:, c0, :, f], enc.stats.numpy(), rtol=1e-6)
    assert tokens.side_bits_per_second == pytest.approx(15 * 64 / (641 / 160 * n_ch))
    out = CodecReconstructor(codec).fit(epochs).reconstruct(epochs)
    assert out.get_data().shape == epochs.get_data().shape
    assert np.isfinite(out.get_data()).all()


def test_sub_windows_and_side_bits_of_the_release():
    """The documented figures for the authors' config: 256-token budget, 5-s windows."""
    from mne_codec import Tokens

    with torch.device("meta"):
        model = NeuroRVQ()
    assert model.coding_blocks(19, 1000) == [(0, 19, 0, 1000)]
    assert model.coding_blocks(64, 1000) == [(0, 64, 0, 600), (0, 64, 600, 1000)]
    assert [b[:2] for b in model.coding_blocks(300, 200)] == [(0, 150), (150, 300)]
    bits = {}
    for n_ch in (19, 64):
        blocks = model.coding_blocks(n_ch, 1000)
        side = np.zeros((3, n_ch, 2, 5), np.float32)
        for w in range(3):
            for k, (c0, c1, start, stop) in enumerate(blocks):
                side[w, c0:c1, :, start // 200:stop // 200] = [[w + 0.5], [k + 1.0]]
        tokens = Tokens(codes=np.zeros((3, n_ch, 32, 5), np.int16), center=np.zeros((3, n_ch)),
                        scale=np.ones((3, n_ch)), ch_names=None, sfreq=200.0, n_times=1000,
                        n_times_codec=1000, onsets_s=np.arange(3) * 5.0,
                        codec=dict(frame_rate=1.0, codebook_size=8192), side=side)
        assert tokens.bits_per_second == 416
        bits[n_ch] = tokens.side_bits_per_second
    assert bits[19] == pytest.approx(64 / (5 * 19))  # 0.67 bit/s per channel
    assert bits[64] == pytest.approx(2 * 64 / (5 * 64))  # 0.40 bit/s per channel


def test_tokens_with_side_information_round_trip(window_codec, shared_data, tmp_path):
    """Side information is saved, read, concatenated and cached losslessly."""
    from mne_codec import CodecTokenizer, Tokens, read_tokens

    raw = _eegmat_raw(shared_data).crop(0, 20.0)
    tok = CodecTokenizer(window_codec, output="tokens", memory=str(tmp_path / "cache")).fit(raw)
    tokens = tok.tokenize(raw)
    cached = tok.tokenize(raw)  # from the disk cache
    np.testing.assert_array_equal(cached.side, tokens.side)
    np.testing.assert_array_equal(cached.codes, tokens.codes)
    back = read_tokens(tokens.save(tmp_path / "tok.npz"))
    assert back.side.dtype == np.float32
    np.testing.assert_array_equal(back.side, tokens.side)
    np.testing.assert_array_equal(tok.inverse_transform(back), tok.inverse_transform(tokens))
    both = Tokens.concatenate([tokens, back])
    assert both.side.shape[0] == 2 * tokens.side.shape[0]
    with pytest.raises(ValueError, match="side information"):
        tok.inverse_transform(tokens.codes)  # bare codes cannot be decoded
    with pytest.raises(ValueError, match="side must have shape"):
        Tokens(**{**tokens.__dict__, "side": tokens.side[:, :, :, :2]})


def test_histogram_of_large_codebooks_is_refused(shared_data):
    from mne_codec import CodecTokenizer

    torch.manual_seed(0)
    codec = NeuroRVQ(_window_config(codebook_size=8192)).eval()
    raw = _eegmat_raw(shared_data).crop(0, 5.0)
    with pytest.raises(ValueError, match="use output='embedding'"):
        CodecTokenizer(codec, output="histogram").fit_transform(raw)


# -- training -------------------------------------------------------------------------
def test_training_on_montage_crops(shared_data, tmp_path):
    """A few steps on real multi-channel crops lower the loss; eval is read-only."""
    from mne_codec.checkpoints import load_codec
    from mne_codec.training import (
        MontageCrops,
        NeuroRVQLoss,
        TrainConfig,
        Trainer,
        fixed_montage_crops,
        validation_metrics,
    )
    from mne_codec.training.default import _Prepare, eegmmidb_files

    torch.manual_seed(0)
    cfg = replace(_window_config(), canonical_names=True)
    cfg = replace(cfg, rvq=replace(cfg.rvq, n_codebooks=2, codebook_size=16))
    codec = NeuroRVQ(cfg)
    files = eegmmidb_files(shared_data, (1,), runs=(4,))
    data = MontageCrops(files, codec, n_channels=4, segment_s=4.0, prepare_raw=_Prepare(),
                        crops_per_recording=200, seed=0)
    val = fixed_montage_crops(files, codec, n_channels=4, segment_s=4.0,
                              prepare_raw=_Prepare(), max_segments=8)
    config = TrainConfig(lr=2e-3, betas=(0.9, 0.99), warmup_steps=2, total_steps=25,
                         batch_size=8, log_every=1, val_every=None, checkpoint_every=None,
                         num_threads=1, progress=False)
    trainer = Trainer(codec, data, {"val": val}, config, tmp_path, loss=NeuroRVQLoss())
    trainer.fit()
    rows = [r for r in trainer.history if r["kind"] == "train"]
    assert {"amplitude", "phase", "time", "code", "loss"} <= set(rows[0])
    assert all(np.isfinite(r["loss"]) for r in rows)
    first = np.mean([r["loss"] for r in rows[:5]])
    last = np.mean([r["loss"] for r in rows[-5:]])
    assert last < 0.9 * first
    val_row = [r for r in trainer.history if r["kind"] == "val"][-1]
    assert 0 < val_row["val/nmse_2"] <= val_row["val/nmse_1"] * 1.05
    # evaluation leaves every buffer as it was (no EMA update, no k-means)
    before = {k: v.clone() for k, v in codec.state_dict().items()}
    metrics = validation_metrics(codec, val)
    after = codec.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert metrics["nmse_2"] == pytest.approx(val_row["val/nmse_2"])
    # the recipe's own copy is a deprecated alias of the one function
    from mne_codec.training import neurorvq

    with pytest.deprecated_call(match="mne_codec.training.validation_metrics"):
        assert neurorvq.validation_metrics(codec, val) == metrics
    # the final model loads by path and codes named channels like the trained one
    loaded = load_codec(tmp_path / "final")
    assert loaded.config.canonical_names
    x, ch_ix = val
    with torch.no_grad():
        np.testing.assert_array_equal(loaded.eval().encode(x, ch_ix).codes,
                                      codec.eval().encode(x, ch_ix).codes)
    # names read through the 10-05 vocabulary: T3 and T7 share the trained embedding
    names = ["T3", "Cz", "Pz", "O1"]
    with torch.no_grad():
        a = codec.encode(x[:1], names).codes
        b = codec.encode(x[:1], ["T7", "Cz", "Pz", "O1"]).codes
    np.testing.assert_array_equal(a, b)


def test_configs_express_other_modalities():
    """Patch size, kernels and depth of the RVQ are free: an ECG-like configuration."""
    cfg = NeuroRVQConfig(patch_size=40, n_patches=600, out_chans=8, embed_dim=40,
                         branch_kernels=((9, 5), (5, 3)), num_heads=4, depth_encoder=1,
                         depth_decoder=1, rvq=replace(_eeg_rvq(), dim=8, n_codebooks=16,
                                                      codebook_size=64))
    codec = NeuroRVQ(cfg).eval()
    assert codec.n_branches == 2 and codec.max_codebooks == 16
    x = torch.randn(2, 3, 40 * 50)
    with torch.no_grad():
        enc = codec.encode(x, ["Cz", "Pz", "Fz"])
        y = codec.decode(enc.codes, enc.stats, ["Cz", "Pz", "Fz"])
    assert enc.codes.shape == (2, 3, 2 * 16, 50) and y.shape == x.shape


# -- the ECG, EMG and PPG tokenizers ----------------------------------------------------
_MODALITIES = {
    # modality: (channel names as recorded, MNE type, native rate, the authors' facts:
    # rate, patch, time table, levels, kernels, vocabulary size)
    "ecg": (["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"], "ecg",
            500.0, (200.0, 40, 600, 8, ((21, 9), (15, 7), (9, 5), (5, 3)), 15)),
    "emg": ([f"EMG c{i}" for i in range(1, 17)], "emg", 2000.0,
            (1000.0, 200, 256, 16, ((51, 25), (17, 9), (8, 4), (5, 3)), 16)),
    "ppg": (["PPG_C1"], "misc", 125.0,
            (100.0, 80, 12, 8, ((41, 17), (31, 13), (17, 9), (9, 5)), 1)),
}


def _tiny(modality, seed=0):
    """A seeded-random tokenizer of ``modality``: its vocabulary, rate, patches and kernels."""
    full = NeuroRVQConfig.for_modality(modality)
    cfg = NeuroRVQConfig.for_modality(modality, depth_encoder=1, depth_decoder=1,
                                      rvq=replace(full.rvq, dim=8, codebook_size=16))
    torch.manual_seed(seed)
    codec = NeuroRVQ(cfg).eval()
    with torch.no_grad():
        for q in codec.quantizers:
            for layer in q.layers:
                layer.codebook.embed.copy_(F.normalize(torch.randn_like(layer.codebook.embed),
                                                       dim=-1))
                layer.codebook.inited.fill_(1.0)
    return codec


@pytest.mark.parametrize("modality", sorted(_MODALITIES))
def test_modality_presets_are_the_authors(modality):
    """Rate, patch, time table, levels, kernels and vocabulary of the authors' v1 tokenizers."""
    _, _, _, (sfreq, patch, n_patches, levels, kernels, n_channels) = _MODALITIES[modality]
    cfg = NeuroRVQConfig.for_modality(modality)
    assert cfg.modality == modality and cfg.preprocessing.sfreq == sfreq
    assert (cfg.patch_size, cfg.n_patches, cfg.rvq.n_codebooks) == (patch, n_patches, levels)
    assert cfg.branch_kernels == kernels and cfg.embed_dim == patch  # 8 maps / 8 pooling
    assert len(cfg.channels) == n_channels == cfg.n_global_electrodes
    assert (cfg.rvq.codebook_size, cfg.rvq.dim, cfg.depth_encoder) == (8192, 128, 12)
    assert NeuroRVQConfig.from_dict(cfg.to_dict()) == cfg
    with torch.device("meta"):
        model = NeuroRVQ(cfg)
    assert model.sfreq == sfreq and model.hop_length == patch
    assert model.n_code_rows == 4 * levels


@pytest.mark.parametrize("modality", sorted(_MODALITIES))
def test_modality_tokenizers_on_seeded_weights(modality, tmp_path, monkeypatch):
    """Tokenize and decode a signal of the modality's channels; load a saved tiny file by name."""
    from mne_codec.checkpoints import REGISTRY
    from mne_codec.models.neurorvq.convert import neurorvq_state_to_authors
    from mne_codec.pipeline import detokenize, tokenize

    names, _, native, _ = _MODALITIES[modality]
    codec = _tiny(modality)
    rng = np.random.default_rng(0)
    n_times = int(native * 9.6)  # whole patches at every rate (0.2 s, 0.8 s)
    data = 1e-4 * rng.standard_normal((2, len(names), n_times))
    tokens = tokenize(codec, data, native, names)
    budget = codec.config.token_budget
    assert tokens.codes.shape[:3] == (2, len(names), codec.n_code_rows)
    assert tokens.codes.min() >= 0 and tokens.codes.max() < 16
    assert tokens.n_times_codec == int(9.6 * codec.sfreq)
    assert all((c1 - c0) * (t1 - t0) // codec.hop_length <= budget
               for c0, c1, t0, t1 in codec.coding_blocks(len(names), tokens.n_times_codec))
    y = detokenize(codec, tokens)
    assert y.shape == data.shape and np.isfinite(y).all()
    # the authors' file format, put in the cache under the registered name
    name = f"neurorvq-{modality}-v1"
    monkeypatch.setenv("MNE_CODEC_DATA", str(tmp_path))
    torch.save(neurorvq_state_to_authors(codec.state_dict()), tmp_path / REGISTRY[name].filename)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the CC BY-NC warning, once per process
        loaded = load_codec(name)
    assert loaded.config == codec.config and loaded.name == name
    again = tokenize(loaded, data, native, names)
    np.testing.assert_array_equal(again.codes, tokens.codes)  # same process, same input
    assert (tmp_path / "checksums.json").exists()  # no published sha256: recorded at first use


def test_modality_mismatch_is_a_clear_error(tmp_path, monkeypatch):
    """ECG codec on EEG names, EEG codec on ECG leads, a file of another modality."""
    from mne_codec.checkpoints import REGISTRY
    from mne_codec.models.neurorvq.convert import neurorvq_state_to_authors

    ecg = _tiny("ecg")
    x = torch.randn(1, 3, 40 * 10)
    with pytest.raises(ValueError, match=r"NeuroRVQ ECG tokenizer.*avf, avl, avr.*"
                                         r"EEG channel names"):
        ecg.encode(x, ["Fz", "Cz", "Pz"])
    eeg = NeuroRVQ(small_config()).eval()
    with pytest.raises(ValueError, match=r"NeuroRVQ EEG tokenizer.*\['I', 'aVR', 'V1'\].*"
                                         r"ECG channel names.*neurorvq-ecg-v1"):
        eeg.encode(torch.randn(1, 3, 200 * 4), ["I", "aVR", "V1"])
    # drop leaves the known ones and warns, as for EEG
    with pytest.warns(RuntimeWarning, match="dropped"):
        assert ecg.pick_channels(["V1", "Cz", "II"], unknown="drop").tolist() == [0, 2]
    # the ECG file under the EMG name
    monkeypatch.setenv("MNE_CODEC_DATA", str(tmp_path))
    torch.save(neurorvq_state_to_authors(ecg.state_dict()),
               tmp_path / REGISTRY["neurorvq-emg-v1"].filename)
    with pytest.raises(CheckpointError, match="holds a ECG model.*registered as the EMG"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        load_codec("neurorvq-emg-v1")
    # a file of none of the four architectures
    state = neurorvq_state_to_authors(ecg.state_dict())
    state["encoder.pos_embed"] = torch.zeros(7, 40)
    state["decoder.pos_embed"] = torch.zeros(7, 40)
    torch.save(state, tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match="6 electrode rows.*none of the NeuroRVQ"):
        load_neurorvq_checkpoint(tmp_path / "odd.pt")


# -- braindecode's NeuroRVQTokenizer ------------------------------------------------------
@pytest.mark.parametrize("modality", ["eeg", "emg"])
def test_braindecode_layout_round_trip(modality):
    """Our state <-> braindecode's NeuroRVQTokenizer keys: the authors' but mlp.0/mlp.2."""
    from mne_codec.models.neurorvq.convert import (
        neurorvq_state_from_braindecode,
        neurorvq_state_to_authors,
        neurorvq_state_to_braindecode,
    )

    codec = NeuroRVQ(small_config()) if modality == "eeg" else _tiny("emg")
    ours = codec.state_dict()
    theirs = neurorvq_state_to_braindecode(ours)
    authors = neurorvq_state_to_authors(ours)
    assert set(theirs) == {k.replace(".mlp.fc1.", ".mlp.0.").replace(".mlp.fc2.", ".mlp.2.")
                           for k in authors}
    assert "encoder.blocks.0.mlp.0.weight" in theirs and "decoder.blocks.0.mlp.2.bias" in theirs
    assert not any(".fc1." in k or ".fc2." in k or ".codebook." in k for k in theirs)
    assert "quantize_1.layers.0.embedding.weight" in theirs
    assert "quantize_1.layers.0.embedding.cluster_size" in theirs
    back, dropped = neurorvq_state_from_braindecode(theirs)
    assert set(back) == set(ours) and all(torch.equal(back[k], ours[k].float()) for k in ours)
    assert len(dropped) == 4 * codec.max_codebooks
    # and a braindecode file loads as an authors' one
    loaded = NeuroRVQ.from_authors_state(theirs, "braindecode state")
    assert loaded.config == codec.config
    assert all(torch.equal(v, ours[k]) for k, v in loaded.state_dict().items())


def test_braindecode_token_parity():
    """Identical tokens to braindecode's NeuroRVQTokenizer on the same seeded weights."""
    bd_models = pytest.importorskip("braindecode.models", reason="braindecode is not installed")

    if not hasattr(bd_models, "NeuroRVQTokenizer"):
        pytest.skip("this braindecode has no NeuroRVQTokenizer (in its development branch, "
                    "new in 1.9): token parity is not testable here")
    from mne_codec.models.neurorvq.convert import neurorvq_state_to_braindecode

    names = ["C3", "Cz", "C4", "Pz"]
    codec = NeuroRVQ(NeuroRVQConfig.eeg(depth_encoder=1, depth_decoder=1,
                                        rvq=replace(_eeg_rvq(), codebook_size=64))).eval()
    with torch.no_grad():
        for q in codec.quantizers:
            for layer in q.layers:
                layer.codebook.embed.copy_(F.normalize(torch.randn_like(layer.codebook.embed),
                                                       dim=-1))
                layer.codebook.inited.fill_(1.0)
    theirs = bd_models.NeuroRVQTokenizer(n_chans=4, n_times=800, sfreq=200, channel_names=names,
                                         encoder_depth=1, decoder_depth=1, n_code=64).eval()
    theirs.load_state_dict(neurorvq_state_to_braindecode(codec.state_dict()))
    x = 50 * torch.randn(2, 4, 800)
    with torch.no_grad():
        ref = theirs.tokenize(x)  # (4 branches, levels, batch, channels * patches)
        ours = codec.reference_token_layout(codec.encode(x, names).codes)
    np.testing.assert_array_equal(ours.numpy(), ref.numpy())
