"""Turning neighbour lists into a symmetric weight matrix, and reading the builders' inputs."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import scipy.sparse as sp

from ..sampling import Sampling
from ._knn_grid import threads_for


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
    nb = np.ascontiguousarray(neighbours, dtype=np.int64)
    x = np.ascontiguousarray(x, dtype=np.float64)
    with threads_for(len(nb)):
        return _union(nb, np.empty((0, 0)), x, np.empty(0), kernel_width)


def knn_union(neighbours: np.ndarray, sq_dist: np.ndarray, kernel_width: float) -> sp.csr_matrix:
    """:func:`symmetric_union` of exact k-NN lists, from :func:`deepsphere.graph._knn_grid.knn_sphere`
    (the k-th neighbour last in each row, the others in any order).

    The squared distances come with the lists, and the k-th one of j settles whether j chose i: it did
    if ``d_ij`` is smaller, it did not if larger (only a tie needs a look at j's list). This is exact:
    the search computes ``d_ij`` and ``d_ji`` with the same operations on the same numbers.
    """
    nb = np.ascontiguousarray(neighbours, dtype=np.int64)
    sq_dist = np.ascontiguousarray(sq_dist, dtype=np.float64)
    with threads_for(len(nb)):
        return _union(nb, sq_dist, np.empty((0, 3)), np.ascontiguousarray(sq_dist[:, -1]), kernel_width)


def _union(
    nb: np.ndarray, sq_dist: np.ndarray, x: np.ndarray, kth: np.ndarray, kernel_width: float
) -> sp.csr_matrix:
    """The CSR union. The squared distances of the slots come from ``sq_dist`` or, when it is empty,
    from the points ``x``; ``kth``: the k-th squared distance of each vertex for k-NN lists, else empty.

    Edges chosen by one end only ("lonely") are listed by source, then bucketed by target (a stable
    sort, so the result does not depend on the threads); each row is its own edges, then its reversed
    lonely ones, sorted by column. The weights are squared distances until the end, where numpy's
    vectorised exp turns them into ``exp(−ln 2 · d² / σ²)``, several times faster than a scalar exp.
    Equal squared distances give equal weights, so the matrix is exactly symmetric.
    """
    n = len(nb)
    state = np.empty(nb.shape, dtype=np.int8)  # large arrays from numpy, which uses huge pages
    own = np.empty(n, dtype=np.int64)
    lonely_ptr = np.zeros(n + 1, dtype=np.int64)
    _classify(nb, sq_dist, kth, state, own, lonely_ptr[1:])
    np.cumsum(lonely_ptr, out=lonely_ptr)
    source = np.empty(lonely_ptr[-1], dtype=np.int64)
    target = np.empty(lonely_ptr[-1], dtype=np.int64)
    lonely_d2 = np.empty(lonely_ptr[-1], dtype=np.float64)
    _lonely_edges(nb, sq_dist, x, state, lonely_ptr, source, target, lonely_d2)
    by_target = np.argsort(target, kind="stable")
    extra = np.bincount(target, minlength=n)
    rev_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(extra, out=rev_ptr[1:])
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(own + extra, out=indptr[1:])
    itype = np.int32 if indptr[-1] < 2**31 - 1 else np.int64  # int32 halves large graphs' memory
    indices = np.empty(indptr[-1], dtype=itype)
    data = np.empty(indptr[-1], dtype=np.float64)
    _fill(nb, sq_dist, x, state, rev_ptr, source[by_target], lonely_d2[by_target], indptr, indices, data)
    np.multiply(data, -np.log(2.0) / kernel_width**2, out=data)  # as gaussian_weights computes it
    np.exp(data, out=data)
    matrix = sp.csr_matrix((data, indices, indptr.astype(itype)), shape=(n, n))
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    return matrix


@numba.njit(inline="always")
def _slot_sq_dist(nb, sq_dist, x, i, a):  # pragma: no cover - compiled
    """|x_j − x_i|² of slot (i, a), j = nb[i, a], from ``sq_dist`` if given, else from ``x``."""
    if sq_dist.shape[0] > 0:
        return sq_dist[i, a]
    j = nb[i, a]
    return (x[j, 0] - x[i, 0]) ** 2 + (x[j, 1] - x[i, 1]) ** 2 + (x[j, 2] - x[i, 2]) ** 2


@numba.njit(parallel=True, cache=True)
def _classify(nb, sq_dist, kth, state, own, lonely):  # pragma: no cover - compiled
    """Slot states (0: no edge, 1: i → j with j → i too, 2: lonely) and per-row edge counts."""
    n, m = nb.shape
    for i in numba.prange(n):
        own[i] = 0
        lonely[i] = 0
        for a in range(m):
            state[i, a] = 0
            j = nb[i, a]
            if j < 0 or j == i:
                continue
            if len(kth) > 0 and sq_dist[i, a] != kth[j]:
                chosen = sq_dist[i, a] < kth[j]
            else:
                chosen = False
                for b in range(m):
                    if nb[j, b] == i:
                        chosen = True
                        break
            state[i, a] = 1 if chosen else 2
            own[i] += 1
            lonely[i] += not chosen


@numba.njit(parallel=True, cache=True)
def _lonely_edges(nb, sq_dist, x, state, lonely_ptr, source, target, d2):  # pragma: no cover - compiled
    n, m = nb.shape
    for i in numba.prange(n):
        e = lonely_ptr[i]
        for a in range(m):
            if state[i, a] == 2:
                source[e] = i
                target[e] = nb[i, a]
                d2[e] = _slot_sq_dist(nb, sq_dist, x, i, a)
                e += 1


@numba.njit(parallel=True, cache=True)
def _fill(
    nb, sq_dist, x, state, rev_ptr, rev_source, rev_d2, indptr, indices, data
):  # pragma: no cover - compiled
    """Each row: its own edges, then its reversed lonely ones, placed by rank of column (counting sort:
    branch-free, unlike an insertion sort of rows in distance order)."""
    n, m = nb.shape
    n_chunks = min(n, 1024)
    for chunk in numba.prange(n_chunks):
        cols = np.empty(2 * m, dtype=indices.dtype)
        vals = np.empty(2 * m, dtype=np.float64)
        for i in range(chunk * n // n_chunks, (chunk + 1) * n // n_chunks):
            length = indptr[i + 1] - indptr[i]
            if length > len(cols):
                cols = np.empty(2 * length, dtype=indices.dtype)
                vals = np.empty(2 * length, dtype=np.float64)
            p = 0
            for a in range(m):
                if state[i, a] != 0:
                    cols[p] = nb[i, a]
                    vals[p] = _slot_sq_dist(nb, sq_dist, x, i, a)
                    p += 1
            for e in range(rev_ptr[i], rev_ptr[i + 1]):
                cols[p] = rev_source[e]
                vals[p] = rev_d2[e]
                p += 1
            for a in range(length):
                rank = 0
                for b in range(length):
                    rank += (cols[b] < cols[a]) | ((cols[b] == cols[a]) & (b < a))
                indices[indptr[i] + rank] = cols[a]
                data[indptr[i] + rank] = vals[a]
