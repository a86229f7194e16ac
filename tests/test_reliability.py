"""No silent wrong results: token files, caches and written files that say what is wrong."""

import json
import os
import stat

import mne
import numpy as np
import pytest

from mne_codec import CodecTokenizer, read_tokens
from mne_codec._cache import DiskTokenCache
from mne_codec._io import atomic_path
from mne_codec.tokens import TokenFileError, Tokens

from .conftest import assert_codes_equal_up_to_near_ties, make_tiny_codec, tokenizer_inputs

TINY = make_tiny_codec()


def _tokens(rng):
    X = rng.standard_normal((2, 2, 300)) * 1e-5
    return CodecTokenizer(TINY, sfreq=100.0).fit(X).tokenize(X)


def _rewrite(fname, out, **changes):
    """Copy a token file with some arrays or metadata fields replaced."""
    with np.load(fname, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays["meta"].tobytes().decode())
    for key, value in changes.items():
        if key in arrays and key != "meta":
            arrays[key] = value
        else:
            meta[key] = value
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(out, "wb") as f:
        np.savez(f, **arrays)
    return out


@pytest.mark.parametrize("change, match", [
    (dict(sfreq=-5.0), "sfreq must be a positive"),
    (dict(n_times=0), "n_times must be a positive"),
    (dict(n_times_codec=0), "n_times_codec must be a positive"),
    (dict(sfreq=float("nan")), "sfreq must be a positive"),
])
def test_token_file_metadata_are_validated_on_read(tmp_path, rng, change, match):
    fname = _tokens(rng).save(tmp_path / "t.npz")
    bad = _rewrite(fname, tmp_path / "bad.npz", **change)
    with pytest.raises(TokenFileError, match=match):
        read_tokens(bad)


def test_token_file_values_are_validated_on_read(tmp_path, rng):
    tokens = _tokens(rng)
    fname = tokens.save(tmp_path / "t.npz")
    scale = tokens.scale.copy()
    scale[0, 0] = np.nan
    with pytest.raises(TokenFileError, match="finite"):
        read_tokens(_rewrite(fname, tmp_path / "nan.npz", scale=scale))
    codes = tokens.codes.copy()
    codes[0, 0, 0, 0] = 999  # beyond the 16-code book of the tiny codec
    with pytest.raises(TokenFileError, match="codebook_size 16"):
        read_tokens(_rewrite(fname, tmp_path / "range.npz", codes=codes))
    codes[0, 0, 0, 0] = -1
    with pytest.raises(TokenFileError, match=">= 0"):
        read_tokens(_rewrite(fname, tmp_path / "neg.npz", codes=codes))
    assert isinstance(TokenFileError("x"), ValueError)  # callers catching ValueError still do
    with pytest.raises(ValueError, match="scale must be >= 0"):
        Tokens(**{**vars(tokens), "scale": -tokens.scale})


def test_atomic_writes_respect_the_umask(tmp_path, rng):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "a.bin") as tmp, open(tmp, "wb") as f:
            f.write(b"x")
        np.save(tmp_path / "b.npy", np.zeros(2))
        mode_atomic = stat.S_IMODE((tmp_path / "a.bin").stat().st_mode)
        mode_plain = stat.S_IMODE((tmp_path / "b.npy").stat().st_mode)
        assert mode_atomic == mode_plain == 0o644
        os.umask(0o007)  # a group-shared lab folder
        fname = _tokens(rng).save(tmp_path / "t.npz")
        assert stat.S_IMODE(fname.stat().st_mode) == 0o660
    finally:
        os.umask(old)


def test_damaged_cache_entries_are_recomputed(tmp_path):
    cache = DiskTokenCache(tmp_path)
    cache.save("ab" + "0" * 38, codes=np.arange(4))
    path = cache._path("ab" + "0" * 38)
    assert cache.load("ab" + "0" * 38)["codes"].tolist() == [0, 1, 2, 3]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # half-truncated: BadZipFile inside numpy
    assert cache.load("ab" + "0" * 38) is None
    cache.save("cd" + "0" * 38, codes=np.array([999]))

    def in_range(entry):
        return bool((entry["codes"] < 16).all())

    assert cache.load("cd" + "0" * 38, check=in_range) is None
    assert cache.load("cd" + "0" * 38) is not None  # without a check it loads as it is


