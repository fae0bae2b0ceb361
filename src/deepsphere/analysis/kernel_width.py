"""The kernel width that makes a sphere graph most rotation equivariant, per sampling, resolution and k.

The graphs of :mod:`deepsphere.graph` weigh an edge of chord length d by ``exp(−ln 2 · d² / σ²)``
(:mod:`deepsphere.graph.kernel`). Too small a width σ and the graph only sees its nearest neighbours,
whose irregular layout breaks the rotation symmetry; too large and the Laplacian blurs every degree ℓ
alike. Between the two lies the σ that minimises the DeepSphere ICLR 2020 equivariance error

    E = (‖R L f − L R f‖ / ‖L f‖)²,

averaged per degree ℓ over random degree-ℓ signals f and random rotations R, then over ℓ = 1 … lmax
("mean E"; :mod:`deepsphere.analysis.equivariance`). For L the graph Laplacian, E at a degree measures
how much a polynomial filter of L departs from a rotation-equivariant filter there.

- :func:`equivariance_sweep` measures mean E and E per ℓ over a list of widths (the same signals and
  rotations for every width);
- :func:`best_kernel_width` sweeps ``σ0 · 2^(j/2)``, j = −steps … steps, around the package's default
  width σ0, then ``2^(±1/8)`` and ``2^(±1/4)`` times the best of those, which places the minimiser σ*
  within 9 %;
- :func:`equivariance_report` does both for several samplings, resolutions and k, prints a table against
  the widths the paper tabulates (:data:`PAPER_KERNEL_WIDTHS`) and against the measurement's floor (the
  E of the identity, which is exactly equivariant), and writes a JSON file and two figures.

Samplings (:data:`SAMPLINGS`), each at about the 12·nside² pixels of HEALPix (:func:`matched_sampling`):
``"healpix"`` goes through healpy's transforms (:func:`~deepsphere.analysis.equivariance_error`, the
paper's method; floor ≈ 1e-6 up to ℓ ≈ nside, 1e-2 near ℓ = 3·nside), the others through the exact
harmonic evaluation and area-weighted least squares of
:func:`~deepsphere.analysis.equivariance_error_on` (floor ≈ 1e-29: signals of degree ≤ lmax lie in the
basis). That path is kept honest by the condition number κ of the weighted basis, which bounds how much
the rotation can distort the part of L f above lmax: κ = 1 for the Gauss-Legendre and equiangular
(SOFT) grids, whose quadratures are exact up to :func:`~deepsphere.analysis.band_limit`, and κ ≈ 1.05–1.1
for the icosahedral and cubed-sphere grids at their default lmax ((lmax + 1)² ≤ npix / 2). All five
floors lie orders of magnitude below the graphs' errors (k-NN graphs at nside 8, k = 8–40, default
width: mean E 1e-3–2e-2 on HEALPix, 2e-2–8e-2 on the icosahedral and cubed-sphere grids, 0.2–0.6 on
the latitude-longitude grids, whose pixels crowd toward the poles), so all five are measured.
Equiangular means SOFT: the Driscoll-Healy and Clenshaw-Curtis grids put a whole ring of pixels on a
pole, all at one point. Left out: uniform random points, whose harmonic basis is ill-conditioned at
(lmax + 1)² = npix / 2 (κ > 10 for 768 points); :func:`~deepsphere.analysis.equivariance_error_on`
takes any point cloud with a smaller lmax.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..graph import healpix_graph, knn_graph
from ..sampling import CubedSphere, Equiangular, GaussLegendre, HEALPix, Icosahedral, Sampling
from .equivariance import (
    EquivarianceResult,
    band_limit,
    check_basis_size,
    equivariance_error,
    equivariance_error_on,
)
from .spectrum import prepare_outputs, save_figures, write_json

#: The optimal kernel widths σ of the DeepSphere ICLR 2020 paper (Defferrard et al.), by HEALPix nside
#: then k, in the package's convention w = exp(−ln 2 · d² / σ²): figures/kernel_widths.py of
#: github.com/deepsphere/paper-deepsphere-iclr2020, which plots them as t = σ² / (4 ln 2) for weights
#: exp(−d² / 4t). Its k = 40 and 60 widths at nside 512 and 1024 were extrapolated from nside 256 (the
#: measured ones "seem buggy" there) and are left out; it flags k = 40 at nside 256 as "a bit off".
PAPER_KERNEL_WIDTHS: dict[int, dict[int, float]] = {
    32: {8: 0.025, 20: 0.03185, 40: 0.042432, 60: 0.05172},
    64: {8: 0.01228, 20: 0.01564, 40: 0.021354, 60: 0.025403},
    128: {8: 0.00614, 20: 0.00782, 40: 0.010595, 60: 0.012695},
    256: {8: 0.00307, 20: 0.00391, 40: 0.005551, 60: 0.006351},
    512: {8: 0.00154, 20: 0.00196},
    1024: {8: 0.00077, 20: 0.00098},
}
SAMPLINGS = ("healpix", "gauss_legendre", "equiangular", "icosahedral", "cubed_sphere")
LAPLACIANS = ("combinatorial", "normalized")
GRAPHS = ("knn", "healpix")
REPORT_FILES = ("equivariance.json", "equivariance_per_ell.png", "equivariance_vs_width.png")
FLOOR_SHOWN = 1e-12  # the figures draw floors above this; the exact paths' ≈ 1e-29 go into the titles


def matched_sampling(name: str, nside: int) -> Sampling:
    """The full-sphere sampling ``name`` with about as many pixels as HEALPix at ``nside`` (12·nside²).

    ``"healpix"``: ``HEALPix(nside)`` (NESTED; nside a power of 2). ``"gauss_legendre"``:
    ``GaussLegendre(nlat)``, nlat = round(√6 · nside), 2·nlat² pixels. ``"equiangular"``: the SOFT grid
    of n × n pixels, n = 2·round(√3 · nside). ``"icosahedral"``: ``Icosahedral(level)`` with
    10·4^level + 2 pixels, the level nearest in log. ``"cubed_sphere"``: ``CubedSphere(n)``,
    n = round(√2 · nside), 6·n² pixels.

    Examples
    --------
    >>> [matched_sampling(name, 8).npix for name in SAMPLINGS]
    [768, 800, 784, 642, 726]
    """
    name = _check_choice(name, "sampling", SAMPLINGS)
    nside = _check_positive_int(nside, "nside")
    if name == "healpix":
        return HEALPix(nside)
    if name == "gauss_legendre":
        return GaussLegendre(max(1, round(math.sqrt(6) * nside)))
    if name == "equiangular":
        n = 2 * max(1, round(math.sqrt(3) * nside))
        return Equiangular(n, n, kind="soft")
    if name == "icosahedral":
        return Icosahedral(max(0, round(math.log(1.2 * nside**2, 4))))
    return CubedSphere(max(1, round(math.sqrt(2) * nside)))


@dataclass(frozen=True)
class KernelWidthSweep:
    """Equivariance error of one graph family over kernel widths (output of :func:`equivariance_sweep`).

    Attributes
    ----------
    sampling : str
        A name of :data:`SAMPLINGS`, at the resolution of HEALPix ``nside`` (:func:`matched_sampling`).
    nside, k : int
    graph, laplacian : str
        ``"knn"`` or ``"healpix"``; ``"combinatorial"`` (D − W) or ``"normalized"`` (I − D^-1/2 W D^-1/2).
    default_width : float
        The package's default σ0 for this graph (chord units, ≈ radians).
    widths : ndarray (n_widths,)
        The widths measured, increasing.
    ells : ndarray (n_ells,)
        The degrees ℓ.
    error : ndarray (n_widths, n_ells)
        E per width and degree (mean over the signals).
    """

    sampling: str
    nside: int
    k: int
    graph: str
    laplacian: str
    default_width: float
    widths: np.ndarray
    ells: np.ndarray
    error: np.ndarray

    @property
    def mean_error(self) -> np.ndarray:
        """Mean E over the degrees, per width, (n_widths,)."""
        return self.error.mean(axis=1)

    @property
    def best_index(self) -> int:
        """Row of the smallest mean E."""
        return int(np.argmin(self.mean_error))

    @property
    def best_width(self) -> float:
        """The width σ* of the smallest mean E."""
        return float(self.widths[self.best_index])

    @property
    def best_mean_error(self) -> float:
        return float(self.mean_error[self.best_index])

    @property
    def best_inside(self) -> bool:
        """Whether the minimum lies strictly inside the swept range (not at its first or last width)."""
        return 0 < self.best_index < len(self.widths) - 1

    def index_of(self, width: float) -> int:
        """Row of ``width`` (to a relative 1e-9); ValueError if it was not measured."""
        rows = np.flatnonzero(np.isclose(self.widths, width, rtol=1e-9, atol=0.0))
        if rows.size == 0:
            raise ValueError(f"width {width!r} was not measured; the sweep has {self.widths.tolist()}")
        return int(rows[0])

    def to_dict(self) -> dict[str, Any]:
        """The sweep as JSON-ready lists and numbers."""
        return {
            "sampling": self.sampling,
            "nside": self.nside,
            "k": self.k,
            "graph": self.graph,
            "laplacian": self.laplacian,
            "default_width": self.default_width,
            "widths": self.widths.tolist(),
            "ells": self.ells.tolist(),
            "mean_error": self.mean_error.tolist(),
            "error": self.error.tolist(),
        }


def equivariance_sweep(
    nside: int,
    k: int,
    widths: Sequence[float] | np.ndarray,
    laplacian: str = "combinatorial",
    graph: str = "knn",
    n_signals: int = 2,
    seed: int = 0,
    ells: Sequence[int] | np.ndarray | None = None,
    sampling: str = "healpix",
) -> KernelWidthSweep:
    """E per degree of the graph Laplacians of one sampling at each kernel width.

    For each σ in ``widths``: ``knn_graph(s, k, kernel_width=σ)`` (``graph="knn"``) or
    ``healpix_graph(s, kernel_width=σ)`` (``graph="healpix"``, the 8-neighbour HEALPix graph: k = 8),
    s = ``matched_sampling(sampling, nside)``, and E of its Laplacian L (``L @ x``) per degree,
    ``E = (‖R L f − L R f‖ / ‖L f‖)²`` averaged over ``n_signals`` random degree-ℓ signals, each with
    its own random rotation — the same ones for every width (same ``seed``). HEALPix goes through
    :func:`~deepsphere.analysis.equivariance_error`, the other samplings through
    :func:`~deepsphere.analysis.equivariance_error_on`.

    Parameters
    ----------
    nside : int
        Resolution: HEALPix nside, or the matched resolution of another sampling.
    k : int
        Neighbours per vertex (``graph="knn"``); 8 for ``graph="healpix"``.
    widths : sequence of float
        Kernel widths σ > 0 (chord units); measured in increasing order, duplicates once.
    laplacian : {"combinatorial", "normalized"}
        D − W or I − D^-1/2 W D^-1/2.
    graph : {"knn", "healpix"}
    n_signals : int
        (signal, rotation) pairs per degree, ≥ 1.
    seed : int
        Seed of the signals and rotations, ≥ 0.
    ells : sequence of int, optional
        Degrees; default 1 … lmax (3·nside − 1 for HEALPix, :func:`~deepsphere.analysis.band_limit`
        otherwise).
    sampling : str
        One of :data:`SAMPLINGS`.

    Returns
    -------
    KernelWidthSweep

    Examples
    --------
    >>> sweep = equivariance_sweep(4, 8, [0.05, 0.1, 0.2, 0.4], ells=[2, 5, 8])
    >>> sweep.error.shape, round(sweep.default_width, 4), sweep.best_width
    ((4, 3), 0.2, 0.2)
    """
    spec = _GraphSpec.checked(nside, k, laplacian, graph, sampling)
    widths = _check_widths(widths)
    n_signals = _check_positive_int(n_signals, "n_signals")
    seed = _check_seed(seed)
    results = [spec.measure(width, n_signals, seed, ells) for width in widths]
    return KernelWidthSweep(
        sampling=spec.sampling,
        nside=spec.nside,
        k=spec.k,
        graph=spec.graph,
        laplacian=spec.laplacian,
        default_width=spec.default_width,
        widths=widths,
        ells=results[0].ells,
        error=np.array([result.error for result in results]),
    )


def best_kernel_width(
    nside: int,
    k: int,
    laplacian: str = "combinatorial",
    graph: str = "knn",
    n_signals: int = 2,
    seed: int = 0,
    ells: Sequence[int] | np.ndarray | None = None,
    sampling: str = "healpix",
    steps: int = 4,
) -> KernelWidthSweep:
    """Search the kernel width of smallest mean E around the package's default width σ0.

    First σ = σ0 · 2^(j/2) for j = −steps … steps (a half-octave grid), then, unless the best of those
    is at an end of the grid, 2^(±1/8) and 2^(±1/4) times it: the minimiser σ* is then known within a
    factor 2^(1/16) (≈ 4 %) when mean E is unimodal, and within 9 % at worst. Arguments as in
    :func:`equivariance_sweep`; the same signals and rotations for every width.

    Parameters
    ----------
    nside, k, laplacian, graph, n_signals, seed, ells, sampling
        See :func:`equivariance_sweep`.
    steps : int
        Half-octave steps on each side of σ0, ≥ 1.

    Returns
    -------
    KernelWidthSweep
        Every width measured; ``best_width`` is σ*, ``best_inside`` is False when σ* is at an end of
        the coarse grid (widen it with more ``steps``).

    Examples
    --------
    >>> sweep = best_kernel_width(4, 8, ells=[2, 5, 8], steps=1)
    >>> len(sweep.widths), sweep.best_inside, round(sweep.best_width / sweep.default_width, 3)
    (7, True, 1.091)
    """
    spec = _GraphSpec.checked(nside, k, laplacian, graph, sampling)
    steps = _check_positive_int(steps, "steps")
    arguments = {
        "nside": nside,
        "k": k,
        "laplacian": laplacian,
        "graph": graph,
        "n_signals": n_signals,
        "seed": seed,
        "ells": ells,
        "sampling": sampling,
    }
    coarse = equivariance_sweep(
        widths=spec.default_width * 2.0 ** (np.arange(-steps, steps + 1) / 2), **arguments
    )
    if not coarse.best_inside:
        return coarse
    refined = equivariance_sweep(
        widths=coarse.best_width * 2.0 ** np.array([-0.25, -0.125, 0.125, 0.25]), **arguments
    )
    return _merge(coarse, refined)


def equivariance_floor(
    nside: int,
    sampling: str = "healpix",
    n_signals: int = 2,
    seed: int = 0,
    ells: Sequence[int] | np.ndarray | None = None,
) -> EquivarianceResult:
    """E of the identity, which is exactly equivariant: what the measurement itself contributes.

    Same signals, rotations and path as :func:`equivariance_sweep` with the same arguments. For
    HEALPix the error of healpy's transforms (≈ 1e-6 up to ℓ ≈ nside, 1e-2 near ℓ = 3·nside); for the
    other samplings ≈ 1e-29, with ``condition`` the condition number of their harmonic basis (see the
    module docstring).

    Examples
    --------
    >>> floor = equivariance_floor(8, sampling="gauss_legendre")
    >>> bool(floor.mean < 1e-25), round(floor.condition, 6)
    (True, 1.0)
    """
    sampling_name = _check_choice(sampling, "sampling", SAMPLINGS)
    grid = matched_sampling(sampling_name, nside)
    n_signals = _check_positive_int(n_signals, "n_signals")
    seed = _check_seed(seed)
    return _measure(grid, _copy, n_signals, seed, ells)


def equivariance_report(
    out_dir: str | Path,
    nsides: Sequence[int] = (8,),
    ks: Sequence[int] = (8, 20),
    samplings: Sequence[str] = ("healpix",),
    n_signals: int = 2,
    seed: int = 0,
    laplacian: str = "combinatorial",
    graph: str = "knn",
    steps: int = 4,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Find the best kernel width per sampling, nside and k; print a table; write JSON and figures.

    For each sampling, nside and k: :func:`best_kernel_width` around the default width σ0, and, on
    HEALPix where the paper tabulates one (:data:`PAPER_KERNEL_WIDTHS`), E at the paper's width too;
    for each sampling and nside, the floor (:func:`equivariance_floor`). Prints one row per (sampling,
    nside, k): σ0, mean E at σ0, σ*, σ*/σ0, mean E at σ*, the paper's σ and its mean E, the floor's
    mean E. Writes into ``out_dir``:

    * ``equivariance.json`` — the settings, every row with E per ℓ at σ0 and σ* and mean E at every
      width measured, the floors per ℓ (and condition numbers), the run time, the files;
    * ``equivariance_per_ell.png`` — E per ℓ at σ0 (solid) and σ* (dashed) for each k, and the floor;
    * ``equivariance_vs_width.png`` — mean E against σ for each k with σ0 (circle), σ* (star) and the
      paper's σ (cross on a dotted line) marked, and the floor.

    The figures need matplotlib (extra ``deepsphere[plot]``); without it the report says so and
    writes the JSON only. About 1 s at the defaults (nside 8, k = 8 and 20, HEALPix: 27 measurements),
    5 s for all five samplings and k = 8, 20, 40.

    Parameters
    ----------
    out_dir : str or Path
        Folder for the files (created if missing).
    nsides, ks : sequences of int
        Resolutions (HEALPix nside, matched for other samplings) and neighbour counts.
    samplings : sequence of str
        Names from :data:`SAMPLINGS`.
    n_signals, seed, laplacian, graph, steps
        See :func:`best_kernel_width`.
    overwrite : bool
        Replace the files of an earlier report; without it an existing file stops the run before any
        work.

    Returns
    -------
    dict
        What ``equivariance.json`` holds.
    """
    nsides = _check_int_list(nsides, "nsides")
    ks = _check_int_list(ks, "ks")
    if isinstance(samplings, str) or not isinstance(samplings, Sequence) or len(samplings) == 0:
        raise ValueError(
            f"samplings must be a non-empty sequence of names from {SAMPLINGS}, got {samplings!r}"
        )
    samplings = [_check_choice(name, "samplings", SAMPLINGS) for name in samplings]
    for name in samplings:  # every combination is valid before any work starts
        for nside in nsides:
            for k in ks:
                _GraphSpec.checked(nside, k, laplacian, graph, name)
    n_signals = _check_positive_int(n_signals, "n_signals")
    seed = _check_seed(seed)
    steps = _check_positive_int(steps, "steps")
    if not isinstance(overwrite, (bool, np.bool_)):
        raise ValueError(f"overwrite must be True or False, got {overwrite!r}")
    out, paths = prepare_outputs(out_dir, REPORT_FILES, bool(overwrite))

    start = time.perf_counter()
    print(_HEADER)
    print("-" * len(_HEADER))
    floors, rows, sweeps = [], [], []
    for name in samplings:
        for nside in nsides:
            floor = equivariance_floor(nside, name, n_signals, seed)
            grid = matched_sampling(name, nside)
            floors.append(
                {
                    "sampling": name,
                    "nside": nside,
                    "grid": repr(grid),
                    "npix": grid.npix,
                    "lmax": int(floor.ells[-1]),
                    "floor_mean_error": floor.mean,
                    "floor_per_ell": floor.error.tolist(),
                    "condition": floor.condition,
                }
            )
            for k in ks:
                sweep = best_kernel_width(nside, k, laplacian, graph, n_signals, seed, None, name, steps)
                paper = PAPER_KERNEL_WIDTHS.get(nside, {}).get(k) if name == "healpix" else None
                if paper is not None and not np.isclose(sweep.widths, paper, rtol=1e-9, atol=0).any():
                    extra = equivariance_sweep(
                        nside, k, [paper], laplacian, graph, n_signals, seed, None, name
                    )
                    sweep = _merge(sweep, extra)
                rows.append(_row(sweep, paper, floor.mean, grid.npix))
                sweeps.append(sweep)
                print(_format_row(rows[-1]), flush=True)
    for entry in floors:
        condition = (
            "" if entry["condition"] is None else f", harmonic basis condition {entry['condition']:.3g}"
        )
        print(
            f"floor {entry['sampling']} nside {entry['nside']} ({entry['grid']}, ℓ ≤ {entry['lmax']}): "
            f"mean E {entry['floor_mean_error']:.2g}, max {max(entry['floor_per_ell']):.2g}{condition}"
        )
    print(
        "E: (‖R L f − L R f‖ / ‖L f‖)², mean over ℓ = 1 … lmax; σ*: its minimiser "
        "(*: at the edge of the grid)"
    )
    report: dict[str, Any] = {
        "settings": {
            "nsides": nsides,
            "ks": ks,
            "samplings": samplings,
            "n_signals": n_signals,
            "seed": seed,
            "laplacian": laplacian,
            "graph": graph,
            "steps": steps,
        },
        "rows": rows,
        "floors": floors,
        "seconds": round(time.perf_counter() - start, 2),
    }
    written = save_figures(
        lambda: [_figure_per_ell(sweeps, floors), _figure_vs_width(sweeps, rows, floors)], paths[1:]
    )
    report["files"] = [str(path) for path in [paths[0], *written]]
    write_json(paths[0], report)
    print(
        f"wrote {len(report['files'])} files into {out}: {', '.join(Path(f).name for f in report['files'])}"
    )
    return report


