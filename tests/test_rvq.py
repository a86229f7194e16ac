"""The residual vector quantizer: assignment, training updates, read-only eval."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mne_codec.quantization import ResidualVQ, RVQConfig, kmeans


def _rvq(**kw):
    cfg = dict(dim=8, n_codebooks=3, codebook_size=32, codebook_dim=4, kmeans_iters=5)
    cfg.update(kw)
    torch.manual_seed(0)
    return ResidualVQ(RVQConfig(**cfg))


def _calibrated(**kw):
    rvq = _rvq(**kw).train()
    rvq(torch.randn(4, 8, 64))
    return rvq.eval()


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_kmeans_init_on_first_training_forward():
    rvq = _rvq()
    assert all(layer.codebook.inited.item() == 0 for layer in rvq.layers)
    rvq.train()
    rvq(torch.randn(2, 8, 50))
    for layer in rvq.layers:
        assert layer.codebook.inited.item() == 1
        norms = layer.codebook.embed.norm(dim=1)
        torch.testing.assert_close(norms, torch.ones_like(norms))  # unit codewords


def test_eval_is_deterministic_and_read_only():
    rvq = _calibrated()
    before = _state(rvq)
    z = torch.randn(3, 8, 40)
    c1 = rvq.encode(z)
    c2 = rvq.encode(z)
    out = rvq(z)  # an eval forward must not update anything either
    assert torch.equal(c1, c2) and torch.equal(out.codes, c1)
    for k, v in rvq.state_dict().items():
        assert torch.equal(v, before[k]), k
    # a fresh (uninitialised) quantizer is not k-means-initialised by eval calls
    fresh = _rvq().eval()
    fresh.encode(z)
    assert all(layer.codebook.inited.item() == 0 for layer in fresh.layers)


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_assignment_matches_brute_force(distance):
    rvq = _calibrated(distance=distance, normalize_codewords=distance == "cosine")
    z = torch.randn(2, 8, 30)
    codes = rvq.encode(z, n_codebooks=1)[:, 0]
    layer = rvq.layers[0]
    zp = layer.project_in(z.transpose(1, 2).reshape(-1, 8))
    emb = layer.codebook.embed
    if distance == "cosine":
        expected = (F.normalize(zp, dim=1) @ F.normalize(emb, dim=1).T).argmax(1)
    else:
        expected = torch.cdist(zp, emb).argmin(1)
    assert torch.equal(codes.reshape(-1), expected)


def test_ties_go_to_first_index():
    rvq = _calibrated()
    cb = rvq.layers[0].codebook
    cb.embed[5] = cb.embed[2]  # duplicate codeword: exact tie
    z = rvq.layers[0].project_in.weight.new_zeros(1, 4)
    z[0] = cb.embed[2]
    assert cb.assign(z).item() == 2


def test_normalized_euclidean_fast_assignment_is_the_reference_expression():
    # assign() reorganises NeuroRVQ's distance for speed; it must pick exactly the
    # codes of the reference expression ||z||^2 + ||e||^2 - 2 z.e (scores()),
    # on codewords that are not unit-norm and with exact ties
    torch.manual_seed(0)
    cfg = RVQConfig(dim=16, n_codebooks=1, codebook_size=512, codebook_dim=None,
                    distance="normalized_euclidean", kmeans_init=False)
    cb = ResidualVQ(cfg).layers[0].codebook
    cb.embed.copy_(F.normalize(torch.randn(512, 16), dim=1) * (1 + 1e-3 * torch.randn(512, 1)))
    cb.embed[300] = cb.embed[7]
    x = torch.randn(4000, 16)
    x[:10] = cb.embed[7] * 3.0  # ties between codes 7 and 300
    codes = cb.assign(x)
    assert torch.equal(codes, cb.scores(x).argmax(1))
    assert (codes[:10] == 7).all()


def _eeg_vectors(raw, n, dim, seed):
    """``n`` EEG segments of ``dim`` samples (one channel each), in microvolts."""
    data = raw.get_data() * 1e6
    rng = np.random.default_rng(seed)
    ch = rng.integers(0, data.shape[0], n)
    start = rng.integers(0, data.shape[1] - dim, n)
    return torch.from_numpy(np.stack([data[c, s:s + dim] for c, s in zip(ch, start)])).float()


@pytest.mark.parametrize("block_rows", [1, 32, 100, 256, None])
def test_blocked_normalized_euclidean_assignment_on_eeg(mi_raw, block_rows, monkeypatch):
    # NeuroRVQ's lookup (128-d, 8192 codes) computed in row blocks into reused
    # buffers, with a two-pass argmin: the codes must be exactly those of the
    # plain expression on the whole matrix (scores()), near-ties included.
    # Vectors and codewords are EEG segments; some codewords are duplicated or
    # one ulp apart, and the vectors near them give ties and near-ties that a
    # reordered sum, single-row matmuls or last-index ties get wrong (checked).
    # block_rows=1 is raised to the minimum (8 rows per thread). Both forms of
    # the subtraction: fused into the GEMM and separate, and the first call's
    # check of which one this BLAS allows.
    from mne_codec.quantization import rvq

    cb = ResidualVQ(RVQConfig(dim=128, n_codebooks=1, codebook_size=8192, codebook_dim=None,
                              distance="normalized_euclidean",
                              kmeans_init=False)).layers[0].codebook
    embed = F.normalize(_eeg_vectors(mi_raw, 8192, 128, seed=1), dim=1)
    embed = embed * (1 + 1e-3 * torch.randn(8192, 1, generator=torch.Generator().manual_seed(0)))
    embed[4000:4100] = embed[100:200]  # exact ties: the first index wins
    embed[5000:5100] = torch.nextafter(embed[200:300], torch.tensor(2.0))
    cb.embed.copy_(embed)
    x = _eeg_vectors(mi_raw, 1300, 128, seed=2)
    x[:100] = 7.0 * embed[100:200]
    x[100:200] = -0.5 * embed[200:300]
    x[200:300] = embed[200:300] + 1e-6 * torch.randn(100, 128)
    expected = cb.scores(x).argmax(1)
    assert (expected[:100] == torch.arange(100, 200)).all()
    key = (torch.float32, 128)
    for fused in [None, True, False]:
        monkeypatch.setattr(rvq, "_FUSED_EXACT", {} if fused is None else {key: fused})
        assert torch.equal(rvq._nearest_normalized(x, cb.embed, block_rows), expected)
        if fused is None:
            assert key in rvq._FUSED_EXACT
        if block_rows is None:
            assert torch.equal(cb.assign(x), expected)


def test_two_pass_argmin_is_argmin():
    from mne_codec.quantization.rvq import _argmin_rows

    g = torch.Generator().manual_seed(0)
    d = torch.randint(0, 4, (300, 1024), generator=g).float()  # many exact ties
    d[3, 700], d[3, 900] = -1.0, -1.0
    d[4] += 1.0
    d[4, 129], d[4, 5] = -0.0, 0.0  # signed zeros compare equal: the first wins
    d[5, 300], d[5, 1000] = float("nan"), float("nan")  # the first NaN, as argmin
    d[6] = float("nan")
    d[7, 1023] = -5.0
    assert torch.equal(_argmin_rows(d), d.argmin(1))
    for shape in [(10, 1000), (10, 128), (0, 1024)]:  # fallback and empty
        d = torch.randn(*shape, generator=g)
        assert torch.equal(_argmin_rows(d), d.argmin(1))
    d = torch.randn(1024, 10, generator=g).T  # not contiguous
    assert torch.equal(_argmin_rows(d), d.argmin(1))


def test_fewer_levels_are_a_prefix_and_decode_improves():
    # Euclidean k-means codebooks without projection: each level must reduce the error
    # (with random projections and unit codewords, as in an untrained BioCodec, it need not)
    rvq = _calibrated(distance="euclidean", codebook_dim=None, normalize_codewords=False)
    z = torch.randn(2, 8, 100)
    full = rvq.encode(z)
    for n in (1, 2):
        assert torch.equal(rvq.encode(z, n_codebooks=n), full[:, :n])
    errors = [((rvq.decode(full[:, :n]) - z) ** 2).mean().item() for n in (1, 2, 3)]
    assert errors[0] > errors[1] > errors[2]
    with pytest.raises(ValueError, match="n_codebooks must be between 1 and 3"):
        rvq.encode(z, n_codebooks=4)


def test_training_updates_ema_and_straight_through_gradient():
    import copy

    rvq = _calibrated().train()
    frozen = copy.deepcopy(rvq).eval()  # the codebooks the forward assigns with
    before = _state(rvq)
    z = torch.randn(2, 8, 64, requires_grad=True)
    out = rvq(z)
    assert out.loss.item() > 0
    (out.quantized.sum() + out.loss).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    changed = [k for k, v in rvq.state_dict().items() if not torch.equal(v, before[k])]
    assert any("embed_avg" in k for k in changed) and any("cluster_size" in k for k in changed)
    # the quantized value equals the decoded codes (straight-through only changes gradients)
    torch.testing.assert_close(out.quantized.detach(), frozen.decode(out.codes),
                               rtol=1e-5, atol=1e-5)


def test_dead_codes_are_replaced_in_training():
    rvq = _calibrated(dead_code_threshold=2.0).train()
    cb = rvq.layers[0].codebook
    cb.cluster_size.zero_()  # every code looks dead
    old = cb.embed.clone()
    rvq(torch.randn(2, 8, 64))
    assert not torch.equal(cb.embed, old)
    assert (cb.cluster_size > 0).all()


def test_dead_codes_of_gradient_codebooks_are_replaced():
    torch.manual_seed(0)
    cfg = dict(dim=8, n_codebooks=2, codebook_size=16, codebook_dim=4, ema_decay=None,
               kmeans_init=False, normalize_codewords=False, distance="cosine",
               dead_code_clamp=None)
    off = ResidualVQ(RVQConfig(dead_code_threshold=0.0, **cfg))
    assert "layers.0.codebook.code_usage" not in off.state_dict()  # as DAC's files
    rvq = ResidualVQ(RVQConfig(dead_code_threshold=0.5, code_usage_decay=0.5, **cfg))
    cb, layer = rvq.layers[0].codebook, rvq.layers[0]
    assert torch.equal(cb.code_usage, torch.ones(16))  # nothing is dead at the start
    z = torch.randn(2, 8, 5)
    rvq.eval()(z)  # eval never touches the statistics
    assert torch.equal(cb.code_usage, torch.ones(16))
    rvq.train()
    codes = rvq(z).codes[:, 0].reshape(-1)
    counts = torch.bincount(codes, minlength=16).float()
    torch.testing.assert_close(cb.code_usage, 0.5 + 0.5 * counts)  # moving average of uses
    cb.code_usage[3:] = 0.0  # codes 3.. look dead
    old = cb.embed.detach().clone()
    counts = torch.bincount(rvq(z).codes[:, 0].reshape(-1), minlength=16).float()
    dead = torch.zeros(16, dtype=torch.bool)
    dead[3:] = counts[3:] == 0  # unused in this step too
    assert dead.sum() >= 5
    assert torch.equal(cb.code_usage[dead], torch.ones(int(dead.sum())))  # grace period
    torch.testing.assert_close(cb.code_usage[3:][~dead[3:]], 0.5 * counts[3:][~dead[3:]])
    with torch.no_grad():
        zp = layer.project_in(z.transpose(1, 2).reshape(-1, 8))
    # every replaced codeword is one of the batch's projected vectors; others are kept
    for row in cb.embed.detach()[dead]:
        assert torch.isclose(zp, row).all(1).any()
    assert not torch.equal(cb.embed.detach()[dead], old[dead])
    used = counts > 0
    assert torch.equal(cb.embed.detach()[used], old[used])  # codes in use are kept


def test_gradient_codebook_and_quantizer_dropout():
    torch.manual_seed(0)
    rvq = ResidualVQ(RVQConfig(dim=8, n_codebooks=4, codebook_size=16, codebook_dim=2,
                               ema_decay=None, kmeans_init=False, normalize_codewords=False,
                               distance="cosine", quantizer_dropout=1.0)).train()
    z = torch.randn(6, 8, 10)
    out = rvq(z)
    out.loss.backward()
    assert rvq.layers[0].codebook.embed.grad is not None  # learned by gradient (DAC)
    # with dropout 1.0 each sample uses a random prefix of levels: some use fewer than 4
    full = rvq.eval().decode(out.codes)
    assert not torch.allclose(out.quantized.detach(), full)


def test_quantizer_warmup_bypasses_the_first_training_forwards():
    torch.manual_seed(0)
    cfg = dict(dim=8, n_codebooks=3, codebook_size=16, codebook_dim=4, ema_decay=None,
               kmeans_init=False, normalize_codewords=False, distance="cosine")
    rvq = ResidualVQ(RVQConfig(warmup_steps=2, **cfg))
    assert "warmup_count" in rvq.state_dict()
    assert "warmup_count" not in ResidualVQ(RVQConfig(**cfg)).state_dict()  # DAC's files
    z = torch.randn(3, 8, 5, requires_grad=True)
    expected_codes = rvq.eval().encode(z)
    rvq.eval()(z)  # eval forwards neither bypass nor count
    assert int(rvq.warmup_count) == 0
    rvq.train()
    for step in range(2):
        out = rvq(z)
        assert out.quantized is z and float(out.loss.detach()) == 0.0
        torch.testing.assert_close(out.codes, expected_codes)  # the codes it would give
        rvq.zero_grad()
        (out.quantized.sum() + out.loss).backward()
        # every parameter takes part with a zero gradient (DistributedDataParallel)
        assert all(p.grad is not None and not p.grad.any() for p in rvq.parameters())
    assert int(rvq.warmup_count) == 2 and not rvq.warming_up
    out = rvq(z)  # from now on it quantizes
    assert not torch.equal(out.quantized, z) and float(out.loss.detach()) > 0
    assert int(rvq.warmup_count) == 2
    # the count is saved, so a resumed run does not warm up again
    again = ResidualVQ(RVQConfig(warmup_steps=2, **cfg))
    again.load_state_dict(rvq.state_dict())
    assert not again.warming_up


def test_kmeans_converges_to_a_lloyd_fixed_point():
    g = torch.Generator().manual_seed(0)
    samples = torch.randn(300, 3, generator=g)
    centroids, counts = kmeans(samples, 8, 100, generator=g)
    assign = torch.cdist(samples, centroids).argmin(1)
    assert counts.sum() == 300
    assert torch.equal(torch.bincount(assign, minlength=8).to(counts.dtype), counts)
    for k in range(8):  # each centroid is the mean of its members
        torch.testing.assert_close(centroids[k], samples[assign == k].mean(0))
    # and beats the random initial centroids on inertia
    init = samples[torch.randperm(300, generator=torch.Generator().manual_seed(0))[:8]]
    inertia = lambda c: torch.cdist(samples, c).min(1).values.pow(2).sum()  # noqa: E731
    assert inertia(centroids) < inertia(init)


def test_codebook_usage_matches_metrics():
    from mne_codec.metrics import codebook_usage

    rvq = _calibrated()
    codes = rvq.encode(torch.randn(4, 8, 200))
    usage, perplexity = codebook_usage(codes.numpy(), 32)
    assert usage.shape == (3,) and np.all((usage > 0) & (usage <= 1))
    assert np.all((perplexity >= 1) & (perplexity <= 32))


def test_flip_gaps_measure_the_first_differing_level():
    rvq = _rvq()
    rvq(torch.randn(4, rvq.config.dim, 50))  # k-means initialisation (zero codebooks all tie)
    rvq.eval()
    z = torch.randn(4, rvq.config.dim, 5)
    codes = rvq.encode(z)  # (batch, n_codebooks, n_frames)
    rows = codes.transpose(1, 2).reshape(-1, codes.shape[1])
    residual = z.transpose(1, 2).reshape(-1, z.shape[1])
    gaps, levels = rvq.flip_gaps(residual, rows, rows.clone())
    assert len(gaps) == len(levels) == 0
    other = rows.clone()
    other[3, 1] = (other[3, 1] + 1) % rvq.config.codebook_size  # token 3 differs from level 1
    other[3, 2] = (other[3, 2] + 1) % rvq.config.codebook_size  # a later level: not counted
    other[7, 0] = (other[7, 0] + 1) % rvq.config.codebook_size
    gaps, levels = rvq.flip_gaps(residual, rows, other)
    assert levels.tolist() == [0, 1]
    # the encoder's choice scores best, so another code's gap is positive, within the range
    assert ((gaps > 0) & (gaps <= 1)).all()