def test_tokens_of_another_codec_are_refused(rng):
    X = rng.standard_normal((2, 2, 300)) * 1e-5
    tok = CodecTokenizer(TINY, sfreq=100.0).fit(X)
    tokens = tok.tokenize(X)
    other = CodecTokenizer(make_tiny_codec(seed=1), sfreq=100.0).fit(X)
    with pytest.raises(ValueError, match="written by codec .* check_codec=False"):
        other.inverse_transform(tokens)
    assert other.inverse_transform(tokens, check_codec=False).shape == X.shape  # override
    np.testing.assert_allclose(tok.inverse_transform(tokens),
                               tok.inverse_transform(tokens, check_codec=False))


def test_batch_is_capped_at_the_number_of_windows(rng, monkeypatch):
    """Two channel-windows need two windows' memory, whatever batch_size says."""
    import mne_codec.pipeline as inference

    codec = TINY.eval()
    x = rng.standard_normal((1, 2, 400)).astype(np.float32)
    per_item = inference._bytes_per_sample(codec, "encode") * 400
    monkeypatch.setattr(inference, "_available_bytes",
                        lambda dev: int(2.5 * per_item / inference._MEMORY_FRACTION))
    codes = inference.encode_windows(codec, x, batch_size=256)
    assert codes.shape[:2] == (1, 2)
    with pytest.raises(MemoryError, match="Use batch_size=2 or less"):
        inference.encode_windows(codec, np.concatenate([x] * 3), batch_size=256)


def test_checkpoint_with_non_finite_weights_is_refused(tmp_path):
    """A diverged training run saves NaN weights with a valid checksum: refuse them."""
    import copy

    import torch

    from mne_codec.checkpoints import CheckpointError, load_codec, save_codec

    bad = copy.deepcopy(TINY)
    name, param = next(iter(bad.named_parameters()))
    with torch.no_grad():
        param.view(-1)[0] = float("nan")
    path = save_codec(bad, tmp_path / "diverged")
    with pytest.raises(CheckpointError, match="non-finite values"):
        load_codec(path)


@pytest.mark.parametrize("params, match", [
    (dict(sfreq=float("nan")), "sfreq must be a positive number or None"),
    (dict(sfreq=0.16), r"0.16 Hz cannot hold the codec's 1-30 Hz band .*kHz"),
    # found by tests/test_properties.py: an OverflowError in the length check
    (dict(sfreq=2.2250738585072014e-308), "cannot hold the codec's 1-30 Hz band"),
    (dict(codec=make_tiny_codec(filters=False), sfreq=1e-308), "too low to resample"),
    (dict(window_s=float("inf")), "window_s must be a positive number or None"),
    (dict(n_codebooks=2.5), "n_codebooks must be a positive integer"),
    (dict(n_codebooks="3"), "n_codebooks must be a positive integer"),
    (dict(n_codebooks=True), "n_codebooks must be a positive integer"),
    (dict(codec=""), "codec is empty"),
    (dict(device="meta"), "device"),
    (dict(batch_size=0), "batch_size must be a positive integer"),
])
def test_bad_parameters_fail_in_fit_naming_the_parameter(rng, params, match):
    X = rng.standard_normal((2, 2, 400)) * 1e-5
    kwargs = {"codec": TINY, "sfreq": 100.0, **params}
    with pytest.raises(ValueError, match=match):
        CodecTokenizer(**kwargs).fit(X)


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["config"]["rvq"].update(codebook_size=-5), "rvq.codebook_size"),
    (lambda d: d["config"]["rvq"].update(codebook_size=0), "rvq.codebook_size"),
    (lambda d: d["config"]["rvq"].update(n_codebooks=0), "rvq.n_codebooks"),
    (lambda d: d["config"]["rvq"].update(n_codebooks=-2), "rvq.n_codebooks"),
    (lambda d: d["config"]["rvq"].update(n_codebooks="six"), "rvq.n_codebooks"),
    (lambda d: d["config"].update(ratios=[-1, 2]), "ratios"),
    (lambda d: d["config"]["preprocessing"].update(sfreq=-250), "preprocessing.sfreq"),
    (lambda d: d.update(family=["biocodec"]), "family"),
    # null where the field admits no None: named at load, not a TypeError at tokenize
    (lambda d: d["config"]["preprocessing"].update(sfreq=None), "preprocessing.sfreq: null"),
    (lambda d: d["config"]["preprocessing"].update(filter_order=None),
     "preprocessing.filter_order: null"),
    (lambda d: d["config"].update(preprocessing=None), "preprocessing: null"),
    (lambda d: d["config"]["rvq"].update(n_codebooks=None), "rvq.n_codebooks: null"),
    (lambda d: d["config"].update(ratios=None), "ratios: null"),
])
def test_bad_config_fields_are_named_at_load(tmp_path, edit, field):
    from mne_codec.checkpoints import CheckpointError, load_codec, save_codec

    path = save_codec(TINY, tmp_path / "tiny")
    doc = json.loads((path / "config.json").read_text())
    edit(doc)
    (path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match=field.replace(".", r"\.")):
        load_codec(path)


