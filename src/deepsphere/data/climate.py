"""Climate extreme events on an icosahedral mesh: the UGSCNN climate set, NetCDF regridding, a stand-in.

The task of Jiang et al. (UGSCNN, ICLR 2019) and of the DeepSphere ICLR 2020 paper: segment tropical
cyclones (TC) and atmospheric rivers (AR) in 16 atmospheric fields of the CAM5 climate model, interpolated
onto the vertices of an icosphere of level 5 (10 242 vertices); 3 classes per vertex, heavily imbalanced.

The on-disk format, as verified in UGSCNN's loaders and scripts (github.com/maxjiang93/ugscnn:
``experiments/exp4_sphere_climate/{train.py,run.sh}`` and ``loader.py``, ``stats.py``, ``partition.py``,
``test_split.txt`` in ``examples/exp4_sphere_climate``; the same layout is read by deepsphere-pytorch's
``ARTCDataset``):

- one ``.npz`` per time step, named ``data-YYYY-MM-DD-SS-R-mesh.npz`` (model year 2106–2114, month, day,
  3-hourly slot 00–07, run 1–6), holding ``data`` of shape (16, V) and ``labels`` of shape (3, V), one-hot
  over (background, TC, AR); UGSCNN's loader takes ``argmax(labels.astype(int), axis=0)``, as done here;
- split lists ``train_split.txt``, ``val_split.txt``, ``test_split.txt``: one file name per line (UGSCNN's
  ``partition.py`` shuffles with seed 0 and keeps 20 % for test and 10 % for validation);
- the channel order is not stored in the files; :data:`CLIMATE_CHANNELS` is the order of the 16 CAM5
  fields of the ClimateNet/ExtremeWeather sets (TMQ, U850, V850, UBOT, VBOT, QREFHT, PS, PSL, T200, T500,
  PRECT, TS, TREFHT, Z1000, Z200, ZBOT), which matches the magnitudes of UGSCNN's per-channel means
  (:data:`UGSCNN_MEAN`: 26 kg/m² of water vapour, 98 356 Pa surface pressure, 216 K at 200 hPa, 3.8e-8 m/s
  of precipitation, 12 031 m for Z200, …);
- class shares: UGSCNN's class weights ``[0.00102, 0.954, 0.0447]`` (``--balance``) are the normalised
  inverse frequencies of about 97.8 % background, 0.1 % TC and 2.2 % AR.

UGSCNN normalises with means and standard deviations computed over *all* files (``stats.py``);
:func:`channel_stats` computes them from the training split only.

The vertex order
----------------
UGSCNN's mesh (``mesh_files/icosphere_5.pkl``, made by ``meshcnn/mesh.py``) is not the mesh of
:class:`~deepsphere.sampling.Icosahedral`: its base icosahedron has the vertices ``(±1, ±φ, 0)``,
``(0, ±1, ±φ)``, ``(±φ, 0, ±1)`` (no vertex at a pole; the same 12 vertices and 20 faces as
``trimesh.creation.icosahedron``), and each subdivision appends the edge midpoints sorted by the bytes of
their coordinates rounded to 1e-8 (its ``unique_rows``), then projects all vertices to the sphere.
:func:`ugscnn_icosphere` rebuilds that construction; its geometry is checked here (the 12 base vertices
equal trimesh's, and every level is a rotated copy of ``Icosahedral(level)``), but its midpoint order
could not be checked against the published pickle (not reachable from the build machines). Pass the
pickle (or any ``(V, 3)`` array of the real vertices) as ``mesh`` to :meth:`ClimateCollection.from_folder`
to use the file's own coordinates. :func:`icosahedral_order` gives the permutation that puts data of a
UGSCNN-style mesh onto the vertices of ``Icosahedral(level)`` (after one fixed rotation of the sphere),
so that this package's icosahedral pooling applies; the fields then sit on a rotated globe, which a
graph CNN does not see (the graph is the same), but maps and latitude-dependent work should keep the
file's own coordinates (:meth:`ClimateCollection.sampling`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from ..sampling import Icosahedral, PointCloud
from .healpix_io import atomic_write

__all__ = [
    "CLIMATE_CHANNELS",
    "CLIMATE_CLASSES",
    "CLIMATE_SPLITS",
    "UGSCNN_MEAN",
    "UGSCNN_STD",
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
]

CLIMATE_CHANNELS = (
    "TMQ", "U850", "V850", "UBOT", "VBOT", "QREFHT", "PS", "PSL",
    "T200", "T500", "PRECT", "TS", "TREFHT", "Z1000", "Z200", "ZBOT",
)  # fmt: skip
CLIMATE_CLASSES = ("background", "tropical_cyclone", "atmospheric_river")
CLIMATE_SPLITS = ("train", "val", "test")
# UGSCNN's precomputed per-channel statistics (its loader.py), in CLIMATE_CHANNELS order; the synthetic
# stand-in uses them as its climatology so that its fields have the real set's units and magnitudes.
UGSCNN_MEAN = (
    26.160023, 0.98314494, 0.116573125, -0.45998842, 0.1930554, 0.010749293, 98356.03, 100982.02,
    216.13145, 258.9456, 3.765611e-08, 288.82578, 288.03925, 342.4827, 12031.449, 63.435772,
)  # fmt: skip
UGSCNN_STD = (
    17.04294, 8.164175, 5.6868863, 6.4967732, 5.4465833, 0.006383436, 7778.5957, 3846.1863,
    9.791707, 14.35133, 1.8771327e-07, 19.866386, 19.094095, 624.22406, 679.5602, 4.2283397,
)  # fmt: skip

_N_CHANNELS = len(CLIMATE_CHANNELS)
_N_CLASSES = len(CLIMATE_CLASSES)
_SPLIT_LIST = "{}_split.txt"
_CLIMATE_EXTRA = "pip install 'deepsphere[climate]'"

# --- the UGSCNN icosphere ---------------------------------------------------------------------------------

_PHI = (1.0 + 5.0**0.5) / 2.0
_UGSCNN_BASE = (
    (-1, _PHI, 0), (1, _PHI, 0), (-1, -_PHI, 0), (1, -_PHI, 0), (0, -1, _PHI), (0, 1, _PHI),
    (0, -1, -_PHI), (0, 1, -_PHI), (_PHI, 0, -1), (_PHI, 0, 1), (-_PHI, 0, -1), (-_PHI, 0, 1),
)  # fmt: skip
_UGSCNN_BASE_NORM = 1.9021130325903071  # sqrt(1 + φ²), the constant UGSCNN divides by
_UGSCNN_FACES = (
    (0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2),
    (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5),
    (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1),
)  # fmt: skip


def _icosphere_level(n_vertices: int, name: str) -> int:
    """The level ``l`` with ``10·4^l + 2 == n_vertices``, or a ValueError naming ``name``."""
    level, n = 0, 12
    while n < n_vertices:
        level, n = level + 1, 10 * 4 ** (level + 1) + 2
    if n != n_vertices:
        raise ValueError(
            f"{name}: {n_vertices} vertices is not an icosphere size 10·4^level + 2 (12, 42, 162, 642, "
            "2562, 10242, …)"
        )
    return level


def _project(v: np.ndarray) -> np.ndarray:
    """UGSCNN's projection to the unit sphere, ``v + (v/|v|)(1 − |v|)`` (same arithmetic, same bits)."""
    norm = np.sqrt((v**2).sum(axis=1))
    return v + (v / norm[:, None]) * (1.0 - norm)[:, None]


