"""Tests of the log-degree graph learning model (Kalofolias 2016; Kalofolias & Perraudin 2019)."""

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp

from deepsphere.analysis import (
    edge_f_measure,
    learn_graph,
    learn_graph_report,
    log_degree_graph,
    theta_for_k,
)
from deepsphere.graph import SphereGraph, knn_graph
from deepsphere.sampling import HEALPix


def all_pairs(n):
    i, j = np.triu_indices(n, k=1)
    return np.stack([i, j], axis=1)


def squared_distances(x, edges):
    return ((x[edges[:, 0]] - x[edges[:, 1]]) ** 2).sum(axis=1)


def edge_gradient(w, z, edges, n, alpha, beta):
    """∂f/∂w_e = 2 z_e − α (1/d_i + 1/d_j) + 2 β w_e of f(w) = 2zᵀw − α Σ log d + β‖w‖²."""
    degree = np.bincount(edges.ravel(), weights=np.repeat(w, 2), minlength=n)
    return 2 * z - alpha * (1 / degree[edges[:, 0]] + 1 / degree[edges[:, 1]]) + 2 * beta * w


def edge_set(graph):
    coo = sp.triu(graph.weights, k=1).tocoo()
    return set(zip(coo.row.tolist(), coo.col.tolist(), strict=True))


def gmrf_signals(graph, n_signals, rng, epsilon=0.1):
    """Signals of precision L + ε λmax I on the graph: smooth on it."""
    eigenvalues, eigenvectors = graph.fourier_basis()
    scale = (np.clip(eigenvalues, 0, None) + epsilon * eigenvalues[-1]) ** -0.5
    noise = rng.standard_normal((graph.n_vertices, n_signals))
    return eigenvectors @ (scale[:, None] * (eigenvectors.T @ noise))


# --- the solver ----------------------------------------------------------------------------------------


def test_solution_satisfies_kkt_conditions():
    rng = np.random.default_rng(1)
    n, alpha, beta = 40, 1.3, 0.7
    x = rng.standard_normal((n, 4))
    edges = all_pairs(n)
    z = squared_distances(x, edges)
    result = log_degree_graph(z, edges, n, alpha=alpha, beta=beta, max_iter=50_000, tol=1e-10)
    assert result.converged
    w = result.weights
    gradient = edge_gradient(w, z, edges, n, alpha, beta)
    active = w > 0
    assert 0.05 < active.mean() < 0.6  # a sparse graph, with both kinds of edges to check
    scale = np.abs(2 * z).max()
    assert np.abs(gradient[active]).max() < 1e-6 * scale  # stationarity on the support
    assert gradient[~active].min() > -1e-6 * scale  # no descent direction into w_e > 0
    degree = np.bincount(edges.ravel(), weights=np.repeat(w, 2), minlength=n)
    np.testing.assert_allclose(result.dual, -alpha / degree, rtol=1e-5)  # the dual is ∇(−α log)


def test_matches_scipy_lbfgsb_on_a_tiny_problem():
    rng = np.random.default_rng(2)
    n, alpha, beta = 8, 2.0, 0.5
    x = rng.uniform(size=(n, 3))
    edges = all_pairs(n)
    z = squared_distances(x, edges)
    result = log_degree_graph(z, edges, n, alpha=alpha, beta=beta, max_iter=50_000, tol=1e-11)

    def objective(w):
        degree = np.bincount(edges.ravel(), weights=np.repeat(w, 2), minlength=n)
        value = 2 * z @ w - alpha * np.log(degree).sum() + beta * w @ w
        return value, edge_gradient(w, z, edges, n, alpha, beta)

    reference = scipy.optimize.minimize(
        objective,
        np.full(len(z), 0.5),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0, None)] * len(z),
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000},
    )
    assert reference.success
    np.testing.assert_allclose(result.weights, reference.x, atol=1e-5 * reference.x.max())
    assert result.objective[-1] == pytest.approx(reference.fun, rel=1e-9)


