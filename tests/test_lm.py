"""Tokens for language models: layouts, the shard dataset, its sharding, the export."""

import json
import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DataLoader

from mne_codec.lm import (
    LAYOUTS,
    DelayLayout,
    TokenSequenceDataset,
    collate_sequences,
    get_layout,
    recording_codes,
)


@pytest.fixture(scope="module")
def real_tokens(shared_data):
    """Default-codec tokens of 10 s of EEGMMIDB S001 (64 channels, two 5-s windows)."""
    from mne_codec import CodecTokenizer
    from mne_codec.datasets import eegbci_raw

    raw = eegbci_raw(1, [4], path=shared_data, verbose=False).crop(0, 10)
    return CodecTokenizer(window_s=5.0, output="tokens", verbose="ERROR").fit(raw).tokenize(raw)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layout_round_trip_on_real_tokens(name, real_tokens):
    codes = recording_codes(real_tokens.codes)
    n_ch, n_lev, n_fr = codes.shape
    assert (n_ch, n_lev) == (64, 8) and n_fr == 2 * real_tokens.codes.shape[3]
    layout = get_layout(name, n_lev, real_tokens.codec["codebook_size"])
    seq = layout.encode(codes)
    assert seq.dtype == np.int64 and len(seq) == layout.length(n_ch, n_fr)
    assert seq.shape[1:] == (() if layout.width == 1 else (n_lev,))
    assert seq.min() >= 0 and seq.max() < layout.vocab_size
    np.testing.assert_array_equal(layout.decode(seq), codes)
    # every code token sits at its own level; the levels' vocabularies do not overlap
    levels = layout.level_of(seq.copy())
    is_code = levels >= 0
    assert is_code.sum() == codes.size
    np.testing.assert_array_equal(seq[is_code] // layout.codebook_size, levels[is_code])
    assert np.bincount(levels[is_code], minlength=n_lev).tolist() == [n_ch * n_fr] * n_lev


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layout_round_trip_on_random_codes(name):
    rng = np.random.default_rng(0)
    for _ in range(20):
        n_ch, n_lev, n_fr, size = rng.integers(1, 6, 4)
        codes = rng.integers(0, size, (n_ch, n_lev, n_fr)).astype(np.int16)
        layout = LAYOUTS[name](n_lev, size)
        seq = layout.encode(codes)
        assert len(seq) == layout.length(n_ch, n_fr)
        np.testing.assert_array_equal(layout.decode(seq), codes)


def test_layouts_place_tokens_as_documented():
    codes = np.arange(12).reshape(2, 3, 2) % 4  # ch0: a=[0,1] b=[2,3] c=[0,1]; ch1 ...
    flat = LAYOUTS["flatten"](3, 4)
    bos, eos, sep, pad = flat.bos_id, flat.eos_id, flat.sep_id, flat.pad_id
    assert (flat.vocab_size, pad, bos, eos, sep) == (16, 12, 13, 14, 15)
    # levels offset by 4: a -> 0..3, b -> 4..7, c -> 8..11
    assert flat.encode(codes).tolist() == [bos, sep, 0, 6, 8, 1, 7, 9,
                                           sep, 2, 4, 10, 3, 5, 11, eos]
    assert LAYOUTS["interleave"](3, 4).encode(codes).tolist() == [
        bos, sep, 0, 6, 8, 2, 4, 10, sep, 1, 7, 9, 3, 5, 11, eos]
    assert LAYOUTS["channels"](3, 4).encode(codes)[:4].tolist() == [
        [bos] * 3, [sep] * 3, [0, 6, 8], [1, 7, 9]]
    delay = DelayLayout(3, 4).encode(codes[:1])
    assert delay.T.tolist() == [[bos, sep, 0, 1, pad, pad, eos],
                                [bos, sep, pad, 6, 7, pad, eos],
                                [bos, sep, pad, pad, 8, 9, eos]]


def test_layouts_refuse_bad_codes_and_sequences():
    layout = get_layout("flatten", 2, 4)
    with pytest.raises(ValueError, match="levels"):
        layout.encode(np.zeros((1, 3, 2), int))
    with pytest.raises(ValueError, match=r"in \[0, 4\)"):
        layout.encode(np.full((1, 2, 2), 4))
    with pytest.raises(ValueError, match="one of"):
        get_layout("spiral", 2, 4)
    with pytest.raises(ValueError, match="does not fit"):
        get_layout(layout, 3, 4)
    for name in LAYOUTS:
        lay = get_layout(name, 2, 4)
        seq = lay.encode(np.ones((2, 2, 3), int))
        with pytest.raises(ValueError, match="bos"):
            lay.decode(seq[1:])
        bad = seq.copy()
        bad[3] = lay.bos_id  # a special token among the codes
        with pytest.raises(ValueError, match="structure|pad"):
            lay.decode(bad)
        # a code of the wrong level
        swapped = seq.copy()
        flat = swapped.reshape(-1)
        first = np.flatnonzero(lay.level_of(flat.copy()) == 0)[0]
        flat[first] += lay.codebook_size
        with pytest.raises(ValueError, match="structure"):
            lay.decode(swapped)


# -- the dataset over shards ---------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus(shared_data, tmp_path_factory):
    """Three real recordings tokenized by tokenize_corpus with a tiny codec."""
    from mne_codec import save_codec
    from mne_codec.corpus import tokenize_corpus

    from .conftest import make_tiny_codec

    root = tmp_path_factory.mktemp("lm_corpus")
    codec_dir = save_codec(make_tiny_codec(), root / "tiny_codec")
    src = shared_data / "MNE-eegbci-data/files/eegmmidb/1.0.0/S001"
    files = [src / "S001R01.edf", src / "S001R02.edf", shared_data / "eegmat" / "Subject00_1.edf"]
    out = root / "tokens"
    summary = tokenize_corpus(files, out, codec=codec_dir, window_s=4.0, progress=False)
    assert summary["done"] == 3
    return out


def _all_items(ds):
    return {it["index"]: it for it in ds}


@pytest.mark.parametrize("name", ["flatten", "delay"])
def test_dataset_windows_are_the_layouts_sequences(corpus, name):
    from mne_codec import read_tokens
    from mne_codec.lm import TokenSequenceDataset, TokenShard

    ds = TokenSequenceDataset(corpus, name, seq_len=500)
    items = _all_items(ds)
    assert sorted(items) == list(range(ds.n_sequences)) and len(ds) == ds.n_sequences
    records = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()]
    n_seen = 0
    for rec in records:
        shard = corpus / "shards" / rec["shard"]
        assert isinstance(TokenShard(shard).codes, np.memmap)  # read in place
        tokens = read_tokens(shard)
        seq = ds.layout.encode(recording_codes(tokens.codes))
        mine = sorted((it for it in items.values() if it["shard"] == rec["shard"]),
                      key=lambda it: it["start"])
        assert [it["start"] for it in mine] == list(range(0, len(seq), 500))
        joined = np.concatenate([it["input_ids"].numpy() for it in mine])
        np.testing.assert_array_equal(joined[: len(seq)], seq)
        assert (joined[len(seq):] == ds.layout.pad_id).all()
        it = mine[0]
        assert it["ch_names"] == tokens.ch_names and it["sfreq"] == tokens.sfreq
        assert it["codec_fingerprint"] == tokens.codec["fingerprint"]
        n_seen += len(mine)
    assert n_seen == len(items)


