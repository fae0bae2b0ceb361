"""Rotation equivariance of the package's HEALPix graph Laplacians, and the kernel widths that minimise it.

The measure is the DeepSphere ICLR 2020 paper's normalized equivariance error
(:mod:`deepsphere.analysis.equivariance`): E = (‖R L f − L R f‖ / ‖L f‖)², averaged per degree ℓ over
random degree-ℓ signals, each with its own random rotation, then over ℓ = 1 … 3·nside − 1 ("mean E").
Every operator sees the same signals and rotations (same seed).

For each nside and k = 8, 20, 40, the combinatorial (D − W) and normalized (I − D^-1/2 W D^-1/2)
Laplacians of ``knn_graph(HEALPix(nside), k)`` are measured at the default kernel width σ0
(:mod:`deepsphere.graph.kernel`: w = exp(−ln 2 · d²/σ²)) and at σ = 2^(j/2) · σ0, j = −steps … steps,
then at 2^(±1/8) and 2^(±1/4) times the best of those, which places the minimiser σ* within 9 %
(:func:`deepsphere.analysis.best_kernel_width`). Also measured: ``healpix_graph`` (exact 8-neighbour
adjacency, same sweep), the DeepSphere v1 graph (8 neighbours, w = exp(−d² / (2⟨d²⟩)), Perraudin et al.
2019), and the identity, which is exactly equivariant: its E is the floor of the measurement (HEALPix
transforms are inexact near ℓ = 3·nside). The paper's widths are
:data:`deepsphere.analysis.PAPER_KERNEL_WIDTHS`.

    python benchmarks/bench_equivariance.py                                      # nside 16, 32: ~12 min
    python benchmarks/bench_equivariance.py --nsides 64 --n-signals 2 --steps 1  # ~25 min

Prints a table and writes ``benchmarks/results/equivariance.json`` (or ``--results``); the entries of the
nsides measured are replaced, those of other nsides kept. healpy's OpenMP runs on one thread unless
OMP_NUM_THREADS is set: on a shared machine a team of threads waiting for descheduled members made its
transforms 30–1000× slower. ``deepsphere.analysis.equivariance_report`` runs the same search on other
samplings too, with figures.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before healpy loads its OpenMP runtime

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import healpy as hp  # noqa: E402
import numpy as np  # noqa: E402

from deepsphere.analysis import (  # noqa: E402
    PAPER_KERNEL_WIDTHS,
    KernelWidthSweep,
    best_kernel_width,
    equivariance_floor,
    equivariance_sweep,
)
from deepsphere.data import atomic_write  # noqa: E402
from deepsphere.graph import healpix_graph  # noqa: E402
from deepsphere.sampling import HEALPix  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "equivariance.json"
LAPLACIANS = ("combinatorial", "normalized")


def _rounded(values: np.ndarray) -> list[float]:
    return [float(f"{v:.4g}") for v in values]


def _bands(ells: np.ndarray, error: np.ndarray, nside: int) -> dict[str, float]:
    """Mean E over ℓ = 1, [2, nside), [nside, 2·nside), [2·nside, 3·nside)."""
    edges = {"l=1": (1, 2), "2..n": (2, nside), "n..2n": (nside, 2 * nside), "2n..3n": (2 * nside, 3 * nside)}
    return {name: float(error[(ells >= lo) & (ells < hi)].mean()) for name, (lo, hi) in edges.items()}


def _sweep_row(sweep: KernelWidthSweep) -> dict:
    """The JSON row of a width search: E at σ0 and at the minimiser σ*, mean E at every width."""
    default, best = sweep.index_of(sweep.default_width), sweep.best_index
    return {
        "width0": sweep.default_width,
        "multiples": _rounded(sweep.widths / sweep.default_width),
        "mean_error": _rounded(sweep.mean_error),
        "default_mean_error": float(sweep.mean_error[default]),
        "default_bands": _bands(sweep.ells, sweep.error[default], sweep.nside),
        "default_per_ell": _rounded(sweep.error[default]),
        "best_multiple": sweep.best_width / sweep.default_width,
        "best_width": sweep.best_width,
        "best_mean_error": sweep.best_mean_error,
        "best_bands": _bands(sweep.ells, sweep.error[best], sweep.nside),
        "best_per_ell": _rounded(sweep.error[best]),
        "best_at_grid_edge": not sweep.best_inside,
    }


def _v1_width(sampling: HEALPix) -> float:
    """σ with exp(−ln 2 · d²/σ²) = exp(−d² / (2⟨d²⟩)), ⟨d²⟩ over the 8-neighbour edges (DeepSphere v1)."""
    graph = healpix_graph(sampling)
    squared = -np.log(graph.weights.data) * graph.kernel_width**2 / np.log(2)
    return float(np.sqrt(2 * np.log(2) * squared.mean()))


def _print_row(nside: int, name: str, laplacian: str, row: dict) -> None:
    bands = " ".join(f"{v:8.4f}" for v in row["default_bands"].values())
    best = (
        f"{row['best_multiple']:6.2f}{'*' if row.get('best_at_grid_edge') else ' '} {row['best_width']:8.5f} "
        f"{row['best_mean_error']:8.4f}"
        if "best_multiple" in row
        else f"{'':6}  {'':8} {'':8}"
    )
    paper = row.get("paper_width")
    print(
        f"{nside:>5} {name:<14} {laplacian:<13} {row['width0']:8.5f} {row['default_mean_error']:8.4f} "
        f"{best} {bands} {'' if paper is None else f'{paper:8.5f}'}",
        flush=True,
    )


def measure_nside(nside: int, args: argparse.Namespace) -> dict:
    common = {"n_signals": args.n_signals, "seed": args.seed}
    floor = equivariance_floor(nside, **common)
    rows = []
    for k in args.ks:
        for laplacian in LAPLACIANS:
            row = _sweep_row(best_kernel_width(nside, k, laplacian, steps=args.steps, **common))
            row.update(
                graph=f"knn k={k}",
                k=k,
                laplacian=laplacian,
                paper_width=PAPER_KERNEL_WIDTHS.get(nside, {}).get(k),
            )
            rows.append(row)
            _print_row(nside, row["graph"], laplacian, row)
    for laplacian in LAPLACIANS:
        row = _sweep_row(best_kernel_width(nside, 8, laplacian, graph="healpix", steps=args.steps, **common))
        row.update(graph="healpix_graph", k=8, laplacian=laplacian)
        rows.append(row)
        _print_row(nside, row["graph"], laplacian, row)
    v1_width = _v1_width(HEALPix(nside))
    for laplacian in LAPLACIANS:
        v1 = equivariance_sweep(nside, 8, [v1_width], laplacian, graph="healpix", **common)
        row = {
            "graph": "deepsphere v1",
            "k": 8,
            "laplacian": laplacian,
            "width0": v1_width,
            "default_mean_error": float(v1.mean_error[0]),
            "default_bands": _bands(v1.ells, v1.error[0], nside),
            "default_per_ell": _rounded(v1.error[0]),
        }
        rows.append(row)
        _print_row(nside, row["graph"], laplacian, row)
    floor_row = {
        "width0": 0.0,
        "default_mean_error": floor.mean,
        "default_bands": _bands(floor.ells, floor.error, nside),
    }
    _print_row(nside, "identity", "(floor)", floor_row)
    return {
        "nside": nside,
        "n_signals": args.n_signals,
        "seed": args.seed,
        "ells": f"1..{3 * nside - 1}",
        "floor_mean_error": floor.mean,
        "floor_per_ell": _rounded(floor.error),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nsides", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--ks", type=int, nargs="+", default=[8, 20, 40])
    parser.add_argument("--n-signals", type=int, default=4, help="(signal, rotation) pairs per degree")
    parser.add_argument("--steps", type=int, default=4, help="half-octave width steps each side of σ0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file to update")
    args = parser.parse_args()

    print(
        f"{'nside':>5} {'graph':<14} {'laplacian':<13} {'σ0':>8} {'E(σ0)':>8} {'σ*/σ0':>7} {'σ*':>8} "
        f"{'E(σ*)':>8} {'E ℓ=1':>8} {'2..n':>8} {'n..2n':>8} {'2n..3n':>8} {'paper σ':>8}"
    )
    print("-" * 128)
    results = json.loads(args.results.read_text()) if args.results.exists() else {"nsides": {}}
    for nside in args.nsides:
        start = time.perf_counter()
        entry = measure_nside(nside, args)
        entry["seconds"] = round(time.perf_counter() - start, 1)
        results["nsides"][str(nside)] = entry
        print(f"nside {nside}: {entry['seconds']:.0f} s", flush=True)
    print(
        "E: mean over ℓ = 1 … 3·nside − 1; σ*: the minimiser (*: at the edge of the grid); "
        "ℓ=1 … 2n..3n: mean E over those degrees at σ0"
    )
    results["meta"] = {
        "cpus": os.cpu_count(),
        "omp_num_threads": os.environ["OMP_NUM_THREADS"],
        "healpy": hp.__version__,
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
    text = json.dumps(results, indent=1) + "\n"
    atomic_write(args.results, lambda tmp: tmp.write_text(text), overwrite=True)  # this script's own file
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
