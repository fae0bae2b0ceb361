"""The ``ghcn`` task: weather on an irregular sampling, the GHCN-Daily stations (a k-NN graph of stations).

Data: GHCN-Daily in its real fixed-width formats (``ghcnd-stations.txt`` and ``<ID>.dly`` files, read by
:class:`~deepsphere.data.GHCNDataset`, cached), or the built-in synthetic stand-in written in those formats
(:func:`~deepsphere.data.make_ghcn`). Stations observed on at least ``data.min_valid`` of the days are kept
(the dense set), optionally ``data.max_stations`` of them at random (a sparse set). Days are split in time
order into train/val/test; temperatures are standardised with the training days' mean and std.

Targets (``data.target``):

- ``forecast``: tomorrow's TMIN and TMAX at every station from the ``past_days`` previous days. Inputs are
  the days' values (0 where missing) and their masks as channels; missing targets are left out of the
  loss and the scores. Model: ChebConv blocks on the station graph (no pooling) and a last ChebConv to
  2 outputs per station.
- ``day_of_year``: the day of the year, as (cos, sin) of 2π·day/365.25, from one day's TMIN/TMAX field.
  Model: the same blocks, a global average and a linear layer to (cos, sin).

Loss: mean squared error over the valid targets. Score: R² (the paper's measure). The baseline is the
same network with K = 1, a convolution that sees no neighbours: the paper's comparison (R² 0.896 → 0.919
for forecasting, 0.882 → 0.969 for the day of the year, K = 1 → 5).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from ..analysis.segmentation import circular_error_days, r2_scores
from ..data.ghcn import GHCNDataset, day_of_year_samples, forecast_samples, make_ghcn, select_stations
from ..nn import SphericalCNN
from .base import TaskModule
from .config import ConfigError, GHCNConfig
from .datamodule import ArrayDataset, SplitDataModule, cache_dir_of, made_once
from .report import summary_markdown
from .report import write_report as _write_report

SPLITS = ("train", "val", "test")
TARGETS = ("forecast", "day_of_year")


def dataset_of(config: GHCNConfig, progress: Callable[[str, int, int], None] | None) -> GHCNDataset:
    """The stations' daily TMIN/TMAX (the user's folder or the built-in set), station subset applied."""
    data = config.data
    cache = cache_dir_of(data)
    settings = vars(data.make)

    def make(folder: Path) -> None:
        make_ghcn(folder, **settings)

    root = Path(data.root) if data.root is not None else made_once(cache, "ghcn", settings, make)
    start = None if data.first_year is None else f"{data.first_year}-01-01"
    end = None if data.last_year is None else f"{data.last_year}-12-31"
    report = None if progress is None else (lambda d, t: progress("reading stations", d, t))
    dataset = GHCNDataset.build(root, start, end, ("TMIN", "TMAX"), cache_dir=cache, progress=report)
    keep = select_stations(dataset, data.min_valid, max_stations=data.max_stations, seed=config.seed)
    return dataset.subset(keep)


def _split_days(n_days: int, fractions: list[float]) -> list[slice]:
    if len(fractions) != 3 or any(f <= 0 for f in fractions):
        raise ConfigError(f"data.split must be three positive fractions, got {fractions}")
    total = sum(fractions)
    ends = np.round(np.cumsum(fractions) / total * n_days).astype(int)
    return [slice(0, ends[0]), slice(ends[0], ends[1]), slice(ends[1], n_days)]


def samples(config: GHCNConfig, dataset: GHCNDataset, mean: np.ndarray, std: np.ndarray) -> dict[str, Any]:
    """Standardised samples of each split: ``(inputs with mask channels, targets, target mask)``."""
    data = config.data
    x = (np.asarray(dataset.values) - mean) / std
    m = np.asarray(dataset.mask)
    out = {}
    for split, days in zip(SPLITS, _split_days(len(dataset.dates), data.split), strict=True):
        xs, ms = np.where(m[days], x[days], 0).astype(np.float32), m[days]
        if data.target == "forecast":
            if days.stop - days.start <= data.past_days:
                raise ConfigError(f"the {split} split has too few days for data.past_days={data.past_days}")
            s = forecast_samples(xs, ms, data.past_days)
            inputs = np.concatenate([s.inputs, s.input_mask.astype(np.float32)], axis=2)
            out[split] = (inputs, s.targets, s.target_mask)
        else:
            s = day_of_year_samples(xs, ms, dataset.dates[days])
            inputs = np.concatenate([s.inputs, s.input_mask.astype(np.float32)], axis=2)
            out[split] = (inputs, s.targets, np.ones(s.targets.shape, dtype=bool))
    return out


def feature_stats(config: GHCNConfig, dataset: GHCNDataset) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of each element (TMIN, TMAX) over the training days' observed values."""
    days = _split_days(len(dataset.dates), config.data.split)[0]
    x, m = np.asarray(dataset.values[days], np.float64), np.asarray(dataset.mask[days])
    count = m.sum(axis=(0, 1))
    if np.any(count < 2):
        raise ValueError("the training days hold fewer than 2 observed values of an element")
    mean = np.where(m, x, 0).sum(axis=(0, 1)) / count
    std = np.sqrt(np.where(m, (x - mean) ** 2, 0).sum(axis=(0, 1)) / count)
    return mean, std


