"""NeuroRVQ-FM: parity with the authors' code, their key layout, loading, masking.

The reference arrays ``tests/data/neurorvq_fm_ref_small.npz`` were made with the
authors' code (KonstantinosBarmpas/NeuroRVQ @ 14bd0ce, ``NeuroRVQ/NeuroRVQ.py``,
class ``NeuroRVQFM``, and ``create_embedding_ix``/``ch_names_global`` of
``inference/modules/NeuroRVQ_EEG_tokenizer_inference_modules.py``, unmodified,
CC BY-NC 4.0) imported from a scratch directory outside this repository
(torch 2.13 CPU, einops 0.8.2, one thread), by a throwaway script:

1. ``torch.manual_seed(0)``; their ``NeuroRVQFM(n_patches=16, patch_size=200,
   out_chans=4, embed_dim=100, depth=2, num_heads=5, mlp_ratio=2, qkv_bias=True,
   qk_norm=partial(nn.LayerNorm, eps=1e-6), init_values=1e-5, vocab_size=16,
   n_global_electrodes=104, use_as_encoder=True, use_for_pretraining=True)``; every
   parameter ``+= 0.05 * randn_like`` (in ``named_parameters()`` order, same RNG
   stream) so that no tensor stays at its 0/1 init, then every floating tensor
   rounded to float16 precision. The state is stored as ``state.<key>`` (float16,
   exact).
2. The same state loaded (``strict=False``, as their example does) into their
   fine-tuning model (``use_for_pretraining=False``), ``reset_classifier(0)``:
   ``features_*`` are the outputs of the last block for each branch (a forward
   hook; cls dropped), shape (4 branches, B, C*A, 100); ``pooled_*`` their
   fine-tuning output with ``fc_norm`` at its init (LayerNorm(400) of the mean
   over tokens of the concatenated branches).
3. ``torch.manual_seed(1)``; case ``a`` (Fp1, Cz, T3, O2, A1; B=2, A=3 patches) then
   ``b`` (C3, C4, Pz; B=1, A=5): ``x = sum_j a_j sin(2 pi f_j t + phase) + 10
   randn`` (f = 6, 11, 23 Hz, a = 40, 20, 8) and ``mask = rand(B, C*A) < 0.5``;
   ``logits_*, logits_sym_*`` = their pre-training forward
   ``model(x4, t_ix, s_ix, bool_masked_pos=mask, use_for_pretraining=True)``.

``tests/data/neurorvq_fm_v1_keys.txt``: every key and shape of their pre-training
model built with ``flags/NeuroRVQ_EEG_v1.yml`` (the layout of the released
``NeuroRVQ_EEG_foundation_model_v1.pt``; 330 keys, 58 560 632 parameters, 5 869 688
without the heads). Running the script twice gave the same file hashes.
"""

import numpy as np
import pytest
import torch

from mne_codec.checkpoints import (
    CheckpointError,
    load_neurorvq_fm,
    save_neurorvq_fm,
)
from mne_codec.models import NeuroRVQFM, NeuroRVQFMConfig
from mne_codec.models.neurorvq_fm import random_patch_mask

from .conftest import DATA_DIR

REF = DATA_DIR / "neurorvq_fm_ref_small.npz"


@pytest.fixture(scope="module")
def ref():
    return np.load(REF)


@pytest.fixture(scope="module")
def ref_state(ref):
    """The reference state dict, in the authors' layout (float16 values)."""
    return {k.removeprefix("state."): torch.from_numpy(ref[k]) for k in ref.files
            if k.startswith("state.")}


@pytest.fixture(scope="module")
def ref_pt(ref_state, tmp_path_factory):
    """The reference model saved as the authors save theirs: a plain ``state_dict()``."""
    path = tmp_path_factory.mktemp("fm") / "NeuroRVQ_fm_small.pt"
    torch.save(ref_state, path)
    return path


@pytest.fixture(scope="module")
def ref_model(ref_pt):
    return load_neurorvq_fm(ref_pt)


