"""The common interface of every sphere sampling.

A sampling is a set of pixels on the unit sphere. A *full* sampling covers the whole sphere; a *partial*
sampling (a partial sky) keeps only the pixels listed in ``indices``, numbered as in the full sampling.
All geometry (coordinates, areas, the hierarchy) is computed for the kept pixels only, never by padding
to the full sphere.

Hierarchy and partial skies
---------------------------
A hierarchical sampling knows its coarser sampling and, for each of its pixels, the coarse pixel that
contains it (the *parent*). :meth:`Sampling.coarsen` returns both. On a partial sky the rule is:

    the coarse sampling keeps every coarse pixel that has **at least one** kept child,

so that no fine pixel is ever dropped by pooling; a coarse pixel on the border of the sky may then pool
fewer children than in the interior (pooling averages or maximises over the children present).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np


class Sampling:
    """A set of pixels on the unit sphere (full sphere, or a subset given by ``indices``).

    Subclasses implement ``npix_full``, ``_coords(pix)``, ``_area(pix)`` and ``_params()``; hierarchical
    ones also ``_coarser_full()`` and ``_parent(pix)``. ``pix`` is an integer array of pixel numbers of
    the full sampling, or ``None`` for all of them.

    Attributes
    ----------
    npix : int
        Number of pixels kept.
    coords : ndarray, shape (npix, 3), float64
        Unit vectors (x, y, z) of the pixel centres.
    lon, lat : ndarray, shape (npix,), float64
        Longitude in [0, 2π) and latitude in [-π/2, π/2], radians.
    area : ndarray, shape (npix,), float64
        Pixel areas (quadrature weights) in steradians; they sum to 4π on a full sphere.
    indices : ndarray of int64 or None
        The kept pixels, numbered in the full sampling (sorted, unique); ``None`` for the full sphere.
    """

    def __init__(self, indices: Any = None) -> None:
        self._indices = _check_indices(indices, self.npix_full)

    # -- to be provided by subclasses -------------------------------------------------------------
    @property
    def npix_full(self) -> int:
        """Number of pixels of the full sampling."""
        raise NotImplementedError

    def _params(self) -> dict[str, Any]:
        """Constructor arguments, ``indices`` excepted (used by repr, equality and coarsening)."""
        raise NotImplementedError

    def _coords(self, pix: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def _area(self, pix: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def _coarser_full(self) -> Sampling | None:
        """The full coarser sampling, or None when the sampling is not hierarchical here."""
        return None

    def _parent(self, pix: np.ndarray | None) -> np.ndarray:
        """Parent pixel numbers (in the full coarser sampling) of the full-sampling pixels ``pix``."""
        raise NotImplementedError

    # -- public interface ---------------------------------------------------------------------------
    @property
    def indices(self) -> np.ndarray | None:
        return self._indices

    @property
    def is_full(self) -> bool:
        """True when the sampling covers the whole sphere."""
        return self._indices is None

    @property
    def npix(self) -> int:
        return self.npix_full if self._indices is None else len(self._indices)

    @cached_property
    def coords(self) -> np.ndarray:
        return readonly(np.asarray(self._coords(self._indices), dtype=np.float64))

    @cached_property
    def lon(self) -> np.ndarray:
        x, y = self.coords[:, 0], self.coords[:, 1]
        lon = np.mod(np.arctan2(y, x), 2 * np.pi)
        return readonly(np.where(lon >= 2 * np.pi, 0.0, lon))  # mod(-1e-17, 2π) rounds to 2π

    @cached_property
    def lat(self) -> np.ndarray:
        x, y, z = self.coords.T
        return readonly(np.arctan2(z, np.hypot(x, y)))  # accurate near the poles, unlike arcsin

    @cached_property
    def area(self) -> np.ndarray:
        area = np.broadcast_to(np.asarray(self._area(self._indices), dtype=np.float64), (self.npix,))
        return readonly(np.array(area))

    def with_indices(self, indices: Any) -> Sampling:
        """The same sampling restricted to ``indices`` (pixel numbers of the full sampling)."""
        return type(self)(**self._params(), indices=indices)

    @property
    def can_coarsen(self) -> bool:
        """Whether :meth:`coarsen` can go one level up."""
        return self._coarser_full() is not None

    def coarsen(self, levels: int = 1) -> tuple[Sampling, np.ndarray]:
        """The sampling ``levels`` levels coarser, and the child→parent map.

        Returns
        -------
        coarse : Sampling
            The coarser sampling; on a partial sky it keeps every coarse pixel with at least one kept
            child (see the module docstring).
        parent : ndarray, shape (npix,), int64
            ``parent[i]`` is the row of ``coarse`` (0 ≤ parent[i] < coarse.npix) that contains pixel ``i``.
        """
        if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 1:
            raise ValueError(f"levels must be a positive integer, got {levels!r}")
        fine, parent = self, np.arange(self.npix, dtype=np.int64)
        for _ in range(int(levels)):
            fine, step = fine._coarsen_once()
            parent = step[parent]
        return fine, parent

    def _coarsen_once(self) -> tuple[Sampling, np.ndarray]:
        coarse_full = self._coarser_full()
        if coarse_full is None:
            raise ValueError(f"{self!r} has no coarser level: {self._why_not_coarsen()}")
        parent_full = np.asarray(self._parent(self._indices), dtype=np.int64)
        if self._indices is None:
            return coarse_full, parent_full
        kept, parent = np.unique(parent_full, return_inverse=True)
        if len(kept) == coarse_full.npix_full:
            return coarse_full, parent.astype(np.int64)
        return coarse_full.with_indices(kept), parent.astype(np.int64)

    def _why_not_coarsen(self) -> str:
        return f"{type(self).__name__} is not hierarchical"

    # -- dunder -------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        sky = "" if self._indices is None else f", partial sky of {self.npix} pixels"
        return f"{type(self).__name__}({args}{sky})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Sampling)
        if _params_key(self._params()) != _params_key(other._params()):
            return False
        if (self._indices is None) != (other._indices is None):
            return False
        return self._indices is None or np.array_equal(self._indices, other._indices)

    def __hash__(self) -> int:
        n = -1 if self._indices is None else len(self._indices)
        return hash((type(self).__name__, _params_key(self._params()), n))


def _params_key(params: dict[str, Any]) -> tuple:
    return tuple((k, v.tobytes() if isinstance(v, np.ndarray) else v) for k, v in sorted(params.items()))


def readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _check_indices(indices: Any, npix_full: int) -> np.ndarray | None:
    """Validate a partial-sky pixel list: 1-D, integer, within [0, npix_full), strictly increasing."""
    if indices is None:
        return None
    arr = np.asarray(indices)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"indices must be a non-empty 1-D array of pixel numbers, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"indices must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= npix_full:
        raise ValueError(
            f"indices out of range: got values in [{lo}, {hi}], the full sampling has pixels "
            f"0..{npix_full - 1}"
        )
    steps = np.diff(arr)
    if np.any(steps == 0):
        dup = int(arr[1:][steps == 0][0])
        raise ValueError(f"indices must not repeat a pixel, pixel {dup} appears more than once")
    if np.any(steps < 0):
        raise ValueError("indices must be sorted in increasing order (use numpy.unique to sort them)")
    return readonly(arr)
