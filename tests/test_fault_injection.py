"""Fault injection into corpus tokenization: killed processes, a full disk, damaged shards.

After each fault, a rerun of the same command completes the corpus, and the
corpus equals that of an uninterrupted run: the same manifest records, and the
same codes in every shard (bit for bit where both runs coded in this process
with one thread; up to float near-ties for shards a worker process coded).
"""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager

import mne
import numpy as np
import pytest

import mne_codec._io
import mne_codec.corpus
import mne_codec.tokens
from mne_codec import CodecTokenizer, read_tokens, save_codec
from mne_codec.corpus import tokenize_corpus

from .conftest import assert_codes_equal_up_to_near_ties, make_tiny_codec, tokenizer_inputs

TINY = make_tiny_codec()
KW = dict(window_s=4.0, n_jobs=1, num_threads=1, progress=False)
#: fields of a record that say how long the run took or hash the shard's bytes
VOLATILE = ("seconds",)
BYTES = ("shard_size", "shard_sha256")


@pytest.fixture(scope="module")
def recordings(shared_data, tmp_path_factory):
    """Three short real recordings (two EEGMMIDB runs, 64 channels; eegmat, 21) and a codec."""
    root = tmp_path_factory.mktemp("faults")
    src = root / "in"
    src.mkdir()
    eegbci = shared_data / "MNE-eegbci-data/files/eegmmidb/1.0.0/S001"
    for fname in (eegbci / "S001R01.edf", eegbci / "S001R02.edf",
                  shared_data / "eegmat" / "Subject00_2.edf"):
        raw = mne.io.read_raw_edf(fname, preload=True, verbose="ERROR").crop(0, 8.0)
        raw.save(src / f"{fname.stem}_raw.fif", verbose="ERROR")
    codec = save_codec(TINY, root / "tiny_codec")
    reference = tokenize_corpus([src], root / "reference", codec=codec, **KW)
    assert reference["done"] == 3 and not reference["failed"]
    return src, codec, root / "reference"


def _records(out):
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def _assert_same_corpus(out, reference, exact=True):
    """``out`` holds the corpus of ``reference``: records, shards and codes."""
    assert not list(out.rglob("*.part")), "a temporary file was left behind"
    drop = VOLATILE if exact else VOLATILE + BYTES
    got, want = _records(out), _records(reference)
    assert [{k: v for k, v in r.items() if k not in drop} for r in got] == \
        [{k: v for k, v in r.items() if k not in drop} for r in want]
    assert sorted(p.name for p in (out / "shards").iterdir()) == \
        sorted(p.name for p in (reference / "shards").iterdir())
    for record in want:
        a = read_tokens(reference / "shards" / record["shard"])
        b = read_tokens(out / "shards" / record["shard"])
        np.testing.assert_array_equal(a.onsets_s, b.onsets_s)
        np.testing.assert_array_equal(a.scale, b.scale)
        if exact:
            np.testing.assert_array_equal(a.codes, b.codes)
        else:  # coded in another process: equal up to float near-ties
            raw = mne.io.read_raw(record["source"], verbose="ERROR")
            tok = CodecTokenizer(TINY, window_s=KW["window_s"], output="tokens").fit(raw)
            assert_codes_equal_up_to_near_ties(TINY, tokenizer_inputs(tok, raw), a.codes,
                                               b.codes)


# -- (a) a process killed with SIGKILL in the middle of a shard -----------------------
SCRIPT = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from mne_codec.corpus import tokenize_corpus

    def hang_on_victim(raw):
        # stands for a recording being coded when the process is killed
        if Path(raw.filenames[0]).name == sys.argv[4]:
            Path(sys.argv[5]).write_text(str(os.getpid()))
            time.sleep(600)
        return raw

    if __name__ == "__main__":
        src, out, codec, victim, marker, n_jobs = sys.argv[1:7]
        tokenize_corpus([src], out, codec=codec, window_s=4.0, n_jobs=int(n_jobs),
                        num_threads=1, prepare_raw=hang_on_victim, progress=False)
