"""Learning a graph from smooth signals: the log-degree model, at large scale.

Given signals ``x_i ∈ R^d`` on ``n`` nodes (one row per node), the graph whose signals are smoothest is the
weight matrix ``W`` (symmetric, non-negative, zero diagonal) that minimises (Kalofolias 2016, "How to learn
a graph from smooth signals", AISTATS)

    ‖W ∘ Z‖₁,₁ − α 1ᵀ log(W 1) + (β/2) ‖W‖_F²,      Z_ij = ‖x_i − x_j‖²,

since ``‖W ∘ Z‖₁,₁ = 2 tr(Xᵀ L X)`` is the smoothness of the signals on the graph; the log barrier keeps
every degree positive and the Frobenius term controls sparsity. Written over the vector ``w`` of the
weights of the ``m`` candidate edges, with the degree operator ``S: R^m → R^n`` (``(S w)_i = Σ_{e ∋ i}
w_e``, adjoint ``(Sᵀ v)_e = v_i + v_j``), the objective is

    f(w) = 2 zᵀw − α Σ_i log (S w)_i + β ‖w‖²,      w ≥ 0,

solved by the forward–backward–forward primal-dual algorithm of Komodakis & Pesquet (2015) as in
Kalofolias (2016): O(m) work per iteration. Kalofolias & Perraudin (2019, "Large scale graph learning from
smooth signals", ICLR) make it scale by keeping only k-nearest-neighbour candidate edges and remove the
two parameters: ``W*(Z, α, β) = sqrt(α/β) W*(θ Z, 1, 1)`` with ``θ = 1/sqrt(αβ)``, and the θ that gives
about ``k`` edges per node has a closed-form interval (:func:`theta_for_k`).
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from ..data import atomic_write
from ..graph import SphereGraph, knn_graph
from ..sampling import HEALPix

# Step of the primal-dual iteration as a fraction of its bound 1/μ (μ = 2β + ‖S‖): 0.9 took 190
# iterations to tol = 1e-5 on a 768-node HEALPix problem, 0.5 took 334 (same solution to 2e-4).
STEP_FRACTION = 0.9
# Edges per block when computing ‖x_i − x_j‖² (bounds the temporary to ~32 MB for d = 64 signals).
EDGE_BLOCK = 65_536


@dataclass(frozen=True)
class LogDegreeResult:
    """The solution of :func:`log_degree_graph`.

    Attributes
    ----------
    weights : ndarray (m,)
        Optimal weight of each candidate edge, ≥ 0; edges outside the support are exactly 0.
    dual : ndarray (n,)
        The dual variable, ``−α / degree`` at the optimum.
    objective : ndarray (n_iter,)
        ``f(w)`` of the iterate after each iteration (``inf`` while some node has degree 0).
    n_iter : int
    converged : bool
        Whether the relative changes of the primal and dual variables fell below ``tol``.
    """

    weights: np.ndarray
    dual: np.ndarray
    objective: np.ndarray
    n_iter: int
    converged: bool


def log_degree_graph(
    z: np.ndarray,
    edges: np.ndarray,
    n_nodes: int,
    alpha: float = 1.0,
    beta: float = 1.0,
    max_iter: int = 2000,
    tol: float = 1e-5,
) -> LogDegreeResult:
    """Solve the log-degree graph learning problem on given candidate edges.

    Minimises ``f(w) = 2 zᵀw − α Σ_i log (S w)_i + β ‖w‖²`` over ``w ≥ 0`` (the matrix objective
    ``‖W ∘ Z‖₁,₁ − α 1ᵀ log(W 1) + (β/2)‖W‖_F²`` restricted to the candidate edges) with the
    forward–backward–forward primal-dual iteration, step ``γ = 0.9 / (2β + ‖S‖)`` (``‖S‖ ≤ sqrt(2 max
    degree)`` of the candidate graph). It starts from each edge's mean weight in the one-node problems of
    its two ends (every row of the matrix objective solved alone, in closed form: Kalofolias & Perraudin
    2019), and the dual ``v = −α / (S w)``: on scattered 3-D points this took 5–10× fewer iterations than
    ``w = 0``. It stops when both
    ``‖w_{t+1} − w_t‖ / ‖w_t‖`` and ``‖v_{t+1} − v_t‖ / ‖v_t‖`` (dual ``v``) are below ``tol``.

    Parameters
    ----------
    z : ndarray (m,)
        Non-negative distance of each candidate edge, e.g. ``‖x_i − x_j‖²``.
    edges : ndarray (m, 2) int
        The candidate edges ``(i, j)``, ``i ≠ j``, each pair once, nodes in ``[0, n_nodes)``.
    n_nodes : int
        Number of nodes; every node needs at least one candidate edge (else its degree is 0).
    alpha, beta : float
        Weights of the log-degree barrier and of the Frobenius term, > 0.
    max_iter : int
    tol : float

    Returns
    -------
    LogDegreeResult

    Examples
    --------
    >>> r = log_degree_graph(np.array([1.0, 1.0, 1.0]), np.array([[0, 1], [1, 2], [0, 2]]), 3)
    >>> np.round(r.weights, 4)  # a triangle: 2 − 1/w + 2w = 0 at the optimum, w = (√3 − 1)/2
    array([0.366, 0.366, 0.366])
    """
    n_nodes = _check_int("n_nodes", n_nodes, low=2)
    edges = _check_edges(edges, n_nodes)
    z = _check_vector("z", z, len(edges))
    if (z < 0).any():
        raise ValueError(f"z must be non-negative distances, got minimum {z.min():.6g}")
    alpha = _check_positive("alpha", alpha)
    beta = _check_positive("beta", beta)
    max_iter = _check_int("max_iter", max_iter, low=1)
    tol = _check_positive("tol", tol)
    n_edges_at = np.bincount(edges.ravel(), minlength=n_nodes)
    if (n_edges_at == 0).any():
        raise ValueError(
            f"every node needs a candidate edge, node {int(np.argmin(n_edges_at))} has none "
            "(its degree would be 0 and log(0) = −∞)"
        )

    degree_op = _degree_operator(edges, n_nodes)
    adjoint = degree_op.T.tocsr()
    gamma = STEP_FRACTION / (2 * beta + np.sqrt(2.0 * n_edges_at.max()))
    w = _one_node_start(z, edges, n_nodes, alpha, beta)
    v = -alpha / (degree_op @ w)
    objective = np.empty(max_iter)
    converged = False
    for it in range(max_iter):
        y = w - gamma * (2 * beta * w + adjoint @ v)
        y_dual = v + gamma * (degree_op @ w)
        p = np.maximum(y - 2 * gamma * z, 0.0)  # prox of 2zᵀw + ι(w ≥ 0)
        p_dual = (y_dual - np.sqrt(y_dual**2 + 4 * alpha * gamma)) / 2  # prox of (−α Σ log)*
        q = p - gamma * (2 * beta * p + adjoint @ p_dual)
        q_dual = p_dual + gamma * (degree_op @ p)
        change, change_dual = q - y, q_dual - y_dual
        objective[it] = _objective(p, z, degree_op, alpha, beta)
        primal_small = np.linalg.norm(change) <= tol * np.linalg.norm(w)
        dual_small = np.linalg.norm(change_dual) <= tol * np.linalg.norm(v)
        w, v = w + change, v + change_dual
        if primal_small and dual_small:
            converged = True
            break
    return LogDegreeResult(p, v, objective[: it + 1], it + 1, converged)


def theta_for_k(z_sorted: np.ndarray, k: int) -> tuple[float, float, float]:
    """The θ for which the log model with ``α = β = 1`` on ``θ Z`` keeps about ``k`` edges per node.

    For one node with sorted distances ``z_1 ≤ z_2 ≤ …`` the problem ``min_{w ≥ 0} θ wᵀz − log(1ᵀw) +
    ½‖w‖²`` has the solution ``w_j = max(0, λ − θ z_j)``, ``λ = 1 / 1ᵀw``; it has exactly ``k`` non-zero
    weights iff (Kalofolias & Perraudin 2019)

        1 / sqrt(k z_{k+1}² − b_k z_{k+1})  ≤  θ  <  1 / sqrt(k z_k² − b_k z_k),      b_k = Σ_{j ≤ k} z_j.

    Each bound is averaged over the nodes (nodes whose bound is infinite, from tied distances, are left
    out of that average), and ``θ = sqrt(θ_min θ_max)``, the geometric middle of the interval. With
    ``k = 1`` the interval has no upper end and ``θ = 1.1 θ_min``.

    Parameters
    ----------
    z_sorted : ndarray (n, K)
        Each node's distances to its candidate neighbours, ascending along rows, ``K ≥ k + 1``.
    k : int
        Wanted edges per node, ``1 ≤ k < K``.

    Returns
    -------
    (theta, theta_min, theta_max) : tuple of float
        ``theta_max`` is ``inf`` when no node has a finite upper bound.

    Examples
    --------
    >>> z = np.array([[1.0, 2.0, 3.0, 4.0]])  # k = 2: b_2 = 3, bounds 1/sqrt(2·9 − 9), 1/sqrt(2·4 − 6)
    >>> [round(t, 6) for t in theta_for_k(z, 2)]
    [0.485492, 0.333333, 0.707107]
    """
    z_sorted = np.asarray(z_sorted, dtype=np.float64)
    if z_sorted.ndim != 2 or z_sorted.shape[0] < 1 or z_sorted.shape[1] < 2:
        raise ValueError(f"z_sorted must have shape (n_nodes, K) with K ≥ 2, got {z_sorted.shape}")
    k = _check_int("k", k, low=1, high=z_sorted.shape[1] - 1)
    if not np.isfinite(z_sorted).all() or (z_sorted < 0).any():
        raise ValueError("z_sorted must be finite and non-negative")
    if (np.diff(z_sorted, axis=1) < 0).any():
        raise ValueError("z_sorted must be sorted ascending along each row")
    b_k = z_sorted[:, :k].sum(axis=1)
    upper = _bound(k, b_k, z_sorted[:, k - 1])
    lower = _bound(k, b_k, z_sorted[:, k])
    if not np.isfinite(lower).any():
        raise ValueError(
            f"no node's {k + 1} nearest distances are distinct: θ cannot select {k} edges "
            "(are the signals constant or duplicated?)"
        )
    theta_min = float(lower[np.isfinite(lower)].mean())
    theta_max = float(upper[np.isfinite(upper)].mean()) if np.isfinite(upper).any() else np.inf
    theta = np.sqrt(theta_min * theta_max) if np.isfinite(theta_max) else 1.1 * theta_min
    return float(theta), theta_min, theta_max


def _bound(k: int, b_k: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``1 / sqrt(k z² − b_k z)``, infinite where the root's argument vanishes (tied distances)."""
    value = k * z**2 - b_k * z
    tied = value <= 1e-12 * k * z**2
    return np.where(tied, np.inf, 1.0 / np.sqrt(np.where(tied, 1.0, value)))


