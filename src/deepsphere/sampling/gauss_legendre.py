"""The Gaussian grid of weather and climate models (Gauss-Legendre latitudes)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np

from .base import Sampling, readonly
from .equiangular import check_size


class GaussLegendre(Sampling):
    """Gauss-Legendre grid: ``nlat`` rings × ``nlon`` longitudes, ``nlat · nlon`` pixels.

    The rings sit at the latitudes whose sines are the nodes ``x_j`` of the ``nlat``-point
    Gauss-Legendre rule (:func:`numpy.polynomial.legendre.leggauss`), ordered north to south
    (``x_j`` decreasing); none is at a pole. Pixel ``p = j · nlon + k`` sits at longitude
    ``φ_k = 2π k / nlon`` and has area ``g_j · 2π / nlon`` steradians, ``g_j`` the Gauss weight
    (Σ g_j = 2, so areas sum to 4π). The rule integrates exactly the polynomials in sin(lat) of
    degree ≤ 2 nlat - 1 (times trigonometric polynomials in φ of degree < nlon); a product of two
    functions band-limited to degree L is integrated exactly when L ≤ nlat - 1 and nlon > 2L.

    Parameters
    ----------
    nlat : int
        Number of rings, ≥ 1.
    nlon : int, optional
        Number of longitudes per ring, ≥ 1; default ``2 · nlat`` (the regular Gaussian grid).
    indices : array of int, optional
        Kept pixels (partial sky), sorted and unique.

    Not hierarchical: the Gauss nodes of ``nlat / 2`` are not a subset of (or regularly nested in)
    those of ``nlat``, so there is no exact 2 × 2 coarsening.

    Examples
    --------
    >>> s = GaussLegendre(nlat=4)
    >>> s.npix, s.nlon, bool(np.isclose(s.area.sum(), 4 * np.pi))
    (32, 8, True)
    >>> np.round(np.degrees(s.lat[:: s.nlon]), 4).tolist()
    [59.4444, 19.8757, -19.8757, -59.4444]
    """

    def __init__(self, nlat: int, nlon: int | None = None, indices: Any = None) -> None:
        self.nlat = check_size("nlat", nlat)
        self.nlon = 2 * self.nlat if nlon is None else check_size("nlon", nlon)
        super().__init__(indices)

    @property
    def npix_full(self) -> int:
        return self.nlat * self.nlon

    def _params(self) -> dict[str, Any]:
        return {"nlat": self.nlat, "nlon": self.nlon}

    @cached_property
    def _rule(self) -> tuple[np.ndarray, np.ndarray]:
        x, w = np.polynomial.legendre.leggauss(self.nlat)
        return readonly(x[::-1].copy()), readonly(w[::-1].copy())

    @property
    def sin_lat(self) -> np.ndarray:
        """Gauss-Legendre nodes = sin(latitude) of the rings, shape (nlat,), north to south."""
        return self._rule[0]

    @property
    def weights(self) -> np.ndarray:
        """Gauss-Legendre weights of the rings, shape (nlat,), summing to 2."""
        return self._rule[1]

    def _pix(self, pix: np.ndarray | None) -> np.ndarray:
        return np.arange(self.npix_full, dtype=np.int64) if pix is None else pix

    def _coords(self, pix: np.ndarray | None) -> np.ndarray:
        j, k = np.divmod(self._pix(pix), self.nlon)
        z = self.sin_lat[j]
        r = np.sqrt((1.0 - z) * (1.0 + z))
        phi = 2 * np.pi * k / self.nlon
        return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=-1)

    def _area(self, pix: np.ndarray | None) -> np.ndarray:
        j = self._pix(pix) // self.nlon
        return self.weights[j] * (2 * np.pi / self.nlon)

    def _why_not_coarsen(self) -> str:
        return "the Gauss-Legendre nodes of different resolutions do not nest"
