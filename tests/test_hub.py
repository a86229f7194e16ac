"""The Hugging Face Hub: loading by Hub id from a local cache, save_pretrained, push_to_hub.

No network: the tests build the Hub cache's file layout (``models--owner--repo/
snapshots/<revision>/...``, ``refs/main``) and set ``HF_HUB_OFFLINE=1``; the
upload is a stand-in for ``HfApi`` that records what it was given.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from mne_codec import load_codec
from mne_codec.checkpoints import CheckpointError, DownloadError
from mne_codec.pipeline import tokenize

huggingface_hub = pytest.importorskip("huggingface_hub", reason="the hub extra is not installed")
hub = pytest.importorskip("mne_codec.hub")

REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def codec():
    return load_codec("default")  # shipped weights, with the metadata of its training


@pytest.fixture()
def signal():
    rng = np.random.default_rng(0)
    return 2e-5 * rng.standard_normal((2, 3, 2500))  # volts, 10 s at 250 Hz


def _hub_cache(tmp_path, codec, repo="someone/eeg-codec"):
    """The Hugging Face cache layout of ``repo`` at REVISION, ``main`` pointing to it."""
    root = tmp_path / "hf" / "hub"
    folder = root / f"models--{repo.replace('/', '--')}"
    hub.save_pretrained(codec, folder / "snapshots" / REVISION)
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(REVISION)
    return root


def test_parse_hub_id():
    assert hub.parse_hub_id("hf://owner/repo") == ("owner/repo", None)
    assert hub.parse_hub_id("hf://owner/re.po-1@v1.0") == ("owner/re.po-1", "v1.0")
    assert hub.parse_hub_id(f"owner/repo@{REVISION}") == ("owner/repo", REVISION)
    for bad in ("hf://owner", "hf://a/b/c", "hf://owner/repo@"):
        with pytest.raises(ValueError, match="not a Hugging Face Hub id"):
            hub.parse_hub_id(bad)


def test_save_pretrained_round_trip(codec, signal, tmp_path):
    """save_pretrained -> load gives the same codes on the same input; the card says how."""
    folder = codec.save_pretrained(tmp_path / "out")  # = hub.save_pretrained(codec, ...)
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json",
                                                        "model.safetensors", "readout.safetensors"]
    again = load_codec(folder)
    # the signal read-out of the token features travels with the weights
    np.testing.assert_array_equal(again.readout.weights, codec.readout.weights)
    names = ["C3", "Cz", "C4"]
    a = tokenize(codec, signal, 250.0, names).codes
    b = tokenize(again, signal, 250.0, names).codes
    np.testing.assert_array_equal(a, b)
    assert again.meta == codec.meta
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: mne-codec\n")
    assert codec.meta["train_data"] in card and codec.meta["recipe"] in card
    # the rate-distortion table from the validation the checkpoint carries
    final = codec.meta["training"]["final_validation"]
    assert "| levels | bit/s per channel | NMSE eegmmidb | NMSE eegmat |" in card
    first = f"| 1 | {codec.bits_per_second / codec.n_codebooks:.4g} | "
    assert first + f"{final['eegmmidb']['nmse_1']:.4g} | {final['eegmat']['nmse_1']:.4g} |" in card
    n = codec.n_codebooks  # one row per level
    assert f"| {n} |" in card and f"| {n + 1} |" not in card


def test_model_card_with_an_evaluation_report_and_without_metadata(codec):
    report = {"rows": [dict(n_codebooks=2, bits_per_second=333.3, side_bits_per_second=0.0,
                            nmse=0.25, snr_db=6.02)]}
    card = hub.model_card(codec, {"rate_distortion": report}, repo_id="me/x")
    assert "| 2 | 333.3 | 0 | 0.25 | 6.02 |" in card and 'load_codec("hf://me/x")' in card
    bare = hub.model_card(codec, {})
    assert "not recorded in the checkpoint" in bare
    assert "carries no rate-distortion measurement" in bare


def test_load_from_the_hub_cache_offline(codec, signal, tmp_path, monkeypatch):
    """hf://owner/repo[@revision] reads the Hugging Face cache; HF_HUB_OFFLINE never downloads."""
    root = _hub_cache(tmp_path, codec)
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    names = ["C3", "Cz", "C4"]
    ref = tokenize(codec, signal, 250.0, names).codes
    for spec in ("hf://someone/eeg-codec", f"hf://someone/eeg-codec@{REVISION}"):
        loaded = load_codec(spec)
        assert loaded.name == spec and not loaded.training
        np.testing.assert_array_equal(tokenize(loaded, signal, 250.0, names).codes, ref)
    # not in the cache: one line naming the cache, no network
    with pytest.raises(DownloadError, match=r"HF_HUB_OFFLINE is set and hf://someone/other@main "
                                            r"is not in the Hugging Face cache"):
        load_codec("hf://someone/other")
    with pytest.raises(DownloadError, match="not in the Hugging Face cache"):
        load_codec("hf://someone/eeg-codec@" + "f" * 40)
    # damaged weights are refused (the checksum config.json keeps)
    weights = root / "models--someone--eeg-codec" / "snapshots" / REVISION / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="Checksum mismatch"):
        load_codec("hf://someone/eeg-codec")


