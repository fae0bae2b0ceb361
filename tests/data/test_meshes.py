"""Tests of deepsphere.data.meshes: .obj/.off reading and writing, normalisation, and ray-cast features.

Expected features come from geometry computed in the tests: a ray from ``r·u`` toward the centre meets
the unit sphere after ``r - 1`` along its normal, the cube ``[-1, 1]³`` after ``r - 1/‖u‖∞`` on the face
of normal ``±e_k`` (k the largest component of u), and a sphere of radius a centred at t at
``s = r - (u·t + √((u·t)² - |t|² + a²))``. Parsed meshes are compared with hand-written arrays and with
trimesh's own loader.
"""

import healpy as hp
import numpy as np
import pytest
import trimesh

from deepsphere.data.meshes import (
    FEATURES,
    MeshError,
    has_embree,
    load_mesh,
    normalize_mesh,
    project_mesh,
    save_mesh,
)
from deepsphere.data.shapes import random_primitive
from deepsphere.sampling import HEALPix

ENGINES = ["embree", "triangle"] if has_embree() else ["triangle"]


def _directions(nside=4):
    return HEALPix(nside).coords


# -- features: analytic geometry ------------------------------------------------------------------------


def test_unit_sphere_depth_is_r_minus_one_and_rays_are_normal():
    sphere = trimesh.creation.icosphere(subdivisions=4)  # vertices on the unit sphere, faces just inside
    radius = 1.7
    features = project_mesh(sphere, _directions(8), radius=radius)
    assert features.shape == (768, 6) and features.dtype == np.float32
    sagitta = 1.2e-3  # largest gap between the facets and the sphere at 4 subdivisions
    assert np.all(features[:, 0] >= radius - 1 - 1e-6)
    assert np.all(features[:, 0] <= radius - 1 + sagitta)
    assert np.all(features[:, 1] > 0.999)  # ray ⟂ surface: the facets tilt by at most ~0.04 rad
    assert np.all(features[:, 2] < 0.045)
    np.testing.assert_allclose(features[:, 1] ** 2 + features[:, 2] ** 2, 1, atol=1e-5)
    np.testing.assert_allclose(features[:, 3:], features[:, :3], atol=1e-6)  # convex: hull = mesh


@pytest.mark.parametrize("engine", ENGINES)
def test_cube_features_match_the_faces_hit(engine):
    cube = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    axes = np.vstack([np.eye(3), -np.eye(3)])
    u = np.vstack([axes, _directions(8)])
    radius = 2.0
    features = project_mesh(cube, u, radius=radius, engine=engine)
    largest = np.abs(u).max(axis=1)  # |n·u| on the face of normal ±e_k
    np.testing.assert_allclose(features[:6, 0], radius - 1, atol=1e-6)
    np.testing.assert_allclose(features[:, 0], radius - 1 / largest, atol=1e-6)
    np.testing.assert_allclose(features[:, 1], largest, atol=1e-6)
    np.testing.assert_allclose(features[:, 2], np.sqrt(1 - largest**2), atol=1e-6)
    np.testing.assert_allclose(features[:, 3:], features[:, :3], atol=1e-6)


@pytest.mark.parametrize("engine", ENGINES)
def test_translated_sphere_hits_and_misses(engine):
    a, t, radius = 0.3, np.array([0.45, -0.1, 0.05]), 1.0
    ball = trimesh.creation.icosphere(subdivisions=4, radius=a)
    u = _directions(8)
    features = project_mesh(ball, u, radius=radius, translation=t, engine=engine)
    ut = u @ t
    disc = ut**2 - t @ t + a**2
    hit, miss = disc > 1e-2, disc < -1e-2  # leave out grazing rays, where facets and sphere differ
    assert hit.sum() > 20 and miss.sum() > 200
    depth = radius - (ut[hit] + np.sqrt(disc[hit]))
    np.testing.assert_allclose(features[hit, 0], depth, atol=2e-3)
    point = (radius - depth)[:, None] * u[hit]
    cos = np.abs(np.einsum("ij,ij->i", (point - t) / a, u[hit]))
    np.testing.assert_allclose(features[hit, 1], cos, atol=0.045)  # facets tilt by up to ~0.04 rad
    # a ray that hits nothing: depth = radius, cos = sin = 0 (Cohen et al.'s convention)
    np.testing.assert_array_equal(features[miss, :3], np.tile([radius, 0, 0], (miss.sum(), 1)))