""")


def _wait_for(condition, timeout, what):
    t0 = time.monotonic()
    while not condition():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("n_jobs", [1, 2], ids=["serial run killed", "worker killed"])
def test_sigkill_mid_shard_then_rerun_completes_the_same_corpus(recordings, tmp_path, n_jobs):
    src, codec, reference = recordings
    out, marker, script = tmp_path / "tokens", tmp_path / "pid", tmp_path / "run.py"
    script.write_text(SCRIPT)
    victim = "S001R02_raw.fif"  # the second of three recordings
    proc = subprocess.Popen([sys.executable, str(script), str(src), str(out), str(codec),
                             victim, str(marker), str(n_jobs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: marker.exists() and marker.read_text(), 90, "the victim recording")
        if n_jobs == 1:  # the first recording's shard is complete before the second starts
            assert (out / "shards" / "S001R01_raw.json").exists()
        os.kill(int(marker.read_text()), signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)  # a lost worker must not hang the run
    finally:
        proc.kill()
        proc.wait()
    if n_jobs == 1:
        assert proc.returncode == -signal.SIGKILL
    else:  # the run stops, says why and what to do
        assert proc.returncode != 0 and "worker process died" in stderr, stderr[-2000:]
    assert not (out / "shards" / "S001R02_raw.tokens.npz").exists()
    assert not list(out.rglob("*.part"))
    again = tokenize_corpus([src], out, codec=codec, **KW)
    assert again["done"] + again["skipped"] == 3 and again["done"] >= 1
    assert not again["failed"]
    # the shards of the killed run were coded in another process: up to near-ties
    _assert_same_corpus(out, reference, exact=False)


# -- (b) a full disk while a shard or its record is written ---------------------------
def _full_disk_at(n):
    """An ``atomic_path`` whose ``n``-th write fails half-way with ENOSPC."""
    real = mne_codec._io.atomic_path
    calls = []

    @contextmanager
    def atomic_path(path):
        with real(path) as tmp:
            yield tmp
            calls.append(path)
            if len(calls) == n:
                data = tmp.read_bytes()
                tmp.write_bytes(data[: len(data) // 2])  # what fitted on the disk
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))

    return atomic_path, calls


@pytest.mark.parametrize("target", ["shard", "record"])
def test_full_disk_stops_the_run_and_rerun_completes_the_same_corpus(recordings, tmp_path,
                                                                     monkeypatch, target):
    src, codec, reference = recordings
    out = tmp_path / "tokens"
    # the second recording's shard (tokens.save) or record (the corpus's JSON) fails
    module = mne_codec.tokens if target == "shard" else mne_codec.corpus
    n = 2 if target == "shard" else 3  # corpus writes codec.json, then one record per shard
    fake, calls = _full_disk_at(n)
    monkeypatch.setattr(module, "atomic_path", fake)
    with pytest.raises(OSError, match="No space left") as info:
        tokenize_corpus([src], out, codec=codec, **KW)
    assert info.value.errno == errno.ENOSPC
    assert len(calls) == n  # the run stopped at the full disk: the third was not started
    assert not list(out.rglob("*.part"))
    names = sorted(p.name for p in (out / "shards").iterdir())
    if target == "shard":  # nothing of the second recording under its final name
        assert names == ["S001R01_raw.json", "S001R01_raw.tokens.npz"]
    else:  # its shard is whole, its record missing: it is not counted as done
        assert names == ["S001R01_raw.json", "S001R01_raw.tokens.npz",
                         "S001R02_raw.tokens.npz"]
    monkeypatch.undo()
    again = tokenize_corpus([src], out, codec=codec, **KW)
    assert (again["done"], again["skipped"]) == (2, 1) and not again["failed"]
    _assert_same_corpus(out, reference)


# -- (c) shards and records damaged between runs --------------------------------------
def test_damaged_shards_between_runs_are_redone(recordings, tmp_path):
    src, codec, reference = recordings
    out = tmp_path / "tokens"
    assert tokenize_corpus([src], out, codec=codec, **KW)["done"] == 3
    shards = out / "shards"
    truncated = shards / "S001R01_raw.tokens.npz"
    truncated.write_bytes(truncated.read_bytes()[:-100])
    flipped = shards / "S001R02_raw.tokens.npz"  # same size, one byte flipped
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    (shards / "Subject00_2_raw.json").write_text('{"source": ')  # a half-written record
    again = tokenize_corpus([src], out, codec=codec, **KW)
    assert (again["done"], again["skipped"]) == (3, 0)
    _assert_same_corpus(out, reference)
    # and an intact corpus is skipped whole, its files untouched
    stamps = {p.name: p.stat().st_mtime_ns for p in shards.iterdir()}
    assert tokenize_corpus([src], out, codec=codec, **KW)["skipped"] == 3
    assert {p.name: p.stat().st_mtime_ns for p in shards.iterdir()} == stamps
