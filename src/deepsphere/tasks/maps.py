"""The ``maps`` task: classify partial-sky patches of HEALPix maps (the cosmology experiment).

Data: :class:`~deepsphere.tasks.datamodule.MapDataModule` over a memory-mapped
:class:`~deepsphere.data.MapStore`; model: :class:`~deepsphere.tasks.module.MapClassifier`; baselines:
linear SVMs on power-spectrum and histogram features; figures: training curves, example inputs and
per-pixel predictions (Mollweide); ``predict``: per-patch and per-map classes (CSV) and per-pixel class
probabilities (HEALPix FITS).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import healpy as hp
import numpy as np
import torch

from ..data import atomic_write, read_healpix_map
from ..data.patches import check_patches
from .baselines import run_baselines
from .config import MapsConfig
from .datamodule import MapDataModule, prepare_store
from .module import MapClassifier
from .report import confusion_markdown, file_stem, write_csv
from .report import write_report as _write_report

Module = MapClassifier


def setup(
    config: MapsConfig, progress: Callable[[str, int, int], None] | None
) -> tuple[MapDataModule, MapClassifier, list[str]]:
    """The map store (made once for the built-in data), its patch datasets and a fresh classifier."""
    store = prepare_store(config.data, progress)
    check_patches(store.nside, config.data.patches)
    data = MapDataModule(config, store)
    model = MapClassifier(config.to_dict(), store.nside, list(store.classes), data.scale)
    sizes = {s: len(d) for s, d in data.datasets.items()}
    n_params = sum(p.numel() for p in model.parameters())
    lines = [
        f"data: {store.n_maps} maps at nside {store.nside} ({', '.join(store.classes)}), "
        f"{config.data.patches} patches each of {data.datasets['train'].size} pixels; samples {sizes}",
        f"model: SphericalCNN, {n_params} parameters, channels {config.model.channels}, K={config.model.K}",
    ]
    return data, model, lines


def datamodule_for(
    model: MapClassifier, config: MapsConfig, progress: Callable[[str, int, int], None] | None
) -> MapDataModule:
    """The data of ``config`` (the checkpoint's, with data.* overrides), scaled as in training."""
    store = prepare_store(config.data, progress)
    if store.nside != model.hparams.nside or list(store.classes) != model.classes:
        raise ValueError(
            f"the data (nside {store.nside}, classes {list(store.classes)}) do not match the checkpoint "
            f"(nside {model.hparams.nside}, classes {model.classes})"
        )
    data = MapDataModule(config, store)
    data.scale = model.hparams.scale
    for d in data.datasets.values():
        d.scale = model.hparams.scale
    return data


def test_details(model: MapClassifier) -> dict[str, Any]:
    """The confusion matrix of the last test run and the class names."""
    return {"confusion": model.test_confusion().tolist(), "classes": list(model.classes)}


def baselines(config: MapsConfig, data: MapDataModule) -> dict[str, dict[str, Any]]:
    """Linear SVMs on the same splits (``config.baselines``)."""
    return run_baselines(config.baselines, data, config.seed)


def summary(result: Any, config: MapsConfig) -> list[str]:
    """Test accuracy of the CNN and the baselines."""
    d = config.data
    lines = [
        f"test accuracy on {d.patches} patches per map, noise {d.noise}:",
        f"  DeepSphere CNN                    {result.test['acc']:.3f}",
    ]
    for name, r in result.baselines.items():
        lines.append(f"  linear SVM, {name.replace('_', ' '):<21} {r['test_accuracy']:.3f}")
    return lines


def markdown(result: Any, config: MapsConfig) -> str:
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
    lines += ["", *confusion_markdown(result.details["classes"], result.details["confusion"])]
    return "\n".join(lines) + "\n"


def write_report(result: Any, config: MapsConfig, data: MapDataModule, model: MapClassifier) -> list[Path]:
    """``report.md``/``.json``, curves, example inputs and (fully convolutional models) predictions."""

    def figures() -> dict[str, Any]:
        made = {"inputs": inputs_figure(data)}
        if config.model.head == "conv":
            made["predictions"] = predictions_figure(data, model)
        return made

    return _write_report(result, config, markdown(result, config), figures)


def predict(
    model: MapClassifier,
    inputs: list[str],
    out: Path,
    overwrite: bool = False,
    say: Callable[[str], None] = print,
    ordering: str | None = None,
    batch_size: int = 64,
) -> list[Path]:
    """Classify every patch of each full-sky FITS map in ``inputs``; write into ``out``:

    - ``patches.csv``: one row per (file, patch): predicted class and class probabilities;
    - ``maps.csv``: one row per file: the class of the mean probability over its patches;
    - ``<stem>_probability.fits``: per-pixel class probabilities (one column per class, NESTED) at the
      model's coarsest resolution, the full sky assembled from the patches (fully convolutional models).

    Inputs are divided by the training scale; no noise is added (real maps carry their own).
    """
    model = model.eval()
    nside, n_patches = model.hparams.nside, model.config.data.patches
    targets = [out / "patches.csv", out / "maps.csv"]
    if model.config.model.head == "conv":
        targets += [out / f"{file_stem(p)}_probability.fits" for p in inputs]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise ValueError(f"{existing[0]} exists; pass --overwrite to replace the outputs in {out}")
    maps = [read_healpix_map(p, nside, ordering) for p in inputs]  # all checked before anything is written
    size = check_patches(nside, n_patches)
    rows, summary, written = [], [], []
    for path, values in zip(inputs, maps, strict=True):
        x = torch.from_numpy(values.reshape(n_patches, size, 1) / np.float32(model.hparams.scale))
        with torch.no_grad():
            probs = torch.cat([model(b).softmax(1) for b in x.split(batch_size)]).numpy()
        for j, p in enumerate(probs):
            rows.append([path, j, model.classes[int(p.argmax())], *p.round(6).tolist()])
        mean = probs.mean(0)
        summary.append([path, model.classes[int(mean.argmax())], *mean.round(6).tolist()])
        if model.config.model.head == "conv":
            with torch.no_grad():
                pix = torch.cat([model.pixel_logits(b).softmax(2) for b in x.split(batch_size)]).numpy()
            full = pix.reshape(-1, len(model.classes)).T  # patches are consecutive NESTED blocks
            target = out / f"{file_stem(path)}_probability.fits"
            column_names = [f"P_{c}"[:68] for c in model.classes]
            atomic_write(
                target,
                lambda tmp, full=full, names=column_names: hp.write_map(
                    str(tmp),
                    list(full.astype(np.float32)),
                    nest=True,
                    overwrite=True,
                    column_names=names,
                    dtype=np.float32,
                ),
                overwrite=True,
            )
            written.append(target)
    header = [f"p_{c}" for c in model.classes]
    write_csv(targets[0], ["file", "patch", "class", *header], rows)
    write_csv(targets[1], ["file", "class", *header], summary)
    say(f"{len(inputs)} maps × {n_patches} patches classified; wrote {targets[0]}, {targets[1]}")
    return [targets[0], targets[1], *written]


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
