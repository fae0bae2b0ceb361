"""Tests of deepsphere.analysis.equivariance: map rotations and the DeepSphere equivariance error."""

import healpy as hp
import numpy as np
import pytest

from deepsphere.analysis import (
    band_limit,
    equivariance_error,
    equivariance_error_on,
    harmonic_signals,
    random_rotation,
    real_spherical_harmonics,
    rotate_map,
    rotation_matrix,
)
from deepsphere.analysis.equivariance import _harmonic_basis
from deepsphere.graph import knn_graph
from deepsphere.sampling import CubedSphere, Equiangular, GaussLegendre, HEALPix, Icosahedral

NSIDE = 16
NPIX = 12 * NSIDE**2


pytestmark = pytest.mark.usefixtures("healpy_on_one_thread")


def _band_limited(nside, band, rng, m_zero_only=False):
    """A random real RING map with degrees ≤ band (and only m = 0 if asked)."""
    lmax = 3 * nside - 1
    ell, m = hp.Alm.getlm(lmax)
    alm = rng.standard_normal(len(ell)) + 1j * rng.standard_normal(len(ell))
    alm[m == 0] = alm[m == 0].real
    alm[ell > band] = 0
    if m_zero_only:
        alm[m > 0] = 0
    return hp.alm2map(alm, nside, lmax=lmax)


def _inverse(rotation):
    psi, theta, phi = rotation
    return (-phi, -theta, -psi)


def _relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# --- rotation matrices and random rotations -------------------------------------------------------------


def test_rotation_matrix_is_a_rotation_and_inverse_angles_invert_it():
    rotation = (0.4, 1.0, 2.0)
    r = rotation_matrix(rotation)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-14)
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(rotation_matrix(_inverse(rotation)) @ r, np.eye(3), atol=1e-14)
    # The north pole goes to colatitude theta, longitude phi; healpy's own Rotator agrees.
    np.testing.assert_allclose(r @ [0, 0, 1], hp.ang2vec(1.0, 2.0), atol=1e-14)
    rotator = hp.Rotator(rot=(-0.4, 1.0, -2.0), eulertype="Y", deg=False)
    np.testing.assert_allclose(rotator.mat, r, atol=1e-14)


def test_random_rotation_is_haar_uniform():
    rng = np.random.default_rng(7)
    matrices = np.array([rotation_matrix(random_rotation(rng)) for _ in range(4000)])
    for axis in range(3):  # images of the x, y and z axes: uniform on the sphere
        v = matrices[:, :, axis]
        np.testing.assert_allclose(v.mean(axis=0), 0.0, atol=0.05)
        np.testing.assert_allclose(v.T @ v / len(v), np.eye(3) / 3, atol=0.03)
    psi, theta, phi = random_rotation(np.random.default_rng(1))
    assert 0 <= psi < 2 * np.pi and 0 <= theta <= np.pi and 0 <= phi < 2 * np.pi
    assert random_rotation(np.random.default_rng(1)) == (psi, theta, phi)


# --- rotate_map --------------------------------------------------------------------------------------------


def test_rotate_then_inverse_recovers_a_band_limited_map():
    rng = np.random.default_rng(0)
    f = _band_limited(NSIDE, NSIDE, rng)
    rotation = random_rotation(rng)
    rotated = rotate_map(f, rotation, nest=False)
    assert _relative(rotated, f) > 0.5  # it did move
    back = rotate_map(rotated, _inverse(rotation), nest=False)
    assert _relative(back, f) < 5e-3
    more_iterations = rotate_map(
        rotate_map(f, rotation, nest=False, n_iter=10), _inverse(rotation), nest=False, n_iter=10
    )
    assert _relative(more_iterations, f) < _relative(back, f) / 3


def test_rotation_about_z_leaves_m0_maps_unchanged():
    rng = np.random.default_rng(1)
    f = _band_limited(NSIDE, NSIDE, rng, m_zero_only=True)
    for rotation in [(0.7, 0.0, 0.0), (0.0, 0.0, 1.3), (0.5, 0.0, 2.0)]:
        assert _relative(rotate_map(f, rotation, nest=False), f) < 5e-3  # map2alm's own error ≈ 2e-3
    g = _band_limited(NSIDE, NSIDE, rng)  # with m ≠ 0 the same rotations do change the map
    assert _relative(rotate_map(g, (0.7, 0.0, 0.0), nest=False), g) > 0.3


