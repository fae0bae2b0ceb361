"""The built-in cosmology data set: log-normal convergence maps of two cosmological models, as FITS files.

``make_cosmo_maps(folder, …)`` writes ``folder/<model>/<model>-<i>.fits`` (NESTED, float32, full sky,
mean-subtracted) and ``folder/manifest.json``: the layout :class:`~deepsphere.data.MapCollection` reads,
the same as a folder of real simulations. Map ``i`` of model ``c`` is drawn from the seed
``(seed, c, i)``, so the same seed gives the same data however many maps are made.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .collection import MapCollection
from .healpix_io import write_healpix_map
from .lognormal import PAPER_MODELS, CosmologyModel, cosmology_map


def make_cosmo_maps(
    folder: str | os.PathLike,
    nside: int = 256,
    maps_per_class: int = 20,
    kappa_std: float = 0.02,
    smoothing_arcmin: float | None = None,
    z_source: float = 1.0,
    seed: int = 0,
    models: tuple[CosmologyModel, ...] = PAPER_MODELS,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> MapCollection:
    """Write ``maps_per_class`` maps of each model into ``folder``; return the collection.

    Refuses to replace existing files unless ``overwrite``. ``progress(done, total)`` after each map.
    Parameters as in :func:`~deepsphere.data.lognormal.cosmology_map`.
    """
    if isinstance(maps_per_class, bool) or not isinstance(maps_per_class, int) or maps_per_class < 1:
        raise ValueError(f"maps_per_class must be a positive integer, got {maps_per_class!r}")
    folder = Path(folder)
    manifest = folder / "manifest.json"
    if manifest.exists() and not overwrite:
        raise FileExistsError(
            f"{folder} already holds a data set ({manifest}); pass overwrite=True (--overwrite)"
        )
    files, labels = [], []
    total = maps_per_class * len(models)
    for c, model in enumerate(models):
        for i in range(maps_per_class):
            values = cosmology_map(
                model,
                nside,
                np.random.default_rng((seed, c, i)),
                kappa_std=kappa_std,
                smoothing_arcmin=smoothing_arcmin,
                z_source=z_source,
            )
            path = folder / model.name / f"{model.name}-{i:03d}.fits"
            header = {"OMEGA_M": str(model.omega_m), "SIGMA8": str(model.sigma8), "SEED": f"{seed},{c},{i}"}
            write_healpix_map(path, values, nest=True, overwrite=overwrite, **header)
            files.append(path.resolve())
            labels.append(c)
            if progress is not None:
                progress(len(files), total)
    collection = MapCollection(
        folder.resolve(), tuple(files), np.array(labels), tuple(m.name for m in models)
    )
    collection.write_manifest(overwrite=overwrite)
    return collection
