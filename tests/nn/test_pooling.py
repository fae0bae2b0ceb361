"""Pooling and unpooling against healpy and numpy references, on full and partial skies."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest
import torch

from deepsphere.nn import GlobalPool, LearnedUnpool, Pool, Unpool
from deepsphere.sampling import CubedSphere, Equiangular, HEALPix, Icosahedral

SAMPLINGS = {
    "healpix": HEALPix(nside=8),
    "healpix-partial": HEALPix(nside=8, indices=np.arange(37, 501, 3)),
    "equiangular": Equiangular(16, 32),
    "soft": Equiangular(16, 16, kind="soft"),
    "icosahedral": Icosahedral(level=2),
    "cubed": CubedSphere(8),
}


def numpy_pool(x: np.ndarray, parent: np.ndarray, n_coarse: int, mode: str, area: np.ndarray) -> np.ndarray:
    """Loop reference: x (B, V, C) → (B, n_coarse, C)."""
    out = np.empty((x.shape[0], n_coarse, x.shape[2]))
    for p in range(n_coarse):
        children = np.flatnonzero(parent == p)
        if mode == "max":
            out[:, p] = x[:, children].max(axis=1)
        else:
            w = area[children] if area[children].sum() > 0 else np.ones(len(children))
            out[:, p] = np.einsum("bvc,v->bc", x[:, children], w / w.sum())
    return out


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_avg_pool_equals_healpy_ud_grade(levels):
    rng = np.random.default_rng(levels)
    nside = 16
    maps = rng.standard_normal((3, 12 * nside**2))
    pool = Pool.from_sampling(HEALPix(nside), levels=levels)
    y = pool(torch.from_numpy(maps.T[None]).float())[0].numpy().T
    ref = hp.ud_grade(maps, nside // 2**levels, order_in="NESTED", order_out="NESTED")
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(SAMPLINGS))
@pytest.mark.parametrize("mode", ["avg", "max"])
def test_pool_matches_loop_reference(name, mode):
    s = SAMPLINGS[name]
    coarse, parent = s.coarsen()
    rng = np.random.default_rng(len(name))
    x = rng.standard_normal((2, s.npix, 3))
    pool = Pool.from_sampling(s, mode=mode)
    y = pool(torch.from_numpy(x)).numpy()
    assert y.shape == (2, coarse.npix, 3)
    np.testing.assert_allclose(y, numpy_pool(x, parent, coarse.npix, mode, s.area), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("consecutive", [True, False])
def test_weighted_avg_pool_gradient(consecutive):
    """float64 gradcheck of the area-weighted mean, on groups of 4 consecutive children (the batched
    product) and on the same groups shuffled (the scatter path); both against the loop reference."""
    rng = np.random.default_rng(7)
    parent = np.repeat(np.arange(12), 4)
    if not consecutive:
        parent = rng.permutation(parent)
    area = rng.uniform(0.5, 2.0, parent.size)
    pool = Pool(parent, area=area).double()
    assert bool(pool.group) == consecutive
    x = torch.from_numpy(rng.standard_normal((2, parent.size, 3))).requires_grad_()
    ref = numpy_pool(x.detach().numpy(), parent, 12, "avg", area)
    np.testing.assert_allclose(pool(x).detach().numpy(), ref, rtol=1e-6, atol=1e-7)  # float32 weights
    assert torch.autograd.gradcheck(pool, (x,))


@pytest.mark.parametrize("name", ["healpix", "healpix-partial", "icosahedral", "cubed"])
def test_max_pool_gradient_reaches_each_groups_maximum(name):
    """The output gradient goes to the largest child of each group; on tied children (a ReLU's zeros) it
    is shared equally, so each group's input gradient still sums to its output gradient."""
    s = SAMPLINGS[name]
    coarse, parent = s.coarsen()
    rng = np.random.default_rng(11)
    pool = Pool.from_sampling(s, mode="max")
    x = torch.from_numpy(rng.standard_normal((2, s.npix, 3))).requires_grad_()
    grad = torch.from_numpy(rng.standard_normal((2, coarse.npix, 3)))
    pool(x).backward(grad)
    expected = np.zeros(x.shape)
    xs = x.detach().numpy()
    for p in range(coarse.npix):
        children = np.flatnonzero(parent == p)
        winner = children[xs[:, children].argmax(axis=1)]  # (2, 3)
        for b in range(2):
            for c in range(3):
                expected[b, winner[b, c], c] = grad[b, p, c]
    np.testing.assert_allclose(x.grad.numpy(), expected)

    x = torch.relu(x.detach() - 1).requires_grad_()  # many groups of tied zeros
    pool(x).backward(grad)
    group_sums = np.zeros(grad.shape)
    np.add.at(group_sums, (slice(None), parent), x.grad.numpy())
    np.testing.assert_allclose(group_sums, grad.numpy(), atol=1e-12)


def test_avg_pool_conserves_the_integral_of_exact_cells():
    s = CubedSphere(8)  # exact cell solid angles: a coarse cell is the union of its 4 children
    coarse, _ = s.coarsen()
    x = np.random.default_rng(0).standard_normal(s.npix)
    y = Pool.from_sampling(s)(torch.from_numpy(x)[None, :, None])[0, :, 0].numpy()
    assert (coarse.area * y).sum() == pytest.approx((s.area * x).sum(), rel=1e-6)  # float32 weights


@pytest.mark.parametrize("name", list(SAMPLINGS))
def test_avg_pool_keeps_constants(name):
    s = SAMPLINGS[name]
    y = Pool.from_sampling(s)(torch.full((1, s.npix, 1), 2.5, dtype=torch.float64))
    torch.testing.assert_close(y, torch.full_like(y, 2.5))


def test_partial_sky_keeps_exactly_the_coarse_pixels_of_the_rule():
    indices = np.sort(np.random.default_rng(1).choice(12 * 16**2, 700, replace=False))
    s = HEALPix(nside=16, indices=indices)
    for levels in (1, 2):
        pool = Pool.from_sampling(s, levels=levels)
        kept = np.unique(indices // 4**levels)  # any kept child keeps its parent
        assert pool.n_coarse == len(kept)
        assert np.array_equal(s.coarsen(levels)[0].indices, kept)
        x = torch.randn(1, s.npix, 2, dtype=torch.float64)
        ref = numpy_pool(x.numpy(), np.searchsorted(kept, indices // 4**levels), len(kept), "avg", s.area)
        np.testing.assert_allclose(pool(x).numpy(), ref, rtol=1e-6)


@pytest.mark.parametrize("name", list(SAMPLINGS))
def test_unpool_inverts_shapes_and_avg_pool_undoes_it(name):
    s = SAMPLINGS[name]
    coarse, parent = s.coarsen()
    x = torch.randn(2, coarse.npix, 3, dtype=torch.float64)
    up = Unpool.from_sampling(s)(x)
    assert up.shape == (2, s.npix, 3)
    torch.testing.assert_close(up, x[:, torch.from_numpy(parent)])
    torch.testing.assert_close(Pool.from_sampling(s)(up), x)


def test_learned_unpool_is_a_transposed_convolution_on_nested_healpix():
    s = HEALPix(nside=4)
    torch.manual_seed(0)
    layer = LearnedUnpool.from_sampling(s, 3, 5)
    assert layer.n_slots == 4
    x = torch.randn(2, 48, 3)
    w = layer.weight.detach().reshape(3, 4, 5)
    ref = torch.einsum("bpc,cso->bpso", x, w).reshape(2, 192, 5) + layer.bias.detach()
    torch.testing.assert_close(layer(x), ref)
    layer(x).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_learned_unpool_on_an_irregular_hierarchy():
    s = SAMPLINGS["icosahedral"]
    coarse, parent = s.coarsen()
    layer = LearnedUnpool.from_sampling(s, 2, 2)
    x = torch.randn(1, coarse.npix, 2)
    y = layer(x).detach()
    w = layer.weight.detach().reshape(2, layer.n_slots, 2)
    for child in (0, 17, s.npix - 1):
        siblings = np.flatnonzero(parent == parent[child])
        rank = int(np.searchsorted(siblings, child))
        expected = x[0, parent[child]] @ w[:, rank] + layer.bias.detach()
        torch.testing.assert_close(y[0, child], expected)


def test_pools_read_vertex_major_and_batch_major_input_alike():
    s = SAMPLINGS["equiangular"]
    x = torch.randn(s.npix, 3, 4)  # vertex-major memory
    for layer in (Pool.from_sampling(s, mode="max"), Pool.from_sampling(s)):
        torch.testing.assert_close(layer(x.transpose(0, 1)), layer(x.transpose(0, 1).contiguous()))


def test_global_pool_statistics_and_permutation_invariance():
    x = torch.randn(3, 50, 4, dtype=torch.float64)
    out = GlobalPool(("mean", "max", "var"))(x)
    ref = np.concatenate([x.mean(1), x.amax(1), np.var(x.numpy(), axis=1)], axis=1)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    perm = torch.randperm(50)
    torch.testing.assert_close(GlobalPool(("mean", "var"))(x[:, perm]), GlobalPool(("mean", "var"))(x))


def test_bad_inputs():
    with pytest.raises(ValueError, match="mode must be one of"):
        Pool.from_sampling(HEALPix(nside=2), mode="median")
    with pytest.raises(ValueError, match="parent must be a non-empty 1-D integer array"):
        Pool(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="parent must map onto every coarse vertex"):
        Unpool(np.array([0, 2, 2]), n_coarse=3)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 48, channel\)"):
        Pool.from_sampling(HEALPix(nside=2))(torch.zeros(1, 47, 1))
    with pytest.raises(ValueError, match="stats must be a non-empty subset"):
        GlobalPool(("median",))
    with pytest.raises(ValueError, match="has no coarser level"):
        Pool.from_sampling(HEALPix(nside=1))