@functools.cache
def _ugscnn_mesh(level: int) -> tuple[np.ndarray, np.ndarray]:
    if level == 0:
        return np.array(_UGSCNN_BASE) / _UGSCNN_BASE_NORM, np.array(_UGSCNN_FACES, dtype=np.int64)
    vertices, faces = _ugscnn_mesh(level - 1)
    corners = [faces[:, 0], faces[:, 1], faces[:, 2]]
    pairs = np.concatenate([np.stack([corners[i], corners[(i + 1) % 3]], axis=1) for i in range(3)])
    mid = (vertices[pairs[:, 0]] + vertices[pairs[:, 1]]) / 2  # each interior edge appears twice
    # The order of the new vertices: numpy's order of the rows' bytes as little-endian int32 of round(1e8·x)
    # (the hash UGSCNN's unique_rows sorts by; the -1e-6 avoids ties at .5, as there).
    keys = np.round(mid * 1e8 - 1e-6).astype("<i4")
    _, first, inverse = np.unique(
        np.ascontiguousarray(keys).view(np.dtype((np.void, 12))).ravel(),
        return_index=True,
        return_inverse=True,
    )
    m = inverse.reshape(3, -1) + len(vertices)  # midpoints of (a, b), (b, c), (c, a) of each face
    a, b, c = corners
    children = np.stack(
        [
            np.stack([a, m[0], m[2]], axis=1),
            np.stack([m[0], b, m[1]], axis=1),
            np.stack([m[2], m[1], c], axis=1),
            np.stack([m[0], m[1], m[2]], axis=1),
        ],
        axis=1,
    ).reshape(-1, 3)
    return _project(np.vstack([vertices, mid[first]])), children


def ugscnn_icosphere(level: int) -> np.ndarray:
    """The vertices of UGSCNN's icosphere of ``level``, in its order (see the module docstring).

    Parameters
    ----------
    level : int
        Number of subdivisions (0 … 10); the climate set uses 5.

    Returns
    -------
    ndarray, shape (10·4^level + 2, 3), float64, read-only
        Unit vectors; the first ``10·4^(level−1) + 2`` rows are the vertices of ``level − 1``.

    Examples
    --------
    >>> v = ugscnn_icosphere(2)
    >>> v.shape, bool(np.allclose(np.linalg.norm(v, axis=1), 1)), v[0].round(4).tolist()
    ((162, 3), True, [-0.5257, 0.8507, 0.0])
    """
    from ..sampling.icosahedral import check_level

    vertices = _ugscnn_mesh(check_level(level))[0].copy()
    vertices.flags.writeable = False
    return vertices


def read_mesh_vertices(path: str | os.PathLike) -> np.ndarray:
    """Vertex coordinates of a mesh file, as unit vectors (V, 3) float64.

    ``.npy``: an array (V, 3); ``.npz``: the array ``V``, ``vertices`` or ``coords``; ``.pkl``: UGSCNN's
    ``mesh_files/icosphere_<level>.pkl`` (a dict whose ``"V"`` holds the vertices). Unpickling runs code
    from the file: load only pickles you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"mesh file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            vertices = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                key = next((k for k in ("V", "vertices", "coords") if k in archive.files), None)
                if key is None:
                    raise ValueError(
                        f"{path}: no array 'V', 'vertices' or 'coords' (it holds {archive.files})"
                    )
                vertices = archive[key]
        elif suffix == ".pkl":
            with path.open("rb") as f:
                info = pickle.load(f)
            if not isinstance(info, dict) or "V" not in info:
                raise ValueError(
                    f"{path}: expected UGSCNN's mesh dict with key 'V', got {type(info).__name__}"
                )
            vertices = info["V"]
        else:
            raise ValueError(f"mesh file {path}: suffix must be .npy, .npz or .pkl, got {suffix!r}")
    except (OSError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: not a readable mesh file ({err})") from None
    vertices = np.asarray(vertices, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"{path}: vertices must have shape (V, 3), got {vertices.shape}")
    norm = np.linalg.norm(vertices, axis=1)
    if not np.isfinite(vertices).all() or np.any(norm == 0):
        raise ValueError(f"{path}: vertices must be finite and non-zero")
    return vertices / norm[:, None]


def _frame(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Orthonormal columns (a, b ⟂ a, a × b) from two non-parallel unit vectors."""
    e2 = b - (b @ a) * a
    e2 /= np.linalg.norm(e2)
    return np.stack([a, e2, np.cross(a, e2)], axis=1)


