"""Tests of the point-cloud sampling: validation, coordinates and Voronoi areas."""

import healpy as hp
import numpy as np
import pytest
from scipy.spatial import cKDTree

from deepsphere.sampling import PointCloud


def random_lonlat(rng, n, lat_max=np.pi / 2):
    lon = rng.uniform(-np.pi, 2 * np.pi, n)
    lat = np.arcsin(rng.uniform(np.sin(-lat_max), np.sin(lat_max), n))
    return lon, lat


def random_unit(rng, n):
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_lon_lat_round_trip_and_wrapping():
    rng = np.random.default_rng(0)
    lon, lat = random_lonlat(rng, 200, lat_max=1.5)
    lon[:20] = rng.uniform(-np.pi, 0, 20)  # negative longitudes are wrapped into [π, 2π)
    s = PointCloud(lon, lat)
    expected = np.mod(lon, 2 * np.pi)
    assert np.all((s.lon >= 0) & (s.lon < 2 * np.pi))
    assert np.all(s.lon[:20] >= np.pi)
    np.testing.assert_allclose(s.lon, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(s.lat, lat, rtol=0, atol=1e-12)
    xyz = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)
    np.testing.assert_allclose(s.coords, xyz, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(s.coords, axis=1), 1, rtol=1e-15)
    params = s._params()
    assert np.all((params["lon"] >= 0) & (params["lon"] < 2 * np.pi))
    # longitudes equal modulo 2π give the same sampling
    assert PointCloud(lon, lat) == PointCloud(np.where(lon < 0, lon + 2 * np.pi, lon), lat)
    assert PointCloud(np.r_[2 * np.pi, 1, 2, 3], np.r_[0.1, -0.2, 0.3, 1]).lon[0] == 0
    # -0.0 and 0.0 are the same angle (equality compares the parameters' bytes)
    assert PointCloud([-0.0, 1, 2, 3], [0.1, -0.0, 0.3, 1]) == PointCloud([0, 1, 2, 3], [0.1, 0, 0.3, 1])


def test_tetrahedron_has_four_cells_of_pi():
    t = np.arcsin(1 / np.sqrt(3))
    s = PointCloud(np.deg2rad([45, 135, 225, 315]), [t, -t, t, -t])
    np.testing.assert_allclose(s.area, np.pi, rtol=1e-12)


@pytest.mark.parametrize(("seed", "lat_max"), [(1, np.pi / 2), (2, np.pi / 2), (3, 0.6)])
def test_voronoi_areas_match_monte_carlo(seed, lat_max):
    # lat_max < π/2 clusters the points in a band: the cells of the edge points cover the empty caps
    rng = np.random.default_rng(seed)
    lon, lat = random_lonlat(rng, 25, lat_max)
    s = PointCloud(lon, lat)
    area = s.area
    np.testing.assert_allclose(area.sum(), 4 * np.pi, rtol=1e-10)
    assert np.all(area > 0)
    samples = random_unit(rng, 300_000)
    nearest = cKDTree(s.coords).query(samples)[1]  # nearest in chord = nearest on the sphere
    frac = np.bincount(nearest, minlength=s.npix) / len(samples)
    mc = 4 * np.pi * frac
    sigma = 4 * np.pi * np.sqrt(frac * (1 - frac) / len(samples))  # binomial standard error
    assert np.all(np.abs(area - mc) < 4.5 * sigma)  # σ ≈ 0.5 … 2 % of a cell's area here
    np.testing.assert_allclose(area, mc, rtol=0.05)


def test_areas_do_not_depend_on_a_rotation_about_the_pole():
    rng = np.random.default_rng(4)
    lon, lat = random_lonlat(rng, 100)
    a = PointCloud(lon, lat).area
    b = PointCloud(np.mod(lon, 2 * np.pi) - 0.7, lat).area
    np.testing.assert_allclose(a, b, rtol=1e-9)


def test_healpix_centres_have_nearly_equal_voronoi_areas():
    # The Voronoi cells of HEALPix pixel centres are not the (equal-area) pixels themselves, but
    # they are close: within 5 % of 4π/npix for nside = 8 (measured: -2.2 % … +4.8 %).
    nside = 8
    theta, phi = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)))
    s = PointCloud(phi, np.pi / 2 - theta)
    np.testing.assert_allclose(s.area, 4 * np.pi / s.npix, rtol=0.05)
    np.testing.assert_allclose(s.area.mean(), 4 * np.pi / s.npix, rtol=1e-12)


def test_partial_sky_uses_the_cells_of_the_full_cloud():
    rng = np.random.default_rng(5)
    lon, lat = random_lonlat(rng, 60)
    full = PointCloud(lon, lat)
    idx = np.sort(rng.choice(60, 17, replace=False))
    part = PointCloud(lon, lat, indices=idx)
    assert part.npix == 17 and not part.is_full
    np.testing.assert_array_equal(part.coords, full.coords[idx])
    np.testing.assert_array_equal(part.area, full.area[idx])
    assert full.with_indices(idx) == part
    assert part != full
    assert hash(full.with_indices(idx)) == hash(part)


def test_not_hierarchical():
    rng = np.random.default_rng(6)
    s = PointCloud(*random_lonlat(rng, 10))
    assert not s.can_coarsen
    with pytest.raises(ValueError, match="not hierarchical"):
        s.coarsen()


