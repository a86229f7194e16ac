"""The families' converters of the authors' formats and the loaders' dispatch to them."""

from dataclasses import replace

import pytest
import torch

from mne_codec.checkpoints import (
    REGISTRY,
    CheckpointError,
    build_codec,
    load_codec,
    load_dac_checkpoint,
)
from mne_codec.models import (
    DAC,
    DACMC,
    FAMILIES,
    BioCodec,
    NeuroRVQ,
    NeuroRVQConfig,
    NeuroRVQFM,
    NeuroRVQFMConfig,
)
from mne_codec.models.biocodec import convert as biocodec_convert
from mne_codec.models.dac import convert as dac_convert
from mne_codec.models.neurorvq import convert as neurorvq_convert

from .conftest import DATA_DIR


def _load(name):
    return torch.load(DATA_DIR / name, map_location="cpu", weights_only=True)


def test_every_registered_format_has_a_reader():
    readers = {cls.authors_format: cls for cls, _ in FAMILIES.values() if cls.authors_format}
    assert readers == {"biocodec": BioCodec, "dac": DAC, "neurorvq": NeuroRVQ}
    for info in REGISTRY.values():
        assert info.fmt == "mne_codec" or readers[info.fmt].family == info.family


@pytest.mark.parametrize("name, family", [("biocodec_ref_emg_small.pt", "biocodec"),
                                          ("dac_ref_small.pth", "dac"),
                                          ("neurorvq_ref_small.pt", "neurorvq")])
def test_each_file_is_recognised_by_its_family_only(name, family):
    obj = _load(name)
    recognised = [f for f, (cls, _) in FAMILIES.items()
                  if cls.authors_format and cls.is_authors_state(obj)]
    assert recognised == [family]
    assert biocodec_convert.is_authors_state(obj) == (family == "biocodec")
    assert dac_convert.is_authors_state(obj) == (family == "dac")
    assert neurorvq_convert.is_authors_state(obj) == (family == "neurorvq")


def test_load_codec_dispatches_on_the_content(tmp_path):
    # the suffix says nothing: the content picks the family's converter
    for name, cls in [("biocodec_ref_emg_small.pt", BioCodec), ("dac_ref_small.pth", DAC)]:
        path = tmp_path / (name.split(".")[0] + ".ckpt")
        path.write_bytes((DATA_DIR / name).read_bytes())
        codec = load_codec(path)
        assert type(codec) is cls and not codec.training
    # a file no family recognises fails in BioCodec's loader, naming what is missing
    torch.save({"weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="Not a BioCodec checkpoint"):
        load_codec(tmp_path / "other.pt")


def test_families_without_a_format_say_so():
    assert DACMC.authors_format is None
    with pytest.raises(CheckpointError, match="reads no authors' checkpoint format"):
        super(BioCodec, BioCodec).from_authors_state({})  # the base class's hook


def test_dac_mc_from_dac_weights_codes_as_that_dac():
    obj = _load("dac_ref_small.pth")
    dac = DAC.from_authors_state(obj, "dac_ref_small.pth")
    mc = DACMC.from_authors_state(obj, "dac_ref_small.pth")
    assert type(mc) is DACMC and not mc.training
    x = torch.randn(1, 3, 4 * dac.hop_length)
    names = ["C3", "Cz", "C4"]
    with torch.no_grad():
        assert torch.equal(mc.encode(x, names).codes, dac.encode(x).codes)
    same = load_dac_checkpoint(DATA_DIR / "dac_ref_small.pth")
    assert same.fingerprint() == dac.fingerprint()


def test_fm_converter_reads_its_architecture():
    # a NeuroRVQ-FM state dict under the authors' names, as their training saves it
    model = NeuroRVQFM(NeuroRVQFMConfig(n_patches=4, embed_dim=100, depth=2, num_heads=5,
                                        out_chans=4, mlp_ratio=2, n_targets=2, vocab_size=16))
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    again = NeuroRVQFM.from_authors_state({"model": state}, "fm.pt")
    assert again.config.depth == 2 and again.config.n_targets == 2 and again.meta == {}
    with pytest.raises(CheckpointError, match="fm.pt is not a NeuroRVQ foundation-model"):
        NeuroRVQFM.from_authors_state({"cls_token": torch.zeros(1, 1, 8)}, "fm.pt")
    fields = neurorvq_convert.fm_config_fields(
        neurorvq_convert.fm_state_from_authors(state, "fm.pt"), "fm.pt")
    assert fields["embed_dim"] == 100 and fields["vocab_size"] == 16


def test_build_codec_checks_the_config():
    codec = build_codec("biocodec", BioCodec().config.to_dict())
    assert type(codec) is BioCodec
    with pytest.raises(CheckpointError, match="Unknown codec family"):
        build_codec("nope", {})
    with pytest.raises(CheckpointError, match="n_filters"):
        build_codec("biocodec", {**BioCodec().config.to_dict(), "n_filters": -1})


def test_group_tokens_is_read_from_the_package(monkeypatch):
    # test_neurorvq's grouping test patches the package attribute: it must take effect
    from mne_codec.models import neurorvq
    from mne_codec.models.neurorvq.tokenizer import NeuroRVQTransformer

    calls = []
    real = NeuroRVQTransformer._branch

    def counting(self, x, *args):
        calls.append(x.shape[0])
        return real(self, x, *args)

    monkeypatch.setattr(NeuroRVQTransformer, "_branch", counting)
    monkeypatch.setattr(neurorvq, "GROUP_TOKENS", 1)  # one window per group
    cfg = NeuroRVQConfig(n_patches=2, out_chans=4, embed_dim=100, depth_encoder=1,
                         depth_decoder=1, num_heads=5, mlp_ratio=2,
                         rvq=replace(NeuroRVQConfig().rvq, dim=16, codebook_size=32))
    model = NeuroRVQ(cfg).eval()
    enc = model.encoder
    x = torch.randn(3, 2 * 2, cfg.patch_size)
    spatial, temporal = torch.tensor([1, 1, 2, 2]), torch.tensor([0, 1, 0, 1])
    with torch.no_grad():
        enc._branch_in_groups(enc.patch_embed(x)[0], 1, spatial, temporal)
    assert calls == [1, 1, 1]
