"""ChebConv speed and memory on full HEALPix spheres, against torch_geometric and the memory floor.

Setting (issue 3): k-NN graph (k = 8), batch 8, 16 → 16 channels, float32, K = 5 and 20, nside 64, 128
and 256. For each backend of ours and for ``torch_geometric.nn.ChebConv`` (same graph, same weights;
the script checks that the outputs agree) — and for the ``index`` backend compiled by ``torch.compile`` —
it times the forward pass (no gradient) and forward + backward
(gradients of input and weights, from a fixed random output gradient), the best of several runs.

Floor: a Chebyshev filter must make K passes over the (V, batch·channels) signal; a pass reads and
writes it once, like a copy, so ``floor = K · t_copy`` forward and ``2 K · t_copy`` forward + backward,
with ``t_copy`` the time of ``dst.copy_(src)`` on a signal-sized tensor measured in the same process.

Arithmetic floor (CPU): the multiply-adds the recursion and projection must do, at the machine's peak
rate. With nnz the non-zeros of L̃ and N = V · batch rows, forward ``(K − 1) · nnz · batch · C_in +
K · N · C_in · C_out``; the backward adds Clenshaw's ``(K − 1) · nnz · batch · C_in`` and two projections
(``G_k = g W_kᵀ`` and the weights' gradient), ``2 K · N · C_in · C_out``. The peak is a register-only
loop of independent float32 FMAs (the widest vectors the compiler targets with ``-march=native``) on
every core, compiled with ``$CC`` and measured once per run. Where the memory floor lies below the
arithmetic one (a signal that fits in the last-level cache), ×2 the memory floor asks for more than half
of the machine's peak FMA rate.

Each case runs in a fresh process (``--rounds``: in several, keeping the one with the fastest forward +
backward, with its own copy time) so that its peak memory (growth of the resident set over the state
after set-up, with the buffer pool of :mod:`deepsphere.nn.buffers` emptied first) is its own.

    python benchmarks/bench_chebconv.py                   # the full table (~10 min on 2 cores)
    python benchmarks/bench_chebconv.py --nsides 64 --K 5 # quick look
    python benchmarks/bench_chebconv.py --device cuda     # on a GPU (peak memory from torch.cuda)
    python benchmarks/bench_chebconv.py --rounds 3        # each case in 3 processes, the best kept

Prints a table and writes ``benchmarks/results/chebconv_<device>.json``, replacing the cases it measured
on the same CPU (each row names its ``cpu``; rows from other machines are kept).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import multiprocessing as mp
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
METHODS = ("fused", "numba", "sparse", "index", "compiled", "pyg")


# Independent FMAs on 12 accumulators (enough to cover the FMA latency on two pipes), one loop per thread.
_PEAK_SOURCE = r"""
#include <omp.h>
#if defined(__AVX512F__)
#define WIDTH 16
#elif defined(__AVX__)
#define WIDTH 8
#else
#define WIDTH 4
#endif
typedef float vec __attribute__((vector_size(4 * WIDTH)));
double fma_per_second(long iterations, int threads)
{
    double start = omp_get_wtime(), sink = 0.0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
        vec b, c, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11;
        for (int q = 0; q < WIDTH; q++) {
            b[q] = 1.0f - 1e-7f, c[q] = 1e-7f;
            a0[q] = 0, a1[q] = 1, a2[q] = 2, a3[q] = 3, a4[q] = 4, a5[q] = 5;
            a6[q] = 6, a7[q] = 7, a8[q] = 8, a9[q] = 9, a10[q] = 10, a11[q] = 11;
        }
        for (long i = 0; i < iterations; i++) {
            a0 = a0 * b + c, a1 = a1 * b + c, a2 = a2 * b + c, a3 = a3 * b + c;
            a4 = a4 * b + c, a5 = a5 * b + c, a6 = a6 * b + c, a7 = a7 * b + c;
            a8 = a8 * b + c, a9 = a9 * b + c, a10 = a10 * b + c, a11 = a11 * b + c;
        }
        vec s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
        sink += s[0];
    }
    double seconds = omp_get_wtime() - start;
    return sink == -1.0 ? 0.0 : 12.0 * WIDTH * iterations * threads / seconds;
}
"""


def _peak_fma_per_second(threads: int) -> float | None:
    """The machine's float32 FMA rate on ``threads`` threads (best of 5), None without a C compiler."""
    compiler = os.environ.get("CC", "cc")
    with tempfile.TemporaryDirectory() as tmp:
        source, library = Path(tmp) / "peak.c", Path(tmp) / "peak.so"
        source.write_text(_PEAK_SOURCE)
        flags = ["-O2", "-march=native", "-ffp-contract=fast", "-fopenmp", "-shared", "-fPIC"]
        try:
            subprocess.run(
                [compiler, *flags, "-o", str(library), str(source)], check=True, capture_output=True
            )
        except (OSError, subprocess.CalledProcessError):
            return None
        peak = ctypes.CDLL(str(library)).fma_per_second
        peak.restype, peak.argtypes = ctypes.c_double, [ctypes.c_long, ctypes.c_int]
        return max(peak(50_000_000, threads) for _ in range(5))


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM"):  # peak resident set
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:  # resets VmHWM to the current resident set
        f.write("5")