def test_from_coords_normalises():
    rng = np.random.default_rng(7)
    unit = random_unit(rng, 50)
    scale = rng.uniform(1e-3, 1e3, 50)
    s = PointCloud.from_coords(unit * scale[:, None])
    np.testing.assert_allclose(s.coords, unit, atol=1e-15)
    np.testing.assert_allclose(s.lat, np.arcsin(unit[:, 2]), atol=1e-12)
    tiny = PointCloud.from_coords(unit * 1e-200)  # no underflow for tiny vectors
    np.testing.assert_allclose(tiny.coords, unit, atol=1e-15)
    part = PointCloud.from_coords(unit, indices=[3, 9, 12])
    np.testing.assert_allclose(part.coords, unit[[3, 9, 12]], atol=1e-15)


GOOD_LON = [0.1, 1.2, 2.3, 3.4, 4.5, 5.6]
GOOD_LAT = [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5]


def with_value(values, i, v):
    out = list(values)
    out[i] = v
    return out


@pytest.mark.parametrize(
    ("lon", "lat", "match"),
    [
        (with_value(GOOD_LON, 2, 2 * np.pi + 0.01), GOOD_LAT, r"lon must be in .*lon\[2\]"),
        (with_value(GOOD_LON, 4, -np.pi - 0.01), GOOD_LAT, r"lon\[4\] is -3.15"),
        (GOOD_LON, with_value(GOOD_LAT, 1, 1.6), r"lat must be in .*lat\[1\] is 1.6"),
        (GOOD_LON, with_value(GOOD_LAT, 0, -np.pi / 2 - 1e-9), r"lat\[0\]"),
        (with_value(GOOD_LON, 3, np.nan), GOOD_LAT, r"lon must be finite, lon\[3\] is nan"),
        (GOOD_LON, with_value(GOOD_LAT, 5, np.inf), r"lat must be finite, lat\[5\] is inf"),
        (GOOD_LON, GOOD_LAT[:5], r"lon and lat must have the same shape"),
        (GOOD_LON[:3], GOOD_LAT[:3], r"lon, lat: .*at least 4 points, got 3"),
        (np.reshape(GOOD_LON, (2, 3)), np.reshape(GOOD_LAT, (2, 3)), r"lon must be a 1-D"),
        (["a", "b", "c", "d"], GOOD_LAT[:4], r"lon must be a 1-D array"),
        (GOOD_LON, np.array(GOOD_LAT) + 0j, r"lat must be real"),
        (
            with_value(GOOD_LON, 4, GOOD_LON[1]),
            with_value(GOOD_LAT, 4, GOOD_LAT[1]),
            r"lon, lat: points 1 and 4 are duplicates",
        ),
        # the same point written two ways: lon = 4.5 and lon = 4.5 - 2π; the north pole at two lon
        (
            with_value(GOOD_LON, 5, GOOD_LON[4] - 2 * np.pi),
            with_value(GOOD_LAT, 5, GOOD_LAT[4]),
            r"points 4 and 5 are duplicates",
        ),
        (
            GOOD_LON[:4] + [0.3, 2.0],
            GOOD_LAT[:4] + [np.pi / 2, np.pi / 2],
            r"points 4 and 5 are duplicates",
        ),
        (
            with_value(GOOD_LON, 2, GOOD_LON[0] + 1e-9),
            with_value(GOOD_LAT, 2, GOOD_LAT[0]),
            r"points 0 and 2 are only 5.4e-10 rad apart",
        ),
        ([0.0, 1.0, 2.0, 3.0, 4.0], [0.0] * 5, r"lon, lat: all points lie in one plane"),
        ([0.0, 1.0, 2.0, 3.0, 4.0], [0.4] * 5, r"one plane"),
    ],
)
def test_bad_lon_lat_raise(lon, lat, match):
    with pytest.raises(ValueError, match=match):
        PointCloud(lon, lat)


@pytest.mark.parametrize(
    ("xyz", "match"),
    [
        (np.ones((5, 2)), r"xyz must have shape \(n, 3\), got \(5, 2\)"),
        (np.ones(3), r"xyz must have shape"),
        ([[1, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 1], [1, 1, 1]], r"xyz: row 2 is the zero vector"),
        ([[1, 0, 0], [0, 1, 0], [0, np.nan, 1], [0, 0, 1]], r"xyz must be finite, row 2"),
        ([[1, 0, 0], [0, 1, 0], [0, 0, 1]], r"xyz: .*at least 4 points, got 3"),
        ([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 2, 0], [1, 1, 1]], r"xyz: points 1 and 3 are dupl"),
        ([[1, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]], r"xyz: all points lie in one plane"),
        ([["a", "b", "c"]] * 4, r"xyz must be an \(n, 3\) array"),
    ],
)
def test_bad_xyz_raise(xyz, match):
    with pytest.raises(ValueError, match=match):
        PointCloud.from_coords(xyz)


def test_bad_indices_raise():
    rng = np.random.default_rng(8)
    lon, lat = random_lonlat(rng, 10)
    with pytest.raises(ValueError, match="indices out of range"):
        PointCloud(lon, lat, indices=[0, 10])
