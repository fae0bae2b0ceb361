"""The graph Laplacian's spectrum against the sphere's: eigenvalues, Fourier modes and harmonics.

On the sphere, the Laplace–Beltrami operator has the eigenvalues ℓ(ℓ+1), each shared by the 2ℓ+1
spherical harmonics of degree ℓ. A graph Laplacian of a good sampling approximates it up to a scale:
its eigenvalues come in groups of 2ℓ+1 (eigenvectors ℓ² … (ℓ+1)²−1, sorted by eigenvalue) and each
group spans nearly the same subspace as the degree-ℓ harmonics (DeepSphere, Defferrard et al. 2020,
figures of the graph spectrum and of the subspace alignment). This module measures both:

- :func:`real_spherical_harmonics` — the real orthonormal harmonics ``Y_ℓm`` at any points;
- :func:`graph_spectrum` — the smallest eigenpairs of a graph Laplacian;
- :func:`subspace_alignment` — the overlap of each eigenvector group with each harmonic degree;
- :func:`degree_eigenvalues` — the eigenvalues per group, scaled to compare with ℓ(ℓ+1);
- :func:`spectrum_report` — all of it for one sampling and k-NN graph, with figures and a JSON file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..data import atomic_write
from ..graph import SphereGraph, knn_graph
from ..sampling import CubedSphere, Equiangular, GaussLegendre, HEALPix, Icosahedral, PointCloud, Sampling

# Graphs up to this many vertices are diagonalised densely (LAPACK), larger ones by shift-invert Lanczos.
DENSE_SPECTRUM_LIMIT = 2048
# spectrum_report refuses larger graphs: their eigenpairs would take minutes.
MAX_REPORT_VERTICES = 200_000
REPORT_SAMPLINGS = ("healpix", "equiangular", "gauss_legendre", "icosahedral", "cubed_sphere", "random")
SPECTRUM_FILES = (
    "spectrum.json",
    "spectrum_eigenvalues.png",
    "spectrum_alignment.png",
    "spectrum_alignment_diagonal.png",
)


def real_spherical_harmonics(coords_or_sampling: Any, lmax: int) -> np.ndarray:
    """Real orthonormal spherical harmonics ``Y_ℓm`` at unit vectors, all degrees 0 … lmax.

    With θ the colatitude and φ the longitude of a point, ``P̄_ℓ^m`` the associated Legendre functions
    normalised so that ``P̄_ℓ^m(cos θ) e^{imφ}`` is orthonormal on the sphere (no Condon–Shortley phase)::

        Y_ℓm = √2 P̄_ℓ^m(cos θ) cos(mφ)      for m > 0,
        Y_ℓ0 = P̄_ℓ^0(cos θ),
        Y_ℓm = √2 P̄_ℓ^|m|(cos θ) sin(|m|φ)  for m < 0,

    so that ∫ Y_ℓm Y_ℓ'm' dΩ = δ_ℓℓ' δ_mm'. For m > 0 this is ``√2 (−1)^m Re Y_ℓ^m`` and for m < 0
    ``√2 (−1)^m Im Y_ℓ^|m|`` of the complex harmonics with the Condon–Shortley phase (those of scipy and
    healpy). ``P̄`` comes from the stable recurrences ``P̄_m^m = √((2m+1)/(2m)) sin θ P̄_{m−1}^{m−1}``,
    ``P̄_{m+1}^m = √(2m+3) cos θ P̄_m^m`` and
    ``P̄_ℓ^m = a_ℓm (cos θ P̄_{ℓ−1}^m − b_ℓm P̄_{ℓ−2}^m)``, ``a_ℓm = √((4ℓ²−1)/(ℓ²−m²))``,
    ``b_ℓm = √(((ℓ−1)²−m²)/(4(ℓ−1)²−1))``, from ``P̄_0^0 = 1/√(4π)``.

    Parameters
    ----------
    coords_or_sampling : Sampling or ndarray (n, 3)
        A sampling (its pixel centres) or unit vectors (x, y, z).
    lmax : int
        Largest degree, ≥ 0.

    Returns
    -------
    ndarray (n, (lmax+1)²), float64
        Column ``ℓ² + ℓ + m`` holds ``Y_ℓm``: degrees ℓ = 0 … lmax, and within a degree m = −ℓ … ℓ.

    Examples
    --------
    >>> y = real_spherical_harmonics(np.array([[0.0, 0.0, 1.0]]), lmax=1)  # the north pole
    >>> np.round(y * np.sqrt(4 * np.pi), 6).tolist()  # Y_00, Y_1,-1, Y_10, Y_11 times √(4π)
    [[1.0, 0.0, 1.732051, 0.0]]
    """
    xyz = _unit_vectors(coords_or_sampling)
    lmax = check_int(lmax, "lmax", 0)
    x, y, z = xyz.T
    cos_theta, sin_theta, phi = z, np.hypot(x, y), np.arctan2(y, x)
    out = np.empty((len(xyz), (lmax + 1) ** 2))
    diagonal = np.full(len(xyz), 1.0 / np.sqrt(4.0 * np.pi))  # P̄_m^m, m = 0 first
    for m in range(lmax + 1):
        if m > 0:
            diagonal = np.sqrt((2 * m + 1) / (2 * m)) * sin_theta * diagonal
        if m == 0:
            cos_m, sin_m = 1.0, 0.0
        else:
            cos_m, sin_m = np.sqrt(2.0) * np.cos(m * phi), np.sqrt(2.0) * np.sin(m * phi)
        before, current = np.zeros_like(diagonal), diagonal
        for ell in range(m, lmax + 1):
            if ell == m + 1:
                before, current = current, np.sqrt(2 * m + 3) * cos_theta * current
            elif ell > m + 1:
                a = np.sqrt((4 * ell**2 - 1) / (ell**2 - m**2))
                b = np.sqrt(((ell - 1) ** 2 - m**2) / (4 * (ell - 1) ** 2 - 1))
                before, current = current, a * (cos_theta * current - b * before)
            centre = ell * ell + ell
            out[:, centre + m] = current * cos_m
            if m > 0:
                out[:, centre - m] = current * sin_m
    return out


def graph_spectrum(
    graph_or_laplacian: Any, n_eigenvalues: int, normalized: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_eigenvalues`` smallest eigenpairs of a graph Laplacian, ``L u = λ u``.

    Graphs of at most ``DENSE_SPECTRUM_LIMIT`` (2048) vertices are diagonalised densely
    (``numpy.linalg.eigh``); larger ones by Lanczos in shift-invert mode (``scipy.sparse.linalg.eigsh``
    around σ = −10⁻³ · mean diagonal, just below the spectrum, so that ``L − σI`` is positive definite).
    Each eigenvector is returned with unit norm and its largest-magnitude entry positive, so results are
    reproducible.

    Parameters
    ----------
    graph_or_laplacian : SphereGraph or scipy.sparse matrix / ndarray (n, n)
        A graph (its Laplacian is taken) or a symmetric Laplacian.
    n_eigenvalues : int
        Number of eigenpairs, 1 ≤ n_eigenvalues ≤ n.
    normalized : bool
        For a SphereGraph: combinatorial ``D − W`` (False) or ``I − D^−½ W D^−½`` (True). Must stay False
        when a matrix is given.

    Returns
    -------
    eigenvalues : ndarray (n_eigenvalues,), ascending
    eigenvectors : ndarray (n, n_eigenvalues), orthonormal columns, column i for ``eigenvalues[i]``

    Examples
    --------
    >>> from deepsphere.sampling import HEALPix
    >>> from deepsphere.graph import knn_graph
    >>> values, vectors = graph_spectrum(knn_graph(HEALPix(nside=2), k=8), 4)
    >>> bool(abs(values[0]) < 1e-12), vectors.shape
    (True, (48, 4))
    """
    laplacian = _laplacian(graph_or_laplacian, normalized)
    n = laplacian.shape[0]
    n_eigenvalues = check_int(n_eigenvalues, "n_eigenvalues", 1)
    if n_eigenvalues > n:
        raise ValueError(f"n_eigenvalues must be at most the number of vertices ({n}), got {n_eigenvalues}")
    if n <= DENSE_SPECTRUM_LIMIT or n_eigenvalues >= n - 1:
        values, vectors = np.linalg.eigh(laplacian.toarray())
        values, vectors = values[:n_eigenvalues], vectors[:, :n_eigenvalues]
    else:
        diagonal = np.abs(laplacian.diagonal()).mean()
        sigma = -1e-3 * (diagonal if diagonal > 0 else 1.0)
        v0 = np.random.default_rng(0).standard_normal(n)  # a fixed start: deterministic results
        values, vectors = spla.eigsh(laplacian, k=n_eigenvalues, sigma=sigma, which="LM", v0=v0)
        order = np.argsort(values)
        values, vectors = values[order], vectors[:, order]
    vectors = vectors / np.linalg.norm(vectors, axis=0)
    peaks = vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])]
    return values, vectors * np.where(peaks < 0, -1.0, 1.0)


