"""Point clouds: arbitrary points on the sphere (weather stations, scans), with Voronoi areas."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
from scipy.spatial import SphericalVoronoi, cKDTree

from .base import Sampling, readonly

DUPLICATE_TOL = 1e-12  # rad: points closer than this are the same point
# rad (≈ 0.6 m on the Earth): below this scipy's SphericalVoronoi areas lose accuracy (their sum is
# off 4π by > 1e-10 relative at 3e-8 rad, exact to 1e-14 at 1e-7 rad), so such points are refused.
MIN_SEPARATION = 1e-7
MIN_POINTS = 4


class PointCloud(Sampling):
    """Arbitrary points on the sphere; each pixel's area is its spherical Voronoi cell.

    Parameters
    ----------
    lon : array_like, shape (n,)
        Longitudes in radians, in [-π, 2π]; stored wrapped into [0, 2π).
    lat : array_like, shape (n,)
        Latitudes in radians, in [-π/2, π/2].
    indices : array of int, optional
        Kept points (partial sky), sorted and unique.

    The points must be at least 4, distinct (no two closer than ``MIN_SEPARATION`` = 1e-7 rad,
    ≈ 0.6 m on the Earth) and not all in one plane (e.g. all on the equator), else the spherical
    Voronoi diagram is undefined or inaccurate.

    Areas are those of the cells of ``scipy.spatial.SphericalVoronoi`` (the region of the sphere
    closer to the point than to any other); they sum to 4π. For a clustered cloud (stations on land,
    a scan of part of the sky) the cells of the points on the edge of the cluster extend over the
    empty regions around it and can be much larger than those inside: mask or reweight them if the
    areas serve as quadrature weights over the covered region only.

    A point cloud is not hierarchical (:meth:`coarsen` raises).

    Examples
    --------
    >>> t = np.arcsin(1 / np.sqrt(3))  # a regular tetrahedron: 4 equal cells of π sr
    >>> s = PointCloud(lon=[0.0, np.pi / 2, np.pi, -np.pi / 2], lat=[-t, t, -t, t])
    >>> s.npix, s.lon.round(4).tolist(), bool(np.allclose(s.area, np.pi))
    (4, [0.0, 1.5708, 3.1416, 4.7124], True)
    """

    def __init__(self, lon: Any, lat: Any, indices: Any = None) -> None:
        lon, lat = _as_angles(lon, "lon"), _as_angles(lat, "lat")
        if lon.shape != lat.shape:
            raise ValueError(f"lon and lat must have the same shape, got lon {lon.shape} and lat {lat.shape}")
        if len(lon) < MIN_POINTS:
            raise ValueError(f"lon, lat: a point cloud needs at least {MIN_POINTS} points, got {len(lon)}")
        _check_range(lon, "lon", -np.pi, 2 * np.pi, "[-π, 2π]")
        _check_range(lat, "lat", -np.pi / 2, np.pi / 2, "[-π/2, π/2]")
        self._lon = readonly(_wrap(lon))
        self._lat = readonly(lat + 0.0)  # + 0.0: -0.0 → 0.0, as equality compares bytes
        self._xyz = readonly(_lonlat_to_xyz(self._lon, self._lat))
        _check_points(self._xyz, "lon, lat")
        super().__init__(indices)

    @classmethod
    def from_coords(cls, xyz: Any, indices: Any = None) -> PointCloud:
        """The cloud of the directions ``xyz``, shape (n, 3) (normalised; zero rows refused)."""
        try:
            arr = np.array(xyz, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"xyz must be an (n, 3) array of numbers, got {type(xyz)}") from err
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise ValueError(f"xyz must have shape (n, 3), got {arr.shape}")
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"xyz must be finite, row {i} is {arr[i].tolist()}")
        scale = np.abs(arr).max(axis=1)
        if np.any(scale == 0):
            i = int(np.flatnonzero(scale == 0)[0])
            raise ValueError(f"xyz: row {i} is the zero vector, which has no direction")
        arr /= scale[:, None]  # first rescale, so that tiny vectors do not underflow
        arr /= np.linalg.norm(arr, axis=1, keepdims=True)
        if len(arr) < MIN_POINTS:
            raise ValueError(f"xyz: a point cloud needs at least {MIN_POINTS} points, got {len(arr)}")
        _check_points(arr, "xyz")
        lon = _wrap(np.arctan2(arr[:, 1], arr[:, 0]))
        lat = np.arctan2(arr[:, 2], np.hypot(arr[:, 0], arr[:, 1]))
        return cls(lon, lat, indices=indices)

    @property
    def npix_full(self) -> int:
        return len(self._lon)

    def _params(self) -> dict[str, Any]:
        return {"lon": self._lon, "lat": self._lat}

    def _coords(self, pix: np.ndarray | None) -> np.ndarray:
        return self._xyz if pix is None else self._xyz[pix]

    @cached_property
    def _voronoi_areas(self) -> np.ndarray:
        # The points passed _check_points, so SphericalVoronoi's own checks (at threshold) hold.
        areas = SphericalVoronoi(self._xyz, radius=1.0, threshold=1e-9).calculate_areas()
        return readonly(np.asarray(areas, dtype=np.float64))

    def _area(self, pix: np.ndarray | None) -> np.ndarray:
        areas = self._voronoi_areas
        return areas if pix is None else areas[pix]

    def _why_not_coarsen(self) -> str:
        return "a PointCloud is not hierarchical (it has no coarser level)"


def _as_angles(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D float64 array of finite numbers, or a ValueError naming ``name``."""
    if np.iscomplexobj(values):
        raise ValueError(f"{name} must be real angles in radians, got complex values")
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a 1-D array of angles in radians, got {values!r}") from err
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of angles in radians, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be finite, {name}[{i}] is {float(arr[i])}")
    return arr


def _check_range(arr: np.ndarray, name: str, lo: float, hi: float, text: str) -> None:
    bad = (arr < lo) | (arr > hi)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be in {text} radians, {name}[{i}] is {float(arr[i])!r}")


def _wrap(lon: np.ndarray) -> np.ndarray:
    """Longitudes in [-π, 2π] → [0, 2π); values already there are kept bit for bit (but -0 → +0)."""
    lon = np.where(lon < 0, lon + 2 * np.pi, lon)
    return np.where(lon >= 2 * np.pi, lon - 2 * np.pi, lon) + 0.0


def _lonlat_to_xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)], axis=1)


def _check_points(xyz: np.ndarray, name: str) -> None:
    """Refuse unit vectors ``xyz`` that coincide, nearly coincide, or all lie in one plane."""
    pairs = cKDTree(xyz).query_pairs(MIN_SEPARATION, output_type="ndarray")
    if len(pairs):
        pairs = np.sort(pairs, axis=1)
        i, j = (int(k) for k in pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))[0]])
        dist = float(np.linalg.norm(xyz[i] - xyz[j]))
        what = (
            "are duplicates (the same point)"
            if dist <= DUPLICATE_TOL
            else f"are only {dist:.2g} rad apart (closer than {MIN_SEPARATION:g} rad)"
        )
        raise ValueError(
            f"{name}: points {i} and {j} {what}; the Voronoi areas need distinct points "
            "(remove or merge one of them)"
        )
    sing = np.linalg.svd(xyz - xyz[0], compute_uv=False)
    if sing[-1] <= 1e-9 * max(sing[0], 1.0):
        raise ValueError(
            f"{name}: all points lie in one plane (on one circle of the sphere); the spherical "
            "Voronoi diagram needs points spanning all three dimensions"
        )