def test_dataset_packed_sequences_cross_recordings(corpus):
    from mne_codec.lm import TokenSequenceDataset

    whole = TokenSequenceDataset(corpus, "interleave", seq_len=1000, packed=True)
    items = [it["input_ids"].numpy() for it in whole]
    stream = np.concatenate(items)
    assert (stream == whole.layout.bos_id).sum() == 3 == (stream == whole.layout.eos_id).sum()
    assert int(whole._lengths.sum()) <= len(stream) < int(whole._lengths.sum()) + 1000
    assert max(it["n_recordings"] for it in whole) == 2
    dropped = TokenSequenceDataset(corpus, "interleave", seq_len=1000, packed=True,
                                   drop_last=True)
    assert dropped.n_sequences == int(whole._lengths.sum()) // 1000


@pytest.mark.parametrize("packed", [False, True])
def test_two_ranks_two_workers_read_each_sequence_once(corpus, packed):
    from torch.utils.data import DataLoader

    from mne_codec.lm import TokenSequenceDataset, collate_sequences

    kw = dict(seq_len=300, packed=packed, shuffle=True, shuffle_buffer=6, seed=3, epoch=1)
    reference = _all_items(TokenSequenceDataset(corpus, "flatten", **kw))
    seen = []
    for rank in (0, 1):
        ds = TokenSequenceDataset(corpus, "flatten", rank=rank, world_size=2, **kw)
        loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate_sequences)
        mine = []
        for batch in loader:
            for i, ids in zip(batch["index"], batch["input_ids"]):
                np.testing.assert_array_equal(ids, reference[i]["input_ids"])
                mine.append(i)
        assert abs(len(mine) - len(reference) / 2) <= 1 and len(mine) == len(ds)
        seen += mine
    assert sorted(seen) == sorted(reference)  # no duplicates, no gaps
    assert seen != sorted(seen)  # shuffled
    # another epoch, another order; the same epoch, the same order
    order = [it["index"] for it in TokenSequenceDataset(corpus, "flatten", **kw)]
    again = TokenSequenceDataset(corpus, "flatten", **kw)
    assert [it["index"] for it in again] == order
    again.set_epoch(2)
    assert [it["index"] for it in again] != order