def test_theta_scaling_of_alpha_and_beta():
    # W*(Z, α, β) = sqrt(α/β) W*(θ Z, 1, 1), θ = 1/sqrt(αβ): substitute W = sqrt(α/β) W' and divide by α.
    rng = np.random.default_rng(3)
    n, alpha, beta = 30, 3.0, 0.4
    x = rng.standard_normal((n, 5))
    edges = all_pairs(n)
    z = squared_distances(x, edges)
    general = log_degree_graph(z, edges, n, alpha=alpha, beta=beta, max_iter=50_000, tol=1e-10)
    scaled = log_degree_graph(z / np.sqrt(alpha * beta), edges, n, max_iter=50_000, tol=1e-10)
    np.testing.assert_allclose(general.weights, np.sqrt(alpha / beta) * scaled.weights, atol=1e-7)


def test_objective_decreases_to_its_final_value():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((50, 3))
    edges = all_pairs(50)
    result = log_degree_graph(squared_distances(x, edges), edges, 50, tol=1e-8, max_iter=20_000)
    finite = result.objective[np.isfinite(result.objective)]
    assert np.isfinite(result.objective[-len(finite) :]).all()  # once every degree is > 0, it stays so
    assert finite[-1] <= finite.min() + 1e-9 * abs(finite[-1])
    assert finite[len(finite) // 2] - finite[-1] < 1e-3 * (finite[0] - finite[-1])


def test_stopping_early_is_reported():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 3))
    result = log_degree_graph(squared_distances(x, all_pairs(40)), all_pairs(40), 40, max_iter=3)
    assert not result.converged and result.n_iter == 3 and len(result.objective) == 3
    with pytest.warns(RuntimeWarning, match="max_iter=3"):
        learn_graph(x, k=4, max_iter=3)


# --- the choice of θ -----------------------------------------------------------------------------------


def single_node_weights(z, theta):
    """argmin_{w ≥ 0} θ wᵀz − log(1ᵀw) + ½‖w‖², the one-node problem of the ICLR paper, from its KKT
    conditions: ``w_j = max(0, λ − θ z_j)`` with ``λ 1ᵀw = 1``, λ found by root finding (brentq)."""
    excess = lambda lam: lam * np.maximum(lam - theta * z, 0).sum() - 1  # noqa: E731  increasing in λ
    lam = scipy.optimize.brentq(excess, theta * z.min(), theta * z.min() + 10.0, xtol=1e-14)
    return np.maximum(lam - theta * z, 0)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_theta_interval_gives_k_edges_to_one_node(k):
    z = np.sort(np.random.default_rng(k).uniform(0.5, 3.0, size=9))
    theta, theta_min, theta_max = theta_for_k(z[None, :], k)
    assert theta_min < theta < theta_max
    count = lambda t: int((single_node_weights(z, t) > 1e-6).sum())  # noqa: E731
    assert count(theta) == k
    assert count(1.02 * theta_min) == k and count(0.98 * theta_max) == k
    assert count(0.9 * theta_min) > k  # below the interval: more edges
    assert count(1.1 * theta_max) < k  # above it: fewer


def test_theta_hand_computed_and_averaged_over_nodes():
    # z = (1, 2, 3, 4), k = 2: b_2 = 3, θ ∈ [1/sqrt(2·9 − 3·3), 1/sqrt(2·4 − 3·2)] = [1/3, 1/sqrt(2)].
    # z = (2, 4, 6, 8) is twice that: bounds halve. Nodes are averaged, the θ is their geometric middle.
    z = np.array([[1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0]])
    theta, theta_min, theta_max = theta_for_k(z, 2)
    assert theta_min == pytest.approx((1 / 3 + 1 / 6) / 2)
    assert theta_max == pytest.approx((1 / np.sqrt(2) + 1 / np.sqrt(8)) / 2)
    assert theta == pytest.approx(np.sqrt(theta_min * theta_max))
    # Tied distances give an infinite bound: that node is left out of the average.
    tied = np.vstack([z, [[1.0, 1.0, 1.0, 1.0]]])
    assert theta_for_k(tied, 2) == pytest.approx((theta, theta_min, theta_max))
    # k = 1 has no upper end.
    theta1, low1, high1 = theta_for_k(z, 1)
    assert high1 == np.inf and theta1 == pytest.approx(1.1 * low1)