class _FakeApi:
    """Stands in for huggingface_hub.HfApi: records the calls, uploads nothing."""

    calls = []

    def __init__(self, token=None):
        self.token = token

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        files = {p.name: p.read_bytes() for p in Path(folder_path).iterdir()}
        self.calls.append(("upload_folder", repo_id, dict(kwargs, files=files)))
        return type("CommitInfo", (), {"oid": REVISION})()


def test_push_to_hub_uploads_the_codecs_files(codec, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "HfApi", _FakeApi)
    _FakeApi.calls.clear()
    commit = codec.push_to_hub("hf://me/my-codec", token="t0k", private=True)
    assert commit.oid == REVISION
    (kind, repo, kwargs), (kind2, repo2, upload) = _FakeApi.calls
    assert (kind, repo, kwargs["private"], kwargs["exist_ok"]) == ("create_repo", "me/my-codec",
                                                                  True, True)
    assert (kind2, repo2) == ("upload_folder", "me/my-codec")
    files = ["README.md", "config.json", "model.safetensors", "readout.safetensors"]
    assert sorted(upload["files"]) == files and sorted(upload["allow_patterns"]) == files
    assert upload["revision"] is None and "mne-codec" in upload["commit_message"]
    doc = json.loads(upload["files"]["config.json"])
    assert doc["family"] == codec.family and doc["meta"]["recipe"] == codec.meta["recipe"]
    assert b'load_codec("hf://me/my-codec")' in upload["files"]["README.md"]
    # the files written to a given folder are the ones uploaded, and load
    _FakeApi.calls.clear()
    hub.push_to_hub(codec, "me/my-codec", folder=tmp_path / "staged", revision="dev")
    staged = {p.name: p.read_bytes() for p in (tmp_path / "staged").iterdir()}
    assert staged == _FakeApi.calls[-1][2]["files"] and _FakeApi.calls[-1][2]["revision"] == "dev"
    assert load_codec(tmp_path / "staged").fingerprint() == codec.fingerprint()
    # offline: refused before any call
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _FakeApi.calls.clear()
    with pytest.raises(DownloadError, match="HF_HUB_OFFLINE"):
        hub.push_to_hub(codec, "me/my-codec")
    assert not _FakeApi.calls


def test_without_huggingface_hub(monkeypatch):
    """A clear ImportError naming the extra."""
    import builtins

    real = builtins.__import__

    def no_hub(name, *args, **kwargs):
        if name == "huggingface_hub":
            raise ImportError("No module named 'huggingface_hub'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_hub)
    with pytest.raises(ImportError, match=r"mne-codec\[hub\]"):
        load_codec("hf://owner/repo")
