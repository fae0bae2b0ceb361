"""The exact HEALPix neighbour graph, against healpy.get_all_neighbours."""

import doctest

import healpy as hp
import numpy as np
import pytest
import scipy.sparse as sp
from graph_reference import (
    assert_exactly_symmetric,
    assert_weights_follow_kernel,
    uniform_points,
)

import deepsphere.graph.healpix as healpix_module
from deepsphere.graph import healpix_graph
from deepsphere.sampling import Equiangular, HEALPix, Icosahedral


def healpy_adjacency(nside, nest, pix=None):
    """0/1 adjacency of the pixels ``pix`` (all by default) from healpy, numbered as rows of pix."""
    npix = 12 * nside**2
    pix = np.arange(npix) if pix is None else np.asarray(pix)
    row_of = np.full(npix, -1)
    row_of[pix] = np.arange(len(pix))
    nb = hp.get_all_neighbours(nside, pix, nest=nest).T  # (len(pix), 8), -1 where none
    rows = np.repeat(np.arange(len(pix)), 8)
    cols = np.where(nb >= 0, row_of[np.maximum(nb, 0)], -1).ravel()
    ok = cols >= 0
    a = sp.csr_matrix((np.ones(ok.sum()), (rows[ok], cols[ok])), shape=(len(pix), len(pix)))
    a.data[:] = 1.0
    return a, nb


def pattern(w):
    p = sp.csr_matrix(w, copy=True)
    p.data[:] = 1.0
    return p


@pytest.mark.parametrize("nest", [True, False], ids=["nest", "ring"])
@pytest.mark.parametrize("nside", [1, 2, 4, 16])
def test_neighbours_equal_healpy(nside, nest):
    s = HEALPix(nside, nest=nest)
    g = healpix_graph(s)
    w = g.weights
    ref, nb = healpy_adjacency(nside, nest)
    assert (ref != ref.T).nnz == 0  # healpy's adjacency is symmetric already
    assert (pattern(w) != ref).nnz == 0
    assert_exactly_symmetric(w)
    # default width: the k = 8 width of knn_graph, 0.025 at nside 32, proportional to the spacing
    assert g.kernel_width == pytest.approx(0.025 * 32 / nside, rel=1e-12)
    assert_weights_follow_kernel(w, s.coords, g.kernel_width)
    np.testing.assert_array_equal(g.coords, s.coords)

    degree = np.diff(w.indptr)
    n_valid = np.array([len(set(r[r >= 0])) for r in nb])
    np.testing.assert_array_equal(degree, n_valid)
    if nside == 1:
        # the 12 base pixels: each touches 6 others (healpy returns two -1 for each)
        assert np.all(degree == 6)
    else:
        # the 8 points where only 3 base faces meet (latitude ±41.8°) are corners of 3 pixels each,
        # and these 24 pixels have 7 neighbours; every other pixel has 8
        lacking = np.flatnonzero((nb < 0).any(axis=1))
        assert len(lacking) == 24
        np.testing.assert_array_equal(np.flatnonzero(degree == 7), lacking)
        assert np.all(np.delete(degree, lacking) == 8)
        assert g.n_edges == (8 * s.npix - 24) // 2
        z = s.coords[lacking, 2]
        np.testing.assert_allclose(np.abs(z), 2 / 3, atol=2.0 / nside)


def test_explicit_kernel_width():
    s = HEALPix(8, nest=False)
    g = healpix_graph(s, kernel_width=0.123)
    assert g.kernel_width == 0.123
    assert_weights_follow_kernel(g.weights, s.coords, 0.123)
    # the weights of the nearest pairs (~0.13 apart) are about 1/2 and below
    assert 0 < g.weights.data.min() < g.weights.data.max() < 1


@pytest.mark.parametrize("nest", [True, False], ids=["nest", "ring"])
@pytest.mark.parametrize("kind", ["disc", "scattered"])
def test_partial_sky_is_restriction_of_full(nest, kind):
    nside, width = 16, 0.06
    rng = np.random.default_rng(71)
    if kind == "disc":
        kept = np.unique(hp.query_disc(nside, uniform_points(1, seed=72)[0], 0.8, nest=nest))
    else:
        kept = np.sort(rng.choice(12 * nside**2, size=1500, replace=False))
    full = healpix_graph(HEALPix(nside, nest=nest), kernel_width=width).weights
    part_s = HEALPix(nside, nest=nest, indices=kept)
    part = healpix_graph(part_s, kernel_width=width).weights
    restricted = full[kept][:, kept].tocsr()
    assert part.shape == restricted.shape == (len(kept), len(kept))
    assert (part != restricted).nnz == 0
    np.testing.assert_array_equal(np.diff(part.indptr), np.diff(restricted.indptr))
    assert_exactly_symmetric(part)
    # and the same from healpy directly
    ref, _ = healpy_adjacency(nside, nest, kept)
    assert (pattern(part) != ref).nnz == 0
    assert_weights_follow_kernel(part, part_s.coords, width)
    if kind == "disc":
        assert np.diff(part.indptr).min() < 7 < np.diff(part.indptr).max()  # a border exists


def test_partial_sky_default_width_is_full_sky_width():
    kept = np.arange(100, 900)
    g = healpix_graph(HEALPix(16, indices=kept))
    assert g.kernel_width == pytest.approx(0.05, rel=1e-12)


def test_single_kept_pixel_is_isolated():
    g = healpix_graph(HEALPix(4, indices=[17]))
    assert g.n_vertices == 1 and g.n_edges == 0


@pytest.mark.parametrize(
    "sampling",
    [
        pytest.param(lambda: Equiangular(4, 8), id="equiangular"),
        pytest.param(lambda: Icosahedral(1), id="icosahedral"),
        pytest.param(lambda: HEALPix(4).coords, id="coords-array"),
        pytest.param(lambda: None, id="none"),
        pytest.param(lambda: 16, id="nside-int"),
    ],
)
def test_not_a_healpix_sampling(sampling):
    with pytest.raises(ValueError, match="sampling must be a HEALPix sampling"):
        healpix_graph(sampling())


def test_healpix_graph_docstring_example():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    globs = {"HEALPix": HEALPix, "healpix_graph": healpix_graph, "np": np}
    for test in finder.find(healpix_module.healpix_graph, "healpix_graph", globs=globs):
        runner.run(test, out=lambda _: None)
    assert runner.summarize(verbose=False).failed == 0
