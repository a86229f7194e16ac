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
    # no published sha256: recorded at this first load, verified at the next
    codec = load_codec("biocodec-eeg")
    assert codec.name == "biocodec-eeg" and codec.family == "biocodec"
    assert (tmp_path / "checksums.json").exists()
    assert load_codec("biocodec-eeg").family == "biocodec"


def test_default_codec_ships_and_loads():
    codec = load_codec("default")
    assert codec.name == "biocodec-eeg-mne-v2" and codec.streamable
    assert codec.sfreq == 250 and codec.n_codebooks == 8 and codec.codebook_size == 256
    assert all(layer.codebook.inited.item() == 1 for layer in codec.quantizer.layers)
    assert not np.isnan(sum(p.sum().item() for p in codec.parameters()))
    assert mne_codec.load_codec is load_codec


# -- pinned downloads (a local server, never the network) ---------------------------
class _Server:
    """An HTTP server on 127.0.0.1 serving one file, with Range and a cut-off switch."""

    def __init__(self, payload):
        import http.server
        import threading

        server = self
        self.payload, self.cut_after, self.ranges, self.honour_range = payload, None, [], True

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                start = 0
                rng = self.headers.get("Range")
                server.ranges.append(rng)
                if rng and server.honour_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                else:
                    self.send_response(200)
                body = server.payload[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut_after is not None:
                    body, server.cut_after = body[:server.cut_after], None
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/weights.pt"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(monkeypatch, tmp_path):
    """The tiny BioCodec file served locally as the registered ``biocodec-eeg``."""
    import dataclasses
    import hashlib

    from mne_codec import _registry

    from .conftest import DATA_DIR

    payload = (DATA_DIR / "biocodec_ref_eeg_ckpt.pt").read_bytes()
    server = _Server(payload)
    blob = hashlib.sha1(f"blob {len(payload)}\0".encode() + payload).hexdigest()
    info = dataclasses.replace(REGISTRY["biocodec-eeg"], url=server.url, git_blob_sha1=blob)
    monkeypatch.setitem(_registry.REGISTRY, "biocodec-eeg", info)
    monkeypatch.setenv("MNE_CODEC_DATA", str(tmp_path / "cache"))
    yield server, payload
    server.close()


def test_download_records_checksum_then_verifies(served, tmp_path):
    import hashlib

    from mne_codec._registry import checksum_status, expected_checksum

    server, payload = served
    assert expected_checksum("biocodec-eeg") == (None, None)
    assert checksum_status("biocodec-eeg")[0] == "unverified"
    path = mne_codec.fetch_codec("biocodec-eeg", progress=False)
    assert path.read_bytes() == payload and not path.with_name(path.name + ".part").exists()
    sha = hashlib.sha256(payload).hexdigest()
    assert expected_checksum("biocodec-eeg") == (sha, "recorded")
    state, text = checksum_status("biocodec-eeg")
    assert state == "recorded" and sha in text and "recorded on first download" in text
    assert checksum_status("neurorvq-eeg-v1")[0] == "published"
    assert checksum_status("biocodec-eeg-mne")[0] == "shipped"
    assert load_codec("biocodec-eeg").family == "biocodec"
    assert mne_codec.fetch_codec("biocodec-eeg") == path and len(server.ranges) == 1
    # a later load verifies the recorded checksum
    path.write_bytes(payload[:-1] + bytes([payload[-1] ^ 1]))
    with pytest.raises(CheckpointError, match=r"Checksum mismatch.*\(recorded\)"):
        load_codec("biocodec-eeg")


def test_download_resumes_after_a_cut(served):
    server, payload = served
    server.cut_after = len(payload) // 3
    with pytest.raises(mne_codec.checkpoints.DownloadError, match="codec=") as err:
        mne_codec.fetch_codec("biocodec-eeg", progress=False)
    assert "\n" not in str(err.value)
    dest = get_cache_dir() / REGISTRY["biocodec-eeg"].filename
    part = dest.with_name(dest.name + ".part")
    assert not dest.exists() and part.stat().st_size == len(payload) // 3
    assert mne_codec.fetch_codec("biocodec-eeg", progress=False).read_bytes() == payload
    assert server.ranges == [None, f"bytes={len(payload) // 3}-"]


def test_download_restarts_when_the_server_ignores_ranges(served):
    server, payload = served
    server.cut_after, server.honour_range = 100, False
    with pytest.raises(mne_codec.checkpoints.DownloadError):
        mne_codec.fetch_codec("biocodec-eeg", progress=False)
    assert mne_codec.fetch_codec("biocodec-eeg", progress=False).read_bytes() == payload


def test_download_refuses_another_file(served, monkeypatch):
    import dataclasses

    from mne_codec import _registry

    server, payload = served
    for field, value, match in [("sha256", "0" * 64, "Checksum mismatch"),
                                ("git_blob_sha1", "0" * 40, "git blob id"),
                                ("size", len(payload) + 1, "registered file has")]:
        info = dataclasses.replace(REGISTRY["biocodec-eeg"], **{field: value})
        monkeypatch.setitem(_registry.REGISTRY, "biocodec-eeg", info)
        with pytest.raises((CheckpointError, mne_codec.checkpoints.DownloadError), match=match):
            mne_codec.fetch_codec("biocodec-eeg", progress=False)
        dest = get_cache_dir() / info.filename
        assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()


def test_offline_errors_are_one_line(monkeypatch, tmp_path):
    import dataclasses
    import socket

    from mne_codec import _registry

    monkeypatch.setenv("MNE_CODEC_DATA", str(tmp_path))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there
    info = dataclasses.replace(REGISTRY["dac-16khz"], url=f"http://127.0.0.1:{port}/w.pth")
    monkeypatch.setitem(_registry.REGISTRY, "dac-16khz", info)
    with pytest.raises(mne_codec.checkpoints.DownloadError, match="offline.*codec=") as err:
        mne_codec.fetch_codec("dac-16khz", progress=False)
    assert "\n" not in str(err.value)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(mne_codec.checkpoints.DownloadError, match="HF_HUB_OFFLINE.*codec="):
        mne_codec.fetch_codec("neurorvq-eeg-v1")


def test_every_download_is_pinned():
    for info in REGISTRY.values():
        if info.url is None:
            continue
        assert info.revision and "/main/" not in info.url
        assert info.revision.split()[-1] in info.url
        assert info.sha256 is None or len(info.sha256) == 64
    assert REGISTRY["neurorvq-eeg-v1"].size == 304_130_106
    assert {f"neurorvq-{m}-v1" for m in ("eeg", "ecg", "emg", "ppg")} <= set(REGISTRY)


def test_hub_cache_copy_of_a_registered_file(monkeypatch, tmp_path):
    from mne_codec._registry import codec_status

    info = REGISTRY["neurorvq-ppg-v1"]
    monkeypatch.setenv("MNE_CODEC_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert codec_status(info.name) == ("download", None)
    snap = (tmp_path / "hub" / "models--ntinosbarmpas--NeuroRVQ" / "snapshots" / info.revision
            / info.hf_filename)
    snap.parent.mkdir(parents=True)
    snap.write_bytes(b"x")
    assert codec_status(info.name) == ("hf-cache", snap)