def test_default_config_has_the_authors_v1_key_layout():
    expected = {}
    for line in (DATA_DIR / "neurorvq_fm_v1_keys.txt").read_text().splitlines():
        key, shape = line.split(" ", 1)
        expected[key] = shape
    model = NeuroRVQFM()
    assert {k: str(tuple(v.shape)) for k, v in model.state_dict().items()} == expected
    n_params = sum(p.numel() for p in model.parameters())
    n_heads = sum(p.numel() for h in model.heads for p in h.parameters())
    assert (n_params, n_params - n_heads) == (58_560_632, 5_869_688)
    # the encoder only (fine-tuning): the same keys less the heads
    enc = NeuroRVQFM(NeuroRVQFMConfig(n_targets=0))
    assert set(enc.state_dict()) == {k for k in expected if not k.startswith("head_pre_")}


def test_loader_reads_the_architecture_and_loads_strictly(ref_model, ref_state, ref_pt,
                                                          tmp_path):
    cfg = ref_model.config
    assert (cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.out_chans, cfg.n_patches) == (
        100, 2, 5, 4, 16)
    assert (cfg.mlp_ratio, cfg.vocab_size, cfg.n_targets, cfg.init_values) == (2.0, 16, 32, 1e-5)
    assert not ref_model.training
    for key, value in ref_model.state_dict().items():
        torch.testing.assert_close(value, ref_state[key].float(), rtol=0, atol=0)
    # one key missing, one extra, a wrong shape: refused
    for name, bad in [("missing", {k: v for k, v in ref_state.items() if k != "norm_pre.bias"}),
                      ("extra", {**ref_state, "fc_norm.weight": torch.ones(400)}),
                      ("shape", {**ref_state, "mask_token": torch.zeros(1, 1, 99)})]:
        path = tmp_path / f"{name}.pt"
        torch.save(bad, path)
        with pytest.raises(CheckpointError):
            load_neurorvq_fm(path, config=cfg)
    # without the prediction heads (all of them): the encoder alone
    path = tmp_path / "encoder.pt"
    torch.save({k: v for k, v in ref_state.items() if not k.startswith("head_pre_")}, path)
    enc = load_neurorvq_fm(path)
    assert enc.config.n_targets == 0 and not enc.heads
    with pytest.raises(CheckpointError, match="does not exist"):
        load_neurorvq_fm(tmp_path / "absent.pt")