class StationRegressor(TaskModule):
    """ChebConv blocks on the stations' k-NN graph: (B, V, C) → (B, V, 2) forecasts or (B, 2) (cos, sin).

    The stations' coordinates are a hyper-parameter, so the graph is rebuilt from the checkpoint alone;
    ``K`` overrides ``model.K`` (the K = 1 baseline). Logs ``{stage}/loss`` (masked MSE).
    """

    config: GHCNConfig

    def __init__(
        self, config: dict[str, Any], coords: list[list[float]], in_channels: int, K: int | None = None
    ) -> None:
        super().__init__(config, coords=coords, in_channels=in_channels, K=K)
        from ..sampling import PointCloud

        m, target = self.config.model, self.config.data.target
        if target not in TARGETS:
            raise ConfigError(f"data.target must be one of {TARGETS}, got {target!r}")
        try:
            self.model = SphericalCNN(
                PointCloud.from_coords(np.asarray(coords)),
                in_channels=in_channels,
                n_outputs=2,
                channels=m.channels,
                K=K or m.K,
                k=m.k,
                pool_levels=0,
                head="conv" if target == "forecast" else "linear",
            )
        except ValueError as err:
            raise ConfigError(f"model: {err}") from None
        self._test: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.model.features(x)
        if self.config.data.target == "forecast":
            return self.model.head[0](features)  # the last ChebConv, per station
        return self.model.head(features)

    def _step(self, batch: tuple[torch.Tensor, ...], stage: str) -> torch.Tensor:
        x, y, mask = batch
        predicted = self(x)
        loss = ((predicted - y) ** 2)[mask].mean()
        self.log_metrics(stage, {"loss": loss})
        if stage == "test":
            self._test.append((y.cpu(), predicted.detach().float().cpu(), mask.cpu()))
        return loss


Module = StationRegressor


def _datamodule(
    config: GHCNConfig, split_samples: dict[str, Any], coords: list[list[float]]
) -> SplitDataModule:
    datasets = {s: ArrayDataset(*arrays) for s, arrays in split_samples.items()}
    data = SplitDataModule(datasets, config.data.batch_size, config.seed, config.data.num_workers)
    data.coords = coords  # the stations, for the baseline's graph
    return data


def setup(
    config: GHCNConfig, progress: Callable[[str, int, int], None] | None
) -> tuple[SplitDataModule, StationRegressor, list[str]]:
    """Stations, standardised samples of each split, and a fresh model."""
    if config.data.target not in TARGETS:
        raise ConfigError(f"data.target must be one of {TARGETS}, got {config.data.target!r}")
    dataset = dataset_of(config, progress)
    mean, std = feature_stats(config, dataset)
    split_samples = samples(config, dataset, mean, std)
    in_channels = split_samples["train"][0].shape[2]
    coords = dataset.sampling().coords.tolist()
    model = StationRegressor(config.to_dict(), coords, in_channels)
    data = _datamodule(config, split_samples, coords)
    sizes = {s: len(d) for s, d in data.datasets.items()}
    n_params = sum(p.numel() for p in model.parameters())
    lines = [
        f"data: {len(dataset.stations)} stations, {len(dataset.dates)} days {dataset.dates[0]}…"
        f"{dataset.dates[-1]}, {100 * dataset.mask.mean():.1f} % observed; target {config.data.target}; "
        f"samples {sizes}",
        f"model: ChebConv on the {config.model.k}-NN station graph, {n_params} parameters, "
        f"channels {config.model.channels}, K={config.model.K}",
    ]
    return data, model, lines


