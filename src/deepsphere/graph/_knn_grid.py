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

Per query. The candidates of a query cube (~6 k on a near-uniform sphere) are copied together, one
array per coordinate, so that a query's squared distances to all of them are one vectorised loop.
Selecting the k nearest is then what costs, and it avoids unpredictable branches: the queries are
processed cube after cube, and the k-th squared distance of the previous query (mostly a neighbour),
times a factor, is a guess ``τ``. The candidates closer than ``τ`` are listed without a branch (an
index is always written, the count increased by ``d < τ``): on HEALPix ~1.05 k of them, and the few
beyond k are dropped, the farthest first; a longer list goes through a sorted insertion. A guess
that leaves fewer than k candidates is replaced by ``τ = ∞``, and the factor doubles (it starts at
``_TAU_FACTOR`` and creeps back to it while guesses succeed, so that it adapts to irregular point
sets). Every path keeps the k smallest candidates by (distance, position in the sorted points), so
the result, ties included, depends neither on the guess nor on the number of threads. A row comes out
in any order but for its k-th neighbour, last (all that :func:`knn_graph` needs); ``sort=True`` sorts
the rows.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import numba
import numpy as np

from .._numba_threads import numba_threads

# Expected number of points within chord distance r of a point, uniform density on the unit sphere:
# n r² / 4. The first grid is sized so that the (k+1)-th point falls inside b(p) ≥ h for most points.
_FIRST_CELL_FACTOR = 1.25
# Smallest factor of the guess τ (k-th squared distance of the previous query × factor): right for
# HEALPix and other regular samplings, where neighbouring pixels have nearly the same k-th distance.
_TAU_FACTOR = 1.1
# Fewer points than this run on one thread (see threads_for).
_PARALLEL_MIN_POINTS = 2**17


def threads_for(n: int) -> AbstractContextManager[None]:
    """Run numba's parallel loops on the calling thread only, for fewer than 2**17 points.

    Each parallel loop wakes the thread pool, and on a busy machine a woken thread may wait a scheduler
    time slice (milliseconds) before it runs. Measured on 2 cores: for HEALPix nside 64 (49 152 points,
    30-50 ms on one core), two threads save ~40 % on an idle machine but double the time on a busy
    one; from nside 128 on, they win on balance.
    """
    return numba_threads(1 if n < _PARALLEL_MIN_POINTS else numba.get_num_threads())