def test_rotation_preserves_norm_and_power_spectrum():
    rng = np.random.default_rng(2)
    f = _band_limited(NSIDE, NSIDE, rng)
    rotated = rotate_map(f, random_rotation(rng), nest=False)
    assert np.linalg.norm(rotated) == pytest.approx(np.linalg.norm(f), rel=1e-3)
    cl, cl_rotated = hp.anafast(f, lmax=NSIDE), hp.anafast(rotated, lmax=NSIDE)
    np.testing.assert_allclose(cl_rotated, cl, rtol=2e-3 * cl.max() / cl.min())


def test_nested_and_ring_inputs_agree():
    rng = np.random.default_rng(3)
    ring = np.stack([_band_limited(NSIDE, 2 * NSIDE, rng) for _ in range(2)], axis=1)
    nested = ring[hp.nest2ring(NSIDE, np.arange(NPIX))]
    rotation = random_rotation(rng)
    from_ring = rotate_map(ring, rotation, nest=False)
    from_nested = rotate_map(nested, rotation)
    np.testing.assert_allclose(from_nested, from_ring[hp.nest2ring(NSIDE, np.arange(NPIX))], atol=1e-12)
    assert from_ring.shape == (NPIX, 2)
    np.testing.assert_allclose(from_ring[:, 1], rotate_map(ring[:, 1], rotation, nest=False), atol=1e-12)


def test_a_bump_at_the_north_pole_moves_to_the_rotated_pole():
    nside = 32
    z = HEALPix(nside).coords[:, 2]
    bump = np.exp(-(1 - z) / 0.003)  # NESTED, ~4° wide
    psi, theta, phi = 0.3, 1.1, 2.5
    rotated = rotate_map(bump, (psi, theta, phi))
    peak = hp.pix2vec(nside, int(np.argmax(rotated)), nest=True)
    target = hp.ang2vec(theta, phi)
    assert np.arccos(np.clip(np.dot(peak, target), -1, 1)) < hp.nside2resol(nside)
    assert rotated.max() == pytest.approx(bump.max(), rel=0.05)


# --- harmonic_signals --------------------------------------------------------------------------------------


def test_harmonic_signals_have_a_single_degree_and_unit_power_per_mode():
    ell = 5
    maps, alms = harmonic_signals(NSIDE, ell, 200, np.random.default_rng(4), nest=False)
    assert maps.shape == (NPIX, 200) and alms.shape == (200, hp.Alm.getsize(ell))
    np.testing.assert_allclose(maps[:, 3], hp.alm2map(alms[3], NSIDE, lmax=ell), atol=1e-12)
    cl = hp.anafast(maps[:, 0], lmax=3 * NSIDE - 1)
    assert cl[ell] > 1e4 * np.delete(cl, ell).max()
    assert np.all(alms[:, hp.Alm.getidx(ell, ell, 0)].imag == 0)
    # E[f(x)²] = Σ_m E|a_ℓm|² |Y_ℓm(x)|² = (2ℓ + 1) / 4π (addition theorem)
    assert np.mean(maps**2) == pytest.approx((2 * ell + 1) / (4 * np.pi), rel=0.1)


def test_harmonic_signals_nested_is_the_reordered_ring():
    ring, _ = harmonic_signals(NSIDE, 3, 2, np.random.default_rng(5), nest=False)
    nested, _ = harmonic_signals(NSIDE, 3, 2, np.random.default_rng(5))
    np.testing.assert_allclose(nested, ring[hp.nest2ring(NSIDE, np.arange(NPIX))])


# --- equivariance_error ------------------------------------------------------------------------------------


def _harmonic_laplacian(x):
    """ℓ(ℓ + 1) a_ℓm for ℓ ≤ nside, 0 above: rotation equivariant. NESTED columns.

    The band limit matters: ℓ(ℓ + 1) up to 3·nside − 1 would amplify map2alm's small aliasing errors
    (≈ 1e-5 at ℓ ≈ 40 for a degree-1 map) by ≈ 2000 and make even this operator look non-equivariant.
    """
    to_ring, to_nest = hp.ring2nest(NSIDE, np.arange(NPIX)), hp.nest2ring(NSIDE, np.arange(NPIX))
    ell = np.arange(NSIDE + 1)
    out = np.empty_like(x)
    for j in range(x.shape[1]):
        alm = hp.almxfl(hp.map2alm(x[to_ring, j], lmax=NSIDE, iter=3), ell * (ell + 1.0))
        out[:, j] = hp.alm2map(alm, NSIDE, lmax=NSIDE)[to_nest]
    return out