def test_hull_differs_from_a_non_convex_mesh():
    torus = trimesh.creation.torus(major_radius=0.5, minor_radius=0.18, major_sections=24, minor_sections=12)
    up = np.array([[0.0, 0.0, 1.0]])
    u = np.vstack([up, _directions(4)])
    radius = 1.0
    features = project_mesh(torus, u, radius=radius)
    # along the axis the ray passes through the hole: the mesh is missed, the hull's flat top is hit
    np.testing.assert_allclose(features[0, :3], [radius, 0, 0])
    np.testing.assert_allclose(features[0, 3:], [radius - 0.18, 1, 0], atol=1e-6)
    # the hull encloses the mesh: its hits come first (a miss counts as depth = radius)
    assert np.all(features[:, 3] <= features[:, 0] + 1e-6)
    missed = features[:, 1] == 0
    assert missed.sum() > 50 and np.all(features[missed, 3] < radius - 0.1)


@pytest.mark.skipif(len(ENGINES) < 2, reason="embreex is not installed")
@pytest.mark.parametrize("name", ["capsule", "cone", "torus"])
def test_embree_and_triangle_engines_agree(name):
    mesh = normalize_mesh(random_primitive(name, seed=3))
    u = _directions(4)
    embree = project_mesh(mesh, u, engine="embree")
    triangle = project_mesh(mesh, u, engine="triangle")
    np.testing.assert_allclose(embree, triangle, atol=1e-5)


def test_rotating_the_mesh_equals_rotating_the_directions():
    mesh = normalize_mesh(random_primitive("cone", seed=1))
    u = _directions(4)
    rng = np.random.default_rng(7)
    q = rng.standard_normal(4)
    w, x, y, z = q / np.linalg.norm(q)
    rotation = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )
    rotated = project_mesh(mesh, u, rotation=rotation)
    np.testing.assert_allclose(rotated, project_mesh(mesh, u @ rotation), atol=1e-5)  # rows Rᵀu
    assert np.abs(rotated - project_mesh(mesh, u)).max() > 0.05


def test_quarter_turn_permutes_healpix_pixels():
    nside = 4
    mesh = normalize_mesh(random_primitive("capsule", seed=2))
    u = _directions(nside)
    quarter = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # π/2 about z
    moved = (u @ quarter.T).T
    permutation = hp.vec2pix(nside, *moved, nest=True)  # pixel p goes to pixel permutation[p]
    assert np.array_equal(np.sort(permutation), np.arange(len(u)))
    rotated = project_mesh(mesh, u, rotation=quarter)
    np.testing.assert_allclose(rotated[permutation], project_mesh(mesh, u), atol=1e-5)


def test_features_are_named():
    assert FEATURES == ("depth", "cos", "sin", "hull_depth", "hull_cos", "hull_sin")


# -- reading and writing --------------------------------------------------------------------------------

CUBE_OFF = """OFF
# a unit cube with quad faces, as ModelNet writes them
8 6 0
0 0 0
1 0 0
1 1 0
0 1 0
0 0 1
1 0 1
1 1 1
0 1 1
4 0 3 2 1
4 4 5 6 7
4 0 1 5 4
4 1 2 6 5
4 2 3 7 6
4 3 0 4 7
"""


def test_off_with_the_header_merged_into_the_counts_line(tmp_path):
    path = tmp_path / "bed_0001.off"
    path.write_text("OFF4 2 0\n0 0 0\n2 0 0\n2 1 0\n0 1 0\n3 0 1 2\n3 0 2 3\n")
    mesh = load_mesh(path)
    np.testing.assert_array_equal(mesh.vertices, [[0, 0, 0], [2, 0, 0], [2, 1, 0], [0, 1, 0]])
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2], [0, 2, 3]])
    assert mesh.area == pytest.approx(2.0)