def test_null_config_fields_that_admit_none_still_load(tmp_path):
    from mne_codec.checkpoints import load_codec, save_codec

    path = save_codec(TINY, tmp_path / "tiny")
    doc = json.loads((path / "config.json").read_text())
    doc["config"]["preprocessing"].update(l_freq=None, clip=None)
    (path / "config.json").write_text(json.dumps(doc))
    pre = load_codec(path).preprocessing
    assert pre.l_freq is None and pre.clip is None


# -- corpus: no lost shards ---------------------------------------------------------
@pytest.fixture(scope="module")
def two_sites(shared_data, tmp_path_factory):
    """Two folders each holding a different recording named S001R01.edf, and a codec."""
    import shutil

    from mne_codec import save_codec

    root = tmp_path_factory.mktemp("sites")
    src = shared_data / "MNE-eegbci-data/files/eegmmidb/1.0.0/S001"
    for site, run in (("siteA", "R01"), ("siteB", "R02")):
        (root / site).mkdir()
        shutil.copy(src / f"S001{run}.edf", root / site / "S001R01.edf")
    return root, save_codec(TINY, root / "tiny_codec")


def test_corpus_runs_into_one_folder_never_overwrite_each_other(two_sites, tmp_path):
    from mne_codec.corpus import tokenize_corpus

    root, codec = two_sites
    out = tmp_path / "tokens"
    kw = dict(codec=codec, window_s=4.0, progress=False)
    assert tokenize_corpus([root / "siteA"], out, **kw)["done"] == 1
    before = (out / "shards" / "S001R01.tokens.npz").read_bytes()
    with pytest.raises(ValueError, match="holds .*siteA.*already"):
        tokenize_corpus([root / "siteB"], out, **kw)
    assert (out / "shards" / "S001R01.tokens.npz").read_bytes() == before
    manifest = (out / "manifest.jsonl").read_text().splitlines()
    assert len(manifest) == 1 and "siteA" in json.loads(manifest[0])["source"]
    # in one run, the two names are told apart and the manifest lists both
    both = tokenize_corpus([root / "siteA", root / "siteB"], tmp_path / "both", **kw)
    assert both["done"] == 2
    assert len((tmp_path / "both" / "manifest.jsonl").read_text().splitlines()) == 2


