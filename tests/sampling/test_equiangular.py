"""Tests of the equiangular samplings (Driscoll-Healy, SOFT, Clenshaw-Curtis)."""

import numpy as np
import pytest
from scipy.special import sph_harm_y

from deepsphere.sampling import Equiangular

KINDS = ("driscoll-healy", "soft", "clenshaw-curtis")
NLATS = {
    "driscoll-healy": (2, 4, 6, 8, 10, 16, 32),
    "soft": (2, 4, 6, 8, 10, 16, 32),
    "clenshaw-curtis": (3, 5, 7, 9, 11, 17, 33),
}
# degree of exactness D: Σ area · P(cos θ) is exact for every polynomial P of degree ≤ D
DEGREE = {
    "driscoll-healy": lambda n: n - 1,
    "soft": lambda n: n - 1,
    "clenshaw-curtis": lambda n: n,
}
# the colatitudes as stated in the literature, written independently of the module
THETA = {
    "driscoll-healy": lambda n: np.pi * np.arange(n) / n,
    "soft": lambda n: np.pi * (2 * np.arange(n) + 1) / (2 * n),
    "clenshaw-curtis": lambda n: np.pi * np.arange(n) / (n - 1),
}


def colatitude(coords):
    return np.arctan2(np.hypot(coords[:, 0], coords[:, 1]), coords[:, 2])


def angle(u, v):
    """Great-circle distance between rows of u and v (numerically stable)."""
    return np.arctan2(np.linalg.norm(np.cross(u, v), axis=-1), np.sum(u * v, axis=-1))


def all_grids():
    rng = np.random.default_rng(0)
    for kind in KINDS:
        for nlat in NLATS[kind][:5]:
            yield kind, nlat, int(rng.integers(1, 20))


