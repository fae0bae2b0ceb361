"""Equiangular (latitude-longitude) samplings: Driscoll-Healy, SOFT and Clenshaw-Curtis grids.

All three are ``nlat`` rings of ``nlon`` pixels at longitudes ``φ_k = 2π k / nlon``; they differ in
the colatitudes ``θ_j`` of the rings and in the quadrature weights ``w_j`` of the rule

    ∫_0^π f(θ) sin θ dθ ≈ Σ_j w_j f(θ_j)        (Σ_j w_j = 2),

so that the pixel areas ``w_j · 2π / nlon`` sum to 4π and integrate band-limited functions exactly.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np

from .base import Sampling, readonly

KINDS = ("driscoll-healy", "soft", "clenshaw-curtis")
ALIASES = {"dh": "driscoll-healy", "cc": "clenshaw-curtis"}

_CHUNK = 512  # number of Fourier terms summed at once (bounds memory to nlat × _CHUNK)


def check_size(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise a ValueError naming ``name`` (bools are refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def check_kind(kind: Any) -> str:
    """Return the canonical name of an equiangular ``kind`` (aliases 'dh', 'cc' accepted)."""
    name = kind.lower() if isinstance(kind, str) else kind
    name = ALIASES.get(name, name) if isinstance(name, str) else name
    if name not in KINDS:
        allowed = ", ".join(repr(k) for k in KINDS)
        raise ValueError(f"kind must be one of {allowed} (aliases 'dh', 'cc'), got {kind!r}")
    return name


def _nlat_problem(nlat: int, kind: str) -> str | None:
    """Why ``nlat`` is not valid for ``kind``, or None when it is."""
    if kind == "clenshaw-curtis":
        if nlat < 3 or nlat % 2 == 0:
            return f"nlat must be odd and >= 3 for kind='clenshaw-curtis', got {nlat}"
    elif nlat % 2:
        return f"nlat must be even for kind={kind!r}, got {nlat}"
    return None


def colatitudes(nlat: int, kind: str) -> np.ndarray:
    """Colatitudes θ_j (radians, north to south) of the ``nlat`` rings, shape (nlat,).

    Driscoll-Healy ``π j / nlat``; SOFT ``π (2j+1) / (2 nlat)``; Clenshaw-Curtis ``π j / (nlat-1)``.
    """
    j = np.arange(nlat, dtype=np.float64)
    if kind == "driscoll-healy":
        return np.pi * j / nlat
    if kind == "soft":
        return np.pi * (2 * j + 1) / (2 * nlat)
    return np.pi * j / (nlat - 1)


def _odd_sine_sum(theta: np.ndarray, nlat: int) -> np.ndarray:
    """Σ_{l=0}^{nlat/2-1} sin((2l+1) θ) / (2l+1), shape of ``theta``."""
    out = np.zeros_like(theta)
    odd = np.arange(1, nlat, 2, dtype=np.float64)
    for start in range(0, len(odd), _CHUNK):
        m = odd[start : start + _CHUNK]
        out += (np.sin(np.multiply.outer(theta, m)) / m).sum(axis=-1)
    return out


def quadrature_weights(nlat: int, kind: str) -> np.ndarray:
    """Weights w_j of ``∫_0^π f(θ) sin θ dθ ≈ Σ_j w_j f(θ_j)``, shape (nlat,), summing to 2.

    * Driscoll-Healy (N = nlat even, θ_j = π j / N) and SOFT (θ_j = π (2j+1) / (2N)), Driscoll &
      Healy (1994), Kostelec & Rockmore (2008)::

          w_j = (4 / N) sin θ_j Σ_{l=0}^{N/2-1} sin((2l+1) θ_j) / (2l+1)

      For SOFT these are Fejér's first-rule weights. Both rules are exact for polynomials in
      cos θ of degree ≤ N - 1. The Driscoll-Healy weight of the north pole (j = 0) is zero.
    * Clenshaw-Curtis (N = nlat odd, n = N - 1 even, θ_j = π j / n), weights in x = cos θ::

          w_j = (c_j / n) [1 - Σ_{k=1}^{n/2} b_k cos(2k θ_j) / (4k² - 1)]

      with c_0 = c_n = 1, c_j = 2 otherwise, b_{n/2} = 1, b_k = 2 otherwise. Exact for polynomials
      in cos θ of degree ≤ N.
    """
    theta = colatitudes(nlat, kind)
    if kind in ("driscoll-healy", "soft"):
        w = 4.0 / nlat * np.sin(theta) * _odd_sine_sum(theta, nlat)
        if kind == "driscoll-healy":
            w[0] = 0.0  # sin(0) = 0 exactly; written out for clarity
        return w
    n = nlat - 1
    total = np.zeros(nlat)
    k_all = np.arange(1, n // 2 + 1, dtype=np.float64)
    for start in range(0, len(k_all), _CHUNK):
        k = k_all[start : start + _CHUNK]
        b = np.where(k == n // 2, 1.0, 2.0)
        total += (b * np.cos(2 * np.multiply.outer(theta, k)) / (4 * k**2 - 1)).sum(axis=-1)
    c = np.full(nlat, 2.0)
    c[[0, -1]] = 1.0
    return c / n * (1.0 - total)


class Equiangular(Sampling):
    """Equiangular grid of ``nlat`` rings × ``nlon`` longitudes: ``nlat · nlon`` pixels.

    Pixel ``p = j · nlon + k`` (row-major, north to south) sits at colatitude θ_j and longitude
    ``φ_k = 2π k / nlon``; its area is ``w_j · 2π / nlon`` steradians, where w_j are the quadrature
    weights of the kind (see :func:`quadrature_weights`), so areas sum to 4π and Σ f(p) area(p)
    integrates exactly the polynomials in cos θ of degree ≤ D (times trigonometric polynomials in
    φ of degree < nlon):

    ===================  =================  ======================  ===========================
    kind                 nlat               θ_j                     degree of exactness D
    ===================  =================  ======================  ===========================
    ``driscoll-healy``   even               π j / nlat              nlat - 1
    ``soft``             even               π (2j + 1) / (2 nlat)   nlat - 1 (Fejér's 1st rule)
    ``clenshaw-curtis``  odd, ≥ 3           π j / (nlat - 1)        nlat
    ===================  =================  ======================  ===========================

    Driscoll-Healy includes the north pole (not the south pole) and gives its ring zero weight,
    hence zero area; Clenshaw-Curtis includes both poles. All the pixels of a pole ring share one
    position.
    A product of two functions band-limited to degree L (e.g. spherical harmonics) is integrated
    exactly when 2L ≤ D and nlon > 2L.

    Parameters
    ----------
    nlat : int
        Number of rings (parity as in the table).
    nlon : int
        Number of longitudes per ring, ≥ 1.
    kind : str
        ``"driscoll-healy"`` (alias ``"dh"``), ``"soft"`` or ``"clenshaw-curtis"`` (alias ``"cc"``).
    indices : array of int, optional
        Kept pixels (partial sky), sorted and unique.

    Hierarchy (2 × 2): the parent of pixel (j, k) is (j // 2, k // 2) in the grid of the same kind
    with ``nlon / 2`` longitudes and ``nlat / 2`` rings (``(nlat + 1) / 2`` for Clenshaw-Curtis).
    Allowed when nlon is even and the coarse ``nlat`` is valid for the kind. Driscoll-Healy and
    Clenshaw-Curtis: the coarse rings sit on the even fine rings. Clenshaw-Curtis: the coarse
    south-pole ring has only the fine south-pole ring as children (2 children per pixel), every
    other coarse pixel has 4 (the coarse north-pole pixels pool fine rings 0 and 1).

    Examples
    --------
    >>> s = Equiangular(nlat=8, nlon=16, kind="dh")
    >>> s.npix, s.kind, bool(np.isclose(s.area.sum(), 4 * np.pi))
    (128, 'driscoll-healy', True)
    >>> coarse, parent = s.coarsen()
    >>> coarse
    Equiangular(nlat=4, nlon=8, kind='driscoll-healy')
    >>> parent[[0, 1, 16, 17, 2]].tolist()
    [0, 0, 0, 0, 1]
    """

    def __init__(self, nlat: int, nlon: int, kind: str = "driscoll-healy", indices: Any = None) -> None:
        self.kind = check_kind(kind)
        self.nlat = check_size("nlat", nlat)
        problem = _nlat_problem(self.nlat, self.kind)
        if problem is not None:
            raise ValueError(problem)
        self.nlon = check_size("nlon", nlon)
        super().__init__(indices)

    @property
    def npix_full(self) -> int:
        return self.nlat * self.nlon

    def _params(self) -> dict[str, Any]:
        return {"nlat": self.nlat, "nlon": self.nlon, "kind": self.kind}

    @cached_property
    def theta(self) -> np.ndarray:
        """Colatitudes of the rings, shape (nlat,), radians, north to south."""
        return readonly(colatitudes(self.nlat, self.kind))

    @cached_property
    def weights(self) -> np.ndarray:
        """Quadrature weights of the rings for ∫ f(θ) sin θ dθ, shape (nlat,), summing to 2."""
        return readonly(quadrature_weights(self.nlat, self.kind))

    def _pix(self, pix: np.ndarray | None) -> np.ndarray:
        return np.arange(self.npix_full, dtype=np.int64) if pix is None else pix

    def _coords(self, pix: np.ndarray | None) -> np.ndarray:
        j, k = np.divmod(self._pix(pix), self.nlon)
        theta = self.theta[j]
        phi = 2 * np.pi * k / self.nlon
        sin_t = np.sin(theta)
        return np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), np.cos(theta)], axis=-1)

    def _area(self, pix: np.ndarray | None) -> np.ndarray:
        j = self._pix(pix) // self.nlon
        return self.weights[j] * (2 * np.pi / self.nlon)

    def _coarse_nlat(self) -> int:
        return (self.nlat + 1) // 2 if self.kind == "clenshaw-curtis" else self.nlat // 2

    def _coarser_full(self) -> Equiangular | None:
        if self._why_not_coarsen_or_none() is not None:
            return None
        return Equiangular(self._coarse_nlat(), self.nlon // 2, kind=self.kind)

    def _why_not_coarsen_or_none(self) -> str | None:
        if self.nlon % 2:
            return f"nlon={self.nlon} is odd, so longitudes cannot be paired"
        coarse = self._coarse_nlat()
        if coarse < 1 or _nlat_problem(coarse, self.kind) is not None:
            need = "odd and >= 3" if self.kind == "clenshaw-curtis" else "even"
            return f"the coarser grid would have nlat={coarse}, but kind={self.kind!r} needs nlat {need}"
        return None

    def _why_not_coarsen(self) -> str:
        return self._why_not_coarsen_or_none() or "it can be coarsened"

    def _parent(self, pix: np.ndarray | None) -> np.ndarray:
        j, k = np.divmod(self._pix(pix), self.nlon)
        return (j // 2) * (self.nlon // 2) + k // 2
