"""Tests of the equiangular gnomonic cubed sphere."""

import numpy as np
import pytest

from deepsphere.sampling import CubedSphere

# The documented face orientation (centre, α axis, β axis), written out independently of the module.
FACES = {
    0: ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    1: ((0, 1, 0), (-1, 0, 0), (0, 0, 1)),
    2: ((-1, 0, 0), (0, -1, 0), (0, 0, 1)),
    3: ((0, -1, 0), (1, 0, 0), (0, 0, 1)),
    4: ((0, 0, 1), (0, 1, 0), (-1, 0, 0)),
    5: ((0, 0, -1), (0, 1, 0), (1, 0, 0)),
}


def angle(u, v):
    return np.arctan2(np.linalg.norm(np.cross(u, v), axis=-1), np.sum(u * v, axis=-1))


def face_angles(coords, face):
    """(α, β) of unit vectors on ``face`` from the documented orientation."""
    c, a, b = (np.array(v, dtype=float) for v in FACES[face])
    return np.arctan2(coords @ a, coords @ c), np.arctan2(coords @ b, coords @ c)


def triangle_solid_angle(p, q, r):
    """Van Oosterom & Strackee (1983)."""
    num = np.abs(np.einsum("ij,ij->i", p, np.cross(q, r)))
    den = 1 + np.einsum("ij,ij->i", p, q) + np.einsum("ij,ij->i", q, r) + np.einsum("ij,ij->i", r, p)
    return 2 * np.arctan2(num, den)


@pytest.mark.parametrize("n", [1, 2, 3, 8, 33])
def test_basic_geometry(n):
    s = CubedSphere(n)
    assert s.npix == s.npix_full == 6 * n * n
    np.testing.assert_allclose(np.linalg.norm(s.coords, axis=1), 1.0, atol=1e-15)
    assert np.all((s.lon >= 0) & (s.lon < 2 * np.pi))
    assert np.all((s.lat >= -np.pi / 2) & (s.lat <= np.pi / 2))
    assert np.all(s.area > 0)
    assert abs(s.area.sum() - 4 * np.pi) < 1e-12
    assert len(np.unique(np.round(s.coords, 12), axis=0)) == s.npix  # distinct centres


def test_one_pixel_per_face():
    s = CubedSphere(1)
    np.testing.assert_allclose(s.area, 4 * np.pi / 6, rtol=1e-15)
    expected = np.array([FACES[f][0] for f in range(6)], dtype=float)
    np.testing.assert_allclose(s.coords, expected, atol=1e-15)


def test_pixel_order_and_face_orientation():
    n = 5
    s = CubedSphere(n)
    centres = -np.pi / 4 + (np.arange(n) + 0.5) * np.pi / (2 * n)
    for f in range(6):
        rows = np.arange(f * n * n, (f + 1) * n * n)
        j, i = np.divmod(rows - f * n * n, n)
        alpha, beta = face_angles(s.coords[rows], f)
        np.testing.assert_allclose(alpha, centres[i], atol=1e-14)
        np.testing.assert_allclose(beta, centres[j], atol=1e-14)
        c, a, b = (np.array(v) for v in FACES[f])
        assert np.array_equal(np.cross(a, b), c)  # right-handed seen from outside
        # the pixel centres of face f are nearer to its centre than to any other face centre
        dots = s.coords[rows] @ np.array([FACES[g][0] for g in range(6)], dtype=float).T
        assert np.all(np.argmax(dots, axis=1) == f)


