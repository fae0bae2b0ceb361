"""Graph construction on full HEALPix spheres: time and peak memory, against a cKDTree baseline.

Each case runs in a fresh process, so that its peak memory (resident set growth over the process's
state before the call, the input coordinates excluded) is its own. The baseline is the straightforward
recipe: query a scipy cKDTree for every pixel (all cores), build a COO matrix, symmetrise with scipy
(``W.maximum(W.T)``), apply the same Gaussian kernel.

    python benchmarks/bench_graph.py                 # nside 64 … 1024, k = 8 and 20 (~4 min)
    python benchmarks/bench_graph.py --max-nside 256 # quicker
    python benchmarks/bench_graph.py --repeat 3      # each case 3 times, the fastest kept (a busy machine)

Prints a table and writes ``benchmarks/results/graph.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "graph.json"


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _case(method: str, nside: int, k: int, queue: mp.Queue) -> None:
    import numpy as np
    import scipy.sparse as sp
    from scipy.spatial import cKDTree

    from deepsphere.graph import healpix_graph, knn_graph
    from deepsphere.graph.kernel import default_kernel_width, gaussian_weights
    from deepsphere.sampling import HEALPix

    knn_graph(HEALPix(4), k=8)  # load the compiled kernels (numba's on-disk cache)
    healpix_graph(HEALPix(4))
    sampling = HEALPix(nside)
    x = sampling.coords
    base = _rss_mib()
    start = time.perf_counter()
    if method == "knn_graph":
        nnz = knn_graph(sampling, k=k).weights.nnz
    elif method == "healpix_graph":
        nnz = healpix_graph(sampling).weights.nnz
    elif method == "ckdtree_baseline":
        width = default_kernel_width(k, 4 * np.pi / len(x))
        dist, idx = cKDTree(x).query(x, k=k + 1, workers=-1)
        rows = np.repeat(np.arange(len(x)), k)
        w = sp.coo_matrix((dist[:, 1:].ravel() ** 2, (rows, idx[:, 1:].ravel())), (len(x),) * 2)
        w = w.tocsr()
        w = w.maximum(w.T)
        w.data = gaussian_weights(w.data, width)
        nnz = w.nnz
    elif method == "neighbours_healpy":
        import healpy as hp

        nnz = hp.get_all_neighbours(nside, np.arange(len(x)), nest=True).size
    elif method == "neighbours_cdshealpix":
        import cdshealpix.nested

        ipix = np.arange(len(x), dtype=np.uint64)
        nnz = cdshealpix.nested.neighbours(ipix, int(np.log2(nside)), num_threads=0).size
    else:
        raise ValueError(method)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    queue.put({"seconds": seconds, "peak_mib": max(peak - base, 0.0), "nnz": int(nnz)})


def best_of(repeat: int, methods: list[str], nside: int, k: int) -> list[dict]:
    """Each method ``repeat`` times, interleaved (a fresh process each), the fastest run of each."""
    runs = [[run(method, nside, k) for method in methods] for _ in range(repeat)]
    return [min((r[i] for r in runs), key=lambda row: row["seconds"]) for i in range(len(methods))]


def run(method: str, nside: int, k: int) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_case, args=(method, nside, k, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return {"method": method, "nside": nside, "npix": 12 * nside**2, "k": k, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-nside", type=int, default=1024)
    parser.add_argument("--ks", type=int, nargs="+", default=[8, 20])
    parser.add_argument("--repeat", type=int, default=1, help="runs per case, the fastest kept")
    args = parser.parse_args()
    nsides = [n for n in (64, 128, 256, 512, 1024) if n <= args.max_nside]

    rows = []
    header = (
        f"{'nside':>5} {'npix':>9} {'k':>3} {'knn_graph s':>11} {'MiB':>6} "
        f"{'cKDTree s':>9} {'MiB':>6} {'speed-up':>8} {'healpix_graph s':>15}"
    )
    print(header)
    print("-" * len(header))
    for nside in nsides:
        for k in args.ks:
            ours, peer = best_of(args.repeat, ["knn_graph", "ckdtree_baseline"], nside, k)
            if abs(ours["nnz"] - peer["nnz"]) > 1e-3 * peer["nnz"]:  # equal but for distance ties
                raise RuntimeError(f"the graphs differ: {ours} vs {peer}")
            exact = best_of(args.repeat, ["healpix_graph"], nside, 8)[0] if k == 8 else None
            rows += [ours, peer] + ([exact] if exact else [])
            print(
                f"{nside:>5} {12 * nside**2:>9} {k:>3} {ours['seconds']:>11.2f} "
                f"{ours['peak_mib']:>6.0f} {peer['seconds']:>9.2f} {peer['peak_mib']:>6.0f} "
                f"{peer['seconds'] / ours['seconds']:>7.1f}x "
                + (f"{exact['seconds']:>15.2f}" if exact else f"{'':>15}"),
                flush=True,
            )
    nside = nsides[-1]
    tables = best_of(args.repeat, ["neighbours_healpy", "neighbours_cdshealpix"], nside, 8)
    rows += tables
    print(
        f"\nHEALPix neighbour tables at nside {nside}: healpy {tables[0]['seconds']:.2f} s, "
        f"cdshealpix {tables[1]['seconds']:.2f} s"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
    RESULTS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
