"""HEALPix: the Hierarchical Equal Area isoLatitude Pixelisation (Górski et al. 2005)."""

from __future__ import annotations

from typing import Any

import healpy as hp
import numpy as np

from .base import Sampling

MAX_NSIDE = 2**29


def check_nside(nside: Any) -> int:
    """Return ``nside`` as an int, or raise if it is not a power of two in [1, 2**29]."""
    if isinstance(nside, bool) or not isinstance(nside, (int, np.integer)):
        raise ValueError(f"nside must be an integer power of two, got {nside!r}")
    nside = int(nside)
    if nside < 1 or nside > MAX_NSIDE or nside & (nside - 1):
        raise ValueError(f"nside must be a power of two between 1 and 2**29, got {nside}")
    return nside


class HEALPix(Sampling):
    """HEALPix sampling: ``12 nside²`` equal-area pixels, ``4π / (12 nside²)`` sr each.

    Parameters
    ----------
    nside : int
        Resolution parameter, a power of two (1 … 2**29).
    nest : bool
        Pixel order: NESTED (True, the package's convention: the 4 children of a coarse pixel are 4
        consecutive pixels) or RING (False). ``indices`` are read in this ordering.
    indices : array of int, optional
        Kept pixels (partial sky), sorted and unique.

    Hierarchy: the coarser sampling has ``nside / 2``; the parent of NESTED pixel ``p`` is ``p // 4``.

    Examples
    --------
    >>> s = HEALPix(nside=4)
    >>> s.npix, round(float(s.area.sum()), 12) == round(4 * np.pi, 12)
    (192, True)
    >>> coarse, parent = s.coarsen()
    >>> coarse.nside, parent[:8].tolist()
    (2, [0, 0, 0, 0, 1, 1, 1, 1])
    """

    def __init__(self, nside: int, nest: bool = True, indices: Any = None) -> None:
        self.nside = check_nside(nside)
        if not isinstance(nest, (bool, np.bool_)):
            raise ValueError(f"nest must be True (NESTED) or False (RING), got {nest!r}")
        self.nest = bool(nest)
        super().__init__(indices)

    @property
    def npix_full(self) -> int:
        return 12 * self.nside**2

    def _params(self) -> dict[str, Any]:
        return {"nside": self.nside, "nest": self.nest}

    def _pix(self, pix: np.ndarray | None) -> np.ndarray:
        return np.arange(self.npix_full, dtype=np.int64) if pix is None else pix

    def _coords(self, pix: np.ndarray | None) -> np.ndarray:
        return np.stack(hp.pix2vec(self.nside, self._pix(pix), nest=self.nest), axis=-1)

    def _area(self, pix: np.ndarray | None) -> np.ndarray:
        return np.full(self.npix if pix is None else len(pix), 4 * np.pi / self.npix_full)

    def _coarser_full(self) -> HEALPix | None:
        return HEALPix(self.nside // 2, nest=self.nest) if self.nside > 1 else None

    def _why_not_coarsen(self) -> str:
        return "nside=1 is the coarsest HEALPix resolution"

    def _parent(self, pix: np.ndarray | None) -> np.ndarray:
        pix = self._pix(pix)
        if self.nest:
            return pix >> 2
        nested = hp.ring2nest(self.nside, pix) >> 2
        return hp.nest2ring(self.nside // 2, nested)

    def nested_indices(self) -> np.ndarray:
        """NESTED pixel numbers of the kept pixels, shape (npix,) int64 (whatever ``nest`` is)."""
        pix = self._pix(self._indices)
        return pix if self.nest else hp.ring2nest(self.nside, pix).astype(np.int64)
