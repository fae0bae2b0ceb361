"""Data sets in their on-disk formats, the built-in generators that write them, and patch samples.

- :func:`read_healpix_map`, :func:`write_healpix_map` — HEALPix FITS maps (any ordering in, NESTED
  inside; NaN/UNSEEN pixels rejected; atomic writes that never replace a file without ``overwrite``).
- :class:`MapCollection` — labelled maps in a folder (``manifest.json`` or one sub-folder per class).
- :class:`MapStore` — all maps of a collection in one memory-mapped float32 array, built once and cached.
- :func:`patch_sampling`, :class:`PatchDataset`, :func:`split_maps` — the sphere cut into 12·4^m
  equal-area patches, served on the fly with white noise; train/val/test splits by whole maps.
- :func:`make_cosmo_maps` — the built-in cosmology data set (log-normal maps of two models with the
  same power spectrum, see :mod:`deepsphere.data.lognormal`).
- :func:`cosmology_map`, :data:`PAPER_MODELS`, :func:`lognormal_map`, :func:`lognormal_gaussian_spectrum`
  … — shifted log-normal convergence maps with a prescribed spectrum; two models differ only in skewness.
"""

from .collection import MapCollection
from .cosmo import make_cosmo_maps
from .healpix_io import atomic_write, check_map, read_healpix_map, write_healpix_map
from .lognormal import (
    PAPER_MODELS,
    CosmologyModel,
    convergence_spectrum,
    cosmology_map,
    cosmology_spectra,
    default_smoothing_arcmin,
    empty_beam_convergence,
    lognormal_gaussian_spectrum,
    lognormal_map,
    lognormal_skewness,
)
from .patches import PatchDataset, check_patches, patch_sampling, split_maps
from .store import MapStore, default_cache_dir

__all__ = [
    "PAPER_MODELS",
    "CosmologyModel",
    "convergence_spectrum",
    "cosmology_map",
    "cosmology_spectra",
    "default_smoothing_arcmin",
    "empty_beam_convergence",
    "lognormal_gaussian_spectrum",
    "lognormal_map",
    "lognormal_skewness",
    "MapCollection",
    "MapStore",
    "PatchDataset",
    "atomic_write",
    "check_map",
    "check_patches",
    "default_cache_dir",
    "make_cosmo_maps",
    "patch_sampling",
    "read_healpix_map",
    "split_maps",
    "write_healpix_map",
]
