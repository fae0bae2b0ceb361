"""Lightning data: the map store, its splits, and loaders that resume mid-epoch with nothing lost.

:func:`prepare_store` makes the built-in data set once (or reads the user's folder) and returns its
memory-mapped store. :class:`MapDataModule` serves patches of the train/val/test maps.
:class:`EpochBatchSampler` draws a fresh permutation per epoch from ``(seed, epoch)`` and, through
:class:`ResumableLoader`'s ``state_dict``, restarts an interrupted epoch at the first batch not yet trained.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..data import MapCollection, MapStore, PatchDataset, default_cache_dir, make_cosmo_maps, split_maps
from .config import DataConfig, MapsConfig

SPLITS = ("train", "val", "test")


def cache_dir_of(data: Any) -> Path:
    """``data.cache`` or the default cache folder."""
    return Path(data.cache).expanduser() if data.cache else default_cache_dir()


def made_once(cache: Path, name: str, settings: dict[str, Any], make: Callable[[Path], Any]) -> Path:
    """The folder ``cache/made/<name>-<hash of settings>`` holding a built-in data set: made by
    ``make(folder)`` into a temporary folder renamed when complete (an interrupted run leaves nothing),
    then reused."""
    spec = json.dumps({"name": name, **settings}, sort_keys=True)
    folder = cache / "made" / f"{name}-{hashlib.sha256(spec.encode()).hexdigest()[:12]}"
    if not folder.is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
        try:
            make(tmp / "set")
            (tmp / "set").rename(folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def prepare_store(data: DataConfig, progress: Callable[[str, int, int], None] | None = None) -> MapStore:
    """The store of ``data.root``'s maps, or of the built-in data set made from ``data.make`` (written
    once under the cache folder and reused). ``progress(stage, done, total)`` reports long steps."""
    cache = cache_dir_of(data)
    if data.root is None:
        settings = vars(data.make)
        root = made_once(
            cache,
            "cosmo",
            settings,
            lambda folder: make_cosmo_maps(folder, **settings, progress=_stage(progress, "making maps")),
        )
    else:
        root = Path(data.root)
    collection = MapCollection.from_folder(root, ordering=data.ordering)
    return MapStore.build(collection, cache, progress=_stage(progress, "reading maps"))


def _stage(progress, name):
    return None if progress is None else (lambda done, total: progress(name, done, total))


class EpochBatchSampler(Sampler[list[int]]):
    """Batches of dataset keys ``epoch·n + i`` (see :class:`PatchDataset`).

    ``shuffle``: a permutation drawn from ``(seed, epoch)``, else 0..n−1. With ``world`` > 1 processes,
    rank ``r`` takes every ``world``-th index (padded by wrapping so all ranks get as many batches).
    :meth:`resume` makes the next iteration over that epoch start at a given batch.
    """

    def __init__(
        self, n: int, batch_size: int, shuffle: bool, seed: int, rank: int = 0, world: int = 1
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.rank, self.world = rank, world
        self.epoch, self.trained = 0, 0
        self._resume: tuple[int, int] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume(self, epoch: int, batches: int) -> None:
        """Make the next iteration over epoch ``epoch`` start at batch ``batches``."""
        self._resume = (epoch, batches)

    def __len__(self) -> int:
        return math.ceil(math.ceil(self.n / self.world) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = np.random.default_rng((self.seed, self.epoch)).permutation(self.n) if self.shuffle else None
        order = np.arange(self.n) if order is None else order
        per_rank = math.ceil(self.n / self.world)
        order = np.resize(order, per_rank * self.world)[self.rank :: self.world] + self.epoch * self.n
        start = 0
        if self._resume is not None and self._resume[0] == self.epoch:
            start = self._resume[1]
        self._resume = None
        for b in range(start, len(self)):
            yield order[b * self.batch_size : (b + 1) * self.batch_size].tolist()


class ResumableLoader(DataLoader):
    """A DataLoader whose ``state_dict`` (saved by Lightning in every checkpoint) holds the epoch and the
    number of batches already trained, so that a run resumed from a mid-epoch checkpoint skips them."""

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.batch_sampler.epoch, "trained": self.batch_sampler.trained}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.batch_sampler.resume(state["epoch"], state["trained"])


class TrackTrainedBatches(L.Callback):
    """Counts the batches trained in the current epoch (before checkpoints are saved at batch end)."""

    def on_train_batch_end(self, trainer: L.Trainer, module: Any, outputs: Any, batch: Any, idx: int) -> None:
        trainer.datamodule.train_sampler.trained = idx + 1

    def on_train_epoch_start(self, trainer: L.Trainer, module: Any) -> None:
        trainer.datamodule.train_sampler.trained = 0


class ArrayDataset(Dataset):
    """Samples ``(inputs[i], *(t[i] for t in targets))`` as tensors for the keys ``epoch·n + i`` of
    :class:`EpochBatchSampler`; ``inputs`` may be a memory-mapped array (rows are read when served)."""

    def __init__(self, inputs: Any, *targets: Any) -> None:
        if any(len(t) != len(inputs) for t in targets):
            raise ValueError(f"targets must have {len(inputs)} rows like the inputs")
        self.inputs, self.targets = inputs, targets

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, key: int) -> tuple[torch.Tensor, ...]:
        i = key % len(self.inputs)
        return (torch.from_numpy(np.array(self.inputs[i])), *(torch.as_tensor(t[i]) for t in self.targets))


class KeyedDataset(Dataset):
    """A dataset of array tuples served for the keys ``epoch·n + i`` of :class:`EpochBatchSampler`:
    sample ``i`` of ``dataset``, as tensors."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: int) -> tuple[torch.Tensor, ...]:
        return tuple(torch.from_numpy(np.asarray(a)) for a in self.dataset[key % len(self.dataset)])


