"""Rotation equivariance of stacks of ChebConv layers on HEALPix, separated from the rotation's own error.

Inputs
------
Band-limited white noise: random ``a_ℓm`` with a flat spectrum, ``C_ℓ = 1`` for 0 ≤ ℓ ≤ ``band``, 0
above (an isotropic Gaussian field whose power grows as 2ℓ + 1 up to the band limit, so its finest
degrees dominate it: a hard case). Two band limits by default (``--bands``): ``band = nside`` (``1n``,
the same degrees in units of the pixel size at every nside) and ``band = 16`` (the same maps at every
nside, ever smoother in pixel units). Each map comes with a Haar-random rotation ``R``
(:func:`~deepsphere.analysis.random_rotation`); ``R x`` is exact (synthesis of the rotated ``a_ℓm``).

Maps f
------
``stack K=…``: three ``ChebConv`` layers 1 → 16 → 16 → 1 channels with a ReLU after the first two, the
layer's own initialisation (weights ``N(0, 2 / fan_in)``, zero biases) from ``torch.manual_seed(seed + K)``:
the same weights at every nside, so one column of a table is one function of the rescaled Laplacian
``L̃``. ``linear K=…``: the same layers without the ReLUs (one polynomial filter of ``L̃``, of order
3(K − 1)). float64 on the CPU; graph ``knn_graph(HEALPix(nside), k=8)`` (default kernel width,
combinatorial Laplacian, its ``lmax()``). (:class:`~deepsphere.nn.RescaledLaplacian` stores ``L̃`` in
float32; that rounding, ~1e-7, is far below every number here.) Baselines: ``identity`` and ``relu``
(pointwise ReLU), both exactly equivariant.

Measures (not squared; the ICLR paper's E is the square of ``full`` for one linear operator)
----------------------------------------------------------------------------------------------
- ``full``: ``‖f(R x) − R f(x)‖ / ‖R f(x)‖`` over the pixels, ``R f(x)`` =
  :func:`~deepsphere.analysis.rotate_map` (``map2alm`` with 3 iterations up to 3·nside − 1, rotation of
  the ``a_ℓm``, synthesis): what a user comparing rotated outputs sees.
- ``roundtrip``: ``‖R⁻¹ R f(x) − f(x)‖ / ‖f(x)‖`` with both rotations by ``rotate_map``: the rotation
  operator's own error on that very output (≈ √2 × the error of one rotation), the floor of ``full``.
- ``band``: ``full`` after projecting both sides onto ℓ ≤ ``band``, the input's degrees, computed on the
  ``a_ℓm`` (``map2alm`` with 3 iterations up to 3·nside − 1, truncated; L² norm of the sphere). The
  projection commutes with rotations, so an exactly equivariant f still scores 0.

Why: a ReLU's output is not band-limited. It has power up to and beyond ℓ = 3·nside, where HEALPix
transforms are not exact, so ``rotate_map`` errs on it and ``full`` mixes that error with the layers'.
``relu`` shows the size of that effect: ``ReLU(R x)`` at the pixels *is* the rotated ``ReLU(x)``, so
its whole score is the measurement's. ``roundtrip`` measures the floor for each f on its own output;
``band`` discards the high degrees (only their aliasing into ℓ ≤ band remains, ``relu``'s ``band``
score); the ``linear`` stacks map band-limited inputs to nearly band-limited outputs, so their ``full``
score is nearly floor-free. ``identity`` is the floor for band-limited outputs.

Measured (default run, 2 shared CPU cores, ~3 min; ``benchmarks/results/layer_equivariance.json``):

- ``band = nside``: the errors do not depend on nside — ``full`` ≈ 2.3e-2 (K = 2), 0.11 (K = 5),
  0.19–0.22 (K = 10); the ``linear`` stacks the same (2.4e-2, 0.10–0.11, 0.13–0.22) with a floor
  ≤ 5e-3, so these are the layers' own errors at ℓ ≈ nside. For the ReLU stacks at K ≥ 5 the floor is
  large (``roundtrip`` 7e-2: their outputs keep much power near ℓ = 3·nside); on ℓ ≤ band they
  score 1.2e-2, 3e-2, 0.11–0.15 (the ReLU's output also has a large, exactly invariant monopole).
- ``band = 16``: the errors fall 2.5–3× per doubling of nside for K = 2 and 5 (``full`` of the K = 5
  stack: 0.11, 4.6e-2, 1.8e-2, 6.4e-3 at nside 16 … 128), more slowly for K = 10 (high orders resolve
  the graph's anisotropy).
- ``identity``: 1.5e-3 (nside 16) … 1.8e-4 (nside 128) on ``full``, 2e-4 … 4e-6 on ``band``.

Each number is the mean over ``--samples`` (map, rotation) pairs, the same pairs for every f of one
nside and band; the JSON also holds their standard deviation and maximum.

    python benchmarks/bench_layer_equivariance.py                       # nside 16 … 128, K 2, 5, 10: ~3 min
    python benchmarks/bench_layer_equivariance.py --nsides 16 32 --ks 3 --samples 4 --bands 0.5n 8

Prints the tables and writes ``benchmarks/results/layer_equivariance.json`` (entries of the (band, nside)
pairs measured are replaced, others kept). healpy's OpenMP runs on one thread unless OMP_NUM_THREADS is
set: on a shared machine a team of threads waiting for descheduled members made its transforms 30–1000×
slower.
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
import torch  # noqa: E402

from deepsphere.analysis import random_rotation, rotate_map  # noqa: E402
from deepsphere.graph import knn_graph  # noqa: E402
from deepsphere.nn import ChebConv, RescaledLaplacian  # noqa: E402
from deepsphere.sampling import HEALPix  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "layer_equivariance.json"
MEASURES = ("full", "roundtrip", "band")
DEFAULT_SAMPLES = {16: 8, 32: 8, 64: 6, 128: 3}


class ChebStack(torch.nn.Module):
    """ChebConv layers ``channels[0] → … → channels[-1]``, with ReLU between them if ``relu``."""

    def __init__(self, convs: torch.nn.ModuleList, relu: bool = True) -> None:
        super().__init__()
        self.convs, self.relu = convs, relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if self.relu and i < len(self.convs) - 1:
                x = torch.relu(x)
        return x


def make_convs(
    laplacian: RescaledLaplacian, K: int, channels: tuple[int, ...], seed: int
) -> torch.nn.ModuleList:
    """The stack's layers, initialised from ``torch.manual_seed(seed)``, float64."""
    torch.manual_seed(seed)
    convs = [ChebConv(a, b, K, laplacian) for a, b in zip(channels[:-1], channels[1:], strict=True)]
    return torch.nn.ModuleList(convs).double()