def test_an_equivariant_operator_has_almost_no_error():
    result = equivariance_error(_harmonic_laplacian, NSIDE, ells=range(1, 9), n_signals=3, seed=0)
    np.testing.assert_array_equal(result.ells, np.arange(1, 9))
    assert result.samples.shape == (8, 3)
    assert np.all(result.error < 1e-3)
    assert result.mean == pytest.approx(result.error.mean())


def test_a_position_dependent_operator_has_error_of_order_one():
    weights = np.random.default_rng(6).uniform(0.0, 2.0, NPIX)[:, None]
    result = equivariance_error(lambda x: weights * x, NSIDE, ells=[1, 5, 20], n_signals=4, seed=1)
    # ‖R(w f) − w R f‖² / ‖w f‖² ≈ 2 var(w) / E[w²] = 0.5 for w ~ U(0, 2)
    assert np.all((result.error > 0.2) & (result.error < 1.0))


def test_graph_laplacian_error_is_small_at_middle_degrees_and_grows_at_high_degrees():
    graph = knn_graph(HEALPix(NSIDE), k=8)
    laplacian = graph.laplacian()
    result = equivariance_error(lambda x: laplacian @ x, NSIDE, n_signals=4, seed=2)
    error = dict(zip(result.ells.tolist(), result.error, strict=True))
    middle = np.mean([error[ell] for ell in range(8, 25)])
    high = np.mean([error[ell] for ell in range(40, 48)])
    assert middle < 0.02
    assert high > 3 * middle
    # ℓ = 1: L f ∝ ℓ(ℓ + 1) is tiny while the first-order error of an irregular sampling is not
    assert error[1] > error[8]
    denser = knn_graph(HEALPix(NSIDE), k=20).laplacian()
    assert equivariance_error(lambda x: denser @ x, NSIDE, n_signals=4, seed=2).mean < result.mean


def test_same_seed_same_result_and_ring_ordering():
    nested = knn_graph(HEALPix(NSIDE), k=8).laplacian()
    ring_to_nest = hp.ring2nest(NSIDE, np.arange(NPIX))
    ring = nested[ring_to_nest][:, ring_to_nest]  # the same graph, vertices in RING order
    first = equivariance_error(lambda x: ring @ x, NSIDE, ells=[3, 30], seed=4, nest=False)
    second = equivariance_error(lambda x: ring @ x, NSIDE, ells=[3, 30], seed=4, nest=False)
    np.testing.assert_array_equal(first.error, second.error)
    in_nest = equivariance_error(lambda x: nested @ x, NSIDE, ells=[3, 30], seed=4)
    np.testing.assert_allclose(in_nest.error, first.error, rtol=1e-9)


# --- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("maps", "kwargs", "message"),
    [
        (np.zeros(3000), {}, "maps has 3000 pixels"),
        (np.zeros((2, NPIX)), {}, "pass maps.T"),
        (np.zeros((NPIX, 2, 2)), {}, r"maps must have shape \(npix,\) or \(npix, C\)"),
        (np.full(NPIX, np.nan), {}, "maps has 3072 NaN"),
        (np.full(NPIX, hp.UNSEEN), {}, "maps has 3072 UNSEEN"),
        (np.zeros(NPIX, complex), {}, "maps must be real"),
        (np.zeros(12 * 9), {}, "not a power of 2"),
        (np.zeros(NPIX), {"rotation": (1.0, 2.0)}, "rotation must be 3 finite"),
        (np.zeros(NPIX), {"rotation": (1.0, np.inf, 0.0)}, "rotation must be 3 finite"),
        (np.zeros(NPIX), {"lmax": 48}, "lmax must be at most 3·nside − 1 = 47"),
        (np.zeros(NPIX), {"lmax": -1}, "lmax must be an integer"),
        (np.zeros(NPIX), {"nest": "ring"}, "nest must be True"),
        (np.zeros(NPIX), {"n_iter": 1.5}, "n_iter must be an integer"),
    ],
)
def test_rotate_map_rejects_bad_input(maps, kwargs, message):
    kwargs = {"rotation": (0.1, 0.2, 0.3), **kwargs}
    with pytest.raises(ValueError, match=message):
        rotate_map(maps, **kwargs)


