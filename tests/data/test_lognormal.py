"""Tests of deepsphere.data.lognormal: shifted log-normal convergence maps of two cosmologies."""

import math

import healpy as hp
import numpy as np
import pytest
from scipy import integrate, special, stats

from deepsphere.data.lognormal import (
    PAPER_MODELS,
    CosmologyModel,
    convergence_spectrum,
    cosmology_map,
    cosmology_spectra,
    default_smoothing_arcmin,
    empty_beam_convergence,
    lognormal_gaussian_spectrum,
    lognormal_map,
    lognormal_skewness,
)

pytestmark = pytest.mark.usefixtures("healpy_on_one_thread")

NSIDE = 64
N_MAPS = 32  # per class


def _variance(cl):
    ell = np.arange(len(cl))
    return float(np.sum((2 * ell + 1) / (4 * np.pi) * cl))


def _legendre_matrix(lmax, mu):
    """P_ℓ(μ), shape (lmax + 1, len(μ)), from scipy (independent of the module's recurrence)."""
    return np.array([special.eval_legendre(ell, mu) for ell in range(lmax + 1)])


# --- empty-beam convergence -----------------------------------------------------------------------------


def test_empty_beam_convergence_einstein_de_sitter():
    # Ωm = 1: χ(z) = 2 (1 − 1/sqrt(1+z)) in units of c/H0, so 1 + z = (1 − χ/2)^−2.
    z_source = 1.0
    chi_s = 2 * (1 - 1 / math.sqrt(1 + z_source))

    def integrand(chi):
        return chi * (chi_s - chi) / chi_s / (1 - chi / 2) ** 2

    expected = 1.5 * integrate.quad(integrand, 0, chi_s, epsabs=0, epsrel=1e-13)[0]
    assert empty_beam_convergence(1.0, z_source) == pytest.approx(expected, rel=1e-9)


def test_empty_beam_convergence_lcdm_against_a_trapezoid():
    omega_m, z_source = 0.3, 1.0
    z = np.linspace(0, z_source, 200_001)
    inv_e = 1 / np.sqrt(omega_m * (1 + z) ** 3 + 1 - omega_m)
    chi = integrate.cumulative_trapezoid(inv_e, z, initial=0)
    chi_s = chi[-1]
    expected = 1.5 * omega_m * np.trapezoid(chi * (chi_s - chi) / chi_s * (1 + z) * inv_e, z)
    value = empty_beam_convergence(omega_m, z_source)
    assert value == pytest.approx(expected, rel=1e-7)
    assert 0.055 < value < 0.07  # "≈ 0.06" for Ωm = 0.3, z_s = 1


def test_empty_beam_convergence_grows_with_matter_and_distance():
    small, large = (empty_beam_convergence(m.omega_m) for m in sorted(PAPER_MODELS, key=lambda m: m.omega_m))
    # Nearly ∝ Ωm: a little less, as distances shrink when Ωm grows.
    assert 1 < large / small < 0.31 / 0.26
    assert (
        empty_beam_convergence(0.3, 2.0) > empty_beam_convergence(0.3, 1.0) > empty_beam_convergence(0.3, 0.5)
    )


# --- spectra --------------------------------------------------------------------------------------------


def test_convergence_spectrum_variance_shape_and_beam():
    lmax, std = 191, 0.02
    cl = convergence_spectrum(lmax, std, smoothing_arcmin=60.0)
    assert cl.shape == (lmax + 1,)
    assert cl[0] == cl[1] == 0
    assert np.all(cl[2:] > 0)
    assert _variance(cl) == pytest.approx(std**2, rel=1e-12)
    # The beam is a Gaussian of FWHM 60': b_ℓ² = exp(−ℓ(ℓ+1) σ²), σ = FWHM / sqrt(8 ln 2).
    wider = convergence_spectrum(lmax, std, smoothing_arcmin=90.0)
    ell = np.arange(2, lmax + 1)
    sigma = np.radians(np.array([60.0, 90.0]) / 60) / math.sqrt(8 * math.log(2))
    ratio = np.exp(-ell * (ell + 1) * (sigma[1] ** 2 - sigma[0] ** 2))
    np.testing.assert_allclose(wider[2:] / cl[2:], ratio * (wider[2] / cl[2]) / ratio[0], rtol=1e-6)
    # Red: well below the beam, C_ℓ ∝ 1/ℓ (ℓ ≪ ell_turn = 300).
    assert cl[20] / cl[10] == pytest.approx(10 / 20, rel=0.05)