def learn_graph(
    signals: np.ndarray,
    k: int = 8,
    n_candidates: int | None = None,
    candidates: Any = None,
    theta: float | None = None,
    max_iter: int = 2000,
    tol: float = 1e-5,
    coords: np.ndarray | None = None,
) -> SphereGraph:
    """Learn a sparse graph on which the signals are smooth (Kalofolias & Perraudin 2019).

    Candidate edges: the given ``candidates``; else the ``n_candidates`` nearest neighbours of each node
    on the sphere when ``coords`` are given; else those of the signals' rows (``scipy.spatial.cKDTree``,
    Euclidean). Their ``z_ij = ‖x_i − x_j‖²`` times ``θ`` enter :func:`log_degree_graph` with
    ``α = β = 1``; ``θ`` defaults to :func:`theta_for_k` of each node's ``k + 1`` nearest candidates.

    Parameters
    ----------
    signals : ndarray (n_nodes, n_signals)
        Row i holds the values of every signal at node i. Finite.
    k : int
        Wanted mean number of edges per node, ``1 ≤ k ≤ n_nodes − 2``.
    n_candidates : int, optional
        Candidate neighbours per node, ``k + 1 ≤ n_candidates ≤ n_nodes − 1``; default ``min(2k,
        n_nodes − 1)``. Not with ``candidates``.
    candidates : ndarray (m, 2) int or scipy.sparse matrix (n_nodes, n_nodes), optional
        Candidate edges as node pairs, or the non-zero pattern of a matrix (e.g. a graph's ``weights``).
    theta : float, optional
        Sparsity parameter θ > 0 (larger: sparser); default from ``k``.
    max_iter, tol : int, float
        Iteration limit and relative tolerance of the solver; a RuntimeWarning says when it stops early.
    coords : ndarray (n_nodes, 3), optional
        Unit vectors of the nodes, kept in the returned graph.

    Returns
    -------
    SphereGraph
        The learned weights (scale set by θ: ``W = W*(θ Z, 1, 1)``), with ``coords``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((60, 3))  # 60 points in R^3: the graph joins near neighbours
    >>> g = learn_graph(x, k=4)
    >>> 3 < 2 * g.n_edges / g.n_vertices < 5
    True
    """
    x = _check_signals(signals)
    n = len(x)
    if n < 3:
        raise ValueError(f"signals must have at least 3 nodes (rows), got {n}")
    k = _check_int("k", k, low=1, high=n - 2)
    if coords is not None:
        coords = np.asarray(coords, dtype=np.float64)
        if coords.shape != (n, 3):
            raise ValueError(f"coords must have shape ({n}, 3) like the signals' rows, got {coords.shape}")
    if theta is not None:
        theta = _check_positive("theta", theta)
    edges = _candidate_edges(x, k, n_candidates, candidates, coords)
    result, _ = _learn(x, edges, k, theta, max_iter, tol)
    if not result.converged:
        warnings.warn(
            f"graph learning stopped after max_iter={max_iter} iterations before reaching tol={tol}",
            RuntimeWarning,
            stacklevel=2,
        )
    return SphereGraph(_weight_matrix(result.weights, edges, n), coords=coords)


