"""SphereGraph: Laplacians, their spectra, λmax, the Fourier basis and the hand-off to PyTorch."""

import numpy as np
import pytest
import scipy.sparse as sp
from graph_reference import uniform_points

import deepsphere.graph.graph as graph_module
from deepsphere.graph import (
    SphereGraph,
    healpix_graph,
    knn_graph,
    radius_graph,
    to_torch_sparse,
)
from deepsphere.sampling import HEALPix, Icosahedral


def random_weights(n, n_edges, seed, isolated=()):
    """A random symmetric non-negative sparse weight matrix, zero diagonal, without given vertices."""
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, n_edges)
    j = rng.integers(0, n, n_edges)
    keep = (i != j) & ~np.isin(i, isolated) & ~np.isin(j, isolated)
    i, j = i[keep], j[keep]
    w = rng.uniform(0.1, 2.0, len(i))
    m = sp.coo_matrix((w, (i, j)), shape=(n, n)).tocsr()
    return (m + m.T).tocsr()  # duplicates summed: still symmetric


GRAPHS = {
    "knn-healpix4": lambda: knn_graph(HEALPix(4), k=8),
    "knn-cloud": lambda: knn_graph(uniform_points(300, seed=101), k=6),
    "healpix4-ring": lambda: healpix_graph(HEALPix(4, nest=False)),
    "radius-cloud": lambda: radius_graph(uniform_points(350, seed=102), 0.45),
    "random": lambda: SphereGraph(random_weights(250, 900, seed=103)),
}


@pytest.fixture(params=list(GRAPHS))
def small_graph(request):
    return GRAPHS[request.param]()


# ----------------------------------------------------------------------------------------------
# Laplacians against their dense formulas


def test_combinatorial_laplacian(small_graph):
    g = small_graph
    w = g.weights.toarray()
    d = w.sum(axis=1)
    np.testing.assert_allclose(g.degree, d, rtol=1e-13)
    lap = g.laplacian()
    assert sp.isspmatrix_csr(lap) and lap.dtype == np.float64
    dense = lap.toarray()
    np.testing.assert_allclose(dense, np.diag(d) - w, rtol=0, atol=1e-13 * d.max())
    np.testing.assert_allclose(dense.sum(axis=1), 0, atol=1e-12 * d.max())
    assert np.array_equal(dense, dense.T)
    ev = np.linalg.eigvalsh(dense)
    assert ev[0] >= -1e-12 * ev[-1]  # positive semi-definite
    assert ev[-1] <= 2 * d.max() * (1 + 1e-12)


def test_normalized_laplacian(small_graph):
    g = small_graph
    w = g.weights.toarray()
    d = w.sum(axis=1)
    assert d.min() > 0
    s = 1 / np.sqrt(d)
    expected = np.eye(len(d)) - s[:, None] * w * s[None, :]
    dense = g.laplacian(normalized=True).toarray()
    np.testing.assert_allclose(dense, expected, rtol=0, atol=1e-13)
    np.testing.assert_allclose(np.diag(dense), 1.0, atol=1e-15)
    ev = np.linalg.eigvalsh(dense)
    assert ev[0] >= -1e-12 and ev[-1] <= 2 + 1e-12
    # the null vector of the normalized Laplacian of a connected graph is D^{1/2} 1
    np.testing.assert_allclose(dense @ np.sqrt(d), 0, atol=1e-12 * np.sqrt(d).max())


def test_laplacian_of_hand_made_path():
    a, b = 0.3, 1.7
    g = SphereGraph(sp.csr_matrix([[0, a, 0], [a, 0, b], [0, b, 0]]))
    np.testing.assert_array_equal(g.laplacian().toarray(), [[a, -a, 0], [-a, a + b, -b], [0, -b, b]])
    s = 1 / np.sqrt([a, a + b, b])
    np.testing.assert_allclose(
        g.laplacian(normalized=True).toarray(),
        [[1, -a * s[0] * s[1], 0], [-a * s[0] * s[1], 1, -b * s[1] * s[2]], [0, -b * s[1] * s[2], 1]],
        rtol=1e-15,
    )
    assert g.n_vertices == 3 and g.n_edges == 2
    np.testing.assert_array_equal(g.degree, [a, a + b, b])