def test_lognormal_skewness_formula():
    for std, shift in [(0.02, 0.0657), (0.02, 0.0588), (1.0, 0.5)]:
        s = math.sqrt(math.log(1 + std**2 / shift**2))
        assert lognormal_skewness(std, shift) == pytest.approx(float(stats.lognorm(s).stats(moments="s")))
    a, b = (lognormal_skewness(0.02, empty_beam_convergence(m.omega_m)) for m in PAPER_MODELS)
    assert 0.6 < a < b < 1.3


def test_lognormal_gaussian_spectrum_round_trip():
    lmax, shift = 47, 0.06
    cl = convergence_spectrum(lmax, 0.02, default_smoothing_arcmin(16))
    cl_gauss = lognormal_gaussian_spectrum(cl, shift)
    assert cl_gauss.shape == cl.shape and np.all(cl_gauss >= 0)
    # Back to κ on a dense grid, with numpy's nodes and scipy's Legendre polynomials.
    mu, weights = np.polynomial.legendre.leggauss(4 * lmax)
    legendre = _legendre_matrix(lmax, mu)
    xi_gauss = ((2 * np.arange(lmax + 1) + 1) / (4 * np.pi) * cl_gauss) @ legendre
    back = 2 * np.pi * legendre @ (weights * shift**2 * np.expm1(xi_gauss))
    np.testing.assert_allclose(back[2:], cl[2:], rtol=1e-8)
    assert abs(back[1]) < 0.02 * cl[2]  # the dipole the transform cannot remove stays tiny


def test_lognormal_gaussian_spectrum_without_refinement_is_the_direct_transform():
    lmax, shift = 47, 0.06
    cl = convergence_spectrum(lmax, 0.02, default_smoothing_arcmin(16))
    mu, weights = np.polynomial.legendre.leggauss(4 * lmax)
    legendre = _legendre_matrix(lmax, mu)
    xi = ((2 * np.arange(lmax + 1) + 1) / (4 * np.pi) * cl) @ legendre
    direct = 2 * np.pi * legendre @ (weights * np.log1p(xi / shift**2))
    result = lognormal_gaussian_spectrum(cl, shift, refine=False)
    np.testing.assert_allclose(result[2:], direct[2:], rtol=1e-7)
    assert result[0] == result[1] == 0  # cl is 0 there
    # Refinement changes only the beam tail, where truncation matters.
    refined = lognormal_gaussian_spectrum(cl, shift)
    np.testing.assert_allclose(refined[2:20], result[2:20], rtol=1e-4)


def test_lognormal_gaussian_spectrum_large_shift_is_linear():
    cl = convergence_spectrum(40, 0.02, 200.0)
    shift = 100.0  # σ/λ = 2e-4: κ ≈ λ g
    np.testing.assert_allclose(lognormal_gaussian_spectrum(cl, shift)[2:], cl[2:] / shift**2, rtol=1e-6)


def test_lognormal_gaussian_spectrum_impossible_spectra():
    # A pure quadrupole: ξ ∝ P_2 reaches −ξ(0)/2, below −λ² when σ/λ > sqrt(2).
    cl = np.zeros(3)
    cl[2] = 1.0
    std = math.sqrt(_variance(cl))
    with pytest.raises(ValueError, match="shift=.*larger shift"):
        lognormal_gaussian_spectrum(cl, 0.5 * std)
    assert lognormal_gaussian_spectrum(cl, 0.8 * std)[2] > 0
    # A line at ℓ = 10 makes power at ℓ = 20 through the exponential; a target far below it is unreachable.
    cl = np.zeros(31)
    cl[10], cl[20] = 1.0, 1e-6
    cl *= 0.02**2 / _variance(cl)
    for refine in (True, False):
        with pytest.raises(ValueError, match="negative at ℓ=20"):
            lognormal_gaussian_spectrum(cl, 0.06, refine=refine)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"cl": np.array([0.0, 0.0, -1.0])}, "cl"),
        ({"cl": np.ones((2, 3))}, "cl"),
        ({"cl": np.array([0.0, 0.0, np.nan])}, "cl"),
        ({"cl": np.zeros(4)}, "cl"),
        ({"shift": 0.0}, "shift"),
        ({"shift": -1.0}, "shift"),
    ],
)
def test_lognormal_gaussian_spectrum_bad_input(kwargs, name):
    arguments = {"cl": np.array([0.0, 0.0, 1e-4, 1e-5]), "shift": 0.06} | kwargs
    with pytest.raises(ValueError, match=name):
        lognormal_gaussian_spectrum(**arguments)


# --- maps -----------------------------------------------------------------------------------------------


