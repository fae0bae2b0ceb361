"""Exact k nearest neighbours of points on the unit sphere, with a uniform 3-D cell grid.

Why our own: graph construction is the product's core, and scipy's cKDTree (build + query) is the
bottleneck at HEALPix nside 1024 (12.6 M points: ~20 s on 2 cores). Points on a sphere are a 2-D
manifold of near-uniform density, which a cell grid exploits: ``benchmarks/bench_graph.py`` measures it.

Method. Cut space into cubes of side ``h``; sort the points by cube. For a query point ``p`` in cube
``c``, the candidates are the points of the 3×3×3 block of cubes around ``c``. Any point outside the
block is at least ``b(p)`` away, where ``b(p)`` is the distance from ``p`` to the block's faces
(``b ≥ h``). The candidate k-NN of ``p`` is therefore exact whenever its k-th distance is ``≤ b(p)``.
Queries that fail this certificate (sparse regions of a clustered cloud) are redone with ``2h``,
until all are certified: the result is exact for any point set, and fast for near-uniform ones.
"""

from __future__ import annotations

import numba
import numpy as np

# Expected number of points within chord distance r of a point, uniform density on the unit sphere:
# n r² / 4. The first grid is sized so that the (k+1)-th point falls inside b(p) ≥ h for most points.
_FIRST_CELL_FACTOR = 1.25