def test_dataset_resumes_from_a_step(corpus):
    from torch.utils.data import DataLoader

    from mne_codec.lm import TokenSequenceDataset, collate_sequences

    def batches(start_step):
        ds = TokenSequenceDataset(corpus, "channels", seq_len=200, shuffle=True,
                                  shuffle_buffer=5, start_step=start_step, batch_size=3)
        loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate_sequences)
        return [b["index"] for b in loader]

    full = batches(0)
    assert len(full) > 8
    resumed = batches(5)
    assert resumed[: len(full) - 5 - 2] == full[5: len(full) - 2]


def test_damaged_shards_raise_errors_naming_the_file(corpus, tmp_path):
    import shutil

    from mne_codec import TokenFileError
    from mne_codec.lm import TokenSequenceDataset, TokenShard

    copy = tmp_path / "copy"
    shutil.copytree(corpus, copy)
    shards = sorted((copy / "shards").glob("*.npz"))
    victim = shards[-1]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(TokenFileError, match=f"{victim.name}.*truncated"):
        list(TokenSequenceDataset(copy, seq_len=500))
    with pytest.raises(TokenFileError, match=victim.name):
        TokenShard(victim)  # without the record: the zip has lost its directory
    # codes overwritten beyond the codebook, the size unchanged
    with np.load(shards[0]) as f:
        codes = f["codes"]
    start = data_start = shards[0].read_bytes().find(codes.tobytes()[:64])
    assert data_start > 0
    raw = bytearray(shards[0].read_bytes())
    raw[start: start + 64] = b"\x7f" * 64
    shards[0].write_bytes(bytes(raw))
    with pytest.raises(TokenFileError, match=f"{shards[0].name}.*outside the codebook"):
        list(TokenSequenceDataset(copy, seq_len=500))
    shards[1].write_bytes(b"not a zip at all" * 10)
    with pytest.raises(TokenFileError, match=shards[1].name):
        TokenShard(shards[1])


def test_export_to_hugging_face_datasets(corpus, tmp_path):
    pytest.importorskip("datasets", reason="the lm extra (datasets) is not installed")
    from mne_codec.lm import TokenSequenceDataset, to_hf_dataset

    ds = TokenSequenceDataset(corpus, "delay", seq_len=400, rank=1, world_size=2)
    hf = to_hf_dataset(ds, cache_dir=tmp_path / "hf")
    full = TokenSequenceDataset(corpus, "delay", seq_len=400)
    assert len(hf) == full.n_sequences
    for row, item in zip(hf, full):
        np.testing.assert_array_equal(np.array(row["input_ids"]), item["input_ids"].numpy())
        assert row["shard"] == item["shard"] and row["ch_names"] == item["ch_names"]
    hf.to_parquet(tmp_path / "tokens.parquet")
    assert (tmp_path / "tokens.parquet").stat().st_size > 0


def _read_under_ddp(rank, world_size, port, corpus, kw, out):
    """One rank of a gloo process group: write the indices its DataLoader yields."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        # rank and world size come from torch.distributed, as under torchrun
        ds = TokenSequenceDataset(corpus, "flatten", **kw)
        assert (ds.rank, ds.world_size) == (rank, world_size)
        loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate_sequences)
        mine = [int(i) for batch in loader for i in batch["index"]]
        dist.barrier()
        (out / f"rank{rank}.json").write_text(json.dumps(mine))
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                    reason="torch.distributed with the gloo backend is not available")
def test_two_ddp_ranks_on_one_node_read_each_sequence_once(corpus, tmp_path):
    """2 processes of a gloo group (as torchrun --nproc_per_node 2), 2 workers each."""
    kw = dict(seq_len=300, packed=True, shuffle=True, shuffle_buffer=6, seed=5)
    reference = TokenSequenceDataset(corpus, "flatten", rank=0, world_size=1, **kw)
    with socket.socket() as sock:  # a free port for the group's rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_read_under_ddp, args=(2, port, corpus, kw, tmp_path), nprocs=2, join=True)
    seen = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(abs(len(s) - reference.n_sequences / 2) <= 1 for s in seen)
    assert not set(seen[0]) & set(seen[1])  # no duplicates across ranks
    assert sorted(seen[0] + seen[1]) == list(range(reference.n_sequences))  # no gaps
