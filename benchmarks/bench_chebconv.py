"""ChebConv speed and memory on full HEALPix spheres, against torch_geometric and the memory floor.

Setting (issue 3): k-NN graph (k = 8), batch 8, 16 → 16 channels, float32, K = 5 and 20, nside 64, 128
and 256. For each backend of ours and for ``torch_geometric.nn.ChebConv`` (same graph, same weights;
the script checks that the outputs agree) — and for the ``index`` backend compiled by ``torch.compile`` —
it times the forward pass (no gradient) and forward + backward
(gradients of input and weights, from a fixed random output gradient), the best of several runs.

Floor: a Chebyshev filter must make K passes over the (V, batch·channels) signal; a pass reads and
writes it once, like a copy, so ``floor = K · t_copy`` forward and ``2 K · t_copy`` forward + backward,
with ``t_copy`` the time of ``dst.copy_(src)`` on a signal-sized tensor measured in the same process.

Each case runs in a fresh process (``--rounds``: in several, keeping the one with the fastest forward +
backward, with its own copy time) so that its peak memory (growth of the resident set over the state
after set-up, with the buffer pool of :mod:`deepsphere.nn.buffers` emptied first) is its own.

    python benchmarks/bench_chebconv.py                   # the full table (~10 min on 2 cores)
    python benchmarks/bench_chebconv.py --nsides 64 --K 5 # quick look
    python benchmarks/bench_chebconv.py --device cuda     # on a GPU (peak memory from torch.cuda)
    python benchmarks/bench_chebconv.py --rounds 3        # each case in 3 processes, the best kept

Prints a table and writes ``benchmarks/results/chebconv_<device>.json`` (replacing the cases it measured).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
METHODS = ("fused", "numba", "sparse", "index", "compiled", "pyg")


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
    queue.put(
        {
            "method": method,
            "nside": nside,
            "K": K,
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
    rows = []
    header = f"{'nside':>5} {'K':>3} {'method':>7} {'fwd ms':>9} {'f+b ms':>9} {'×floor':>7} {'×floor':>7} "
    header += f"{'PyG/ours':>8} {'peak MiB':>9} {'rel diff':>9}"
    print(header + "\n" + " " * 37 + "fwd     f+b      f+b     f+b")
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
                r["x_floor_fwd"] = r["fwd_s"] / (K * r["copy_s"])
                r["x_floor_fwd_bwd"] = r["fwd_bwd_s"] / (2 * K * r["copy_s"])
                r["pyg_speedup_fwd_bwd"] = pyg["fwd_bwd_s"] / r["fwd_bwd_s"] if pyg else None
                r["pyg_speedup_fwd"] = pyg["fwd_s"] / r["fwd_s"] if pyg else None
                speed = f"{r['pyg_speedup_fwd_bwd']:8.1f}" if pyg else f"{'-':>8}"
                print(
                    f"{nside:>5} {K:>3} {r['method']:>7} {1e3 * r['fwd_s']:9.1f} {1e3 * r['fwd_bwd_s']:9.1f} "
                    f"{r['x_floor_fwd']:7.2f} {r['x_floor_fwd_bwd']:7.2f} {speed} "
                    f"{r['peak_fwd_bwd_mib']:9.0f} {r['max_rel_diff_vs_auto']:9.1e}",
                    flush=True,
                )
            rows += case_rows
    meta = {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()}
    meta.update(batch=args.batch, channels=args.channels, device=args.device)
    out = RESULTS / f"chebconv_{args.device}.json"
    out.parent.mkdir(exist_ok=True)
    keys = {(r["method"], r["nside"], r["K"]) for r in rows}
    if out.exists():  # keep the cases this run did not measure
        kept = [
            r for r in json.loads(out.read_text())["rows"] if (r["method"], r["nside"], r["K"]) not in keys
        ]
        rows = kept + rows
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
