"""The paper's classical baselines, on the CNN's splits and noisy samples: linear SVMs on power-spectrum
and on pixel-histogram features of each patch (see :mod:`deepsphere.analysis.baselines`).

Features are computed chunk by chunk, so a data set larger than memory is never loaded whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..analysis.baselines import histogram_edges, histogram_features, linear_svm, power_spectrum_features
from ..data import PatchDataset
from .config import ConfigError

BASELINES = ("power_spectrum", "histogram")
CHUNK = 256


def _chunks(dataset: PatchDataset, indices: np.ndarray) -> Any:
    for start in range(0, len(indices), CHUNK):
        yield np.stack([dataset[int(i)][0][:, 0] for i in indices[start : start + CHUNK]])


def features(dataset: PatchDataset, make: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``make`` applied to every sample of ``dataset`` (epoch-0 noise), chunk by chunk: (len, n_features)."""
    return np.concatenate([make(x) for x in _chunks(dataset, np.arange(len(dataset)))])


def run_baselines(names: list[str], data: Any, seed: int) -> dict[str, dict[str, Any]]:
    """Test accuracy (and chosen C, validation accuracy, confusion) of each named baseline."""
    unknown = sorted(set(names) - set(BASELINES))
    if unknown:
        raise ConfigError(f"unknown baselines {unknown}; allowed: {list(BASELINES)}")
    ds = data.datasets
    nside, n_patches = ds["train"].store.nside, ds["train"].n_patches
    results = {}
    for name in names:
        if name == "power_spectrum":
            side = int(np.sqrt(ds["train"].size))
            n_bins = min(16, side // 2 - 1)  # at most one bin per |k| shell below the grid's Nyquist

            def make(x: np.ndarray, n_bins: int = n_bins) -> np.ndarray:
                return power_spectrum_features(x, nside, n_patches, n_bins)

        else:
            rng = np.random.default_rng(seed)
            sample = rng.choice(len(ds["train"]), size=min(CHUNK, len(ds["train"])), replace=False)
            edges = histogram_edges(next(_chunks(ds["train"], np.sort(sample))))

            def make(x: np.ndarray, edges: np.ndarray = edges) -> np.ndarray:
                return histogram_features(x, edges)

        splits = [(features(ds[s], make), ds[s].labels) for s in ("train", "val", "test")]
        r = linear_svm(name, *splits, seed=seed)
        results[name] = {
            "test_accuracy": float(r.test_accuracy),
            "val_accuracy": float(r.val_accuracy),
            "C": float(r.C),
            "confusion": np.asarray(r.confusion).tolist(),
        }
    return results