def icosahedral_order(vertices) -> np.ndarray:
    """The permutation that moves data on an icosphere's vertices onto ``Icosahedral(level)``'s vertices.

    Parameters
    ----------
    vertices : array_like, shape (10·4^level + 2, 3)
        The vertices of a midpoint-subdivided icosahedron of any orientation whose first 12 rows are the
        base icosahedron (UGSCNN's mesh, :func:`ugscnn_icosphere`, or the real ``icosphere_5.pkl``).

    Returns
    -------
    ndarray, shape (V,), int64
        ``order`` such that ``data[order]`` (data in the rows of ``vertices``) is in the order of
        ``Icosahedral(level)``: the rotation ``R`` that takes base vertex 0 and its first neighbour to this
        package's vertices 0 (north pole) and 1 maps ``vertices[order]`` onto ``Icosahedral(level).coords``
        to 1e-6.

    Examples
    --------
    >>> order = icosahedral_order(ugscnn_icosphere(2))
    >>> order.shape, sorted(order.tolist()) == list(range(162))
    ((162,), True)
    """
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
        raise ValueError(f"vertices must be a finite (V, 3) array, got shape {v.shape}")
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    level = _icosphere_level(len(v), "vertices")
    target = Icosahedral(level).coords
    dots = v[:12] @ v[:12].T
    neighbours = np.abs(dots - 1 / np.sqrt(5)) < 1e-6
    if not np.all(neighbours.sum(axis=1) == 5):
        raise ValueError(
            "vertices: the first 12 rows are not a regular icosahedron (the base of a subdivided one)"
        )
    b = v[int(np.flatnonzero(neighbours[0])[0])]
    rotation = _frame(target[0], target[1]) @ _frame(v[0], b).T
    dist, nearest = cKDTree(target).query(v @ rotation.T)
    if dist.max() > 1e-6 or len(np.unique(nearest)) != len(v):
        raise ValueError(
            f"vertices are not a midpoint-subdivided icosahedron of level {level} (after rotation a vertex "
            f"is {dist.max():.2g} from the nearest vertex of Icosahedral({level}))"
        )
    order = np.empty(len(v), dtype=np.int64)
    order[nearest] = np.arange(len(v))
    return order


# --- one file -------------------------------------------------------------------------------------------