def test_faces_are_congruent():
    n = 6
    s = CubedSphere(n)
    per_face = s.area.reshape(6, n * n)
    gram0 = s.coords[: n * n] @ s.coords[: n * n].T
    for f in range(1, 6):
        np.testing.assert_allclose(np.sort(per_face[f]), np.sort(per_face[0]), rtol=1e-14)
        block = s.coords[f * n * n : (f + 1) * n * n]
        np.testing.assert_allclose(block @ block.T, gram0, atol=1e-14)  # same pixel layout
    # area symmetry within a face and the expected corner/centre ratio sign
    face = per_face[0].reshape(n, n)
    np.testing.assert_allclose(face, face[::-1], rtol=1e-13)
    np.testing.assert_allclose(face, face.T, rtol=1e-13)
    assert face[0, 0] < face[n // 2, n // 2]


@pytest.mark.parametrize("n", [1, 3, 7])
def test_areas_match_spherical_quadrilaterals(n):
    # Cell edges are great circles, so each cell is a spherical quadrilateral with the corners
    # (c + tan α a + tan β b) normalised at the edge angles; its area is the solid angles of two
    # spherical triangles.
    s = CubedSphere(n)
    edges = np.tan(-np.pi / 4 + np.arange(n + 1) * np.pi / (2 * n))
    rng = np.random.default_rng(6)
    pix = rng.choice(s.npix, size=min(s.npix, 40), replace=False)
    f, rest = np.divmod(pix, n * n)
    j, i = np.divmod(rest, n)
    axes = np.array([FACES[g] for g in range(6)], dtype=float)
    c, a, b = axes[f, 0], axes[f, 1], axes[f, 2]

    def corner(di, dj):
        v = c + edges[i + di, None] * a + edges[j + dj, None] * b
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    p00, p10, p11, p01 = corner(0, 0), corner(1, 0), corner(1, 1), corner(0, 1)
    expected = triangle_solid_angle(p00, p10, p11) + triangle_solid_angle(p00, p11, p01)
    np.testing.assert_allclose(s.area[pix], expected, rtol=1e-12)


@pytest.mark.parametrize("n", [2, 6, 16])
def test_coarsening_full(n):
    s = CubedSphere(n)
    coarse, parent = s.coarsen()
    assert coarse == CubedSphere(n // 2)
    assert parent.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(parent, minlength=coarse.npix), 4)
    np.testing.assert_array_equal(parent // (n // 2) ** 2, np.arange(s.npix) // n**2)  # same face
    # cells nest exactly: the children's areas add up to their parent's
    np.testing.assert_allclose(np.bincount(parent, weights=s.area), coarse.area, rtol=1e-12)
    # each child centre lies inside its parent cell (in face angles) ...
    m = n // 2
    f, rest = np.divmod(parent, m * m)
    jp, ip = np.divmod(rest, m)
    for face in range(6):
        rows = f == face
        alpha, beta = face_angles(s.coords[rows], face)
        lo = -np.pi / 4 + np.pi / (2 * m) * np.stack([ip[rows], jp[rows]])
        inside = (np.stack([alpha, beta]) > lo) & (np.stack([alpha, beta]) < lo + np.pi / (2 * m))
        assert np.all(inside)
    # ... and within π / (2n) of the parent centre (a quarter coarse cell in α plus one in β)
    dist = angle(s.coords, coarse.coords[parent])
    assert np.all(dist <= np.pi / (2 * n))
    assert dist.max() > 0.5 * np.pi / (2 * n)


def test_three_levels_reach_the_cube():
    s = CubedSphere(8)
    coarse, parent = s.coarsen(3)
    assert coarse == CubedSphere(1)
    np.testing.assert_array_equal(parent, np.arange(s.npix) // 64)


@pytest.mark.parametrize("n", [1, 3, 5])
def test_cannot_coarsen_odd_n(n):
    s = CubedSphere(n)
    assert not s.can_coarsen
    with pytest.raises(ValueError, match=f"n={n} is odd"):
        s.coarsen()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_partial_sky(seed):
    rng = np.random.default_rng(seed)
    full = CubedSphere(8)
    idx = np.sort(rng.choice(full.npix, size=int(rng.integers(1, 120)), replace=False))
    part = CubedSphere(8, indices=idx)
    assert part == full.with_indices(idx) and part.npix == len(idx)
    np.testing.assert_array_equal(part.coords, full.coords[idx])
    np.testing.assert_array_equal(part.area, full.area[idx])
    full_coarse, full_parent = full.coarsen()
    coarse, parent = part.coarsen()
    np.testing.assert_array_equal(coarse.indices, np.unique(full_parent[idx]))
    np.testing.assert_array_equal(coarse.indices[parent], full_parent[idx])
    np.testing.assert_array_equal(coarse.area, full_coarse.area[coarse.indices])
    # two levels at once agree with two single steps
    coarse2, parent2 = part.coarsen(2)
    step2, p2 = coarse.coarsen()
    assert coarse2 == step2
    np.testing.assert_array_equal(parent2, p2[parent])


@pytest.mark.parametrize(
    "n, match",
    [
        (0, "n must be an integer >= 1, got 0"),
        (-2, "n must be .* got -2"),
        (2.0, "n must be .* got 2.0"),
        (True, "n must be .* got True"),
        ("4", "n must be .* got '4'"),
        (None, "n must be .* got None"),
    ],
)
def test_bad_input(n, match):
    with pytest.raises(ValueError, match=match):
        CubedSphere(n)


def test_bad_indices():
    with pytest.raises(ValueError, match="indices"):
        CubedSphere(2, indices=[5, 3])