def datamodule_for(
    model: StationRegressor, config: GHCNConfig, progress: Callable[[str, int, int], None] | None
) -> SplitDataModule:
    """The stations and samples of ``config``; they must be the checkpoint's stations."""
    dataset = dataset_of(config, progress)
    if not np.allclose(dataset.sampling().coords, np.asarray(model.hparams.coords), atol=1e-9):
        raise ValueError("the data's stations are not the checkpoint's (another station set or subset)")
    mean, std = feature_stats(config, dataset)
    return _datamodule(config, samples(config, dataset, mean, std), model.hparams.coords)


def test_details(model: StationRegressor) -> dict[str, Any]:
    """R² per target and overall on the test split; for the day of the year, the mean error in days."""
    y = torch.cat([t[0] for t in model._test]).numpy()
    p = torch.cat([t[1] for t in model._test]).numpy()
    mask = torch.cat([t[2] for t in model._test]).numpy()
    per_target, overall = r2_scores(y, p, mask)
    names = ["TMIN", "TMAX"] if model.config.data.target == "forecast" else ["cos", "sin"]
    details: dict[str, Any] = {
        "r2": overall,
        "r2_per_target": dict(zip(names, per_target.tolist(), strict=True)),
    }
    if model.config.data.target == "day_of_year":
        details["mean_error_days"] = float(circular_error_days(p, y).mean())
    return details


def baselines(config: GHCNConfig, data: SplitDataModule) -> dict[str, dict[str, Any]]:
    """The same network with K = 1 (no neighbours), trained and tested on the same samples."""
    if config.baselines not in ([], ["K=1"]):
        raise ConfigError(f"baselines must be [] or ['K=1'], got {config.baselines}")
    if not config.baselines:
        return {}
    L.seed_everything(config.seed, workers=True, verbose=False)
    in_channels = data.datasets["train"].inputs.shape[2]
    model = StationRegressor(config.to_dict(), data.coords, in_channels, K=1)
    t = config.trainer
    trainer = L.Trainer(
        max_epochs=t.max_epochs,
        accelerator=t.accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True,
    )
    trainer.fit(model, datamodule=data)
    trainer.test(model, datamodule=data, verbose=False)
    return {"K=1": test_details(model)}


def summary(result: Any, config: GHCNConfig) -> list[str]:
    """R² of the network (K = model.K) and of the K = 1 baseline."""
    d = result.details
    what = "tomorrow's TMIN/TMAX" if config.data.target == "forecast" else "the day of the year"
    lines = [f"test R² for {what}:", f"  K = {config.model.K:<3} {d['r2']:.3f}"]
    for name, r in result.baselines.items():
        lines.append(f"  {name.replace('=', ' = '):<7} {r['r2']:.3f}")  # the config's "K=1" as "K = 1"
    if "mean_error_days" in d:
        lines.append(f"mean error: {d['mean_error_days']:.1f} days")
    return lines


def write_report(
    result: Any, config: GHCNConfig, data: SplitDataModule, model: StationRegressor
) -> list[Path]:
    """``report.md``/``.json``, the loss curves and the station map of the test R²."""
    text = summary_markdown(result, config, summary(result, config))
    return _write_report(result, config, text, lambda: {"stations": stations_figure(data, model)})


def stations_figure(data: SplitDataModule, model: StationRegressor) -> Any:
    """The stations on a Mollweide map, coloured by the first test sample's target (or input)."""
    import matplotlib.pyplot as plt

    coords = np.asarray(model.hparams.coords)
    lon = np.arctan2(coords[:, 1], coords[:, 0])
    lat = np.arcsin(np.clip(coords[:, 2], -1, 1))
    x, y, mask = data.datasets["test"][0]
    values = (y[:, 1] if model.config.data.target == "forecast" else x[:, 1]).numpy()
    valid = (mask[:, 1] if model.config.data.target == "forecast" else x[:, 3] > 0).numpy()
    fig = plt.figure(figsize=(9, 4.6))
    ax = fig.add_subplot(1, 1, 1, projection="mollweide")
    dots = ax.scatter(lon[valid], lat[valid], c=values[valid], s=8, cmap="coolwarm")
    ax.scatter(lon[~valid], lat[~valid], c="lightgrey", s=6, label="missing")
    fig.colorbar(dots, ax=ax, orientation="horizontal", shrink=0.6, label="standardised TMAX")
    ax.set_title(f"{len(lon)} stations: TMAX on the first test day", pad=16)  # clear of the 75° label
    ax.set_xticks(np.radians([-120, -60, 0, 60, 120]))  # every 30° crowds the equator
    ax.grid(alpha=0.3)
    return fig
