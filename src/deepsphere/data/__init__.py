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
- :func:`load_mesh`, :func:`save_mesh`, :func:`normalize_mesh`, :func:`project_mesh` — .obj/.off meshes
  (ModelNet's merged ``OFF490 518 0`` header too; bad meshes raise :class:`MeshError` naming the file)
  and the six SHREC'17 ray-casting features on a sampling (depth, cos, sin; the same on the convex hull).
- :class:`ShapeCollection` — SHREC'17 (CSV + ``<split>_normal|perturbed/<id>.obj``) and ModelNet40
  (``<class>/<split>/*.off``) splits; :func:`make_shapes`, :func:`random_primitive` — the built-in
  synthetic shape set in either layout.
- :class:`ShapeFeatureStore` — the projected features of a collection (with random translations and
  rotations), cached as a checked, memory-mapped float32 array.
- :func:`random_rotation_matrix`, :func:`random_translation` — uniform SO(3) rotations, small translations.
- :class:`ClimateCollection`, :class:`ClimateDataset`, :func:`read_climate_file`, :func:`channel_stats`,
  :func:`class_frequencies`, :func:`make_climate` … — the UGSCNN climate set (one ``.npz`` per time step,
  16 channels, TC/AR labels on an icosphere; split lists), its mesh order (:func:`ugscnn_icosphere`,
  :func:`icosahedral_order`), :func:`regrid_netcdf` (lat–lon NetCDF fields onto any sampling; extra
  ``deepsphere[climate]``) and the synthetic stand-in in the same format.
- :func:`read_stations`, :func:`read_dly`, :class:`GHCNDataset`, :func:`select_stations`,
  :func:`stations_sampling`, :func:`forecast_samples`, :func:`day_of_year_samples`, :func:`make_ghcn` —
  GHCN-Daily's fixed-width files, a cached (days, stations, features) array with its mask, station
  subsets, the forecast and day-of-year tasks, and the synthetic stand-in in the real formats.
"""

from .augment import random_rotation_matrix, random_translation
from .climate import (
    CLIMATE_CHANNELS,
    CLIMATE_CLASSES,
    ClimateCollection,
    ClimateDataset,
    channel_stats,
    class_frequencies,
    icosahedral_order,
    inverse_frequency_weights,
    make_climate,
    read_climate_file,
    read_mesh_vertices,
    regrid_netcdf,
    ugscnn_icosphere,
    write_climate_file,
)
from .collection import MapCollection
from .cosmo import make_cosmo_maps
from .ghcn import (
    GHCNDataset,
    day_of_year_samples,
    forecast_samples,
    make_ghcn,
    read_dly,
    read_stations,
    select_stations,
    stations_sampling,
)
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
from .meshes import FEATURES, MeshError, has_embree, load_mesh, normalize_mesh, project_mesh, save_mesh
from .patches import PatchDataset, check_patches, patch_sampling, split_maps
from .shape_store import CacheError, ShapeFeatureStore
from .shapes import SYNTHETIC_CLASSES, ShapeCollection, make_shapes, random_primitive
from .store import MapStore, default_cache_dir

__all__ = [
    "CLIMATE_CHANNELS",
    "CLIMATE_CLASSES",
    "ClimateCollection",
    "ClimateDataset",
    "channel_stats",
    "class_frequencies",
    "icosahedral_order",
    "inverse_frequency_weights",
    "make_climate",
    "read_climate_file",
    "read_mesh_vertices",
    "regrid_netcdf",
    "ugscnn_icosphere",
    "write_climate_file",
    "GHCNDataset",
    "day_of_year_samples",
    "forecast_samples",
    "make_ghcn",
    "read_dly",
    "read_stations",
    "select_stations",
    "stations_sampling",
    "FEATURES",
    "SYNTHETIC_CLASSES",
    "CacheError",
    "MeshError",
    "ShapeCollection",
    "ShapeFeatureStore",
    "has_embree",
    "load_mesh",
    "make_shapes",
    "normalize_mesh",
    "project_mesh",
    "random_primitive",
    "random_rotation_matrix",
    "random_translation",
    "save_mesh",
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
