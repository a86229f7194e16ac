"""BioCodec: parity with the authors' code on the same weights, and loading rules."""

import numpy as np
import pytest
import torch

from mne_codec.checkpoints import CheckpointError, load_biocodec_checkpoint
from mne_codec.models import BioCodec, BioCodecConfig
from mne_codec.preprocessing import Preprocessing
from mne_codec.quantization import RVQConfig

from .conftest import DATA_DIR


def _relative_error(y, ref):
    return float(np.linalg.norm(y - ref) / np.linalg.norm(ref))


@pytest.mark.parametrize("case", ["a", "b"])
def test_eeg_parity_with_authors_code(ref_codec, case):
    """Equal codes and reconstruction within 1e-5 relative (see tests/data/README.md)."""
    ref = np.load(DATA_DIR / "biocodec_ref_eeg.npz")
    x = torch.from_numpy(ref[f"x_{case}"])  # (batch, 1, n_times): channels axis = 1
    with torch.no_grad():
        codes = ref_codec.encode(x)
        recon = ref_codec.decode(codes, x.shape[-1])
        recon_full = ref_codec.decode(codes)
    np.testing.assert_array_equal(codes[:, 0].numpy(), ref[f"codes_{case}"])
    assert _relative_error(recon.numpy(), ref[f"recon_{case}"]) < 1e-5
    assert recon_full.shape == ref[f"recon_full_{case}"].shape
    assert _relative_error(recon_full.numpy(), ref[f"recon_full_{case}"]) < 1e-5


def test_emg_config_parity():
    """The EMG variant (hop 18) is a config of the same class, not a copy."""
    cfg = BioCodecConfig.emg(
        n_filters=8, dimension=32,
        rvq=RVQConfig(dim=32, n_codebooks=4, codebook_size=32, codebook_dim=4),
    )
    assert cfg.hop_length == 18 and cfg.preprocessing.sfreq == 1000
    codec = load_biocodec_checkpoint(DATA_DIR / "biocodec_ref_emg_small.pt", config=cfg)
    ref = np.load(DATA_DIR / "biocodec_ref_emg_small.npz")
    x = torch.from_numpy(ref["x"])
    with torch.no_grad():
        codes = codec.encode(x)
        recon = codec.decode(codes, x.shape[-1])
    np.testing.assert_array_equal(codes[:, 0].numpy(), ref["codes"])
    assert _relative_error(recon.numpy(), ref["recon"]) < 1e-5
    # the architecture is also recovered from the file alone (hop 18 -> 1000 Hz)
    inferred = load_biocodec_checkpoint(DATA_DIR / "biocodec_ref_emg_small.pt")
    assert inferred.hop_length == 18 and inferred.sfreq == 1000


def test_architecture_matches_the_release(ref_codec):
    assert ref_codec.hop_length == 12 and ref_codec.sfreq == 250
    assert ref_codec.frame_rate == pytest.approx(250 / 12)
    assert ref_codec.bits_per_second == pytest.approx(1000.0)
    n_params = sum(p.numel() for p in ref_codec.parameters())
    assert n_params == 3_152_770  # as counted from the authors' code
    assert len(ref_codec.state_dict()) == 166
    assert ref_codec.n_frames(1250) == 105 and ref_codec.n_frames(1007) == 84


def test_fresh_model_has_uninitialised_codebooks():
    codec = BioCodec().eval()
    assert all(layer.codebook.inited.item() == 0 for layer in codec.quantizer.layers)


def test_strict_loading_rejects_mismatches(tmp_path):
    state = torch.load(DATA_DIR / "biocodec_ref_eeg_ckpt.pt", weights_only=True)
    inner = state["model_state_dict"]
    # a missing key
    broken = {"model_state_dict": {k: v for k, v in inner.items()
                                   if "decoder.model.0." not in k}}
    torch.save(broken, tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="missing keys"):
        load_biocodec_checkpoint(tmp_path / "missing.pt")
    # an unexpected key
    extra = dict(inner)
    extra["_orig_mod.encoder.model.99.weight"] = torch.zeros(1)
    torch.save({"model_state_dict": extra}, tmp_path / "extra.pt")
    with pytest.raises(CheckpointError, match="unexpected keys"):
        load_biocodec_checkpoint(tmp_path / "extra.pt")
    # a config that does not match the weights
    small = BioCodecConfig(n_filters=16, rvq=RVQConfig())
    with pytest.raises(CheckpointError, match="other shapes"):
        load_biocodec_checkpoint(DATA_DIR / "biocodec_ref_eeg_ckpt.pt", config=small)


