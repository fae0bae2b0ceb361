"""Partial-sky samples cut on the fly from full-sky maps, as in the DeepSphere cosmology paper.

The sphere splits into ``n_patches = 12·4^m`` equal-area patches: the 12 HEALPix base pixels (m = 0)
and their nested children (m = 1: 48, m = 2: 192, …). In NESTED order patch ``j`` of a map is the
contiguous block of pixels ``[j·P, (j+1)·P)`` with ``P = 12·nside²/n_patches``, so a patch is one slice of
a memory-mapped map. Every patch has the same local pixel layout, so one model (built on patch 0) serves
them all.
"""

from __future__ import annotations

import numpy as np

from ..sampling import HEALPix
from .store import MapStore


def check_patches(nside: int, n_patches: int) -> int:
    """Pixels per patch, ``P = 12·nside²/n_patches``, after checking that ``n_patches = 12·4^m`` fits."""
    m = 0
    while 12 * 4**m < n_patches:
        m += 1
    if isinstance(n_patches, bool) or 12 * 4**m != n_patches:
        raise ValueError(f"patches must be 12·4^m (12, 48, 192, 768, …), got {n_patches!r}")
    if 2**m > nside:
        raise ValueError(f"patches={n_patches} needs nside ≥ {2**m}, got nside={nside}")
    return 12 * nside * nside // n_patches


def patch_sampling(nside: int, n_patches: int, patch: int = 0) -> HEALPix:
    """The pixels of one patch as a partial-sky :class:`HEALPix` sampling (NESTED)."""
    size = check_patches(nside, n_patches)
    if not 0 <= patch < n_patches:
        raise ValueError(f"patch must be in [0, {n_patches}), got {patch}")
    return HEALPix(nside, indices=np.arange(patch * size, (patch + 1) * size))


def split_maps(
    labels: np.ndarray, fractions: tuple[float, float, float], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split map indices into train/validation/test, stratified by class, by whole maps (the patches of
    one simulation never straddle two splits). Each split gets ≥ 1 map of each class, or a clear error."""
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or not all(f > 0 for f in fractions) or not abs(sum(fractions) - 1) <= 1e-6:
        raise ValueError(f"split must be 3 positive fractions summing to 1, got {list(fractions)}")
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[], [], []]
    for label in np.unique(labels):
        ids = rng.permutation(np.flatnonzero(labels == label))
        n_val = max(1, round(fractions[1] * len(ids)))
        n_test = max(1, round(fractions[2] * len(ids)))
        if len(ids) - n_val - n_test < 1:
            raise ValueError(
                f"class {label} has {len(ids)} maps: too few to split {list(fractions)} with at least "
                "one map per split (3 at least)"
            )
        parts[1] += ids[:n_val].tolist()
        parts[2] += ids[n_val : n_val + n_test].tolist()
        parts[0] += ids[n_val + n_test :].tolist()
    return tuple(np.sort(np.array(p, dtype=np.int64)) for p in parts)  # type: ignore[return-value]


class PatchDataset:
    """Samples ``(x, label)``: patch ``j`` of map ``m`` plus white noise, scaled: ``x = (map + n)/scale``,
    ``n ~ N(0, noise²)`` per pixel, ``x`` (P, 1) float32.

    Sample ``i`` (``0 ≤ i < len``) is patch ``i % n_patches`` of map ``maps[i // n_patches]``. A key
    ``epoch·len + i`` returns sample ``i`` with the noise of that epoch: the noise is a function of
    ``(*seed, epoch, i)`` only, so results do not depend on workers or on the order of reading.
    """

    def __init__(
        self,
        store: MapStore,
        maps: np.ndarray,
        n_patches: int,
        noise: float,
        scale: float,
        seed: int | tuple[int, ...],
    ) -> None:
        self.size = check_patches(store.nside, n_patches)
        if noise < 0 or not np.isfinite(noise):
            raise ValueError(f"noise must be ≥ 0, got {noise}")
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.store, self.maps, self.n_patches = store, np.asarray(maps, dtype=np.int64), n_patches
        self.noise, self.scale = float(noise), float(scale)
        self.seed = tuple(int(s) for s in np.atleast_1d(seed))

    def __len__(self) -> int:
        return len(self.maps) * self.n_patches

    @property
    def labels(self) -> np.ndarray:
        """(len,) class of each sample."""
        return np.repeat(self.store.labels[self.maps], self.n_patches)

    def location(self, i: int) -> tuple[int, int]:
        """(map index in the store, patch) of sample ``i``."""
        return int(self.maps[i // self.n_patches]), i % self.n_patches

    def __getitem__(self, key: int) -> tuple[np.ndarray, int]:
        epoch, i = divmod(int(key), len(self))
        m, j = self.location(i)
        x = np.array(self.store.values[m, j * self.size : (j + 1) * self.size], dtype=np.float32)
        if self.noise:
            rng = np.random.default_rng((*self.seed, epoch, i))
            x += rng.standard_normal(self.size, dtype=np.float32) * np.float32(self.noise)
        x *= np.float32(1.0 / self.scale)
        return x[:, None], int(self.store.labels[m])

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """All samples (epoch 0 noise) as ``(x (len, P), labels (len,))``, e.g. for the SVM baselines."""
        x = np.empty((len(self), self.size), dtype=np.float32)
        for i in range(len(self)):
            x[i] = self[i][0][:, 0]
        return x, self.labels