def test_isolated_vertex_has_identity_row():
    w = random_weights(40, 150, seed=104, isolated=(7, 31))
    g = SphereGraph(w)
    norm = g.laplacian(normalized=True).toarray()
    comb = g.laplacian().toarray()
    for v in (7, 31):
        e = np.zeros(40)
        e[v] = 1.0
        np.testing.assert_array_equal(norm[v], e)
        np.testing.assert_array_equal(norm[:, v], e)
        np.testing.assert_array_equal(comb[v], 0.0)
    assert np.isfinite(norm).all()
    # the other vertices follow the formula
    d = w.toarray().sum(axis=1)
    s = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0)
    expected = np.eye(40) - s[:, None] * w.toarray() * s[None, :]
    np.testing.assert_allclose(norm, expected, atol=1e-14)
    ev = np.linalg.eigvalsh(norm)
    assert ev[0] >= -1e-12 and ev[-1] <= 2 + 1e-12


# ----------------------------------------------------------------------------------------------
# The spectrum of sphere graphs: spherical harmonics


def harmonic_groups(ev):
    """Means of the groups ℓ = 0..3 (1, 3, 5, 7 eigenvalues) and each group's spread / nearest gap."""
    bounds = [(0, 1), (1, 4), (4, 9), (9, 16)]
    means = np.array([ev[a:b].mean() for a, b in bounds])
    spread_over_gap = []
    for a, b in bounds[1:]:
        gap = min(ev[a] - ev[a - 1], ev[b] - ev[b - 1])
        spread_over_gap.append((ev[b - 1] - ev[a]) / gap)
    return means, np.array(spread_over_gap)


@pytest.mark.parametrize(
    "make",
    [
        # measured (group means / ℓ=1 mean for ℓ = 2, 3; worst spread/gap):
        # knn HEALPix 16, k=8:     2.9954, 5.9783; 0.099
        # knn Icosahedral 3, k=6:  2.9760, 5.9408; 0.332 (ℓ=3 splits 3 + 4 under icosahedral symmetry)
        # healpix_graph nside 8:   2.9826, 5.9144; 0.138
        pytest.param(lambda: knn_graph(HEALPix(16), k=8), id="knn-healpix16-k8"),
        pytest.param(lambda: knn_graph(Icosahedral(3), k=6), id="knn-icosahedral3-k6"),
        pytest.param(lambda: healpix_graph(HEALPix(8, nest=False)), id="healpix8"),
    ],
)
def test_low_spectrum_is_spherical_harmonics(make):
    """The lowest 16 eigenvalues of the combinatorial Laplacian cluster as 1, 3, 5, 7 (ℓ = 0..3),
    at heights proportional to ℓ(ℓ+1), like those of the Laplace-Beltrami operator."""
    g = make()
    ev = np.linalg.eigvalsh(g.laplacian().toarray())[:17]
    means, spread_over_gap = harmonic_groups(ev)
    assert abs(ev[0]) < 1e-10 * ev[1]
    assert np.all(spread_over_gap < 0.5), spread_over_gap
    ratios = means[1:] / means[1]
    np.testing.assert_allclose(ratios, [1.0, 3.0, 6.0], rtol=0.03)
    # the 4 largest gaps among the lowest 17 eigenvalues are exactly between the groups
    assert sorted(np.argsort(np.diff(ev))[-4:]) == [0, 3, 8, 15]


# ----------------------------------------------------------------------------------------------
# λmax


def cycle(n, weight=1.0):
    i = np.arange(n)
    m = sp.coo_matrix((np.full(n, weight), (i, (i + 1) % n)), shape=(n, n))
    return SphereGraph((m + m.T).tocsr())


LMAX_GRAPHS = {
    # n <= 400: solved densely
    "knn-healpix4": lambda: knn_graph(HEALPix(4), k=8),
    "knn-cloud300": lambda: knn_graph(uniform_points(300, seed=111), k=6),
    "random300": lambda: SphereGraph(random_weights(300, 1200, seed=112)),
    # n > 400: Lanczos with a residual bound
    "knn-healpix8": lambda: knn_graph(HEALPix(8), k=20),
    "healpix8": lambda: healpix_graph(HEALPix(8)),
    "knn-icosahedral3": lambda: knn_graph(Icosahedral(3), k=6),
    "radius-cloud1200": lambda: radius_graph(uniform_points(1200, seed=113), 0.25),
    "random900": lambda: SphereGraph(random_weights(900, 4000, seed=114, isolated=(5,))),
}


