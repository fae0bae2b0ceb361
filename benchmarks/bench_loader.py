"""Does the patch loader keep up with training? Samples per second at nside 1024, 1/192 of the sky.

Writes ``--maps`` full-sky FITS maps (nside 1024, 50 MB each), builds their memory-mapped store, then
times, per sample of 65 536 pixels (256 KB):

- ``loader``: the training DataLoader (random order, white noise drawn per sample, batch 32);
- ``copy floor``: copying the same bytes out of the memory-mapped array, no noise (the machine's floor);
- ``training``: one forward+backward step of the cosmology CNN on a batch of such samples.

The loader keeps up when its samples/s exceed training's. Run:
``python benchmarks/bench_loader.py`` (results: benchmarks/results/loader.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from deepsphere.data import MapCollection, MapStore, write_healpix_map
from deepsphere.tasks import load_config
from deepsphere.tasks.datamodule import MapDataModule
from deepsphere.tasks.module import MapClassifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--maps", type=int, default=8, help="maps per class")
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    nside, patches, batch = 1024, 192, 32
    rng = np.random.default_rng(0)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "maps"
        start = time.perf_counter()
        for c in ("a", "b"):
            for i in range(args.maps):
                write_healpix_map(
                    root / c / f"{i}.fits", rng.standard_normal(12 * nside**2).astype(np.float32)
                )
        write_s = time.perf_counter() - start
        start = time.perf_counter()
        store = MapStore.build(MapCollection.from_folder(root), Path(tmp) / "cache")
        build_s = time.perf_counter() - start
        gb = store.values.nbytes / 1e9
        print(
            f"{2 * args.maps} maps at nside {nside}: FITS written in {write_s:.1f} s, store built in "
            f"{build_s:.1f} s ({gb / build_s:.2f} GB/s)"
        )
        config = load_config(
            "cosmo",
            [f"data.patches={patches}", f"data.batch_size={batch}", f"data.num_workers={args.workers}"],
        )
        data = MapDataModule(config, store)
        loader = data.train_dataloader()
        size = data.datasets["train"].size
        it = iter(loader)
        next(it)
        start = time.perf_counter()
        for _ in range(args.batches):
            next(it)
        rows["loader"] = args.batches * batch / (time.perf_counter() - start)

        keys = rng.permutation(len(data.datasets["train"]))[: args.batches * batch]
        out = np.empty(size, np.float32)
        start = time.perf_counter()
        for key in keys:
            m, j = data.datasets["train"].location(int(key))
            np.copyto(out, store.values[m, j * size : (j + 1) * size])
        rows["copy floor"] = len(keys) / (time.perf_counter() - start)

        model = MapClassifier(config.to_dict(), nside, list(store.classes), data.scale)
        optimizer = torch.optim.Adam(model.parameters())
        x, y = next(iter(loader))
        steps = 3
        for i in range(steps + 1):
            if i == 1:
                start = time.perf_counter()
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        rows["training"] = steps * batch / (time.perf_counter() - start)

    print(
        f"\nsamples of {size} pixels ({size * 4 // 1024} KB), batch {batch}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"{'path':<12} {'samples/s':>10} {'MB/s':>8} {'× training':>11}")
    for name, rate in rows.items():
        print(f"{name:<12} {rate:>10.0f} {rate * size * 4 / 1e6:>8.0f} {rate / rows['training']:>11.1f}")
    result = {
        "nside": nside,
        "patches": patches,
        "batch": batch,
        "workers": args.workers,
        "samples_per_s": {k: round(v, 1) for k, v in rows.items()},
        "store_build_gb_per_s": round(gb / build_s, 3),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
    }
    path = Path(__file__).with_name("results") / "loader.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
