"""Our checkpoint format, the registry and clear errors."""

import json

import numpy as np
import pytest
import torch

import mne_codec
from mne_codec.checkpoints import (
    REGISTRY,
    CheckpointError,
    get_cache_dir,
    list_codecs,
    load_codec,
    save_codec,
)


def test_save_load_round_trip(tmp_path, tiny_codec):
    path = save_codec(tiny_codec, tmp_path / "tiny", meta={"note": "test"})
    assert (path / "model.safetensors").exists() and (path / "config.json").exists()
    loaded = load_codec(path)
    assert loaded.meta == {"note": "test"}
    assert loaded.config == tiny_codec.config
    x = torch.randn(2, 3, 400)
    with torch.no_grad():
        assert torch.equal(loaded.encode(x), tiny_codec.encode(x))
    assert loaded.fingerprint() == tiny_codec.fingerprint()


def test_corrupt_weights_and_config(tmp_path, tiny_codec):
    path = save_codec(tiny_codec, tmp_path / "tiny")
    weights = path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="Checksum mismatch"):
        load_codec(path)
    # without the recorded checksum, the truncated file is still refused
    doc = json.loads((path / "config.json").read_text())
    doc.pop("sha256")
    (path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_codec(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_codec(path)


def test_mismatched_config(tmp_path, tiny_codec):
    path = save_codec(tiny_codec, tmp_path / "tiny")
    doc = json.loads((path / "config.json").read_text())
    doc["config"]["n_filters"] = 8
    (path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="other shapes"):
        load_codec(path)
    doc["family"] = "nope"
    (path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="Unknown codec family"):
        load_codec(path)


def test_unknown_name_and_bad_type():
    with pytest.raises(ValueError, match="Unknown codec 'no-such-codec'"):
        load_codec("no-such-codec")
    with pytest.raises(TypeError, match="registered name, a path or a Codec"):
        load_codec(3)


def test_registry_and_offline_error(monkeypatch, tmp_path):
    assert "biocodec-eeg" in list_codecs() and "biocodec-eeg-mne" in list_codecs()
    for info in REGISTRY.values():
        assert info.license and info.source
    monkeypatch.setenv("MNE_CODEC_DATA", str(tmp_path))
    assert get_cache_dir() == tmp_path
    with pytest.raises(CheckpointError, match="fetch_codec"):
        load_codec("biocodec-eeg")  # authors' weights: not on this machine, no download


def test_registered_authors_weights_from_cache(monkeypatch, tmp_path):
    """A file placed in the cache under the registered name loads (no network)."""
    import shutil

    from .conftest import DATA_DIR

    monkeypatch.setenv("MNE_CODEC_DATA", str(tmp_path))
    shutil.copy(DATA_DIR / "biocodec_ref_eeg_ckpt.pt", tmp_path / "biocodec_ckpt.pt")
    codec = load_codec("biocodec-eeg")
    assert codec.name == "biocodec-eeg" and codec.family == "biocodec"


def test_default_codec_ships_and_loads():
    codec = load_codec("default")
    assert codec.name == "biocodec-eeg-mne"
    assert codec.sfreq == 250 and codec.n_codebooks == 6 and codec.codebook_size == 256
    assert all(layer.codebook.inited.item() == 1 for layer in codec.quantizer.layers)
    assert not np.isnan(sum(p.sum().item() for p in codec.parameters()))
    assert mne_codec.load_codec is load_codec