def _learn(
    x: np.ndarray, edges: np.ndarray, k: int, theta: float | None, max_iter: int, tol: float
) -> tuple[LogDegreeResult, tuple[float, float, float]]:
    """Solve on the candidate edges; θ from k unless given. Returns the result and (θ, θ_min, θ_max)."""
    z = _squared_distances(x, edges)
    interval = (theta, np.nan, np.nan)
    if theta is None:
        interval = theta_for_k(_nearest_candidates(z, edges, len(x), k + 1), k)
    return log_degree_graph(interval[0] * z, edges, len(x), max_iter=max_iter, tol=tol), interval


def edge_f_measure(learned: Any, reference: Any) -> tuple[float, float, float]:
    """Precision, recall and F-measure of the edges of ``learned`` against those of ``reference``.

    An edge is a pair ``{i, j}`` with a non-zero weight. ``precision = |L ∩ R| / |L|``, ``recall =
    |L ∩ R| / |R|``, ``F = 2 P R / (P + R)`` (0 when P + R = 0; precision 0 for an empty ``learned``).

    Parameters
    ----------
    learned, reference : SphereGraph or scipy.sparse matrix (n, n)
        Two graphs on the same n nodes (only the upper triangle is read).

    Examples
    --------
    >>> a = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0], [1, 0, 0]]))
    >>> b = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]))
    >>> edge_f_measure(a, b)
    (0.5, 0.5, 0.5)
    """
    learned_keys, n = _edge_keys(learned, "learned")
    reference_keys, n_reference = _edge_keys(reference, "reference")
    if n != n_reference:
        raise ValueError(f"learned has {n} nodes, reference has {n_reference}: they must be equal")
    hits = len(np.intersect1d(learned_keys, reference_keys, assume_unique=True))
    precision = hits / len(learned_keys) if len(learned_keys) else 0.0
    recall = hits / len(reference_keys) if len(reference_keys) else 0.0
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return float(precision), float(recall), float(f)


