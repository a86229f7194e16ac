"""Package-level behaviour: light import, sys_info, CLI demo, metrics."""

import io
import subprocess
import sys

import numpy as np
import pytest

import mne_codec
from mne_codec import metrics


def test_import_is_light():
    """``import mne_codec`` never imports braindecode or torchaudio."""
    code = ("import sys, mne_codec; bad = [m for m in sys.modules "
            "if m.split('.')[0] in ('braindecode', 'torchaudio')]; print(bad); "
            "sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("command", ["--help", "list"])
def test_cli_starts_without_torch(command):
    """``mne-codec --help`` and ``list`` import neither torch nor scikit-learn."""
    code = ("import sys, runpy; sys.argv = ['mne-codec', sys.argv[1]]\n"
            "try:\n    runpy.run_module('mne_codec.cli', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'sklearn', 'braindecode') if m in sys.modules]\n"
            "print('HEAVY', heavy, file=sys.stderr); sys.exit(1 if heavy else 0)")
    proc = subprocess.run([sys.executable, "-c", code, command], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "HEAVY []" in proc.stderr


def test_lazy_top_level():
    """The lazy package still exposes its names, in ``dir()`` and ``__all__``."""
    from mne_codec import CodecTokenizer, Tokens
    from mne_codec.transformers import CodecTokenizer as direct

    assert CodecTokenizer is direct and Tokens is mne_codec.tokens.Tokens
    assert set(mne_codec.__all__) <= set(dir(mne_codec))
    for name in mne_codec.__all__:
        assert getattr(mne_codec, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mne_codec.nope  # noqa: B018


def test_version_and_sys_info():
    assert isinstance(mne_codec.__version__, str)
    out = io.StringIO()
    mne_codec.sys_info(fid=out)
    text = out.getvalue()
    for name in ("mne_codec", "mne:", "torch:", "numpy:", "scikit-learn:", "braindecode:"):
        assert name in text


def test_cli_demo(tmp_path, capsys):
    from mne_codec.cli import main

    plot = tmp_path / "demo.png"
    assert main(["demo", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "shape (4, 19, 8, 105)" in out and "1333.33 bit/s per channel" in out
    nmse = float(out.split("Reconstruction   NMSE ")[1].split(",")[0])
    assert 0 <= nmse < 0.8  # a trained codec: well below predicting zero (NMSE 1)
    assert plot.stat().st_size > 10_000
    # the figure reads at a glance: one legend, the same names in every panel, and
    # traces shown away from the recording's first sample (pinned to 0 by the filter)
    import matplotlib.pyplot as plt

    fig = plt.gcf()
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert names[0].startswith("original") and "reconstruction from tokens" in names
    trace = fig.axes[0].get_lines()[0]
    assert trace.get_xdata()[0] > 1.0 and abs(trace.get_ydata()[0]) > 1e-3
    plt.close(fig)


def test_cli_list(capsys):
    from mne_codec._registry import REGISTRY
    from mne_codec.cli import main

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "biocodec-eeg-mne-v2 (default)\n    biocodec; shipped, usable now (" in out
    assert "biocodec-eeg-mne\n    biocodec; shipped, usable now (" in out  # v1 stays
    assert "needs a download" in out and "licence: CC BY-NC 4.0" in out
    # every entry: source, pinned revision, how its sha256 is known, size, licence
    n = len(REGISTRY)
    assert out.count("\n    revision: ") == out.count("\n    checksum: ") == n
    assert out.count("\n    size: ") == out.count("\n    licence: ") == n
    eeg = out[out.index("neurorvq-eeg-v1\n"):out.index("neurorvq-ppg-v1")]
    assert "revision: d944b87f44ae0ba2923b2f10d0518f23f6803b76" in eeg
    assert "checksum: sha256 d3e850e160b1a558" in eeg and "(published: " in eeg
    assert "size: 304.1 MB (published)" in eeg and "-- NON-COMMERCIAL" in eeg
    assert "neurorvq, ECG; needs a download" in out
    assert "checksum: unverified: no published sha256; it is recorded on first download" in out
    assert "checksum: shipped with the package" in out


def test_metrics_on_known_signals(rng):
    x = rng.standard_normal((3, 1000))
    x -= x.mean(-1, keepdims=True)  # NMSE normalises by the mean-removed energy
    assert np.allclose(metrics.nmse(x, x), 0)
    assert np.allclose(metrics.snr_db(x, x + 0.1 * x), 20.0)
    assert np.allclose(metrics.pearson_r(x, 2 * x), 1.0)
    assert np.allclose(metrics.prd(x, 1.1 * x - 0.1 * x.mean(-1, keepdims=True)), 10.0,
                       atol=1.0)
    t = np.arange(2000) / 200.0
    ref = np.sin(2 * np.pi * 10 * t)  # alpha only
    rec = ref + 0.5 * np.sin(2 * np.pi * 2 * t)  # error in delta only
    errs = metrics.band_errors(ref, rec, 200.0)
    assert errs["alpha"] < 1e-6 and np.isnan(errs["delta"])  # no delta power in ref
    assert np.allclose(metrics.spectral_error(x, x), 0)
    assert np.all(metrics.spectral_error(x, 2 * x) > 0)
    assert metrics.bits_per_second(250 / 12, 6, 256) == pytest.approx(1000.0)
    assert metrics.compression_ratio(250, 250 / 12, 6, 256) == pytest.approx(8.0)
    with pytest.raises(ValueError, match="same shape"):
        metrics.nmse(x, x[:2])


def _function_imports_and_private_names():
    """Function-local imports without a reason, and private names imported across folders."""
    import ast
    from pathlib import Path

    root = Path(mne_codec.__file__).parent
    unexplained, crossing = [], []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        rel = path.relative_to(root.parent)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for sub in ast.walk(node):
                    if isinstance(sub, (ast.Import, ast.ImportFrom)):
                        # the reason sits on the line, or on the comment line above
                        here, above = lines[sub.lineno - 1], lines[sub.lineno - 2].strip()
                        if "#" not in here and not above.startswith("#"):
                            unexplained.append(f"{rel}:{sub.lineno}: {here.strip()}")
            if isinstance(node, ast.ImportFrom) and node.level:
                # the folder of the imported module, relative to this file's folder
                target = path.parent
                for _ in range(node.level - 1):
                    target = target.parent
                # ``from . import _x`` reads the package ``target`` itself
                parts = node.module.split(".") if node.module else []
                module_dir = target.joinpath(*parts)  # a package: its __init__
                if not module_dir.is_dir():  # a module: its folder
                    module_dir = module_dir.parent
                private = [a.name for a in node.names
                           if a.name.startswith("_") and not a.name.startswith("__")]
                if private and module_dir.resolve() != path.parent.resolve():
                    crossing.append(f"{rel}:{node.lineno}: {private} from "
                                    f"{'.' * node.level}{node.module or ''}")
    return unexplained, crossing


def test_imports_are_at_module_top_or_say_why():
    """A function-local import keeps an optional or slow dependency lazy, and says so."""
    unexplained, _ = _function_imports_and_private_names()
    assert not unexplained, "function-local imports without a reason:\n" + "\n".join(unexplained)


def test_no_private_names_across_subpackages():
    """A module imports another's ``_private`` names only within its own folder."""
    _, crossing = _function_imports_and_private_names()
    assert not crossing, "private names imported across folders:\n" + "\n".join(crossing)
