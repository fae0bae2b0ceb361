"""The spherical features of a shape collection, computed once and cached on disk as a memory-mapped array.

:meth:`ShapeFeatureStore.build` reads each mesh of a :class:`~deepsphere.data.ShapeCollection`,
normalises it (:func:`~deepsphere.data.normalize_mesh`: centred, farthest vertex at 0.99), and projects
``n_augment`` randomly moved copies of it on a sampling (:func:`~deepsphere.data.project_mesh`, rays
from the unit sphere), as Cohen et al.'s code does: each copy is rotated by
:func:`~deepsphere.data.random_rotation_matrix` (with ``rotate=True``), translated by
:func:`~deepsphere.data.random_translation` (length below ``translation``), then scaled about the
centre so that its farthest vertex is again at 0.99, ``v' = 0.99 (R v + t) / max_v ‖R v + t‖``. Every
sample, augmented or not, thus sees the same sphere: depth in (0, 2), 1 where a ray misses.

The cache is two files in ``cache_dir``, named by a key that hashes everything the features depend on
(the files' paths, sizes and modification times, labels, classes, the sampling's coordinates, the
augmentation settings and the seed):

- ``shapes-<key>.f32``: the raw little-endian float32 array (n_shapes_kept · n_augment, npix, 6),
  sample ``i·n_augment + a`` being augmentation ``a`` of kept shape ``i``;
- ``shapes-<key>.json``: its shape, a SHA-256 checksum of its bytes, labels, ids, classes, the
  sampling, the seed, the source files' sizes and mtimes, the skipped meshes and per-channel statistics.

Both are written atomically (temporary file, then rename), the array first: a cache either opens
complete or not at all. A second build with the same key reuses it after checking its size and
checksum; a cache that fails a check (truncated, corrupt, unreadable JSON) is reported and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..sampling import Sampling
from .augment import random_rotation_matrix, random_translation
from .healpix_io import atomic_write
from .meshes import ENGINES, FEATURES, MeshError, import_trimesh, load_mesh, normalize_mesh, project_mesh
from .shapes import ShapeCollection
from .store import default_cache_dir

FORMAT = "deepsphere-shape-features"
VERSION = 1
ON_BAD = ("skip", "error")
SHAPE_RADIUS = 0.99

if TYPE_CHECKING:
    import trimesh


class CacheError(ValueError):
    """A cache that fails a check: it is never used, and :meth:`ShapeFeatureStore.build` rebuilds it."""


class ShapeFeatureStore:
    """Read-only features of a shape collection: ``features`` (n_samples, npix, 6) float32, memory-mapped.

    Attributes
    ----------
    features : numpy.memmap, shape (n_samples, npix, 6), float32
        Channels ``depth, cos, sin, hull_depth, hull_cos, hull_sin`` per pixel of the sampling.
    labels : ndarray, shape (n_samples,), int64
        The class of each sample.
    shape_index : ndarray, shape (n_samples,), int64
        The kept shape of each sample (index into ``ids`` and ``files``).
    ids, files : tuple of str
        The kept shapes' ids and file paths.
    classes : tuple of str
    n_augment : int
        Samples per shape.
    skipped : tuple of (str, str)
        (file, reason) of each mesh that could not be used.
    channel_mean, channel_std : ndarray, shape (6,), float64
        Per-channel mean and standard deviation over all samples and pixels.
    meta : dict
        Everything in the JSON file.
    """

    def __init__(self, path: str | os.PathLike, verify: bool = True) -> None:
        """Open the cache whose array is ``path`` (``shapes-<key>.f32``); CacheError if it fails a check.

        ``verify=False`` skips the checksum (which reads the whole array) but still checks the size.
        """
        self.path = Path(path)
        meta_path = self.path.with_suffix(".json")
        try:
            meta = json.loads(meta_path.read_text())
            shape = tuple(int(n) for n in meta["shape"])
            expected = meta["sha256"]
            if meta["format"] != FORMAT or meta["version"] != VERSION or len(shape) != 3 or shape[2] != 6:
                raise CacheError(f"{meta_path.name} is not a version-{VERSION} shape feature cache")
            labels = np.asarray(meta["labels"], dtype=np.int64)
            ids, files = tuple(meta["ids"]), tuple(f["path"] for f in meta["files"])
            n_augment = int(meta["n_augment"])
        except OSError as err:
            raise CacheError(f"cannot read {meta_path.name}: {err.strerror or err}") from None
        except (ValueError, KeyError, TypeError) as err:
            if isinstance(err, CacheError):
                raise
            raise CacheError(
                f"{meta_path.name} is not valid cache metadata ({type(err).__name__}: {err})"
            ) from None
        if len(labels) != len(ids) or shape[0] != len(ids) * n_augment:
            raise CacheError(
                f"{meta_path.name}: {shape[0]} samples for {len(ids)} shapes × {n_augment} augmentations"
            )
        size = int(np.prod(shape)) * 4
        if not self.path.is_file():
            raise CacheError(f"{self.path.name} is missing (its metadata {meta_path.name} is there)")
        actual = self.path.stat().st_size
        if actual != size:
            raise CacheError(f"{self.path.name} has {actual} bytes, its metadata needs {size} (truncated?)")
        if verify and _sha256(self.path) != expected:
            raise CacheError(f"{self.path.name}: checksum mismatch (corrupt data)")
        self.meta = meta
        self.features = np.memmap(self.path, dtype="<f4", mode="r", shape=shape)
        self.n_augment = n_augment
        self.labels = np.repeat(labels, n_augment)
        self.shape_index = np.repeat(np.arange(len(ids), dtype=np.int64), n_augment)
        self.ids, self.files = ids, files
        self.classes = tuple(meta["classes"])
        self.skipped = tuple((s["file"], s["reason"]) for s in meta["skipped"])
        self.channel_mean = np.asarray(meta["channel_mean"], dtype=np.float64)
        self.channel_std = np.asarray(meta["channel_std"], dtype=np.float64)

    @property
    def n_samples(self) -> int:
        return self.features.shape[0]

    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        return (
            f"ShapeFeatureStore({len(self.ids)} shapes × {self.n_augment} = {self.n_samples} samples, "
            f"npix={self.features.shape[1]}, {len(self.classes)} classes, {len(self.skipped)} skipped)"
        )

    @classmethod
    def build(
        cls,
        collection: ShapeCollection,
        sampling: Sampling,
        cache_dir: str | os.PathLike | None = None,
        n_augment: int = 3,
        translation: float = 0.1,
        rotate: bool = False,
        seed: int = 0,
        progress: bool = True,
        on_bad: str = "skip",
        engine: str = "auto",
        verify: bool = True,
    ) -> ShapeFeatureStore:
        """The cached features of ``collection`` on ``sampling``, computed if missing or invalid.

        Parameters
        ----------
        collection : ShapeCollection
        sampling : deepsphere.sampling.Sampling
            Where the rays start (its ``coords``).
        cache_dir : str or PathLike, optional
            Default :func:`~deepsphere.data.default_cache_dir`.
        n_augment : int
            Randomly moved copies per shape (``>= 1``).
        translation : float
            Largest translation, in units of the normalised shape (radius 0.99); 0 for none.
        rotate : bool
            Also rotate each copy uniformly at random on SO(3).
        seed : int
            Shape ``i`` draws its motions from ``numpy.random.default_rng([seed, i])``, so that a
            skipped mesh does not change the others.
        progress : bool
            A progress line on stderr while building.
        on_bad : {"skip", "error"}
            An unreadable, empty or degenerate mesh is skipped (listed in ``skipped`` and warned
            about) or raises its :class:`~deepsphere.data.MeshError`.
        engine : {"auto", "embree", "triangle"}
            Ray engine (see :func:`~deepsphere.data.project_mesh`); not part of the cache key.
        verify : bool
            Check the checksum of a cache found on disk (reads it once).

        Returns
        -------
        ShapeFeatureStore
            Sample ``i·n_augment + a`` is copy ``a`` of the ``i``-th usable shape: rotated (``rotate``),
            translated, rescaled to a farthest vertex at 0.99 and projected from the unit sphere.
        """
        if not isinstance(collection, ShapeCollection):
            raise TypeError(f"collection must be a ShapeCollection, got {type(collection).__name__}")
        if not isinstance(sampling, Sampling):
            raise TypeError(f"sampling must be a deepsphere.sampling.Sampling, got {type(sampling).__name__}")
        if isinstance(n_augment, bool) or not isinstance(n_augment, (int, np.integer)) or n_augment < 1:
            raise ValueError(f"n_augment must be an int >= 1, got {n_augment!r}")
        if (
            isinstance(translation, bool)
            or not isinstance(translation, (int, float))
            or not 0 <= translation < 1
        ):
            raise ValueError(f"translation must be a number in [0, 1), got {translation!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        if on_bad not in ON_BAD:
            raise ValueError(f"on_bad must be one of {ON_BAD}, got {on_bad!r}")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        settings = {
            "n_augment": int(n_augment),
            "translation": float(translation),
            "rotate": bool(rotate),
            "seed": int(seed),
            "radius": 1.0,
            "shape_radius": SHAPE_RADIUS,
        }
        sources = [_file_record(f) for f in collection.files]
        spec = _sampling_spec(sampling)
        key = _key(collection, sources, spec, settings)
        cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        path = cache / f"shapes-{key}.f32"
        if path.exists() or path.with_suffix(".json").exists():
            try:
                return cls(path, verify=verify)
            except CacheError as err:
                warnings.warn(f"shape feature cache {path} is invalid ({err}); rebuilding it", stacklevel=2)
        meta = _compute(collection, sampling, path, settings, progress, on_bad, engine)
        meta.update(
            format=FORMAT,
            version=VERSION,
            key=key,
            features=list(FEATURES),
            sampling=spec,
            classes=list(collection.classes),
            source=collection.source,
            split=collection.split,
            root=str(collection.root),
            engine=engine,
            **settings,
        )
        if meta["skipped"]:
            listed = "; ".join(f"{s['file']} ({s['reason']})" for s in meta["skipped"])
            warnings.warn(f"skipped {len(meta['skipped'])} unusable meshes: {listed}", stacklevel=2)
        text = json.dumps(meta)
        atomic_write(path.with_suffix(".json"), lambda tmp: tmp.write_text(text), overwrite=True)
        return cls(path, verify=False)


def _compute(
    collection: ShapeCollection,
    sampling: Sampling,
    path: Path,
    settings: dict,
    progress: bool,
    on_bad: str,
    engine: str,
) -> dict:
    """Write the feature array to ``path`` (atomically) and return the metadata it produced."""
    directions = sampling.coords
    n_augment, translation = settings["n_augment"], settings["translation"]
    kept: list[int] = []
    skipped: list[dict] = []
    moments = np.zeros((2, 6))
    bar = _Progress(collection.n_shapes, "projecting shapes") if progress else None

    def write(tmp: Path) -> str:
        digest = hashlib.sha256()
        with open(tmp, "wb") as out:
            for i, file in enumerate(collection.files):
                rng = np.random.default_rng([settings["seed"], i])
                try:
                    mesh = normalize_mesh(load_mesh(file), SHAPE_RADIUS)
                except MeshError as err:
                    if on_bad == "error":
                        raise
                    skipped.append({"file": _relative(file, collection.root), "reason": err.reason})
                else:
                    for _ in range(n_augment):
                        rotation = random_rotation_matrix(rng) if settings["rotate"] else None
                        shift = random_translation(rng, translation) if translation > 0 else None
                        moved = _moved(mesh, rotation, shift)
                        features = project_mesh(moved, directions, settings["radius"], engine=engine)
                        data = features.astype("<f4").tobytes()
                        out.write(data)
                        digest.update(data)
                        moments[0] += features.sum(axis=0, dtype=np.float64)
                        moments[1] += np.square(features, dtype=np.float64).sum(axis=0)
                    kept.append(i)
                if bar is not None:
                    bar.update(i + 1, len(skipped))
        if not kept:
            raise ValueError(
                f"{collection.root}: none of the {collection.n_shapes} meshes could be used: {skipped[:3]}"
            )
        return digest.hexdigest()

    checksum: list[str] = []
    atomic_write(path, lambda tmp: checksum.append(write(tmp)), overwrite=True)
    count = len(kept) * n_augment * len(directions)
    mean = moments[0] / count
    std = np.sqrt(np.maximum(moments[1] / count - mean**2, 0.0))
    return {
        "shape": [len(kept) * n_augment, len(directions), 6],
        "dtype": "<f4",
        "sha256": checksum[0],
        "labels": collection.labels[kept].tolist(),
        "ids": [collection.ids[i] for i in kept],
        "files": [{"path": str(collection.files[i]), **_file_record(collection.files[i])} for i in kept],
        "skipped": skipped,
        "channel_mean": mean.tolist(),
        "channel_std": std.tolist(),
    }


def _moved(mesh: trimesh.Trimesh, rotation: np.ndarray | None, shift: np.ndarray | None) -> trimesh.Trimesh:
    """``mesh`` rotated, translated, then scaled about the centre back to a farthest vertex at 0.99."""
    vertices = np.asarray(mesh.vertices)
    if rotation is not None:
        vertices = vertices @ rotation.T
    if shift is not None:
        vertices = vertices + shift
    vertices = vertices * (SHAPE_RADIUS / np.linalg.norm(vertices, axis=1).max())
    return import_trimesh().Trimesh(vertices, mesh.faces, process=False)


class _Progress:
    """A one-line text progress bar on stderr (redrawn in place on a terminal, else every 10 %)."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label = total, label
        self.start = self.last = time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.step = max(1, total // 10)

    def update(self, done: int, skipped: int) -> None:
        now = time.perf_counter()
        final = done == self.total
        if not final and (now - self.last < 0.5 if self.tty else done % self.step):
            return
        self.last = now
        filled = int(20 * done / self.total)
        rate = done / max(now - self.start, 1e-9)
        line = f"{self.label} {done}/{self.total} [{'#' * filled}{'.' * (20 - filled)}] {rate:.1f}/s"
        line += f", {skipped} skipped" if skipped else ""
        sys.stderr.write(("\r" + line + ("\n" if final else "")) if self.tty else line + "\n")
        sys.stderr.flush()


def _file_record(file: Path) -> dict:
    """Size and modification time of ``file`` (-1 if it is missing: loading it then reports the error)."""
    try:
        stat = file.stat()
    except OSError:
        return {"size": -1, "mtime_ns": -1}
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _relative(file: Path, root: Path) -> str:
    try:
        return str(file.relative_to(root))
    except ValueError:
        return str(file)


def _sampling_spec(sampling: Sampling) -> dict:
    coords = np.ascontiguousarray(sampling.coords, dtype="<f8")
    return {
        "type": type(sampling).__name__,
        "repr": repr(sampling),
        "npix": int(sampling.npix),
        "coords_sha256": hashlib.sha256(coords.tobytes()).hexdigest(),
    }


def _key(collection: ShapeCollection, sources: list[dict], spec: dict, settings: dict) -> str:
    digest = hashlib.sha256(f"{FORMAT} v{VERSION} {collection.source} {collection.split}\n".encode())
    for file, label, record in zip(collection.files, collection.labels.tolist(), sources, strict=True):
        digest.update(f"{file}|{record['size']}|{record['mtime_ns']}|{label}\n".encode())
    digest.update("|".join(collection.classes).encode())
    digest.update(json.dumps([spec, settings], sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()
