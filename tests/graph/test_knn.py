"""k nearest neighbours: the grid search against cKDTree, and the structure of knn_graph."""

import functools

import numpy as np
import pytest
import scipy.sparse as sp
from graph_reference import (
    assert_exactly_symmetric,
    assert_weights_follow_kernel,
    cap_points,
    chord_sq,
    clustered_points,
    directed_union,
    reference_knn,
    uniform_points,
)
from scipy.spatial import cKDTree

from deepsphere.graph import SphereGraph, _knn_grid, knn_graph
from deepsphere.graph._knn_grid import knn_sphere
from deepsphere.sampling import (
    CubedSphere,
    Equiangular,
    GaussLegendre,
    HEALPix,
    Icosahedral,
    PointCloud,
)

# Every sampling kind, about 2000-3000 points each (Driscoll-Healy and Clenshaw-Curtis have a ring of
# nlon coincident points at each pole: many exact ties at distance 0).
SAMPLINGS = {
    "healpix-nest": lambda: HEALPix(16, nest=True),
    "healpix-ring": lambda: HEALPix(16, nest=False),
    "equiangular-dh": lambda: Equiangular(32, 64, kind="driscoll-healy"),
    "equiangular-soft": lambda: Equiangular(32, 64, kind="soft"),
    "equiangular-cc": lambda: Equiangular(33, 64, kind="clenshaw-curtis"),
    "gauss-legendre": lambda: GaussLegendre(32),
    "cubed-sphere": lambda: CubedSphere(20),
    "icosahedral": lambda: Icosahedral(4),
    "cloud-uniform": lambda: PointCloud.from_coords(uniform_points(3000, seed=11)),
    "cloud-clustered": lambda: PointCloud.from_coords(clustered_points(3000, seed=12)),
}


@functools.cache
def coords_of(name):
    return SAMPLINGS[name]().coords


def needle_cloud():
    """1995 points in a cap of 1e-3 rad and 5 lone points far away: the lone points' neighbours are
    ~1 away, so the search must double the cells until it compares with every point."""
    lone = np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0], [0, 0, -1.0]])
    return np.concatenate([cap_points(1995, 1e-3, seed=5), lone])


def assert_same_neighbours(x, k, nb, sq_dist):
    """``nb``/``sq_dist`` (from knn_sphere) are the exact k-NN of x: compared with cKDTree."""
    n = len(x)
    ref_nb, ref_d, kth, _ = reference_knn(x, k)
    assert nb.shape == sq_dist.shape == (n, k)
    # distances: the k smallest, self excluded, in increasing order
    np.testing.assert_allclose(np.sqrt(sq_dist), ref_d, rtol=0, atol=1e-12)
    assert np.all(np.diff(sq_dist, axis=1) >= 0)
    # the returned distances are those of the returned points
    rows = np.repeat(np.arange(n), k)
    np.testing.assert_allclose(sq_dist.ravel(), chord_sq(x, rows, nb.ravel()), rtol=1e-14, atol=1e-16)
    # valid, distinct indices, never the point itself
    assert nb.min() >= 0 and nb.max() < n
    assert not np.any(nb == np.arange(n)[:, None])
    srt = np.sort(nb, axis=1)
    assert np.all(np.diff(srt, axis=1) > 0)
    # the same sets, except where distances tie at the k-th distance
    ref_srt = np.sort(ref_nb, axis=1)
    for i in np.flatnonzero(np.any(srt != ref_srt, axis=1)):
        diff = np.array(sorted(set(srt[i]) ^ set(ref_srt[i])))
        d = np.sqrt(chord_sq(x, np.full(len(diff), i), diff))
        np.testing.assert_allclose(d, kth[i], rtol=0, atol=1e-12, err_msg=f"row {i}")


@pytest.mark.parametrize("k", [1, 8, 20, 40])
@pytest.mark.parametrize("name", list(SAMPLINGS))
def test_knn_sphere_is_exact(name, k):
    x = coords_of(name)
    nb, sq_dist = knn_sphere(x, k)
    assert_same_neighbours(x, k, nb, sq_dist)


@pytest.fixture
def grid_passes(monkeypatch):
    """Record the cell size h of every grid pass of knn_sphere."""
    sizes = []
    original = _knn_grid._grid_pass

    def spy(x, queries, h, *args):
        sizes.append(h)
        return original(x, queries, h, *args)

    monkeypatch.setattr(_knn_grid, "_grid_pass", spy)
    return sizes


@pytest.mark.parametrize("k", [1, 8, 20, 40])
def test_clustered_cloud_uses_fallback_passes(k, grid_passes):
    x = clustered_points(3000, seed=21)
    nb, sq_dist = knn_sphere(x, k)
    assert len(grid_passes) >= 2, "the clustered cloud should need more than one grid pass"
    assert_same_neighbours(x, k, nb, sq_dist)


