"""The README's Python blocks run as written, on the real EEG of ../shared/data."""

import importlib.util
import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_python_blocks_run(shared_data, tmp_path, monkeypatch):
    blocks = _python_blocks()
    assert len(blocks) >= 2, "the README lost its Python examples"
    monkeypatch.chdir(tmp_path)  # the examples write token files and a cache here
    monkeypatch.setenv("MNE_CODEC_SHARED_DATA", str(shared_data))
    namespace = {}
    ran = 0
    for block in blocks:
        if "braindecode" in block and importlib.util.find_spec("braindecode") is None:
            continue  # the optional extra is absent; tests/test_braindecode.py skips too
        exec(compile(block, f"{README.name} block {ran}", "exec"), namespace)
        ran += 1
    assert ran >= 1
    # what the usage block claims about shapes and round trips
    epochs, codes, volts = namespace["epochs"], namespace["codes"], namespace["volts"]
    n_epochs, n_channels = len(epochs), len(epochs.ch_names)
    assert codes.ndim == 4 and codes.shape[:2] == (n_epochs, n_channels)
    assert volts.shape == epochs.get_data().shape and np.isfinite(volts).all()
    assert (tmp_path / "sub-01_tokens.npz").is_file()
    assert namespace["epochs_rec"].info["ch_names"] == epochs.info["ch_names"]
    # the features of the token file are the tokenizer's
    np.testing.assert_allclose(namespace["features"], namespace["tok"].transform(epochs),
                               rtol=1e-6, atol=1e-8)
