"""Shifted log-normal convergence maps: the built-in cosmology task (two classes, same power spectrum).

The DeepSphere cosmology task (Perraudin et al. 2019) separates weak-lensing convergence maps of two
cosmologies, (Ωm, σ8) = (0.31, 0.82) and (0.26, 0.91), whose power spectra nearly agree. Here each map is
a shifted log-normal field (Hilbert, Hartlap & Schneider 2011; Xavier et al. 2016)

    κ = λ (exp(g − σ_g²/2) − 1),        ξ_κ(θ) = λ² (exp(ξ_g(θ)) − 1),

with ``g`` a zero-mean Gaussian field of variance σ_g² and correlation function ξ_g. Both classes share
one target spectrum C_ℓ (:func:`convergence_spectrum`); the shift λ, the magnitude of the empty-beam
convergence (:func:`empty_beam_convergence`, ∝ Ωm), differs. The Gaussian spectrum C_ℓ^g of each class is
solved so that κ has exactly the target C_ℓ (:func:`lognormal_gaussian_spectrum`), so the spectra carry
no information and only the non-Gaussianity does: the class with smaller Ωm has a smaller λ and a larger
skewness (:func:`lognormal_skewness`).

Maps are NESTED HEALPix (the package's ordering); angles are radians inside, arcminutes where the name
says so. Only numpy, scipy and healpy are used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import healpy as hp
import numpy as np
from scipy import integrate, special

from ..sampling.healpix import check_nside

__all__ = [
    "PAPER_MODELS",
    "CosmologyModel",
    "convergence_spectrum",
    "cosmology_map",
    "cosmology_spectra",
    "default_smoothing_arcmin",
    "empty_beam_convergence",
    "lognormal_gaussian_spectrum",
    "lognormal_map",
    "lognormal_skewness",
]

#: High-ℓ logarithmic slope of ℓ(ℓ+1)C_ℓ/2π in :func:`convergence_spectrum`'s shape (before the beam).
HIGH_ELL_SLOPE = 0.3

#: Default Gaussian smoothing of :func:`cosmology_map`, in HEALPix pixel sizes (``healpy.nside2resol``).
DEFAULT_SMOOTHING_PIXELS = 2.0

#: Smallest smoothing :func:`cosmology_map` accepts, in pixel sizes (see there).
MIN_SMOOTHING_PIXELS = 1.0

#: Negative C_ℓ^g above ``-NEGATIVE_TOLERANCE · max C^g`` are rounding and clipped to 0; below, an error.
NEGATIVE_TOLERANCE = 1e-6


# --- checks ---------------------------------------------------------------------------------------------


def _check_positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    value = float(value)
    if not (value > 0.0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


def _check_omega_m(omega_m: Any) -> float:
    if isinstance(omega_m, bool) or not isinstance(omega_m, (int, float, np.integer, np.floating)):
        raise ValueError(f"omega_m must be a number in (0, 1], got {omega_m!r}")
    omega_m = float(omega_m)
    if not 0.0 < omega_m <= 1.0:
        raise ValueError(f"omega_m must be in (0, 1] (flat ΛCDM with Ω_Λ = 1 − Ωm ≥ 0), got {omega_m}")
    return omega_m


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value}")
    return int(value)


def _check_spectrum(name: str, cl: Any) -> np.ndarray:
    cl = np.array(cl, dtype=np.float64)  # a copy: the callers write into it
    if cl.ndim != 1 or cl.size == 0:
        raise ValueError(f"{name} must be a 1-d array of C_ℓ, ℓ = 0 … lmax, got shape {cl.shape}")
    if not np.all(np.isfinite(cl)):
        raise ValueError(f"{name} has {np.count_nonzero(~np.isfinite(cl))} non-finite values")
    if cl.min() < 0.0:
        ell = int(np.argmin(cl))
        raise ValueError(f"{name} must be non-negative, got C_{ell} = {cl[ell]:.3g}")
    return cl


def _as_generator(rng: Any) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng must be a numpy.random.Generator or an integer seed, got {type(rng).__name__}")


# --- cosmology ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CosmologyModel:
    """A class of the cosmology task: a flat ΛCDM model.

    Only ``omega_m`` enters the maps, through the log-normal shift λ (:func:`empty_beam_convergence`).
    ``sigma8`` is kept for reference: in the paper, the two models' spectra agree within ~5% because
    σ8·Ωm^0.5 is nearly equal (0.457 and 0.464); here the spectra are identical by construction, so the
    power spectrum carries no information at all.
    """

    name: str
    omega_m: float
    sigma8: float

    def __post_init__(self) -> None:
        _check_omega_m(self.omega_m)
        _check_positive("sigma8", self.sigma8)


#: The two models of the DeepSphere cosmology paper (Perraudin et al. 2019), the less skewed first.
PAPER_MODELS: tuple[CosmologyModel, CosmologyModel] = (
    CosmologyModel("Om0.31_s8_0.82", omega_m=0.31, sigma8=0.82),
    CosmologyModel("Om0.26_s8_0.91", omega_m=0.26, sigma8=0.91),
)


def empty_beam_convergence(omega_m: float, z_source: float = 1.0) -> float:
    """``|κ_empty|``, the convergence of an empty line of sight to a source plane, in a flat ΛCDM universe.

    ``(3/2) Ωm ∫_0^χs dχ χ (χs − χ)/χs (1 + z(χ))``, distances in units of c/H0 (so the result is
    dimensionless), ``χ(z) = ∫_0^z dz'/E(z')``, ``E(z) = sqrt(Ωm (1+z)³ + 1 − Ωm)``. It is the most
    negative convergence possible, the natural shift λ of a log-normal κ: ≈ 0.064 for Ωm = 0.3, z_s = 1.

    Parameters
    ----------
    omega_m : float
        Matter density, in (0, 1] (Ω_Λ = 1 − Ωm).
    z_source : float
        Redshift of the source plane, > 0.
    """
    return _empty_beam_convergence(_check_omega_m(omega_m), _check_positive("z_source", z_source))


@lru_cache(maxsize=64)
def _empty_beam_convergence(omega_m: float, z_source: float) -> float:
    def inv_e(z: float) -> float:
        return 1.0 / math.sqrt(omega_m * (1.0 + z) ** 3 + 1.0 - omega_m)

    def chi(z: float) -> float:
        return integrate.quad(inv_e, 0.0, z, epsabs=0.0, epsrel=1e-12)[0]

    chi_s = chi(z_source)

    def integrand(z: float) -> float:  # dχ = dz / E(z)
        c = chi(z)
        return c * (chi_s - c) / chi_s * (1.0 + z) * inv_e(z)

    return 1.5 * omega_m * integrate.quad(integrand, 0.0, z_source, epsabs=0.0, epsrel=1e-10)[0]


# --- spectra --------------------------------------------------------------------------------------------


def convergence_spectrum(
    lmax: int, kappa_std: float, smoothing_arcmin: float, ell_turn: float = 300.0
) -> np.ndarray:
    """A smooth, red, weak-lensing-like convergence spectrum C_ℓ, shape ``(lmax + 1,)``.

    ``ℓ(ℓ+1) C_ℓ / 2π = A · x / (1 + x)^0.7 · b_ℓ²`` with ``x = ℓ / ell_turn``: C_ℓ ∝ 1/ℓ below the turn,
    ∝ ℓ^(−1.7) above it (ℓ(ℓ+1)C_ℓ ∝ ℓ^0.3, :data:`HIGH_ELL_SLOPE`), like the κ spectrum of sources at
    z ~ 1. ``b_ℓ`` is the Gaussian beam of FWHM ``smoothing_arcmin`` (``healpy.gauss_beam``); C_0 = C_1 = 0;
    A sets the field variance ``Σ_ℓ (2ℓ+1)/(4π) C_ℓ`` to ``kappa_std²``.

    Parameters
    ----------
    lmax : int
        Largest degree, ≥ 2.
    kappa_std : float
        Standard deviation of the (smoothed) field, > 0.
    smoothing_arcmin : float
        FWHM of the Gaussian smoothing, arcminutes, > 0.
    ell_turn : float
        Degree where ℓ(ℓ+1)C_ℓ turns from ∝ ℓ to ∝ ℓ^0.3, > 0.
    """
    lmax = _check_int("lmax", lmax, minimum=2)
    kappa_std = _check_positive("kappa_std", kappa_std)
    smoothing_arcmin = _check_positive("smoothing_arcmin", smoothing_arcmin)
    ell_turn = _check_positive("ell_turn", ell_turn)
    ell = np.arange(2, lmax + 1, dtype=np.float64)
    x = ell / ell_turn
    beam = hp.gauss_beam(np.radians(smoothing_arcmin / 60.0), lmax=lmax)[2:]
    cl = np.zeros(lmax + 1)
    cl[2:] = 2.0 * np.pi / (ell * (ell + 1.0)) * x / (1.0 + x) ** (1.0 - HIGH_ELL_SLOPE) * beam**2
    variance = np.sum((2.0 * ell + 1.0) / (4.0 * np.pi) * cl[2:])
    if not variance > 0.0 or not np.isfinite(variance):  # a beam so wide that all of ℓ ≥ 2 underflows
        raise ValueError(
            f"smoothing_arcmin={smoothing_arcmin} leaves no power at 2 ≤ ℓ ≤ {lmax}: use a smaller smoothing"
        )
    return cl * (kappa_std**2 / variance)


def lognormal_gaussian_spectrum(cl: np.ndarray, shift: float, refine: bool = True) -> np.ndarray:
    """The spectrum C_ℓ^g of the Gaussian field g such that κ = λ(exp(g − σ_g²/2) − 1) has spectrum ``cl``.

    Through correlation functions on Gauss–Legendre nodes in μ = cos θ (``2·lmax + 2`` nodes):
    ``ξ_κ(μ) = Σ_ℓ (2ℓ+1)/(4π) C_ℓ P_ℓ(μ)``, ``ξ_g = ln(1 + ξ_κ/λ²)``, ``C_ℓ^g = 2π ∫ ξ_g P_ℓ dμ``.

    ``ξ_g`` is not band-limited, and truncating C^g at ``lmax`` changes the κ spectrum near ``lmax`` by a
    λ-dependent amount (up to ~1% there for the default maps), which would tell the classes apart. With
    ``refine`` (default), C^g is then corrected by the fixed-point iteration
    ``C^g ← C^g + (C − T(C^g))/λ²``, ``T(C^g)_ℓ = 2π ∫ λ²(exp ξ_g − 1) P_ℓ dμ``, until the band-limited g
    gives exactly ``cl`` for every ℓ ≤ lmax (relative 1e-12; it contracts by ≤ σ²/λ² per step).

    Degrees where ``cl`` is 0 (ℓ = 0, 1 of :func:`convergence_spectrum`) get C_ℓ^g = 0: the transform gives
    them slightly negative values there (ln is concave), which no Gaussian field has; κ then gets a
    small monopole and dipole (≲ 2e-4 of the variance; C_1 ≲ 1% of C_2 at nside 32). Other
    negative values above ``-1e-6 · max C^g`` are rounding and clipped to 0; more negative ones raise.

    Parameters
    ----------
    cl : array, shape (lmax + 1,)
        Target spectrum of κ, non-negative, ``lmax ≥ 1``.
    shift : float
        λ > 0, in the units of κ.
    refine : bool
        Correct for the truncation of C^g at lmax (see above).

    Returns
    -------
    array, shape (lmax + 1,), float64, non-negative.

    Raises
    ------
    ValueError
        If ``1 + ξ_κ/λ² ≤ 0`` somewhere (κ would go below −λ: no log-normal field has this spectrum), or
        if C^g is significantly negative.
    """
    cl = _check_spectrum("cl", cl)
    shift = _check_positive("shift", shift)
    lmax = cl.size - 1
    if lmax < 1:
        raise ValueError(f"cl must have at least 2 degrees (lmax ≥ 1), got {cl.size}")
    if not cl.max() > 0.0:
        raise ValueError("cl has no positive power: there is no field to transform")
    mu, weights = _gauss_legendre(2 * lmax + 2)
    scale = shift**2
    argument = 1.0 + _legendre_synthesis(cl, mu) / scale
    if argument.min() <= 0.0:
        worst = int(np.argmin(argument))
        raise ValueError(
            f"shift={shift} is too small for this spectrum: 1 + ξ_κ/λ² = {argument[worst]:.3g} ≤ 0 at "
            f"θ = {math.degrees(math.acos(mu[worst])):.3g}° (κ would need values below −λ); use a larger "
            f"shift or a smaller standard deviation (here σ/λ = {math.sqrt(_variance(cl)) / shift:.3g})"
        )
    zero = cl == 0.0
    cl_gauss = _legendre_analysis(np.log(argument), mu, weights, lmax)
    cl_gauss[zero] = 0.0
    if refine:
        tolerance = 1e-12 * cl.max()
        for _ in range(200):
            residual = cl - _legendre_analysis(
                scale * np.expm1(_legendre_synthesis(cl_gauss, mu)), mu, weights, lmax
            )
            residual[zero] = 0.0
            if np.abs(residual).max() <= tolerance:
                break
            cl_gauss += residual / scale
        else:
            raise ValueError(
                f"the log-normal spectrum did not converge for shift={shift} (σ/λ = "
                f"{math.sqrt(_variance(cl)) / shift:.3g}): use a larger shift or a smaller standard deviation"
            )
    largest = cl_gauss.max()
    if cl_gauss.min() < -NEGATIVE_TOLERANCE * largest:
        ell = int(np.argmin(cl_gauss))
        raise ValueError(
            f"no log-normal field with shift={shift} has this spectrum: the Gaussian spectrum is negative at "
            f"ℓ={ell} (C_ℓ^g = {cl_gauss[ell]:.3g}, max {largest:.3g}): the target C_ℓ there is below the "
            "power the exponential moves from other degrees; use a larger shift, a smaller standard "
            "deviation, or a spectrum that falls less steeply (less smoothing, a smaller lmax)"
        )
    return np.maximum(cl_gauss, 0.0)


def _variance(cl: np.ndarray) -> float:
    """The variance ``Σ_ℓ (2ℓ+1)/(4π) C_ℓ`` of a field with spectrum ``cl`` (shape ``(lmax + 1,)``)."""
    cl = np.asarray(cl, dtype=np.float64)
    ell = np.arange(cl.size)
    return float(np.sum((2.0 * ell + 1.0) / (4.0 * np.pi) * cl))


def lognormal_skewness(std: float, shift: float) -> float:
    """Skewness of a shifted log-normal variable of standard deviation ``std`` and shift λ = ``shift``.

    ``κ/λ + 1 = exp(g − s²/2)`` is log-normal with ``s² = ln(1 + σ²/λ²)``; its skewness is
    ``(e^{s²} + 2) sqrt(e^{s²} − 1)``. As ``e^{s²} = 1 + σ²/λ²``, this is exactly ``3 (σ/λ) + (σ/λ)³``.
    """
    ratio = _check_positive("std", std) / _check_positive("shift", shift)
    return 3.0 * ratio + ratio**3


# --- maps -----------------------------------------------------------------------------------------------


def lognormal_map(
    cl_gauss: np.ndarray, shift: float, nside: int, rng: np.random.Generator | int
) -> np.ndarray:
    """A shifted log-normal HEALPix map ``κ = λ (exp(g − σ_g²/2) − 1)``, NESTED, shape ``(12 nside²,)``.

    ``g`` is the Gaussian field of spectrum ``cl_gauss`` (degrees up to ``lmax = len(cl_gauss) − 1``)
    evaluated at the pixel centres (no pixel window): ``a_ℓ0 ~ N(0, C_ℓ)`` real, and for m > 0 real and
    imaginary parts ~ N(0, C_ℓ/2), drawn from ``rng`` in healpy's alm order; σ_g² = Σ (2ℓ+1)/(4π) C_ℓ^g is
    the expected variance, so that κ has zero expectation.

    Parameters
    ----------
    cl_gauss : array, shape (lmax + 1,)
        Non-negative spectrum of g (:func:`lognormal_gaussian_spectrum`).
    shift : float
        λ > 0.
    nside : int
        HEALPix resolution, a power of two.
    rng : numpy.random.Generator or int
        Source of randomness, or a seed for ``numpy.random.default_rng``.

    Returns
    -------
    array, shape (12 nside²,), float64, NESTED.
    """
    cl_gauss = _check_spectrum("cl_gauss", cl_gauss)
    shift = _check_positive("shift", shift)
    nside = check_nside(nside)
    rng = _as_generator(rng)
    lmax = cl_gauss.size - 1
    ell, m = hp.Alm.getlm(lmax)
    scale = np.sqrt(np.where(m == 0, 1.0, 0.5) * cl_gauss[ell])
    real = rng.standard_normal(ell.size)
    imag = rng.standard_normal(ell.size)
    imag[m == 0] = 0.0
    alm = scale * (real + 1j * imag)
    g = hp.reorder(hp.alm2map(alm, nside, lmax=lmax, mmax=lmax, pixwin=False), r2n=True)
    return shift * np.expm1(g - 0.5 * _variance(cl_gauss))


def default_smoothing_arcmin(nside: int) -> float:
    """:func:`cosmology_map`'s default smoothing FWHM, arcminutes: 2 pixel sizes (``healpy.nside2resol``)."""
    return DEFAULT_SMOOTHING_PIXELS * hp.nside2resol(check_nside(nside), arcmin=True)