class SplitDataModule(L.LightningDataModule):
    """Train/val/test datasets served in batches of keys by :class:`EpochBatchSampler` (a dataset maps a
    key ``epoch·n + i`` to sample ``i``, possibly drawing that epoch's noise), resumable mid-epoch."""

    def __init__(self, datasets: dict[str, Any], batch_size: int, seed: int, num_workers: int = 0) -> None:
        super().__init__()
        self.datasets = datasets
        self.batch_size, self.seed, self.num_workers = batch_size, seed, num_workers
        self.train_sampler: EpochBatchSampler | None = None

    def _sampler(self, split: str, shuffle: bool) -> EpochBatchSampler:
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        return EpochBatchSampler(len(self.datasets[split]), self.batch_size, shuffle, self.seed, rank, world)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        sampler = self._sampler(split, shuffle)
        cls = ResumableLoader if split == "train" else DataLoader
        loader = cls(
            self.datasets[split],
            batch_sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )
        if split == "train":
            self.train_sampler = sampler
        return loader

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def training_inputs(self, epoch: int, batches: int) -> Iterator[torch.Tensor]:
        """The inputs (each batch's first tensor) of the first ``batches`` training batches of ``epoch``,
        as trained (same keys, so the same noise), from a loader of their own in this process: the
        training loader's iteration is left alone."""
        sampler = self._sampler("train", shuffle=True)
        sampler.set_epoch(epoch)
        loader = DataLoader(self.datasets["train"], batch_sampler=sampler)
        for inputs, *_ in itertools.islice(loader, batches):
            yield inputs

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


class MapDataModule(SplitDataModule):
    """Patch datasets of the train/val/test maps of ``store`` (split by whole maps, stratified).

    Noise std per pixel = ``data.noise`` × the training maps' mean pixel std; inputs are divided by
    ``scale`` = that std × sqrt(1 + noise²), so a noisy sample has unit variance.
    """

    def __init__(self, config: MapsConfig, store: MapStore) -> None:
        data = config.data
        maps = dict(zip(SPLITS, split_maps(store.labels, tuple(data.split), config.seed), strict=True))
        signal = float(store.std[maps["train"]].mean())
        noise_std = data.noise * signal
        scale = signal * math.sqrt(1.0 + data.noise**2)
        datasets = {
            split: PatchDataset(store, ids, data.patches, noise_std, scale, (config.seed, i))
            for i, (split, ids) in enumerate(maps.items())
        }
        super().__init__(datasets, data.batch_size, config.seed, data.num_workers)
        self.config, self.store, self.maps = config, store, maps
        self.noise_std, self.scale = noise_std, scale
