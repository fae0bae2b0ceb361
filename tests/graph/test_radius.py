"""Radius graphs: every pair closer than a geodesic radius, against a brute-force numpy search."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from graph_reference import (
    assert_exactly_symmetric,
    assert_weights_follow_kernel,
    clustered_points,
    uniform_points,
)

from deepsphere.graph import SphereGraph, radius_graph
from deepsphere.sampling import PointCloud


def geodesic_matrix(x):
    """Angles between all pairs of unit vectors (accurate at small angles: atan2, not arccos)."""
    cross = np.linalg.norm(np.cross(x[:, None, :], x[None, :, :]), axis=-1)
    return np.arctan2(cross, x @ x.T)


def brute_force(x, radius):
    angle = geodesic_matrix(x)
    adj = angle < radius
    np.fill_diagonal(adj, False)
    return sp.csr_matrix(adj.astype(float))


def build(x, radius, **kwargs):
    """radius_graph, and the warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = radius_graph(x, radius, **kwargs)
    return g, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


@pytest.mark.parametrize("radius", [0.04, 0.1, 0.25, 0.6])
@pytest.mark.parametrize(
    "points",
    [
        pytest.param(lambda: uniform_points(1500, seed=91), id="uniform"),
        pytest.param(lambda: clustered_points(1500, seed=92, radius=0.3), id="clustered"),
    ],
)
def test_edges_equal_brute_force(points, radius):
    x = points()
    n = len(x)
    g, messages = build(x, radius)
    assert isinstance(g, SphereGraph)
    ref = brute_force(x, radius)
    pat = g.weights.copy()
    pat.data[:] = 1.0
    assert (pat != ref).nnz == 0
    assert g.n_edges == ref.nnz // 2
    assert_exactly_symmetric(g.weights)
    # default width: half the chord of the radius; the weight at the radius would be 1/16
    chord = 2 * np.sin(radius / 2)
    assert g.kernel_width == pytest.approx(chord / 2, rel=1e-14)
    assert_weights_follow_kernel(g.weights, x, chord / 2)
    assert g.weights.data.min() > 1 / 16 * (1 - 1e-12)
    # a warning exactly when some points are isolated, with their number
    isolated = int(np.sum(np.asarray(ref.sum(axis=1)).ravel() == 0))
    if isolated:
        assert len(messages) == 1
        assert messages[0].startswith(f"{isolated} of {n} points have no neighbour")
    else:
        assert messages == []


def test_isolated_points_warn():
    x = np.concatenate([uniform_points(200, seed=93), [[0.0, 0.0, 1.0]]])
    x[:200, 2] = -np.abs(x[:200, 2])  # the north pole is alone in its hemisphere
    x[:200] /= np.linalg.norm(x[:200], axis=1, keepdims=True)
    with pytest.warns(UserWarning, match=r"^1 of 201 points have no neighbour within radius=0\.5"):
        g = radius_graph(x, 0.5)
    assert g.weights.getrow(200).nnz == 0
    assert g.laplacian(normalized=True)[200, 200] == 1.0


def test_no_warning_when_connected():
    x = uniform_points(800, seed=94)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = radius_graph(x, 0.4)
    assert np.diff(g.weights.indptr).min() > 0


def test_radius_pi_is_complete_graph():
    x = uniform_points(60, seed=95)
    g, messages = build(x, np.pi)
    assert messages == []
    assert g.n_edges == 60 * 59 // 2
    assert g.kernel_width == pytest.approx(1.0)  # chord(π) / 2
    assert_weights_follow_kernel(g.weights, x, 1.0)


def test_explicit_width_and_sampling_input():
    x = uniform_points(500, seed=96)
    cloud = PointCloud.from_coords(x)
    g, _ = build(cloud, 0.3, kernel_width=0.07)
    assert g.kernel_width == 0.07
    assert_weights_follow_kernel(g.weights, cloud.coords, 0.07)
    ref = brute_force(cloud.coords, 0.3)
    assert g.n_edges == ref.nnz // 2
    h, _ = build(np.array(cloud.coords), 0.3, kernel_width=0.07)
    assert (g.weights != h.weights).nnz == 0


@pytest.mark.parametrize(
    "radius", [0, 0.0, -0.1, np.pi + 1e-9, 4.0, np.nan, np.inf, "abc", None, [0.1]], ids=repr
)
def test_bad_radius(radius):
    x = uniform_points(50, seed=97)
    with pytest.raises(ValueError, match="radius"):
        radius_graph(x, radius)


def test_bad_coords():
    with pytest.raises(ValueError, match="coords"):
        radius_graph(uniform_points(30, seed=98) * 2, 0.5)
    with pytest.raises(ValueError, match="coords"):
        radius_graph(uniform_points(30, seed=98)[:, :2], 0.5)


@pytest.mark.filterwarnings("ignore:.*have no neighbour within radius")
@pytest.mark.parametrize("radius", ["0.5", True], ids=repr)
def test_radius_refuses_strings_and_bools(radius):
    with pytest.raises(ValueError, match="radius"):
        radius_graph(uniform_points(50, seed=99), radius)


def test_tiny_radius_isolates_everything():
    x = uniform_points(50, seed=100)
    with pytest.warns(UserWarning, match="^50 of 50 points have no neighbour"):
        g = radius_graph(x, 1e-6)
    assert g.n_edges == 0 and g.weights.shape == (50, 50)
    assert g.lmax() == 0.0