def cosmology_spectra(
    model: CosmologyModel,
    nside: int,
    kappa_std: float = 0.02,
    smoothing_arcmin: float | None = None,
    z_source: float = 1.0,
    lmax: int | None = None,
    ell_turn: float = 300.0,
) -> tuple[np.ndarray, np.ndarray, float]:
    """The spectra behind :func:`cosmology_map` (same parameters): ``(cl_kappa, cl_gauss, shift)``.

    ``cl_kappa`` (shape ``(lmax + 1,)``) is the target κ spectrum, the same for every model;
    ``cl_gauss`` the spectrum of g; ``shift`` = λ = :func:`empty_beam_convergence` of the model. Cached:
    the arrays are read-only.
    """
    if not isinstance(model, CosmologyModel):
        raise ValueError(f"model must be a CosmologyModel (e.g. PAPER_MODELS[0]), got {type(model).__name__}")
    nside = check_nside(nside)
    kappa_std = _check_positive("kappa_std", kappa_std)
    z_source = _check_positive("z_source", z_source)
    ell_turn = _check_positive("ell_turn", ell_turn)
    lmax = 3 * nside - 1 if lmax is None else _check_int("lmax", lmax, minimum=2)
    pixel_arcmin = hp.nside2resol(nside, arcmin=True)
    if smoothing_arcmin is None:
        smoothing_arcmin = DEFAULT_SMOOTHING_PIXELS * pixel_arcmin
    smoothing_arcmin = _check_positive("smoothing_arcmin", smoothing_arcmin)
    if smoothing_arcmin < MIN_SMOOTHING_PIXELS * pixel_arcmin:
        raise ValueError(
            f"smoothing_arcmin={smoothing_arcmin:.4g} is smaller than a pixel ({pixel_arcmin:.4g} arcmin at "
            f"nside={nside}): the field would not be resolved and the two classes' pixel spectra would "
            f"differ; use at least {MIN_SMOOTHING_PIXELS * pixel_arcmin:.4g} (default: "
            f"{DEFAULT_SMOOTHING_PIXELS * pixel_arcmin:.4g})"
        )
    return _cosmology_spectra(model.omega_m, kappa_std, smoothing_arcmin, z_source, lmax, ell_turn)


