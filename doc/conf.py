"""Sphinx configuration of the mne-codec documentation."""

import os
import sys
from datetime import date
from pathlib import Path

import mne_codec

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "sphinxext"))

project = "mne-codec"
author = "mne-codec developers"
copyright = f"{date.today().year}, {author}"  # noqa: A001
release = mne_codec.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "codec_tables",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_tutorials/*.ipynb", "auto_tutorials/*.py",
                    "auto_tutorials/*.zip", "auto_tutorials/*.md5", "auto_tutorials/*.codeobj.json",
                    "sg_execution_times.rst"]
default_role = "py:obj"
nitpicky = False
suppress_warnings = []

# -- API reference ------------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"inherited-members": False, "members": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = True
numpydoc_xref_ignore = {"of", "shape", "optional", "default", "or", "instance", "n_epochs",
                        "n_channels", "n_times", "n_codebooks", "n_frames", "n_windows",
                        "n_times_codec", "dim", "batch", "n_chans", "n_features", "int16",
                        "int64", "float32", "float64", "callable", "array", "ndarray",
                        "array-like", "str", "int", "float", "bool", "dict", "list", "tuple",
                        "None", "path-like", "n", "K", "T", "B", "C"}
numpydoc_xref_aliases = {
    "Raw": "mne.io.Raw", "Epochs": "mne.Epochs", "Info": "mne.Info",
    "Codec": "mne_codec.models.Codec", "Tokens": "mne_codec.Tokens",
    "Preprocessing": "mne_codec.preprocessing.Preprocessing",
    "RVQConfig": "mne_codec.quantization.RVQConfig",
    "Pipeline": "sklearn.pipeline.Pipeline",
}

# -- cross-references to the ecosystem ------------------------------------------------
# Inventories are fetched from the web. Offline builds (CI has no internet but
# package registries) set MNE_CODEC_DOCS_OFFLINE=1: references to other
# projects then render as plain text instead of warning that the inventories
# cannot be reached.
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "mne": ("https://mne.tools/stable", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
    "torch": ("https://docs.pytorch.org/docs/stable", None),
    "braindecode": ("https://braindecode.org/stable", None),
    "skorch": ("https://skorch.readthedocs.io/en/stable", None),
}
if os.environ.get("MNE_CODEC_DOCS_OFFLINE"):
    intersphinx_mapping = {}
intersphinx_timeout = 10

# -- gallery: configured as MNE does ------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": ["../tutorials"],
    "gallery_dirs": ["auto_tutorials"],
    "backreferences_dir": "generated",
    "doc_module": ("mne_codec",),
    "reference_url": {"mne_codec": None},
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "capture_repr": (),  # print() what matters; no reprs of matplotlib objects
    "abort_on_example_error": True,
    "show_memory": False,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "min_reported_time": 1,
    "download_all_examples": False,
    "plot_gallery": os.environ.get("MNE_CODEC_DOCS_PLOT", "True"),
}

# -- HTML -----------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"mne-codec {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 1,
    "header_links_before_dropdown": 6,
}
html_static_path = []
html_show_sourcelink = False


# -- offline builds ------------------------------------------------------------------
# Docstrings reuse MNE's (``:ref:`tut-logging```) and numpydoc links ``bool`` to
# ``python:bltin-boolean-values``: both live in other projects' docs. Without
# their inventories (offline), render them as plain text rather than warn;
# our own labels still warn when broken.
_EXTERNAL_LABELS = {"tut-logging"}


def _external_ref_as_text(app, env, node, contnode):
    if not os.environ.get("MNE_CODEC_DOCS_OFFLINE"):
        return None
    target = node.get("reftarget", "")
    if node.get("reftype") == "ref" and (":" in target or target in _EXTERNAL_LABELS):
        return contnode
    return None


def setup(app):
    app.connect("missing-reference", _external_ref_as_text)
