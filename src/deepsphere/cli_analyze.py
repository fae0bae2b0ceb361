"""``deepsphere analyze``: measure a sampling's graph and filters; each command writes its figures and a JSON
of its numbers into ``--out`` and prints where.

- ``equivariance`` — the DeepSphere ICLR equivariance error of graph Laplacians per degree ℓ, the kernel
  width that minimises it per nside and k, beside the paper's widths;
- ``spectrum`` — graph Laplacian eigenvalues against ℓ(ℓ+1) and the alignment of graph Fourier subspaces
  with the spherical harmonics of each degree;
- ``filter`` — heat diffusion exp(−τL) by Chebyshev polynomials of growing order against the exact result;
- ``learn-graph`` — a sparse graph learned from smooth signals (Kalofolias & Perraudin 2019) against the
  graph that made them.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

DESCRIPTION = """Measure a sampling's graph and its filters. Each analysis runs on a small default input in
under a minute, writes its figures and a JSON of its numbers into --out and prints where:

  equivariance  equivariance error of graph Laplacians per degree ℓ; best kernel width per nside and k
  spectrum      Laplacian eigenvalues against ℓ(ℓ+1); graph Fourier subspaces against spherical harmonics
  filter        heat diffusion by Chebyshev polynomials of growing order against the exact result
  learn-graph   a sparse graph learned from smooth signals, scored against the graph that made them"""

SAMPLINGS = ("healpix", "equiangular", "gauss_legendre", "icosahedral", "cubed_sphere", "random")


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _run(report: Callable[..., dict], args: argparse.Namespace, **options) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # healpy's OpenMP spin-waits on shared machines
    start = time.perf_counter()
    report(args.out, seed=args.seed, overwrite=args.overwrite, **options)
    print(f"done in {time.perf_counter() - start:.1f} s; figures and numbers in {args.out}")
    return 0


def cmd_equivariance(args: argparse.Namespace) -> int:
    from .analysis.kernel_width import equivariance_report

    return _run(
        equivariance_report,
        args,
        nsides=args.nsides,
        ks=args.ks,
        samplings=args.samplings,
        n_signals=args.n_signals,
        laplacian=args.laplacian,
        graph=args.graph,
    )


def cmd_spectrum(args: argparse.Namespace) -> int:
    from .analysis.spectrum import spectrum_report

    return _run(
        spectrum_report,
        args,
        sampling=args.sampling,
        resolution=args.resolution,
        k=args.k,
        kernel_width=args.kernel_width,
        lmax=args.lmax,
        normalized=args.normalized,
    )


def cmd_filter(args: argparse.Namespace) -> int:
    from .analysis.filters import filter_report

    return _run(filter_report, args, nside=args.nside, k=args.k, tau=args.tau, K_values=args.K)


def cmd_learn_graph(args: argparse.Namespace) -> int:
    from .analysis.graph_learning import learn_graph_report

    return _run(learn_graph_report, args, nside=args.nside, k=args.k, n_signals=args.n_signals)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``analyze`` and its commands to the ``deepsphere`` command's sub-parsers."""
    p = sub.add_parser(
        "analyze",
        help="measure graphs and filters (figures + JSON)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = p.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")

    def command(name: str, func: Callable, help: str, out: str) -> argparse.ArgumentParser:
        q = commands.add_parser(name, help=help, description=help)
        q.add_argument("--out", default=out, help=f"output folder (default: {out})")
        q.add_argument("--seed", type=int, default=0, help="seed of the random signals (default: 0)")
        q.add_argument("--overwrite", action="store_true", help="replace earlier outputs in --out")
        q.set_defaults(func=func)
        return q

    q = command(
        "equivariance",
        cmd_equivariance,
        "equivariance error E = (‖R L f − L R f‖ / ‖L f‖)² of graph Laplacians per degree ℓ, over kernel "
        "widths: the best width per nside and k against the DeepSphere ICLR paper's",
        "analysis/equivariance",
    )
    q.add_argument("--nsides", type=_ints, default=[8], help="HEALPix resolutions, e.g. 8,16 (default: 8)")
    q.add_argument("--ks", type=_ints, default=[8, 20], help="neighbours per pixel (default: 8,20)")
    q.add_argument(
        "--samplings",
        nargs="+",
        default=["healpix"],
        help="samplings at a matched resolution (default: healpix)",
    )
    q.add_argument("--n-signals", type=int, default=2, help="signals (and rotations) per degree (default: 2)")
    q.add_argument("--laplacian", choices=["combinatorial", "normalized"], default="combinatorial")
    q.add_argument("--graph", choices=["knn", "healpix"], default="knn", help="k-NN or HEALPix 8-neighbour")

    q = command(
        "spectrum",
        cmd_spectrum,
        "graph Laplacian eigenvalues against the sphere's ℓ(ℓ+1), and the overlap of each graph Fourier "
        "subspace with the spherical harmonics of each degree",
        "analysis/spectrum",
    )
    q.add_argument("--sampling", choices=SAMPLINGS, default="healpix")
    q.add_argument("--resolution", type=int, default=8, help="nside, level, n… of the sampling (default: 8)")
    q.add_argument("--k", type=int, default=8, help="neighbours per pixel (default: 8)")
    q.add_argument("--kernel-width", type=float, default=None, help="Gaussian width (default: the package's)")
    q.add_argument("--lmax", type=int, default=8, help="largest degree compared (default: 8)")
    q.add_argument("--normalized", action="store_true", help="normalized Laplacian I − D^-1/2 W D^-1/2")

    q = command(
        "filter",
        cmd_filter,
        "heat diffusion exp(−τL) of a map by Chebyshev polynomials of order K against the exact result "
        "(eigendecomposition); spectral responses and maps",
        "analysis/filter",
    )
    q.add_argument("--nside", type=int, default=8, help="HEALPix resolution (default: 8)")
    q.add_argument("--k", type=int, default=8, help="neighbours per pixel (default: 8)")
    q.add_argument("--tau", type=float, default=5.0, help="diffusion time τ (default: 5)")
    q.add_argument("--K", type=_ints, default=[2, 4, 8, 12, 16, 24, 32], help="polynomial orders")

    q = command(
        "learn-graph",
        cmd_learn_graph,
        "learn a sparse graph from signals smooth on a known graph (log-degree model of Kalofolias & "
        "Perraudin 2019, k-NN candidate edges) and score the recovered edges",
        "analysis/learn-graph",
    )
    q.add_argument("--nside", type=int, default=8, help="HEALPix resolution of the known graph (default: 8)")
    q.add_argument("--k", type=int, default=8, help="neighbours per node (default: 8)")
    q.add_argument("--n-signals", type=int, default=500, help="smooth signals drawn (default: 500)")