@pytest.mark.parametrize("kind, nlat, nlon", list(all_grids()))
def test_basic_geometry(kind, nlat, nlon):
    s = Equiangular(nlat, nlon, kind=kind)
    assert s.npix == s.npix_full == nlat * nlon
    assert s.coords.shape == (nlat * nlon, 3)
    np.testing.assert_allclose(np.linalg.norm(s.coords, axis=1), 1.0, atol=1e-15)
    assert np.all((s.lon >= 0) & (s.lon < 2 * np.pi))
    assert np.all((s.lat >= -np.pi / 2) & (s.lat <= np.pi / 2))
    assert s.area.shape == (s.npix,)
    assert s.area.sum() == pytest.approx(4 * np.pi, abs=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_rows_and_columns(kind):
    nlat, nlon = NLATS[kind][3], 7
    s = Equiangular(nlat, nlon, kind=kind)
    j, k = np.divmod(np.arange(s.npix), nlon)
    theta = THETA[kind](nlat)
    np.testing.assert_allclose(colatitude(s.coords), theta[j], atol=1e-14)
    np.testing.assert_allclose(s.theta, theta, atol=1e-15)
    off_pole = np.sin(theta[j]) > 1e-12
    np.testing.assert_allclose(s.lon[off_pole], (2 * np.pi * k / nlon)[off_pole], atol=1e-13)


def test_pole_rows():
    dh = Equiangular(8, 5, kind="dh")
    assert np.all(dh.coords[:5, 2] == 1.0)  # north pole ring
    assert np.all(dh.coords[:, 2] > -1 + 1e-3)  # no south pole
    assert np.all(dh.area[:5] == 0.0) and np.all(dh.area[5:] > 0)
    soft = Equiangular(8, 5, kind="soft")
    assert np.all(np.abs(soft.coords[:, 2]) < 1 - 1e-3) and np.all(soft.area > 0)
    cc = Equiangular(9, 5, kind="cc")
    assert np.all(cc.coords[:5, 2] == 1.0) and np.all(cc.coords[-5:, 2] == -1.0)
    assert np.all(cc.area > 0)


@pytest.mark.parametrize("kind", KINDS)
def test_polynomial_exactness_and_true_degree(kind):
    for nlat in NLATS[kind]:
        s = Equiangular(nlat, 3, kind=kind)
        z = s.coords[:, 2]
        degree = DEGREE[kind](nlat)
        for m in range(degree + 1):
            exact = 2 * np.pi * (1 + (-1) ** m) / (m + 1)
            assert np.dot(s.area, z**m) == pytest.approx(exact, abs=1e-13), (nlat, m)
        if nlat <= 17:  # the degree is sharp: the next power is not integrated exactly
            m = degree + 1
            exact = 2 * np.pi * (1 + (-1) ** m) / (m + 1)
            assert abs(np.dot(s.area, z**m) - exact) > 1e-8, (nlat, m)


@pytest.mark.parametrize("kind", KINDS)
def test_weights_are_the_interpolatory_rule(kind):
    # Each rule has nlat nodes and is exact to degree ≥ nlat - 1, so its weights are the unique
    # solution of the moment equations Σ w_j T_m(cos θ_j) = ∫ T_m, m < nlat (Chebyshev basis).
    for nlat in NLATS[kind][:5]:
        theta = THETA[kind](nlat)
        m = np.arange(nlat)
        moments = np.zeros(nlat)
        moments[::2] = 2.0 / (1.0 - m[::2].astype(float) ** 2)
        w = np.linalg.solve(np.cos(np.outer(m, theta)), moments)
        np.testing.assert_allclose(Equiangular(nlat, 1, kind=kind).weights, w, atol=1e-14)


def test_soft_weights_equal_fejer_first_rule():
    nlat = 12
    theta = np.pi * (2 * np.arange(nlat) + 1) / (2 * nlat)
    k = np.arange(1, nlat // 2 + 1)
    fejer = 2 / nlat * (1 - 2 * (np.cos(2 * np.outer(theta, k)) / (4 * k**2 - 1)).sum(1))
    np.testing.assert_allclose(Equiangular(nlat, 1, kind="soft").weights, fejer, atol=1e-15)


def harmonics(s, lmax):
    theta, phi = np.pi / 2 - s.lat, s.lon
    return np.stack(
        [sph_harm_y(ell, m, theta, phi) for ell in range(lmax + 1) for m in range(-ell, ell + 1)],
        axis=1,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_spherical_harmonics_orthonormal(kind):
    rng = np.random.default_rng(1)
    for nlat in NLATS[kind][1:6]:
        lmax = DEGREE[kind](nlat) // 2
        nlon = 2 * lmax + 1 + int(rng.integers(0, 4))
        s = Equiangular(nlat, nlon, kind=kind)
        y = harmonics(s, lmax)
        gram = y.conj().T @ (s.area[:, None] * y)
        np.testing.assert_allclose(gram, np.eye(y.shape[1]), atol=1e-12)
        # random band-limited functions: ∫ f conj(g) = <a, b>
        a = rng.normal(size=y.shape[1]) + 1j * rng.normal(size=y.shape[1])
        b = rng.normal(size=y.shape[1]) + 1j * rng.normal(size=y.shape[1])
        integral = np.sum(s.area * (y @ a) * np.conj(y @ b))
        assert integral == pytest.approx(np.vdot(b, a), abs=1e-11)


@pytest.mark.parametrize("kind", ("driscoll-healy", "soft"))
def test_harmonics_beyond_the_band_limit_are_not_orthonormal(kind):
    nlat = 8
    s = Equiangular(nlat, 2 * nlat, kind=kind)
    lmax = nlat // 2  # 2 * lmax = nlat > degree nlat - 1
    y = harmonics(s, lmax)
    gram = y.conj().T @ (s.area[:, None] * y)
    assert np.abs(gram - np.eye(y.shape[1])).max() > 1e-3


@pytest.mark.parametrize(
    "kind, nlat, nlon, coarse_nlat", [("dh", 16, 12, 8), ("soft", 8, 6, 4), ("cc", 17, 10, 9)]
)
def test_coarsening_full_grid(kind, nlat, nlon, coarse_nlat):
    s = Equiangular(nlat, nlon, kind=kind)
    coarse, parent = s.coarsen()
    assert coarse == Equiangular(coarse_nlat, nlon // 2, kind=kind)
    assert parent.dtype == np.int64 and parent.shape == (s.npix,)
    j, k = np.divmod(np.arange(s.npix), nlon)
    np.testing.assert_array_equal(parent, (j // 2) * (nlon // 2) + k // 2)
    counts = np.bincount(parent, minlength=coarse.npix)
    if s.kind == "clenshaw-curtis":
        # the coarse rings are the even fine rings; the coarse south pole ring only pools the fine
        # south pole ring (2 children per pixel), every other coarse pixel pools 2 × 2 children
        np.testing.assert_allclose(coarse.theta, s.theta[::2], atol=1e-15)
        south = np.arange(coarse.npix) >= coarse.npix - coarse.nlon
        assert np.all(counts[south] == 2) and np.all(counts[~south] == 4)
        np.testing.assert_array_equal(
            np.flatnonzero(parent >= coarse.npix - coarse.nlon),
            np.arange(s.npix - nlon, s.npix),
        )
    else:
        assert np.all(counts == 4)
    # every child is close to its parent: |Δθ| ≤ dtheta, |Δφ| ≤ 2π / nlon
    dtheta = {"driscoll-healy": np.pi / nlat, "soft": np.pi / (2 * nlat)}.get(s.kind, np.pi / (nlat - 1))
    dist = angle(s.coords, coarse.coords[parent])
    assert np.all(dist <= dtheta + 2 * np.pi / nlon + 1e-12)
    dcol = np.abs(colatitude(s.coords) - colatitude(coarse.coords[parent]))
    assert np.all(dcol <= dtheta + 1e-12)
    assert np.isclose(dcol.max(), dtheta)


def test_two_levels():
    s = Equiangular(16, 24, kind="dh")
    coarse, parent = s.coarsen(2)
    assert coarse == Equiangular(4, 6, kind="dh")
    j, k = np.divmod(np.arange(s.npix), 24)
    np.testing.assert_array_equal(parent, (j // 4) * 6 + k // 4)


@pytest.mark.parametrize(
    "kind, nlat, nlon, reason",
    [
        ("dh", 6, 8, "nlat=3"),
        ("soft", 2, 8, "nlat=1"),
        ("dh", 8, 5, "nlon=5"),
        ("cc", 7, 8, "nlat=4"),
        ("cc", 3, 8, "nlat=2"),
    ],
)
def test_cannot_coarsen(kind, nlat, nlon, reason):
    s = Equiangular(nlat, nlon, kind=kind)
    assert not s.can_coarsen
    with pytest.raises(ValueError, match=reason):
        s.coarsen()


@pytest.mark.parametrize("kind, nlat, nlon", [("dh", 8, 10), ("soft", 8, 12), ("cc", 9, 8)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_partial_sky(kind, nlat, nlon, seed):
    rng = np.random.default_rng(seed)
    full = Equiangular(nlat, nlon, kind=kind)
    idx = np.sort(rng.choice(full.npix, size=int(rng.integers(1, full.npix // 3)), replace=False))
    part = full.with_indices(idx)
    assert part == Equiangular(nlat, nlon, kind=kind, indices=idx) and not part.is_full
    np.testing.assert_array_equal(part.coords, full.coords[idx])
    np.testing.assert_array_equal(part.area, full.area[idx])
    np.testing.assert_array_equal(part.lon, full.lon[idx])

    full_coarse, full_parent = full.coarsen()
    coarse, parent = part.coarsen()
    np.testing.assert_array_equal(coarse.indices, np.unique(full_parent[idx]))
    np.testing.assert_array_equal(coarse.indices[parent], full_parent[idx])
    np.testing.assert_array_equal(coarse.coords, full_coarse.coords[coarse.indices])


def test_partial_sky_covering_every_coarse_pixel_gives_the_full_coarse_grid():
    full = Equiangular(8, 8, kind="soft")
    idx = np.arange(0, full.npix, 2)  # even columns: one child per 2 × 2 block on each row
    coarse, parent = full.with_indices(idx).coarsen()
    assert coarse.is_full and coarse == Equiangular(4, 4, kind="soft")
    np.testing.assert_array_equal(parent, full.coarsen()[1][idx])


def test_aliases_repr_and_equality():
    assert Equiangular(4, 8, kind="DH") == Equiangular(4, 8, kind="driscoll-healy")
    assert Equiangular(5, 8, kind="cc").kind == "clenshaw-curtis"
    assert Equiangular(4, 8, kind="soft") != Equiangular(4, 8, kind="dh")
    assert repr(Equiangular(4, 8, kind="soft")) == "Equiangular(nlat=4, nlon=8, kind='soft')"
    assert Equiangular(np.int64(4), np.int32(8)).nlat == 4


@pytest.mark.parametrize(
    "args, match",
    [
        ((0, 8, "dh"), "nlat must be an integer >= 1, got 0"),
        ((-4, 8, "dh"), "nlat .* got -4"),
        ((4.0, 8, "dh"), "nlat .* got 4.0"),
        ((True, 8, "dh"), "nlat .* got True"),
        (("4", 8, "dh"), "nlat .* got '4'"),
        ((7, 8, "driscoll-healy"), r"nlat must be even for kind='driscoll-healy', got 7"),
        ((7, 8, "soft"), r"nlat must be even for kind='soft', got 7"),
        ((8, 8, "cc"), r"nlat must be odd and >= 3 for kind='clenshaw-curtis', got 8"),
        ((1, 8, "cc"), r"nlat must be odd and >= 3 .* got 1"),
        ((4, 0, "dh"), "nlon must be an integer >= 1, got 0"),
        ((4, 2.5, "dh"), "nlon .* got 2.5"),
        ((4, False, "dh"), "nlon .* got False"),
        (
            (4, 8, "gauss"),
            "kind must be one of 'driscoll-healy', 'soft', 'clenshaw-curtis'.*'gauss'",
        ),
        ((4, 8, None), "kind must be one of .* got None"),
    ],
)
def test_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        Equiangular(*args)


def test_bad_indices():
    with pytest.raises(ValueError, match="indices"):
        Equiangular(4, 4, indices=[3, 16])