@lru_cache(maxsize=32)
def _cosmology_spectra(
    omega_m: float, kappa_std: float, smoothing_arcmin: float, z_source: float, lmax: int, ell_turn: float
) -> tuple[np.ndarray, np.ndarray, float]:
    cl = convergence_spectrum(lmax, kappa_std, smoothing_arcmin, ell_turn)
    shift = empty_beam_convergence(omega_m, z_source)
    cl_gauss = lognormal_gaussian_spectrum(cl, shift)
    cl.flags.writeable = False
    cl_gauss.flags.writeable = False
    return cl, cl_gauss, shift


def cosmology_map(
    model: CosmologyModel,
    nside: int,
    rng: np.random.Generator | int,
    kappa_std: float = 0.02,
    smoothing_arcmin: float | None = None,
    z_source: float = 1.0,
    lmax: int | None = None,
    ell_turn: float = 300.0,
) -> np.ndarray:
    """A convergence map of one class of the cosmology task, NESTED, shape ``(12 nside²,)``, float32.

    A shifted log-normal field (:func:`lognormal_map`) with the spectrum :func:`convergence_spectrum`
    ``(lmax, kappa_std, smoothing_arcmin, ell_turn)`` — the same for every model — and the shift
    λ = :func:`empty_beam_convergence` ``(model.omega_m, z_source)``; the map's own mean is subtracted, as
    in the paper. With the defaults, σ/λ = 0.304 (Ωm = 0.31) and 0.340 (Ωm = 0.26): skewness 0.94 and 1.06.
    The Gaussian spectrum is cached per parameters, so drawing many maps costs one ``alm2map`` each.

    The two classes' spectra are identical for ℓ ≤ lmax in the continuum, but the pointwise exponential
    also puts a little power beyond lmax (~2e-4 of the variance with the defaults), more for the more
    skewed class; aliased by the pixels, it makes the classes' pixel spectra differ by ~0.6% in the top
    sixth of the band (ℓ ≳ 2.5 nside, where C_ℓ is ~1e-4 of its peak) and agree within 1e-3 below.
    Smoothing of 2 pixels minimises this: less leaks more power beyond lmax; more makes the target C_ℓ
    near lmax smaller than the power the exponential moves there from lower ℓ, which no g can undo
    (:func:`lognormal_gaussian_spectrum` then raises, or clips where the excess is < 1e-6 of the peak).

    Parameters
    ----------
    model : CosmologyModel
        The class, e.g. ``PAPER_MODELS[0]``.
    nside : int
        HEALPix resolution, a power of two.
    rng : numpy.random.Generator or int
        Source of randomness, or a seed.
    kappa_std : float
        Standard deviation of κ (before the mean subtraction), > 0.
    smoothing_arcmin : float, optional
        FWHM of the Gaussian smoothing, arcminutes; default 2 pixel sizes
        (:func:`default_smoothing_arcmin`). Less than one pixel is refused: the spectrum would not vanish
        by ``lmax`` and the pointwise exponential would put class-dependent power beyond it.
    z_source : float
        Source redshift, > 0.
    lmax : int, optional
        Largest degree of g; default ``3 nside − 1``.
    ell_turn : float
        See :func:`convergence_spectrum`.

    Examples
    --------
    >>> kappa = cosmology_map(PAPER_MODELS[1], nside=16, rng=0)
    >>> kappa.shape, kappa.dtype, bool(abs(kappa.mean()) < 1e-8)
    ((3072,), dtype('float32'), True)
    """
    _, cl_gauss, shift = cosmology_spectra(
        model, nside, kappa_std, smoothing_arcmin, z_source, lmax, ell_turn
    )
    kappa = lognormal_map(cl_gauss, shift, nside, rng)
    kappa -= kappa.mean()
    return kappa.astype(np.float32)


