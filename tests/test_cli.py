"""``mne-codec train`` and ``mne-codec evaluate`` on real recordings."""

import json
import math

import pytest
import torch

from mne_codec.cli import main


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_train_then_evaluate(tmp_path, shared_data, capsys, one_thread):
    eeg = shared_data / "MNE-eegbci-data/files/eegmmidb/1.0.0"
    config = {
        "codec": {"family": "biocodec", "config": {
            "ratios": [2, 2], "n_filters": 4, "dimension": 16, "lstm_layers": 1,
            "rvq": {"dim": 16, "n_codebooks": 2, "codebook_size": 16, "codebook_dim": 4,
                    "kmeans_iters": 5},
            "preprocessing": {"sfreq": 100.0, "l_freq": 0.5, "h_freq": 40.0}}},
        "train": {"total_steps": 6, "batch_size": 4, "segment_s": 2.0, "val_every": 3,
                  "checkpoint_every": 3, "log_every": 1, "warmup_steps": 2, "lr": 1e-3,
                  "progress": False},
        "data": {"eegbci_names": True},
    }
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config))
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--train", str(eeg / "S001/S001R04.edf"),
                 "--val", str(eeg / "S002/S002R04.edf"), "--out", str(out),
                 "--val-segments", "16"]) == 0
    assert (out / "final" / "model.safetensors").exists()
    assert (out / "log_train.csv").exists() and (out / "log_val.csv").exists()
    capsys.readouterr()
    import matplotlib

    matplotlib.use("Agg")
    from mne_codec import evaluation

    labels = []

    def plot(*args, ylabel, **kwargs):
        fig = plot_rate_distortion(*args, ylabel=ylabel, **kwargs)
        labels.append(fig.axes[0].get_ylabel())
        return fig

    plot_rate_distortion = evaluation.plot_rate_distortion
    report, plot_file = tmp_path / "report.json", tmp_path / "rd.png"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(evaluation, "plot_rate_distortion", plot)
        assert main(["evaluate", str(eeg / "S002/S002R04.edf"), "--codec", str(out / "final"),
                     "--eegbci-names", "--json", str(report), "--window-s", "4",
                     "--plot", str(plot_file)]) == 0
    captured = capsys.readouterr()
    text = captured.out
    assert "| levels | bit/s | NMSE |" in text
    # progress bars (stderr) although messages are silenced; where the outputs went
    assert "Encoding recordings" in captured.err and "Decoding levels" in captured.err
    assert f"Report written to {report}" in text and f"Plot written to {plot_file}" in text
    assert labels == ["NMSE on S002R04.edf"] and plot_file.stat().st_size > 5000
    rep = json.loads(report.read_text())
    assert [r["n_codebooks"] for r in rep["levels"]] == [1, 2]
    assert rep["n_signals"] == 64 * 30  # 123 s of 64 channels in 4 s windows
    for row in rep["levels"]:
        assert 0 < row["nmse"] < 10 and len(row["usage"]) == row["n_codebooks"]


def test_plot_training_log(tmp_path, shared_data, one_thread):
    """The log of a run becomes a figure."""
    import matplotlib

    matplotlib.use("Agg")
    from mne_codec.training import plot_log, read_log

    eeg = shared_data / "MNE-eegbci-data/files/eegmmidb/1.0.0"
    out = tmp_path / "run"
    assert main(["train", "--train", str(eeg / "S001/S001R04.edf"), "--val",
                 str(eeg / "S002/S002R04.edf"), "--out", str(out), "--eegbci-names",
                 "--total-steps", "2", "--batch-size", "2", "--val-segments", "4"]) == 0
    train, val = read_log(out)
    assert "loss" in train and any(k.endswith("nmse_6") for k in val)
    plot_log(out, tmp_path / "log.png")
    assert (tmp_path / "log.png").stat().st_size > 5000


def test_evaluate_leaves_out_non_eeg_unless_picked(rng, tiny_codec):
    import mne

    from mne_codec.evaluation import evaluate_codec

    info = mne.create_info(["Fp1", "Cz", "ECG ECG"], 100.0, "eeg")
    raw = mne.io.RawArray(1e-5 * rng.standard_normal((3, 800)), info, verbose=False)
    kw = dict(window_s=2.0, n_codebooks=[1], progress=False, verbose="ERROR")
    assert evaluate_codec(tiny_codec, [raw], **kw)["n_signals"] == 2 * 4
    assert evaluate_codec(tiny_codec, [raw], picks="eeg", **kw)["n_signals"] == 3 * 4