@pytest.mark.parametrize(("dims", "k"), [(3, 4), (3, 8), (3, 12), (10, 4), (10, 8)])
def test_automatic_theta_gives_about_k_edges_per_node(dims, k):
    x = np.random.default_rng(dims + k).standard_normal((300, dims))
    graph = learn_graph(x, k=k)
    mean_degree = 2 * graph.n_edges / graph.n_vertices
    assert abs(mean_degree - k) < 0.1 * k  # measured: within 4 % for k = 2…12
    assert (graph.degree > 0).all()


def test_larger_theta_is_sparser():
    x = np.random.default_rng(6).standard_normal((200, 3))
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    theta = theta_for_k(np.sort(d, axis=1)[:, 1:13], 6)[0]  # column 0 is the node itself
    edges = [learn_graph(x, k=6, theta=t * theta).n_edges for t in (0.5, 1.0, 2.0, 4.0)]
    assert edges == sorted(edges, reverse=True) and edges[0] > edges[-1]


# --- learning a known graph ----------------------------------------------------------------------------


def test_recovers_a_healpix_graph_from_smooth_signals():
    sampling = HEALPix(4)
    truth = knn_graph(sampling, k=8)
    x = gmrf_signals(truth, 500, np.random.default_rng(0))
    learned = learn_graph(x, k=8)
    baseline = knn_graph_of_rows(x, 8)
    precision, recall, f = edge_f_measure(learned, truth)
    base_precision, _, base_f = edge_f_measure(baseline, truth)
    # Measured (seeds 0-2): F = 0.86-0.87 learned, 0.81-0.84 for the k-NN graph of the signals.
    assert f > 0.82 and precision > 0.85 and recall > 0.8
    assert f > base_f + 0.015
    assert precision > base_precision + 0.05


def knn_graph_of_rows(x, k):
    """Union of each row's k nearest rows (brute force), as an independent baseline."""
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1)[:, :k]
    rows = np.repeat(np.arange(len(x)), k)
    pattern = sp.csr_matrix((np.ones(rows.size), (rows, nearest.ravel())), shape=d.shape)
    return SphereGraph((pattern + pattern.T).sign())


def test_coordinates_choose_the_candidates_and_stay_with_the_graph():
    sampling = HEALPix(4)
    truth = knn_graph(sampling, k=8)
    x = gmrf_signals(truth, 100, np.random.default_rng(7))
    learned = learn_graph(x, k=8, n_candidates=12, coords=sampling.coords)
    np.testing.assert_array_equal(learned.coords, sampling.coords)
    candidates = knn_graph(sampling, k=12)
    assert edge_set(learned) <= edge_set(candidates)
    # Sphere candidates keep out the far pairs that 100 noisy signals let into the signals' own k-NN.
    assert edge_f_measure(learned, truth)[0] > edge_f_measure(learn_graph(x, k=8), truth)[0]


def test_explicit_candidates_as_pairs_or_matrix():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((80, 3))
    candidates = knn_graph_of_rows(x, 10)
    coo = sp.triu(candidates.weights, k=1).tocoo()
    pairs = np.stack([coo.col, coo.row], axis=1)  # either order within a pair
    from_pairs = learn_graph(x, k=4, candidates=pairs)
    from_matrix = learn_graph(x, k=4, candidates=candidates.weights)
    assert edge_set(from_pairs) <= edge_set(candidates)
    assert abs(from_pairs.weights - from_matrix.weights).max() == 0
    # The same candidates found by the default k-NN search give the same graph.
    np.testing.assert_allclose(
        learn_graph(x, k=4, n_candidates=10).weights.toarray(), from_pairs.weights.toarray()
    )