# --- Legendre transforms --------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    # scipy's Golub–Welsch on a banded matrix: O(n²), where numpy's leggauss is O(n³) (seconds at n ~ 6000).
    mu, weights = special.roots_legendre(n)
    mu.flags.writeable = False
    weights.flags.writeable = False
    return mu, weights


def _legendre_synthesis(cl: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """ξ(μ) = Σ_ℓ (2ℓ+1)/(4π) C_ℓ P_ℓ(μ), by the Bonnet recurrence, vectorised over μ."""
    coefficients = (2.0 * np.arange(cl.size) + 1.0) / (4.0 * np.pi) * cl
    previous, current = np.ones_like(mu), mu.copy()
    xi = coefficients[0] * previous
    if cl.size > 1:
        xi += coefficients[1] * current
    for ell in range(1, cl.size - 1):
        previous, current = current, ((2 * ell + 1) * mu * current - ell * previous) / (ell + 1)
        xi += coefficients[ell + 1] * current
    return xi


def _legendre_analysis(xi: np.ndarray, mu: np.ndarray, weights: np.ndarray, lmax: int) -> np.ndarray:
    """C_ℓ = 2π Σ_i w_i ξ(μ_i) P_ℓ(μ_i) for ℓ ≤ lmax (Gauss–Legendre quadrature of 2π ∫ ξ P_ℓ dμ)."""
    weighted = weights * xi
    cl = np.empty(lmax + 1)
    previous, current = np.ones_like(mu), mu.copy()
    cl[0] = weighted.sum()
    if lmax >= 1:
        cl[1] = weighted @ current
    for ell in range(1, lmax):
        previous, current = current, ((2 * ell + 1) * mu * current - ell * previous) / (ell + 1)
        cl[ell + 1] = weighted @ current
    return 2.0 * np.pi * cl
