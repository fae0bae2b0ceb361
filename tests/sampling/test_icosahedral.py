"""Tests of the icosahedral sampling against independent geometric facts."""

import numpy as np
import pytest
from scipy.spatial import SphericalVoronoi

from deepsphere.sampling import Icosahedral
from deepsphere.sampling.icosahedral import MAX_LEVEL, icosahedral_mesh

LEVELS = range(0, 6)


def nvert(level):
    return 10 * 4**level + 2


def mesh_edges(faces):
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(e, axis=1), axis=0)


@pytest.mark.parametrize("level", LEVELS)
def test_counts_and_euler_characteristic(level):
    s = Icosahedral(level)
    assert s.npix == s.npix_full == nvert(level)
    assert s.coords.shape == (nvert(level), 3)
    assert s.faces.shape == (20 * 4**level, 3)
    nedges = len(mesh_edges(s.faces))
    assert nedges == 30 * 4**level
    assert s.npix - nedges + len(s.faces) == 2


@pytest.mark.parametrize("level", LEVELS)
def test_every_vertex_has_5_or_6_neighbours(level):
    s = Icosahedral(level)
    degree = np.bincount(mesh_edges(s.faces).ravel(), minlength=s.npix)
    assert set(np.unique(degree)) <= {5, 6}
    assert np.flatnonzero(degree == 5).tolist() == list(range(12))  # the icosahedron's vertices


def test_base_icosahedron_is_regular_with_a_vertex_at_the_north_pole():
    s = Icosahedral(0)
    np.testing.assert_allclose(s.coords[0], [0, 0, 1], atol=1e-15)
    np.testing.assert_allclose(s.coords[11], [0, 0, -1], atol=1e-15)
    np.testing.assert_allclose(s.lat[1:6], np.arctan(0.5), rtol=1e-14)
    np.testing.assert_allclose(s.lon[1:6], np.deg2rad([0, 72, 144, 216, 288]), atol=1e-14)
    edges = mesh_edges(s.faces)
    length = np.linalg.norm(s.coords[edges[:, 0]] - s.coords[edges[:, 1]], axis=1)
    # edge of the icosahedron inscribed in the unit sphere: 4 / sqrt(10 + 2 sqrt 5)
    np.testing.assert_allclose(length, 4 / np.sqrt(10 + 2 * np.sqrt(5)), rtol=1e-14)
    np.testing.assert_allclose(s.area, 4 * np.pi / 12, rtol=1e-13)


@pytest.mark.parametrize("level", range(1, 6))
def test_coarse_vertices_are_a_prefix_and_new_ones_are_edge_midpoints(level):
    fine, coarse = icosahedral_mesh(level), icosahedral_mesh(level - 1)
    n = len(coarse.vertices)
    np.testing.assert_array_equal(fine.vertices[:n], coarse.vertices)
    # one new vertex per coarse edge, ordered by the sorted edge (a, b), a < b
    np.testing.assert_array_equal(fine.edges, mesh_edges(coarse.faces))
    mid = coarse.vertices[fine.edges[:, 0]] + coarse.vertices[fine.edges[:, 1]]
    np.testing.assert_allclose(fine.vertices[n:], mid / np.linalg.norm(mid, axis=1)[:, None])


@pytest.mark.parametrize("level", LEVELS)
def test_coords_are_unit_vectors_and_faces_point_outward(level):
    s = Icosahedral(level)
    np.testing.assert_allclose(np.linalg.norm(s.coords, axis=1), 1, rtol=1e-14)
    v = s.coords[s.faces]
    normal = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    assert np.all(np.einsum("ij,ij->i", normal, v.mean(axis=1)) > 0)
    # every edge is shared by exactly two faces, traversed once in each direction
    directed = np.concatenate([s.faces[:, [0, 1]], s.faces[:, [1, 2]], s.faces[:, [2, 0]]])
    assert len(np.unique(directed, axis=0)) == len(directed)


def test_arrays_are_read_only():
    s = Icosahedral(2)
    for a in (s.coords, s.area, s.faces, *icosahedral_mesh(2)):
        assert not a.flags.writeable


@pytest.mark.parametrize("level", LEVELS)
def test_areas_positive_sum_to_4pi_and_nearly_equal(level):
    area = Icosahedral(level).area
    assert np.all(area > 0)
    np.testing.assert_allclose(area.sum(), 4 * np.pi, rtol=1e-10)
    assert area.max() / area.min() < 1.37
    assert set(np.argsort(area)[:12].tolist()) == set(range(12))  # the 5-neighbour vertices


@pytest.mark.parametrize("level", [1, 3, 4])
def test_areas_equal_scipy_spherical_voronoi(level):
    s = Icosahedral(level)
    ref = SphericalVoronoi(s.coords).calculate_areas()
    np.testing.assert_allclose(s.area, ref, rtol=1e-9)