# -- measuring ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _GraphSpec:
    """A validated graph family: which sampling, graph and Laplacian; the default width."""

    sampling: str
    nside: int
    k: int
    graph: str
    laplacian: str
    grid: Sampling
    default_width: float

    @classmethod
    def checked(
        cls, nside: object, k: object, laplacian: object, graph: object, sampling: object
    ) -> _GraphSpec:
        sampling = _check_choice(sampling, "sampling", SAMPLINGS)
        laplacian = _check_choice(laplacian, "laplacian", LAPLACIANS)
        graph = _check_choice(graph, "graph", GRAPHS)
        k = _check_positive_int(k, "k")
        grid = matched_sampling(sampling, nside)
        if not isinstance(grid, HEALPix):
            check_basis_size(grid, band_limit(grid))
        if graph == "healpix":
            if sampling != "healpix":
                raise ValueError(f"graph='healpix' needs sampling='healpix', got sampling={sampling!r}")
            if k != 8:
                raise ValueError(f"graph='healpix' is the 8-neighbour HEALPix graph: k must be 8, got {k}")
            default = healpix_graph(grid).kernel_width
        else:
            if k >= grid.npix:
                raise ValueError(f"k must be below the {grid.npix} pixels of {grid!r}, got {k}")
            default = knn_graph(grid, k=k).kernel_width
        return cls(sampling, int(nside), k, graph, laplacian, grid, float(default))

    def measure(
        self, width: float, n_signals: int, seed: int, ells: Sequence[int] | np.ndarray | None
    ) -> EquivarianceResult:
        if self.graph == "healpix":
            built = healpix_graph(self.grid, kernel_width=width)
        else:
            built = knn_graph(self.grid, k=self.k, kernel_width=width)
        matrix = built.laplacian(normalized=self.laplacian == "normalized")
        return _measure(self.grid, lambda x: matrix @ x, n_signals, seed, ells)