def subspace_alignment(eigenvectors: Any, harmonics: Any, lmax: int, area: Any | None = None) -> np.ndarray:
    """Overlap between each group of 2ℓ+1 graph Fourier modes and each degree of spherical harmonics.

    Group ℓ is ``U_ℓ = eigenvectors[:, ℓ² : (ℓ+1)²]`` (the eigenvectors sorted by eigenvalue), degree ℓ'
    is ``Y_ℓ' = harmonics[:, ℓ'² : (ℓ'+1)²]``. Both are orthonormalised (QR) in the inner product
    ``⟨f, g⟩ = Σ_i a_i f_i g_i`` (``a = area``; all ones when None), giving bases ``Q_ℓ`` and ``P_ℓ'``, and

        A[ℓ, ℓ'] = ‖P_ℓ'ᵀ Q_ℓ‖_F² / (2ℓ + 1),

    the mean squared cosine of the principal angles between the two subspaces, in [0, 1]. A graph whose
    Fourier modes are the harmonics gives the identity; a row sums to 1 when the harmonics of different
    degrees are orthogonal in the inner product (e.g. with exact quadrature areas) and the group lies in
    their span.

    Parameters
    ----------
    eigenvectors : ndarray (n, ≥ (lmax+1)²)
        Graph Fourier modes, sorted by eigenvalue (e.g. from :func:`graph_spectrum`).
    harmonics : ndarray (n, ≥ (lmax+1)²)
        Harmonics at the same n points, in the column order of :func:`real_spherical_harmonics`.
    lmax : int
        Largest degree compared, ≥ 0; (lmax+1)² ≤ n.
    area : ndarray (n,), optional
        Positive quadrature weights (pixel areas, sr) of the inner product.

    Returns
    -------
    ndarray (lmax+1, lmax+1)
        Rows: graph groups ℓ; columns: harmonic degrees ℓ'.

    Examples
    --------
    >>> from deepsphere.sampling import GaussLegendre
    >>> s = GaussLegendre(nlat=4)  # exact quadrature up to degree 3
    >>> y = real_spherical_harmonics(s, lmax=2)
    >>> bool(np.allclose(subspace_alignment(y, y, lmax=2, area=s.area), np.eye(3)))
    True
    """
    lmax = check_int(lmax, "lmax", 0)
    width = (lmax + 1) ** 2
    vectors = _check_columns(eigenvectors, "eigenvectors", width)
    basis = _check_columns(harmonics, "harmonics", width)
    n = vectors.shape[0]
    if basis.shape[0] != n:
        raise ValueError(
            f"harmonics must have one row per vertex like eigenvectors ({n}), got {basis.shape[0]} rows"
        )
    if n < width:
        raise ValueError(f"lmax={lmax} needs (lmax+1)² = {width} ≤ n points, got n = {n}")
    if area is None:
        sqrt_area = np.ones(n)
    else:
        weights = np.asarray(area, dtype=np.float64)
        if weights.shape != (n,) or not np.isfinite(weights).all() or weights.min() <= 0:
            raise ValueError(
                f"area must be {n} positive finite weights (one per vertex), got shape {weights.shape}"
            )
        sqrt_area = np.sqrt(weights)
    groups = [
        _orthonormal(sqrt_area[:, None] * vectors[:, ell**2 : (ell + 1) ** 2]) for ell in range(lmax + 1)
    ]
    degrees = [
        _orthonormal(sqrt_area[:, None] * basis[:, ell**2 : (ell + 1) ** 2]) for ell in range(lmax + 1)
    ]
    out = np.empty((lmax + 1, lmax + 1))
    for ell, q in enumerate(groups):
        for ell2, p in enumerate(degrees):
            out[ell, ell2] = np.sum((p.T @ q) ** 2) / (2 * ell + 1)
    return out