@pytest.mark.parametrize("level", range(1, 6))
def test_parent_is_an_endpoint_and_groups_are_balanced(level):
    fine = Icosahedral(level)
    coarse, parent = fine.coarsen()
    n = nvert(level - 1)
    assert coarse == Icosahedral(level - 1)
    assert parent.shape == (fine.npix,) and parent.dtype == np.int64
    np.testing.assert_array_equal(parent[:n], np.arange(n))  # coarse vertices: their own parents
    edges = icosahedral_mesh(level).edges
    assert np.all((parent[n:] == edges[:, 0]) | (parent[n:] == edges[:, 1]))
    np.testing.assert_array_equal(parent[n:], icosahedral_mesh(level).parents)
    # a midpoint's parent is its nearest coarse vertex up to the edge's two (equidistant) ends
    assert np.all(np.einsum("ij,ij->i", fine.coords, coarse.coords[parent]) > np.cos(0.6))
    size = np.bincount(parent, minlength=n)
    assert (size.min(), size.max()) == (3, 4)
    assert np.count_nonzero(size == 3) == 6
    assert size.mean() == pytest.approx(nvert(level) / nvert(level - 1), rel=1e-15)


@pytest.mark.parametrize("level", [1, 3, 5])
def test_pooled_midpoints_alternate_around_their_parent_in_the_bulk(level):
    # In the cyclically oriented bulk a coarse vertex pools every other neighbour (120° apart): its
    # pooled midpoints are pairwise non-adjacent in the fine mesh. The exceptions are the sources of
    # the non-cyclic coarse faces (two consecutive owned edges), 6 at level 0, doubling per level.
    fine, n = Icosahedral(level), nvert(level - 1)
    parent = fine.coarsen()[1]
    edges = mesh_edges(fine.faces)
    both_mid = (edges[:, 0] >= n) & (edges[:, 1] >= n)
    same_parent = parent[edges[:, 0]] == parent[edges[:, 1]]
    touching = np.unique(parent[edges[both_mid & same_parent, 0]])
    assert len(touching) == 6 * 2 ** (level - 1)


def test_multi_level_coarsening_composes_parents():
    s = Icosahedral(4)
    coarse, parent = s.coarsen(levels=3)
    assert coarse == Icosahedral(1)
    p = np.arange(s.npix)
    for level in (4, 3, 2):
        p = Icosahedral(level).coarsen()[1][p]
    np.testing.assert_array_equal(parent, p)
    np.testing.assert_array_equal(coarse.coords, s.coords[: coarse.npix])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_partial_sky_coarsening_keeps_coarse_vertices_with_a_kept_child(seed):
    rng = np.random.default_rng(seed)
    full = Icosahedral(4)
    full_parent = full.coarsen()[1]
    # a spherical cap plus scattered pixels
    centre = rng.normal(size=3)
    centre /= np.linalg.norm(centre)
    in_cap = full.coords @ centre > np.cos(rng.uniform(0.3, 1.2))
    idx = np.flatnonzero(in_cap | (rng.random(full.npix) < 0.05))
    part = Icosahedral(4, indices=idx)
    coarse, parent = part.coarsen()
    np.testing.assert_array_equal(coarse.indices, np.unique(full_parent[idx]))
    np.testing.assert_array_equal(coarse.indices[parent], full_parent[idx])
    np.testing.assert_array_equal(part.area, full.area[idx])
    np.testing.assert_array_equal(coarse.coords, full.coords[coarse.indices])


def test_partial_sky_faces_are_renumbered_kept_faces():
    full = Icosahedral(3)
    rng = np.random.default_rng(7)
    idx = np.flatnonzero(full.coords[:, 2] > rng.uniform(-0.5, 0.5))
    part = Icosahedral(3, indices=idx)
    kept = np.all(np.isin(full.faces, idx), axis=1)
    np.testing.assert_array_equal(idx[part.faces], full.faces[kept])


def test_level_0_cannot_coarsen():
    s = Icosahedral(0)
    assert not s.can_coarsen
    with pytest.raises(ValueError, match="level=0"):
        s.coarsen()


@pytest.mark.parametrize("level", [-1, 1.0, 2.5, True, "3", None, MAX_LEVEL + 1])
def test_bad_level_raises(level):
    with pytest.raises(ValueError, match="level"):
        Icosahedral(level)


def test_equality_hash_repr():
    assert Icosahedral(2) == Icosahedral(np.int64(2))
    assert hash(Icosahedral(2)) == hash(Icosahedral(2))
    assert Icosahedral(2) != Icosahedral(3)
    assert Icosahedral(2, indices=[1, 5]) != Icosahedral(2)
    assert Icosahedral(2, indices=[1, 5]).with_indices([1, 5]) == Icosahedral(2, indices=[1, 5])
    assert repr(Icosahedral(1)) == "Icosahedral(level=1)"