@pytest.mark.filterwarnings("ignore:.*have no neighbour within radius")
@pytest.mark.parametrize("normalized", [False, True], ids=["combinatorial", "normalized"])
@pytest.mark.parametrize("name", list(LMAX_GRAPHS))
def test_lmax_bounds_largest_eigenvalue(name, normalized):
    g = LMAX_GRAPHS[name]()
    exact = np.linalg.eigvalsh(g.laplacian(normalized).toarray())[-1]
    lmax = g.lmax(normalized)
    assert isinstance(lmax, float)
    assert lmax >= exact * (1 - 1e-12)
    assert lmax <= exact * 1.01
    if normalized:
        assert lmax <= 2.0
    assert g.lmax(normalized) == lmax  # cached, deterministic


@pytest.mark.parametrize("n", [100, 101, 600, 601])
def test_lmax_of_cycle_is_analytic(n):
    """Cycle C_n, weight c: eigenvalues c (2 − 2 cos(2πj/n)), normalized 1 − cos(2πj/n)."""
    c = 0.7
    g = cycle(n, c)
    j = np.arange(n)
    comb = np.max(c * (2 - 2 * np.cos(2 * np.pi * j / n)))
    norm = np.max(1 - np.cos(2 * np.pi * j / n))
    assert comb * (1 - 1e-12) <= g.lmax() <= comb * 1.01
    assert norm * (1 - 1e-12) <= g.lmax(normalized=True) <= min(norm * 1.01, 2.0)
    if n % 2 == 0:  # bipartite: exactly 2 (and 4c), the caps
        assert g.lmax(normalized=True) == pytest.approx(2.0, rel=1e-12)
        assert g.lmax() == pytest.approx(4 * c, rel=1e-12)


def test_lmax_of_edgeless_graph():
    g = SphereGraph(sp.csr_matrix((5, 5)))
    assert g.lmax() == 0.0
    assert g.lmax(normalized=True) == pytest.approx(1.0)  # the identity


# ----------------------------------------------------------------------------------------------
# Fourier basis


@pytest.mark.parametrize("normalized", [False, True], ids=["combinatorial", "normalized"])
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: knn_graph(Icosahedral(2), k=6), id="knn-icosahedral2"),
        pytest.param(lambda: SphereGraph(random_weights(300, 1000, seed=121)), id="random"),
    ],
)
def test_fourier_basis(make, normalized):
    g = make()
    lam, u = g.fourier_basis(normalized)
    n = g.n_vertices
    assert lam.shape == (n,) and u.shape == (n, n)
    assert np.all(np.diff(lam) >= 0)
    np.testing.assert_allclose(u.T @ u, np.eye(n), atol=1e-10)
    lap = g.laplacian(normalized)
    np.testing.assert_allclose(lap @ u, u * lam[None, :], atol=1e-10)
    np.testing.assert_allclose(lam, np.linalg.eigvalsh(lap.toarray()), atol=1e-10)
    np.testing.assert_allclose((u * lam) @ u.T, lap.toarray(), atol=1e-10)
    assert abs(lam[0]) < 1e-10


def test_fourier_basis_refuses_large_graphs():
    """A sparse graph of MAX_DENSE_VERTICES + 1 vertices: refused before anything dense is built."""
    n = graph_module.MAX_DENSE_VERTICES + 1
    g = SphereGraph(random_weights(n, 3 * n, seed=122))
    with pytest.raises(ValueError, match=rf"fourier_basis is dense.*{n} vertices.*at most"):
        g.fourier_basis()
    with pytest.raises(ValueError, match="fourier_basis"):
        g.fourier_basis(normalized=True)


def test_fourier_basis_limit_is_inclusive(monkeypatch):
    monkeypatch.setattr(graph_module, "MAX_DENSE_VERTICES", 120)
    lam, _ = SphereGraph(random_weights(120, 500, seed=123)).fourier_basis()
    assert lam.shape == (120,)
    with pytest.raises(ValueError, match="121 vertices, at most 120"):
        SphereGraph(random_weights(121, 500, seed=124)).fourier_basis()


