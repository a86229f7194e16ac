"""NeuroRVQFMClassifier: the foundation model fine-tuned in braindecode's EEGClassifier."""

import pickle

import numpy as np
import pytest
import torch

from mne_codec.checkpoints import load_neurorvq_fm
from mne_codec.models import NeuroRVQFM, NeuroRVQFMConfig

from .conftest import DATA_DIR, _eegbci_raw

braindecode = pytest.importorskip(
    "braindecode", reason="braindecode (with a torch/torchaudio pair that loads) not installed"
)
from mne_codec.braindecode import (  # noqa: E402
    NeuroRVQFMClassifier,
    codec_preprocessors,
    layer_decay_param_groups,
)

CHANNELS = ["O1", "Oz", "O2", "POz", "Pz", "Cz", "C3", "C4"]


def _small(depth=2, seed=0):
    torch.manual_seed(seed)
    return NeuroRVQFM(NeuroRVQFMConfig(out_chans=4, embed_dim=100, depth=depth, num_heads=5,
                                       n_targets=0, canonical_names=True))


@pytest.fixture(scope="module")
def ref_pt(tmp_path_factory):
    """The authors'-layout small model of tests/data (see test_neurorvq_fm.py)."""
    ref = np.load(DATA_DIR / "neurorvq_fm_ref_small.npz")
    state = {k.removeprefix("state."): torch.from_numpy(ref[k]) for k in ref.files
             if k.startswith("state.")}
    path = tmp_path_factory.mktemp("fm") / "fm.pt"
    torch.save(state, path)
    return path


def test_classifier_reads_the_model_input_and_pools_its_features(ref_pt, rng):
    fm = load_neurorvq_fm(ref_pt)
    names = ["Fp1", "Cz", "T3", "O2"]
    model = NeuroRVQFMClassifier(n_outputs=3, n_chans=4, n_times=480, sfreq=160.0,
                                 model=ref_pt, ch_names=names)
    assert not model.encoder.heads and model.encoder.config.embed_dim == 100
    for key, value in model.encoder.state_dict().items():
        assert torch.equal(value, fm.state_dict()[key])
    x = torch.from_numpy(rng.standard_normal((2, 4, 480)) * 30e-6).float()  # volts
    out = model(x, return_features=True)
    assert out["out"].shape == (2, 3) and out["features"].shape == (2, 400)
    # what the encoder reads: the tokenizer's input for these windows (the band-pass
    # belongs to the recording), 3 s at 200 Hz in microvolts, clipped at 500
    from mne_codec.preprocessing import preprocess

    x200, _, _ = preprocess(x.double().numpy(), 160.0, fm.preprocessing, band_limited=True)
    assert x200.shape == (2, 4, 600) and np.abs(x200).max() <= 500.0
    x200 = torch.from_numpy(x200)
    with torch.no_grad():
        expected = fm.features(x200, names).mean(1)
    torch.testing.assert_close(out["features"], expected, rtol=1e-4, atol=1e-5)
    model.reset_head(5)
    assert model(x).shape == (2, 5)
    with pytest.raises(ValueError, match="not whole patches"):
        NeuroRVQFMClassifier(n_outputs=2, n_chans=4, n_times=500, sfreq=160.0, model=fm,
                             ch_names=names)
    with pytest.raises(ValueError, match="budget"):  # 4 x 5 patches > 16 tokens
        NeuroRVQFMClassifier(n_outputs=2, n_chans=4, n_times=800, sfreq=160.0, model=fm,
                             ch_names=names)
    with pytest.raises(ValueError, match="channel names"):
        NeuroRVQFMClassifier(n_outputs=2, n_chans=4, n_times=480, sfreq=160.0, model=fm)


def test_layer_wise_learning_rate_decay_is_per_layer():
    model = NeuroRVQFMClassifier(n_outputs=2, n_chans=2, n_times=400, sfreq=200.0,
                                 model=_small(depth=3), ch_names=["C3", "C4"])
    groups = model.param_groups(lr=1.0, weight_decay=0.05, layer_decay=0.5)
    lr = {id(p): g["lr"] for g in groups for p in g["params"]}
    wd = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    named = {n: p for n, p in model.named_parameters() if p.requires_grad}
    # every trained parameter once; the mask token and norm_pre are not used
    assert len(lr) == len(named) == len(list(model.parameters())) - 3
    # one rate per layer: 0.5 ** (depth + 1 - layer)
    assert lr[id(named["final_layer.weight"])] == lr[id(named["fc_norm.bias"])] == 1.0
    for i in range(3):
        rates = {lr[id(p)] for n, p in named.items() if n.startswith(f"encoder.blocks.{i}.")}
        assert rates == {0.5 ** (3 - i)}
    front = [n for n in named if n.startswith(("encoder.patch_embed", "encoder.pos_embed",
                                               "encoder.cls_token", "encoder.time_embed"))]
    assert {lr[id(named[n])] for n in front} == {0.5 ** 4}
    # no weight decay for biases, norms, embeddings
    assert wd[id(named["encoder.blocks.0.attn.qkv.weight"])] == 0.05
    for n in ("encoder.blocks.0.attn.q_bias", "encoder.blocks.1.norm1.weight",
              "encoder.pos_embed", "encoder.blocks.2.gamma_1", "final_layer.bias"):
        assert wd[id(named[n])] == 0.0
    # the skorch patterns give every parameter the same rate
    import fnmatch

    patterns = layer_decay_param_groups(1.0, 0.5, depth=3)
    for name, p in named.items():
        got = next((g["lr"] for pat, g in patterns if fnmatch.fnmatch(name, pat)), 1.0)
        assert got == lr[id(p)], name


