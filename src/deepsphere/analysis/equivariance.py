"""Rotation equivariance of operators on HEALPix maps: the DeepSphere ICLR 2020 measure.

For an operator ``L`` on sampled maps (a graph Laplacian, a graph convolution, …), a map ``f`` and a
rotation ``g``, the normalized equivariance error (Defferrard et al. 2020, "DeepSphere: a graph-based
spherical CNN", eq. 3) is

    E_L(f, g) = (‖R(g) L f − L R(g) f‖ / ‖L f‖)²,

with ``R(g) = T R T⁻¹`` the rotation of a sampled map: analysis (``healpy.map2alm``), rotation of the
``a_ℓm`` (Wigner D matrices, ``healpy.rotate_alm``) and synthesis (``healpy.alm2map``), the paper's
``T⁻¹`` being approximated by the discrete spherical harmonic transform. :func:`equivariance_error`
averages ``E`` over random single-degree signals and random rotations, degree by degree, as in the
paper's figure.

Rotations are ZYZ Euler angles ``(ψ, θ, φ)`` in radians, active (they move the map), in the
convention of ``healpy.rotate_alm(alm, psi, theta, phi)``: ``R = R_z(φ) R_y(θ) R_z(ψ)``, so the north
pole goes to colatitude θ, longitude φ. The same rotation is
``healpy.Rotator(rot=(−ψ, θ, −φ), eulertype='Y', deg=False)``. Beware that ``healpy.Rotator`` has no
``eulertype='ZYZ'``: it silently falls back to its default ``'ZYX'`` convention (healpy ≤ 1.20).

Maps are NESTED by default (the package's ordering), RING with ``nest=False``; every transform runs in
RING ordering, and results come back in the input ordering.

Other samplings: :func:`equivariance_error_on` measures the same E on any full-sphere sampling. The
signals are real spherical-harmonic series evaluated at the pixel centres and their rotations are the
synthesis of the rotated ``a_ℓm``, both exact; ``R (L f)`` goes through an area-weighted least-squares
projection of ``L f`` onto the harmonics of degree ≤ lmax (:func:`band_limit`), which is the exact
quadrature transform on Gauss-Legendre and equiangular grids.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from math import isqrt

import healpy as hp
import numpy as np

from ..sampling import Equiangular, GaussLegendre, HEALPix, Sampling
from .spectrum import real_spherical_harmonics

Rotation = tuple[float, float, float]

# The least-squares path refuses bases worse conditioned than this: R (L f) would then amplify the part
# of L f above lmax by up to this factor (see equivariance_error_on).
MAX_CONDITION = 10.0
# The dense harmonic basis and its pseudo-inverse hold npix · (lmax + 1)² float64 numbers each.
MAX_BASIS_SIZE = 10_000_000  # 80 MB per matrix; HEALPix nside 16 needs 7.1e6


def random_rotation(rng: np.random.Generator) -> Rotation:
    """A Haar-uniform random rotation of SO(3), as ZYZ Euler angles ``(ψ, θ, φ)`` in radians.

    ψ and φ are uniform in [0, 2π) and cos θ is uniform in [−1, 1] (the Haar measure is
    ``sin θ dψ dθ dφ``); see the module docstring for the convention.

    Parameters
    ----------
    rng : numpy.random.Generator

    Returns
    -------
    tuple of 3 floats
        ``(psi, theta, phi)``, usable by :func:`rotate_map` and :func:`rotation_matrix`.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    psi, phi = rng.uniform(0.0, 2.0 * np.pi, size=2)
    theta = np.arccos(rng.uniform(-1.0, 1.0))
    return float(psi), float(theta), float(phi)


def rotation_matrix(rotation: Sequence[float]) -> np.ndarray:
    """The 3×3 matrix ``R = R_z(φ) R_y(θ) R_z(ψ)`` of ZYZ Euler angles ``(ψ, θ, φ)`` (radians).

    :func:`rotate_map` moves the map value at unit vector ``x`` to ``R @ x``.
    """
    psi, theta, phi = _check_rotation(rotation)
    return _rot_z(phi) @ _rot_y(theta) @ _rot_z(psi)