@pytest.mark.parametrize("case", ["a", "b"])
def test_parity_with_authors_code(ref_model, ref, case):
    """Encoder features, fine-tuning output and masked logits equal theirs within 1e-5."""
    x = torch.from_numpy(ref[f"x_{case}"])
    ch = [str(c) for c in ref[f"ch_names_{case}"]]
    mask = torch.from_numpy(ref[f"mask_{case}"])
    with torch.no_grad():
        feats = ref_model.features(x, ch)
        logits, logits_sym = ref_model(x, ch, mask)
    b, c, n = x.shape
    d = ref_model.config.embed_dim
    assert feats.shape == (b, c * n // 200, 4 * d)
    per_branch = feats.reshape(b, -1, 4, d).permute(2, 0, 1, 3).numpy()
    np.testing.assert_allclose(per_branch, ref[f"features_{case}"], rtol=1e-5, atol=1e-5)
    pooled = torch.nn.functional.layer_norm(feats.mean(1), (4 * d,))
    np.testing.assert_allclose(pooled.numpy(), ref[f"pooled_{case}"], rtol=1e-5, atol=1e-5)
    assert logits.shape == (32, int(mask.sum()), 16)
    assert logits_sym.shape == (32, int((~mask).sum()), 16)
    np.testing.assert_allclose(logits.numpy(), ref[f"logits_{case}"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(logits_sym.numpy(), ref[f"logits_sym_{case}"], rtol=1e-5,
                               atol=1e-5)


def test_vocabulary_indices_give_the_names_embedding(ref_model, ref):
    """Per-item montages as vocabulary indices (MontageCrops) equal the names' result."""
    from mne_codec.channels import CHANNEL_VOCABULARY, normalize_channel_name

    x = torch.from_numpy(ref["x_b"])
    names = [str(c) for c in ref["ch_names_b"]]
    lookup = {normalize_channel_name(v): i for i, v in enumerate(CHANNEL_VOCABULARY)}
    ix = torch.tensor([[lookup[normalize_channel_name(n)] for n in names]])
    with torch.no_grad():
        torch.testing.assert_close(ref_model.features(x, ix), ref_model.features(x, names))
    with pytest.raises(ValueError, match="budget"):
        ref_model.features(torch.zeros(1, 3, 200 * 6), names)  # 18 tokens > 16


def test_save_and_load_our_format(ref_model, tmp_path):
    path = save_neurorvq_fm(ref_model, tmp_path / "fm", meta={"note": "test"})
    again = load_neurorvq_fm(path)
    assert again.config == ref_model.config and again.meta == {"note": "test"}
    for key, value in ref_model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])


def test_random_patch_mask():
    gen = torch.Generator().manual_seed(0)
    mask = random_patch_mask(64, 30, 0.4, generator=gen)
    assert mask.dtype == torch.bool and mask.shape == (64, 30)
    assert (mask.sum(1) == 12).all()
    # uniform over positions: every position masked in about 40 % of items
    freq = random_patch_mask(4000, 30, 0.4, generator=gen).float().mean(0)
    assert float((freq - 0.4).abs().max()) < 0.05
    # at least one masked and one visible token
    assert random_patch_mask(3, 2, 0.01).sum(1).tolist() == [1, 1, 1]
    assert random_patch_mask(3, 2, 0.99).sum(1).tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="mask_ratio"):
        random_patch_mask(2, 5, 1.0)


def test_layer_ids_and_init():
    model = NeuroRVQFM(NeuroRVQFMConfig(out_chans=4, embed_dim=100, depth=3, num_heads=5,
                                        vocab_size=8, n_targets=4))
    ids = {n: model.layer_id(n) for n, _ in model.named_parameters()}
    assert ids["patch_embed.conv1_1.weight"] == ids["pos_embed"] == ids["cls_token"] == 0
    assert ids["blocks.0.attn.qkv.weight"] == 1 and ids["blocks.2.gamma_2"] == 3
    assert ids["norm_pre.weight"] == ids["head_pre_4.bias"] == 4
    assert [model.config.head_branch(j) for j in range(4)] == [0, 1, 2, 3]
    # layer scale starts at 1e-5; output projections scaled by 1/sqrt(2 l) at init
    assert torch.all(model.blocks[1].gamma_1 == 1e-5)
    std = [float(b.mlp.fc2.weight.detach().std()) for b in model.blocks]
    assert std[0] > std[1] > std[2]


# -- pre-training ---------------------------------------------------------------------
def _tiny_fm(n_targets, vocab_size, depth=1, seed=0):
    torch.manual_seed(seed)
    return NeuroRVQFM(NeuroRVQFMConfig(out_chans=4, embed_dim=100, depth=depth, num_heads=5,
                                       n_patches=16, vocab_size=vocab_size, n_targets=n_targets,
                                       canonical_names=True))


@pytest.fixture(scope="module")
def eeg_crops(shared_data):
    """Fixed 8-channel 2-s crops of EEGMMIDB S001 run 4, as the FM reads them."""
    from mne_codec.training import fixed_montage_crops
    from mne_codec.training.default import prepare_eegbci

    from .conftest import _eegbci_raw

    raw = _eegbci_raw(shared_data, 1, [4]).crop(0, 60.0)
    return fixed_montage_crops([raw], NeuroRVQFM(NeuroRVQFMConfig(n_targets=0)), n_channels=8,
                               segment_s=2.0, prepare_raw=prepare_eegbci, max_segments=24)