def test_lognormal_map_is_the_exponential_of_a_band_limited_gaussian_field():
    nside, lmax, shift = 16, 12, 0.05
    cl_gauss = np.zeros(lmax + 1)
    cl_gauss[2:] = 0.01 / np.arange(2, lmax + 1)
    kappa = lognormal_map(cl_gauss, shift, nside, np.random.default_rng(3))
    assert kappa.shape == (12 * nside**2,) and kappa.dtype == np.float64
    assert kappa.min() > -shift
    variance = _variance(cl_gauss)
    g = hp.reorder(np.log1p(kappa / shift) + variance / 2, n2r=True)
    # g = log(1 + κ/λ) + σ_g²/2 is band-limited to lmax, with no monopole: the shift used σ_g² exactly.
    power = hp.anafast(g, lmax=3 * nside - 1, iter=10)
    assert power[lmax + 1 :].max() < 1e-8 * power[2 : lmax + 1].max()
    assert abs(g.mean()) < 1e-3 * math.sqrt(variance)


def test_lognormal_map_is_nested():
    """Read as NESTED, the smooth map has little power beyond ℓ = 2 nside; read as RING, it is scrambled."""
    kappa = cosmology_map(PAPER_MODELS[0], NSIDE, 0).astype(np.float64)

    def high_power_fraction(ring_map):
        power = hp.anafast(ring_map)
        power *= 2 * np.arange(power.size) + 1
        return power[2 * NSIDE :].sum() / power.sum()

    assert high_power_fraction(hp.reorder(kappa, n2r=True)) < 0.03
    assert high_power_fraction(kappa) > 0.2


def test_cosmology_map_seeds():
    model = PAPER_MODELS[1]
    a = cosmology_map(model, 16, 7)
    assert a.dtype == np.float32 and a.shape == (12 * 16**2,)
    np.testing.assert_array_equal(a, cosmology_map(model, 16, np.random.default_rng(7)))
    assert not np.array_equal(a, cosmology_map(model, 16, 8))
    # The same seed gives the same Gaussian field for both classes: only the exponential differs.
    b = cosmology_map(PAPER_MODELS[0], 16, 7)
    assert not np.array_equal(a, b)
    assert np.corrcoef(a, b)[0, 1] > 0.99


def test_cosmology_spectra_are_shared_cached_and_read_only():
    (cl_a, gauss_a, shift_a), (cl_b, gauss_b, shift_b) = (cosmology_spectra(m, NSIDE) for m in PAPER_MODELS)
    np.testing.assert_array_equal(cl_a, cl_b)
    assert shift_a == empty_beam_convergence(0.31) and shift_b == empty_beam_convergence(0.26)
    assert not np.allclose(gauss_a, gauss_b)
    assert cosmology_spectra(PAPER_MODELS[0], NSIDE)[1] is gauss_a
    assert not gauss_a.flags.writeable
    assert cl_a.shape == (3 * NSIDE,)
    assert _variance(cl_a) == pytest.approx(0.02**2)


@pytest.fixture(scope="module")
def paper_maps():
    """N_MAPS maps of each paper model, with their anafast spectra (ℓ ≤ 2 nside).

    Map i of both models comes from seed i: the same Gaussian field, so that their differences are only
    the models' (paired comparisons are ~10 times more sensitive than independent ones).
    """
    maps, spectra = [], []
    for model in PAPER_MODELS:
        m = np.array([cosmology_map(model, NSIDE, np.random.default_rng(i)) for i in range(N_MAPS)])
        maps.append(m.astype(np.float64))
        spectra.append(np.array([hp.anafast(hp.reorder(x, n2r=True), lmax=2 * NSIDE) for x in m]))
    return maps, spectra


def _bins():
    edges = np.unique(np.geomspace(2, 2 * NSIDE + 1, 9).astype(int))
    return list(zip(edges[:-1], edges[1:], strict=True))


def _binned(cl, lo, hi):
    """Mode-weighted mean of C_ℓ over lo ≤ ℓ < hi, and its Gaussian cosmic variance for one map."""
    weights = 2 * np.arange(lo, hi) + 1.0
    mean = (cl[..., lo:hi] * weights).sum(-1) / weights.sum()
    return mean, np.sum(weights * 2 * cl[..., lo:hi] ** 2) / weights.sum() ** 2