def test_edge_f_measure_by_hand():
    a = sp.csr_matrix(np.array([[0, 1, 1, 0], [1, 0, 0, 0], [1, 0, 0, 1], [0, 0, 1, 0]], dtype=float))
    b = sp.csr_matrix(np.array([[0, 2, 0, 0], [2, 0, 1, 0], [0, 1, 0, 3], [0, 0, 3, 0]], dtype=float))
    precision, recall, f = edge_f_measure(SphereGraph(a), b)  # a: 01 02 23; b: 01 12 23
    assert (precision, recall) == (2 / 3, 2 / 3) and f == pytest.approx(2 / 3)
    assert edge_f_measure(sp.csr_matrix((4, 4)), b) == (0.0, 0.0, 0.0)


# --- the report ----------------------------------------------------------------------------------------


def test_report_writes_json_and_figures(tmp_path, capsys):
    report = learn_graph_report(tmp_path, nside=4, k=8, n_signals=500, seed=0)
    files = {name: Path(path) for name, path in report["files"].items()}
    assert all(path.parent == tmp_path for path in files.values())
    assert all(path.stat().st_size > 1000 for path in files.values())
    assert json.loads(files["json"].read_text()) == report
    assert files["graphs"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["n_nodes"] == 192 and report["converged"]
    assert (
        report["learned"]["f_measure"] > 0.82 and report["learned"]["f_measure"] > report["knn"]["f_measure"]
    )
    assert abs(report["learned"]["mean_degree"] - 8) < 0.8
    assert report["theta_interval"][0] < report["theta"] < report["theta_interval"][1]
    assert len(report["objective"]) == report["iterations"]
    assert "log model, k=8" in capsys.readouterr().out
    with pytest.raises(FileExistsError, match="overwrite"):
        learn_graph_report(tmp_path, nside=2, k=4, n_signals=50)
    again = learn_graph_report(tmp_path, nside=2, k=4, n_signals=50, overwrite=True)
    assert json.loads(files["json"].read_text())["n_nodes"] == again["n_nodes"] == 48


# --- bad inputs ----------------------------------------------------------------------------------------


def test_learn_graph_rejects_bad_inputs():
    x = np.random.default_rng(9).standard_normal((20, 3))
    with pytest.raises(ValueError, match=r"signals must have shape \(n_nodes, n_signals\)"):
        learn_graph(x[:, 0])
    nan = x.copy()
    nan[[3, 7], 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite values at 2 nodes .first: node 3"):
        learn_graph(nan)
    with pytest.raises(TypeError, match="signals must be a real array"):
        learn_graph(x.astype(complex))
    with pytest.raises(ValueError, match=r"k must be in \[1, 18\], got 0"):
        learn_graph(x, k=0)
    with pytest.raises(ValueError, match=r"k must be in \[1, 18\], got 19"):
        learn_graph(x, k=19)
    with pytest.raises(TypeError, match="k must be an integer"):
        learn_graph(x, k=4.0)
    with pytest.raises(ValueError, match=r"n_candidates must be in \[5, 19\], got 4"):
        learn_graph(x, k=4, n_candidates=4)
    with pytest.raises(ValueError, match="n_candidates or candidates, not both"):
        learn_graph(x, k=4, n_candidates=8, candidates=all_pairs(20))
    with pytest.raises(ValueError, match="node 3 has 0 candidate edges; .* needs at least 5"):
        learn_graph(x, k=4, candidates=np.array([[0, 1], [1, 2]]))
    with pytest.raises(ValueError, match="theta must be a finite number > 0, got -1"):
        learn_graph(x, theta=-1.0)
    with pytest.raises(ValueError, match=r"coords must have shape \(20, 3\)"):
        learn_graph(x, k=4, coords=np.ones((19, 3)))
    with pytest.raises(ValueError, match=r"candidates must be a \(20, 20\) matrix"):
        learn_graph(x, k=4, candidates=sp.eye(19, format="csr"))
    with pytest.raises(ValueError, match="at least 3 nodes"):
        learn_graph(x[:2])


def test_solver_and_theta_reject_bad_inputs():
    edges, z = all_pairs(4), np.ones(6)
    with pytest.raises(ValueError, match="must not join a node to itself"):
        log_degree_graph(np.ones(2), np.array([[0, 1], [2, 2]]), 4)
    with pytest.raises(ValueError, match="each pair of nodes once"):
        log_degree_graph(np.ones(2), np.array([[0, 1], [1, 0]]), 4)
    with pytest.raises(ValueError, match=r"index nodes in \[0, 4\), got \[0, 4\]"):
        log_degree_graph(np.ones(2), np.array([[0, 1], [1, 4]]), 4)
    with pytest.raises(ValueError, match=r"edges must have shape \(m, 2\)"):
        log_degree_graph(z, edges.T, 4)
    with pytest.raises(TypeError, match="edges must be integer"):
        log_degree_graph(z, edges.astype(float), 4)
    with pytest.raises(ValueError, match=r"z must have shape \(6,\)"):
        log_degree_graph(np.ones(5), edges, 4)
    with pytest.raises(ValueError, match="z must be non-negative"):
        log_degree_graph(-z, edges, 4)
    with pytest.raises(ValueError, match="z has 1 NaN"):
        log_degree_graph(np.r_[z[:5], np.nan], edges, 4)
    with pytest.raises(ValueError, match="node 4 has none"):
        log_degree_graph(z, edges, 5)
    with pytest.raises(ValueError, match="alpha must be a finite number > 0, got 0"):
        log_degree_graph(z, edges, 4, alpha=0)
    with pytest.raises(ValueError, match="tol must be a finite number > 0"):
        log_degree_graph(z, edges, 4, tol=np.nan)
    with pytest.raises(ValueError, match=r"max_iter must be ≥ 1, got 0"):
        log_degree_graph(z, edges, 4, max_iter=0)
    rows = np.array([[1.0, 2.0, 3.0, 4.0]])
    with pytest.raises(ValueError, match=r"k must be in \[1, 3\], got 4"):
        theta_for_k(rows, 4)
    with pytest.raises(ValueError, match="sorted ascending"):
        theta_for_k(rows[:, ::-1], 2)
    with pytest.raises(ValueError, match="finite and non-negative"):
        theta_for_k(-rows, 2)
    with pytest.raises(ValueError, match=r"shape \(n_nodes, K\)"):
        theta_for_k(rows[0], 2)
    with pytest.raises(ValueError, match="constant or duplicated"):
        theta_for_k(np.ones((3, 4)), 2)
    with pytest.raises(TypeError, match="learned must be a SphereGraph or a square scipy.sparse"):
        edge_f_measure(np.eye(3), sp.eye(3))
    with pytest.raises(ValueError, match="learned has 3 nodes, reference has 4"):
        edge_f_measure(sp.eye(3), sp.eye(4))


def test_report_rejects_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match=r"nside must be in \[1, 16\], got 32"):
        learn_graph_report(tmp_path, nside=32)
    with pytest.raises(ValueError, match="n_signals must be ≥ 1, got 0"):
        learn_graph_report(tmp_path, nside=2, n_signals=0)
    with pytest.raises(ValueError, match="epsilon must be a finite number > 0"):
        learn_graph_report(tmp_path, nside=2, epsilon=0.0)
    with pytest.raises(ValueError, match=r"k must be in \[1, 23\], got 24"):
        learn_graph_report(tmp_path, nside=2, k=24)
    assert not any(tmp_path.iterdir())