@pytest.mark.parametrize("k", [1, 8, 40])
def test_needle_cloud_reaches_the_all_points_pass(k, grid_passes):
    x = needle_cloud()
    nb, sq_dist = knn_sphere(x, k)
    assert max(grid_passes) >= 2.0, "lone points need a pass that compares with every point"
    assert_same_neighbours(x, k, nb, sq_dist)


@pytest.mark.parametrize("k", [1, 8, 20, 40, 44])
def test_knn_small_cloud(k):
    """45 points: the first cell is already larger than the sphere for the larger k."""
    x = uniform_points(45, seed=31)
    nb, sq_dist = knn_sphere(x, k)
    assert_same_neighbours(x, k, nb, sq_dist)


def test_knn_writable_and_readonly_inputs_agree():
    x = uniform_points(500, seed=32)
    ro = x.copy()
    ro.flags.writeable = False
    a = knn_sphere(x, 8)
    b = knn_sphere(ro, 8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


# ----------------------------------------------------------------------------------------------
# knn_graph: symmetric union of the directed k-NN edges, Gaussian weights


@pytest.mark.parametrize("k", [1, 8, 20])
@pytest.mark.parametrize(
    "points",
    [
        pytest.param(lambda: uniform_points(2500, seed=41), id="uniform"),
        pytest.param(lambda: clustered_points(2500, seed=42), id="clustered"),
    ],
)
def test_knn_graph_equals_reference_union(points, k):
    """Random points (no ties): the edge set is exactly the union of cKDTree's directed k-NN edges."""
    x = points()
    n = len(x)
    width = 0.03 + 0.01 * k / 20  # an explicit, arbitrary width
    g = knn_graph(x, k=k, kernel_width=width)
    assert isinstance(g, SphereGraph)
    w = g.weights
    assert sp.isspmatrix_csr(w) and w.dtype == np.float64 and w.shape == (n, n)
    assert_exactly_symmetric(w)
    assert np.all(np.diff(w.indptr) >= k)

    ref_nb, _, _, _ = reference_knn(x, k)
    ref = directed_union(ref_nb, n)
    pattern = w.copy()
    pattern.data[:] = 1.0
    assert (pattern != ref).nnz == 0
    assert g.n_edges == ref.nnz // 2
    assert n * k / 2 <= g.n_edges <= n * k
    assert np.all(w.data > 0)

    assert_weights_follow_kernel(w, x, width)
    coo = w.tocoo()
    np.testing.assert_allclose(g.degree, np.bincount(coo.row, coo.data, minlength=n), rtol=1e-13)
    assert g.kernel_width == width
    np.testing.assert_array_equal(g.coords, x)


def assert_union_with_ties(w, x, k):
    """Tie-aware check that ``w``'s edges are the union of (some choice of) the exact k-NN.

    With d_k(i) the k-th neighbour distance: row i holds every j strictly closer than d_k(i), at
    least k entries within d_k(i), and only entries within d_k(i) or d_k(j) (chosen by i or by j).
    """
    n = len(x)
    _, _, kth, _ = reference_knn(x, k)
    tol = 1e-12
    coo = w.tocoo()
    d = np.sqrt(chord_sq(x, coo.row, coo.col))
    own = d <= kth[coo.row] + tol
    assert np.all(own | (d <= kth[coo.col] + tol)), "an edge chosen by neither end"
    assert np.all(np.bincount(coo.row[own], minlength=n) >= k)
    # every strictly closer neighbour is present (found by cKDTree)
    tree = cKDTree(x)
    radius = kth - 2 * tol  # query_ball_point keeps distances <= radius
    must = tree.query_ball_point(x, np.maximum(radius, 0), return_sorted=False)
    rows = w.tolil().rows
    for i in np.flatnonzero(radius > 0):
        missing = set(must[i]) - set(rows[i]) - {i}
        assert not missing, f"row {i} misses strictly closer neighbours {missing}"


@pytest.mark.parametrize("k", [8, 20])
@pytest.mark.parametrize("name", ["healpix-nest", "equiangular-dh", "icosahedral", "cubed-sphere"])
def test_knn_graph_regular_samplings(name, k):
    """Samplings with symmetric, tied distances: union structure and weights, tie-aware."""
    x = coords_of(name)
    g = knn_graph(SAMPLINGS[name](), k=k, kernel_width=0.05)
    w = g.weights
    assert_exactly_symmetric(w)
    assert np.all(np.diff(w.indptr) >= k)
    assert_union_with_ties(w, x, k)
    assert_weights_follow_kernel(w, x, 0.05)


def test_knn_graph_sampling_and_coords_agree():
    s = Icosahedral(3)
    a = knn_graph(s, k=8, kernel_width=0.1)
    b = knn_graph(np.array(s.coords), k=8, kernel_width=0.1)
    assert (a.weights != b.weights).nnz == 0
    np.testing.assert_array_equal(a.coords, s.coords)


# ----------------------------------------------------------------------------------------------
# Partial sky


def disc_pixels(nside, radius, seed, nest=True):
    import healpy as hp

    centre = uniform_points(1, seed)[0]
    return np.unique(hp.query_disc(nside, centre, radius, nest=nest))


@pytest.mark.parametrize("k", [8, 20])
@pytest.mark.parametrize("seed", [51, 52])
def test_knn_graph_partial_sky_is_local(k, seed):
    """Interior rows of a partial-sky graph are those of the full-sky graph."""
    nside, width = 16, 0.07
    kept = disc_pixels(nside, 0.9, seed)
    full_s = HEALPix(nside)
    part_s = HEALPix(nside, indices=kept)
    full = knn_graph(full_s, k=k, kernel_width=width).weights
    part = knn_graph(part_s, k=k, kernel_width=width).weights

    # the vertices are only the kept pixels, at the same places: no edge reaches a missing pixel
    m = len(kept)
    assert part.shape == (m, m)
    np.testing.assert_array_equal(part_s.coords, full_s.coords[kept])
    assert_exactly_symmetric(part)
    assert np.all(np.diff(part.indptr) >= k)

    # which rows must agree: computed with cKDTree on the full and on the partial point sets
    xf, xp = full_s.coords, part_s.coords
    is_kept = np.zeros(len(xf), dtype=bool)
    is_kept[kept] = True
    f_nb, _, f_kth, f_after = reference_knn(xf, k)
    _, _, p_kth, _ = reference_knn(xp, k)
    tol = 1e-12
    # clean pixel: its full-sky k-NN are all kept and unambiguous, so its partial k-NN are the same
    clean = is_kept[f_nb].all(axis=1) & (f_after - f_kth > tol)
    clean_p = clean[kept]
    # row i agrees when i is clean and so is every kept j that may choose i (in either graph)
    dist = np.sqrt(((xp[:, None, :] - xp[None, :, :]) ** 2).sum(-1))
    may_choose = (dist <= p_kth[None, :] + tol) | (dist <= f_kth[kept][None, :] + tol)
    np.fill_diagonal(may_choose, False)
    eligible = clean_p & ~np.any(may_choose & ~clean_p[None, :], axis=1)
    assert eligible.sum() > m / 3, "the test should compare many rows"
    assert eligible.sum() < m, "and the border rows should differ"

    restricted = full[kept][:, kept].tocsr()
    for row in np.flatnonzero(eligible):
        a = part.getrow(row)
        b = restricted.getrow(row)
        np.testing.assert_array_equal(a.indices, b.indices, err_msg=f"pixel {kept[row]}")
        np.testing.assert_array_equal(a.data, b.data, err_msg=f"pixel {kept[row]}")
    # the partial graph is the k-NN graph of the kept points, from the reference
    assert_union_with_ties(part, xp, k)


def test_knn_graph_partial_sky_default_width_is_full_sky_width():
    kept = disc_pixels(16, 0.7, seed=53)
    assert knn_graph(HEALPix(16, indices=kept), k=8).kernel_width == pytest.approx(
        knn_graph(HEALPix(16), k=8).kernel_width, rel=1e-12
    )


# ----------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("k", [0, -3, 2.5, True, False, "8", None, np.float64(8.0)])
def test_bad_k(k):
    x = uniform_points(50, seed=61)
    with pytest.raises(ValueError, match="k"):
        knn_graph(x, k=k)


@pytest.mark.parametrize("k", [50, 51, 1000])
def test_k_not_below_npix(k):
    with pytest.raises(ValueError, match=r"k=\d+ must be smaller than the number of pixels \(50\)"):
        knn_graph(uniform_points(50, seed=62), k=k)


def test_k_numpy_integer_accepted():
    x = uniform_points(60, seed=63)
    a = knn_graph(x, k=np.int32(5), kernel_width=0.3)
    b = knn_graph(x, k=5, kernel_width=0.3)
    assert (a.weights != b.weights).nnz == 0


def test_k_equal_npix_healpix():
    with pytest.raises(ValueError, match="k=12 must be smaller"):
        knn_graph(HEALPix(1), k=12)
    assert knn_graph(HEALPix(1), k=11).n_edges == 12 * 11 // 2  # k = n - 1: the complete graph


@pytest.mark.parametrize(
    "coords, match",
    [
        pytest.param(uniform_points(30, seed=64) * 1.01, "unit vectors", id="not-unit"),
        pytest.param(uniform_points(30, seed=65)[:, :2], r"shape \(n, 3\)", id="shape-n2"),
        pytest.param(uniform_points(30, seed=66).ravel(), r"shape \(n, 3\)", id="1d"),
        pytest.param(np.zeros((30, 3)), "unit vectors", id="zeros"),
    ],
)
def test_bad_coords(coords, match):
    with pytest.raises(ValueError, match="coords"):
        knn_graph(coords, k=3)
    with pytest.raises(ValueError, match=match):
        knn_graph(coords, k=3)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_coords_not_finite(bad):
    x = uniform_points(30, seed=67)
    x[7, 1] = bad
    with pytest.raises(ValueError, match="coords contain NaN"):
        knn_graph(x, k=3)