def _tiny_family_config(family):
    """A codec of ``family`` small enough to train a few steps in seconds, as JSON."""
    from dataclasses import replace

    from mne_codec.models import BioCodecConfig, DACConfig, DACMCConfig, NeuroRVQConfig
    from mne_codec.models.neurorvq import _eeg_rvq
    from mne_codec.quantization import RVQConfig

    loss = {}
    if family == "biocodec":
        rvq = RVQConfig(dim=16, n_codebooks=2, codebook_size=16, codebook_dim=4, kmeans_iters=5)
        cfg = BioCodecConfig(ratios=(2, 2), n_filters=4, dimension=16, lstm_layers=1, rvq=rvq)
        cfg = replace(cfg, preprocessing=replace(cfg.preprocessing, sfreq=100.0))
        data = {"segment_s": 2.0}
    elif family in ("dac", "dac_mc"):
        cfg = DACConfig.eeg(sfreq=100.0, encoder_dim=4, encoder_rates=(2, 5), decoder_dim=16,
                            decoder_rates=(5, 2), n_codebooks=2, codebook_size=16,
                            codebook_dim=4, quantizer_warmup_steps=1)
        if family == "dac_mc":
            cfg = DACMCConfig.from_dac(cfg, attention_dim=16, n_heads=2, channel_dim=8)
        # short mel windows: the recipe's crops are twice the longest (1.3 s here)
        loss = {"window_lengths": [32, 64], "n_mels": [5, 10]}
        data = {"n_channels": 3}
    else:
        cfg = NeuroRVQConfig(n_patches=64, out_chans=4, embed_dim=100, depth_encoder=1,
                             depth_decoder=1, num_heads=5, mlp_ratio=2, canonical_names=True,
                             rvq=replace(_eeg_rvq(), dim=16, n_codebooks=2, codebook_size=16,
                                         kmeans_iters=5))
        data = {"n_channels": 4, "segment_s": 4.0}
    train = {"batch_size": 4, "log_every": 1, "val_every": None, "checkpoint_every": None,
             "warmup_steps": 1, "amp": False, "progress": False, "num_threads": 1}
    if "segment_s" in data:
        train["segment_s"] = data.pop("segment_s")
    return {"codec": {"family": family, "config": cfg.to_dict()}, "train": train, "loss": loss,
            "data": {"eegbci_names": True, **data}}


@pytest.mark.parametrize("family", ["biocodec", "dac", "dac_mc", "neurorvq"])
def test_train_every_family_and_resume(tmp_path, shared_data, family, one_thread):
    """``mne-codec train --family`` trains each family's recipe and resumes its checkpoint."""
    from mne_codec.checkpoints import load_codec
    from mne_codec.training import read_log

    eeg = shared_data / "MNE-eegbci-data/files/eegmmidb/1.0.0"
    cfg_file, out = tmp_path / "config.json", tmp_path / "run"
    cfg_file.write_text(json.dumps(_tiny_family_config(family)))
    argv = ["train", str(cfg_file), "--family", family, "--train",
            str(eeg / "S001/S001R04.edf"), "--val", str(eeg / "S002/S002R04.edf"),
            "--out", str(out), "--total-steps", "4", "--val-segments", "4"]
    assert main(argv + ["--max-steps", "2"]) == 0  # a first session of 2 steps
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["step"] == 2 and state["total_steps"] == 4
    assert main(argv + ["--resume"]) == 0  # continues at step 3
    train, val = read_log(out)
    assert list(train["step"]) == [1, 2, 3, 4] and all(map(math.isfinite, train["loss"]))
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 4
    assert 0 < val["val/nmse_2"][-1] < 10  # the one validation, through the protocol alone
    codec = load_codec(out / "final")
    assert codec.family == family and codec.max_codebooks == 2


def test_train_family_must_match_config(tmp_path):
    cfg_file = tmp_path / "config.json"
    cfg_file.write_text(json.dumps({"codec": {"family": "dac"}}))
    with pytest.raises(SystemExit, match="--family neurorvq but the config's codec is a dac"):
        main(["train", str(cfg_file), "--family", "neurorvq", "--out", str(tmp_path / "o")])
