"""Training steps of the built-in experiments' models: how fast, and how much of it is ChebConv.

Models, as their default configs build them, on random inputs (fixed seeds):

- ``cosmo``: the cosmology CNN — 4 096-pixel HEALPix patches (1/192 of an nside-256 sky), batch 32,
  channels 16, 32, 64, 64, 64, K = 5, average pooling, ChebConv head;
- ``climate``: the segmentation U-Net — icosahedral level 5 (10 242 vertices), batch 4, 16 input
  channels, 16, 32, 64, 128, K = 4, k = 6, max pooling, nearest unpooling, 3 classes.

A step is forward, cross-entropy, backward and Adam. Per model the script times (best and median of
``--steps`` steps after warm-up) the step and inference (no gradient), and in the same process:

- the same model with every ChebConv on the ``sparse`` backend (torch's own sparse product): the peer;
- the model's ChebConvs alone, forward + backward on their inputs' shapes: the floor the rest of the
  step (batch norm, ReLU, pooling, optimiser) adds to;
- its batch norms + ReLU alone (forward + backward on their inputs' shapes), ours (the fused kernel)
  against torch's ``BatchNorm1d`` followed by ``relu``.

Each model runs in ``--rounds`` fresh processes; the table keeps the one with the fastest median step.

    python benchmarks/bench_model.py                  # both models, 3 rounds (~2 min on 2 cores)
    python benchmarks/bench_model.py --models cosmo --rounds 1

Prints a table and writes ``benchmarks/results/model_cpu.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
MODELS = ("cosmo", "climate")


def _build(name: str, backend: str):  # noqa: ANN202
    """(model, input, target) of the named model with every ChebConv on ``backend``."""
    import numpy as np
    import torch

    from deepsphere.nn import ChebConv, SphericalCNN, SphericalUNet
    from deepsphere.sampling import HEALPix, Icosahedral

    torch.manual_seed(0)
    if name == "cosmo":
        sampling = HEALPix(256, indices=np.arange(4096))
        model = SphericalCNN(sampling, 1, 2, channels=(16, 32, 64, 64, 64), K=5, pool="avg", head="conv")
        x, target = torch.randn(32, sampling.npix, 1), torch.randint(0, 2, (32,))
    else:
        sampling = Icosahedral(level=5)
        model = SphericalUNet(sampling, 16, 3, channels=(16, 32, 64, 128), K=4, k=6, pool="max")
        x, target = torch.randn(4, sampling.npix, 16), torch.randint(0, 3, (4, sampling.npix))
    for module in model.modules():
        if isinstance(module, ChebConv):
            module.backend = backend
    return model, x, target


def _times(fn, steps: int) -> tuple[float, float]:  # noqa: ANN001
    """(best, median) seconds of ``fn()`` over ``steps`` calls, after two warm-up calls."""
    fn()
    fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def _train_step(model, x, target):  # noqa: ANN001, ANN202
    import torch

    optimizer = torch.optim.Adam(model.parameters(), 1e-3)

    def step() -> None:
        optimizer.zero_grad()
        out = model(x)
        loss = torch.nn.functional.cross_entropy(out.transpose(1, 2) if out.dim() == 3 else out, target)
        loss.backward()
        optimizer.step()

    return step


def _inputs_of(model, x, kind: type) -> list[tuple]:  # noqa: ANN001
    """(module, input shape) of every module of ``kind`` in ``model``, recorded on one forward pass."""
    import torch

    shapes = []

    def record(module: torch.nn.Module, args: tuple) -> None:
        shapes.append((module, args[0].shape))

    hooks = [m.register_forward_pre_hook(record) for m in model.modules() if isinstance(m, kind)]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return shapes


def _alone(layers: list[tuple], steps: int) -> tuple[float, float]:
    """(best, median) seconds of forward + backward of each (layer, input shape), on random inputs."""
    import torch

    cases = []
    for i, (layer, shape) in enumerate(layers):
        inp = torch.randn(shape).requires_grad_(i > 0)  # the model's input needs no gradient
        cases.append((layer, inp, torch.randn(layer(inp).shape)))

    def run() -> None:
        for layer, inp, grad in cases:
            layer(inp).backward(grad)

    return _times(run, steps)


def _torch_batch_norm(ours):  # noqa: ANN001, ANN202
    """torch's BatchNorm1d then ReLU, on the (B, V, C) input flattened as ours reads it."""
    import torch

    ref = torch.nn.BatchNorm1d(ours.num_features)

    def layer(x: torch.Tensor) -> torch.Tensor:
        rows = x.transpose(0, 1).reshape(-1, x.shape[2])
        return torch.relu(ref(rows)).view(x.shape[1], x.shape[0], -1).transpose(0, 1)

    return layer


