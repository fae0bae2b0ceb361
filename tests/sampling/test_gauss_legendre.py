"""Tests of the Gauss-Legendre (Gaussian) grid."""

import numpy as np
import pytest
from scipy.special import sph_harm_y

from deepsphere.sampling import GaussLegendre


@pytest.mark.parametrize("nlat, nlon", [(1, None), (2, 3), (5, None), (16, 7), (33, None)])
def test_basic_geometry(nlat, nlon):
    s = GaussLegendre(nlat, nlon)
    expected_nlon = 2 * nlat if nlon is None else nlon
    assert s.nlon == expected_nlon and s.npix == nlat * expected_nlon
    np.testing.assert_allclose(np.linalg.norm(s.coords, axis=1), 1.0, atol=1e-15)
    assert np.all((s.lon >= 0) & (s.lon < 2 * np.pi))
    assert np.all((s.lat > -np.pi / 2) & (s.lat < np.pi / 2))  # no pole
    assert np.all(s.area > 0)
    assert s.area.sum() == pytest.approx(4 * np.pi, abs=1e-12)


def test_latitudes_are_leggauss_nodes_north_to_south():
    rng = np.random.default_rng(3)
    for nlat in rng.integers(1, 60, size=5):
        nlon = int(rng.integers(1, 9))
        s = GaussLegendre(int(nlat), nlon)
        x, w = np.polynomial.legendre.leggauss(int(nlat))
        j, k = np.divmod(np.arange(s.npix), nlon)
        np.testing.assert_allclose(s.coords[:, 2], x[::-1][j], atol=1e-15)
        np.testing.assert_allclose(s.lat, np.arcsin(x[::-1])[j], atol=1e-12)
        assert np.all(np.diff(s.lat[::nlon]) < 0)
        np.testing.assert_allclose(s.area, w[::-1][j] * 2 * np.pi / nlon, rtol=1e-14)
        np.testing.assert_allclose(s.lon, 2 * np.pi * k / nlon, atol=1e-13)


def test_polynomial_exactness_and_true_degree():
    for nlat in (1, 2, 3, 4, 7, 10, 16, 25):
        z = GaussLegendre(nlat, 3).coords[:, 2]
        area = GaussLegendre(nlat, 3).area
        for m in range(2 * nlat):
            exact = 2 * np.pi * (1 + (-1) ** m) / (m + 1)
            assert np.dot(area, z**m) == pytest.approx(exact, abs=1e-13), (nlat, m)
        if nlat <= 10:
            m = 2 * nlat
            assert abs(np.dot(area, z**m) - 4 * np.pi / (m + 1)) > 1e-8


def test_spherical_harmonics_orthonormal():
    rng = np.random.default_rng(4)
    for nlat in (2, 5, 9):
        s = GaussLegendre(nlat)  # nlon = 2 nlat > 2 lmax
        lmax = nlat - 1
        theta, phi = np.pi / 2 - s.lat, s.lon
        y = np.stack(
            [sph_harm_y(ell, m, theta, phi) for ell in range(lmax + 1) for m in range(-ell, ell + 1)],
            axis=1,
        )
        gram = y.conj().T @ (s.area[:, None] * y)
        np.testing.assert_allclose(gram, np.eye(y.shape[1]), atol=1e-12)
        # random band-limited functions f = Y a, g = Y b: ∫ f conj(g) = <a, b>
        a = rng.normal(size=y.shape[1]) + 1j * rng.normal(size=y.shape[1])
        b = rng.normal(size=y.shape[1]) + 1j * rng.normal(size=y.shape[1])
        integral = np.sum(s.area * (y @ a) * np.conj(y @ b))
        assert integral == pytest.approx(np.vdot(b, a), abs=1e-11)


def test_not_hierarchical():
    s = GaussLegendre(8)
    assert not s.can_coarsen
    with pytest.raises(ValueError, match="do not nest"):
        s.coarsen()


def test_partial_sky_and_equality():
    rng = np.random.default_rng(5)
    full = GaussLegendre(6, 10)
    idx = np.sort(rng.choice(full.npix, size=17, replace=False))
    part = full.with_indices(idx)
    assert part.npix == 17 and part.indices.tolist() == idx.tolist()
    np.testing.assert_array_equal(part.coords, full.coords[idx])
    np.testing.assert_array_equal(part.area, full.area[idx])
    assert GaussLegendre(4) == GaussLegendre(4, 8)
    assert GaussLegendre(4) != GaussLegendre(4, 9)
    assert repr(GaussLegendre(4)) == "GaussLegendre(nlat=4, nlon=8)"


@pytest.mark.parametrize(
    "args, match",
    [
        ((0,), "nlat must be an integer >= 1, got 0"),
        ((-3,), "nlat .* got -3"),
        ((2.0,), "nlat .* got 2.0"),
        ((True,), "nlat .* got True"),
        ((4, 0), "nlon must be an integer >= 1, got 0"),
        ((4, 1.5), "nlon .* got 1.5"),
        ((4, np.bool_(True)), "nlon .* got"),
    ],
)
def test_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        GaussLegendre(*args)
