"""Corpus tokenization: shards equal to CodecTokenizer, resume, parallel, torchrun ranks."""

import json
import shutil

import mne
import numpy as np
import pytest

from mne_codec import CodecTokenizer, read_tokens, save_codec, transformers
from mne_codec.cli import main
from mne_codec.corpus import find_recordings, tokenize_corpus

from .conftest import (
    assert_codes_equal_up_to_near_ties,
    make_tiny_codec,
    run_torchrun,
    tokenizer_inputs,
)


@pytest.fixture(scope="module")
def corpus(shared_data, tmp_path_factory):
    """A small BIDS-like tree of real recordings, a bad file, and a tiny codec."""
    root = tmp_path_factory.mktemp("corpus")
    src = shared_data / "MNE-eegbci-data/files/eegmmidb/1.0.0/S001"
    for run in ("R01", "R02"):
        dest = root / "sub-01" / "eeg" / f"sub-01_run-{run}_eeg.edf"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / f"S001{run}.edf", dest)
    eegmat = root / "sub-02" / "eeg" / "sub-02_task-arithmetic_eeg.edf"
    eegmat.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(shared_data / "eegmat" / "Subject00_2.edf", eegmat)
    (root / "derivatives").mkdir()
    shutil.copy(eegmat, root / "derivatives" / "ignored_eeg.edf")
    codec_dir = save_codec(make_tiny_codec(), root.parent / "tiny_codec")
    return root, codec_dir


def test_find_recordings_walks_folders_but_not_derivatives(corpus):
    root, _ = corpus
    files = find_recordings([root])
    assert [f.name for f in files] == ["sub-01_run-R01_eeg.edf", "sub-01_run-R02_eeg.edf",
                                       "sub-02_task-arithmetic_eeg.edf"]
    with pytest.raises(FileNotFoundError, match="No such file"):
        find_recordings([root / "missing"])


def test_tokenize_corpus_shards_resume_and_failures(corpus, tmp_path):
    root, codec_dir = corpus
    bad = tmp_path / "in" / "broken_eeg.edf"
    bad.parent.mkdir()
    bad.write_bytes(b"0       not an EDF file at all")
    out = tmp_path / "tokens"
    summary = tokenize_corpus([root, bad], out, codec=codec_dir, window_s=4.0, n_jobs=2,
                              progress=False)
    assert summary["done"] == 3 and summary["skipped"] == 0
    assert len(summary["failed"]) == 1 and "broken_eeg.edf" in summary["failed"][0]["source"]
    failed = [json.loads(line) for line in (out / "failed.jsonl").read_text().splitlines()]
    assert failed[0]["source"].endswith("broken_eeg.edf") and failed[0]["error"]
    header = json.loads((out / "codec.json").read_text())
    assert header["codec"]["family"] == "biocodec" and header["tokenizer"]["window_s"] == 4.0
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(manifest) == 3 and manifest[0]["n_channels"] == 64
    # each shard equals tokenizing the recording directly
    first = root / "sub-01" / "eeg" / "sub-01_run-R01_eeg.edf"
    shard = read_tokens(out / "shards" / manifest[0]["shard"])
    raw = mne.io.read_raw(first, preload=True, verbose="ERROR")
    tok = CodecTokenizer(make_tiny_codec(), window_s=4.0, output="tokens").fit(raw)
    direct = tok.tokenize(raw)
    # the shard was coded in a worker process with its own thread count: equal up to
    # float near-ties (a convolution's rounding depends on threads and batch shape)
    assert_codes_equal_up_to_near_ties(tok.codec_, tokenizer_inputs(tok, raw), direct.codes,
                                       shard.codes)
    np.testing.assert_array_equal(shard.onsets_s, direct.onsets_s)
    assert shard.ch_names == raw.ch_names and shard.codec["fingerprint"] == \
        header["codec"]["fingerprint"]
    # resume: nothing is redone; a deleted shard is redone alone
    stamp = (out / "shards" / manifest[1]["shard"]).stat().st_mtime_ns
    (out / "shards" / manifest[0]["shard"]).unlink()
    transformers._WINDOW_CACHE.clear()  # of the direct tokenization's windows
    again = tokenize_corpus([root], out, codec=codec_dir, window_s=4.0, progress=False)
    assert again["done"] == 1 and again["skipped"] == 2
    # in this process (one job): a corpus codes each window once, so it leaves the
    # in-process cache of the transformers alone
    assert len(transformers._WINDOW_CACHE.items) == 0
    assert (out / "shards" / manifest[1]["shard"]).stat().st_mtime_ns == stamp
    # another codec or other parameters never mix into the same folder
    with pytest.raises(ValueError, match="another codec or other parameters"):
        tokenize_corpus([root], out, codec=codec_dir, window_s=2.0, progress=False)


def test_cli_tokenize_with_channel_options(corpus, tmp_path, capsys):
    root, codec_dir = corpus
    eegmat = root / "sub-02" / "eeg" / "sub-02_task-arithmetic_eeg.edf"
    rc = main(["tokenize", str(eegmat), "--out", str(tmp_path / "o"), "--codec", str(codec_dir),
               "--window-s", "4", "--channel-types", '{"ECG ECG": "ecg"}', "--drop-channels",
               "EEG A2-A1", "--no-progress"])
    assert rc == 0 and "1 tokenized" in capsys.readouterr().out
    (shard,) = (tmp_path / "o" / "shards").glob("*.tokens.npz")
    assert read_tokens(shard).codes.shape[1] == 19  # ECG retyped, A2-A1 dropped