def _case(name: str, steps: int, queue) -> None:  # noqa: ANN001
    import torch

    from deepsphere.nn import BatchNorm, ChebConv

    model, x, target = _build(name, "auto")
    row = {"model": name, "threads": torch.get_num_threads(), "batch": x.shape[0]}
    row["step_s"], row["step_median_s"] = _times(_train_step(model, x, target), steps)
    with torch.no_grad():
        row["inference_s"], row["inference_median_s"] = _times(lambda: model(x), steps)
    row["convs_s"], row["convs_median_s"] = _alone(_inputs_of(model, x, ChebConv), steps)
    norms = _inputs_of(model, x, BatchNorm)
    row["norms_s"], row["norms_median_s"] = _alone(norms, steps)
    torch_norms = [(_torch_batch_norm(layer), shape) for layer, shape in norms]
    row["torch_norms_s"], row["torch_norms_median_s"] = _alone(torch_norms, steps)
    peer, x, target = _build(name, "sparse")
    row["sparse_step_s"], row["sparse_step_median_s"] = _times(_train_step(peer, x, target), steps)
    queue.put(row)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per model, the fastest kept")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per process")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    print(
        f"{'model':>8} {'batch':>5} {'step ms':>15} {'samples/s':>9} {'infer ms':>8} {'convs ms':>8} "
        f"{'conv share':>10} {'BN+ReLU ms':>10} {'torch BN+ReLU':>13} {'sparse step':>11} {'sparse/ours':>11}"
    )
    print(f"{'':>14}{'best / median':>15}   (the other times: medians)")
    rows = []
    for name in args.models:
        runs = []
        for _ in range(args.rounds):
            queue = ctx.Queue()
            proc = ctx.Process(target=_case, args=(name, args.steps, queue))
            proc.start()
            proc.join()
            if proc.exitcode != 0:
                raise SystemExit(f"{name}: the measuring process failed (exit {proc.exitcode})")
            runs.append(queue.get())
        r = min(runs, key=lambda r: r["step_median_s"])
        r["samples_per_s"] = r["batch"] / r["step_median_s"]
        r["conv_share"] = r["convs_median_s"] / r["step_median_s"]
        r["torch_norms_over_ours"] = r["torch_norms_median_s"] / r["norms_median_s"]
        r["sparse_over_ours"] = r["sparse_step_median_s"] / r["step_median_s"]
        print(
            f"{name:>8} {r['batch']:>5} {1e3 * r['step_s']:7.1f} / {1e3 * r['step_median_s']:5.1f} "
            f"{r['samples_per_s']:9.0f} {1e3 * r['inference_median_s']:8.1f} "
            f"{1e3 * r['convs_median_s']:8.1f} "
            f"{100 * r['conv_share']:9.0f}% {1e3 * r['norms_median_s']:10.1f} "
            f"{1e3 * r['torch_norms_median_s']:13.1f} {1e3 * r['sparse_step_median_s']:11.1f} "
            f"{r['sparse_over_ours']:10.2f}x",
            flush=True,
        )
        rows.append(r)
    meta = {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()}
    meta.update(rounds=args.rounds, steps=args.steps)
    out = RESULTS / "model_cpu.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
