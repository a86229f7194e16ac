"""MOABB: PhysionetMI read offline from ../shared/data, and the benchmark's evaluations."""

import importlib.util
import os
import socket
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("moabb", reason="moabb is the optional extra 'moabb' "
                                    "(pip install 'mne-codec[moabb]')")

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "moabb_eval.py"
#: a few sensorimotor channels: the evaluations run in seconds on 2 cores
MOTOR = ["FC3", "FC4", "C5", "C3", "C1", "Cz", "C2", "C4", "C6", "CP3", "CP4"]


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails the test (nothing may be downloaded)."""

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_physionet_mi_reads_local_files_only(shared_data, no_network, tmp_path):
    from moabb.paradigms import LeftRightImagery

    from mne_codec.datasets import moabb_physionet_mi

    before = os.environ.get("MNE_DATASETS_EEGBCI_PATH")
    dataset = moabb_physionet_mi(path=shared_data)
    assert dataset.subject_list == list(range(1, 11))
    assert dataset.code == "PhysionetMotorImagery"
    X, y, meta = LeftRightImagery(channels=MOTOR).get_data(dataset, subjects=[3])
    assert X.shape == (45, len(MOTOR), 481)  # 0-3 s at 160 Hz
    assert set(y) == {"left_hand", "right_hand"} and set(meta.subject) == {3}
    assert os.environ.get("MNE_DATASETS_EEGBCI_PATH") == before  # restored
    with pytest.raises(FileNotFoundError, match="downloads nothing"):
        moabb_physionet_mi([11], path=shared_data).get_data([11])
    with pytest.raises(FileNotFoundError, match="No EEGMMIDB"):
        moabb_physionet_mi(path=tmp_path)


def test_benchmark_evaluations_on_two_subjects(shared_data, no_network, tmp_path,
                                               monkeypatch):
    pytest.importorskip("pyriemann", reason="the classical pipelines are pyRiemann's")
    monkeypatch.setenv("MNE_CODEC_SHARED_DATA", str(shared_data))
    spec = importlib.util.spec_from_file_location("moabb_eval", BENCHMARK)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = bench.evaluate([1, 2], ["default"], ["within", "cross"], tmp_path,
                             channels=MOTOR)
    table = bench.summary(results)
    assert set(table.pipeline) == {"tokens+LR (default)", "CSP+LDA", "TS+LR"}
    assert set(table.evaluation) == {"WithinSessionEvaluation", "CrossSubjectEvaluation"}
    assert (table.n_subjects == 2).all()
    assert np.all((results.score >= 0) & (results.score <= 1))
    fig = bench.score_figure(results)
    fig.savefig(tmp_path / "scores.png")
    assert (tmp_path / "scores.png").stat().st_size > 0
