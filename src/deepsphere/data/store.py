"""All maps of a collection in one memory-mapped array, so that data larger than memory streams from disk.

:meth:`MapStore.build` reads every FITS map once (checking size, NaN and UNSEEN pixels), converts it to
float32 NESTED and writes it into ``maps-<key>.npy`` in a cache folder, where ``<key>`` hashes the files'
paths, sizes and modification times: a changed file makes a new store, an unchanged one is reused.
Only one map is in memory at a time while building; training reads patches through ``numpy.memmap``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .._cache import default_cache_dir
from .collection import MapCollection
from .healpix_io import atomic_write, read_healpix_map


class MapStore:
    """Read-only maps ``values`` (n_maps, 12·nside²) float32 NESTED (a memmap), with ``labels``
    (n_maps,), ``classes``, ``nside``, and per-map ``mean`` and ``std`` (float64)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        meta = json.loads(self.path.with_suffix(".json").read_text())
        self.values = np.load(self.path, mmap_mode="r")
        self.labels = np.asarray(meta["labels"], dtype=np.int64)
        self.classes = tuple(meta["classes"])
        self.files = tuple(meta["files"])
        self.nside = int(meta["nside"])
        self.mean = np.asarray(meta["mean"])
        self.std = np.asarray(meta["std"])

    @property
    def n_maps(self) -> int:
        return self.values.shape[0]

    def __repr__(self) -> str:
        return f"MapStore({self.n_maps} maps, nside={self.nside}, classes={list(self.classes)})"

    @classmethod
    def build(
        cls,
        collection: MapCollection,
        cache_dir: str | os.PathLike | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> MapStore:
        """The store of ``collection`` in ``cache_dir`` (default :func:`default_cache_dir`), built if
        missing. ``progress(done, total)`` is called after each map."""
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        path = cache / f"maps-{_key(collection)}.npy"
        if path.is_file() and path.with_suffix(".json").is_file():
            return cls(path)
        first = read_healpix_map(collection.files[0], ordering=collection.ordering)
        shape = (collection.n_maps, first.shape[0])
        nside = int(np.sqrt(shape[1] // 12))
        mean, std = np.empty(shape[0]), np.empty(shape[0])

        def write(tmp: Path) -> None:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
            for i, file in enumerate(collection.files):
                values = first if i == 0 else read_healpix_map(file, nside, collection.ordering)
                out[i] = values
                mean[i], std[i] = values.mean(dtype=np.float64), values.std(dtype=np.float64)
                if progress is not None:
                    progress(i + 1, shape[0])
            out.flush()
            del out

        atomic_write(path, write, overwrite=True)
        meta = {
            "nside": nside,
            "classes": list(collection.classes),
            "labels": collection.labels.tolist(),
            "files": [str(f) for f in collection.files],
            "mean": mean.tolist(),
            "std": std.tolist(),
        }
        atomic_write(path.with_suffix(".json"), lambda tmp: tmp.write_text(json.dumps(meta)), overwrite=True)
        return cls(path)


def _key(collection: MapCollection) -> str:
    digest = hashlib.sha256(str(collection.ordering).encode())
    for file, label in zip(collection.files, collection.labels.tolist(), strict=True):
        stat = file.stat()
        digest.update(f"{file}|{stat.st_size}|{stat.st_mtime_ns}|{label}\n".encode())
    digest.update("|".join(collection.classes).encode())
    return digest.hexdigest()[:16]