def degree_eigenvalues(eigenvalues: Any, lmax: int) -> np.ndarray:
    """Mean eigenvalue of each group ℓ (eigenvalues ℓ² … (ℓ+1)²−1, sorted), scaled so that ℓ = 1 gives 2.

    On the sphere the degree-ℓ eigenvalue is ℓ(ℓ+1) (2 for ℓ = 1): compare the result with
    ``[ℓ(ℓ+1) for ℓ in range(lmax + 1)]``. The scale ``2 / mean(group 1)`` removes the graph's arbitrary
    unit (kernel width, pixel size).

    Parameters
    ----------
    eigenvalues : array (≥ (lmax+1)²,)
        The smallest Laplacian eigenvalues (sorted here).
    lmax : int
        Largest degree, ≥ 1.

    Returns
    -------
    ndarray (lmax+1,)

    Examples
    --------
    >>> ells = np.repeat(np.arange(3), 2 * np.arange(3) + 1)
    >>> degree_eigenvalues(0.5 * ells * (ells + 1), lmax=2).tolist()
    [0.0, 2.0, 6.0]
    """
    lmax = check_int(lmax, "lmax", 1)
    values = np.asarray(eigenvalues, dtype=np.float64)
    need = (lmax + 1) ** 2
    if values.ndim != 1 or len(values) < need or not np.isfinite(values).all():
        raise ValueError(
            f"eigenvalues must be a 1-D array of at least (lmax+1)² = {need} finite values, "
            f"got shape {values.shape}"
        )
    values = np.sort(values)[:need]
    means = np.array([values[ell**2 : (ell + 1) ** 2].mean() for ell in range(lmax + 1)])
    if means[1] <= 0:
        raise ValueError(
            f"eigenvalues: the ℓ = 1 group has mean {means[1]:.3g}; it must be positive to scale"
        )
    return means * (2.0 / means[1])


