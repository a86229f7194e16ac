"""Shared fixtures: real EEG from ../shared/data, reference codecs, tiny codecs."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

DATA_DIR = Path(__file__).parent / "data"


def shared_data_dir():
    """../shared/data beside the checkout (or $MNE_CODEC_SHARED_DATA)."""
    env = os.environ.get("MNE_CODEC_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _fresh_window_cache():
    """Each test starts with an empty in-process window cache (no coupling between tests)."""
    import sys

    module = sys.modules.get("mne_codec.transformers")
    if module is not None:
        module._WINDOW_CACHE.clear()
    yield


@pytest.fixture(scope="session")
def shared_data():
    path = shared_data_dir()
    if not (path / "MNE-eegbci-data").is_dir():
        pytest.skip(f"real EEG not found at {path} (set MNE_CODEC_SHARED_DATA)")
    return path


def _eegbci_raw(shared, subject, runs):
    from mne_codec.datasets import eegbci_raw

    return eegbci_raw(subject, runs, path=shared, verbose=False)


@pytest.fixture(scope="session")
def mi_raw(shared_data):
    """EEGMMIDB S001 run 4 (motor imagery), 64 channels, 160 Hz, with annotations."""
    return _eegbci_raw(shared_data, 1, [4])


@pytest.fixture(scope="session")
def mi_epochs(mi_raw):
    """Left/right imagery epochs of 4 s from S001 run 4."""
    import mne

    events, _ = mne.events_from_annotations(mi_raw, event_id=dict(T1=0, T2=1), verbose=False)
    return mne.Epochs(mi_raw, events, dict(left=0, right=1), tmin=0.0, tmax=4.0,
                      baseline=None, preload=True, verbose=False)


@pytest.fixture(scope="session")
def ref_codec():
    """The authors' EEG architecture on the seeded weights of the parity test."""
    from mne_codec.checkpoints import load_biocodec_checkpoint

    return load_biocodec_checkpoint(DATA_DIR / "biocodec_ref_eeg_ckpt.pt")


def make_tiny_codec(ratios=(2, 2), seed=0, filters=True, codebook_size=16, n_codebooks=3):
    """A small BioCodec with codebooks calibrated by one training forward."""
    from mne_codec.models import BioCodec, BioCodecConfig
    from mne_codec.preprocessing import Preprocessing
    from mne_codec.quantization import RVQConfig

    torch.manual_seed(seed)
    prep = Preprocessing(sfreq=100.0, l_freq=1.0 if filters else None,
                         h_freq=30.0 if filters else None)
    cfg = BioCodecConfig(ratios=ratios, n_filters=4, dimension=16, lstm_layers=1,
                         rvq=RVQConfig(dim=16, n_codebooks=n_codebooks,
                                       codebook_size=codebook_size, codebook_dim=4,
                                       kmeans_iters=10),
                         preprocessing=prep)
    codec = BioCodec(cfg)
    codec.train()
    with torch.no_grad():
        codec(torch.randn(16, 1, 200))
    return codec.eval()


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a module (``pytestmark = pytest.mark.usefixtures(...)``).

    Small models run fastest on one thread, which also avoids oversubscribing a
    busy machine.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def tiny_codec():
    return make_tiny_codec()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def assert_codes_equal_up_to_near_ties(codec, x, a, b, rtol=1e-4, latent=None):
    """Codes ``a`` and ``b`` of the preprocessed windows ``x`` may differ only at near-ties.

    Float results of a convolution depend on the batch size (the backend picks
    its algorithm per shape), so a token whose two best codewords score within
    float noise can flip. Where ``a`` and ``b`` first differ along the levels
    of a frame, the scores of both codes (on ``a``'s residual) must agree to
    ``rtol`` of the score range; later levels follow a different residual.
    ``latent(x)`` gives the latent (n_windows * n_channels, dim, n_frames) of
    the windows for codecs whose latent is not one channel's own (DAC-MC:
    ``lambda x: codec._latent(x, ch_names)[0]``); by default
    ``codec._encode_latent`` of each channel alone.
    """
    a, b = np.asarray(a), np.asarray(b)
    if np.array_equal(a, b):
        return
    n_times = x.shape[-1]
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(x, np.float32))
        z = (codec._encode_latent(x.reshape(-1, 1, n_times)) if latent is None
             else latent(x))
        residual = z.transpose(1, 2).reshape(-1, z.shape[1])
        _assert_rows_near_ties(codec.quantizer, residual, _rows(a), _rows(b), rtol)


def _rows(codes):
    """Codes (n, n_channels, K, n_frames) -> one row of K levels per token."""
    flat = torch.from_numpy(codes.reshape(-1, codes.shape[2], codes.shape[3]).astype(np.int64))
    return flat.transpose(1, 2).reshape(-1, codes.shape[2])


def _assert_rows_near_ties(quantizer, residual, ca, cb, rtol):
    gaps, levels = quantizer.flip_gaps(residual, ca, cb)
    if len(gaps):
        worst = int(gaps.argmax())
        assert gaps[worst] < rtol, (f"codes differ at level {int(levels[worst])} by "
                                    f"{float(gaps[worst]):.2e} of the scores")


def assert_named_codes_equal_up_to_near_ties(codec, x, ch_names, a, b, rtol=1e-4):
    """:func:`assert_codes_equal_up_to_near_ties` for NeuroRVQ's joint, branched codes.

    ``x`` (n, n_channels, n_times) is one coding block of named channels; ``a``
    and ``b`` its codes (n, n_channels, n_branches * n_codebooks, n_patches).
    Each branch's quantizer is checked on that branch's latent.
    """
    a, b = np.asarray(a), np.asarray(b)
    if np.array_equal(a, b):
        return
    n, c, kq, n_patches = a.shape
    q = kq // codec.n_branches
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(x, np.float32))
        latents = codec._latents(x, ch_names)[0]  # per branch: (n, c * n_patches, dim)

        def branch_rows(codes, k):  # the layout of NeuroRVQ.encode, undone
            part = torch.from_numpy(codes[:, :, k * q:(k + 1) * q].astype(np.int64))
            return part.permute(0, 2, 1, 3).reshape(n, q, c * n_patches).transpose(1, 2) \
                .reshape(-1, q)

        for k, z in enumerate(latents):
            _assert_rows_near_ties(codec.quantizers[k], z.reshape(-1, z.shape[-1]),
                                   branch_rows(a, k), branch_rows(b, k), rtol)


def tokenizer_inputs(tokenizer, inst):
    """The preprocessed windows (n_windows, n_channels, n_times) a fitted tokenizer codes.

    For :func:`assert_codes_equal_up_to_near_ties` on the tokens of a Raw or
    Epochs (filtered as a whole, windowed, resampled and scaled).
    """
    from mne_codec.preprocessing import preprocess

    xs = []
    for w in tokenizer._windows(inst):
        x, _, _ = preprocess(w.data[:, tokenizer.picks_], w.sfreq,
                             tokenizer.codec_.preprocessing, resample=tokenizer.resample,
                             band_limited=w.band_limited, verbose="ERROR")
        xs.append(x)
    return np.concatenate(xs)


def run_torchrun(args, timeout, nproc=2):
    """Run ``python -m torch.distributed.run`` with ``nproc`` single-threaded CPU ranks.

    ``args`` follow torchrun's options (a script path, or ``-m module ...``);
    the run must succeed (its stderr tail is shown otherwise).
    """
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
           *[str(a) for a in args]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc
