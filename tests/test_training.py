"""Tests of the training stack (spectral loss, data stream, trainer, DDP)."""

import os
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mne_codec.models import BioCodec, BioCodecConfig
from mne_codec.quantization import RVQConfig
from mne_codec.spectral import multiscale_stft_loss, stft_features
from mne_codec.training import (
    BioCodecLoss,
    CodecLoss,
    MontageCrops,
    RecordingCrops,
    TrainConfig,
    Trainer,
    fixed_crops,
    fixed_montage_crops,
    lr_factor,
)


def _data_dir():
    env = os.environ.get("MNE_CODEC_SHARED_DATA")
    return Path(env) if env else Path(__file__).parents[2] / "shared" / "data"


DATA = _data_dir()
EEGMMIDB = DATA / "MNE-eegbci-data" / "files" / "eegmmidb" / "1.0.0"
TRAIN_FILES = [EEGMMIDB / "S001" / "S001R04.edf", EEGMMIDB / "S002" / "S002R04.edf"]
VAL_FILES = [EEGMMIDB / "S009" / "S009R04.edf"]
needs_data = pytest.mark.skipif(
    not all(f.exists() for f in TRAIN_FILES + VAL_FILES),
    reason=f"shared EEG data not found under {DATA} (set MNE_CODEC_SHARED_DATA)",
)
SEGMENT_S = 2.0  # shorter than the recipe's 5 s, to keep the tests fast


@pytest.fixture(autouse=True)
def _restore_threads():
    """The trainer sets torch's thread count; restore it for other tests."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _small_codec(seed=0):
    torch.manual_seed(seed)
    rvq = RVQConfig(dim=16, n_codebooks=2, codebook_size=16, codebook_dim=4, kmeans_iters=10)
    return BioCodec(BioCodecConfig(n_filters=4, dimension=16, lstm_layers=1, rvq=rvq))


def _standardize(raw):
    from mne.datasets import eegbci

    eegbci.standardize(raw)


def _run(out, steps, seed=0, lr=3e-3, resume=False, max_steps=None, val=None):
    codec = _small_codec(seed)
    data = RecordingCrops(TRAIN_FILES, codec, segment_s=SEGMENT_S, prepare_raw=_standardize,
                          max_recordings_in_memory=1, crops_per_recording=40, seed=seed)
    cfg = TrainConfig(lr=lr, warmup_steps=3, total_steps=steps, batch_size=8, seed=seed,
                      log_every=1, val_every=None, checkpoint_every=None, num_threads=1,
                      progress=False)
    trainer = Trainer(codec, data, val, cfg, out)
    trainer.fit(resume=resume, max_steps=max_steps)
    return codec, trainer


def _assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], rtol=0, atol=0, msg=key)


def test_stft_features_shape_and_loss():
    """Features stack log-magnitude and unit phasor; the loss is 0 on equal inputs."""
    x = torch.randn(3, 2, 500)
    f = stft_features(x, 64)
    assert f.shape[:4] == (3, 2, 3, 33)
    torch.testing.assert_close(f[..., 1, :, :] ** 2 + f[..., 2, :, :] ** 2,
                               torch.ones_like(f[..., 1, :, :]), atol=1e-4, rtol=0)
    assert float(multiscale_stft_loss(x, x)) == 0.0
    y = x + 0.1 * torch.randn_like(x)
    assert float(multiscale_stft_loss(y, x)) > 0
    losses = BioCodecLoss(commitment_weight=2.0).terms(y, x, torch.tensor(0.5))
    expected = 0.2 * losses["time"] + losses["freq"] + 2.0 * 0.5
    torch.testing.assert_close(losses["total"], expected)
    with pytest.deprecated_call(match="terms"):  # the form before the one interface
        old = BioCodecLoss(commitment_weight=2.0)(y, x, torch.tensor(0.5))
    torch.testing.assert_close(old["loss"], expected)


def test_lr_schedule():
    """Linear warm-up from 5e-4 to 1, cosine to 0."""
    assert lr_factor(0, 10, 100) == pytest.approx(5e-4)
    assert lr_factor(10, 10, 100) == pytest.approx(1.0)
    assert lr_factor(55, 10, 100) == pytest.approx(0.5)
    assert lr_factor(100, 10, 100) == pytest.approx(0.0)


@needs_data
def test_crops_and_fixed_crops():
    """Crops are float32 single-channel windows; the stream is seeded."""
    codec = _small_codec()
    ds = RecordingCrops(TRAIN_FILES[:1], codec, segment_s=SEGMENT_S, prepare_raw=_standardize,
                        crops_per_recording=4, seed=1)
    a = [c for _, c in zip(range(6), ds)]
    b = [c for _, c in zip(range(6), ds)]
    assert a[0].shape == (1, 500) and a[0].dtype == torch.float32
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert max(float(c.abs().max()) for c in a) <= 10.0
    ds.set_resume(2, 2)  # skipping 2 batches of 2 = 4 crops
    assert torch.equal(next(iter(ds)), a[4])
    val = fixed_crops(VAL_FILES, codec, segment_s=SEGMENT_S, prepare_raw=_standardize)
    assert val.shape[1:] == (1, 500) and val.shape[0] > 60 * 50
    sub = fixed_crops(VAL_FILES, codec, segment_s=SEGMENT_S, prepare_raw=_standardize,
                      max_segments=10)
    assert sub.shape == (10, 1, 500)


@needs_data
def test_montage_crops_carry_their_electrodes():
    """Multi-channel crops hold the named channels they say, seeded and resumable."""
    import mne

    from mne_codec.channels import CHANNEL_VOCABULARY, channel_positions
    from mne_codec.preprocessing import band_limit, preprocess

    codec = _small_codec()
    ds = MontageCrops(TRAIN_FILES[:1], codec, n_channels=6, segment_s=SEGMENT_S,
                      prepare_raw=_standardize, crops_per_recording=8, seed=3)
    a = [c for _, c in zip(range(8), ds)]
    b = [c for _, c in zip(range(8), ds)]
    x, ch_ix = a[0]
    assert x.shape == (6, 500) and x.dtype == torch.float32
    assert ch_ix.shape == (6,) and ch_ix.dtype == torch.int64
    assert all(torch.equal(u[0], v[0]) and torch.equal(u[1], v[1]) for u, v in zip(a, b))
    assert len({tuple(c[1].tolist()) for c in a}) > 1  # a new subset for every crop
    ds.set_resume(3, 2)
    resumed = next(iter(ds))
    assert torch.equal(resumed[0], a[6][0]) and torch.equal(resumed[1], a[6][1])
    # the rows are the recording's channels of those names, each crop scaled on its own
    # as an inference window (a 10 s Raw, to search every start)
    raw = mne.io.read_raw_edf(TRAIN_FILES[0], preload=True, verbose=False).crop(0.0, 10.0)
    _standardize(raw)
    short = MontageCrops([raw], codec, n_channels=6, segment_s=SEGMENT_S,
                         crops_per_recording=4, seed=3)
    rows = {n.lower(): i for i, n in enumerate(raw.ch_names)}
    filtered = band_limit(raw.get_data(), raw.info["sfreq"], codec.preprocessing)
    for _, (crop, ix) in zip(range(4), short):
        picked = [rows[CHANNEL_VOCABULARY[int(i)].lower()] for i in ix]
        windows = np.lib.stride_tricks.sliding_window_view(filtered[picked], 320, axis=-1)
        ref = preprocess(windows.transpose(1, 0, 2), 160.0, codec.preprocessing,
                         band_limited=True, verbose="ERROR")[0]  # (n_starts, 6, 500)
        assert np.abs(ref - crop.numpy()).max(axis=(1, 2)).min() < 1e-4
    # neighbour sampling draws local montages: smaller spread than uniform subsets
    spread = {}
    for sampling in ("random", "neighbours"):
        val, ix = fixed_montage_crops(TRAIN_FILES[:1], codec, n_channels=4, segment_s=SEGMENT_S,
                                      channel_sampling=sampling, prepare_raw=_standardize)
        assert val.shape[1:] == (4, 500) and ix.shape == (len(val), 4)
        pos = channel_positions(ix.numpy().ravel()).reshape(len(ix), 4, 3)
        spread[sampling] = float(np.mean(np.linalg.norm(pos - pos.mean(1, keepdims=True),
                                                        axis=-1)))
    assert spread["neighbours"] < 0.6 * spread["random"]
    with pytest.raises(ValueError, match="channel_sampling"):
        MontageCrops(TRAIN_FILES[:1], codec, n_channels=4, channel_sampling="nearest")
    with pytest.raises(ValueError, match="at least 65"):
        next(iter(MontageCrops(TRAIN_FILES[:1], codec, n_channels=65, segment_s=SEGMENT_S,
                               prepare_raw=_standardize)))


class _MultiChannelLoss(CodecLoss):
    """A loss of the one interface, reading (x, ch_ix) batches."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, model, batch, adversary_step=None):
        x, ch_ix = batch
        self.seen.append((tuple(x.shape), tuple(ch_ix.shape), ch_ix.dtype))
        assert adversary_step is None  # no adversary declared
        losses = BioCodecLoss()(model, batch)
        losses["extra"] = ch_ix.float().mean()
        return losses


class _OldStepLoss(torch.nn.Module):
    """A loss of the former step protocol (deprecated)."""

    def step(self, model, batch):
        y, _, commit = model(batch)
        out = BioCodecLoss().terms(y.float(), batch, commit.float())
        out["loss"] = out.pop("total")
        return out


@needs_data
def test_trainer_step_protocol(tmp_path):
    """A loss gets the collated (x, ch_ix) batches as ``loss(model, batch)``."""
    codec = _small_codec()
    data = MontageCrops(TRAIN_FILES[:1], codec, n_channels=3, segment_s=SEGMENT_S,
                        prepare_raw=_standardize, crops_per_recording=20)
    cfg = TrainConfig(lr=3e-3, warmup_steps=2, total_steps=6, batch_size=4, log_every=1,
                      val_every=None, checkpoint_every=None, num_threads=1, progress=False)
    loss = _MultiChannelLoss()
    saved = []
    trainer = Trainer(codec, data, None, cfg, tmp_path, loss=loss,
                      save=lambda model, path, meta: saved.append((path, meta["training"])))
    trainer.fit()
    assert loss.seen[0] == ((4, 3, 500), (4, 3), torch.int64) and len(loss.seen) == 6
    rows = [r for r in trainer.history if r["kind"] == "train"]
    assert len(rows) == 6 and all("extra" in r for r in rows)
    assert saved and saved[0][1]["steps"] == 6
    # a loss of the former step(model, batch) protocol still trains, deprecated
    crops = RecordingCrops(TRAIN_FILES[:1], codec, segment_s=SEGMENT_S, prepare_raw=_standardize,
                           crops_per_recording=20)
    with pytest.deprecated_call(match="CodecLoss"):
        old = Trainer(codec, crops, None, replace(cfg, total_steps=2), tmp_path / "old",
                      loss=_OldStepLoss(), save=lambda *args: None)
    old.fit()
    rows = [r for r in old.history if r["kind"] == "train"]
    assert len(rows) == 2 and {"loss", "time", "freq", "commit"} <= set(rows[0])


@needs_data
def test_loss_decreases_and_logs(tmp_path):
    """About 30 steps lower the loss; logs, checkpoint and final model are written."""
    val = fixed_crops(VAL_FILES, _small_codec(), segment_s=SEGMENT_S, prepare_raw=_standardize,
                      max_segments=16)
    codec, trainer = _run(tmp_path, 30, val=val)
    losses = [r["loss"] for r in trainer.history if r["kind"] == "train"]
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.9 * sum(losses[:5]) / 5
    assert (tmp_path / "log_train.csv").exists() and (tmp_path / "log.jsonl").exists()
    val_row = [r for r in trainer.history if r["kind"] == "val"][-1]
    assert {"val/nmse_1", "val/nmse_2", "val/usage_1", "val/perplexity_2", "dead_1"} <= set(val_row)
    assert val_row["val/nmse_2"] < 1.5
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 30
    from mne_codec.checkpoints import load_codec

    loaded = load_codec(tmp_path / "final")
    _assert_same_state(loaded, codec)


@needs_data
def test_reproducible_and_resume(tmp_path):
    """Same seed, same weights; a resumed run equals an uninterrupted one."""
    n_threads = torch.get_num_threads()
    ref, _ = _run(tmp_path / "a", 6)
    # num_threads=1 is the run's: the process keeps its own thread count (a leak here
    # changed the codes of later tests at float near-ties)
    assert torch.get_num_threads() == n_threads
    again, _ = _run(tmp_path / "b", 6)
    _assert_same_state(ref, again)
    other, _ = _run(tmp_path / "c", 6, seed=1)
    assert not torch.equal(other.state_dict()["quantizer.layers.0.codebook.embed"],
                           ref.state_dict()["quantizer.layers.0.codebook.embed"])
    _, first = _run(tmp_path / "d", 6, max_steps=3)
    assert first.step == 3
    resumed, second = _run(tmp_path / "d", 6, resume=True)
    assert second.step == 6
    _assert_same_state(ref, resumed)


_DDP_SCRIPT = """
import sys, torch
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_training import TRAIN_FILES, SEGMENT_S, _small_codec, _standardize
from mne_codec.training import RecordingCrops, TrainConfig, Trainer

out = Path({out!r})
codec = _small_codec(0)
data = RecordingCrops(TRAIN_FILES, codec, segment_s=SEGMENT_S, prepare_raw=_standardize,
                      crops_per_recording=24, seed=0)
cfg = TrainConfig(lr=3e-3, warmup_steps=1, total_steps=3, batch_size=8, log_every=1,
                  val_every=None, checkpoint_every=None, num_threads=1, progress=False)
trainer = Trainer(codec, data, None, cfg, out)
trainer.fit()
rank = torch.distributed.get_rank()
torch.save(codec.state_dict(), out / f"rank{{rank}}.pt")
first = next(iter(data))
torch.save(first, out / f"crop{{rank}}.pt")
torch.distributed.destroy_process_group()
"""


@needs_data
def test_ddp_two_processes_stay_identical(tmp_path):
    """torchrun with 2 CPU ranks: parameters and codebook buffers agree after 3 steps."""
    from .conftest import run_torchrun  # here: the ranks import this module top-level

    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(_DDP_SCRIPT.format(tests=str(Path(__file__).parent),
                                                         out=str(tmp_path))))
    run_torchrun(["--standalone", script], timeout=90)
    s0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    s1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert any("codebook.embed_avg" in k for k in s0)
    for key in s0:
        torch.testing.assert_close(s0[key], s1[key], rtol=0, atol=0, msg=key)
    assert float(s0["quantizer.layers.0.codebook.inited"]) == 1.0
    # each rank read its own file
    assert not torch.equal(torch.load(tmp_path / "crop0.pt"), torch.load(tmp_path / "crop1.pt"))


def test_default_recipe_architecture(tmp_path):
    """Version 2 of the default recipe builds the shipped codec's architecture; variants by flag."""
    from mne_codec import load_codec
    from mne_codec.training.default import main, v2_config

    shipped = load_codec("biocodec-eeg-mne-v2", verbose=False)
    assert shipped.config.to_dict() == v2_config().to_dict()
    variant = v2_config(codebook_dim=8)
    assert variant.rvq.codebook_dim == 8
    assert BioCodec(variant).quantizer.layers[0].project_in.out_features == 8
    with pytest.raises(SystemExit):  # version 1 is BioCodec's own architecture
        main(["--out", str(tmp_path), "--steps", "1", "--version", "1", "--codebook-dim", "8"])
    assert not any(tmp_path.iterdir())