def read_climate_file(
    path: str | os.PathLike, n_vertices: int | None = None, labels: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """One time step of the UGSCNN climate format.

    Parameters
    ----------
    path : path
        ``.npz`` with ``data`` (16, V) and ``labels`` (3, V) one-hot (the real layout); ``data`` (V, 16),
        ``labels`` (V, 3) or integer ``labels`` (V,) are accepted too.
    n_vertices : int, optional
        Expected ``V``.
    labels : bool
        Read and check ``labels``; False for files to predict on, which may hold ``data`` only (the
        labels returned are then ``None``).

    Returns
    -------
    data : ndarray, shape (V, 16), float32
        The 16 fields of :data:`CLIMATE_CHANNELS`, in their physical units.
    labels : ndarray, shape (V,), int64
        0 background, 1 tropical cyclone, 2 atmospheric river (``argmax`` of the integer one-hot, as in
        UGSCNN's loader).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"climate file {path} does not exist")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: not a readable .npz archive ({err})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a climate file must be an .npz archive with arrays 'data' and 'labels'")
    with archive:
        for key in ("data", "labels") if labels else ("data",):
            if key not in archive.files:
                raise ValueError(
                    f"{path}: missing array {key!r} (the file holds {archive.files}); a UGSCNN climate file "
                    "holds 'data' (16, n_vertices) and 'labels' (3, n_vertices)"
                )
        try:
            data = archive["data"]
            raw_labels = archive["labels"] if labels else None
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise ValueError(f"{path}: corrupt array ({err})") from None
    if data.ndim != 2 or _N_CHANNELS not in data.shape:
        raise ValueError(f"{path}: 'data' must have shape (16, n_vertices), got {data.shape}")
    data = data.T if data.shape[0] == _N_CHANNELS else data
    n = data.shape[0]
    if n_vertices is not None and n != n_vertices:
        raise ValueError(f"{path}: 'data' has {n} vertices, expected {n_vertices}")
    classes = None if raw_labels is None else _class_labels(path, raw_labels, n)
    bad = ~np.isfinite(data)
    if bad.any():
        channels = [CLIMATE_CHANNELS[c] for c in np.flatnonzero(bad.any(axis=0))]
        raise ValueError(f"{path}: {int(bad.sum())} NaN/infinite values in channels {channels}")
    return np.ascontiguousarray(data, dtype=np.float32), classes


def _class_labels(path: str | os.PathLike, labels: np.ndarray, n: int) -> np.ndarray:
    """Class per vertex (n,) int64 from one-hot (3, n) / (n, 3) or integer (n,) ``labels``."""
    if labels.shape in ((_N_CLASSES, n), (n, _N_CLASSES)):
        axis = 0 if labels.shape[0] == _N_CLASSES else 1
        return np.argmax(labels.astype(np.int64), axis=axis)
    if labels.shape == (n,) and np.issubdtype(labels.dtype, np.integer):
        if labels.min() < 0 or labels.max() >= _N_CLASSES:
            raise ValueError(f"{path}: integer 'labels' must be in [0, {_N_CLASSES}), found {labels.max()}")
        return labels.astype(np.int64)
    raise ValueError(f"{path}: 'labels' must have shape (3, {n}) (one-hot), got {labels.shape}")


def write_climate_file(path: str | os.PathLike, data, labels, overwrite: bool = False) -> Path:
    """Write one time step in the UGSCNN layout: ``data`` (16, V) float32, ``labels`` (3, V) one-hot uint8.

    ``data``: (V, 16) fields; ``labels``: (V,) classes in [0, 3). Atomic (temporary file + rename); an
    existing file is replaced only with ``overwrite``.
    """
    data = np.asarray(data, dtype=np.float32)
    labels = np.asarray(labels)
    if data.ndim != 2 or data.shape[1] != _N_CHANNELS:
        raise ValueError(f"data must have shape (n_vertices, 16), got {data.shape}")
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be integers of shape ({data.shape[0]},), got {labels.dtype} {labels.shape}"
        )
    if labels.min() < 0 or labels.max() >= _N_CLASSES:
        raise ValueError(f"labels must be in [0, {_N_CLASSES}), found {labels.min()}…{labels.max()}")
    if not np.isfinite(data).all():
        raise ValueError("data must be finite")
    one_hot = (labels[None, :] == np.arange(_N_CLASSES)[:, None]).astype(np.uint8)

    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:  # a file object: np.savez would append ".npz" to a path
            np.savez(f, data=np.ascontiguousarray(data.T), labels=one_hot)

    return atomic_write(path, write, overwrite)


# --- a folder of files ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ClimateCollection:
    """The files of a climate set by split, their vertex count and the mesh's vertices.

    ``splits``: ``{"train": (paths…), "val": …, "test": …}``; ``vertices``: (V, 3) unit vectors in the
    files' vertex order (from a mesh file, else :func:`ugscnn_icosphere`).
    """

    root: Path
    splits: dict[str, tuple[Path, ...]]
    n_vertices: int
    vertices: np.ndarray

    @classmethod
    def from_folder(
        cls,
        root: str | os.PathLike,
        split_dir: str | os.PathLike | None = None,
        mesh: str | os.PathLike | None = None,
    ) -> ClimateCollection:
        """Read the split lists ``train_split.txt``, ``val_split.txt``, ``test_split.txt``.

        Parameters
        ----------
        root : path
            The folder of the ``.npz`` files (UGSCNN's ``data_5_all``); list entries are relative to it.
        split_dir : path, optional
            The folder of the split lists (default ``root``).
        mesh : path, optional
            The mesh's vertex coordinates (see :func:`read_mesh_vertices`), e.g. UGSCNN's
            ``icosphere_5.pkl``; default :func:`ugscnn_icosphere` of the files' level.
        """
        root = Path(root).expanduser().resolve()
        if not root.is_dir():
            raise ValueError(f"climate data folder {root} does not exist")
        lists = Path(split_dir).expanduser().resolve() if split_dir is not None else root
        splits: dict[str, tuple[Path, ...]] = {}
        seen: dict[Path, str] = {}
        for split in CLIMATE_SPLITS:
            list_file = lists / _SPLIT_LIST.format(split)
            if not list_file.is_file():
                raise ValueError(
                    f"{list_file} does not exist: a climate folder needs train/val/test split lists (one "
                    "file name per line), as made by make_climate or UGSCNN's partition.py"
                )
            files = []
            for number, line in enumerate(list_file.read_text().splitlines(), start=1):
                name = line.strip()
                if not name:
                    continue
                file = root / name
                if not file.is_file():
                    raise ValueError(f"{list_file}, line {number}: {file} does not exist")
                if file in seen:
                    raise ValueError(
                        f"{list_file}, line {number}: {name} is already in the {seen[file]} split"
                    )
                seen[file] = split
                files.append(file)
            splits[split] = tuple(files)
        if not splits["train"]:
            raise ValueError(f"{lists / _SPLIT_LIST.format('train')} lists no file")
        n_vertices = read_climate_file(splits["train"][0])[0].shape[0]
        if mesh is not None:
            vertices = read_mesh_vertices(mesh)
            vertices.flags.writeable = False
            if len(vertices) != n_vertices:
                raise ValueError(
                    f"mesh {mesh} has {len(vertices)} vertices but the climate files have {n_vertices}"
                )
        else:
            vertices = ugscnn_icosphere(_icosphere_level(n_vertices, str(splits["train"][0])))
        return cls(root, splits, n_vertices, vertices)

    def files(self, split: str) -> tuple[Path, ...]:
        """The files of ``split`` (``"train"``, ``"val"`` or ``"test"``)."""
        if split not in CLIMATE_SPLITS:
            raise ValueError(f"split must be one of {CLIMATE_SPLITS}, got {split!r}")
        return self.splits[split]

    def sampling(self) -> PointCloud:
        """The vertices as a :class:`~deepsphere.sampling.PointCloud` (Voronoi areas), in file order."""
        return PointCloud.from_coords(self.vertices)

    def icosahedral_order(self) -> np.ndarray:
        """:func:`icosahedral_order` of this mesh: ``data[order]`` lies on ``Icosahedral(level)``."""
        return icosahedral_order(self.vertices)


def _cache_key(files: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for file in files:
        stat = file.stat()
        digest.update(f"{file}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _summary(
    collection: ClimateCollection, split: str, cache_dir: str | os.PathLike | None
) -> dict[str, Any]:
    """Per-channel mean and std (population, float64) and class counts of a split, one pass, maybe cached."""
    files = collection.files(split)
    if not files:
        raise ValueError(f"the {split} split has no file")
    cache = Path(cache_dir) / f"climate-stats-{_cache_key(files)}.json" if cache_dir is not None else None
    if cache is not None and cache.is_file():
        try:
            meta = json.loads(cache.read_text())
            if len(meta["mean"]) == len(meta["std"]) == _N_CHANNELS and len(meta["counts"]) == _N_CLASSES:
                return meta
        except (ValueError, KeyError, TypeError):
            pass
        warnings.warn(
            f"climate statistics cache {cache} is corrupt; recomputing it", RuntimeWarning, stacklevel=3
        )
    n, mean, m2 = 0, np.zeros(_N_CHANNELS), np.zeros(_N_CHANNELS)
    counts = np.zeros(_N_CLASSES, dtype=np.int64)
    for file in files:
        data, labels = read_climate_file(file, collection.n_vertices)
        x = data.astype(np.float64)
        k, mean_k = len(x), x.mean(axis=0)
        m2_k = ((x - mean_k) ** 2).sum(axis=0)
        delta = mean_k - mean  # Chan et al.'s pairwise update: exact, no cancellation
        mean = mean + delta * k / (n + k)
        m2 = m2 + m2_k + delta**2 * n * k / (n + k)
        n += k
        counts += np.bincount(labels, minlength=_N_CLASSES)
    meta = {"mean": mean.tolist(), "std": np.sqrt(m2 / n).tolist(), "counts": counts.tolist()}
    if cache is not None:
        atomic_write(cache, lambda tmp: tmp.write_text(json.dumps(meta)), overwrite=True)
    return meta


def channel_stats(
    collection: ClimateCollection, split: str = "train", cache_dir: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over all vertices and files of ``split`` (the training split:
    statistics never see validation or test data).

    Returns ``mean, std``, each (16,) float64 (population std). With ``cache_dir`` the result is stored
    in a JSON file keyed by the files' paths, sizes and modification times (atomic; a corrupt cache is
    recomputed with a warning).
    """
    meta = _summary(collection, split, cache_dir)
    return np.array(meta["mean"]), np.array(meta["std"])


def class_frequencies(
    collection: ClimateCollection, split: str = "train", cache_dir: str | os.PathLike | None = None
) -> np.ndarray:
    """Share of vertices of each class (background, TC, AR) in ``split``, shape (3,), summing to 1."""
    counts = np.array(_summary(collection, split, cache_dir)["counts"], dtype=np.float64)
    return counts / counts.sum()


def inverse_frequency_weights(frequencies) -> np.ndarray:
    """Class weights for a weighted cross-entropy: ``w_c = (1/f_c) / Σ_k (1/f_k)`` (UGSCNN's ``--balance``).

    >>> inverse_frequency_weights([0.977, 0.00105, 0.0223]).round(4).tolist()
    [0.001, 0.9541, 0.0449]
    """
    f = np.asarray(frequencies, dtype=np.float64)
    if f.ndim != 1 or len(f) < 2 or not np.isfinite(f).all() or np.any(f <= 0):
        raise ValueError(f"frequencies must be a 1-D array of positive shares, got {f.tolist()}")
    w = 1.0 / f
    return w / w.sum()


class ClimateDataset:
    """Normalised samples of one split: ``x = (data − mean) / std`` (V, 16) float32 and labels (V,) int64.

    Parameters
    ----------
    collection : ClimateCollection
    split : str
        ``"train"``, ``"val"`` or ``"test"``.
    mean, std : array_like, shape (16,)
        Normalisation (from :func:`channel_stats` of the training split).
    order : array_like of int, shape (V,), optional
        Vertex permutation applied to every sample (e.g. :meth:`ClimateCollection.icosahedral_order`).
    """

    def __init__(self, collection: ClimateCollection, split: str, mean, std, order=None) -> None:
        self.collection, self.files = collection, collection.files(split)
        mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
        if mean.shape != (_N_CHANNELS,) or std.shape != (_N_CHANNELS,):
            raise ValueError(f"mean and std must have shape (16,), got {mean.shape} and {std.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(std).all()) or np.any(std <= 0):
            bad = [CLIMATE_CHANNELS[i] for i in np.flatnonzero(~(std > 0))]
            raise ValueError(f"std must be finite and positive, channels {bad} are not")
        self.mean, self.scale = mean.astype(np.float32), (1.0 / std).astype(np.float32)
        if order is not None:
            order = np.asarray(order, dtype=np.int64)
            if order.shape != (collection.n_vertices,) or not np.array_equal(
                np.sort(order), np.arange(collection.n_vertices)
            ):
                raise ValueError(f"order must be a permutation of {collection.n_vertices} vertices")
        self.order = order

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        data, labels = read_climate_file(self.files[i], self.collection.n_vertices)
        x = (data - self.mean) * self.scale
        if self.order is not None:
            x, labels = x[self.order], labels[self.order]
        return x, labels


# --- raw latitude-longitude NetCDF fields ---------------------------------------------------------------


def _open_dataset(source):
    """(dataset, opened_here) from a path (opened with xarray) or an already open xarray Dataset."""
    if hasattr(source, "data_vars"):
        return source, False
    try:
        import xarray as xr
    except ImportError:
        raise ImportError(f"reading NetCDF files needs xarray and netCDF4: {_CLIMATE_EXTRA}") from None
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"NetCDF file {path} does not exist")
    try:
        return xr.open_dataset(path), True
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable NetCDF file ({err})") from None


def _find_coordinate(ds, name: str | None, candidates: tuple[str, ...], what: str) -> str:
    if name is not None:
        if name not in ds.variables:
            raise ValueError(
                f"{what}_name={name!r} is not in the dataset; it has {sorted(map(str, ds.variables))}"
            )
        return name
    for candidate in candidates:
        if candidate in ds.variables:
            return candidate
    raise ValueError(
        f"no {what} coordinate among {list(candidates)}; pass {what}_name= (the dataset has "
        f"{sorted(map(str, ds.variables))})"
    )


def _axis_weights(grid: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left index ``i`` and weight ``t`` of linear interpolation between ``grid[i]`` and ``grid[i + 1]``."""
    i = np.clip(np.searchsorted(grid, points, side="right") - 1, 0, len(grid) - 2)
    t = np.clip((points - grid[i]) / (grid[i + 1] - grid[i]), 0.0, 1.0)
    return i, t


def regrid_netcdf(
    source,
    variables: str | Sequence[str],
    sampling,
    lat_name: str | None = None,
    lon_name: str | None = None,
    time: Any = None,
) -> np.ndarray:
    """Interpolate latitude–longitude fields of a NetCDF file onto the pixels of any sampling.

    Bilinear in (latitude, longitude) degrees on the file's grid (regular or not, either latitude
    direction, longitudes in [-180, 180) or [0, 360)). On a global grid the longitudes wrap around (the
    cell between the last column and the first + 360° is interpolated too); a regional grid refuses
    points outside it. Points beyond the first or last grid latitude by less than one grid spacing (the
    polar caps of a cell-centred grid) take the value of the nearest latitude row.

    Parameters
    ----------
    source : path or xarray.Dataset
        NetCDF file (opened with xarray; extra ``deepsphere[climate]``) or an open dataset.
    variables : str or sequence of str
        Names of the fields; each must have the latitude and longitude dimensions plus, at most, a
        dimension selected by ``time`` or of size 1.
    sampling : Sampling
        Target pixels (``lat``, ``lon`` in radians).
    lat_name, lon_name : str, optional
        Coordinate names (default: ``lat``/``latitude`` and ``lon``/``longitude``).
    time : int or value, optional
        An int selects that position along the fields' extra dimension (e.g. ``time``), another value
        selects by label (``ds.sel``); required when that dimension has more than one entry.

    Returns
    -------
    ndarray, shape (npix, len(variables)), float64
        Interpolated values. NaN grid values reaching a point (fill values, land masks) raise an error.
    """
    names = [variables] if isinstance(variables, str) else list(variables)
    if not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"variables must be a name or a non-empty list of names, got {variables!r}")
    if not (hasattr(sampling, "lat") and hasattr(sampling, "lon")):
        raise TypeError(
            f"sampling must be a deepsphere Sampling (with lat, lon), got {type(sampling).__name__}"
        )
    ds, opened = _open_dataset(source)
    try:
        available = sorted(map(str, ds.data_vars))
        for name in names:
            if name not in ds.data_vars:
                raise ValueError(f"variable {name!r} is not in the dataset; available variables: {available}")
        lat_key = _find_coordinate(ds, lat_name, ("lat", "latitude"), "lat")
        lon_key = _find_coordinate(ds, lon_name, ("lon", "longitude"), "lon")
        lat = np.asarray(ds[lat_key].values, dtype=np.float64)
        lon = np.asarray(ds[lon_key].values, dtype=np.float64)
        if lat.ndim != 1 or lon.ndim != 1 or len(lat) < 2 or len(lon) < 2:
            raise ValueError(f"{lat_key} and {lon_key} must be 1-D coordinates with at least 2 values")
        if not (np.isfinite(lat).all() and np.isfinite(lon).all()) or np.abs(lat).max() > 90:
            raise ValueError(f"{lat_key} must be finite degrees in [-90, 90] and {lon_key} finite degrees")
        lat_dim, lon_dim = ds[lat_key].dims[0], ds[lon_key].dims[0]
        fields = [_select_field(ds[name], name, lat_dim, lon_dim, time) for name in names]
    finally:
        if opened:
            ds.close()
    lat_order = np.argsort(lat)
    lat = lat[lat_order]
    if np.any(np.diff(lat) <= 0):
        raise ValueError(f"{lat_key} must not repeat values")
    lon, lon_order = np.unique(np.mod(lon, 360.0), return_index=True)  # sorted; 0° and 360° merge
    point_lat, point_lon = np.degrees(np.asarray(sampling.lat)), np.degrees(np.asarray(sampling.lon))
    cap = np.diff(lat).max()
    beyond = np.maximum(lat[0] - point_lat, point_lat - lat[-1])
    if beyond.max() > cap:
        raise ValueError(
            f"the sampling reaches latitude {point_lat[np.argmax(beyond)]:.3f}° but the grid covers "
            f"[{lat[0]:.3f}°, {lat[-1]:.3f}°] (more than one grid spacing beyond it)"
        )
    i, t = _axis_weights(lat, point_lat)
    # Longitude axis: start after the widest gap between columns; the grid is global (periodic) when that
    # gap is no wider than 1.5 × the others, regional otherwise.
    gaps = np.diff(np.r_[lon, lon[0] + 360.0])
    k = int(np.argmax(gaps))
    periodic = len(lon) > 2 and gaps[k] <= 1.5 * np.delete(gaps, k).max() + 1e-9
    start = 0 if periodic else (k + 1) % len(lon)
    lon_order = np.r_[lon_order[start:], lon_order[:start]]
    lon = np.r_[lon[start:], lon[:start] + 360.0]
    if periodic:
        lon, lon_order = np.r_[lon, lon[0] + 360.0], np.r_[lon_order, lon_order[0]]
    point_lon = lon[0] + np.mod(point_lon - lon[0], 360.0)
    outside = point_lon > lon[-1] + 1e-9
    if outside.any():
        raise ValueError(
            f"{int(outside.sum())} sampling points lie outside the grid's longitudes "
            f"[{lon[0]:.3f}°, {lon[-1]:.3f}°] (a regional grid: use a partial sampling inside it)"
        )
    j, s = _axis_weights(lon, point_lon)
    out = np.empty((len(point_lat), len(names)))
    for k, (name, field) in enumerate(zip(names, fields, strict=True)):
        f = field[lat_order][:, lon_order]
        value = (1 - t) * ((1 - s) * f[i, j] + s * f[i, j + 1]) + t * (
            (1 - s) * f[i + 1, j] + s * f[i + 1, j + 1]
        )
        bad = ~np.isfinite(value)
        if bad.any():
            raise ValueError(
                f"variable {name!r}: {int(bad.sum())} of {len(value)} points interpolate NaN grid values "
                "(fill values or a land/sea mask); fill the field first or use a partial sampling"
            )
        out[:, k] = value
    return out


def _select_field(da, name: str, lat_dim: str, lon_dim: str, time: Any) -> np.ndarray:
    """The (lat, lon) float64 values of ``da`` after selecting ``time`` along its one extra dimension."""
    if lat_dim not in da.dims or lon_dim not in da.dims:
        raise ValueError(f"variable {name!r} has dimensions {da.dims}, not the grid's ({lat_dim}, {lon_dim})")
    extra = [d for d in da.dims if d not in (lat_dim, lon_dim)]
    if time is not None:
        if len(extra) != 1:
            raise ValueError(f"time= selects along one extra dimension; variable {name!r} has {extra}")
        dim = extra[0]
        if isinstance(time, int | np.integer) and not isinstance(time, bool):
            if not -da.sizes[dim] <= time < da.sizes[dim]:
                raise ValueError(f"time={time} is out of range for {name!r}'s {dim} of size {da.sizes[dim]}")
            da = da.isel({dim: int(time)})
        else:
            try:
                da = da.sel({dim: time})
            except KeyError:
                raise ValueError(f"time={time!r} is not a value of {name!r}'s dimension {dim!r}") from None
        extra = [d for d in da.dims if d not in (lat_dim, lon_dim)]
    big = {d: da.sizes[d] for d in extra if da.sizes[d] != 1}
    if big:
        raise ValueError(f"variable {name!r} has extra dimensions {big}: pass time= (or select them first)")
    return np.asarray(da.squeeze(extra).transpose(lat_dim, lon_dim).values, dtype=np.float64)


# --- the synthetic stand-in -----------------------------------------------------------------------------

# Each channel: (weight of the latitude profile, shared latent field: 0 thermal, 1 pressure, 2 zonal wind,
# 3 meridional wind). The latitude profile 1.5·cos²(lat) − 1 has zero mean on the sphere.
_CHANNEL_MODEL = {
    "TMQ": (0.8, 0), "U850": (0.0, 2), "V850": (0.0, 3), "UBOT": (0.0, 2), "VBOT": (0.0, 3),
    "QREFHT": (0.8, 0), "PS": (0.0, 1), "PSL": (0.2, 1), "T200": (-0.3, 0), "T500": (0.7, 0),
    "PRECT": (0.4, 0), "TS": (0.85, 0), "TREFHT": (0.85, 0), "Z1000": (0.1, 1), "Z200": (0.7, 0),
    "ZBOT": (0.1, 1),
}  # fmt: skip
_NONNEGATIVE = ("TMQ", "QREFHT", "PRECT")
# Event signatures in units of each channel's standard deviation (UGSCNN_STD).
_TC_SIGNATURE = {"PSL": -5.0, "PS": -5.0, "TMQ": 2.5, "PRECT": 4.0, "T500": 1.0, "T200": 0.8, "QREFHT": 1.0}
_TC_WIND = {"U850": 4.0, "UBOT": 3.0}  # tangential wind amplitude; the V channels follow the U ones
_AR_SIGNATURE = {"TMQ": 3.0, "QREFHT": 1.5, "PRECT": 1.5}
_AR_WIND = {"U850": 2.0, "UBOT": 1.5}
# Event geometry, degrees: TC label radius, AR half-width and length; counts per time step.
_TC_RADIUS, _TC_LAT, _TC_COUNT = (2.5, 4.0), (8.0, 28.0), (2, 5)
_AR_HALF_WIDTH, _AR_LENGTH, _AR_LAT, _AR_COUNT = (2.5, 4.0), (25.0, 45.0), (15.0, 30.0), (2, 5)
_START = datetime(2106, 1, 1)  # the CAM5 run's model years in UGSCNN's file names: 2106–2114


def _unit(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


def _smooth_field(xyz: np.ndarray, rng: np.random.Generator, wavenumber: float, n_waves: int) -> np.ndarray:
    """A smooth random field of about unit variance: ``√(2/J) Σ_j cos(ω_j·x + b_j)``, ``ω_j ~ N(0, k²I)``
    (random Fourier features of a Gaussian covariance of length ``1/k`` rad, restricted to the sphere).
    ``xyz`` float32: the cosines dominate the generator's time and float32 halves it."""
    omega = rng.normal(0.0, wavenumber, size=(3, n_waves)).astype(np.float32)
    phase = rng.uniform(0.0, 2 * np.pi, size=n_waves).astype(np.float32)
    return np.sqrt(2.0 / n_waves) * np.cos(xyz @ omega + phase).sum(axis=1, dtype=np.float64)


def _east_north(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local unit vectors pointing east and north at the points ``xyz`` (not at the poles)."""
    east = np.stack([-xyz[:, 1], xyz[:, 0], np.zeros(len(xyz))], axis=1)
    east /= np.maximum(np.linalg.norm(east, axis=1, keepdims=True), 1e-12)
    return east, np.cross(xyz, east)


def _arc_distance(xyz: np.ndarray, p0: np.ndarray, p1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Angular distance (rad) from each point to the great-circle arc p0→p1, and the arc's direction there."""
    normal = np.cross(p0, p1)
    normal /= np.linalg.norm(normal)
    foot = xyz - (xyz @ normal)[:, None] * normal
    foot /= np.maximum(np.linalg.norm(foot, axis=1, keepdims=True), 1e-12)
    inside = (np.cross(p0, foot) @ normal >= 0) & (np.cross(foot, p1) @ normal >= 0)
    to_circle = np.arcsin(np.clip(np.abs(xyz @ normal), 0.0, 1.0))
    to_ends = np.arccos(np.clip(np.maximum(xyz @ p0, xyz @ p1), -1.0, 1.0))
    return np.where(inside, to_circle, to_ends), np.cross(normal, foot)


def _synthetic_step(
    xyz: np.ndarray, lat: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One time step: fields (V, 16) in physical units and labels (V,)."""
    n = len(xyz)
    spacing = np.sqrt(4 * np.pi / n)  # mean vertex spacing, rad
    profile = 1.5 * np.cos(lat) ** 2 - 1.0
    profile /= profile.std()
    xyz32 = xyz.astype(np.float32)
    shared = [_smooth_field(xyz32, rng, 3.0, 32) for _ in range(4)]
    z = np.empty((n, _N_CHANNELS))
    for c, name in enumerate(CLIMATE_CHANNELS):
        weight, group = _CHANNEL_MODEL[name]
        weather = 0.6 * shared[group] + 0.8 * _smooth_field(xyz32, rng, 5.0, 16)
        z[:, c] = weight * profile + np.sqrt(1 - weight**2) * weather
    labels = np.zeros(n, dtype=np.int64)
    east, north = _east_north(xyz)
    index = {name: c for c, name in enumerate(CLIMATE_CHANNELS)}

    for _ in range(rng.integers(_AR_COUNT[0], _AR_COUNT[1] + 1)):
        hemisphere = rng.choice([-1.0, 1.0])
        lat0 = hemisphere * np.radians(rng.uniform(*_AR_LAT))
        lon0 = rng.uniform(0, 2 * np.pi)
        heading = np.radians(rng.uniform(20.0, 70.0))  # from east toward the pole
        length = np.radians(rng.uniform(*_AR_LENGTH))
        half_width = max(np.radians(rng.uniform(*_AR_HALF_WIDTH)), 0.6 * spacing)
        p0 = _unit(lat0, lon0)
        e0, n0 = _east_north(p0[None])
        direction = np.cos(heading) * e0[0] + hemisphere * np.sin(heading) * n0[0]
        p1 = np.cos(length) * p0 + np.sin(length) * direction
        dist, along = _arc_distance(xyz, p0, p1)
        shape = np.exp(-0.5 * (dist / half_width) ** 2)
        for name, amplitude in _AR_SIGNATURE.items():
            z[:, index[name]] += amplitude * shape
        for name, amplitude in _AR_WIND.items():
            z[:, index[name]] += amplitude * shape * np.einsum("ij,ij->i", along, east)
            z[:, index["V" + name[1:]]] += amplitude * shape * np.einsum("ij,ij->i", along, north)
        labels[dist < half_width] = 2

    for _ in range(rng.integers(_TC_COUNT[0], _TC_COUNT[1] + 1)):
        hemisphere = rng.choice([-1.0, 1.0])
        centre = _unit(hemisphere * np.radians(rng.uniform(*_TC_LAT)), rng.uniform(0, 2 * np.pi))
        radius = max(np.radians(rng.uniform(*_TC_RADIUS)), 0.8 * spacing)
        dist = np.arccos(np.clip(xyz @ centre, -1.0, 1.0))
        core = np.exp(-((dist / radius) ** 2))
        for name, amplitude in _TC_SIGNATURE.items():
            z[:, index[name]] += amplitude * core
        # cyclonic rotation: counter-clockwise seen from above in the north, clockwise in the south
        tangent = hemisphere * np.cross(centre, xyz)
        tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-12)
        r_max = 0.7 * radius
        speed = (dist / r_max) * np.exp(1.0 - dist / r_max)
        for name, amplitude in _TC_WIND.items():
            z[:, index[name]] += amplitude * speed * np.einsum("ij,ij->i", tangent, east)
            z[:, index["V" + name[1:]]] += amplitude * speed * np.einsum("ij,ij->i", tangent, north)
        labels[dist < radius] = 1

    data = np.asarray(UGSCNN_MEAN) + np.asarray(UGSCNN_STD) * z
    for name in _NONNEGATIVE:
        np.maximum(data[:, index[name]], 0.0, out=data[:, index[name]])
    return data.astype(np.float32), labels


def _step_name(step: int) -> str:
    when = _START + timedelta(hours=3 * step)
    return f"data-{when.year:04d}-{when.month:02d}-{when.day:02d}-{when.hour // 3:02d}-1-mesh.npz"


def make_climate(
    folder: str | os.PathLike, level: int = 5, n_steps: int = 64, seed: int = 0, overwrite: bool = False
) -> ClimateCollection:
    """Write the synthetic stand-in of the climate set in the UGSCNN format, and return its collection.

    Each time step (3-hourly from model date 2106-01-01, run 1) holds the 16 channels of
    :data:`CLIMATE_CHANNELS` on the vertices of :func:`ugscnn_icosphere` ``(level)``, in physical units:
    ``UGSCNN_MEAN + UGSCNN_STD · z`` where ``z`` mixes a zonal profile ``1.5·cos²(lat) − 1`` with smooth
    random fields (random Fourier features, correlation lengths ≈ 20° shared by related channels and
    ≈ 11° per channel; TMQ, QREFHT and PRECT clipped at 0), plus the events:

    - atmospheric rivers (class 2): 2–5 per step, great-circle bands 25–45° long and 2.5–4° half-width
      (at least 0.6 mesh spacing), from 15–30° latitude poleward-eastward; high TMQ (+3σ), QREFHT,
      PRECT and winds along the band;
    - tropical cyclones (class 1, over AR): 2–5 per step, discs of radius 2.5–4° (at least 0.8 mesh
      spacing) centred at 8–28° latitude; low PSL and PS (−5σ), moist warm core, and a cyclonic wind
      ``v(d) ∝ (d/r_m)·exp(1 − d/r_m)``, ``r_m = 0.7·radius``, in U/V850 and U/VBOT.

    Class shares at level 5 (64 steps, seed 0): 97.45 % background, 0.29 % TC, 2.26 % AR (the real
    set: about 97.8 %, 0.1 %, 2.2 %); level 4 gives the same; below, the minimum sizes enlarge the
    events (level 3: 95.4 %, 1.1 %, 3.5 %; level 2: 88 %, 4.6 %, 7.6 %).

    The steps are split like UGSCNN's ``partition.py``: shuffled, 20 % test, 10 % validation (at least
    one step each), the rest training. Every step is a function of ``(seed, step)`` only. Files are
    written atomically, the split lists last: an interrupted run leaves no split lists.

    Parameters
    ----------
    folder : path
        Output folder (created).
    level : int
        Icosphere level (5: 10 242 vertices as the real set; tests use 2–3).
    n_steps : int
        Number of time steps (≥ 3).
    seed : int
        Random seed.
    overwrite : bool
        Replace existing files of the same names.
    """
    from ..sampling.icosahedral import check_level

    level = check_level(level)
    if isinstance(n_steps, bool) or not isinstance(n_steps, int | np.integer) or n_steps < 3:
        raise ValueError(f"n_steps must be an integer ≥ 3 (one step per split at least), got {n_steps!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    folder = Path(folder).expanduser()
    names = [_step_name(step) for step in range(n_steps)]
    targets = [folder / name for name in names] + [folder / _SPLIT_LIST.format(s) for s in CLIMATE_SPLITS]
    existing = [p for p in targets if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{existing[0]} exists ({len(existing)} files would be replaced); "
            "pass overwrite=True (--overwrite)"
        )
    vertices = ugscnn_icosphere(level)
    lat = np.arctan2(vertices[:, 2], np.hypot(vertices[:, 0], vertices[:, 1]))
    for step, name in enumerate(names):
        data, labels = _synthetic_step(vertices, lat, np.random.default_rng([seed, step]))
        write_climate_file(folder / name, data, labels, overwrite=overwrite)
    order = np.random.default_rng(seed).permutation(n_steps)
    n_test = max(1, round(0.2 * n_steps))
    n_val = max(1, round(0.1 * n_steps))
    parts = {"test": order[:n_test], "val": order[n_test : n_test + n_val], "train": order[n_test + n_val :]}
    for split in CLIMATE_SPLITS:
        text = "".join(f"{names[i]}\n" for i in parts[split])
        atomic_write(
            folder / _SPLIT_LIST.format(split), lambda tmp, text=text: tmp.write_text(text), overwrite
        )
    return ClimateCollection.from_folder(folder)