def _measure(
    grid: Sampling,
    operator: Callable[[np.ndarray], np.ndarray],
    n_signals: int,
    seed: int,
    ells: Sequence[int] | np.ndarray | None,
) -> EquivarianceResult:
    if isinstance(grid, HEALPix):
        return equivariance_error(operator, grid.nside, ells, n_signals, seed)
    return equivariance_error_on(grid, operator, ells, n_signals, seed)


def _copy(x: np.ndarray) -> np.ndarray:
    return x.copy()


def _merge(first: KernelWidthSweep, second: KernelWidthSweep) -> KernelWidthSweep:
    """One sweep with the widths of both (same graph family and signals), increasing."""
    widths = np.concatenate([first.widths, second.widths])
    error = np.concatenate([first.error, second.error])
    order = np.argsort(widths, kind="stable")
    return KernelWidthSweep(
        sampling=first.sampling,
        nside=first.nside,
        k=first.k,
        graph=first.graph,
        laplacian=first.laplacian,
        default_width=first.default_width,
        widths=widths[order],
        ells=first.ells,
        error=error[order],
    )


# -- the report's table and figures --------------------------------------------------------------------

_HEADER = (
    f"{'sampling':<15}{'nside':>5}{'npix':>6}{'k':>4}  {'σ0':>8} {'E(σ0)':>8}  {'σ*':>8} {'σ*/σ0':>6} "
    f"{'E(σ*)':>8}  {'paper σ':>8} {'E(paper)':>8}  {'floor':>8}"
)


