"""Independent references for the graph tests: random point sets, cKDTree k-NN, numpy kernels.

Everything here is written from the definitions (scipy's cKDTree, numpy formulas), never with the
package's own graph code, so that the tests compare the package with an independent reference.
"""

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

LN2 = np.log(2.0)


def uniform_points(n, seed):
    """``n`` random unit vectors, uniform on the sphere."""
    v = np.random.default_rng(seed).standard_normal((n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def cap_points(n, radius, seed, centre=(0.0, 0.0, 1.0)):
    """``n`` random unit vectors, uniform in the spherical cap of angular ``radius`` around ``centre``."""
    rng = np.random.default_rng(seed)
    z = 1 - rng.uniform(0, 1 - np.cos(radius), n)
    phi = rng.uniform(0, 2 * np.pi, n)
    r = np.sqrt(1 - z * z)
    pts = np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)
    # rotate the north pole onto ``centre`` (Rodrigues), so that the cap is at a generic place
    c = np.asarray(centre, dtype=float)
    c = c / np.linalg.norm(c)
    axis = np.cross([0.0, 0.0, 1.0], c)
    s, cos = np.linalg.norm(axis), c[2]
    if s < 1e-15:
        return pts if cos > 0 else -pts
    k = axis / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rot = np.eye(3) + s * kx + (1 - cos) * kx @ kx
    pts = pts @ rot.T
    return pts / np.linalg.norm(pts, axis=1, keepdims=True)


def clustered_points(n, seed, fraction=0.9, radius=0.05):
    """A strongly clustered cloud: ``fraction`` of the points in a small cap, the rest uniform."""
    m = int(fraction * n)
    centre = uniform_points(1, seed + 1000)[0]
    return np.concatenate([cap_points(m, radius, seed, centre), uniform_points(n - m, seed + 1)])


def reference_knn(x, k):
    """cKDTree k nearest neighbours of every point, self excluded.

    Returns (neighbours (n, k) int, distances (n, k) chord, kth (n,) the k-th distance, after (n,)
    the (k+1)-th distance or inf). With duplicate points, ``self`` may not be among the points
    returned (all at distance 0), so it is removed by index when present, else the first is dropped
    (also at distance 0).
    """
    n = len(x)
    kk = min(k + 2, n)
    dist, idx = cKDTree(x).query(x, kk)
    is_self = idx == np.arange(n)[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), 0)
    keep = np.ones((n, kk), dtype=bool)
    keep[np.arange(n), drop] = False
    idx = idx[keep].reshape(n, kk - 1)
    dist = dist[keep].reshape(n, kk - 1)
    after = dist[:, k] if kk - 1 > k else np.full(n, np.inf)
    return idx[:, :k].astype(np.int64), dist[:, :k], dist[:, k - 1].copy(), after


def directed_union(neighbours, n):
    """The 0/1 matrix of the undirected union of the directed edges i → neighbours[i]."""
    rows = np.repeat(np.arange(n), neighbours.shape[1])
    a = sp.csr_matrix((np.ones(rows.size), (rows, neighbours.ravel())), shape=(n, n))
    a.data[:] = 1.0
    return a.maximum(a.T).tocsr()


def chord_sq(x, i, j):
    return ((x[i] - x[j]) ** 2).sum(axis=1)


def gaussian(sq_dist, width):
    return np.exp(-LN2 * sq_dist / width**2)


def assert_weights_follow_kernel(weights, x, width, rtol=1e-13):
    """Every stored weight w_ij equals exp(−ln 2 · |x_i − x_j|² / σ²) recomputed with numpy."""
    coo = weights.tocoo()
    expected = gaussian(chord_sq(x, coo.row, coo.col), width)
    np.testing.assert_allclose(coo.data, expected, rtol=rtol, atol=0)


def assert_exactly_symmetric(weights):
    w = sp.csr_matrix(weights)
    assert (w != w.T).nnz == 0
    assert not w.diagonal().any()
