"""The ``shapes`` task: 3D shapes cast onto a sphere of rays, classified and retrieved (SHREC'17, ModelNet40).

Every mesh is projected once (:class:`~deepsphere.data.ShapeFeatureStore`, cached on disk) onto the
sampling's pixels: 6 channels per pixel (depth, cos and sin of the ray–normal angle, for the mesh and its
convex hull). Training shapes get ``data.augment`` random translations each (a sample each), validation
and test shapes one untranslated projection; ``data.rotate`` adds a random rotation to every projection.

Model (the DeepSphere SHREC'17 network): ChebConv blocks (channels 16, 32, 64, 128, 256; K = 4), pooling
by 4 after each, global average pooling, a linear layer; loss = cross-entropy + ``triplet_weight`` × a
batch-hard triplet loss on the pooled features. Test: accuracy, confusion matrix and the SHREC'17
retrieval metrics (each test shape retrieves the test shapes predicted in its class, most confident
first).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..analysis.retrieval import retrieval_lists_from_predictions, retrieval_metrics
from ..analysis.segmentation import confusion_matrix
from ..data import ShapeCollection, ShapeFeatureStore, make_shapes
from ..data.meshes import load_mesh, normalize_mesh, project_mesh
from ..nn import SphericalCNN
from ..sampling import Equiangular, HEALPix, Sampling
from .base import TaskModule
from .config import ConfigError, ShapesConfig, ShapesDataConfig
from .datamodule import ArrayDataset, SplitDataModule, cache_dir_of, made_once
from .report import summary_markdown, write_csv
from .report import write_report as _write_report

SPLITS = ("train", "val", "test")


def sampling_of(data: ShapesDataConfig) -> Sampling:
    """The sphere of rays: HEALPix at ``nside`` or the SOFT equiangular grid of ``bandwidth`` (2b × 2b)."""
    if data.sampling == "healpix":
        return HEALPix(nside=data.nside)
    if data.sampling == "equiangular":
        return Equiangular(nlat=2 * data.bandwidth, nlon=2 * data.bandwidth, kind="soft")
    raise ConfigError(f"data.sampling must be healpix or equiangular, got {data.sampling!r}")


def collections(data: ShapesDataConfig, cache: Path, seed: int) -> dict[str, ShapeCollection]:
    """The train/val/test shape collections of ``data.root`` (or of the built-in set, made once)."""
    if data.format not in ("shrec17", "modelnet"):
        raise ConfigError(f"data.format must be shrec17 or modelnet, got {data.format!r}")
    m = data.make
    settings = {"format": data.format, **vars(m)}

    def make(folder: Path) -> None:
        make_shapes(folder, m.classes, m.per_class, m.seed, data.format)

    root = Path(data.root) if data.root is not None else made_once(cache, "shapes", settings, make)
    if data.format == "shrec17":
        return {s: ShapeCollection.from_shrec17(root, s, perturbed=data.perturbed) for s in SPLITS}
    train = ShapeCollection.from_modelnet(root, "train")
    if not 0 < data.val_fraction < 1:
        raise ConfigError(f"data.val_fraction must be in (0, 1), got {data.val_fraction}")
    order = np.random.default_rng(seed).permutation(train.n_shapes)
    n_val = max(1, round(data.val_fraction * train.n_shapes))
    return {
        "train": train.subset(np.sort(order[n_val:])),
        "val": train.subset(np.sort(order[:n_val])),
        "test": ShapeCollection.from_modelnet(root, "test"),
    }


def feature_stores(
    config: ShapesConfig, progress: Callable[[str, int, int], None] | None
) -> dict[str, ShapeFeatureStore]:
    """Projected features of each split, built once and reused from the cache."""
    data = config.data
    if data.on_bad not in ("skip", "error"):
        raise ConfigError(f"data.on_bad must be skip or error, got {data.on_bad!r}")
    cache = cache_dir_of(data)
    sampling = sampling_of(data)
    stores = {}
    for i, (split, collection) in enumerate(collections(data, cache, config.seed).items()):
        train = split == "train"
        stores[split] = ShapeFeatureStore.build(
            collection,
            sampling,
            cache,
            n_augment=data.augment if train else 1,
            translation=data.translation if train else 0.0,
            rotate=data.rotate,
            seed=config.seed * len(SPLITS) + i,
            progress=progress is not None,
            on_bad=data.on_bad,
        )
    return stores


class ShapeClassifier(TaskModule):
    """:class:`~deepsphere.nn.SphericalCNN` (linear head) on (B, V, 6) ray features → (B, n_classes).

    Inputs are standardised per channel with the training set's ``mean`` and ``std`` (buffers).
    Logs ``{stage}/{loss,acc}``; ``loss`` is cross-entropy + ``triplet_weight`` × triplet loss.
    """

    config: ShapesConfig

    def __init__(
        self, config: dict[str, Any], classes: list[str], mean: list[float], std: list[float]
    ) -> None:
        super().__init__(config, classes=list(classes), mean=list(mean), std=list(std))
        self.classes = list(classes)
        m = self.config.model
        try:
            self.model = SphericalCNN(
                sampling_of(self.config.data),
                in_channels=len(mean),
                n_outputs=len(classes),
                channels=m.channels,
                K=m.K,
                k=m.k,
                pool=m.pool,
                head="linear",
            )
        except ValueError as err:
            raise ConfigError(f"model: {err}") from None
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
        self._test: list[tuple[torch.Tensor, torch.Tensor]] = []

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, V, 6) → the globally pooled features (B, channels[-1])."""
        return self.model.head[0](self.model.features((x - self.mean) / self.std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, V, 6) → class logits (B, n_classes)."""
        return self.model.head[1](self.embed(x))

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        features = self.embed(x)
        logits = self.model.head[1](features)
        loss = F.cross_entropy(logits, y)
        m = self.config.model
        if m.triplet_weight > 0:
            loss = loss + m.triplet_weight * batch_hard_triplet(features, y, m.triplet_margin)
        self.log_metrics(stage, {"loss": loss, "acc": (logits.argmax(1) == y).float().mean()})
        if stage == "test":
            self._test.append((y.cpu(), logits.softmax(1).float().cpu()))
        return loss

    def test_outputs(self) -> tuple[np.ndarray, np.ndarray]:
        """Labels (n,) and class probabilities (n, n_classes) of the last test run."""
        labels = torch.cat([t[0] for t in self._test]).numpy()
        return labels, torch.cat([t[1] for t in self._test]).numpy()


def batch_hard_triplet(features: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean over anchors of max(0, d(a, hardest positive) − d(a, hardest negative) + margin), with
    Euclidean distances between the (B, C) ``features``; anchors without a positive or a negative in the
    batch are left out (0 if none is left)."""
    d = torch.cdist(features, features)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive = same & ~eye
    valid = positive.any(1) & (~same).any(1)
    if not valid.any():
        return features.sum() * 0.0
    hardest_positive = torch.where(positive, d, torch.zeros_like(d)).amax(1)
    hardest_negative = torch.where(same, torch.full_like(d, float("inf")), d).amin(1)
    return F.relu(hardest_positive - hardest_negative + margin)[valid].mean()


Module = ShapeClassifier


def setup(
    config: ShapesConfig, progress: Callable[[str, int, int], None] | None
) -> tuple[SplitDataModule, ShapeClassifier, list[str]]:
    """Projected features of every split (cached) and a fresh classifier."""
    stores = feature_stores(config, progress)
    train = stores["train"]
    mean, std = train.channel_mean, np.maximum(train.channel_std, 1e-6)
    model = ShapeClassifier(config.to_dict(), list(train.classes), mean.tolist(), std.tolist())
    data = _datamodule(config, stores)
    sizes = {s: len(d) for s, d in data.datasets.items()}
    n_params = sum(p.numel() for p in model.parameters())
    skipped = sum(len(s.skipped) for s in stores.values())
    lines = [
        f"data: {sum(len(s.ids) for s in stores.values())} shapes in {len(train.classes)} classes"
        + (f" ({skipped} bad meshes skipped)" if skipped else "")
        + f", {train.features.shape[1]} rays each ({config.data.sampling}); samples {sizes}",
        f"model: SphericalCNN, {n_params} parameters, channels {config.model.channels}, K={config.model.K}",
    ]
    return data, model, lines


def _datamodule(config: ShapesConfig, stores: dict[str, ShapeFeatureStore]) -> SplitDataModule:
    datasets = {s: ArrayDataset(store.features, store.labels) for s, store in stores.items()}
    return SplitDataModule(datasets, config.data.batch_size, config.seed, config.data.num_workers)


def datamodule_for(
    model: ShapeClassifier, config: ShapesConfig, progress: Callable[[str, int, int], None] | None
) -> SplitDataModule:
    """The (cached) features of ``config``'s data; their classes must be the checkpoint's."""
    stores = feature_stores(config, progress)
    if list(stores["train"].classes) != model.classes:
        raise ValueError(
            f"the data's classes {list(stores['train'].classes)} are not the checkpoint's {model.classes}"
        )
    return _datamodule(config, stores)


def test_details(model: ShapeClassifier) -> dict[str, Any]:
    """Confusion matrix, class names and SHREC'17 retrieval metrics of the last test run."""
    labels, probabilities = model.test_outputs()
    confusion = confusion_matrix(labels, probabilities.argmax(1), len(model.classes))
    lists = retrieval_lists_from_predictions(probabilities)
    retrieval = retrieval_metrics(labels, lists, labels)
    return {"confusion": confusion.tolist(), "classes": model.classes, "retrieval": retrieval}


def baselines(config: ShapesConfig, data: SplitDataModule) -> dict[str, dict[str, Any]]:
    """No classical baseline for shapes: the papers compare with other spherical CNNs (see README)."""
    return {}


def summary(result: Any, config: ShapesConfig) -> list[str]:
    """Test accuracy and the retrieval metrics."""
    r = result.details["retrieval"]
    lines = [f"test accuracy ({config.data.sampling}, {config.data.format}): {result.test['acc']:.3f}"]
    lines.append("SHREC'17 retrieval   P      R      F1     mAP")
    for avg in ("micro", "macro"):
        values = " ".join(f"{r[avg][k]:.3f}" for k in ("precision", "recall", "f1", "map"))
        lines.append(f"  {avg:<18} {values}")
    return lines


def write_report(
    result: Any, config: ShapesConfig, data: SplitDataModule, model: ShapeClassifier
) -> list[Path]:
    """``report.md``/``.json``, curves and example inputs (depth and hull depth of a shape per class)."""
    text = summary_markdown(result, config, summary(result, config))
    return _write_report(result, config, text, lambda: {"inputs": inputs_figure(data, model)})


def inputs_figure(data: SplitDataModule, model: ShapeClassifier) -> Any:
    """Mollweide views of the depth and hull-depth channels of the first training shape of each class."""
    import matplotlib.pyplot as plt

    from ..analysis.plotting import plot_map

    train = data.datasets["train"]
    sampling = sampling_of(model.config.data)
    labels = np.asarray(train.targets[0])
    shown = [
        (c, int(np.flatnonzero(labels == c)[0])) for c in range(len(model.classes)) if (labels == c).any()
    ]
    shown = shown[:6]
    fig = plt.figure(figsize=(8, 2.6 * len(shown)), layout="constrained")  # titles clear of colorbars
    for row, (c, i) in enumerate(shown):
        x = np.asarray(train.inputs[i])
        for col, (channel, what) in enumerate(((0, "depth"), (3, "hull depth"))):
            ax = fig.add_subplot(len(shown), 2, 2 * row + col + 1)
            plot_map(x[:, channel], sampling, ax=ax, title=f"{model.classes[c]}: {what}")
    return fig


def predict(
    model: ShapeClassifier,
    inputs: list[str],
    out: Path,
    overwrite: bool = False,
    say: Callable[[str], None] = print,
    batch_size: int = 32,
) -> list[Path]:
    """Classify mesh files (.obj, .off): ``out/predictions.csv`` with one row per file (class and class
    probabilities). Meshes are normalised and projected as in training, without augmentation."""
    target = out / "predictions.csv"
    if target.exists() and not overwrite:
        raise ValueError(f"{target} exists; pass --overwrite to replace it")
    directions = sampling_of(model.config.data).coords
    features = np.stack([project_mesh(normalize_mesh(load_mesh(p)), directions) for p in inputs])
    model = model.eval()
    with torch.no_grad():
        x = torch.from_numpy(features.astype(np.float32))
        probs = torch.cat([model(b).softmax(1) for b in x.split(batch_size)]).numpy()
    rows = [
        [p, model.classes[int(q.argmax())], *q.round(6).tolist()] for p, q in zip(inputs, probs, strict=True)
    ]
    write_csv(target, ["file", "class", *(f"p_{c}" for c in model.classes)], rows)
    say(f"{len(inputs)} shapes classified; wrote {target}")
    return [target]