def _row(sweep: KernelWidthSweep, paper: float | None, floor: float, npix: int) -> dict[str, Any]:
    default, best = sweep.index_of(sweep.default_width), sweep.best_index
    return {
        "sampling": sweep.sampling,
        "nside": sweep.nside,
        "npix": npix,
        "k": sweep.k,
        "graph": sweep.graph,
        "laplacian": sweep.laplacian,
        "default_width": sweep.default_width,
        "default_mean_error": float(sweep.mean_error[default]),
        "best_width": sweep.best_width,
        "best_multiple": sweep.best_width / sweep.default_width,
        "best_mean_error": sweep.best_mean_error,
        "best_inside": sweep.best_inside,
        "paper_width": paper,
        "paper_mean_error": None if paper is None else float(sweep.mean_error[sweep.index_of(paper)]),
        "floor_mean_error": floor,
        "widths": sweep.widths.tolist(),
        "mean_error": sweep.mean_error.tolist(),
        "ells": sweep.ells.tolist(),
        "default_per_ell": sweep.error[default].tolist(),
        "best_per_ell": sweep.error[best].tolist(),
    }


def _format_row(row: dict[str, Any]) -> str:
    edge = " " if row["best_inside"] else "*"
    paper = (
        f"{'—':>8} {'—':>8}"
        if row["paper_width"] is None
        else f"{row['paper_width']:8.5f} {row['paper_mean_error']:8.4f}"
    )
    return (
        f"{row['sampling']:<15}{row['nside']:>5}{row['npix']:>6}{row['k']:>4}  {row['default_width']:8.5f} "
        f"{row['default_mean_error']:8.4f}  {row['best_width']:8.5f} {row['best_multiple']:5.2f}{edge} "
        f"{row['best_mean_error']:8.4f}  {paper}  {row['floor_mean_error']:8.2g}"
    )


