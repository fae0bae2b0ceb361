"""The ``deepsphere`` command.

``deepsphere train EXPERIMENT`` trains a built-in experiment (or a YAML config) and reports its test
accuracy beside the classical baselines; ``evaluate``, ``predict`` and ``data make`` use and make its
checkpoints and data. Lightning is imported only by those commands.

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

from .cli_analyze import add_parser as add_analyze_parser
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


TRAIN_HELP = """Train an experiment: a built-in one by name, or a YAML config file. Any config value can be
overridden as section.key=value (e.g. data.noise=1 trainer.max_epochs=5 out=runs/try). The run folder
(out, default runs/NAME) gets config.yaml, checkpoints/{best,last}.ckpt, logs/version_*/metrics.csv,
report.md, report.json and figures/*.png. An interrupted run continues with --resume."""


def config_keys() -> str:
    """Every config key with its default, for ``deepsphere train --help``: the common keys, then each
    task's ``data.*`` and ``model.*``."""
    from dataclasses import fields, is_dataclass

    from .tasks.config import TASKS, Config

    def walk(obj, prefix, skip=()):
        lines = []
        for f in fields(obj):
            value = getattr(obj, f.name)
            if f.name in skip:
                continue
            if is_dataclass(value):
                lines += walk(value, f"{prefix}{f.name}.")
            else:
                lines.append(f"  {prefix}{f.name} = {value!r}")
        return lines

    common = {f.name for f in fields(Config)}
    text = walk(Config(), "")
    for name, cls in TASKS.items():
        text += [f"task {name}:", *walk(cls(), "", skip=common)]
    return "\n".join(text)


def _user_errors():
    from .tasks.config import ConfigError

    return (ValueError, ConfigError, FileExistsError, PermissionError)


def cmd_train(args: argparse.Namespace) -> int:
    from .tasks import load_config, train

    config = load_config(args.experiment, args.overrides)
    if args.quiet:
        config.trainer.progress = False
    result = train(config, resume=args.resume, overwrite=args.overwrite)
    if result is None:  # another DDP process
        return 0
    from .tasks.base import task_api

    print("\n" + "\n".join(task_api(config.task).summary(result, config)))
    print(f"report: {result.out_dir / 'report.md'} ({result.seconds / 60:.1f} min)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .tasks import evaluate
    from .tasks.base import task_api

    result, config = evaluate(args.checkpoint, args.overrides)
    print(f"test loss {result.test['loss']:.4f}")
    print("\n".join(task_api(config.task).summary(result, config)))
    if "confusion" in result.details:
        classes = result.details["classes"]
        print("confusion (rows true, columns predicted): " + ", ".join(classes))
        for name, row in zip(classes, result.details["confusion"], strict=True):
            print(f"  {name:<20} " + " ".join(f"{v:>6}" for v in row))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .tasks import predict

    options = {"ordering": args.ordering} if args.ordering else {}
    predict(args.checkpoint, args.inputs, args.out, overwrite=args.overwrite, **options)
    return 0


def made_data_sets() -> dict:
    """Built-in data sets: name → (settings dataclass, writer, what it writes)."""
    from .tasks.config import ClimateMakeConfig, GHCNMakeConfig, MakeConfig, ShapesMakeConfig

    return {
        "cosmo": (MakeConfig, "FITS maps of two cosmological models and manifest.json"),
        "shapes": (ShapesMakeConfig, "meshes in the SHREC'17 layout (.obj, train/val/test.csv)"),
        "climate": (ClimateMakeConfig, "climate steps in the UGSCNN format (.npz, split lists)"),
        "ghcn": (GHCNMakeConfig, "GHCN-Daily files (ghcnd-stations.txt, ghcnd_all/*.dly)"),
    }


def cmd_data_make(args: argparse.Namespace) -> int:
    from .data import make_climate, make_cosmo_maps, make_ghcn, make_shapes
    from .tasks.config import apply_overrides, build

    sets = made_data_sets()
    if args.name not in sets:
        raise ValueError(f"unknown data set {args.name!r}; built-in data sets: {sorted(sets)}")
    spec = vars(build(sets[args.name][0], apply_overrides({}, args.overrides), ""))
    if args.name == "cosmo":

        def progress(i: int, total: int) -> None:
            print(f"\rmaps written: {i}/{total}", end="\n" if i == total else "", flush=True)

        collection = make_cosmo_maps(args.out, **spec, overwrite=args.overwrite, progress=progress)
        print(f"{collection.n_maps} maps of {list(collection.classes)} in {collection.root} (manifest.json)")
    elif args.name == "shapes":
        folder = make_shapes(args.out, **spec, overwrite=args.overwrite)
        print(f"shapes written in the SHREC'17 layout in {folder}")
    elif args.name == "climate":
        collection = make_climate(args.out, **spec, overwrite=args.overwrite)
        sizes = {s: len(collection.files(s)) for s in ("train", "val", "test")}
        print(f"{sum(sizes.values())} climate steps {sizes} in {collection.root}")
    else:
        folder = make_ghcn(args.out, **spec, overwrite=args.overwrite)
        print(f"{spec['n_stations']} stations in the GHCN-Daily formats in {folder}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepsphere", description="Spherical CNNs on graphs (DeepSphere).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    formatter = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser(
        "train",
        help="train an experiment and report its test accuracy beside the baselines",
        description=TRAIN_HELP,
        epilog="built-in experiments: cosmo\nconfig keys and their defaults:\n" + config_keys(),
        formatter_class=formatter,
    )
    p.add_argument("experiment", metavar="EXPERIMENT_OR_CONFIG", help="built-in name (cosmo) or a YAML file")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. data.noise=1")
    p.add_argument("--resume", action="store_true", help="continue the run in its folder from last.ckpt")
    p.add_argument("--overwrite", action="store_true", help="delete an earlier run in the same folder first")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "evaluate",
        help="test a checkpoint on its run's test split",
        description="Test a checkpoint on the test split of the data it was trained on. data.* overrides "
        "change the data (e.g. data.noise=1 to test at another noise level).",
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a .ckpt written by deepsphere train")
    p.add_argument("overrides", nargs="*", metavar="data.KEY=VALUE", help="changes to the data config")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "predict",
        help="classify full-sky FITS maps with a checkpoint",
        description="Classify every patch of full-sky HEALPix FITS maps. Writes OUT/patches.csv (class and "
        "probabilities per patch), OUT/maps.csv (per map: the class of the mean probability) and, for "
        "fully convolutional models, OUT/<name>_probability.fits (per-pixel class probabilities, NESTED, "
        "one column per class; healpy.read_map reads them).",
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a .ckpt written by deepsphere train")
    p.add_argument("inputs", nargs="+", metavar="MAP", help="full-sky HEALPix FITS maps at the model's nside")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--ordering", choices=["RING", "NESTED"], help="override the files' ORDERING header")
    p.add_argument("--overwrite", action="store_true", help="replace earlier outputs in OUT")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("data", help="built-in data sets", description="Built-in data sets.")
    data_sub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    q = data_sub.add_parser(
        "make",
        help="write a built-in data set to disk",
        description="Write a built-in data set in its real on-disk format (the layout that the experiment's "
        "data.root reads): cosmo, log-normal convergence maps of two cosmological models with the same "
        "power spectrum; shapes, climate and ghcn, the synthetic stand-ins of the other experiments.",
        epilog="\n".join(
            f"{name}: {what}; keys and defaults: " + " ".join(f"{k}={v}" for k, v in vars(settings()).items())
            for name, (settings, what) in made_data_sets().items()
        ),
        formatter_class=formatter,
    )
    q.add_argument("name", metavar="NAME", help="built-in data set: cosmo, shapes, climate or ghcn")
    q.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="generator settings, e.g. nside=128")
    q.add_argument("--out", required=True, help="output folder")
    q.add_argument("--overwrite", action="store_true", help="replace an existing data set in OUT")
    q.set_defaults(func=cmd_data_make)

    p = sub.add_parser(
        "samplings",
        help="compare the graphs of every sampling with the sphere's spectrum",
        description=__doc__.split("\n\n")[2],
    )
    p.add_argument("--k", type=int, default=8, help="neighbours per pixel (default: 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random point cloud (default: 0)")
    p.set_defaults(func=cmd_samplings)
    add_analyze_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # KEY=VALUE overrides may also follow the options (argparse stops a positional list at an option)
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except _user_errors() as err:  # a user error: one line, no traceback
        print(f"deepsphere: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. deepsphere samplings | head
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
