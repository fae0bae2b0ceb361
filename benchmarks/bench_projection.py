"""Mesh → sphere projection: pixels per second with Embree and with trimesh's pure-Python triangle engine.

Each mesh is a synthetic primitive (``deepsphere.data.random_primitive``, one per class) subdivided
``--subdivide`` times (×4 faces each time; ShapeNet meshes have hundreds to tens of thousands of faces),
normalised, and projected onto HEALPix nside ``--nside`` (12 288 rays at nside 32, cast on the mesh and
again on its convex hull). A pixel is one of the 6-channel output rows. Rows of the table:

- ``embree``: ``project_mesh(engine="embree")`` on every mesh;
- ``triangle``: ``project_mesh(engine="triangle")`` on the first ``--triangle-meshes`` meshes (it is
  ~100-1000× slower); the ratio column compares both engines on those same meshes;
- floors: ``embree, trivial mesh`` — the same call on a 20-face icosahedron (the cost of trimesh's
  Embree path itself: scene build, ray setup, hull); ``numpy per-ray work`` — the per-ray arithmetic
  the features need once the hits are known (origins, dot and cross products, norms) on the same rays.

    python benchmarks/bench_projection.py                  # 6 meshes, nside 32 (about a minute)
    python benchmarks/bench_projection.py --repeat 3       # each timing the fastest of 3

Prints a table and writes ``benchmarks/results/projection.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import trimesh

from deepsphere.data import SYNTHETIC_CLASSES, has_embree, normalize_mesh, project_mesh, random_primitive
from deepsphere.sampling import HEALPix

RESULTS = Path(__file__).parent / "results" / "projection.json"


def _fastest(fn, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _per_ray_numpy(directions: np.ndarray, normals: np.ndarray, radius: float) -> None:
    """The features' arithmetic on known hits: what projection would cost if intersecting were free."""
    for _ in range(2):  # mesh and hull
        origins = radius * directions
        location = origins - 0.5 * directions
        depth = np.einsum("ij,ij->i", origins - location, directions)
        cos = np.abs(np.einsum("ij,ij->i", normals, directions))
        sin = np.linalg.norm(np.cross(normals, directions), axis=1)
        np.stack([depth, cos, sin], axis=1).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nside", type=int, default=32)
    parser.add_argument("--subdivide", type=int, default=2)
    parser.add_argument("--triangle-meshes", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if not has_embree():
        raise SystemExit("this benchmark compares against Embree: pip install embreex")
    directions = HEALPix(args.nside).coords
    npix = len(directions)
    meshes = []
    for k, name in enumerate(SYNTHETIC_CLASSES):
        mesh = random_primitive(name, seed=k)
        for _ in range(args.subdivide):
            mesh = mesh.subdivide()
        meshes.append((name, normalize_mesh(mesh)))
    project_mesh(meshes[0][1], directions[:16])  # load trimesh's ray modules

    per_mesh = {}
    for name, mesh in meshes:
        per_mesh[name] = {"faces": len(mesh.faces)}
        per_mesh[name]["embree_s"] = _fastest(
            lambda m=mesh: project_mesh(m, directions, engine="embree"), args.repeat
        )
    subset = meshes[: args.triangle_meshes]
    for name, mesh in subset:
        per_mesh[name]["triangle_s"] = _fastest(
            lambda m=mesh: project_mesh(m, directions, engine="triangle"), args.repeat
        )
    trivial = normalize_mesh(trimesh.creation.icosahedron())
    trivial_s = _fastest(lambda: project_mesh(trivial, directions, engine="embree"), max(3, args.repeat))
    normals = directions[np.random.default_rng(0).permutation(npix)]
    numpy_s = _fastest(lambda: _per_ray_numpy(directions, normals, 1.0), max(3, args.repeat))

    embree_all = sum(v["embree_s"] for v in per_mesh.values())
    embree_subset = sum(per_mesh[name]["embree_s"] for name, _ in subset)
    triangle_subset = sum(per_mesh[name]["triangle_s"] for name, _ in subset)
    rows = {
        "embree": (len(meshes) * npix / embree_all, triangle_subset / embree_subset),
        "triangle": (len(subset) * npix / triangle_subset, 1.0),
        "embree, trivial mesh": (npix / trivial_s, None),
        "numpy per-ray work": (npix / numpy_s, None),
    }
    floor = rows["embree, trivial mesh"][0]
    faces = ", ".join(f"{name} {v['faces']}" for name, v in per_mesh.items())
    print(f"HEALPix nside {args.nside}: {npix} rays per mesh (plus its hull); faces: {faces}")
    print(f"{'path':<22} {'pixels/s':>12} {'× triangle':>11} {'of trivial-mesh rate':>21}")
    for name, (rate, ratio) in rows.items():
        ratio_text = f"{ratio:.0f}" if ratio is not None else "-"
        print(f"{name:<22} {rate:>12,.0f} {ratio_text:>11} {rate / floor:>21.2f}")
    result = {
        "nside": args.nside,
        "npix": npix,
        "subdivide": args.subdivide,
        "repeat": args.repeat,
        "pixels_per_s": {name: round(rate) for name, (rate, _) in rows.items()},
        "embree_over_triangle_same_meshes": round(rows["embree"][1], 1),
        "meshes": {
            name: {k: round(v, 5) if isinstance(v, float) else v for k, v in d.items()}
            for name, d in per_mesh.items()
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}",
        "trimesh": trimesh.__version__,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
