"""The end-of-run report: a metrics table (CNN and baselines), the confusion matrix, and figures.

Written next to the checkpoints: ``report.md``, ``report.json``, and with matplotlib installed
``figures/curves.png`` (loss and accuracy per epoch), ``figures/inputs.png`` (Mollweide views of example
training inputs) and ``figures/predictions.png`` (per-pixel class probabilities of test maps).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import atomic_write
from .config import Config


def read_metrics(out: Path) -> list[dict[str, float]]:
    """Rows of ``logs/version_*/metrics.csv``, later versions (resumed runs) replacing the steps they redo."""
    rows: list[dict[str, float]] = []
    versions = sorted((out / "logs").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:]))
    for path in versions:
        with path.open() as f:
            new = [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(f)]
        if new:
            first = min(r["step"] for r in new)
            rows = [r for r in rows if r["step"] < first] + new
    return rows


def markdown(result: Any, config: Config) -> str:
    """The report as Markdown: settings, accuracy table, confusion matrix."""
    d = config.data
    lines = [
        f"# {config.name}: test results",
        "",
        f"{d.patches} patches per map, noise {d.noise} × the maps' pixel std, seed {config.seed}; "
        f"{result.seconds / 60:.1f} min.",
        "",
        "| method | test accuracy |",
        "| --- | --- |",
        f"| DeepSphere CNN | {result.test['acc']:.3f} |",
    ]
    for name, r in result.baselines.items():
        lines.append(f"| linear SVM, {name.replace('_', ' ')} | {r['test_accuracy']:.3f} |")
    lines += ["", "Confusion matrix of the CNN (rows: true class, columns: predicted):", ""]
    lines.append("| | " + " | ".join(result.classes) + " |")
    lines.append("| --- " * (len(result.classes) + 1) + "|")
    for name, row in zip(result.classes, result.confusion, strict=True):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_report(result: Any, config: Config, data: Any, model: Any) -> list[Path]:
    """Write ``report.md``, ``report.json`` and the figures into the run folder; return the paths."""
    from .run import result_json

    out = result.out_dir
    written = [
        atomic_write(out / "report.md", lambda tmp: tmp.write_text(markdown(result, config)), overwrite=True),
        atomic_write(out / "report.json", lambda tmp: tmp.write_text(result_json(result)), overwrite=True),
    ]
    if config.figures:
        try:
            import matplotlib

            matplotlib.use("Agg")
        except ImportError:
            print("matplotlib is not installed: no figures (pip install 'deepsphere[plot]')")
            return written
        figures = out / "figures"
        figures.mkdir(exist_ok=True)
        written.append(_save(curves_figure(read_metrics(out)), figures / "curves.png"))
        written.append(_save(inputs_figure(data), figures / "inputs.png"))
        if config.model.head == "conv":
            written.append(_save(predictions_figure(data, model), figures / "predictions.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png", bbox_inches="tight"), True)
    plt.close(fig)
    return path


def curves_figure(rows: list[dict[str, float]]) -> Any:
    """Loss and accuracy against epochs: training (epoch means) and validation."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, metric in zip(axes, ("loss", "acc"), strict=True):
        for stage, style in (("train", "-o"), ("val", "-s")):
            key = f"{stage}/{metric}_epoch" if stage == "train" else f"{stage}/{metric}"
            points = sorted({int(r["epoch"]): r[key] for r in rows if key in r}.items())
            if points:
                ax.plot([p[0] + 1 for p in points], [p[1] for p in points], style, ms=3, label=stage)
        ax.set_xlabel("epoch")
        ax.set_ylabel({"loss": "cross-entropy", "acc": "accuracy"}[metric])
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("training curves")
    return fig


def _full_sky(nside: int, n_patches: int, patch: int, values: np.ndarray) -> np.ndarray:
    import healpy as hp

    full = np.full(12 * nside * nside, hp.UNSEEN)
    size = len(full) // n_patches
    full[patch * size : (patch + 1) * size] = values
    return full


def inputs_figure(data: Any) -> Any:
    """Mollweide views: one full noiseless training map per class, and one noisy input patch of it."""
    import healpy as hp
    import matplotlib.pyplot as plt

    train = data.datasets["train"]
    store, classes = train.store, train.store.classes
    fig = plt.figure(figsize=(11, 3.2 * len(classes)))
    for c, name in enumerate(classes):
        i = int(np.flatnonzero(train.labels == c)[0])
        m, j = train.location(i)
        hp.mollview(
            np.asarray(store.values[m]),
            nest=True,
            fig=fig,
            sub=(len(classes), 2, 2 * c + 1),
            title=f"{name}: map {m} (noiseless)",
            cbar=True,
            notext=True,
        )
        patch = train[i][0][:, 0] * train.scale
        hp.mollview(
            _full_sky(store.nside, train.n_patches, j, patch),
            nest=True,
            fig=fig,
            sub=(len(classes), 2, 2 * c + 2),
            title=f"input: patch {j}, with noise",
            notext=True,
        )
    return fig


def predictions_figure(data: Any, model: Any, n_maps: int = 2) -> Any:
    """Mollweide views of the per-pixel probability of the second class over all patches of test maps."""
    import healpy as hp
    import matplotlib.pyplot as plt

    test = data.datasets["test"]
    model = model.eval()
    maps = [int(test.maps[np.flatnonzero(test.store.labels[test.maps] == c)[0]]) for c in range(2)][:n_maps]
    fig = plt.figure(figsize=(11, 3.4))
    for k, m in enumerate(maps):
        first = int(np.flatnonzero(test.maps == m)[0]) * test.n_patches
        x = torch.from_numpy(np.stack([test[first + j][0] for j in range(test.n_patches)]))
        with torch.no_grad():
            probs = torch.cat([model.pixel_logits(b).softmax(2) for b in x.split(64)]).numpy()
        p = probs[..., 1].reshape(-1)
        truth = model.classes[int(test.store.labels[m])]
        hp.mollview(
            p,
            nest=True,
            fig=fig,
            sub=(1, len(maps), k + 1),
            min=0,
            max=1,
            cmap="coolwarm",
            title=f"test map {m} (true: {truth})",
            unit=f"P({model.classes[1]})",
            notext=True,
        )
    return fig