# ----------------------------------------------------------------------------------------------
# to_torch_sparse


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
@pytest.mark.filterwarnings("ignore:Sparse invariant checks are implicitly disabled")
@pytest.mark.parametrize("which", ["weights", "laplacian", "normalized"])
def test_to_torch_sparse_matches_scipy(which):
    torch = pytest.importorskip("torch")
    g = knn_graph(uniform_points(700, seed=131), k=8)
    m = {
        "weights": g.weights,
        "laplacian": g.laplacian(),
        "normalized": g.laplacian(normalized=True),
    }[which]
    rng = np.random.default_rng(132)
    v = rng.standard_normal(700)
    block = rng.standard_normal((700, 4))
    expected, expected_block = m @ v, m @ block

    t64 = to_torch_sparse(m, dtype=torch.float64)
    assert t64.layout == torch.sparse_csr and t64.dtype == torch.float64
    assert tuple(t64.shape) == m.shape
    np.testing.assert_array_equal(t64.crow_indices().numpy(), m.indptr)
    np.testing.assert_array_equal(t64.col_indices().numpy(), m.indices)
    np.testing.assert_allclose((t64 @ torch.from_numpy(v)).numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        (t64 @ torch.from_numpy(block)).numpy(), expected_block, rtol=1e-12, atol=1e-12
    )

    t32 = to_torch_sparse(m)
    assert t32.layout == torch.sparse_csr and t32.dtype == torch.float32
    scale = np.abs(m).max() * np.abs(v).sum() / 700 * 10
    got = (t32 @ torch.from_numpy(v).float()).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
@pytest.mark.filterwarnings("ignore:Sparse invariant checks are implicitly disabled")
def test_to_torch_sparse_accepts_other_formats():
    torch = pytest.importorskip("torch")
    w = random_weights(60, 200, seed=133)
    v = np.random.default_rng(134).standard_normal(60)
    for m in (w.tocoo(), w.tocsc(), w.toarray()):
        t = to_torch_sparse(m, dtype=torch.float64)
        np.testing.assert_allclose((t @ torch.from_numpy(v)).numpy(), w @ v, rtol=1e-13)


# ----------------------------------------------------------------------------------------------
# SphereGraph: construction checks


def test_sphere_graph_basic_attributes():
    w = random_weights(80, 300, seed=141)
    coords = uniform_points(80, seed=142)
    g = SphereGraph(w.tocoo(), coords=coords, kernel_width=0.2)
    assert sp.isspmatrix_csr(g.weights) and g.weights.has_sorted_indices
    assert g.n_vertices == 80
    assert g.n_edges == w.nnz // 2
    np.testing.assert_allclose(g.degree, w.toarray().sum(axis=1), rtol=1e-14)
    np.testing.assert_array_equal(g.coords, coords)
    assert g.kernel_width == 0.2
    assert "n_vertices=80" in repr(g) and "kernel_width=0.2" in repr(g)


def test_sphere_graph_sums_duplicate_entries():
    m = sp.coo_matrix(([0.25, 0.5, 0.75], ([0, 0, 1], [1, 1, 0])), shape=(2, 2))
    g = SphereGraph(m)
    np.testing.assert_array_equal(g.weights.toarray(), [[0, 0.75], [0.75, 0]])
    assert g.n_edges == 1


def bad_matrix(kind):
    w = random_weights(30, 100, seed=151).toarray()
    if kind == "non-symmetric":
        w[3, 4] += 0.5
    elif kind == "negative":
        w[3, 4] = w[4, 3] = -0.5
    elif kind == "nan":
        w[3, 4] = w[4, 3] = np.nan
    elif kind == "inf":
        w[3, 4] = w[4, 3] = np.inf
    elif kind == "self-loop":
        w[5, 5] = 1.0
    elif kind == "non-square":
        w = w[:, :29]
    return sp.csr_matrix(w)


@pytest.mark.parametrize(
    "kind, match",
    [
        ("non-symmetric", "weights must be symmetric"),
        ("negative", "weights must be finite and non-negative"),
        ("nan", "weights must be finite and non-negative"),
        ("inf", "weights must be finite and non-negative"),
        ("self-loop", r"weights must have a zero diagonal"),
        ("non-square", r"weights must be a square matrix, got shape \(30, 29\)"),
    ],
)
def test_sphere_graph_refuses_bad_weights(kind, match):
    with pytest.raises(ValueError, match=match):
        SphereGraph(bad_matrix(kind))
    with pytest.raises(ValueError, match=match):
        SphereGraph(bad_matrix(kind).toarray())


def test_sphere_graph_check_false_skips_checks():
    g = SphereGraph(bad_matrix("non-symmetric"), check=False)
    assert g.n_vertices == 30


def test_sphere_graph_refuses_bad_coords():
    w = random_weights(10, 30, seed=152)
    with pytest.raises(ValueError, match=r"coords must have shape \(10, 3\)"):
        SphereGraph(w, coords=uniform_points(9, seed=153))
    with pytest.raises(ValueError, match="coords"):
        SphereGraph(w, coords=uniform_points(10, seed=153)[:, :2])
