"""Write the codec tables of the docs from the code, at build time.

Every figure (parameters, rates, bits per second) is computed from the
configurations in :mod:`mne_codec.models` and the registry, so the pages can
never drift from the code.
"""

import math
from pathlib import Path

FAMILY_CONFIGS = {
    "biocodec": ("BioCodecConfig.eeg()", "BioCodecConfig.emg()"),
    "dac": ("DACConfig.eeg()", "DACConfig.release('16khz')", "DACConfig.release('44khz')"),
    "dac_mc": ("DACMCConfig.eeg()",),
    "neurorvq": ("NeuroRVQConfig.eeg()", "NeuroRVQConfig.ecg()", "NeuroRVQConfig.emg()",
                 "NeuroRVQConfig.ppg()"),
}


def _rows(family):
    from mne_codec import models  # noqa: F401 - used by eval
    from mne_codec.models import FAMILIES, BioCodecConfig, DACConfig, DACMCConfig, NeuroRVQConfig  # noqa

    cls = FAMILIES[family][0]
    rows = []
    for expr in FAMILY_CONFIGS[family]:
        model = cls(eval(expr))  # noqa: S307 - fixed expressions above
        n_values = sum(v.numel() for v in model.state_dict().values())
        prep = model.preprocessing
        band = ("none" if prep.l_freq is None and prep.h_freq is None
                else f"{prep.l_freq or 0:g}-{prep.h_freq or 'Nyquist'} Hz")
        tokens_s = model.bits_per_second / math.log2(model.codebook_size)
        rows.append([f"``{expr}``", f"{model.sfreq:g}", f"{model.hop_length}",
                     f"{model.frame_rate:.2f}", f"{model.n_codebooks}",
                     f"{model.codebook_size}", f"{tokens_s:.1f}",
                     f"{model.bits_per_second:.0f}", f"{n_values / 1e6:.2f} M", band,
                     model.channel_policy])
        del model
    return rows


HEADER = ["config", "sfreq (Hz)", "hop (samples)", "frames/s", "levels", "codebook size",
          "tokens/s per channel", "bits/s per channel", "weights (values)", "band-pass",
          "channels"]


def _table(rows):
    return _list_table(HEADER, rows)


def _registry(family):
    from mne_codec.checkpoints import REGISTRY

    lines = [".. list-table::", "   :header-rows: 1", "", "   * - name", "     - description",
             "     - weights licence", "     - source"]
    infos = [info for info in REGISTRY.values() if info.family == family]
    if not infos:
        # an empty list-table is a docutils error: say so in words instead
        return "None yet: train one with the recipe below.\n"
    for info in infos:
        lines += [f"   * - ``{info.name}``", f"     - {info.description}",
                  f"     - {info.license}", f"     - {info.source}"]
    return "\n".join(lines) + "\n"


#: the trade-offs of Kastrati et al. 2025 tabulated for DAC (16 kHz architecture, hop 320)
DAC_TRADEOFFS = dict(sfreqs=(128.0, 250.0, 256.0, 512.0, 1000.0), n_codebooks=(1, 2, 4, 8, 12),
                     codebook_sizes=(1024, 256))


def _dac_tradeoffs():
    from mne_codec.models.dac import dac_rate_table

    rows = dac_rate_table(**DAC_TRADEOFFS)
    by_key = {(r["sfreq"], r["n_codebooks"], r["codebook_size"]): r for r in rows}
    header = ["input rate (Hz)", "frames/s", "levels", "tokens/s per channel",
              "bits/s (1024 codes)", "bits/s (256 codes)", "compression (1024 codes)"]
    out = []
    for sfreq in DAC_TRADEOFFS["sfreqs"]:
        for k in DAC_TRADEOFFS["n_codebooks"]:
            big, small = by_key[(sfreq, k, 1024)], by_key[(sfreq, k, 256)]
            out.append([f"{sfreq:g}", f"{big['frame_rate']:.3f}", f"{k}",
                        f"{big['tokens_per_second']:.2f}", f"{big['bits_per_second']:.1f}",
                        f"{small['bits_per_second']:.1f}", f"{big['compression']:.0f} x"])
    return _list_table(header, out)


def _list_table(header, rows):
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header] + rows:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    return "\n".join(lines) + "\n"


def _registry_all():
    """Every registered codec, for the landing page: where its weights are, pin, licence."""
    from mne_codec._registry import checksum_status
    from mne_codec.checkpoints import DEFAULT_CODEC, REGISTRY

    words = {"published": "published", "recorded": "recorded on first download",
             "unverified": "recorded on first download", "shipped": "in config.json"}
    rows = []
    for name, info in sorted(REGISTRY.items()):
        label = f"``{name}`` (default)" if name == DEFAULT_CODEC else f"``{name}``"
        weights = ("ships with the package" if info.url is None
                   else "the authors' file (download, or a local path)")
        revision = info.revision or "the package"
        if len(revision) == 40:  # a commit id: its first 12 digits
            revision = f"``{revision[:12]}``"
        state = checksum_status(name)[0]
        sha = (f"``{info.sha256[:12]}...`` ({words[state]})" if info.sha256
               else words[state])
        size = f"{info.size_mb:.1f} MB" if info.size else "--"
        rows.append([label, info.family, info.description, weights, revision, sha, size,
                     info.license])
    return _list_table(["name", "family", "what", "weights", "pinned revision", "sha256",
                        "size", "licence"], rows)


def _write(path, text):
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def generate(app):
    out = Path(app.srcdir) / "generated"
    out.mkdir(exist_ok=True)
    for family in FAMILY_CONFIGS:
        text = _table(_rows(family)) + "\nRegistered weights:\n\n" + _registry(family)
        _write(out / f"codec_table_{family}.rst", text)
    _write(out / "codec_table_dac_tradeoffs.rst", _dac_tradeoffs())
    _write(out / "codec_table_registry.rst", _registry_all())


def setup(app):
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True}