def test_targets_of_a_channel_independent_codec(eeg_crops):
    from mne_codec.preprocessing import prepare_windows
    from mne_codec.training import MaskedTokenLoss

    from .conftest import make_tiny_codec

    codec = make_tiny_codec()  # 100 Hz, hop 4: 25 frames per 1-s patch, 3 levels of 16
    loss = MaskedTokenLoss(codec, frames_per_patch=4)
    n_rows, levels = loss.target_layout(1.0)
    assert (n_rows, levels) == (12, [0] * 4 + [1] * 4 + [2] * 4)
    fm = _tiny_fm(n_rows, 16)
    x, ch = eeg_crops[0][:3], eeg_crops[1][:3]
    targets = loss.targets(fm, x, ch)
    assert targets.shape == (3, 8 * 2, 12)
    # by hand: the codes of the windows in volts at 100 Hz, frames 3, 9, 15, 21 of each patch
    codes = codec.encode(prepare_windows(x / 1e6, 200, codec.preprocessing))
    assert codes.shape == (3, 8, 3, 50)
    for c, a, q, i in [(0, 0, 0, 0), (7, 1, 2, 3), (3, 1, 1, 2)]:
        frame = int((a + (i + 0.5) / 4) * 25)
        assert torch.equal(targets[:, c * 2 + a, q * 4 + i], codes[:, c, q, frame])
    # the training step's autocast (bf16 on GPU) does not reach the target codec
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(loss.targets(fm, x, ch), targets)
    with pytest.raises(ValueError, match="frames_per_patch"):
        MaskedTokenLoss(codec, frames_per_patch=26).target_layout(1.0)
    assert not any(p.requires_grad for p in loss.tokenizer.parameters())
    loss.train()
    assert not loss.tokenizer.training


def test_targets_of_neurorvq_are_its_tokens(eeg_crops):
    from mne_codec.checkpoints import load_neurorvq_checkpoint
    from mne_codec.training import MaskedTokenLoss

    from .test_neurorvq import REF_PT, small_config

    tok = load_neurorvq_checkpoint(REF_PT, config=small_config())
    tok.config.canonical_names = True  # channel indices from the 10-05 vocabulary
    loss = MaskedTokenLoss(tok)
    n_rows, levels = loss.target_layout(1.0)
    assert n_rows == 32 and levels == list(range(8)) * 4
    x, ch = eeg_crops[0][:2], eeg_crops[1][:2]
    targets = loss.targets(_tiny_fm(32, 32), x, ch)
    codes = tok.encode(x, ch).codes  # (B, C, 32, A)
    assert torch.equal(targets, codes.permute(0, 1, 3, 2).reshape(2, 16, 32))