def test_cli_tokenize_says_which_channels_it_codes(corpus, tmp_path, capsys):
    """eegmat types ECG and A2-A1 as EEG: left out by default, on screen and in the manifest."""
    root, codec_dir = corpus
    eegmat = root / "sub-02" / "eeg" / "sub-02_task-arithmetic_eeg.edf"
    args = [str(eegmat), "--codec", str(codec_dir), "--window-s", "4", "--no-progress"]
    assert main(["tokenize", *args, "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "coded 19 channels (EEG Fp1, " in out
    assert "left out as not EEG: EEG A2-A1, ECG ECG" in out and "--picks" in out
    (record,) = [json.loads(line) for line in (tmp_path / "o" / "manifest.jsonl").open()]
    assert record["n_channels"] == 19 and "ECG ECG" not in record["ch_names"]
    assert record["left_out"] == ["EEG A2-A1", "ECG ECG"]
    # --picks chooses: every channel typed EEG, or named ones
    assert main(["tokenize", *args, "--out", str(tmp_path / "p"), "--picks", "eeg"]) == 0
    assert "coded 21 channels" in capsys.readouterr().out
    summary = tokenize_corpus([eegmat], tmp_path / "q", codec=codec_dir, window_s=4.0,
                              picks=["EEG Cz", "EEG Pz"], progress=False)
    assert summary["channels"] == [{"ch_names": ["EEG Cz", "EEG Pz"], "left_out": [],
                                    "n_recordings": 1}]


def test_torchrun_ranks_give_the_single_process_corpus(corpus, tmp_path):
    """``mne-codec tokenize`` under torchrun, 2 gloo ranks on one CPU node, as one process."""
    root, codec_dir = corpus
    args = ["tokenize", root, "--codec", codec_dir, "--window-s", "4", "--no-progress"]
    out = tmp_path / "ranks"
    proc = run_torchrun(["--standalone", "-m", "mne_codec.cli", *args, "--out", out],
                        timeout=300)
    assert "2 tokenized" in proc.stdout and "1 tokenized" in proc.stdout  # ranks 0 and 1
    single = tmp_path / "single"
    assert main([str(a) for a in args] + ["--out", str(single)]) == 0

    def manifest(folder):
        return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]

    ranked, alone = manifest(out), manifest(single)
    assert len(alone) == 3
    same = ("source", "size", "mtime", "shard", "n_windows", "n_channels", "ch_names",
            "left_out", "sfreq", "duration_s", "partial")
    assert [{k: r[k] for k in same} for r in ranked] == [{k: r[k] for k in same} for r in alone]
    header = json.loads((out / "codec.json").read_text())
    assert header["codec"] == json.loads((single / "codec.json").read_text())["codec"]
    assert not list(out.glob("failed*.jsonl"))
    for record in alone:
        a = read_tokens(single / "shards" / record["shard"])
        b = read_tokens(out / "shards" / record["shard"])
        assert (a.ch_names, a.sfreq, a.n_times, a.codec) == (b.ch_names, b.sfreq, b.n_times,
                                                             b.codec)
        np.testing.assert_array_equal(a.onsets_s, b.onsets_s)
        np.testing.assert_allclose(b.center, a.center, rtol=1e-9, atol=0)
        np.testing.assert_allclose(b.scale, a.scale, rtol=1e-9, atol=0)
        # other processes: equal codes up to float near-ties
        raw = mne.io.read_raw(record["source"], preload=True, verbose="ERROR")
        tok = CodecTokenizer(make_tiny_codec(), window_s=4.0, output="tokens").fit(raw)
        assert tok.codec_.fingerprint() == header["codec"]["fingerprint"]
        assert_codes_equal_up_to_near_ties(tok.codec_, tokenizer_inputs(tok, raw), a.codes,
                                           b.codes)


def test_named_codec_unknown_channels_fail_or_are_dropped(shared_data, tmp_path, capsys):
    from mne_codec.checkpoints import load_neurorvq_checkpoint

    from .test_neurorvq import REF_PT, small_config

    codec_dir = save_codec(load_neurorvq_checkpoint(REF_PT, config=small_config()),
                           tmp_path / "nrvq")
    raw = mne.io.read_raw_edf(shared_data / "MNE-eegbci-data/files/eegmmidb/1.0.0/S001"
                              / "S001R01.edf", preload=True, verbose="ERROR").crop(0, 20.0)
    mne.datasets.eegbci.standardize(raw)
    raw.rename_channels({"FC5": "XYZ1"})  # a name no EEG vocabulary knows
    source = tmp_path / "in" / "unknown_raw.fif"
    source.parent.mkdir()
    raw.save(source, verbose="ERROR")
    failed = tokenize_corpus([source], tmp_path / "raise", codec=codec_dir, window_s=4.0,
                             progress=False)
    assert failed["done"] == 0 and "XYZ1" in failed["failed"][0]["error"]
    with pytest.warns(RuntimeWarning, match="XYZ1"):
        rc = main(["tokenize", str(source), "--out", str(tmp_path / "drop"), "--codec",
                   str(codec_dir), "--window-s", "4", "--unknown", "drop", "--no-progress"])
    assert rc == 0 and "1 tokenized" in capsys.readouterr().out
    (shard,) = (tmp_path / "drop" / "shards").glob("*.tokens.npz")
    tokens = read_tokens(shard)
    assert tokens.ch_names == [c for c in raw.ch_names if c != "XYZ1"]
    assert tokens.codes.shape[1] == 63
    header = json.loads((tmp_path / "drop" / "codec.json").read_text())
    assert header["tokenizer"]["unknown"] == "drop"
