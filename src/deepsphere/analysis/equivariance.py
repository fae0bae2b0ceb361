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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import healpy as hp
import numpy as np

Rotation = tuple[float, float, float]


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
    coefficients = rng.standard_normal((n, ell + 1)) + 1j * rng.standard_normal((n, ell + 1))
    coefficients[:, 1:] /= np.sqrt(2.0)
    coefficients[:, 0] = coefficients[:, 0].real
    alms = np.zeros((n, hp.Alm.getsize(ell)), dtype=np.complex128)
    alms[:, hp.Alm.getidx(ell, ell, np.arange(ell + 1))] = coefficients
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
    """

    ells: np.ndarray
    error: np.ndarray
    samples: np.ndarray
    mean: float


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
    ℓ = 3·nside at ``n_iter=3``. Compare with that floor.

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
    if not callable(operator):
        raise ValueError(
            f"operator must be callable (an (npix, N) array -> (npix, N) array), got {operator!r}"
        )
    nside = _check_nside(nside, nest)
    lmax = 3 * nside - 1
    ells = _check_ells(ells, lmax)
    n_signals = _check_int(n_signals, "n_signals", 1)
    n_iter = _check_int(n_iter, "n_iter", 0)
    rng = _check_seed(seed)
    samples = np.empty((len(ells), n_signals))
    for row, ell in enumerate(ells):
        f, alms = harmonic_signals(nside, int(ell), n_signals, rng, nest)
        rotations = [random_rotation(rng) for _ in range(n_signals)]
        for alm, rotation in zip(alms, rotations, strict=True):
            hp.rotate_alm(alm, *rotation)  # in place, on a row of alms
        rotated_f = _synthesis(alms, nside, int(ell), nest)
        lf = _apply(operator, f)
        norms = np.linalg.norm(lf, axis=0)
        if not np.all(norms > 0):
            raise ValueError(f"operator returned a zero map for a degree-{ell} signal: E is undefined")
        difference = _rotate_columns(lf, rotations, nside, nest, lmax, n_iter) - _apply(operator, rotated_f)
        samples[row] = (np.linalg.norm(difference, axis=0) / norms) ** 2
    error = samples.mean(axis=1)
    return EquivarianceResult(ells=ells, error=error, samples=samples, mean=float(error.mean()))


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


def _check_ells(ells: object, lmax: int) -> np.ndarray:
    if ells is None:
        return np.arange(1, lmax + 1)
    values = np.asarray(ells)
    if values.ndim != 1 or values.size == 0 or values.dtype.kind not in "iu":
        raise ValueError(f"ells must be a non-empty sequence of integers, got {ells!r}")
    if values.min() < 1 or values.max() > lmax:
        raise ValueError(
            f"ells must lie in [1, 3·nside − 1] = [1, {lmax}], got values in "
            f"[{values.min()}, {values.max()}] (ℓ = 0 is excluded: constant maps have L f ≈ 0)"
        )
    return values.astype(np.int64)