def test_masked_token_loss_trains_and_validates(eeg_crops):
    """On real crops, a few steps lower the loss; validation counts every token once."""
    from mne_codec.training import MaskedTokenLoss

    from .conftest import make_tiny_codec

    loss = MaskedTokenLoss(make_tiny_codec(), frames_per_patch=2)
    fm = _tiny_fm(6, 16)
    x, ch = eeg_crops
    before = loss.validate(fm, (x, ch), batch_size=8)
    assert loss.validate(fm, (x, ch), batch_size=8) == before  # fixed masks
    # the majority baseline by hand: each row's most frequent code
    targets = loss.targets(fm, x, ch).reshape(-1, 6)
    top = [float(torch.bincount(targets[:, r]).max()) / len(targets) for r in range(6)]
    assert before["majority_level_2"] == pytest.approx((top[2] + top[3]) / 2)
    freq = [torch.bincount(targets[:, r], minlength=16).double() / len(targets) for r in (4, 5)]
    entropy = [float(-(f[f > 0] * f[f > 0].log()).sum()) for f in freq]
    assert before["unigram_ce_level_3"] == pytest.approx(sum(entropy) / 2)
    assert before["ce"] == pytest.approx(before["loss"] / 2, rel=0.05)  # loss: 2 passes
    assert before["loss"] == pytest.approx(2 * np.log(16), rel=0.1)  # near-uniform at init
    opt = torch.optim.Adam(fm.parameters(), lr=2e-3)
    torch.manual_seed(0)
    fm.train()
    for _ in range(10):
        out = loss(fm, (x[:16], ch[:16]))
        opt.zero_grad()
        out["total"].backward()
        opt.step()
    after = loss.validate(fm, (x, ch), batch_size=8)
    assert fm.training  # validate restores the mode
    assert after["loss"] < before["loss"] - 0.3, (before, after)
    assert set(out) == {"total", "masked", "symmetric", "accuracy"}
    # targets given in the batch (a pre-coded pool) give the same step
    fm.eval()
    torch.manual_seed(1)
    a = loss(fm, (x[:4], ch[:4]))
    torch.manual_seed(1)
    b = loss(fm, (x[:4], ch[:4], loss.targets(fm, x[:4], ch[:4])))
    assert float(a["total"].detach()) == float(b["total"].detach())
    torch.manual_seed(1)
    with pytest.deprecated_call(match="loss\\(model, batch\\)"):
        assert float(loss.step(fm, (x[:4], ch[:4]))["loss"].detach()) == float(a["total"].detach())


def test_pretraining_recipe_smoke(shared_data, tmp_path, capsys):
    """The recipe pre-trains a 1-block FM on a tiny target codec (a pre-coded pool) and saves it."""
    from mne_codec.checkpoints import save_codec
    from mne_codec.training.neurorvq_fm import main

    from .conftest import make_tiny_codec
    from .test_dac import _recipe_data

    data = _recipe_data(tmp_path, shared_data)
    target = save_codec(make_tiny_codec(), tmp_path / "tiny")
    n = torch.get_num_threads()
    try:
        summary = main(["--out", str(tmp_path / "fm"), "--steps", "2", "--data", str(data),
                        "--target", str(target), "--frames-per-patch", "2", "--depth", "1",
                        "--batch-size", "4", "--val-every", "2", "--val-segments", "4",
                        "--target-pool", "1", "--threads", "1", "--no-progress"])
    finally:
        torch.set_num_threads(n)
    assert summary["steps"] == 2
    val = summary["validation"]
    assert {"eegmmidb/loss", "eegmmidb/acc_level_3", "eegmmidb/majority_level_3",
            "eegmmidb/ce_level_3", "eegmmidb/unigram_ce_level_3"} <= set(val)
    model = load_neurorvq_fm(tmp_path / "fm" / "final")
    assert (model.config.n_targets, model.config.vocab_size, model.config.depth) == (6, 16, 1)
    assert model.meta["target"] == str(target) and model.meta["training"]["steps"] == 2
    out = capsys.readouterr().out
    assert "eegmat: files absent, skipped" in out and "target pool: " in out
    assert model.meta["target_pool_rounds"] == 1


def test_foundation_model_of_another_modality_reads_its_channels():
    """An EMG-shaped file (16 channel rows, 0.2-s patches of 200) gets EMG names and rate."""
    from mne_codec.models.neurorvq import NEURORVQ_EMG_CHANNELS

    cfg = NeuroRVQFMConfig(n_global_electrodes=16, n_patches=8, depth=1, n_targets=0,
                           branch_kernels=((51, 25), (17, 9), (8, 4), (5, 3)),
                           channels=NEURORVQ_EMG_CHANNELS, modality="emg")
    state = NeuroRVQFM(cfg).state_dict()
    loaded = NeuroRVQFM.from_authors_state(state, "emg fm")
    assert loaded.config.modality == "emg" and loaded.config.channels == NEURORVQ_EMG_CHANNELS
    assert loaded.config.preprocessing.sfreq == 1000.0
    with pytest.raises(ValueError, match="NeuroRVQ EMG tokenizer"):
        loaded.pick_channels(["Fz", "Pz"])