def test_off_quads_are_split_into_triangle_fans(tmp_path):
    path = tmp_path / "cube.off"
    path.write_text(CUBE_OFF)
    mesh = load_mesh(path)
    assert mesh.faces.shape == (12, 3)
    np.testing.assert_array_equal(mesh.faces[:2], [[0, 3, 2], [0, 2, 1]])
    assert mesh.area == pytest.approx(6.0)
    assert mesh.is_watertight and mesh.volume == pytest.approx(1.0)
    reference = trimesh.load(path, process=False)
    assert reference.area == pytest.approx(mesh.area)


def test_obj_with_texture_normals_groups_and_negative_indices(tmp_path):
    path = tmp_path / "000007.obj"
    path.write_text(
        "# exported\nmtllib model.mtl\no part\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\n"
        "vt 0 0\nvt 1 0\nvt 1 1\nvn 0 0 1\ng top\nusemtl red\ns off\n"
        "f 1/1/1 2/2/1 3/3/1 4/1/1\n"  # a quad: two triangles
        "v 0 0 1\nf -1 -5 -4\n"  # relative indices: the last vertex, then vertices 1 and 2
    )
    mesh = load_mesh(path)
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2], [0, 2, 3], [4, 0, 1]])
    np.testing.assert_array_equal(mesh.vertices[4], [0, 0, 1])
    assert mesh.area == pytest.approx(1.0 + 0.5)
    reference = trimesh.load(path, force="mesh", process=False)
    assert reference.area == pytest.approx(mesh.area)


@pytest.mark.parametrize("suffix", [".obj", ".off"])
def test_save_then_load_is_exact_and_trimesh_reads_it(tmp_path, suffix):
    mesh = random_primitive("torus", seed=4)
    path = save_mesh(tmp_path / f"torus{suffix}", mesh)
    again = load_mesh(path)
    np.testing.assert_array_equal(again.vertices, mesh.vertices)
    np.testing.assert_array_equal(again.faces, mesh.faces)
    reference = trimesh.load(path, process=False)
    assert reference.area == pytest.approx(mesh.area, rel=1e-12)
    with pytest.raises(FileExistsError, match="overwrite"):
        save_mesh(path, mesh)
    save_mesh(path, trimesh.creation.box(), overwrite=True)
    assert len(load_mesh(path).faces) == 12


def test_zero_area_faces_and_unused_vertices_are_dropped(tmp_path):
    path = tmp_path / "x.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 5 5 5\nv 2 0 0\nf 1 2 3\nf 1 2 5\nf 2 2 3\n")
    mesh = load_mesh(path)
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2]])
    np.testing.assert_array_equal(mesh.vertices, [[0, 0, 0], [1, 0, 0], [0, 1, 0]])