def _identity(x):
    return x


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("L", NSIDE), {}, "operator must be callable"),
        ((_identity, 12), {}, "nside must be a power of 2"),
        ((_identity, 0), {}, "nside must be an integer ≥ 1"),
        ((_identity, NSIDE), {"ells": [0, 1]}, r"ells must lie in \[1, 3·nside − 1\] = \[1, 47\]"),
        ((_identity, NSIDE), {"ells": [48]}, "ells must lie in"),
        ((_identity, NSIDE), {"ells": [1.5]}, "ells must be a non-empty sequence of integers"),
        ((_identity, NSIDE), {"ells": []}, "ells must be a non-empty"),
        ((_identity, NSIDE), {"n_signals": 0}, "n_signals must be an integer ≥ 1"),
        ((_identity, NSIDE), {"seed": "abc"}, "seed must be a non-negative integer"),
        ((lambda x: x[:-1], NSIDE), {"ells": [1]}, r"operator must return an array of shape \(3072, 4\)"),
        ((lambda x: 0 * x, NSIDE), {"ells": [1]}, "operator returned a zero map"),
        ((lambda x: x / 0, NSIDE), {"ells": [1]}, "operator returned 12288 NaN or infinite"),
    ],
)
def test_equivariance_error_rejects_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        with np.errstate(divide="ignore", invalid="ignore"):
            equivariance_error(*args, **kwargs)


def test_random_inputs_must_come_from_a_generator():
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        random_rotation(42)
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        harmonic_signals(NSIDE, 2, 1, np.random.RandomState(0))
    with pytest.raises(ValueError, match="ell must be at most 3·nside − 1 = 47"):
        harmonic_signals(NSIDE, 48, 1, np.random.default_rng(0))


# --- any sampling: equivariance_error_on -------------------------------------------------------------------


def _random_alm(lmax, rng):
    ell, m = hp.Alm.getlm(lmax)
    alm = rng.standard_normal(len(ell)) + 1j * rng.standard_normal(len(ell))
    alm[m == 0] = alm[m == 0].real
    return alm


def test_harmonic_basis_synthesises_what_healpy_synthesises():
    lmax = 3 * 8 - 1
    alm = _random_alm(lmax, np.random.default_rng(10))
    basis = _harmonic_basis(HEALPix(8, nest=False), lmax)
    np.testing.assert_allclose(basis.synthesis(alm[None])[:, 0], hp.alm2map(alm, 8, lmax=lmax), atol=1e-11)
    np.testing.assert_allclose(basis.analysis(basis.synthesis(alm[None]))[0], alm, atol=1e-11)


def test_least_squares_is_the_exact_quadrature_on_gauss_legendre():
    grid = GaussLegendre(nlat=8)
    basis = _harmonic_basis(grid, band_limit(grid))
    # orthonormal harmonics and an exact rule: Σ_i A_i y_j(x_i) y_j'(x_i) = δ_jj', c_j = Σ_i A_i y_j(x_i) g_i
    np.testing.assert_allclose(basis.projector, (basis.matrix * grid.area[:, None]).T, atol=1e-12)
    assert basis.condition == pytest.approx(1.0, abs=1e-12)


def test_the_rotation_of_the_general_path_moves_the_value_at_x_to_R_x():
    grid, lmax = Icosahedral(3), 6
    rng = np.random.default_rng(11)
    alm = _random_alm(lmax, rng)
    rotation = random_rotation(rng)
    basis = _harmonic_basis(grid, lmax)
    rotated_alm = basis.analysis(basis.synthesis(alm[None]))[0]
    hp.rotate_alm(rotated_alm, *rotation)
    # (R f)(x) = f(R⁻¹ x), with f evaluated anywhere through its real harmonic series
    f_coefficients = np.linalg.lstsq(basis.matrix, basis.synthesis(alm[None])[:, 0], rcond=None)[0]
    back = grid.coords @ rotation_matrix(rotation)  # rows R⁻¹ x = Rᵀ x
    expected = real_spherical_harmonics(back, lmax) @ f_coefficients
    np.testing.assert_allclose(basis.synthesis(rotated_alm[None])[:, 0], expected, atol=1e-10)