def rotate_map(
    maps: np.ndarray,
    rotation: Sequence[float],
    nest: bool = True,
    lmax: int | None = None,
    n_iter: int = 3,
) -> np.ndarray:
    """Rotate HEALPix map(s) in harmonic space: ``alm2map(rotate_alm(map2alm(f)))``.

    The value at unit vector ``x`` moves to ``R @ x`` (``R = rotation_matrix(rotation)``). Exact for
    maps band-limited well below ``lmax``; HEALPix quadrature is not exact near ℓ = 3·nside, so there
    the rotation is approximate (``n_iter`` Jacobi iterations of ``map2alm`` reduce the error), and
    degrees above ``lmax`` are lost.

    Parameters
    ----------
    maps : ndarray, shape (npix,) or (npix, C)
        Real full-sky maps, npix = 12·nside², no NaN, infinite or ``healpy.UNSEEN`` value.
    rotation : (psi, theta, phi)
        ZYZ Euler angles in radians (see :func:`random_rotation`).
    nest : bool
        Ordering of ``maps`` and of the result: NESTED (default) or RING.
    lmax : int, optional
        Band limit of the transform, 0 ≤ lmax ≤ 3·nside − 1 (the default).
    n_iter : int
        Iterations of ``healpy.map2alm`` (``iter``), ≥ 0.

    Returns
    -------
    ndarray, float64, same shape and ordering as ``maps``
    """
    x, nside = _check_maps(maps, nest)
    rotation = _check_rotation(rotation)
    lmax = _check_lmax(lmax, nside)
    n_iter = _check_int(n_iter, "n_iter", 0)
    columns = x.reshape(x.shape[0], -1)
    rotated = _rotate_columns(columns, [rotation] * columns.shape[1], nside, nest, lmax, n_iter)
    return rotated.reshape(x.shape)