BAD_MESHES = [
    ("empty.obj", "", "no faces"),
    ("empty.off", "", "empty file"),
    ("points.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no faces"),
    ("nan.obj", "v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n", "NaN or infinite"),
    ("flat.obj", "v 0 0 0\nv 1 1 1\nv 2 2 2\nf 1 2 3\n", "zero area"),
    ("missing.obj", "v 0 0 0\nv 1 0 0\nf 1 2 3\n", "missing vertex"),
    ("words.obj", "v 0 zero 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "not numbers"),
    ("short.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n", "truncated"),
    ("ply.off", "ply\nformat ascii 1.0\n", "not an OFF file"),
    ("badcount.off", "OFF\nthree 1 0\n", "bad counts"),
    ("nothing.off", "OFF\n0 0 0\n", "no faces"),
    ("twod.off", "OFF\n3 1 0\n0 0\n1 0\n0 1\n3 0 1 2\n", "does not hold 3 numbers"),
    ("badface.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n", "missing vertex"),
]


@pytest.mark.parametrize(("name", "text", "reason"), BAD_MESHES)
def test_bad_meshes_are_reported_with_their_file_name(tmp_path, name, text, reason):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(MeshError, match=reason) as info:
        load_mesh(path)
    assert name in str(info.value) and info.value.path == path


def test_unreadable_and_unknown_files(tmp_path):
    with pytest.raises(MeshError, match="cannot read") as info:
        load_mesh(tmp_path / "absent.obj")
    assert "absent.obj" in str(info.value)
    with pytest.raises(ValueError, match=r"path must end with one of \('.obj', '.off'\)"):
        load_mesh(tmp_path / "model.stl")
    with pytest.raises(ValueError, match="path must end"):
        save_mesh(tmp_path / "model.ply", trimesh.creation.box())


# -- normalisation ------------------------------------------------------------------------------------


def test_normalize_centres_on_the_area_weighted_centroid_and_scales():
    mesh = random_primitive("cone", seed=5)
    mesh.vertices = np.asarray(mesh.vertices) * 3.0 + [4.0, -2.0, 1.0]
    unit = normalize_mesh(mesh, radius=1.0)
    np.testing.assert_allclose(unit.centroid, 0, atol=1e-12)  # trimesh: area-weighted face centroids
    assert np.linalg.norm(unit.vertices, axis=1).max() == pytest.approx(1.0)
    scale = 1.0 / np.linalg.norm(mesh.vertices - mesh.centroid, axis=1).max()
    np.testing.assert_allclose(unit.vertices, (mesh.vertices - mesh.centroid) * scale, atol=1e-12)
    assert np.linalg.norm(normalize_mesh(mesh).vertices, axis=1).max() == pytest.approx(0.99)
    np.testing.assert_array_equal(mesh.faces, unit.faces)


# -- bad arguments -----------------------------------------------------------------------------------------


def test_project_mesh_rejects_bad_arguments():
    mesh = normalize_mesh(trimesh.creation.box())
    u = _directions(2)
    with pytest.raises(TypeError, match="mesh must be a trimesh.Trimesh, got ndarray"):
        project_mesh(np.zeros((3, 3)), u)
    with pytest.raises(ValueError, match=r"directions must have shape \(npix, 3\).*\(48, 2\)"):
        project_mesh(mesh, u[:, :2])
    with pytest.raises(ValueError, match="directions must be unit vectors"):
        project_mesh(mesh, 2 * u)
    with pytest.raises(ValueError, match="directions has NaN"):
        project_mesh(mesh, np.full((4, 3), np.nan))
    with pytest.raises(ValueError, match="radius must be a finite number > 0, got -1"):
        project_mesh(mesh, u, radius=-1.0)
    with pytest.raises(TypeError, match="radius must be a number, got str"):
        project_mesh(mesh, u, radius="1")
    with pytest.raises(ValueError, match=r"translation must be 3 finite numbers, got shape \(2,\)"):
        project_mesh(mesh, u, translation=[0.1, 0.1])
    with pytest.raises(ValueError, match="rotation must be orthogonal with determinant \\+1"):
        project_mesh(mesh, u, rotation=np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match="rotation must be orthogonal"):
        project_mesh(mesh, u, rotation=2 * np.eye(3))
    with pytest.raises(ValueError, match=r"rotation must be a finite \(3, 3\) matrix"):
        project_mesh(mesh, u, rotation=np.eye(2))
    with pytest.raises(ValueError, match="engine must be one of"):
        project_mesh(mesh, u, engine="optix")
    with pytest.raises(ValueError, match=r"the mesh reaches 1.051 from the centre .* radius=1"):
        project_mesh(mesh, u, translation=[0.1, 0.0, 0.0])
    with pytest.raises(ValueError, match="radius must be a finite number > 0"):
        normalize_mesh(mesh, radius=0)
    with pytest.raises(ValueError, match="mesh has no faces"):
        project_mesh(trimesh.Trimesh(np.eye(3), np.zeros((0, 3), dtype=int), process=False), u)