def _panels(floors: list[dict[str, Any]]) -> tuple[Any, dict[tuple[str, int], Any]]:
    """A matplotlib Figure with one axes per (sampling, nside), in the order of ``floors``."""
    from .plotting import new_figure

    n = len(floors)
    columns = min(n, 3)
    rows = math.ceil(n / columns)
    figure = new_figure((4.6 * columns, 3.6 * rows))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for extra in axes[n:]:
        extra.set_visible(False)
    figure.set_layout_engine("constrained")
    return figure, {(entry["sampling"], entry["nside"]): ax for entry, ax in zip(floors, axes, strict=False)}


def _figure_per_ell(sweeps: list[KernelWidthSweep], floors: list[dict[str, Any]]) -> Any:
    figure, axes = _panels(floors)
    colours: dict[int, str] = {}
    for sweep in sweeps:
        ax = axes[(sweep.sampling, sweep.nside)]
        colour = colours.setdefault(sweep.k, f"C{len(colours)}")
        default = sweep.error[sweep.index_of(sweep.default_width)]
        ax.semilogy(
            sweep.ells, default, "-", color=colour, label=f"k={sweep.k}, σ0={sweep.default_width:.4g}"
        )
        ax.semilogy(
            sweep.ells,
            sweep.error[sweep.best_index],
            "--",
            color=colour,
            label=f"k={sweep.k}, σ*={sweep.best_width:.4g}",
        )
    for entry in floors:
        ax = axes[(entry["sampling"], entry["nside"])]
        if max(entry["floor_per_ell"]) > FLOOR_SHOWN:
            ells = np.arange(1, len(entry["floor_per_ell"]) + 1)
            ax.semilogy(ells, entry["floor_per_ell"], ":", color="0.5", label="identity (floor)")
        ax.set(xlabel="degree ℓ", ylabel="E", title=_panel_title(entry))
        ax.legend(fontsize=7)
    return figure


