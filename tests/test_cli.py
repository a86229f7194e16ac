"""``mne-codec train`` and ``mne-codec evaluate`` on real recordings."""

import json

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
