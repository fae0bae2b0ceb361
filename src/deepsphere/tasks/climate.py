"""The ``climate`` task: per-vertex segmentation of extreme weather events on an icosahedral mesh.

Data: the UGSCNN climate format (:class:`~deepsphere.data.ClimateCollection`: one ``.npz`` per time step,
16 channels and labels background / tropical cyclone / atmospheric river per vertex, split lists), or the
built-in synthetic stand-in (:func:`~deepsphere.data.make_climate`, made once and cached). Channels are
standardised with the training split's statistics; vertices are permuted onto
:class:`~deepsphere.sampling.Icosahedral` so that pooling follows the icosahedral hierarchy.

Model: :class:`~deepsphere.nn.SphericalUNet` (the DeepSphere ICLR encoder–decoder; graph k = 6, K = 4),
cross-entropy weighted by the inverse class frequencies of the training split (``model.loss_weights``).
Test: per-class accuracy, IoU and average precision, and their means (the paper: mean accuracy 97.8 %
with the weighted loss, mean AP 89.2 without).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..analysis.segmentation import segmentation_scores
from ..data import atomic_write
from ..data.climate import (
    CLIMATE_CLASSES,
    ClimateCollection,
    ClimateDataset,
    channel_stats,
    class_frequencies,
    icosahedral_order,
    inverse_frequency_weights,
    make_climate,
    read_climate_file,
    ugscnn_icosphere,
)
from ..nn import SphericalUNet
from ..sampling import Icosahedral
from .base import TaskModule
from .config import ClimateConfig, ConfigError
from .datamodule import KeyedDataset, SplitDataModule, cache_dir_of, made_once
from .report import summary_markdown
from .report import write_report as _write_report

SPLITS = ("train", "val", "test")


def collection_of(
    config: ClimateConfig, progress: Callable[[str, int, int], None] | None
) -> ClimateCollection:
    """The user's climate folder, or the built-in synthetic set (made once under the cache)."""
    data = config.data
    if data.root is not None:
        return ClimateCollection.from_folder(data.root)
    settings = vars(data.make)

    def make(folder: Path) -> None:
        if progress:
            progress("making the synthetic climate set", 0, data.make.n_steps)
        make_climate(folder, **settings)

    folder = made_once(cache_dir_of(data), "climate", settings, make)
    return ClimateCollection.from_folder(folder)


class VertexSegmenter(TaskModule):
    """:class:`~deepsphere.nn.SphericalUNet` on (B, V, 16) standardised channels → (B, V, 3) logits.

    ``mean``/``std`` (the training split's channel statistics) and the loss's class ``weights`` are kept
    in the checkpoint. Logs ``{stage}/{loss,acc}`` (``acc``: mean per-class accuracy of the batch).
    """

    config: ClimateConfig

    def __init__(
        self, config: dict[str, Any], mean: list[float], std: list[float], weights: list[float] | None
    ) -> None:
        super().__init__(config, mean=list(mean), std=list(std), weights=weights)
        m = self.config.model
        try:
            self.model = SphericalUNet(
                Icosahedral(level=self.config.data.level),
                in_channels=len(mean),
                n_outputs=len(CLIMATE_CLASSES),
                channels=m.channels,
                K=m.K,
                k=m.k,
                pool=m.pool,
                unpool=m.unpool,
            )
        except ValueError as err:
            raise ConfigError(f"model: {err}") from None
        self.register_buffer("weights", torch.tensor(weights or [1.0] * len(CLIMATE_CLASSES)))
        self._test: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, V, 16) → per-vertex class logits (B, V, 3)."""
        return self.model(x)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        n = logits.shape[-1]
        loss = F.cross_entropy(logits.reshape(-1, n), y.reshape(-1), weight=self.weights.to(logits.dtype))
        predicted = logits.argmax(-1)
        recalls = [(predicted[y == c] == c).float().mean() for c in range(n) if (y == c).any()]
        self.log_metrics(stage, {"loss": loss, "acc": torch.stack(recalls).mean()})
        if stage == "test":
            self._test.append((y.reshape(-1).cpu(), logits.reshape(-1, n).softmax(-1).half().cpu()))
        return loss


Module = VertexSegmenter


def _datamodule(config: ClimateConfig, collection: ClimateCollection, mean: Any, std: Any) -> SplitDataModule:
    order = collection.icosahedral_order()
    datasets = {s: KeyedDataset(ClimateDataset(collection, s, mean, std, order)) for s in SPLITS}
    return SplitDataModule(datasets, config.data.batch_size, config.seed, config.data.num_workers)


def _check_level(config: ClimateConfig, collection: ClimateCollection) -> None:
    expected = 10 * 4**config.data.level + 2
    if collection.n_vertices != expected:
        raise ConfigError(
            f"data.level={config.data.level} needs {expected} vertices; "
            f"the files have {collection.n_vertices}"
        )


def setup(
    config: ClimateConfig, progress: Callable[[str, int, int], None] | None
) -> tuple[SplitDataModule, VertexSegmenter, list[str]]:
    """The climate files, the training split's statistics and class weights, and a fresh model."""
    if config.data.root is None and config.data.make.level != config.data.level:
        raise ConfigError(
            f"data.make.level={config.data.make.level} and data.level={config.data.level} must agree"
        )
    if config.model.loss_weights not in ("balanced", "none"):
        raise ConfigError(f"model.loss_weights must be balanced or none, got {config.model.loss_weights!r}")
    collection = collection_of(config, progress)
    _check_level(config, collection)
    cache = cache_dir_of(config.data)
    mean, std = channel_stats(collection, "train", cache)
    shares = class_frequencies(collection, "train", cache)
    weights = inverse_frequency_weights(shares).tolist() if config.model.loss_weights == "balanced" else None
    model = VertexSegmenter(config.to_dict(), mean.tolist(), std.tolist(), weights)
    data = _datamodule(config, collection, mean, std)
    sizes = {s: len(d) for s, d in data.datasets.items()}
    n_params = sum(p.numel() for p in model.parameters())
    share_text = ", ".join(f"{c} {100 * s:.2f} %" for c, s in zip(CLIMATE_CLASSES, shares, strict=True))
    lines = [
        f"data: {collection.n_vertices} vertices × 16 channels per time step; steps {sizes}; "
        f"train classes: {share_text}",
        f"model: SphericalUNet, {n_params} parameters, channels {config.model.channels}, K={config.model.K}, "
        f"k={config.model.k}; loss weights {np.round(weights, 4).tolist() if weights else 'none'}",
    ]
    return data, model, lines