def test_corrupt_and_missing_checkpoints(tmp_path):
    raw = (DATA_DIR / "biocodec_ref_eeg_ckpt.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(raw[: len(raw) // 3])
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_biocodec_checkpoint(tmp_path / "truncated.pt")
    (tmp_path / "garbage.pt").write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(CheckpointError):
        load_biocodec_checkpoint(tmp_path / "garbage.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_biocodec_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="Checksum mismatch"):
        load_biocodec_checkpoint(DATA_DIR / "biocodec_ref_eeg_ckpt.pt", sha256="0" * 64)


def test_checkpoint_that_runs_code_is_refused(tmp_path):
    """weights_only=True: a pickle that would execute code is not loaded."""
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"model_state_dict": Evil()}, f)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_biocodec_checkpoint(tmp_path / "evil.pt")


def test_fewer_codebooks_at_inference(ref_codec):
    ref = np.load(DATA_DIR / "biocodec_ref_eeg.npz")
    x = torch.from_numpy(ref["x_a"])
    codec = BioCodec(ref_codec.config)
    codec.load_state_dict(ref_codec.state_dict())
    codec.eval().set_num_codebooks(2)
    assert codec.bits_per_second == pytest.approx(1000 / 3)
    with torch.no_grad():
        codes = codec.encode(x)
    np.testing.assert_array_equal(codes[:, 0].numpy(), ref["codes_a"][:, :2])
    with pytest.raises(ValueError, match="between 1 and 6"):
        codec.set_num_codebooks(7)


def test_eval_encode_does_not_mutate(ref_codec):
    before = {k: v.clone() for k, v in ref_codec.state_dict().items()}
    with torch.no_grad():
        ref_codec.encode(torch.randn(2, 3, 500))
        ref_codec(torch.randn(2, 1, 500))
    for k, v in ref_codec.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_short_input_error(ref_codec):
    with pytest.raises(ValueError, match="shorter than one codec frame"):
        ref_codec.encode(torch.randn(1, 1, 11))


def test_config_round_trip():
    cfg = BioCodecConfig.emg()
    again = BioCodecConfig.from_dict(cfg.to_dict())
    assert again == cfg
    assert isinstance(again.preprocessing, Preprocessing)


def test_folded_weight_norm_gives_identical_codes(ref_codec):
    """Inference folds weight norm: same codes and output, same fingerprint."""
    import copy
    import pickle

    ref = np.load(DATA_DIR / "biocodec_ref_eeg.npz")
    x = torch.from_numpy(ref["x_b"])
    folded = copy.deepcopy(ref_codec).prepare_for_inference()
    with torch.inference_mode():
        codes = folded.encode(x)
        np.testing.assert_array_equal(codes[:, 0].numpy(), ref["codes_b"])
        np.testing.assert_array_equal(folded.decode(codes).numpy(),
                                      ref_codec.decode(codes).numpy())
    again = pickle.loads(pickle.dumps(folded))
    assert again.fingerprint() == folded.fingerprint() == ref_codec.fingerprint()


def test_export_to_the_authors_key_names(ref_codec):
    """Our state dict maps back to exactly the authors' keys and tensors."""
    from mne_codec.checkpoints import biocodec_state_to_authors

    theirs = torch.load(DATA_DIR / "biocodec_ref_eeg_ckpt.pt", weights_only=True)
    theirs = {k.removeprefix("_orig_mod."): v for k, v in theirs["model_state_dict"].items()}
    exported = biocodec_state_to_authors(ref_codec.state_dict())
    assert sorted(exported) == sorted(theirs)
    assert all(torch.equal(exported[k], theirs[k]) for k in theirs)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_inference_path_gives_the_plain_codes(mi_raw, n_threads):
    """Inference (in place, in chunks of windows) is bit-identical to the plain pass.

    On real EEG, for batches cut into several chunks (with a remainder), one
    chunk, and fewer windows than the smallest chunk.
    """
    from mne_codec import load_codec
    from mne_codec.models.biocodec import _inference_chunks
    from mne_codec.preprocessing import preprocess

    codec = load_codec("default", verbose=False).prepare_for_inference()
    data = mi_raw.get_data(stop=int(10 * mi_raw.info["sfreq"]) * 2)  # 2 x 10 s, 64 channels
    x, _, _ = preprocess(data.reshape(64, 2, -1).transpose(1, 0, 2), mi_raw.info["sfreq"],
                         codec.preprocessing)
    x = torch.from_numpy(np.ascontiguousarray(x)).reshape(-1, 1, x.shape[-1])[:77]
    assert len(_inference_chunks(77, x.shape[-1])) == 2  # 32 + 45: a remainder joined
    n = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        for n_windows in (77, 40, 9):
            with torch.inference_mode():
                latent = codec._encode_latent(x[:n_windows])
                plain = codec.encoder.model(x[:n_windows])  # the plain pass
                torch.testing.assert_close(latent, plain, rtol=0, atol=0)
                # the default mixes the channels of each window (one here) after the encoder
                context = codec._channel_context(None, n_windows, 1, x.device)
                mixed = codec._mix_latent(plain, context, n_windows, 1)
                torch.testing.assert_close(codec.encode(x[:n_windows])[:, 0],
                                           codec.quantizer.encode(mixed), rtol=0, atol=0)
    finally:
        torch.set_num_threads(n)