def random_band_limited(nside: int, band: int, rng: np.random.Generator) -> np.ndarray:
    """``a_ℓm`` (healpy layout, lmax = ``band``) of a flat-spectrum (C_ℓ = 1) real Gaussian field."""
    ell, m = hp.Alm.getlm(band)
    alm = (rng.standard_normal(len(ell)) + 1j * rng.standard_normal(len(ell))) / np.sqrt(2.0)
    alm[m == 0] = alm[m == 0].real * np.sqrt(2.0)
    return alm


def synthesis(alm: np.ndarray, nside: int, lmax: int) -> np.ndarray:
    """The NESTED map of ``alm``."""
    return hp.alm2map(alm, nside, lmax=lmax)[hp.nest2ring(nside, np.arange(hp.nside2npix(nside)))]


def analysis(maps: np.ndarray, nside: int, band: int) -> np.ndarray:
    """``a_ℓm`` for ℓ ≤ ``band`` of NESTED maps (npix, C): map2alm (iter 3) to 3·nside − 1, truncated."""
    ring = maps[hp.ring2nest(nside, np.arange(hp.nside2npix(nside)))]
    lmax = 3 * nside - 1
    alms = hp.map2alm(ring.T, lmax=lmax, iter=3, pol=False).reshape(maps.shape[1], -1)
    ell, m = hp.Alm.getlm(band)
    return alms[:, hp.Alm.getidx(lmax, ell, m)]