def spectrum_report(
    out_dir: str | os.PathLike,
    sampling: str = "healpix",
    resolution: int = 8,
    k: int = 8,
    kernel_width: float | None = None,
    lmax: int = 8,
    normalized: bool = False,
    seed: int = 0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Spectrum of the k-NN graph of a sampling against the sphere's: numbers, figures and a table.

    Builds the sampling and :func:`~deepsphere.graph.knn_graph`, computes the (lmax+1)² smallest
    Laplacian eigenpairs (:func:`graph_spectrum`), the scaled group means (:func:`degree_eigenvalues`)
    and the area-weighted :func:`subspace_alignment` with :func:`real_spherical_harmonics`. Writes into
    ``out_dir``: ``spectrum.json`` (the returned numbers), ``spectrum_eigenvalues.png`` (scaled eigenvalues
    against their index, with the ℓ(ℓ+1) staircase), ``spectrum_alignment.png`` (the alignment matrix)
    and ``spectrum_alignment_diagonal.png`` (its diagonal per ℓ); without matplotlib only the JSON. Prints
    a table per ℓ and where the files went. About a second at the defaults (768 vertices).

    Parameters
    ----------
    out_dir : path
        Output folder (created if needed).
    sampling : str
        ``"healpix"`` (nside = resolution, 12 r² pixels), ``"equiangular"`` (SOFT rings: nlat = 2r,
        nlon = 4r), ``"gauss_legendre"`` (nlat = 2r, nlon = 4r), ``"icosahedral"`` (level = r,
        10·4^r + 2 pixels), ``"cubed_sphere"`` (n = r, 6 r² pixels) or ``"random"`` (12 r² uniform random
        points, seeded by ``seed``).
    resolution : int
        r above, ≥ 1 (a power of two for HEALPix). At most ``MAX_REPORT_VERTICES`` pixels.
    k, kernel_width :
        Of :func:`~deepsphere.graph.knn_graph`.
    lmax : int
        Largest degree compared, ≥ 1, with (lmax+1)² < number of pixels.
    normalized : bool
        Combinatorial (False) or normalized Laplacian.
    seed : int
        Seed of the random point cloud.
    overwrite : bool
        Replace files of an earlier report in ``out_dir``; otherwise an existing one is an error (raised
        before any work).

    Returns
    -------
    dict
        ``sampling``, ``resolution``, ``npix``, ``k``, ``kernel_width``, ``lmax``, ``normalized``,
        ``eigenvalues`` (list), ``degree_eigenvalues``, ``sphere_eigenvalues`` (ℓ(ℓ+1)), ``group_spread``
        (per ℓ: (max − min) / mean of the scaled group; 0 for ℓ = 0), ``alignment`` ((lmax+1)² nested
        lists), ``alignment_diagonal`` and ``files`` (paths written).
    """
    out, paths = prepare_outputs(out_dir, SPECTRUM_FILES, overwrite)
    lmax = check_int(lmax, "lmax", 1)
    points = report_sampling(sampling, resolution, seed)
    n_modes = (lmax + 1) ** 2
    if n_modes >= points.npix:
        raise ValueError(
            f"lmax={lmax} needs (lmax+1)² = {n_modes} < number of pixels, {sampling} has {points.npix}"
        )
    graph = knn_graph(points, k=k, kernel_width=kernel_width)
    eigenvalues, eigenvectors = graph_spectrum(graph, n_modes, normalized=normalized)
    harmonics = real_spherical_harmonics(points, lmax)
    alignment = subspace_alignment(eigenvectors, harmonics, lmax, area=points.area)
    scaled = degree_eigenvalues(eigenvalues, lmax)
    groups = [eigenvalues[ell**2 : (ell + 1) ** 2] for ell in range(lmax + 1)]
    spread = [0.0] + [float(np.ptp(group) / group.mean()) for group in groups[1:]]
    ells = np.arange(lmax + 1)
    result: dict[str, Any] = {
        "sampling": sampling,
        "resolution": int(resolution),
        "npix": int(points.npix),
        "k": int(k),
        "kernel_width": float(graph.kernel_width),
        "lmax": lmax,
        "normalized": bool(normalized),
        "eigenvalues": eigenvalues.tolist(),
        "degree_eigenvalues": scaled.tolist(),
        "sphere_eigenvalues": (ells * (ells + 1)).astype(float).tolist(),
        "group_spread": spread,
        "alignment": alignment.tolist(),
        "alignment_diagonal": np.diag(alignment).tolist(),
    }
    written = save_figures(lambda: _spectrum_figures(result, 2.0 / groups[1].mean()), paths[1:])
    result["files"] = [str(p) for p in [paths[0], *written]]
    write_json(paths[0], result)
    print(f"{sampling} r={resolution}: {points.npix} pixels, k={k}, kernel width {graph.kernel_width:.4g}")
    print(f"{'ℓ':>3} {'ℓ(ℓ+1)':>7} {'graph':>8} {'spread':>7} {'align':>6}")
    for ell in ells:
        row = f"{ell:>3} {ell * (ell + 1):>7} {scaled[ell]:>8.3f} {spread[ell]:>7.3f}"
        print(f"{row} {alignment[ell, ell]:>6.3f}")
    print(f"wrote {len(result['files'])} files into {out}: {', '.join(p.name for p in [paths[0], *written])}")
    return result


def report_sampling(name: str, resolution: int, seed: int = 0) -> Sampling:
    """The sampling of :func:`spectrum_report` called ``name`` at ``resolution`` (see there)."""
    if name not in REPORT_SAMPLINGS:
        raise ValueError(f"sampling must be one of {', '.join(REPORT_SAMPLINGS)}, got {name!r}")
    r = check_int(resolution, "resolution", 1)
    npix = {
        "healpix": 12 * r * r,
        "equiangular": 8 * r * r,
        "gauss_legendre": 8 * r * r,
        "icosahedral": 10 * 4 ** min(r, 30) + 2,
        "cubed_sphere": 6 * r * r,
        "random": 12 * r * r,
    }[name]
    if npix > MAX_REPORT_VERTICES:
        raise ValueError(
            f"resolution={r} gives {name} {npix} pixels; the report handles at most {MAX_REPORT_VERTICES}"
        )
    try:
        if name == "healpix":
            return HEALPix(nside=r)
        if name == "equiangular":
            return Equiangular(nlat=2 * r, nlon=4 * r, kind="soft")
        if name == "gauss_legendre":
            return GaussLegendre(nlat=2 * r, nlon=4 * r)
        if name == "icosahedral":
            return Icosahedral(level=r)
        if name == "cubed_sphere":
            return CubedSphere(n=r)
    except ValueError as err:
        raise ValueError(f"resolution={r} for sampling {name!r}: {err}") from None
    rng = np.random.default_rng(seed)
    return PointCloud.from_coords(rng.standard_normal((npix, 3)))


def prepare_outputs(
    out_dir: str | os.PathLike, names: Iterable[str], overwrite: bool
) -> tuple[Path, list[Path]]:
    """The paths ``out_dir / name``; refuse (FileExistsError) if one exists and not ``overwrite``.

    Nothing is created here: the folder appears with the first file written (:func:`atomic_write`).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir must be a folder, {out} is a file")
    paths = [out / name for name in names]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{', '.join(existing)} exist; pass overwrite=True (--overwrite) to replace them"
        )
    return out, paths


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as indented JSON, atomically (replacing ``path``: callers checked it first)."""
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2)), overwrite=True)


def save_figures(make_figures: Callable[[], list[Any]], paths: list[Path]) -> list[Path]:
    """Make the figures and save them as PNG to ``paths``; without matplotlib, say so and save none."""
    from .plotting import save_figure

    try:
        figures = make_figures()
    except ModuleNotFoundError as err:
        if err.name is None or not err.name.startswith("matplotlib"):
            raise
        print("matplotlib is not installed: no figures (pip install 'deepsphere[plot]')")
        return []
    return [save_figure(fig, path, overwrite=True) for fig, path in zip(figures, paths, strict=True)]


def _spectrum_figures(result: dict[str, Any], factor: float) -> list[Any]:
    from .plotting import new_figure

    lmax = result["lmax"]
    ells = np.arange(lmax + 1)
    label = f"{result['sampling']} r={result['resolution']}, k={result['k']}"

    eig = new_figure((6.0, 4.0))
    ax = eig.add_subplot()
    index = np.arange(len(result["eigenvalues"]))
    ax.plot(index, np.asarray(result["eigenvalues"]) * factor, ".", label="graph Laplacian (scaled)")
    ax.step(index, np.repeat(ells * (ells + 1), 2 * ells + 1), where="mid", color="k", lw=1, label="ℓ(ℓ+1)")
    ax.set_xlabel("eigenvalue index")
    ax.set_ylabel("eigenvalue")
    ax.set_title(f"spectrum, {label}")
    ax.legend()

    matrix = new_figure((5.0, 4.2))
    ax = matrix.add_subplot()
    image = ax.imshow(np.asarray(result["alignment"]), vmin=0, vmax=1, cmap="viridis", origin="upper")
    ax.set_xlabel("spherical harmonic degree ℓ'")
    ax.set_ylabel("graph eigenvector group ℓ")
    ax.set_title(f"subspace alignment, {label}")
    matrix.colorbar(image, ax=ax)

    diag = new_figure((6.0, 3.6))
    ax = diag.add_subplot()
    ax.plot(ells, result["alignment_diagonal"], "o-")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("degree ℓ")
    ax.set_ylabel("alignment A[ℓ, ℓ]")
    ax.set_title(f"alignment per degree, {label}")
    ax.grid(alpha=0.3)
    return [eig, matrix, diag]


def _orthonormal(block: np.ndarray) -> np.ndarray:
    q, _ = np.linalg.qr(block)
    return q


def _laplacian(graph_or_laplacian: Any, normalized: bool) -> sp.csr_matrix:
    if isinstance(graph_or_laplacian, SphereGraph):
        return graph_or_laplacian.laplacian(normalized=bool(normalized))
    if normalized:
        raise ValueError(
            "normalized=True applies to a SphereGraph only; pass the normalized Laplacian itself"
        )
    if not (sp.issparse(graph_or_laplacian) or isinstance(graph_or_laplacian, np.ndarray)):
        raise ValueError(
            "graph_or_laplacian must be a SphereGraph, a scipy.sparse matrix or a numpy array, "
            f"got {type(graph_or_laplacian).__name__}"
        )
    return check_laplacian(graph_or_laplacian, "graph_or_laplacian")


def check_laplacian(matrix: Any, name: str) -> sp.csr_matrix:
    """``matrix`` as a float64 CSR matrix, or a ValueError if it is not square, finite and symmetric."""
    if not (sp.issparse(matrix) or isinstance(matrix, np.ndarray)):
        raise ValueError(
            f"{name} must be a scipy.sparse matrix or a numpy array, got {type(matrix).__name__}"
        )
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {matrix.shape}")
    try:
        csr = sp.csr_matrix(matrix, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must hold real numbers, got dtype {matrix.dtype}") from err
    if not np.isfinite(csr.data).all():
        raise ValueError(f"{name} has NaN or infinite entries")
    scale = abs(csr).max() if csr.nnz else 0.0
    if csr.nnz and abs(csr - csr.T).max() > 1e-10 * scale:
        raise ValueError(f"{name} must be symmetric (the Laplacian of an undirected graph)")
    return csr


def _unit_vectors(coords_or_sampling: Any) -> np.ndarray:
    if isinstance(coords_or_sampling, Sampling):
        return coords_or_sampling.coords
    try:
        xyz = np.asarray(coords_or_sampling, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(
            "coords_or_sampling must be a Sampling or an (n, 3) array, "
            f"got {type(coords_or_sampling).__name__}"
        ) from err
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise ValueError(f"coords_or_sampling must be a Sampling or an (n, 3) array, got shape {xyz.shape}")
    if not np.isfinite(xyz).all():
        raise ValueError("coords_or_sampling has NaN or infinite coordinates")
    norms = np.linalg.norm(xyz, axis=1)
    if len(xyz) and np.abs(norms - 1).max() > 1e-6:
        raise ValueError(
            f"coords_or_sampling must be unit vectors, got norms in [{norms.min():.6g}, {norms.max():.6g}]"
        )
    return xyz


def _check_columns(matrix: Any, name: str, width: int) -> np.ndarray:
    arr = np.asarray(matrix, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < width:
        raise ValueError(
            f"{name} must be a 2-D array with at least (lmax+1)² = {width} columns, got {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has NaN or infinite values")
    return arr


def check_int(value: Any, name: str, minimum: int) -> int:
    """``value`` as an int, or a ValueError naming ``name`` if it is not an integer ≥ ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)
