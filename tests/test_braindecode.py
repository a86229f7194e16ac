"""braindecode and skorch integration: CodecEncoder, TokenClassifier, EEGClassifier."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from mne_codec import CodecTokenizer
from mne_codec.preprocessing import preprocess

from .conftest import _eegbci_raw, assert_codes_equal_up_to_near_ties, make_tiny_codec

braindecode = pytest.importorskip(
    "braindecode", reason="braindecode (with a torch/torchaudio pair that loads) not installed"
)
from mne_codec.braindecode import (  # noqa: E402
    CodecEncoder,
    TokenClassifier,
    codec_preprocessors,
)


def test_import_mne_codec_never_imports_braindecode_and_errors_clearly_without_it():
    code = (
        "import sys; sys.modules['braindecode'] = None\n"
        "import mne_codec\n"
        "assert 'torchaudio' not in sys.modules\n"
        "try:\n"
        "    import mne_codec.braindecode\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert "torchaudio" in out.stdout and "torch==2.11.0" in out.stdout


def test_encoder_tokens_match_the_tokenizer(rng):
    """Same scaling and codec as CodecTokenizer (codec without filters, same rate)."""
    codec = make_tiny_codec(filters=False)
    X = rng.standard_normal((5, 3, 300)) * 1e-5
    tok = CodecTokenizer(codec, sfreq=100.0, output="tokens").fit(X)
    expected = tok.transform(X)
    enc = CodecEncoder(n_chans=3, n_times=300, sfreq=100.0, codec=codec, output="tokens",
                       cache_tokens=False)
    codes = enc(torch.from_numpy(X).float()).numpy()
    assert codes.shape == expected.shape
    x, _, _ = preprocess(X, 100.0, tok.codec_.preprocessing, verbose="ERROR")
    assert_codes_equal_up_to_near_ties(tok.codec_, x, expected, codes, rtol=1e-3)
    # the content-keyed cache returns the same codes, without encoding again
    cached = CodecEncoder(n_chans=3, n_times=300, sfreq=100.0, codec=codec, output="tokens")
    first = cached(torch.from_numpy(X).float())
    cached.codec.encode = None  # would fail if called
    np.testing.assert_array_equal(cached(torch.from_numpy(X).float()), first)


def test_encoder_embedding_and_fine_tuning(rng):
    codec = make_tiny_codec()
    x = torch.from_numpy(rng.standard_normal((2, 3, 400)) * 1e-5).float()
    frozen = CodecEncoder(n_chans=3, n_times=400, sfreq=200.0, codec=codec)
    z = frozen(x)
    assert z.shape == (2, 3, codec.quantizer.config.dim, codec.n_frames(200))
    assert not any(p.requires_grad for p in frozen.parameters())
    frozen.train()
    assert not frozen.codec.training  # a frozen codec stays in eval mode
    tuned = CodecEncoder(n_chans=3, n_times=400, sfreq=200.0, codec=codec, freeze=False)
    out = tuned(x)
    torch.testing.assert_close(out, z)  # forward value: the quantized latent
    out.pow(2).mean().backward()
    grads = [p.grad for n, p in tuned.codec.named_parameters() if n.startswith("encoder")]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in tuned.codec.quantizer.parameters())
    with pytest.raises(ValueError, match="Tokens carry no gradient"):
        CodecEncoder(n_chans=3, n_times=400, sfreq=200.0, codec=codec, output="tokens",
                     freeze=False)
    with pytest.raises(ValueError, match="shorter than one codec frame"):
        CodecEncoder(n_chans=3, n_times=1, sfreq=200.0, codec=codec)
    with pytest.raises(ValueError, match="n_times=400"):
        frozen(x[..., :300])
    with pytest.raises(ValueError, match="module__sfreq"):
        CodecEncoder(n_chans=3, n_times=400, codec=codec)


def test_token_classifier_shapes_and_channel_pooling(rng):
    codec = make_tiny_codec()
    x = torch.from_numpy(rng.standard_normal((2, 3, 300)) * 1e-5).float()
    model = TokenClassifier(n_outputs=4, n_chans=3, n_times=300, sfreq=100.0, codec=codec,
                            n_heads=4)
    assert model(x).shape == (2, 4)
    cb_dim = model.encoder.codec.quantizer.layers[0].codebook.embed.shape[1]
    assert model.emb_dim == cb_dim
    assert model(x, return_features=True)["features"].shape == (2, 3 * cb_dim)
    # embeddings start from the codebooks: z-scored per dimension, unit norm
    book = model.encoder.codec.quantizer.layers[0].codebook.embed
    emb = model.embeddings[0].weight
    torch.testing.assert_close(emb, torch.nn.functional.normalize(
        (book - book.mean(0)) / book.std(0), dim=1))
    with pytest.raises(ValueError, match="built for n_chans=3"):
        model(x[:, :2])
    agnostic = TokenClassifier(n_outputs=2, n_times=300, sfreq=100.0, codec=codec, n_heads=4,
                               channel_pooling="mean")
    assert agnostic(x).shape == agnostic(x[:, :1]).shape == (2, 2)
    model.reset_head(7)
    assert model(x).shape == (2, 7)


@pytest.fixture(scope="module")
def eyes_windows(shared_data):
    """braindecode windows of S001 eyes open (run 1, target 0) / closed (run 2, target 1)."""
    from braindecode.datasets import BaseConcatDataset, RawDataset
    from braindecode.preprocessing import create_fixed_length_windows, preprocess

    datasets = []
    for run, target in ((1, 0), (2, 1)):
        raw = _eegbci_raw(shared_data, 1, [run])
        raw.pick(["O1", "Oz", "O2", "POz", "Pz", "Cz", "C3", "C4"])
        datasets.append(RawDataset(raw, description={"subject": 1, "target": target},
                                   target_name="target"))
    ds = BaseConcatDataset(datasets)
    preprocess(ds, codec_preprocessors("default"))
    return create_fixed_length_windows(ds, window_size_samples=640, window_stride_samples=640,
                                       on_last_window="drop", preload=True)


def test_eeg_classifier_trains_on_windows_and_loss_decreases(eyes_windows):
    from braindecode import EEGClassifier
    from sklearn.base import clone

    torch.manual_seed(0)
    # braindecode infers n_chans, n_times and n_outputs from a dataset, not sfreq
    clf = EEGClassifier(TokenClassifier, module__codec="default", module__sfreq=160.0,
                        module__dropout=0.0,
                        module__head_dropout=0.0, optimizer=torch.optim.Adam, lr=3e-3,
                        batch_size=8, max_epochs=12, train_split=None, device="cpu",
                        iterator_train__shuffle=True, verbose=0)
    clf.fit(eyes_windows, y=None)
    loss = clf.history[:, "train_loss"]
    assert len(eyes_windows) == 30 and loss[-1] < loss[0] * 0.8, loss
    # braindecode inferred the signal parameters from the windows
    assert clf.module_.n_chans == 8 and clf.module_.n_times == 640
    proba = clf.predict_proba(eyes_windows)
    assert proba.shape == (len(eyes_windows), 2) and np.isfinite(proba).all()
    # skorch pickling and cloning
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(again.predict_proba(eyes_windows), proba, rtol=1e-5, atol=1e-6)
    fresh = clone(clf)
    assert not hasattr(fresh, "module_") and fresh.get_params()["module__codec"] == "default"


def test_epochs_through_eeg_classifier(mi_epochs):
    from braindecode import EEGClassifier

    epochs = mi_epochs.copy().pick(["C3", "Cz", "C4"]).crop(0, 4.0, include_tmax=False)
    y = epochs.events[:, 2]
    clf = EEGClassifier(TokenClassifier, module__channel_pooling="mean", max_epochs=1,
                        batch_size=8, train_split=None, device="cpu", verbose=0)
    clf.fit(epochs, y)
    assert clf.module_.sfreq == epochs.info["sfreq"]
    assert clf.predict(epochs).shape == y.shape


def test_codec_preprocessors_filter_like_the_tokenizer(mi_raw):
    from braindecode.datasets import BaseConcatDataset, RawDataset
    from braindecode.preprocessing import preprocess

    from mne_codec import load_codec
    from mne_codec.preprocessing import band_limit

    raw = mi_raw.copy().pick(["C3", "C4"]).crop(0, 20.0)
    raw.set_channel_types({"C4": "misc"})
    ds = BaseConcatDataset([RawDataset(raw.copy(), description={})])
    preprocess(ds, codec_preprocessors("default"))
    out = ds.datasets[0].raw
    assert out.ch_names == ["C3"]  # only the codec's channel types are kept
    expected = band_limit(raw.get_data(picks=["C3"]), 160.0, load_codec("default").preprocessing)
    np.testing.assert_allclose(out.get_data(), expected, rtol=1e-10, atol=1e-15)


def test_encoder_codes_neurorvq_by_channel_name(rng):
    """A codec that codes channels jointly by name runs in CodecEncoder as the pipeline does."""
    import mne

    from mne_codec.checkpoints import load_neurorvq_checkpoint
    from mne_codec.pipeline import encode

    from .test_neurorvq import REF_PT, small_config

    codec = load_neurorvq_checkpoint(REF_PT, config=small_config()).eval()
    names = ["Fp1", "Fp2", "C3", "C4", "O1"]
    chs_info = mne.create_info(names, codec.sfreq, "eeg")["chs"]
    n_times = 4 * codec.config.patch_size  # 4 s at the codec's rate
    X = rng.standard_normal((3, len(names), n_times)) * 1e-5
    enc = CodecEncoder(chs_info=chs_info, n_times=n_times, sfreq=codec.sfreq, codec=codec,
                       output="tokens", cache_tokens=False)
    codes = enc(torch.from_numpy(X).float()).numpy()
    x, _, _ = preprocess(X, codec.sfreq, codec.preprocessing, band_limited=True,
                         verbose="ERROR")
    expected = encode(codec, x, names).codes
    assert codes.shape == expected.shape == (3, len(names), codec.n_code_rows, 4)
    assert (codes == expected).mean() > 0.99  # float32 torch vs numpy scaling: near-ties
    emb = CodecEncoder(chs_info=chs_info, n_times=n_times, sfreq=codec.sfreq, codec=codec)
    assert emb(torch.from_numpy(X).float()).shape[:2] == (3, len(names))
    # channel names are needed, and must be known to the codec
    with pytest.raises(ValueError, match="codes channels jointly by name"):
        CodecEncoder(n_chans=5, n_times=n_times, sfreq=codec.sfreq, codec=codec)
    bad = mne.create_info(["Fp1", "XYZ"], codec.sfreq, "eeg")["chs"]
    with pytest.raises(ValueError, match="XYZ"):
        CodecEncoder(chs_info=bad, n_times=n_times, sfreq=codec.sfreq, codec=codec)
    with pytest.raises(NotImplementedError, match="NeuroRVQFMClassifier"):
        CodecEncoder(chs_info=chs_info, n_times=n_times, sfreq=codec.sfreq, codec=codec,
                     freeze=False)(torch.from_numpy(X).float())
