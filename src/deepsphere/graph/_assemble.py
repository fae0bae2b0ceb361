"""Turning neighbour lists into a symmetric weight matrix, and reading the builders' inputs."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import scipy.sparse as sp

from ..sampling import Sampling


def as_points(sampling_or_coords: Any) -> tuple[np.ndarray, float]:
    """Unit vectors (n, 3) float64 and the mean pixel area (sr) of a Sampling or of raw coordinates.

    Raw coordinates are taken to cover the whole sphere (mean area 4π / n); pass a Sampling for a
    partial sky so that its pixel areas are known.
    """
    if isinstance(sampling_or_coords, Sampling):
        return sampling_or_coords.coords, float(sampling_or_coords.area.mean())
    x = np.asarray(sampling_or_coords, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3:
        raise ValueError(f"expected a Sampling or coords of shape (n, 3), got an array of shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("coords contain NaN or infinite values")
    norms = np.linalg.norm(x, axis=1)
    if np.abs(norms - 1).max(initial=0) > 1e-6:
        raise ValueError(f"coords must be unit vectors, got norms in [{norms.min():.6g}, {norms.max():.6g}]")
    return np.ascontiguousarray(x), 4 * np.pi / len(x)


def check_k(k: Any, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k >= n:
        raise ValueError(f"k={k} must be smaller than the number of pixels ({n})")
    return int(k)


def symmetric_union(neighbours: np.ndarray, x: np.ndarray, kernel_width: float) -> sp.csr_matrix:
    """Symmetric Gaussian weight matrix over the union of the directed edges i → neighbours[i].

    Parameters
    ----------
    neighbours : ndarray (n, m) int
        Neighbours of each vertex; -1 (empty slot) and i itself are skipped.
    x : ndarray (n, 3) float64
        Unit vectors, for the chord distances d_ij.
    kernel_width : float
        σ of ``w_ij = exp(−ln 2 · d_ij² / σ²)`` (:func:`deepsphere.graph.kernel.gaussian_weights`).

    Returns
    -------
    scipy.sparse.csr_matrix (n, n), float64, sorted rows
        An edge chosen from one side only (k-NN is not symmetric) is added in the other direction.
    """
    n = len(neighbours)
    nb = np.ascontiguousarray(neighbours, dtype=np.int64)
    scale = -np.log(2.0) / kernel_width**2
    valid, mutual, indptr = _count(nb)
    itype = np.int32 if indptr[-1] < 2**31 - 1 else np.int64  # int32 halves large graphs' memory
    indices = np.empty(indptr[-1], dtype=itype)
    data = np.empty(indptr[-1], dtype=np.float64)
    _fill(nb, np.ascontiguousarray(x, dtype=np.float64), scale, valid, mutual, indptr, indices, data)
    indptr = indptr.astype(itype)
    matrix = sp.csr_matrix((data, indices, indptr), shape=(n, n))
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    return matrix


@numba.njit(parallel=True, cache=True)
def _count(nb):  # pragma: no cover - compiled
    """Which slots are edges, which edges are mutual, and the CSR row pointer of the union."""
    n, m = nb.shape
    valid = np.zeros((n, m), dtype=np.bool_)
    mutual = np.zeros((n, m), dtype=np.bool_)
    own = np.zeros(n, dtype=np.int64)
    for i in numba.prange(n):
        for a in range(m):
            j = nb[i, a]
            if j < 0 or j == i:
                continue
            valid[i, a] = True
            own[i] += 1
            for b in range(m):
                if nb[j, b] == i:
                    mutual[i, a] = True
                    break
    extra = np.zeros(n, dtype=np.int64)
    for i in range(n):
        for a in range(m):
            if valid[i, a] and not mutual[i, a]:
                extra[nb[i, a]] += 1
    indptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        indptr[i + 1] = indptr[i] + own[i] + extra[i]
    return valid, mutual, indptr


@numba.njit(parallel=True, cache=True)
def _fill(nb, x, scale, valid, mutual, indptr, indices, data):  # pragma: no cover - compiled
    n, m = nb.shape
    fill = np.zeros(n, dtype=np.int64)
    for i in numba.prange(n):
        for a in range(m):
            if valid[i, a]:
                j = nb[i, a]
                d2 = (x[i, 0] - x[j, 0]) ** 2 + (x[i, 1] - x[j, 1]) ** 2 + (x[i, 2] - x[j, 2]) ** 2
                indices[indptr[i] + fill[i]] = j
                data[indptr[i] + fill[i]] = np.exp(scale * d2)
                fill[i] += 1
    for i in range(n):
        for a in range(m):
            if valid[i, a] and not mutual[i, a]:
                j = nb[i, a]
                d2 = (x[i, 0] - x[j, 0]) ** 2 + (x[i, 1] - x[j, 1]) ** 2 + (x[i, 2] - x[j, 2]) ** 2
                indices[indptr[j] + fill[j]] = i
                data[indptr[j] + fill[j]] = np.exp(scale * d2)
                fill[j] += 1
    for i in numba.prange(n):  # insertion sort of each (short) row by column
        for p in range(indptr[i] + 1, indptr[i + 1]):
            col, val = indices[p], data[p]
            q = p
            while q > indptr[i] and indices[q - 1] > col:
                indices[q] = indices[q - 1]
                data[q] = data[q - 1]
                q -= 1
            indices[q] = col
            data[q] = val
