"""The equiangular gnomonic cubed sphere (Ronchi, Iacono & Paolucci 1996)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Sampling
from .equiangular import check_size

# Face f: (centre c, axis a of α, axis b of β); a point is (c + tan α · a + tan β · b) normalised.
# Every face is right-handed seen from outside (a × b = c). The four equatorial faces have α growing
# eastwards and β northwards; the polar faces continue face 0 (+x) across its top and bottom edges.
FACES = np.array(
    [
        [[1, 0, 0], [0, 1, 0], [0, 0, 1]],  # 0: +x
        [[0, 1, 0], [-1, 0, 0], [0, 0, 1]],  # 1: +y
        [[-1, 0, 0], [0, -1, 0], [0, 0, 1]],  # 2: -x
        [[0, -1, 0], [1, 0, 0], [0, 0, 1]],  # 3: -y
        [[0, 0, 1], [0, 1, 0], [-1, 0, 0]],  # 4: +z
        [[0, 0, -1], [0, 1, 0], [1, 0, 0]],  # 5: -z
    ],
    dtype=np.float64,
)


def _corner_area(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Solid angle of the gnomonic rectangle [0, x] × [0, y] (signed): arctan(x y / √(1+x²+y²))."""
    return np.arctan(x * y / np.sqrt(1.0 + x * x + y * y))


class CubedSphere(Sampling):
    """Equiangular gnomonic cubed sphere: 6 faces of ``n × n`` pixels, ``6 n²`` pixels.

    On each face the pixel centres are at the angles ``α_i = -π/4 + (i + ½) π / (2n)`` and
    likewise ``β_j``; the centre of pixel ``p = f · n² + j · n + i`` is the unit vector along
    ``c_f + tan α_i · a_f + tan β_j · b_f``, where for face f (seen from outside,
    ``a_f × b_f = c_f``)

    ====  ======  =======  =======
    f     c_f     a_f (α)  b_f (β)
    ====  ======  =======  =======
    0     +x      +y       +z
    1     +y      -x       +z
    2     -x      -y       +z
    3     -y      +x       +z
    4     +z      +y       -x
    5     -z      +y       +x
    ====  ======  =======  =======

    (equatorial faces: α eastwards, β northwards; the polar faces continue face 0 across its top
    and bottom edges). Pixel edges are great-circle arcs; the area of the cell
    ``[x₁, x₂] × [y₁, y₂]`` in gnomonic coordinates ``x = tan α``, ``y = tan β`` is exact:
    ``A(x₂, y₂) - A(x₁, y₂) - A(x₂, y₁) + A(x₁, y₁)`` with
    ``A(x, y) = arctan(x y / √(1 + x² + y²))``.
    Pixels are not equal-area: the corner pixels are smaller than the central ones.

    Parameters
    ----------
    n : int
        Pixels along a face edge, ≥ 1.
    indices : array of int, optional
        Kept pixels (partial sky), sorted and unique.

    Hierarchy: for even n, the coarser sampling has ``n / 2`` and the parent of (f, j, i) is
    ``f · (n/2)² + (j // 2) · (n/2) + i // 2`` (the 2 × 2 block containing the pixel).

    Examples
    --------
    >>> s = CubedSphere(n=4)
    >>> s.npix, bool(np.isclose(s.area.sum(), 4 * np.pi))
    (96, True)
    >>> coarse, parent = s.coarsen()
    >>> coarse.n, parent[[0, 1, 4, 5, 2, 16]].tolist()
    (2, [0, 0, 0, 0, 1, 4])
    """

    def __init__(self, n: int, indices: Any = None) -> None:
        self.n = check_size("n", n)
        super().__init__(indices)

    @property
    def npix_full(self) -> int:
        return 6 * self.n**2

    def _params(self) -> dict[str, Any]:
        return {"n": self.n}

    def _split(self, pix: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Face, row j (β) and column i (α) of the pixels."""
        pix = np.arange(self.npix_full, dtype=np.int64) if pix is None else pix
        f, rest = np.divmod(pix, self.n**2)
        j, i = np.divmod(rest, self.n)
        return f, j, i

    def _tan_edges(self) -> np.ndarray:
        """tan of the n + 1 cell-edge angles -π/4 + m π / (2n), shape (n + 1,)."""
        t = np.tan(-np.pi / 4 + np.arange(self.n + 1) * (np.pi / (2 * self.n)))
        t[0], t[-1] = -1.0, 1.0
        return t

    def _coords(self, pix: np.ndarray | None) -> np.ndarray:
        f, j, i = self._split(pix)
        centre = -np.pi / 4 + (np.arange(self.n) + 0.5) * (np.pi / (2 * self.n))
        tan_c = np.tan(centre)
        c, a, b = FACES[f, 0], FACES[f, 1], FACES[f, 2]
        v = c + tan_c[i, None] * a + tan_c[j, None] * b
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    def _area(self, pix: np.ndarray | None) -> np.ndarray:
        _, j, i = self._split(pix)
        t = self._tan_edges()
        x1, x2, y1, y2 = t[i], t[i + 1], t[j], t[j + 1]
        return _corner_area(x2, y2) - _corner_area(x1, y2) - _corner_area(x2, y1) + _corner_area(x1, y1)

    def _coarser_full(self) -> CubedSphere | None:
        return CubedSphere(self.n // 2) if self.n % 2 == 0 else None

    def _why_not_coarsen(self) -> str:
        return f"n={self.n} is odd, so the pixels of a face cannot be grouped 2 × 2"

    def _parent(self, pix: np.ndarray | None) -> np.ndarray:
        f, j, i = self._split(pix)
        m = self.n // 2
        return f * m * m + (j // 2) * m + i // 2