def _best(fn, repeats: int, sync) -> float:  # noqa: ANN001
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


def _case(
    method: str, nside: int, K: int, batch: int, channels: int, device: str, repeats: int, queue
) -> None:  # noqa: ANN001
    import numpy as np
    import torch

    from deepsphere.graph import knn_graph
    from deepsphere.nn import ChebConv
    from deepsphere.nn.buffers import POOL
    from deepsphere.sampling import HEALPix

    torch.manual_seed(0)
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    graph = knn_graph(HEALPix(nside), k=8)
    lap, lmax = graph.laplacian(), graph.lmax()
    ours = ChebConv(channels, channels, K, lap, lmax=lmax).to(dev)
    x = torch.randn(batch, graph.n_vertices, channels, device=dev)
    with torch.no_grad():
        reference = ours(x)  # the default backend
    ours.backend = {"pyg": "auto", "compiled": "index"}.get(method, method)
    if method == "pyg":
        from torch_geometric.nn import ChebConv as PygChebConv

        conv = PygChebConv(channels, channels, K, normalization=None).to(dev)
        with torch.no_grad():
            for k, lin in enumerate(conv.lins):
                lin.weight.copy_(ours.weight[k].T)
            conv.bias.copy_(ours.bias)
        w = graph.weights.tocoo()
        edge_index = torch.from_numpy(np.vstack([w.row, w.col])).long().to(dev)
        edge_weight = torch.from_numpy(w.data).float().to(dev)
        lam = torch.tensor(lmax, device=dev)

        def forward(inp: torch.Tensor) -> torch.Tensor:
            return conv(inp, edge_index, edge_weight, lambda_max=lam)

        params = list(conv.parameters())
    elif method == "compiled":  # the index path fused by torch.compile (inductor; needs a C++ compiler)
        forward, params = torch.compile(ours, dynamic=False), list(ours.parameters())
    else:
        forward, params = ours, list(ours.parameters())
    with torch.no_grad():
        out = forward(x)
    rel_diff = float((out - reference).abs().max() / reference.abs().max())
    src = torch.randn(graph.n_vertices * batch * channels, device=dev)
    dst = torch.empty_like(src)
    t_copy = _best(lambda: dst.copy_(src), 2 * repeats, sync)
    del out  # the copy buffers stay: their pages are part of the base, not of the peaks

    def fwd() -> None:
        with torch.no_grad():
            forward(x)

    xg = x.clone().requires_grad_()
    grad_out = torch.randn(x.shape[0], x.shape[1], channels, device=dev)

    def fwd_bwd() -> None:
        for p in params:
            p.grad = None
        xg.grad = None
        forward(xg).backward(grad_out)

    peaks = {}
    times = {}
    for name, fn in (("fwd", fwd), ("fwd_bwd", fwd_bwd)):
        fn()
        POOL.clear()  # the pooled buffers count in the peak: the timed runs map them again
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated() / 2**20
        else:
            _reset_peak()
            base = _rss_mib()
        times[name] = _best(fn, repeats, sync)
        peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else _rss_mib()
        peaks[name] = peak - base
    nnz = int((ours.laplacian.weight != 0).sum())
    projection = K * graph.n_vertices * batch * channels * channels
    steps = (K - 1) * nnz * batch * channels
    queue.put(
        {
            "method": method,
            "nside": nside,
            "K": K,
            "fma_fwd": steps + projection,
            "fma_fwd_bwd": 2 * steps + 3 * projection,
            "fwd_s": times["fwd"],
            "fwd_bwd_s": times["fwd_bwd"],
            "copy_s": t_copy,
            "signal_mib": graph.n_vertices * batch * channels * 4 / 2**20,
            "peak_fwd_mib": peaks["fwd"],
            "peak_fwd_bwd_mib": peaks["fwd_bwd"],
            "max_rel_diff_vs_auto": rel_diff,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nsides", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--K", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--methods", nargs="+", default=None, choices=METHODS)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--rounds", type=int, default=1, help="fresh processes per case, the fastest kept (noisy machines)"
    )
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    methods = args.methods or (("sparse", "index", "compiled", "pyg") if args.device != "cpu" else METHODS)
    ctx = mp.get_context("spawn")
    cpu = _cpu_model() if args.device == "cpu" else args.device
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    peak = _peak_fma_per_second(threads) if args.device == "cpu" else None
    if peak:
        print(f"{cpu}: peak {peak / 1e9:.0f} GFMA/s (float32, {threads} threads)")
    rows = []
    header = f"{'nside':>5} {'K':>3} {'method':>7} {'fwd ms':>9} {'f+b ms':>9} {'×floor':>7} {'×floor':>7} "
    header += f"{'×arith':>7} {'×arith':>7} {'PyG/ours':>8} {'peak MiB':>9} {'rel diff':>9}"
    print(header + "\n" + " " * 37 + "fwd     f+b     fwd     f+b      f+b     f+b")
    for nside in args.nsides:
        for K in args.K:
            case_rows = []
            for method in methods:
                runs = []
                for _ in range(args.rounds):
                    queue = ctx.Queue()
                    proc = ctx.Process(
                        target=_case,
                        args=(method, nside, K, args.batch, args.channels, args.device, args.repeats, queue),
                    )
                    proc.start()
                    proc.join()
                    if proc.exitcode != 0:
                        print(f"{nside:>5} {K:>3} {method:>7}  failed (exit {proc.exitcode})")
                        break
                    runs.append(queue.get())
                if len(runs) == args.rounds:  # the round whose layer was fastest, with its own copy time
                    case_rows.append(min(runs, key=lambda r: r["fwd_bwd_s"]))
            pyg = next((r for r in case_rows if r["method"] == "pyg"), None)
            for r in case_rows:
                r["cpu"], r["peak_fma_per_s"] = cpu, peak
                r["x_floor_fwd"] = r["fwd_s"] / (K * r["copy_s"])
                r["x_floor_fwd_bwd"] = r["fwd_bwd_s"] / (2 * K * r["copy_s"])
                r["x_arith_fwd"] = r["fwd_s"] * peak / r["fma_fwd"] if peak else None
                r["x_arith_fwd_bwd"] = r["fwd_bwd_s"] * peak / r["fma_fwd_bwd"] if peak else None
                arith = (
                    f"{r['x_arith_fwd']:7.2f} {r['x_arith_fwd_bwd']:7.2f}" if peak else f"{'-':>7} {'-':>7}"
                )
                r["pyg_speedup_fwd_bwd"] = pyg["fwd_bwd_s"] / r["fwd_bwd_s"] if pyg else None
                r["pyg_speedup_fwd"] = pyg["fwd_s"] / r["fwd_s"] if pyg else None
                speed = f"{r['pyg_speedup_fwd_bwd']:8.1f}" if pyg else f"{'-':>8}"
                print(
                    f"{nside:>5} {K:>3} {r['method']:>7} {1e3 * r['fwd_s']:9.1f} {1e3 * r['fwd_bwd_s']:9.1f} "
                    f"{r['x_floor_fwd']:7.2f} {r['x_floor_fwd_bwd']:7.2f} {arith} {speed} "
                    f"{r['peak_fwd_bwd_mib']:9.0f} {r['max_rel_diff_vs_auto']:9.1e}",
                    flush=True,
                )
            rows += case_rows
    meta = {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()}
    meta.update(batch=args.batch, channels=args.channels, device=args.device, cpu=cpu)
    out = RESULTS / f"chebconv_{args.device}.json"
    out.parent.mkdir(exist_ok=True)
    keys = {(r["method"], r["nside"], r["K"], r["cpu"]) for r in rows}
    if out.exists():  # keep the cases this run did not measure, and other machines' (rows name their cpu)
        kept = [
            r
            for r in json.loads(out.read_text())["rows"]
            if (r["method"], r["nside"], r["K"], r.get("cpu")) not in keys
        ]
        rows = kept + rows
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
