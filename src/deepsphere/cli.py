"""The ``deepsphere`` command.

``deepsphere samplings``: build the k-NN graph of every sampling at a similar resolution and show how
well each graph's Laplacian spectrum reproduces the sphere's (eigenvalues ℓ(ℓ+1), with multiplicity
2ℓ + 1) — the property that makes graph convolutions close to rotation-equivariant.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import connected_components

from .graph import knn_graph
from .sampling import (
    CubedSphere,
    Equiangular,
    GaussLegendre,
    HEALPix,
    Icosahedral,
    PointCloud,
    Sampling,
)


def demo_samplings(k: int, seed: int) -> list[Sampling]:
    """One sampling of each kind, each with about 3 000 pixels."""
    rng = np.random.default_rng(seed)
    xyz = rng.standard_normal((3072, 3))
    return [
        HEALPix(nside=16),
        Equiangular(nlat=56, nlon=56, kind="soft"),
        GaussLegendre(nlat=40),
        CubedSphere(n=23),
        Icosahedral(level=4),
        PointCloud.from_coords(xyz),
    ]


def spectrum_by_degree(laplacian, max_degree: int = 3) -> list[float]:
    """Mean of the graph Laplacian eigenvalues of each degree ℓ = 1..max_degree, scaled so that
    ℓ = 1 gives ℓ(ℓ+1) = 2 (the sphere's Laplace–Beltrami eigenvalues are ℓ(ℓ+1), 2ℓ+1 times each)."""
    count = (max_degree + 1) ** 2
    values = np.sort(spla.eigsh(laplacian, k=count, sigma=-1e-2, which="LM")[0])
    means = [values[d * d : (d + 1) ** 2].mean() for d in range(1, max_degree + 1)]
    return [2.0 * m / means[0] for m in means]


def cmd_samplings(args: argparse.Namespace) -> int:
    print(f"k-NN graphs (k = {args.k}) of six samplings of the sphere, ~3 000 pixels each.")
    print("Laplacian eigenvalues of degree ℓ, scaled to ℓ(ℓ+1) = 2 at ℓ = 1; the sphere has 6, 12.")
    print("(The first run on a machine compiles the graph kernels, ~15 s; later runs load them.)\n")
    knn_graph(HEALPix(nside=1), k=2)  # compile or load the kernels before timing anything
    header = (
        f"{'sampling':<44} {'npix':>5} {'edges':>6} {'width':>7} {'build s':>7} "
        f"{'parts':>5} {'ℓ=2':>6} {'ℓ=3':>6}"
    )
    print(header)
    print("-" * len(header))
    for sampling in demo_samplings(args.k, args.seed):
        start = time.perf_counter()
        graph = knn_graph(sampling, k=args.k)
        seconds = time.perf_counter() - start
        parts = connected_components(graph.weights, directed=False)[0]
        if parts == 1:
            _, l2, l3 = spectrum_by_degree(graph.laplacian())
            degrees = f"{l2:>6.2f} {l3:>6.2f}"
        else:  # extra zero eigenvalues: the spectrum says nothing about the sphere
            degrees = f"{'-':>6} {'-':>6}"
        name = repr(sampling) if len(repr(sampling)) <= 44 else f"{type(sampling).__name__}(random)"
        print(
            f"{name:<44} {graph.n_vertices:>5} {graph.n_edges:>6} {graph.kernel_width:>7.4f} "
            f"{seconds:>7.2f} {parts:>5} {degrees}",
            flush=True,
        )
    print(
        "\nparts: connected components. Near the poles of latitude-longitude grids the k nearest "
        "pixels\nall lie on the same ring, so a plain k-NN graph distorts (or disconnects) there."
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepsphere", description="Spherical CNNs on graphs (DeepSphere).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "samplings",
        help="compare the graphs of every sampling with the sphere's spectrum",
        description=__doc__.split("\n\n")[1],
    )
    p.add_argument("--k", type=int, default=8, help="neighbours per pixel (default: 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random point cloud (default: 0)")
    p.set_defaults(func=cmd_samplings)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:  # a user error: one line, no traceback
        print(f"deepsphere: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