def alm_norm(alms: np.ndarray, band: int) -> np.ndarray:
    """L² norm over the sphere of the real maps of ``alms`` (C, n_alm): m > 0 counts twice."""
    weight = np.where(hp.Alm.getlm(band)[1] == 0, 1.0, 2.0)
    return np.sqrt((weight * np.abs(alms) ** 2).sum(axis=-1))


def _relative(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per column ``‖a − b‖ / ‖b‖``."""
    return np.linalg.norm(a - b, axis=0) / np.linalg.norm(b, axis=0)


def parse_band(spec: str) -> tuple[float, int]:
    """``"1n"`` → (1.0, 0): a band limit of 1·nside; ``"16"`` → (0.0, 16): ℓ ≤ 16 at every nside."""
    try:
        if spec.endswith("n"):
            factor = float(spec[:-1] or 1)
            if factor > 0:
                return factor, 0
        elif int(spec) >= 1:
            return 0.0, int(spec)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f"a band is a degree (e.g. 16) or a multiple of nside (e.g. 1n), got {spec!r}"
    )


def band_name(band: tuple[float, int]) -> str:
    return f"band={band[1]}" if band[1] else f"band={band[0]:g}·nside"


def build_functions(nside: int, ks: list[int], channels: tuple[int, ...], seed: int) -> dict:
    """The maps f measured at ``nside``: identity, ReLU, and per K the stack with and without ReLUs."""
    graph = knn_graph(HEALPix(nside), k=8)
    laplacian = RescaledLaplacian(graph.laplacian(), graph.lmax())
    functions: dict[str, torch.nn.Module | None] = {"identity": None, "relu": torch.nn.ReLU()}
    for K in ks:
        convs = make_convs(laplacian, K, channels, seed + K)
        functions[f"stack K={K}"] = ChebStack(convs, relu=True)
        functions[f"linear K={K}"] = ChebStack(convs, relu=False)
    return functions


def inverse(rotation: tuple[float, float, float]) -> tuple[float, float, float]:
    psi, theta, phi = rotation
    return (-phi, -theta, -psi)


def measure(nside: int, functions: dict, band: int, n_samples: int, seed: int) -> dict:
    """Scores of every f over ``n_samples`` (map, rotation) pairs; see the module docstring."""
    start = time.perf_counter()
    names = list(functions)
    scores = {name: np.empty((n_samples, len(names))) for name in MEASURES}
    rng = np.random.default_rng([seed, nside, band])
    for i in range(n_samples):
        alm = random_band_limited(nside, band, rng)
        rotation = random_rotation(rng)
        x = synthesis(alm, nside, band)
        rotated_alm = alm.copy()
        hp.rotate_alm(rotated_alm, *rotation)
        rx = synthesis(rotated_alm, nside, band)  # exact R x
        inputs = torch.from_numpy(np.stack([x, rx])[:, :, None])  # (2, V, 1) float64
        with torch.no_grad():
            outputs = [inputs if f is None else f(inputs) for f in functions.values()]
        y = np.stack([o[0, :, 0].numpy() for o in outputs], axis=1)  # f(x): (V, n_functions)
        fy = np.stack([o[1, :, 0].numpy() for o in outputs], axis=1)  # f(R x)
        ry = rotate_map(y, rotation)
        scores["full"][i] = _relative(fy, ry)
        scores["roundtrip"][i] = _relative(rotate_map(ry, inverse(rotation)), y)
        low, low_rotated = analysis(y, nside, band), analysis(fy, nside, band)
        for alm_row in low:
            hp.rotate_alm(alm_row, *rotation)
        scores["band"][i] = alm_norm(low_rotated - low, band) / alm_norm(low, band)
    summary = {
        name: {
            m: {
                "mean": float(scores[m][:, j].mean()),
                "std": float(scores[m][:, j].std()),
                "max": float(scores[m][:, j].max()),
            }
            for m in MEASURES
        }
        for j, name in enumerate(names)
    }
    return {
        "nside": nside,
        "band": band,
        "samples": n_samples,
        "functions": summary,
        "seconds": round(time.perf_counter() - start, 1),
    }


TITLES = {
    "full": "‖f(Rx) − R f(x)‖ / ‖R f(x)‖ over the pixels, R f(x) = rotate_map(f(x))",
    "roundtrip": "floor: ‖R⁻¹ R f(x) − f(x)‖ / ‖f(x)‖, both rotations by rotate_map",
    "band": "‖f(Rx) − R f(x)‖ / ‖R f(x)‖ with both sides projected onto ℓ ≤ band",
}


def print_tables(name: str, entries: list[dict], ks: list[int]) -> None:
    columns = ["identity", "relu"] + [f"{kind} K={K}" for kind in ("stack", "linear") for K in ks]
    print(f"\ninput: flat spectrum, {name}; mean over the samples")
    for m in MEASURES:
        print(f"{TITLES[m]}")
        print(f"{'nside':>5} {'band':>4} {'n':>2} " + " ".join(f"{c:>11}" for c in columns))
        for entry in entries:
            values = " ".join(f"{entry['functions'][c][m]['mean']:11.2e}" for c in columns)
            print(f"{entry['nside']:>5} {entry['band']:>4} {entry['samples']:>2} {values}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nsides", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--ks", type=int, nargs="+", default=[2, 5, 10])
    parser.add_argument(
        "--channels", type=int, nargs="+", default=[16, 16], help="hidden widths (input and output: 1)"
    )
    parser.add_argument(
        "--bands",
        type=parse_band,
        nargs="+",
        default=[parse_band("1n"), parse_band("16")],
        help="input band limits: a degree (16) or a multiple of nside (1n)",
    )
    parser.add_argument(
        "--samples", type=int, default=0, help=f"(map, rotation) pairs per nside; 0: {DEFAULT_SAMPLES}"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    runs = results.setdefault("runs", {})
    channels = (1, *args.channels, 1)
    entries: dict[str, list[dict]] = {band_name(b): [] for b in args.bands}
    for nside in args.nsides:
        start = time.perf_counter()
        functions = build_functions(nside, args.ks, channels, args.seed)
        setup = time.perf_counter() - start
        for factor, ell in args.bands:
            band = ell or max(1, round(factor * nside))
            if band > 3 * nside - 1:
                print(f"nside {nside}: skipping band {band} > 3·nside − 1")
                continue
            n_samples = args.samples or DEFAULT_SAMPLES.get(nside, 2)
            entry = measure(nside, functions, band, n_samples, args.seed)
            entry["setup_seconds"] = round(setup, 1)
            name = band_name((factor, ell))
            entries[name].append(entry)
            run = runs.setdefault(name, {"nsides": {}})
            run["nsides"][str(nside)] = entry
            run["config"] = {
                "input": "flat spectrum C_ℓ = 1 for 0 ≤ ℓ ≤ band, 0 above",
                "ks": args.ks,
                "channels": list(channels),
                "seed": args.seed,
                "graph": "knn_graph(HEALPix(nside), k=8), default kernel width, combinatorial Laplacian",
                "measures": TITLES,
            }
            print(f"nside {nside}, {name}: {n_samples} samples, {entry['seconds']:.0f} s", flush=True)
    for name, rows in entries.items():
        print_tables(name, rows, args.ks)
    results["meta"] = {
        "cpus": os.cpu_count(),
        "omp_num_threads": os.environ["OMP_NUM_THREADS"],
        "torch_threads": torch.get_num_threads(),
        "healpy": hp.__version__,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