def test_damaged_shard_is_tokenized_again(two_sites, tmp_path):
    from mne_codec.corpus import tokenize_corpus

    root, codec = two_sites
    out = tmp_path / "tokens"
    kw = dict(codec=codec, window_s=4.0, progress=False)
    tokenize_corpus([root / "siteA"], out, **kw)
    shard = out / "shards" / "S001R01.tokens.npz"
    whole = shard.read_bytes()
    codes = read_tokens(shard).codes
    record = json.loads((out / "shards" / "S001R01.json").read_text())
    assert record["shard_size"] == len(whole) and len(record["shard_sha256"]) == 64
    assert tokenize_corpus([root / "siteA"], out, **kw)["skipped"] == 1  # verified, kept
    shard.write_bytes(whole[: len(whole) // 2])  # damaged after the run
    again = tokenize_corpus([root / "siteA"], out, **kw)
    assert again["done"] == 1 and again["skipped"] == 0
    np.testing.assert_array_equal(read_tokens(shard).codes, codes)  # same call, same codes


def test_truncated_recording_is_recorded_as_partial(two_sites, tmp_path):
    from mne_codec.corpus import tokenize_corpus

    root, codec = two_sites
    data = (root / "siteA" / "S001R01.edf").read_bytes()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "cut.edf").write_bytes(data[: len(data) // 2])
    out = tmp_path / "tokens"
    summary = tokenize_corpus([tmp_path / "in"], out, codec=codec, window_s=4.0,
                              progress=False)
    assert summary["done"] == 1 and len(summary["partial"]) == 1
    record = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert record["partial"] is True
    assert any("does not match the file size" in w for w in record["warnings"])


def test_nan_inside_bad_annotations_is_skipped_not_refused(rng):
    """NaN only inside a BAD_ annotation: those windows are dropped before the NaN check."""
    from mne_codec import CodecReconstructor

    info = mne.create_info(["C3", "C4"], 100.0, "eeg")
    data = rng.standard_normal((2, 1000)) * 1e-5
    gap = np.zeros(1000, bool)
    gap[300:350] = True  # inside the BAD_ annotation (2.5-3.5 s)
    with_nan = data.copy()
    with_nan[:, gap] = np.nan
    raw = mne.io.RawArray(with_nan, info, first_samp=37, verbose=False)
    raw.set_annotations(mne.Annotations([0.37 + 2.5], [1.0], ["BAD_disconnected"]))
    tok = CodecTokenizer(TINY, window_s=2.0, output="tokens", verbose="ERROR").fit(raw)
    tokens = tok.tokenize(raw)
    np.testing.assert_allclose(tokens.onsets_s, [0.37, 4.37, 6.37, 8.37])  # 2.37-4.37 s out
    assert np.isfinite(tokens.scale).all()
    # the NaN samples are interpolated before the recording is filtered, so the
    # windows around are coded as from that interpolated recording
    filled = data.copy()
    for row in filled:
        row[gap] = np.interp(np.flatnonzero(gap), np.flatnonzero(~gap), row[~gap])
    ref = mne.io.RawArray(filled, info, first_samp=37, verbose=False)
    ref.set_annotations(mne.Annotations([0.37 + 2.5], [1.0], ["BAD_disconnected"]))
    np.testing.assert_array_equal(tok.tokenize(ref).codes, tokens.codes)

    # NaN outside the BAD_ annotations: refused, without advising what was done
    raw.set_annotations(mne.Annotations([0.37 + 6.5], [1.0], ["BAD_disconnected"]))
    with pytest.raises(ValueError, match=r"100 samples, the first at 3.370 s\). They lie "
                                         "outside the BAD_ annotations") as err:
        CodecTokenizer(TINY, window_s=2.0).fit(raw)
    assert "reject_by_annotation=True" not in str(err.value)
    with pytest.raises(ValueError, match="pass reject_by_annotation=True"):
        CodecTokenizer(TINY, window_s=2.0, reject_by_annotation=False).fit(raw)
    with pytest.raises(ValueError, match=r"Interpolate them \(every window is coded\)") as err:
        CodecReconstructor(TINY, window_s=2.0).fit(raw)  # no windows to skip there
    assert "reject_by_annotation" not in str(err.value)


def test_memory_cache_entries_are_validated_and_recomputed(tmp_path, rng):
    """Damaged or impossible ``memory=`` entries are recomputed, never returned as they are."""
    X = rng.standard_normal((3, 2, 300)) * 1e-5
    tok = CodecTokenizer(TINY, sfreq=100.0, output="tokens", memory=str(tmp_path)).fit(X)
    expected = tok.tokenize(X)
    entries = sorted((tmp_path / "mne_codec_tokens").rglob("*.npz"))
    assert len(entries) == 3

    def rewrite(path, **changes):
        with np.load(path) as f:
            entry = {k: f[k] for k in f.files}
        entry.update(changes)
        with open(path, "wb") as f:
            np.savez(f, **entry)

    with np.load(entries[0]) as f:
        codes, scale = f["codes"], f["scale"]
    rewrite(entries[0], codes=np.full_like(codes, 999))  # beyond the 16-code book
    rewrite(entries[1], scale=np.full_like(scale, np.nan))
    data = entries[2].read_bytes()
    entries[2].write_bytes(data[: len(data) // 2])  # half-truncated
    again = tok.tokenize(X)
    for field in ("codes", "center", "scale"):
        np.testing.assert_array_equal(getattr(again, field), getattr(expected, field))
    rewrite(entries[0], codes=codes[:, :, :-1])  # another shape than its neighbours'
    np.testing.assert_array_equal(tok.tokenize(X).codes, expected.codes)


def test_cli_tokenize_checks_parameters_before_writing(two_sites, tmp_path, capsys):
    from mne_codec.cli import main

    root, codec = two_sites
    out = tmp_path / "tokens"
    args = ["tokenize", str(root / "siteA"), "--out", str(out), "--codec", str(codec),
            "--window-s", "4", "--no-progress"]
    assert main([*args, "--n-codebooks", "7"]) == 2  # the tiny codec has 3
    err = capsys.readouterr().err
    assert "n_codebooks" in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not (out / "codec.json").exists()
    assert main([*args, "--n-codebooks", "2"]) == 0  # the corrected rerun is accepted
    # the batch size does not change tokens: a rerun with another one is not refused
    assert main([*args, "--n-codebooks", "2", "--batch-size", "8"]) == 0
    assert "1 already done" in capsys.readouterr().out
    assert "batch_size" not in json.loads((out / "codec.json").read_text())["tokenizer"]
    assert main([*args, "--n-codebooks", "3"]) == 2  # a parameter that does change them
    assert "other parameters" in capsys.readouterr().err
    # a bad option or output folder: one line naming it, no traceback
    with pytest.raises(SystemExit, match="--channel-types is not valid JSON"):
        main([*args, "--channel-types", "{bad"])
    (tmp_path / "a_file").write_text("x")
    assert main([*args[:3], str(tmp_path / "a_file"), *args[4:]]) == 2
    err = capsys.readouterr().err
    assert "is a file" in err and len(err.splitlines()) == 1
    edf = str(root / "siteA" / "S001R01.edf")
    assert main(["evaluate", edf, "--codec", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mne-codec evaluate: error: Unknown codec") and "Traceback" not in err


def test_corpus_codes_do_not_depend_on_jobs(two_sites, tmp_path, monkeypatch):
    """--jobs 2 and a serial run use the same torch threads per process: the same codes."""
    import torch

    from mne_codec.corpus import tokenize_corpus

    root, codec = two_sites
    monkeypatch.setattr(os, "cpu_count", lambda: 4)  # a machine where the split mattered
    kw = dict(codec=codec, window_s=4.0, progress=False)
    threads = torch.get_num_threads()
    tokenize_corpus([root / "siteA", root / "siteB"], tmp_path / "serial", **kw)
    assert torch.get_num_threads() == threads  # the caller's setting is restored
    tokenize_corpus([root / "siteA", root / "siteB"], tmp_path / "jobs", n_jobs=2, **kw)
    records = {}
    for run in ("serial", "jobs"):
        assert json.loads((tmp_path / run / "codec.json").read_text())["runtime"][
            "torch_num_threads"] == 1
        records[run] = [json.loads(line)
                        for line in (tmp_path / run / "manifest.jsonl").read_text().splitlines()]
        assert [r["torch_num_threads"] for r in records[run]] == [1, 1]
    tok = CodecTokenizer(TINY, window_s=4.0, output="tokens")
    for a, b in zip(records["serial"], records["jobs"]):
        raw = mne.io.read_raw(a["source"], preload=True, verbose="ERROR")
        tok.fit(raw)
        assert_codes_equal_up_to_near_ties(
            tok.codec_, tokenizer_inputs(tok, raw),
            read_tokens(tmp_path / "serial" / "shards" / a["shard"]).codes,
            read_tokens(tmp_path / "jobs" / "shards" / b["shard"]).codes)
