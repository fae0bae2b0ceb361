"""Tests of deepsphere.analysis.kernel_width: width sweeps, the best width, floors per sampling, report."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

from deepsphere.analysis import (
    PAPER_KERNEL_WIDTHS,
    band_limit,
    best_kernel_width,
    equivariance_error,
    equivariance_error_on,
    equivariance_floor,
    equivariance_report,
    equivariance_sweep,
    matched_sampling,
)
from deepsphere.analysis.kernel_width import SAMPLINGS
from deepsphere.graph import healpix_graph, knn_graph
from deepsphere.sampling import HEALPix, Icosahedral, PointCloud

NSIDE = 4

pytestmark = pytest.mark.usefixtures("healpy_on_one_thread")


@pytest.fixture(scope="module")
def search():
    """The width search for the k = 8 graph of HEALPix nside 4: 5 half-octave widths, 4 around the best."""
    return best_kernel_width(NSIDE, 8, steps=2)


# --- the search -------------------------------------------------------------------------------------------


def test_the_search_finds_a_minimum_strictly_inside_its_grid(search):
    assert search.default_width == pytest.approx(0.2)  # 0.025 at nside 32, halving as nside doubles
    coarse = 2.0 ** (np.arange(-2, 3) / 2)
    refined = (
        search.widths[search.best_index]
        / search.default_width
        * 2.0 ** np.array([-0.25, -0.125, 0.125, 0.25])
    )
    np.testing.assert_allclose(
        np.sort(np.r_[coarse, refined]), search.widths / search.default_width, rtol=1e-12
    )
    assert np.all(np.diff(search.widths) > 0)
    assert search.best_inside
    mean = search.mean_error
    assert mean[0] > 3 * search.best_mean_error and mean[-1] > 2 * search.best_mean_error  # a true valley
    assert search.error.shape == (9, 3 * NSIDE - 1)


def test_the_best_width_is_no_worse_than_the_default(search):
    assert search.best_mean_error <= search.mean_error[search.index_of(search.default_width)]
    denser = best_kernel_width(NSIDE, 20, steps=1)  # here the minimum is off the default width
    default = denser.mean_error[denser.index_of(denser.default_width)]
    assert denser.best_width != pytest.approx(denser.default_width)
    assert denser.best_mean_error < default


def test_each_row_of_a_sweep_is_the_error_of_that_graph():
    sweep = equivariance_sweep(NSIDE, 8, [0.3, 0.1, 0.3], laplacian="normalized", n_signals=3, seed=2)
    np.testing.assert_array_equal(sweep.widths, [0.1, 0.3])  # sorted, duplicates once
    for row, width in enumerate(sweep.widths):
        laplacian = knn_graph(HEALPix(NSIDE), k=8, kernel_width=width).laplacian(normalized=True)
        direct = equivariance_error(lambda x, op=laplacian: op @ x, NSIDE, n_signals=3, seed=2)
        np.testing.assert_array_equal(sweep.error[row], direct.error)
    adjacency = equivariance_sweep(NSIDE, 8, [0.15], graph="healpix", ells=[2, 7])
    laplacian = healpix_graph(HEALPix(NSIDE), kernel_width=0.15).laplacian()
    direct = equivariance_error(lambda x: laplacian @ x, NSIDE, ells=[2, 7], n_signals=2, seed=0)
    np.testing.assert_array_equal(adjacency.error[0], direct.error)
    assert adjacency.to_dict()["widths"] == [0.15] and adjacency.to_dict()["ells"] == [2, 7]


# --- other samplings and the floor ------------------------------------------------------------------------


def test_matched_samplings_have_about_as_many_pixels_as_healpix():
    assert [matched_sampling(name, NSIDE).npix for name in SAMPLINGS] == [192, 200, 196, 162, 216]
    for nside in (2, 8, 16, 32):
        for name in SAMPLINGS:
            ratio = matched_sampling(name, nside).npix / (12 * nside**2)
            assert 0.5 < ratio < 2.0 if name == "icosahedral" else 0.6 < ratio < 1.4


@pytest.mark.parametrize("name", SAMPLINGS)
def test_the_identity_floor_is_far_below_the_graph_error_on_every_sampling(name):
    floor = equivariance_floor(NSIDE, sampling=name)
    graph = best_kernel_width(NSIDE, 8, sampling=name, steps=1)
    lmax = 3 * NSIDE - 1 if name == "healpix" else band_limit(matched_sampling(name, NSIDE))
    np.testing.assert_array_equal(floor.ells, np.arange(1, lmax + 1))
    if name == "healpix":  # documented: ≈ 1e-6 up to ℓ ≈ nside, 1e-2 near ℓ = 3·nside
        assert floor.condition is None
        assert np.all(floor.error[:NSIDE] < 1e-5) and floor.mean < 1e-3
    else:  # documented: ≈ 1e-29, κ = 1 for exact quadratures, 1.05–1.1 otherwise
        assert floor.mean < 1e-25
        assert 1.0 <= floor.condition < 1.2
    assert graph.best_mean_error > 100 * floor.mean


def _random_sparse(n, k, rng):
    """Symmetric, zero diagonal, ≈ 2k random neighbours per vertex with weights in [0.5, 1.5]."""
    rows, columns = np.repeat(np.arange(n), k), rng.integers(0, n, n * k)
    weights = sp.coo_matrix((rng.uniform(0.5, 1.5, n * k), (rows, columns)), shape=(n, n)).tocsr()
    weights = weights + weights.T
    weights.setdiag(0)
    weights.eliminate_zeros()
    return weights


@pytest.mark.parametrize("grid", [HEALPix(NSIDE), Icosahedral(2)], ids=["healpix", "icosahedral"])
def test_a_random_sparse_operator_is_permutation_but_not_rotation_equivariant(grid):
    weights = _random_sparse(grid.npix, 8, np.random.default_rng(3))
    lmax = band_limit(grid)
    if isinstance(grid, HEALPix):
        result = equivariance_error(lambda x: weights @ x, NSIDE, n_signals=2, seed=0)
    else:
        result = equivariance_error_on(grid, lambda x: weights @ x, n_signals=2, seed=0)
    # W f is noise: R W f keeps the fraction (lmax + 1)² / npix of it that lies below lmax, W R f is
    # fresh noise, so E ≈ 1 + (lmax + 1)² / npix (0.75 on HEALPix, 0.5 at the default lmax elsewhere).
    assert result.mean == pytest.approx(1 + (lmax + 1) ** 2 / grid.npix, abs=0.2)
    assert result.error.min() > 1.0
    graph = knn_graph(grid, k=8).laplacian()
    if isinstance(grid, HEALPix):
        reference = equivariance_error(lambda x: graph @ x, NSIDE, n_signals=2, seed=0)
    else:
        reference = equivariance_error_on(grid, lambda x: graph @ x, n_signals=2, seed=0)
    assert result.mean > 30 * reference.mean


def test_healpix_as_a_point_cloud_agrees_with_the_healpy_path():
    laplacian = knn_graph(HEALPix(NSIDE), k=8).laplacian()
    healpy_path = equivariance_error(lambda x: laplacian @ x, NSIDE, n_signals=2, seed=0, n_iter=30)
    cloud = PointCloud.from_coords(HEALPix(NSIDE).coords)  # Voronoi areas, equal to 1.6 %
    generic = equivariance_error_on(cloud, lambda x: laplacian @ x, n_signals=2, seed=0, lmax=3 * NSIDE - 1)
    np.testing.assert_allclose(generic.error, healpy_path.error, rtol=0.05)
    assert generic.condition < 2.0


# --- the report -------------------------------------------------------------------------------------------


def test_the_report_prints_writes_and_marks_the_paper_width(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(PAPER_KERNEL_WIDTHS, NSIDE, {8: 0.15})  # a tabulated width off the search grid
    report = equivariance_report(
        tmp_path, nsides=(NSIDE,), ks=(8,), samplings=("healpix", "icosahedral"), steps=1
    )
    printed = capsys.readouterr().out
    assert "healpix" in printed and "icosahedral" in printed and "0.15000" in printed
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["equivariance.json", "equivariance_per_ell.png", "equivariance_vs_width.png"]
    assert json.loads((tmp_path / "equivariance.json").read_text()) == json.loads(json.dumps(report))
    healpix_row, icosahedral_row = report["rows"]
    paper = equivariance_sweep(NSIDE, 8, [0.15], n_signals=2, seed=0)
    assert healpix_row["paper_width"] == 0.15
    assert healpix_row["paper_mean_error"] == pytest.approx(paper.mean_error[0], rel=1e-12)
    assert icosahedral_row["paper_width"] is None  # the paper's widths are HEALPix widths
    assert healpix_row["best_mean_error"] <= healpix_row["default_mean_error"]
    assert healpix_row["best_mean_error"] == min(healpix_row["mean_error"])
    assert report["floors"][1]["condition"] == pytest.approx(1.07, abs=0.05)
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        equivariance_report(tmp_path, nsides=(NSIDE,), ks=(8,))
    assert (tmp_path / "equivariance.json").read_text() == json.dumps(report, indent=2)  # untouched
    equivariance_report(tmp_path, nsides=(2,), ks=(8,), steps=1, overwrite=True)
    assert json.loads((tmp_path / "equivariance.json").read_text())["settings"]["nsides"] == [2]


def test_the_paper_widths_are_those_of_the_paper():
    assert PAPER_KERNEL_WIDTHS[32] == {8: 0.025, 20: 0.03185, 40: 0.042432, 60: 0.05172}
    for widths in PAPER_KERNEL_WIDTHS.values():  # about halving as nside doubles, wider for more neighbours
        assert list(widths.values()) == sorted(widths.values())
    for nside in (32, 64, 128):
        assert PAPER_KERNEL_WIDTHS[2 * nside][8] == pytest.approx(PAPER_KERNEL_WIDTHS[nside][8] / 2, rel=0.02)


# --- bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nside": 3}, "nside must be a power of two"),
        ({"nside": 0}, "nside must be an integer ≥ 1"),
        ({"k": 0}, "k must be an integer ≥ 1"),
        ({"k": 200}, "k must be below the 192 pixels"),
        ({"widths": []}, "widths must be a non-empty sequence of positive kernel widths"),
        ({"widths": [0.1, -0.2]}, "widths must be a non-empty sequence of positive"),
        ({"widths": "wide"}, "widths must be a non-empty sequence"),
        (
            {"laplacian": "random-walk"},
            "laplacian must be one of 'combinatorial', 'normalized', got 'random-walk'",
        ),
        ({"graph": "radius"}, "graph must be one of 'knn', 'healpix'"),
        (
            {"graph": "healpix", "k": 20},
            "graph='healpix' is the 8-neighbour HEALPix graph: k must be 8, got 20",
        ),
        ({"graph": "healpix", "sampling": "icosahedral"}, "graph='healpix' needs sampling='healpix'"),
        ({"sampling": "mollweide"}, "sampling must be one of 'healpix', 'gauss_legendre'"),
        ({"n_signals": 0}, "n_signals must be an integer ≥ 1"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"seed": np.random.default_rng(0)}, "seed must be a non-negative integer"),
        ({"ells": [0, 3]}, r"ells must lie in \[1, 3·nside − 1\] = \[1, 11\]"),
        ({"nside": 32, "sampling": "icosahedral"}, "needs a dense harmonic basis"),
    ],
)
def test_equivariance_sweep_rejects_bad_input(kwargs, message):
    arguments = {"nside": NSIDE, "k": 8, "widths": [0.2], **kwargs}
    with pytest.raises(ValueError, match=message):
        equivariance_sweep(**arguments)


def test_other_functions_reject_bad_input(tmp_path):
    with pytest.raises(ValueError, match="steps must be an integer ≥ 1, got 0"):
        best_kernel_width(NSIDE, 8, steps=0)
    with pytest.raises(ValueError, match="sampling must be one of"):
        matched_sampling("HEALPix", NSIDE)
    with pytest.raises(ValueError, match="sampling must be one of"):
        equivariance_floor(NSIDE, sampling="random")
    with pytest.raises(ValueError, match=r"width 0.3 was not measured; the sweep has \[0.2\]"):
        equivariance_sweep(NSIDE, 8, [0.2], ells=[1]).index_of(0.3)
    for kwargs, message in [
        ({"samplings": "healpix"}, "samplings must be a non-empty sequence of names"),
        ({"samplings": ("healpix", "hexagons")}, "samplings must be one of"),
        ({"nsides": []}, "nsides must be a non-empty sequence of integers"),
        ({"ks": (8, 2.5)}, "ks must be an integer ≥ 1, got 2.5"),
        ({"nsides": (6,)}, "nside must be a power of two"),
        ({"overwrite": "yes"}, "overwrite must be True or False"),
    ]:
        with pytest.raises(ValueError, match=message):
            equivariance_report(tmp_path, **kwargs)
    assert list(tmp_path.iterdir()) == []  # refused before any work or file
    (tmp_path / "equivariance.json").write_text("{}")
    with pytest.raises(ValueError, match="out_dir must be a folder"):
        equivariance_report(tmp_path / "equivariance.json")