def harmonic_signals(
    nside: int, ell: int, n: int, rng: np.random.Generator, nest: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Random real maps made of degree-ℓ spherical harmonics only, with their ``a_ℓm``.

    ``a_ℓ0 ~ N(0, 1)`` and, for m > 0, ``Re a_ℓm, Im a_ℓm ~ N(0, 1/2)``: the isotropic Gaussian
    field of degree ℓ (its law is rotation invariant). Only m ≥ 0 is stored (healpy's layout); the
    real-map symmetry ``a_ℓ,−m = (−1)^m conj(a_ℓm)`` is implied. Rotating the alm
    (``healpy.rotate_alm``) and synthesising gives the exactly rotated map.

    Parameters
    ----------
    nside : int
    ell : int
        Degree, 0 ≤ ell ≤ 3·nside − 1.
    n : int
        Number of maps, ≥ 1.
    rng : numpy.random.Generator
    nest : bool
        Ordering of the maps.

    Returns
    -------
    maps : ndarray (npix, n), float64
    alms : ndarray (n, (ell + 1)(ell + 2)/2), complex128
        healpy layout with ``lmax = ell``: ``maps[:, i] = alm2map(alms[i], nside, lmax=ell)``.
    """
    nside = _check_nside(nside, nest)
    ell = _check_int(ell, "ell", 0)
    if ell > 3 * nside - 1:
        raise ValueError(f"ell must be at most 3·nside − 1 = {3 * nside - 1} for nside={nside}, got {ell}")
    n = _check_int(n, "n", 1)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    alms = _degree_alms(ell, n, rng)
    return _synthesis(alms, nside, ell, nest), alms


@dataclass(frozen=True)
class EquivarianceResult:
    """Output of :func:`equivariance_error`.

    Attributes
    ----------
    ells : ndarray (n_ells,), int
        The degrees ℓ.
    error : ndarray (n_ells,)
        Mean of E over the (signal, rotation) pairs, per degree.
    samples : ndarray (n_ells, n_signals)
        E of every pair.
    mean : float
        Mean of ``error`` over the degrees.
    condition : float or None
        :func:`equivariance_error_on` only: condition number of the area-weighted real harmonic basis
        that rotates ``L f`` (1 for an exact quadrature); None for the HEALPix (healpy) path.
    """

    ells: np.ndarray
    error: np.ndarray
    samples: np.ndarray
    mean: float
    condition: float | None = None


def equivariance_error(
    operator: Callable[[np.ndarray], np.ndarray],
    nside: int,
    ells: Sequence[int] | np.ndarray | None = None,
    n_signals: int = 4,
    seed: int | np.random.Generator | None = 0,
    nest: bool = True,
    n_iter: int = 3,
) -> EquivarianceResult:
    """Mean normalized equivariance error of ``operator`` per degree ℓ, on HEALPix at ``nside``.

    For each ℓ: ``n_signals`` random degree-ℓ maps ``f`` (:func:`harmonic_signals`), each with its own
    random rotation ``R`` (:func:`random_rotation`), and

        E = (‖R L f − L R f‖ / ‖L f‖)²    (Euclidean norms over pixels),

    where ``R f`` is exact (synthesis of the rotated ``a_ℓm``) and ``R (L f)`` is
    :func:`rotate_map` with lmax = 3·nside − 1 and ``n_iter`` iterations (the paper's ``T R T⁻¹``).
    ``error`` is the mean of E over the pairs, ``mean`` the mean of ``error`` over the degrees. The
    signals of one degree go through ``operator`` together, as the columns of one (npix, n_signals)
    array.

    The measurement itself is not exact near ℓ = 3·nside (HEALPix quadrature): an exactly equivariant
    operator, e.g. the identity, scores below 1e-5 up to ℓ ≈ nside but 1e-2 to 5e-2 near
    ℓ = 3·nside at ``n_iter=3``. Compare with that floor. :func:`equivariance_error_on` with a
    :class:`~deepsphere.sampling.HEALPix` sampling has no such floor (exact least squares, nside ≤ 16).

    Parameters
    ----------
    operator : callable
        Maps an (npix, N) float64 array (in the ``nest`` ordering) to an (npix, N) array, e.g.
        ``lambda x: L @ x`` for a scipy.sparse Laplacian ``L``.
    nside : int
    ells : sequence of int, optional
        Degrees, each in [1, 3·nside − 1]; default all of them. ℓ = 0 (constant maps) is excluded:
        a Laplacian maps them to ≈ 0 and E is undefined.
    n_signals : int
        (signal, rotation) pairs per degree.
    seed : int, numpy.random.Generator or None
        Source of the signals and rotations.
    nest : bool
        Ordering in which ``operator`` works.
    n_iter : int
        ``healpy.map2alm`` iterations used to rotate ``L f``.

    Returns
    -------
    EquivarianceResult

    Examples
    --------
    >>> from deepsphere.graph import knn_graph
    >>> from deepsphere.sampling import HEALPix
    >>> L = knn_graph(HEALPix(nside=8), k=20).laplacian()
    >>> result = equivariance_error(lambda x: L @ x, nside=8, n_signals=2)
    >>> result.ells[[0, -1]], bool(result.mean < 0.01)
    (array([ 1, 23]), True)
    """
    _check_operator(operator)
    nside = _check_nside(nside, nest)
    lmax = 3 * nside - 1
    ells = _check_ells(ells, lmax, "3·nside − 1")
    n_signals = _check_int(n_signals, "n_signals", 1)
    n_iter = _check_int(n_iter, "n_iter", 0)
    rng = _check_seed(seed)

    def draw(ell: int) -> tuple[np.ndarray, np.ndarray, list[Rotation]]:
        f, alms = harmonic_signals(nside, ell, n_signals, rng, nest)
        rotations = [random_rotation(rng) for _ in range(n_signals)]
        for alm, rotation in zip(alms, rotations, strict=True):
            hp.rotate_alm(alm, *rotation)  # in place, on a row of alms
        return f, _synthesis(alms, nside, ell, nest), rotations

    def rotate(columns: np.ndarray, rotations: list[Rotation]) -> np.ndarray:
        return _rotate_columns(columns, rotations, nside, nest, lmax, n_iter)

    samples = _sample_errors(operator, ells, n_signals, draw, rotate, area=None)
    error = samples.mean(axis=1)
    return EquivarianceResult(ells=ells, error=error, samples=samples, mean=float(error.mean()))


def band_limit(sampling: Sampling) -> int:
    """The default lmax of :func:`equivariance_error_on`: the degrees a full-sphere sampling resolves.

    * :class:`~deepsphere.sampling.HEALPix`: 3·nside − 1 (healpy's band limit);
    * :class:`~deepsphere.sampling.GaussLegendre`: min(nlat − 1, ⌊(nlon − 1)/2⌋), the largest L whose
      products of two degree-≤ L harmonics the rule integrates exactly (2L ≤ 2·nlat − 1, nlon > 2L);
    * :class:`~deepsphere.sampling.Equiangular`: min(⌊D/2⌋, ⌊(nlon − 1)/2⌋), D the degree of exactness
      of its rule (nlat − 1 for Driscoll-Healy and SOFT, nlat for Clenshaw-Curtis);
    * any other sampling: the largest L with (L + 1)² ≤ npix / 2, two pixels per real coefficient.

    Examples
    --------
    >>> from deepsphere.sampling import GaussLegendre, HEALPix, Icosahedral
    >>> band_limit(HEALPix(nside=8)), band_limit(GaussLegendre(nlat=20)), band_limit(Icosahedral(3))
    (23, 19, 16)
    """
    if not isinstance(sampling, Sampling):
        raise ValueError(f"sampling must be a deepsphere.sampling.Sampling, got {type(sampling).__name__}")
    if isinstance(sampling, HEALPix):
        return 3 * sampling.nside - 1
    if isinstance(sampling, GaussLegendre):
        return min(sampling.nlat - 1, (sampling.nlon - 1) // 2)
    if isinstance(sampling, Equiangular):
        exactness = sampling.nlat if sampling.kind == "clenshaw-curtis" else sampling.nlat - 1
        return min(exactness // 2, (sampling.nlon - 1) // 2)
    return isqrt(sampling.npix // 2) - 1


def equivariance_error_on(
    sampling: Sampling,
    operator: Callable[[np.ndarray], np.ndarray],
    ells: Sequence[int] | np.ndarray | None = None,
    n_signals: int = 4,
    seed: int | np.random.Generator | None = 0,
    lmax: int | None = None,
) -> EquivarianceResult:
    """Mean normalized equivariance error of ``operator`` per degree ℓ, on any full-sphere sampling.

    The measure of :func:`equivariance_error` with the signals evaluated at the pixel centres
    ``x_i`` of ``sampling`` (any :class:`~deepsphere.sampling.Sampling`: HEALPix, Gauss-Legendre,
    equiangular, icosahedral, cubed sphere, point cloud):

    * ``f(x_i) = Σ_m a_ℓm Y_ℓm(x_i)`` with the random ``a_ℓm`` of :func:`harmonic_signals` (the same
      draws for the same seed), exact at any point;
    * ``R f`` is the synthesis of the rotated ``a_ℓm`` (``healpy.rotate_alm``), exact;
    * ``R (L f)``: ``L f`` is projected onto the real orthonormal harmonics ``y_j`` of degree ≤ lmax
      by area-weighted least squares, ``c = argmin Σ_i A_i (L f(x_i) − Σ_j c_j y_j(x_i))²`` (A_i the
      pixel areas), whose coefficients are rotated and synthesised at the ``x_i``. When the sampling
      integrates the products ``y_j y_j'`` exactly (Gauss-Legendre and equiangular grids up to
      :func:`band_limit`), ``Σ_i A_i y_j y_j' = δ_jj'`` and the least squares are the exact quadrature
      transform ``c_j = Σ_i A_i y_j(x_i) L f(x_i)``;
    * ``E = (‖R L f − L R f‖_A / ‖L f‖_A)²`` with the area-weighted norm ``‖g‖_A² = Σ_i A_i g_i²``,
      the discrete L² norm of the sphere. On equal-area samplings (HEALPix) it is the paper's
      Euclidean norm up to a constant, which cancels.

    The floor of the measurement: signals of degree ≤ lmax lie in the span of the basis, so an exactly
    equivariant operator (the identity) scores ≈ 1e-29 on every sampling. What the identity cannot
    show is how the rotation treats the part of ``L f`` above lmax, which a graph operator creates: on
    the pixels, rotating a degree-≤ lmax function changes its ``‖·‖_A`` by at most the condition
    number κ of the area-weighted basis (``result.condition``): κ = 1 for an exact quadrature,
    1.05–1.1 on icosahedral and cubed-sphere grids at the default lmax, 1.5–2.5 on HEALPix with
    lmax = 3·nside − 1 for nside 2–8 (6.9 at nside 16). Bases with κ > ``MAX_CONDITION`` (10) are
    refused: e.g. a cubed sphere with (lmax + 1)² ≈ 3/4 · npix has κ ≈ 1e3 and gives E ≈ 20 at ℓ = 1
    for a graph that scores 0.3 at a smaller lmax; 768 uniform random points have κ > 10 at the
    default lmax = 18 and κ ≈ 1.7 at lmax = 9.

    On HEALPix (equal areas) this least-squares projection is the limit of healpy's ``map2alm``
    iterations: with the same seed, both paths see the same signals and rotations, and E agrees with
    :func:`equivariance_error` at ``n_iter=30`` to 1e-4 relative at every degree (nside 4 and 8);
    at the default ``n_iter=3`` only to 7 % (nside 4) and 70 % (nside 8) near ℓ = 3·nside, its floor.

    Dense linear algebra: ``npix · (lmax + 1)²`` numbers (at most ``MAX_BASIS_SIZE`` = 1e7) and an
    SVD, cached for the last two (sampling, lmax) pairs: about 0.1 s at 800 pixels, 10 s at 3 072
    (HEALPix nside 16), so meant for small samplings.

    Parameters
    ----------
    sampling : Sampling
        A full-sphere sampling (rotations move the signal across any boundary of a partial sky).
    operator : callable
        Maps an (npix, N) float64 array (rows in the sampling's pixel order) to an (npix, N) array.
    ells : sequence of int, optional
        Degrees, each in [1, lmax]; default all of them.
    n_signals : int
        (signal, rotation) pairs per degree.
    seed : int, numpy.random.Generator or None
        Source of the signals and rotations.
    lmax : int, optional
        Band limit of the projection of ``L f``; default :func:`band_limit`, at most
        ``isqrt(npix) − 1`` (no more coefficients than pixels).

    Returns
    -------
    EquivarianceResult
        With ``condition`` set.

    Examples
    --------
    >>> from deepsphere.graph import knn_graph
    >>> from deepsphere.sampling import GaussLegendre
    >>> grid = GaussLegendre(nlat=8)
    >>> L = knn_graph(grid, k=8).laplacian()
    >>> identity = equivariance_error_on(grid, lambda x: x, n_signals=2)
    >>> graph = equivariance_error_on(grid, lambda x: L @ x, n_signals=2)
    >>> int(identity.ells[-1]), round(identity.condition, 6), bool(identity.mean < 1e-20 < graph.mean)
    (7, 1.0, True)
    """
    if not isinstance(sampling, Sampling):
        raise ValueError(f"sampling must be a deepsphere.sampling.Sampling, got {type(sampling).__name__}")
    if not sampling.is_full:
        raise ValueError(
            f"sampling must cover the whole sphere (a rotation moves the signal across the edge of a "
            f"partial sky), got {sampling!r}"
        )
    _check_operator(operator)
    lmax = band_limit(sampling) if lmax is None else _check_int(lmax, "lmax", 1)
    if (lmax + 1) ** 2 > sampling.npix:
        raise ValueError(
            f"lmax must be at most isqrt(npix) − 1 = {isqrt(sampling.npix) - 1} for {sampling.npix} pixels "
            f"(no more real coefficients (lmax + 1)² than pixels), got {lmax}"
        )
    ells = _check_ells(ells, lmax, "lmax")
    n_signals = _check_int(n_signals, "n_signals", 1)
    rng = _check_seed(seed)
    basis = _harmonic_basis(sampling, lmax)
    n_alm = hp.Alm.getsize(lmax)

    def draw(ell: int) -> tuple[np.ndarray, np.ndarray, list[Rotation]]:
        alms = _degree_alms(ell, n_signals, rng)
        rotations = [random_rotation(rng) for _ in range(n_signals)]
        degree = hp.Alm.getidx(ell, ell, np.arange(ell + 1))  # the degree-ell alms, m = 0 … ell
        signals = np.zeros((n_signals, n_alm), dtype=np.complex128)
        signals[:, hp.Alm.getidx(lmax, ell, np.arange(ell + 1))] = alms[:, degree]
        rotated = np.zeros_like(signals)
        for alm, rotation in zip(alms, rotations, strict=True):
            hp.rotate_alm(alm, *rotation)  # in place, on a row of alms
        rotated[:, hp.Alm.getidx(lmax, ell, np.arange(ell + 1))] = alms[:, degree]
        return basis.synthesis(signals), basis.synthesis(rotated), rotations

    def rotate(columns: np.ndarray, rotations: list[Rotation]) -> np.ndarray:
        alms = basis.analysis(columns)
        for alm, rotation in zip(alms, rotations, strict=True):
            hp.rotate_alm(alm, *rotation)
        return basis.synthesis(alms)

    samples = _sample_errors(operator, ells, n_signals, draw, rotate, area=sampling.area)
    error = samples.mean(axis=1)
    return EquivarianceResult(
        ells=ells, error=error, samples=samples, mean=float(error.mean()), condition=basis.condition
    )


def _degree_alms(ell: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, (ell + 1)(ell + 2)/2) healpy-layout alms (lmax = ell) of random degree-ell signals."""
    coefficients = rng.standard_normal((n, ell + 1)) + 1j * rng.standard_normal((n, ell + 1))
    coefficients[:, 1:] /= np.sqrt(2.0)
    coefficients[:, 0] = coefficients[:, 0].real
    alms = np.zeros((n, hp.Alm.getsize(ell)), dtype=np.complex128)
    alms[:, hp.Alm.getidx(ell, ell, np.arange(ell + 1))] = coefficients
    return alms


def _sample_errors(
    operator: Callable[[np.ndarray], np.ndarray],
    ells: np.ndarray,
    n_signals: int,
    draw: Callable[[int], tuple[np.ndarray, np.ndarray, list[Rotation]]],
    rotate: Callable[[np.ndarray, list[Rotation]], np.ndarray],
    area: np.ndarray | None,
) -> np.ndarray:
    """E of every (degree, signal) pair, (n_ells, n_signals): ``draw(ell)`` gives the signals f, their
    exact rotations R f and the rotations; ``rotate`` rotates L f; norms weighted by ``area`` if given."""
    weights = None if area is None else np.sqrt(area)[:, None]

    def norms(x: np.ndarray) -> np.ndarray:
        return np.linalg.norm(x if weights is None else weights * x, axis=0)

    samples = np.empty((len(ells), n_signals))
    for row, ell in enumerate(ells):
        f, rotated_f, rotations = draw(int(ell))
        lf = _apply(operator, f)
        lf_norms = norms(lf)
        if not np.all(lf_norms > 0):
            raise ValueError(f"operator returned a zero map for a degree-{ell} signal: E is undefined")
        difference = rotate(lf, rotations) - _apply(operator, rotated_f)
        samples[row] = (norms(difference) / lf_norms) ** 2
    return samples


def check_basis_size(sampling: Sampling, lmax: int) -> None:
    """ValueError if :func:`equivariance_error_on` would need more than ``MAX_BASIS_SIZE`` numbers."""
    size = sampling.npix * (lmax + 1) ** 2
    if size > MAX_BASIS_SIZE:
        raise ValueError(
            f"lmax={lmax} on the {sampling.npix} pixels of a {type(sampling).__name__} needs a dense "
            f"harmonic basis of {size:.3g} numbers, more than {MAX_BASIS_SIZE:.3g}: use a coarser sampling "
            "or a smaller lmax"
        )


@dataclass(frozen=True)
class _HarmonicBasis:
    """The real orthonormal harmonics of degree ≤ lmax at a sampling's pixels
    (:func:`~deepsphere.analysis.real_spherical_harmonics`) and their area-weighted least-squares
    projector; coefficients come and go as healpy-layout complex alms.

    With healpy's (Condon–Shortley) ``Y_ℓm`` and the real ``Y^R_ℓm`` of ``real_spherical_harmonics``,
    ``Y^R_ℓ,±m = √2 (−1)^m (Re, Im) Y_ℓm`` for m > 0, the real map of alms ``a`` is
    ``Σ a_ℓ0 Y_ℓ0 + 2 Re Σ_m>0 a_ℓm Y_ℓm``
    ``= Σ a_ℓ0 Y^R_ℓ0 + Σ_m>0 √2 (−1)^m (Re a_ℓm Y^R_ℓm − Im a_ℓm Y^R_ℓ,−m)``.
    """

    lmax: int
    matrix: np.ndarray  # (npix, (lmax + 1)²): Y^R at the pixels, column ℓ² + ℓ + m
    projector: np.ndarray  # ((lmax + 1)², npix): real coefficients of the weighted least-squares fit
    condition: float

    def synthesis(self, alms: np.ndarray) -> np.ndarray:
        """Maps (npix, C) of the real signals with alms (C, n_alm)."""
        plus, minus, scale, positive = _real_layout(self.lmax)
        real = np.zeros((len(alms), self.matrix.shape[1]))
        real[:, plus] = scale * alms.real
        real[:, minus[positive]] = -scale[positive] * alms.imag[:, positive]
        return self.matrix @ real.T

    def analysis(self, maps: np.ndarray) -> np.ndarray:
        """Alms (C, n_alm) of the least-squares fit of maps (npix, C)."""
        plus, minus, scale, positive = _real_layout(self.lmax)
        real = (self.projector @ maps).T
        alms = (real[:, plus] / scale).astype(np.complex128)
        alms[:, positive] -= 1j * real[:, minus[positive]] / scale[positive]
        return alms


@lru_cache(maxsize=8)
def _real_layout(lmax: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each healpy alm (ℓ, m): the real columns ℓ² + ℓ + m and ℓ² + ℓ − m, the factor 1 (m = 0)
    or √2 (−1)^m between alm and real coefficients, and the mask m > 0."""
    ell, m = hp.Alm.getlm(lmax)
    layout = (
        ell * ell + ell + m,
        ell * ell + ell - m,
        np.where(m > 0, np.sqrt(2.0) * (-1.0) ** m, 1.0),
        m > 0,
    )
    for array in layout:
        array.flags.writeable = False
    return layout


@lru_cache(maxsize=2)
def _harmonic_basis(sampling: Sampling, lmax: int) -> _HarmonicBasis:
    """The basis of ``sampling`` up to ``lmax``; ValueError if too large or too ill-conditioned."""
    check_basis_size(sampling, lmax)
    matrix = real_spherical_harmonics(sampling, lmax)
    weights = np.sqrt(sampling.area)
    u, singular, vt = np.linalg.svd(weights[:, None] * matrix, full_matrices=False)
    condition = float(singular[0] / singular[-1]) if singular[-1] > 0 else np.inf
    if not condition <= MAX_CONDITION:
        raise ValueError(
            f"lmax={lmax} is too high for this {type(sampling).__name__} of {sampling.npix} pixels: its "
            f"area-weighted harmonic basis has condition "
            f"number {condition:.3g} > {MAX_CONDITION:g}, which would amplify the part of L f above lmax; "
            f"pass a smaller lmax (default: band_limit(sampling) = {band_limit(sampling)})"
        )
    projector = (vt.T / singular) @ (u.T * weights)
    for array in (matrix, projector):
        array.flags.writeable = False
    return _HarmonicBasis(lmax=lmax, matrix=matrix, projector=projector, condition=condition)


def _rotate_columns(
    columns: np.ndarray, rotations: Sequence[Rotation], nside: int, nest: bool, lmax: int, n_iter: int
) -> np.ndarray:
    """Rotate column i of ``columns`` (npix, C) by ``rotations[i]``; validated inputs."""
    ring = columns[_ring_to_nest(nside)] if nest else columns
    alms = hp.map2alm(ring.T, lmax=lmax, iter=n_iter, pol=False).reshape(columns.shape[1], -1)
    for alm, rotation in zip(alms, rotations, strict=True):
        hp.rotate_alm(alm, *rotation)
    return _synthesis(alms, nside, lmax, nest)


def _synthesis(alms: np.ndarray, nside: int, lmax: int, nest: bool) -> np.ndarray:
    """Maps (npix, C) in the requested ordering from alms (C, n_alm)."""
    ring = hp.alm2map(alms, nside, lmax=lmax, pol=False).reshape(len(alms), -1).T
    return ring[_nest_to_ring(nside)] if nest else np.ascontiguousarray(ring)


@lru_cache(maxsize=16)
def _ring_to_nest(nside: int) -> np.ndarray:
    """``ring_map = nest_map[index]``."""
    index = hp.ring2nest(nside, np.arange(hp.nside2npix(nside)))
    index.flags.writeable = False
    return index


@lru_cache(maxsize=16)
def _nest_to_ring(nside: int) -> np.ndarray:
    """``nest_map = ring_map[index]``."""
    index = hp.nest2ring(nside, np.arange(hp.nside2npix(nside)))
    index.flags.writeable = False
    return index


def _apply(operator: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    y = operator(x)
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"operator must return a real array of shape {x.shape}, got {type(y).__name__}"
        ) from err
    if y.shape != x.shape:
        raise ValueError(f"operator must return an array of shape {x.shape} (npix, N), got shape {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError(f"operator returned {np.count_nonzero(~np.isfinite(y))} NaN or infinite values")
    return y


def _check_operator(operator: object) -> None:
    if not callable(operator):
        raise ValueError(
            f"operator must be callable (an (npix, N) array -> (npix, N) array), got {operator!r}"
        )


def _rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _check_nest(nest: object) -> bool:
    if not isinstance(nest, (bool, np.bool_)):
        raise ValueError(f"nest must be True (NESTED) or False (RING), got {nest!r}")
    return bool(nest)


def _check_nside(nside: object, nest: object) -> int:
    nest = _check_nest(nest)
    nside = _check_int(nside, "nside", 1)
    if nest and nside & (nside - 1):
        raise ValueError(f"nside must be a power of 2 for NESTED maps (nest=True), got {nside}")
    return nside


def _check_seed(seed: object) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (
        isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0
    ):
        raise ValueError(
            f"seed must be a non-negative integer, a numpy.random.Generator or None, got {seed!r}"
        )
    return np.random.default_rng(seed)


def _check_rotation(rotation: object) -> Rotation:
    try:
        angles = np.asarray(rotation, dtype=np.float64)
    except (TypeError, ValueError):
        angles = None
    if angles is None or angles.shape != (3,) or not np.isfinite(angles).all():
        raise ValueError(
            f"rotation must be 3 finite ZYZ Euler angles (psi, theta, phi) in radians, got {rotation!r}"
        )
    return float(angles[0]), float(angles[1]), float(angles[2])


def _check_lmax(lmax: object, nside: int) -> int:
    if lmax is None:
        return 3 * nside - 1
    lmax = _check_int(lmax, "lmax", 0)
    if lmax > 3 * nside - 1:
        raise ValueError(f"lmax must be at most 3·nside − 1 = {3 * nside - 1} for nside={nside}, got {lmax}")
    return lmax


def _check_maps(maps: object, nest: object) -> tuple[np.ndarray, int]:
    """Validate maps (npix,) or (npix, C); return them as float64 and their nside."""
    nest = _check_nest(nest)
    x = np.asarray(maps)
    if x.dtype.kind not in "biuf":
        raise ValueError(f"maps must be real numbers, got dtype {x.dtype}")
    if x.ndim not in (1, 2) or x.size == 0:
        raise ValueError(f"maps must have shape (npix,) or (npix, C), got shape {x.shape}")
    npix = x.shape[0]
    if not hp.isnpixok(npix):
        hint = " (channels first? pass maps.T)" if x.ndim == 2 and hp.isnpixok(x.shape[1]) else ""
        raise ValueError(
            f"maps has {npix} pixels along axis 0{hint}, a HEALPix map has 12·nside² (e.g. 3072 for nside 16)"
        )
    nside = hp.npix2nside(npix)
    if nest and nside & (nside - 1):
        raise ValueError(f"maps has nside={nside}, not a power of 2, so it cannot be NESTED: pass nest=False")
    x = x.astype(np.float64)
    bad = np.count_nonzero(~np.isfinite(x))
    if bad:
        raise ValueError(f"maps has {bad} NaN or infinite values")
    unseen = np.count_nonzero(np.isclose(x, hp.UNSEEN))
    if unseen:
        raise ValueError(f"maps has {unseen} UNSEEN pixels: rotate_map needs full-sky maps")
    return x, nside


def _check_ells(ells: object, lmax: int, bound: str) -> np.ndarray:
    """Degrees in [1, lmax] (``bound`` names lmax in the message); default all of them."""
    if ells is None:
        return np.arange(1, lmax + 1)
    values = np.asarray(ells)
    if values.ndim != 1 or values.size == 0 or values.dtype.kind not in "iu":
        raise ValueError(f"ells must be a non-empty sequence of integers, got {ells!r}")
    if values.min() < 1 or values.max() > lmax:
        raise ValueError(
            f"ells must lie in [1, {bound}] = [1, {lmax}], got values in "
            f"[{values.min()}, {values.max()}] (ℓ = 0 is excluded: constant maps have L f ≈ 0)"
        )
    return values.astype(np.int64)