def learn_graph_report(
    out_dir: str | Path,
    nside: int = 8,
    k: int = 8,
    n_signals: int = 500,
    epsilon: float = 0.1,
    seed: int | np.random.Generator = 0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Recover a known sphere graph from signals smooth on it; write a JSON and figures.

    The true graph is the k-NN graph (``deepsphere.graph.knn_graph``, k = 8) of HEALPix ``nside``. Its
    Laplacian ``L = U Λ Uᵀ`` draws ``n_signals`` Gaussian signals ``X = U (Λ + ε λ_max I)^{-1/2} Uᵀ Ξ``
    (``Ξ`` white noise: a Gaussian Markov random field of precision ``L + ε λ_max I``). The graph is then
    learned from ``X`` alone (k-NN candidates of the rows, ``2k`` per node, θ from ``k``) and compared,
    edge by edge, with the true graph and with the plain k-NN graph of the rows of ``X``.

    Writes into ``out_dir``: ``graph_learning.json`` (parameters, scores, θ, the objective per
    iteration), ``graph_learning_graphs.png`` (true, learned and k-NN graphs on an orthographic view),
    ``graph_learning_objective.png`` and ``graph_learning_weights.png`` (histogram of the learned
    weights on true and on false edges). Prints a short table and where the files went.

    Parameters
    ----------
    out_dir : str or Path
    nside : int
        HEALPix resolution, 1 to 16 (the signals need a dense eigendecomposition of 12·nside² nodes).
    k : int
        Wanted edges per node of the learned graph (also the k of the baseline).
    n_signals : int
        Number of signals (columns of X), ≥ 1.
    epsilon : float
        ε > 0; smaller is smoother.
    seed : int or numpy.random.Generator
    overwrite : bool
        Replace existing report files (else FileExistsError before any work).

    Returns
    -------
    dict
        The content of the JSON file.
    """
    nside = _check_int("nside", nside, low=1, high=16)
    n_signals = _check_int("n_signals", n_signals, low=1)
    epsilon = _check_positive("epsilon", epsilon)
    sampling = HEALPix(nside)
    k = _check_int("k", k, low=1, high=(sampling.npix - 1) // 2)
    out_dir = Path(out_dir)
    names = ("json", "graphs", "objective", "weights")
    paths = {
        name: out_dir / f"graph_learning{'.json' if name == 'json' else '_' + name + '.png'}"
        for name in names
    }
    for path in paths.values():
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    _import_matplotlib()
    rng = np.random.default_rng(seed)

    truth = knn_graph(sampling, k=8)
    eigenvalues, eigenvectors = truth.fourier_basis()
    scale = (np.clip(eigenvalues, 0.0, None) + epsilon * eigenvalues[-1]) ** -0.5
    x = eigenvectors @ (scale[:, None] * (eigenvectors.T @ rng.standard_normal((sampling.npix, n_signals))))

    start = time.perf_counter()
    edges = _candidate_edges(x, k, None, None, None)
    result, (theta, theta_min, theta_max) = _learn(x, edges, k, None, max_iter=2000, tol=1e-5)
    seconds = time.perf_counter() - start
    learned = _weight_matrix(result.weights, edges, len(x))
    baseline = _pattern(_knn_edges(x, k), len(x))
    scores = {
        "learned": edge_f_measure(learned, truth.weights),
        "knn": edge_f_measure(baseline, truth.weights),
    }
    report = {
        "nside": nside,
        "n_nodes": sampling.npix,
        "true_edges": truth.n_edges,
        "k": k,
        "n_signals": n_signals,
        "epsilon": epsilon,
        "seed": int(seed) if isinstance(seed, (int, np.integer)) else None,
        "theta": theta,
        "theta_interval": [theta_min, theta_max],
        "n_candidates_per_node": min(2 * k, len(x) - 1),
        "candidate_edges": len(edges),
        "candidate_recall": edge_f_measure(_pattern(edges, len(x)), truth.weights)[1],
        "iterations": result.n_iter,
        "converged": result.converged,
        "seconds": seconds,
        "objective": [float(v) if np.isfinite(v) else None for v in result.objective],
    }
    for name, matrix in (("learned", learned), ("knn", baseline)):
        precision, recall, f = scores[name]
        n_edges = matrix.nnz // 2
        report[name] = {"edges": n_edges, "mean_degree": 2 * n_edges / len(x), "precision": precision}
        report[name].update(recall=recall, f_measure=f)
    report["files"] = {name: str(path) for name, path in paths.items()}

    atomic_write(paths["json"], lambda tmp: tmp.write_text(json.dumps(report, indent=1)), overwrite)
    graphs = {
        "true (k-NN of pixels)": truth.weights,
        f"learned (k={k})": learned,
        "k-NN of signals": baseline,
    }
    _save(_graphs_figure(sampling.coords, graphs), paths["graphs"], overwrite)
    _save(_objective_figure(result.objective), paths["objective"], overwrite)
    _save(_weights_figure(learned, truth.weights), paths["weights"], overwrite)
    _print_report(report)
    return report


# --- input checks ------------------------------------------------------------------------------------


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"≥ {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {bounds}, got {value}")
    return int(value)


def _check_positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return float(value)


def _check_vector(name: str, value: Any, length: int) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},), one value per edge, got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} has {int((~np.isfinite(array)).sum())} NaN or infinite values")
    return array


def _check_signals(signals: Any) -> np.ndarray:
    x = np.asarray(signals)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise TypeError(f"signals must be a real array, got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(
            f"signals must have shape (n_nodes, n_signals), got {x.shape} (one signal: reshape(-1, 1))"
        )
    x = x.astype(np.float64)
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise ValueError(
            f"signals have NaN or infinite values at {int(bad.sum())} nodes "
            f"(first: node {int(np.argmax(bad))})"
        )
    return x


def _check_edges(edges: Any, n_nodes: int) -> np.ndarray:
    array = np.asarray(edges)
    if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0:
        raise ValueError(f"edges must have shape (m, 2) with m ≥ 1, got {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"edges must be integer node indices, got dtype {array.dtype}")
    if array.min() < 0 or array.max() >= n_nodes:
        raise ValueError(f"edges must index nodes in [0, {n_nodes}), got [{array.min()}, {array.max()}]")
    if (array[:, 0] == array[:, 1]).any():
        raise ValueError("edges must not join a node to itself")
    keys = np.minimum(array[:, 0], array[:, 1]) * n_nodes + np.maximum(array[:, 0], array[:, 1])
    if len(np.unique(keys)) != len(keys):
        raise ValueError("edges must list each pair of nodes once")
    return array.astype(np.int64)


# --- candidate edges and distances -------------------------------------------------------------------


def _candidate_edges(
    x: np.ndarray, k: int, n_candidates: Any, candidates: Any, coords: np.ndarray | None
) -> np.ndarray:
    """Unique pairs (i < j), shape (m, 2), from the arguments of :func:`learn_graph`."""
    n = len(x)
    if candidates is not None:
        if n_candidates is not None:
            raise ValueError("pass n_candidates or candidates, not both")
        if sp.issparse(candidates):
            if candidates.shape != (n, n):
                raise ValueError(f"candidates must be a ({n}, {n}) matrix, got shape {candidates.shape}")
            pattern = abs(sp.csr_matrix(candidates))
            pattern = pattern + pattern.T
            pattern.eliminate_zeros()
            return _check_edges(_upper_edges(pattern), n)
        edges = _check_edges(candidates, n)
        return np.sort(edges, axis=1)
    count = (
        min(2 * k, n - 1) if n_candidates is None else _check_int("n_candidates", n_candidates, k + 1, n - 1)
    )
    if coords is not None:
        return _upper_edges(knn_graph(coords, k=count).weights)
    return _knn_edges(x, count)


def _knn_edges(x: np.ndarray, count: int) -> np.ndarray:
    """Union of the directed ``count``-nearest-neighbour edges of the rows of x, as pairs i < j."""
    n = len(x)
    _, neighbours = cKDTree(x).query(x, k=count + 1)
    is_self = neighbours == np.arange(n)[:, None]
    # Each row holds itself once, unless duplicated rows displaced it: then drop the farthest instead.
    order = np.argsort(is_self, axis=1, kind="stable")
    neighbours = np.take_along_axis(neighbours, order, axis=1)[:, :count]
    rows = np.repeat(np.arange(n), count)
    cols = neighbours.ravel()
    keys = np.unique(np.minimum(rows, cols) * n + np.maximum(rows, cols))
    return np.stack([keys // n, keys % n], axis=1)


def _upper_edges(matrix: sp.spmatrix) -> np.ndarray:
    coo = sp.triu(matrix, k=1).tocoo()
    return np.stack([coo.row, coo.col], axis=1).astype(np.int64)


def _squared_distances(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``‖x_i − x_j‖²`` for each edge, computed in blocks of edges."""
    z = np.empty(len(edges))
    for start in range(0, len(edges), EDGE_BLOCK):
        block = edges[start : start + EDGE_BLOCK]
        diff = x[block[:, 0]] - x[block[:, 1]]
        z[start : start + EDGE_BLOCK] = np.einsum("ij,ij->i", diff, diff)
    return z


def _nearest_candidates(z: np.ndarray, edges: np.ndarray, n: int, count: int) -> np.ndarray:
    """Each node's ``count`` smallest candidate distances, ascending: shape (n, count)."""
    nodes = edges.T.ravel()
    values = np.concatenate([z, z])
    order = np.lexsort((values, nodes))
    per_node = np.bincount(nodes, minlength=n)
    if per_node.min() < count:
        node = int(np.argmin(per_node))
        raise ValueError(
            f"node {node} has {per_node[node]} candidate edges; choosing θ for k = {count - 1} needs "
            f"at least {count} per node (pass more candidates, or theta)"
        )
    starts = np.concatenate([[0], np.cumsum(per_node)[:-1]])
    return values[order][starts[:, None] + np.arange(count)]


def _one_node_start(z: np.ndarray, edges: np.ndarray, n: int, alpha: float, beta: float) -> np.ndarray:
    """Each edge's mean weight in the one-node problems of its two ends.

    Row i of the objective alone, ``min_{w ≥ 0} Σ_j z_j w_j − α log Σ_j w_j + (β/2) Σ_j w_j²``, is solved by
    ``w_j = max(0, λ − z_j) / β`` with ``λ = α / Σ_j w_j``: over the ``c`` nearest candidates,
    ``c λ² − b_c λ − αβ = 0`` (``b_c`` the sum of their z), and ``c`` is the largest count with ``λ > z_c``.
    """
    nodes = edges.T.ravel()
    values = np.concatenate([z, z])
    edge_ids = np.concatenate([np.arange(len(z)), np.arange(len(z))])
    order = np.lexsort((values, nodes))
    nodes, values, edge_ids = nodes[order], values[order], edge_ids[order]
    starts = np.concatenate([[0], np.cumsum(np.bincount(nodes, minlength=n))[:-1]])
    count = np.arange(1, len(values) + 1) - starts[nodes]  # rank of each value within its node, from 1
    partial = np.cumsum(values)
    partial -= (partial[starts] - values[starts])[nodes]  # b_c: running sum within each node
    lam = (partial + np.sqrt(partial**2 + 4 * count * alpha * beta)) / (2 * count)
    active = np.maximum.reduceat(np.where(lam > values, count, 0), starts)  # ≥ 1: λ_1 > z_1 always
    weights = np.maximum(lam[starts + active - 1][nodes] - values, 0.0) / beta
    return np.bincount(edge_ids, weights=weights / 2, minlength=len(z))


# --- graphs as matrices ------------------------------------------------------------------------------


def _degree_operator(edges: np.ndarray, n: int) -> sp.csr_matrix:
    """S (n, m): ``(S w)_i = Σ_{e ∋ i} w_e``."""
    m = len(edges)
    columns = np.concatenate([np.arange(m), np.arange(m)])
    return sp.csr_matrix((np.ones(2 * m), (edges.T.ravel(), columns)), shape=(n, m))


def _objective(w: np.ndarray, z: np.ndarray, degree_op: sp.csr_matrix, alpha: float, beta: float) -> float:
    degree = degree_op @ w
    if degree.min() <= 0:
        return np.inf
    return float(2 * z @ w - alpha * np.log(degree).sum() + beta * w @ w)


def _weight_matrix(weights: np.ndarray, edges: np.ndarray, n: int) -> sp.csr_matrix:
    keep = weights > 0
    rows, cols, values = edges[keep, 0], edges[keep, 1], weights[keep]
    upper = sp.coo_matrix((values, (rows, cols)), shape=(n, n))
    return (upper + upper.T).tocsr()


def _pattern(edges: np.ndarray, n: int) -> sp.csr_matrix:
    return _weight_matrix(np.ones(len(edges)), edges, n)


def _edge_keys(graph: Any, name: str) -> tuple[np.ndarray, int]:
    matrix = graph.weights if isinstance(graph, SphereGraph) else graph
    if not sp.issparse(matrix) or matrix.shape[0] != matrix.shape[1]:
        raise TypeError(
            f"{name} must be a SphereGraph or a square scipy.sparse matrix, got {type(graph).__name__}"
        )
    coo = sp.triu(matrix, k=1).tocoo()
    keep = coo.data != 0
    n = matrix.shape[0]
    return np.unique(coo.row[keep].astype(np.int64) * n + coo.col[keep]), n


# --- figures and printout ----------------------------------------------------------------------------


def _import_matplotlib() -> Any:
    try:
        import matplotlib.figure
    except ImportError as err:
        raise ImportError(
            "the graph learning figures need matplotlib: pip install 'deepsphere[plot]'"
        ) from err
    return matplotlib.figure


def _graphs_figure(
    coords: np.ndarray, graphs: dict[str, sp.spmatrix], lat: float = 0.5, lon: float = 0.7
) -> Any:
    """Edges drawn on an orthographic view of the sphere seen from (lat, lon) radians; width ∝ weight."""
    from matplotlib.collections import LineCollection

    figure = _import_matplotlib().Figure(figsize=(4.2 * len(graphs), 4.4))
    view = np.array([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    east = np.array([-np.sin(lon), np.cos(lon), 0.0])
    north = np.cross(view, east)
    plane = np.stack([coords @ east, coords @ north], axis=1)
    visible = coords @ view > 0
    for index, (title, matrix) in enumerate(graphs.items()):
        ax = figure.add_subplot(1, len(graphs), index + 1)
        coo = sp.triu(matrix, k=1).tocoo()
        shown = visible[coo.row] & visible[coo.col]
        segments = np.stack([plane[coo.row[shown]], plane[coo.col[shown]]], axis=1)
        weights = coo.data[shown]
        widths = 0.6 if np.ptp(coo.data) == 0 else 0.2 + 1.6 * weights / coo.data.max()
        ax.add_collection(LineCollection(segments, linewidths=widths, colors="tab:blue", alpha=0.8))
        ax.scatter(*plane[visible].T, s=2, color="black", zorder=3)
        angle = np.linspace(0, 2 * np.pi, 200)
        ax.plot(np.cos(angle), np.sin(angle), color="gray", linewidth=0.8)
        ax.set_title(f"{title}: {coo.nnz} edges", fontsize=10)
        ax.set_xlim(-1.05, 1.05)
        ax.set_ylim(-1.05, 1.05)
        ax.set_aspect("equal")
        ax.axis("off")
    figure.tight_layout()
    return figure


def _objective_figure(objective: np.ndarray) -> Any:
    figure = _import_matplotlib().Figure(figsize=(5, 3.5))
    ax = figure.add_subplot()
    iterations = np.arange(1, len(objective))
    gap = objective[:-1] - objective[-1]
    shown = np.isfinite(gap) & (gap > 0)
    ax.semilogy(iterations[shown], gap[shown])
    ax.set_xlabel("iteration t")
    ax.set_ylabel("f(w_t) − f(w_last)")
    ax.set_title("log-degree model: objective")
    figure.tight_layout()
    return figure


def _weights_figure(learned: sp.spmatrix, truth: sp.spmatrix) -> Any:
    figure = _import_matplotlib().Figure(figsize=(5, 3.5))
    ax = figure.add_subplot()
    coo = sp.triu(learned, k=1).tocoo()
    on_truth = np.asarray(sp.triu(truth, k=1).tocsr()[coo.row, coo.col]).ravel() != 0
    bins = np.linspace(0, coo.data.max(), 40)
    ax.hist(coo.data[on_truth], bins=bins, alpha=0.7, label=f"true edges ({on_truth.sum()})")
    ax.hist(coo.data[~on_truth], bins=bins, alpha=0.7, label=f"false edges ({(~on_truth).sum()})")
    ax.set_xlabel("learned weight")
    ax.set_ylabel("edges")
    ax.legend()
    figure.tight_layout()
    return figure


def _save(figure: Any, path: Path, overwrite: bool) -> None:
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110), overwrite)


def _print_report(report: dict[str, Any]) -> None:
    print(
        f"graph learning on HEALPix nside={report['nside']} ({report['n_nodes']} nodes, "
        f"{report['true_edges']} true edges), {report['n_signals']} smooth signals"
    )
    print(f"{'method':<18}{'edges':>7}{'degree':>8}{'precision':>11}{'recall':>8}{'F':>7}")
    for name, label in (("learned", f"log model, k={report['k']}"), ("knn", "k-NN of signals")):
        row = report[name]
        print(
            f"{label:<18}{row['edges']:>7}{row['mean_degree']:>8.2f}{row['precision']:>11.3f}"
            f"{row['recall']:>8.3f}{row['f_measure']:>7.3f}"
        )
    low, high = report["theta_interval"]
    state = "converged" if report["converged"] else "not converged"
    print(
        f"θ = {report['theta']:.4g} in [{low:.4g}, {high:.4g}]; {report['iterations']} iterations ({state}), "
        f"{report['seconds']:.2f} s"
    )
    for path in report["files"].values():
        print(f"wrote {path}")