def test_paper_models_have_the_target_spectrum(paper_maps):
    """Mean spectra (ℓ ≤ 2 nside) agree with the target within cosmic variance, and with each other.

    Target: Var(Ĉ_ℓ) = 2 C_ℓ²/(2ℓ+1) per map for a Gaussian field; the log-normal field's is up to ~1.5
    times that (measured), hence |z| < 4.5 with the Gaussian variance. Between the models: paired
    differences, with their own scatter.
    """
    _, spectra = paper_maps
    target = cosmology_spectra(PAPER_MODELS[0], NSIDE)[0]
    z_target, z_models = [], []
    for lo, hi in _bins():
        expected, variance = _binned(target, lo, hi)
        a, b = (_binned(s, lo, hi)[0] for s in spectra)
        z_target += [(x.mean() - expected) / math.sqrt(variance / N_MAPS) for x in (a, b)]
        difference = a - b
        error = difference.std(ddof=1) / math.sqrt(N_MAPS)
        z_models.append(difference.mean() / error)
        assert error < 0.01 * expected  # a difference of 5%, like the paper's spectra, would show
    z_target, z_models = np.array(z_target), np.array(z_models)
    assert np.abs(z_target).max() < 4.5 and np.mean(z_target**2) < 4, z_target
    assert np.abs(z_models).max() < 4.5 and np.mean(z_models**2) < 5, z_models  # bins are correlated


def test_paper_models_differ_in_skewness(paper_maps):
    """Pooled skewness matches 3(σ/λ) + (σ/λ)³ within its (jackknife) error; Ωm = 0.26 is more skewed."""
    maps, _ = paper_maps
    expected, per_map = [], []
    for model, m in zip(PAPER_MODELS, maps, strict=True):
        assert np.abs(m.mean(axis=1)).max() < 1e-6  # mean-subtracted
        m2, m3 = (m**2).mean(axis=1), (m**3).mean(axis=1)
        skewness = m3.mean() / m2.mean() ** 1.5
        jackknife = [np.delete(m3, i).mean() / np.delete(m2, i).mean() ** 1.5 for i in range(N_MAPS)]
        error = math.sqrt((N_MAPS - 1) * np.var(jackknife))
        expected.append(lognormal_skewness(0.02, empty_beam_convergence(model.omega_m)))
        assert abs(skewness - expected[-1]) < 4 * error, (model.name, skewness, expected[-1], error)
        per_map.append(m3 / m2**1.5)
    assert PAPER_MODELS[1].omega_m < PAPER_MODELS[0].omega_m
    difference = per_map[1] - per_map[0]  # paired: same Gaussian field
    error = difference.std(ddof=1) / math.sqrt(N_MAPS)
    assert difference.min() > 0
    assert abs(difference.mean() - (expected[1] - expected[0])) < 4 * error


# --- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"nside": 12}, "nside"),
        ({"nside": 0}, "nside"),
        ({"kappa_std": -0.02}, "kappa_std"),
        ({"smoothing_arcmin": 0.0}, "smoothing_arcmin"),
        ({"smoothing_arcmin": 30.0}, "smoothing_arcmin"),  # less than a pixel at nside 16 (220')
        ({"z_source": 0.0}, "z_source"),
        ({"lmax": 1}, "lmax"),
        ({"rng": "seed"}, "rng"),
        ({"model": "Om0.31_s8_0.82"}, "model"),
    ],
)
def test_cosmology_map_bad_input(kwargs, name):
    arguments = {"model": PAPER_MODELS[0], "nside": 16, "rng": 0} | kwargs
    with pytest.raises(ValueError, match=name):
        cosmology_map(**arguments)


@pytest.mark.parametrize("omega_m", [0.0, -0.3, 1.5, float("nan"), "0.3"])
def test_bad_omega_m(omega_m):
    with pytest.raises(ValueError, match="omega_m"):
        empty_beam_convergence(omega_m)
    with pytest.raises(ValueError, match="omega_m"):
        CosmologyModel("bad", omega_m, 0.8)


def test_other_bad_input():
    with pytest.raises(ValueError, match="lmax"):
        convergence_spectrum(1, 0.02, 60.0)
    with pytest.raises(ValueError, match="kappa_std"):
        convergence_spectrum(10, 0.0, 60.0)
    with pytest.raises(ValueError, match="ell_turn"):
        convergence_spectrum(10, 0.02, 60.0, ell_turn=-1.0)
    with pytest.raises(ValueError, match="shift"):
        lognormal_skewness(0.02, 0.0)
    with pytest.raises(ValueError, match="cl_gauss"):
        lognormal_map(np.array([0.0, -1.0]), 0.05, 16, 0)
    with pytest.raises(ValueError, match="nside"):
        lognormal_map(np.array([0.0, 0.0, 1e-3]), 0.05, 3, 0)
    with pytest.raises(ValueError, match="sigma8"):
        CosmologyModel("bad", 0.3, -0.8)