def test_equivariant_operators_score_zero_on_every_sampling():
    for grid in (GaussLegendre(nlat=8), Equiangular(14, 14, kind="soft"), Icosahedral(2), CubedSphere(6)):
        lmax = band_limit(grid)
        basis = _harmonic_basis(grid, lmax)
        degrees = np.floor(np.sqrt(np.arange((lmax + 1) ** 2)))  # column ℓ² + ℓ + m has degree ℓ
        laplace = basis.matrix @ ((degrees * (degrees + 1))[:, None] * basis.projector)  # −Δ below lmax
        identity = equivariance_error_on(grid, lambda x: x, n_signals=2, seed=0)
        exact = equivariance_error_on(grid, lambda x, op=laplace: op @ x, n_signals=2, seed=0)
        graph = knn_graph(grid, k=8).laplacian()
        approximate = equivariance_error_on(grid, lambda x, op=graph: op @ x, n_signals=2, seed=0)
        np.testing.assert_array_equal(identity.ells, np.arange(1, lmax + 1))
        assert identity.mean < 1e-25 and exact.mean < 1e-25
        assert approximate.mean > 1e-3
        assert 1.0 <= identity.condition < 1.2


def test_general_path_on_healpix_is_the_limit_of_map2alm_iterations():
    nside = 4
    laplacian = knn_graph(HEALPix(nside), k=8).laplacian()
    general = equivariance_error_on(HEALPix(nside), lambda x: laplacian @ x, n_signals=3, seed=5)
    iterated = equivariance_error(lambda x: laplacian @ x, nside, n_signals=3, seed=5, n_iter=30)
    np.testing.assert_allclose(general.samples, iterated.samples, rtol=1e-6)
    assert general.condition == pytest.approx(1.68, abs=0.01)
    assert iterated.condition is None


def test_band_limit_of_each_sampling():
    assert band_limit(HEALPix(8)) == 23
    assert band_limit(GaussLegendre(20)) == 19
    assert band_limit(GaussLegendre(10, nlon=12)) == 5  # nlon > 2 lmax
    assert band_limit(Equiangular(28, 28, kind="soft")) == 13
    assert band_limit(Equiangular(27, 28, kind="cc")) == 13
    assert band_limit(Equiangular(9, 40, kind="cc")) == 4
    assert band_limit(Icosahedral(3)) == 16  # (16 + 1)² = 289 ≤ 642 / 2 < 18²
    assert band_limit(CubedSphere(11)) == 18


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((np.zeros((10, 3)), _identity), {}, "sampling must be a deepsphere.sampling.Sampling"),
        ((HEALPix(4, indices=np.arange(10)), _identity), {}, "sampling must cover the whole sphere"),
        ((HEALPix(4), "L"), {}, "operator must be callable"),
        ((HEALPix(4), _identity), {"lmax": 14}, r"lmax must be at most isqrt\(npix\) − 1 = 12"),
        ((HEALPix(4), _identity), {"lmax": 0}, "lmax must be an integer ≥ 1"),
        ((HEALPix(4), _identity), {"ells": [12]}, r"ells must lie in \[1, lmax\] = \[1, 11\]"),
        ((HEALPix(4), _identity), {"n_signals": 0}, "n_signals must be an integer ≥ 1"),
        ((HEALPix(4), _identity), {"seed": -1}, "seed must be a non-negative integer"),
        ((CubedSphere(11), _identity), {"lmax": 22}, "condition number 1.38e\\+03 > 10"),
        ((HEALPix(64), _identity), {}, "needs a dense harmonic basis of 1.81e\\+09 numbers"),
        ((HEALPix(4), lambda x: 0 * x), {"ells": [1]}, "operator returned a zero map"),
    ],
)
def test_equivariance_error_on_rejects_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        equivariance_error_on(*args, **kwargs)
    with pytest.raises(ValueError, match="sampling must be a deepsphere.sampling.Sampling, got int"):
        band_limit(8)