@pytest.fixture(scope="module")
def eyes_windows(shared_data):
    """braindecode windows of S001 eyes open (run 1, target 0) / closed (run 2, target 1)."""
    from braindecode.datasets import BaseConcatDataset, RawDataset
    from braindecode.preprocessing import create_fixed_length_windows, preprocess

    datasets = []
    for run, target in ((1, 0), (2, 1)):
        raw = _eegbci_raw(shared_data, 1, [run])
        raw.pick(CHANNELS)
        datasets.append(RawDataset(raw, description={"subject": 1, "target": target},
                                   target_name="target"))
    ds = BaseConcatDataset(datasets)
    preprocess(ds, codec_preprocessors(_small()))
    return create_fixed_length_windows(ds, window_size_samples=640, window_stride_samples=640,
                                       on_last_window="drop", preload=True)


def test_eeg_classifier_fine_tunes_with_layer_decay(eyes_windows):
    from braindecode import EEGClassifier

    depth, lr = 2, 1e-3
    clf = EEGClassifier(NeuroRVQFMClassifier, module__model=_small(depth),
                        module__ch_names=CHANNELS, module__sfreq=160.0,
                        optimizer=torch.optim.AdamW, lr=lr,
                        optimizer__param_groups=layer_decay_param_groups(lr, 0.9, depth),
                        batch_size=10, max_epochs=10, train_split=None, device="cpu",
                        iterator_train__shuffle=True, verbose=0)
    torch.manual_seed(0)
    clf.fit(eyes_windows, y=None)
    loss = clf.history[:, "train_loss"]
    assert len(eyes_windows) == 30 and loss[-1] < loss[0] * 0.8, loss
    assert clf.module_.n_chans == 8 and clf.module_.n_times == 640
    # the optimizer holds one rate per layer: blocks 0.9 ** (depth - l), front 0.9 ** 3
    rates = sorted({round(g["lr"], 12) for g in clf.optimizer_.param_groups})
    assert rates == sorted({round(lr * 0.9 ** k, 12) for k in range(depth + 2)})
    proba = clf.predict_proba(eyes_windows)
    assert proba.shape == (30, 2) and np.isfinite(proba).all()
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(again.predict_proba(eyes_windows), proba, rtol=1e-5, atol=1e-6)


def test_eeg_classifier_starts_from_a_saved_model(tmp_path, rng):
    """A folder path as ``module__model`` (benchmarks/downstream.py's FM-pretrained):
    every clone (one per cross-validation fold) starts from the saved weights."""
    from braindecode import EEGClassifier
    from sklearn.base import clone

    from mne_codec.checkpoints import save_neurorvq_fm

    torch.manual_seed(1)  # a pre-training model, with its prediction heads
    pretrained = NeuroRVQFM(NeuroRVQFMConfig(out_chans=4, embed_dim=100, depth=2,
                                             num_heads=5, vocab_size=16, n_targets=2,
                                             canonical_names=True))
    path = save_neurorvq_fm(pretrained, tmp_path / "fm")
    saved = pretrained.state_dict()
    names = ["C3", "C4", "Cz", "Pz"]
    X = (rng.standard_normal((8, 4, 400)) * 20e-6).astype(np.float32)
    y = np.array([0, 1] * 4)
    lr = 1e-4
    clf = EEGClassifier(NeuroRVQFMClassifier, module__model=str(path), module__ch_names=names,
                        module__sfreq=200.0, optimizer=torch.optim.AdamW, lr=lr,
                        optimizer__param_groups=layer_decay_param_groups(lr, 0.75, 2),
                        batch_size=8, max_epochs=1, train_split=None, device="cpu", verbose=0)
    for fold in range(2):
        fitted = clone(clf).fit(X, y)
        encoder = fitted.module_.encoder.state_dict()
        assert not any(k.startswith("head_pre_") for k in encoder)
        assert set(encoder) == {k for k in saved if not k.startswith("head_pre_")}
        # one AdamW step moves each weight by at most about the learning rate
        moved = max((encoder[k] - saved[k]).abs().max().item() for k in encoder)
        assert 0 < moved < 2 * lr, moved
    # the same classifier from random weights starts elsewhere
    scratch = clone(clf).set_params(module__model=pretrained.config).fit(X, y)
    encoder = scratch.module_.encoder.state_dict()
    assert max((encoder[k] - saved[k]).abs().max().item() for k in encoder) > 0.1