def datamodule_for(
    model: VertexSegmenter, config: ClimateConfig, progress: Callable[[str, int, int], None] | None
) -> SplitDataModule:
    """The climate files of ``config``, standardised with the checkpoint's statistics."""
    collection = collection_of(config, progress)
    _check_level(config, collection)
    return _datamodule(config, collection, model.hparams.mean, model.hparams.std)


def test_details(model: VertexSegmenter) -> dict[str, Any]:
    """Per-class accuracy, IoU and average precision over all test vertices, their means, the confusion."""
    labels = torch.cat([t[0] for t in model._test]).numpy()
    scores = torch.cat([t[1] for t in model._test]).float().numpy()
    s = segmentation_scores(labels, scores=scores)
    return {
        "classes": list(CLIMATE_CLASSES),
        "confusion": s.confusion.tolist(),
        "scores": s.as_dict(CLIMATE_CLASSES),
    }


def baselines(config: ClimateConfig, data: SplitDataModule) -> dict[str, dict[str, Any]]:
    """No classical baseline here: the paper compares with Jiang et al. (see the README)."""
    return {}


def summary(result: Any, config: ClimateConfig) -> list[str]:
    """Per-class accuracy, IoU and AP, and their means."""
    s = result.details["scores"]
    lines = [f"{'class':<20} {'accuracy':>9} {'IoU':>7} {'AP':>7}"]
    for c in CLIMATE_CLASSES:
        lines.append(f"{c:<20} {s[f'accuracy/{c}']:>9.3f} {s[f'iou/{c}']:>7.3f} {s[f'ap/{c}']:>7.3f}")
    lines.append(f"{'mean':<20} {s['mean_accuracy']:>9.3f} {s['mean_iou']:>7.3f} {s['mean_ap']:>7.3f}")
    return lines


def write_report(
    result: Any, config: ClimateConfig, data: SplitDataModule, model: VertexSegmenter
) -> list[Path]:
    """``report.md``/``.json``, curves, and maps of one test step: a channel, the labels, the prediction."""
    text = summary_markdown(result, config, summary(result, config), "the segmentation")
    return _write_report(result, config, text, lambda: {"segmentation": segmentation_figure(data, model)})


def segmentation_figure(data: SplitDataModule, model: VertexSegmenter) -> Any:
    """Mollweide views of the first test step: TMQ (water vapour), true and predicted classes."""
    import matplotlib.pyplot as plt

    from ..analysis.plotting import plot_map

    x, y = data.datasets["test"][0]
    with torch.no_grad():
        predicted = model.eval()(x[None])[0].argmax(-1).numpy()
    sampling = Icosahedral(level=model.config.data.level)
    fig = plt.figure(figsize=(15, 3.4))
    classes = "classes: 0 background, 1 TC, 2 AR"
    panels = [(x[:, 0].numpy(), "TMQ (standardised)", None), (y.numpy(), f"labels ({classes})", 2)]
    panels.append((predicted, "prediction", 2))
    for i, (values, title, vmax) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        vmin = None if vmax is None else 0
        plot_map(values.astype(np.float64), sampling, ax=ax, title=title, vmin=vmin, vmax=vmax)
    return fig


def predict(
    model: VertexSegmenter,
    inputs: list[str],
    out: Path,
    overwrite: bool = False,
    say: Callable[[str], None] = print,
) -> list[Path]:
    """Segment climate files (``.npz`` with ``data`` (16, V); labels not needed): ``out/<name>_classes.npz``
    per file with
    ``classes`` (V,) and ``probabilities`` (3, V), in the files' vertex order."""
    targets = [out / f"{Path(p).name.removesuffix('.npz')}_classes.npz" for p in inputs]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise ValueError(f"{existing[0]} exists; pass --overwrite to replace the outputs in {out}")
    n_vertices = 10 * 4**model.config.data.level + 2
    order = icosahedral_order(ugscnn_icosphere(model.config.data.level))
    mean = np.asarray(model.hparams.mean, dtype=np.float32)
    std = np.asarray(model.hparams.std, dtype=np.float32)
    model = model.eval()
    for path, target in zip(inputs, targets, strict=True):
        data, _ = read_climate_file(path, n_vertices, labels=False)
        x = torch.from_numpy(((data - mean) / std)[order].astype(np.float32))
        with torch.no_grad():
            p = model(x[None])[0].softmax(-1).numpy()
        probabilities = np.empty_like(p)
        probabilities[order] = p  # back to the file's vertex order
        atomic_write(
            target,
            lambda tmp, q=probabilities: np.savez(
                tmp.open("wb"), classes=q.argmax(1).astype(np.int64), probabilities=q.T.astype(np.float32)
            ),
            overwrite=True,
        )
    say(f"{len(inputs)} climate files segmented; wrote {len(targets)} files into {out}")
    return targets