def knn_sphere(x: np.ndarray, k: int, sort: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours (self excluded) of unit vectors, by Euclidean (chord) distance.

    Parameters
    ----------
    x : ndarray, shape (n, 3), float64
        Points on the unit sphere.
    k : int
        Number of neighbours, 1 ≤ k < n.
    sort : bool
        Order each row nearest first (ties by index). Otherwise the order is arbitrary but for the
        farthest (the k-th neighbour), which comes last; faster.

    Returns
    -------
    neighbours : ndarray, shape (n, k), int64
        Indices of the k nearest points of each point.
    sq_dist : ndarray, shape (n, k), float64
        Their squared chord distances ``|x_i − x_j|²`` (geodesic angle = 2 arcsin(chord / 2)).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    n = len(x)
    neighbours = np.empty((n, k), dtype=np.int64)
    sq_dist = np.empty((n, k), dtype=np.float64)
    todo = np.arange(n, dtype=np.int64)
    h = _FIRST_CELL_FACTOR * np.sqrt(4.0 * (k + 1) / n)
    with threads_for(n):
        while len(todo) > 0:
            if h >= 0.5:  # the grid no longer prunes anything: compare with every point
                h = 4.0
            todo = _grid_pass(x, todo, h, k, neighbours, sq_dist)
            h *= 2.0
        if sort:
            _sort_rows(neighbours, sq_dist)
    return neighbours, sq_dist


def _grid_pass(
    x: np.ndarray, queries: np.ndarray, h: float, k: int, out_nb: np.ndarray, out_d2: np.ndarray
) -> np.ndarray:
    """One pass with cubes of side h; fills rows ``queries`` of the outputs, returns the uncertified rows.

    Large arrays are allocated by numpy, which asks the kernel for huge pages (numba's allocator does
    not): first touching memory in 4 KiB pages costs ~0.4 s per GiB here.
    """
    n = len(x)
    g = int(2.0 / h) + 3  # cubes per axis over [-1, 1] (coordinates are shifted by +1)
    key = np.empty(n, dtype=np.int64)
    _cube_keys(x, h, g, key)
    order = np.argsort(key)
    sorted_key = np.empty(n, dtype=np.int64)
    sorted_x = np.empty((n, 3), dtype=np.float64)
    _gather(key, x, order, sorted_key, sorted_x)
    cube_keys, cube_start = _runs(sorted_key)
    if len(queries) == n:  # first pass: the queries are all points, already grouped by cube
        qpos, qkeys, qstart = np.arange(n), cube_keys, cube_start
    else:  # the queries' positions among the sorted points, in increasing order: grouped by cube
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
        qpos = np.sort(position[queries])
        qkeys, qstart = _runs(sorted_key[qpos])
    done = np.empty(len(qpos), dtype=np.bool_)
    _scan(sorted_x, order, qpos, qkeys, qstart, cube_keys, cube_start, g, h, out_nb, out_d2, done)
    return order[qpos[~done]]


def _runs(sorted_key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys of a sorted array and where each run starts (with a final end marker)."""
    starts = np.flatnonzero(sorted_key[1:] != sorted_key[:-1]) + 1
    starts = np.concatenate(([0], starts, [len(sorted_key)]))
    return sorted_key[starts[:-1]], starts


@numba.njit(parallel=True, cache=True)
def _cube_keys(x, h, g, key):  # pragma: no cover - compiled
    for i in numba.prange(len(x)):
        cx = np.int64(np.floor((x[i, 0] + 1.0) / h))
        cy = np.int64(np.floor((x[i, 1] + 1.0) / h))
        cz = np.int64(np.floor((x[i, 2] + 1.0) / h))
        key[i] = (cx * g + cy) * g + cz


@numba.njit(parallel=True, cache=True)
def _gather(key, x, order, sorted_key, sorted_x):  # pragma: no cover - compiled
    for p in numba.prange(len(order)):
        i = order[p]
        sorted_key[p] = key[i]
        sorted_x[p, 0] = x[i, 0]
        sorted_x[p, 1] = x[i, 1]
        sorted_x[p, 2] = x[i, 2]


@numba.njit(parallel=True, cache=True)
def _scan(
    sorted_x, order, qpos, qkeys, qstart, cube_keys, cube_start, g, h, nb, d2, done
):  # pragma: no cover - compiled
    """k-NN of the queries (positions ``qpos`` in the sorted points, grouped by cube: keys ``qkeys``,
    ``qstart``) among all points (``sorted_x``, cubes ``cube_keys``, ``cube_start``); writes rows
    ``order[qpos]`` of ``nb``, ``d2`` and whether each query is certified exact (``done``)."""
    k = nb.shape[1]
    m = len(qkeys)
    n_chunks = min(m, m // 64 + 1, 1024)  # ≥ 64 cubes each: a chunk starts with a blind guess
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
        # The candidates of the current query cube, copied together (x, y, z; position in the sorted
        # points); per query, their distances and which are closer than tau. Grown on demand.
        cand = np.empty((3, 0), dtype=np.float64)
        cand_p = np.empty(0, dtype=np.int64)
        dist = np.empty(0, dtype=np.float64)
        closer = np.empty(0, dtype=np.int64)
        best_d = np.empty(0, dtype=np.float64)
        best_p = np.empty(0, dtype=np.int64)
        tau = np.inf
        factor = _TAU_FACTOR
        for c in range(c0, c1):
            n_cand = 0
            for r in range(9):
                first = qkeys[c] + offset[r]
                while ptr_lo[r] < len(cube_keys) and cube_keys[ptr_lo[r]] < first:
                    ptr_lo[r] += 1
                while ptr_hi[r] < len(cube_keys) and cube_keys[ptr_hi[r]] <= first + 2:
                    ptr_hi[r] += 1
                n_cand += cube_start[ptr_hi[r]] - cube_start[ptr_lo[r]]
            if n_cand + k > cand.shape[1]:  # (measurably faster than testing len(cand_p))
                cap = 2 * (n_cand + k)
                cand = np.empty((3, cap), dtype=np.float64)
                cand_p = np.empty(cap, dtype=np.int64)
                dist = np.empty(cap, dtype=np.float64)
                closer = np.empty(cap, dtype=np.int64)
                best_d = np.empty(cap, dtype=np.float64)
                best_p = np.empty(cap, dtype=np.int64)
            t = 0
            own = 0
            for r in range(9):
                if r == 4:  # the query's own column: candidate t + (p - its start) is point p
                    own = t - cube_start[ptr_lo[r]]
                for p in range(cube_start[ptr_lo[r]], cube_start[ptr_hi[r]]):
                    cand[0, t] = sorted_x[p, 0]
                    cand[1, t] = sorted_x[p, 1]
                    cand[2, t] = sorted_x[p, 2]
                    cand_p[t] = p
                    t += 1
            cx, cy, cz = cand[0], cand[1], cand[2]
            for q in range(qstart[c], qstart[c + 1]):
                me = qpos[q]
                px, py, pz = sorted_x[me, 0], sorted_x[me, 1], sorted_x[me, 2]
                for b in range(n_cand):
                    ex = cx[b] - px
                    ey = cy[b] - py
                    ez = cz[b] - pz
                    dist[b] = ex * ex + ey * ey + ez * ez
                dist[own + me] = np.inf  # not its own neighbour
                count = _closer_than(dist, n_cand, tau, closer, k)
                if count < k and tau < np.inf:  # the guess was too small: widen it from now on
                    factor = min(2.0 * factor, 16.0)
                    tau = np.inf
                    count = _closer_than(dist, n_cand, tau, closer, k)
                else:  # and tighten it slowly while it works
                    factor = max(0.98 * factor, _TAU_FACTOR)
                for a in range(count):
                    best_d[a] = dist[closer[a]]
                    best_p[a] = cand_p[closer[a]]
                if k <= count <= k + 4:  # the usual case: a good guess, a few to drop
                    _drop_farthest(best_d, best_p, count, k)
                else:
                    _insertion_select(best_d, best_p, count, k)
                i = order[me]
                for a in range(k):
                    nb[i, a] = order[best_p[a]] if best_p[a] >= 0 else -1
                    d2[i, a] = best_d[a]
                worst = best_d[k - 1]
                tau = worst * factor
                # distance from p to the faces of the 3x3x3 block of cubes around its own cube
                bound = np.inf
                for s in (px + 1.0, py + 1.0, pz + 1.0):
                    cell = np.floor(s / h)
                    bound = min(bound, s - (cell - 1.0) * h, (cell + 2.0) * h - s)
                done[q] = worst <= bound * bound * (1.0 - 1e-12)


@numba.njit(inline="always")
def _closer_than(dist, n_cand, tau, closer, k):  # pragma: no cover - compiled
    """Indices of the candidates closer than tau, in order, into ``closer``; return how many."""
    count = 0
    if n_cand > 64 * k:  # a long list (dense cluster): few pass, so the branch is predictable
        for b in range(n_cand):
            if dist[b] < tau:
                closer[count] = b
                count += 1
        return count
    for b in range(n_cand):
        closer[count] = b  # written always, kept if closer: no branch
        count += dist[b] < tau
    return count


@numba.njit(inline="always")
def _drop_farthest(best_d, best_p, count, k):  # pragma: no cover - compiled
    """Keep the k smallest of ``count ≥ k`` by (distance, position) in the first k slots, the largest last."""
    for kept in range(count, k - 1, -1):
        far, far_d, far_p = 0, best_d[0], best_p[0]
        for a in range(1, kept):
            d, p = best_d[a], best_p[a]
            farther = (d > far_d) | ((d == far_d) & (p > far_p))
            far = a if farther else far
            far_d = d if farther else far_d
            far_p = p if farther else far_p
        # move the farthest to the end of the kept ones (dropped if kept > k, else the k-th)
        best_d[far], best_d[kept - 1] = best_d[kept - 1], far_d
        best_p[far], best_p[kept - 1] = best_p[kept - 1], far_p


@numba.njit(inline="always")
def _insertion_select(best_d, best_p, count, k):  # pragma: no cover - compiled
    """The same for any count (the buffer is in position order), by sorted insertion, nearest first;
    missing neighbours are (inf, -1)."""
    for b in range(count):
        d, p = best_d[b], best_p[b]
        a = min(b, k)
        while a > 0 and best_d[a - 1] > d:
            if a < k:
                best_d[a] = best_d[a - 1]
                best_p[a] = best_p[a - 1]
            a -= 1
        if a < k:
            best_d[a] = d
            best_p[a] = p
    for a in range(count, k):
        best_d[a] = np.inf
        best_p[a] = -1


@numba.njit(parallel=True, cache=True)
def _sort_rows(nb, d2):  # pragma: no cover - compiled
    """Insertion sort of each row by (distance, index)."""
    n, k = nb.shape
    for i in numba.prange(n):
        for a in range(1, k):
            d, j = d2[i, a], nb[i, a]
            b = a
            while b > 0 and (d2[i, b - 1] > d or (d2[i, b - 1] == d and nb[i, b - 1] > j)):
                d2[i, b] = d2[i, b - 1]
                nb[i, b] = nb[i, b - 1]
                b -= 1
            d2[i, b] = d
            nb[i, b] = j