def knn_sphere(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours (self excluded) of unit vectors, by Euclidean (chord) distance.

    Parameters
    ----------
    x : ndarray, shape (n, 3), float64
        Points on the unit sphere.
    k : int
        Number of neighbours, 1 ≤ k < n.

    Returns
    -------
    neighbours : ndarray, shape (n, k), int64
        Indices of the k nearest points of each point, nearest first.
    sq_dist : ndarray, shape (n, k), float64
        Their squared chord distances ``|x_i − x_j|²`` (geodesic angle = 2 arcsin(chord / 2)).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    n = len(x)
    neighbours = np.empty((n, k), dtype=np.int64)
    sq_dist = np.empty((n, k), dtype=np.float64)
    todo = np.arange(n, dtype=np.int64)
    h = _FIRST_CELL_FACTOR * np.sqrt(4.0 * (k + 1) / n)
    while len(todo) > 0:
        if h >= 0.5:  # the grid no longer prunes anything: compare with every point
            h = 4.0
        done = _grid_pass(x, todo, h, k, neighbours, sq_dist)
        todo = todo[~done]
        h *= 2.0
    return neighbours, sq_dist


def _grid_pass(
    x: np.ndarray, queries: np.ndarray, h: float, k: int, out_nb: np.ndarray, out_d2: np.ndarray
) -> np.ndarray:
    """One pass with cubes of side h; fills rows ``queries`` of the outputs, returns the certified mask."""
    g = int(2.0 / h) + 3  # cubes per axis over [-1, 1] (coordinates are shifted by +1)
    key = _cube_keys(x, h, g)
    order = np.argsort(key)
    sorted_key, sorted_x = _gather(key, x, order)
    cube_keys, cube_start = _runs(sorted_key)
    if len(queries) == len(x):  # first pass: the queries are all points, already grouped by cube
        qorder, qkeys, qstart = order, cube_keys, cube_start
    else:
        qorder = np.argsort(key[queries], kind="stable")
        qkeys, qstart = _runs(key[queries[qorder]])
        qorder = queries[qorder]
    done = np.empty(len(qorder), dtype=np.bool_)
    _scan(x, qorder, qkeys, qstart, sorted_x, order, cube_keys, cube_start, g, h, out_nb, out_d2, done)
    certified = np.empty(len(x), dtype=np.bool_)
    certified[qorder] = done
    return certified[queries]


@numba.njit(parallel=True, cache=True)
def _cube_keys(x, h, g):  # pragma: no cover - compiled
    key = np.empty(len(x), dtype=np.int64)
    for i in numba.prange(len(x)):
        cx = np.int64(np.floor((x[i, 0] + 1.0) / h))
        cy = np.int64(np.floor((x[i, 1] + 1.0) / h))
        cz = np.int64(np.floor((x[i, 2] + 1.0) / h))
        key[i] = (cx * g + cy) * g + cz
    return key


@numba.njit(parallel=True, cache=True)
def _gather(key, x, order):  # pragma: no cover - compiled
    sorted_key = np.empty_like(key)
    sorted_x = np.empty_like(x)
    for p in numba.prange(len(order)):
        i = order[p]
        sorted_key[p] = key[i]
        sorted_x[p, 0] = x[i, 0]
        sorted_x[p, 1] = x[i, 1]
        sorted_x[p, 2] = x[i, 2]
    return sorted_key, sorted_x


@numba.njit(cache=True)
def _runs(sorted_key):  # pragma: no cover - compiled
    """Distinct keys of a sorted array and where each run starts (with a final end marker)."""
    n = len(sorted_key)
    starts = np.empty(n + 1, dtype=np.int64)
    m = 0
    for p in range(n):
        if p == 0 or sorted_key[p] != sorted_key[p - 1]:
            starts[m] = p
            m += 1
    starts[m] = n
    keys = np.empty(m, dtype=np.int64)
    for c in range(m):
        keys[c] = sorted_key[starts[c]]
    return keys, starts[: m + 1].copy()


@numba.njit(parallel=True, cache=True)
def _scan(
    x, qorder, qkeys, qstart, sorted_x, order, cube_keys, cube_start, g, h, nb, d2, done
):  # pragma: no cover - compiled
    k = nb.shape[1]
    m = len(qkeys)
    n_chunks = min(m, 1024)
    for chunk in numba.prange(n_chunks):
        c0 = chunk * m // n_chunks
        c1 = (chunk + 1) * m // n_chunks
        # For each (dx, dy), the cubes (cx+dx, cy+dy, cz-1 .. cz+1) are consecutive keys: one range of
        # the sorted points. Along the sorted query cubes these keys increase, so walk, don't search.
        ptr_lo = np.empty(9, dtype=np.int64)
        ptr_hi = np.empty(9, dtype=np.int64)
        offset = np.empty(9, dtype=np.int64)
        for r in range(9):
            offset[r] = ((r // 3 - 1) * g + (r % 3 - 1)) * g - 1
            ptr_lo[r] = np.searchsorted(cube_keys, qkeys[c0] + offset[r])
            ptr_hi[r] = np.searchsorted(cube_keys, qkeys[c0] + offset[r] + 2, side="right")
        best_d = np.empty(k, dtype=np.float64)
        best_i = np.empty(k, dtype=np.int64)
        for c in range(c0, c1):
            for r in range(9):
                first = qkeys[c] + offset[r]
                while ptr_lo[r] < len(cube_keys) and cube_keys[ptr_lo[r]] < first:
                    ptr_lo[r] += 1
                while ptr_hi[r] < len(cube_keys) and cube_keys[ptr_hi[r]] <= first + 2:
                    ptr_hi[r] += 1
            for q in range(qstart[c], qstart[c + 1]):
                i = qorder[q]
                px, py, pz = x[i, 0], x[i, 1], x[i, 2]
                best_d[:] = np.inf
                best_i[:] = -1
                worst = np.inf
                for rr in range(9):
                    r = (rr + 4) % 9  # own column first: near candidates early, fewer insertions
                    for p in range(cube_start[ptr_lo[r]], cube_start[ptr_hi[r]]):
                        ex = sorted_x[p, 0] - px
                        ey = sorted_x[p, 1] - py
                        ez = sorted_x[p, 2] - pz
                        dist = ex * ex + ey * ey + ez * ez
                        if dist < worst:
                            j = order[p]
                            if j == i:
                                continue
                            a = k - 1
                            while a > 0 and best_d[a - 1] > dist:  # insertion into the sorted list
                                best_d[a] = best_d[a - 1]
                                best_i[a] = best_i[a - 1]
                                a -= 1
                            best_d[a] = dist
                            best_i[a] = j
                            worst = best_d[k - 1]
                d2[i] = best_d
                nb[i] = best_i
                # distance from p to the faces of the 3x3x3 block of cubes around its own cube
                bound = np.inf
                for s in (px + 1.0, py + 1.0, pz + 1.0):
                    cell = np.floor(s / h)
                    bound = min(bound, s - (cell - 1.0) * h, (cell + 2.0) * h - s)
                done[q] = worst <= bound * bound * (1.0 - 1e-12)