def _figure_vs_width(
    sweeps: list[KernelWidthSweep], rows: list[dict[str, Any]], floors: list[dict[str, Any]]
) -> Any:
    figure, axes = _panels(floors)
    colours: dict[int, str] = {}
    for sweep, row in zip(sweeps, rows, strict=True):
        ax = axes[(sweep.sampling, sweep.nside)]
        colour = colours.setdefault(sweep.k, f"C{len(colours)}")
        ax.loglog(sweep.widths, sweep.mean_error, ".-", color=colour, label=f"k={sweep.k}")
        ax.loglog(row["default_width"], row["default_mean_error"], "o", mfc="none", color=colour)
        ax.loglog(row["best_width"], row["best_mean_error"], "*", ms=10, color=colour)
        if row["paper_width"] is not None:
            ax.axvline(row["paper_width"], ls=":", color=colour)
            ax.loglog(row["paper_width"], row["paper_mean_error"], "x", ms=8, color=colour)
    for entry in floors:
        ax = axes[(entry["sampling"], entry["nside"])]
        if entry["floor_mean_error"] > FLOOR_SHOWN:
            ax.axhline(entry["floor_mean_error"], color="0.5", ls=":", label="identity (floor)")
        ax.tick_params(axis="x", which="minor", labelbottom=False)  # log-axis minor labels overlap
        ax.set(xlabel="kernel width σ (○ σ0, ★ σ*, × paper)", ylabel="mean E", title=_panel_title(entry))
        ax.legend(fontsize=7)
    return figure


def _panel_title(entry: dict[str, Any]) -> str:
    floor = f"floor {entry['floor_mean_error']:.1g}"
    if entry["condition"] is not None:
        floor += f", κ {entry['condition']:.2f}"
    return f"{entry['sampling']}, nside {entry['nside']}, {entry['npix']} px ({floor})"


# -- checks ----------------------------------------------------------------------------------------------


def _check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer ≥ 1, got {value!r}")
    return int(value)


def _check_seed(seed: object) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(
            f"seed must be a non-negative integer (every width sees the same signals), got {seed!r}"
        )
    return int(seed)


def _check_int_list(values: object, name: str) -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
        raise ValueError(f"{name} must be a non-empty sequence of integers ≥ 1, got {values!r}")
    return [_check_positive_int(value, name) for value in values]


def _check_widths(widths: object) -> np.ndarray:
    try:
        values = np.asarray(widths, dtype=np.float64)
    except (TypeError, ValueError):
        values = None
    if (
        values is None
        or values.ndim != 1
        or values.size == 0
        or not np.all(np.isfinite(values) & (values > 0))
    ):
        raise ValueError(f"widths must be a non-empty sequence of positive kernel widths σ, got {widths!r}")
    return np.unique(values)
