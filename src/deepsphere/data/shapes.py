"""3D-shape data sets in their on-disk layouts, and the built-in synthetic set written in the same layouts.

Two layouts are read into a :class:`ShapeCollection` (mesh files, labels, class names, split):

- **SHREC'17** (ShapeNetCore55 subset, Savva et al. 2017): a root with ``train.csv``, ``val.csv``,
  ``test.csv`` (header ``id,synsetId,subSynsetId,modelId,split``; or one ``all.csv`` holding every
  split) and folders ``train_normal/``, ``val_normal/``, ``test_normal/`` (consistently aligned) and
  ``*_perturbed/`` (randomly rotated) of ``<id>.obj`` files. The class is the ``synsetId`` (55 classes);
  class names are the sorted synsetIds of all splits, so that labels agree across splits.
- **ModelNet40** (Wu et al. 2015): ``<root>/<class>/train/*.off`` and ``<root>/<class>/test/*.off``.

:func:`make_shapes` writes the built-in data set — trimesh primitives (box, sphere, cylinder, cone,
capsule, torus) with random anisotropic scales and vertex noise — in either layout, so that the whole
pipeline runs on a fresh machine.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .augment import _generator, random_rotation_matrix
from .meshes import import_trimesh, save_mesh

SHREC17_SPLITS = ("train", "val", "test")
MODELNET_SPLITS = ("train", "test")
SHREC17_HEADER = ("id", "synsetId", "subSynsetId", "modelId", "split")
SYNTHETIC_CLASSES = ("box", "sphere", "cylinder", "cone", "capsule", "torus")
FORMATS = ("shrec17", "modelnet")

if TYPE_CHECKING:
    import trimesh


@dataclass(frozen=True)
class ShapeCollection:
    """Mesh files of one split with their classes.

    Attributes
    ----------
    root : Path
        The data set's folder.
    files : tuple of Path
        Absolute paths of the ``.obj``/``.off`` files.
    labels : ndarray, shape (n_shapes,), int64
        Indices into ``classes``.
    classes : tuple of str
        Class names (SHREC'17 synsetIds, or ModelNet folder names).
    ids : tuple of str
        Shape ids (SHREC'17 ``id`` column, or the ModelNet file stem), as the retrieval lists name them.
    split : str
        ``"train"``, ``"val"`` or ``"test"``.
    source : str
        ``"shrec17"``, ``"shrec17_perturbed"`` or ``"modelnet"``.
    """

    root: Path
    files: tuple[Path, ...]
    labels: np.ndarray
    classes: tuple[str, ...]
    ids: tuple[str, ...]
    split: str
    source: str

    def __post_init__(self) -> None:
        n = len(self.files)
        if len(self.labels) != n or len(self.ids) != n:
            raise ValueError(f"{n} files but {len(self.labels)} labels and {len(self.ids)} ids")
        if n == 0:
            raise ValueError(f"{self.root}: no shapes in split {self.split!r}")
        if self.labels.min() < 0 or self.labels.max() >= len(self.classes):
            raise ValueError(
                f"labels must lie in [0, {len(self.classes)}), got {self.labels.min()}..{self.labels.max()}"
            )

    @property
    def n_shapes(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        return (
            f"ShapeCollection({self.source}, split={self.split!r}, {self.n_shapes} shapes, "
            f"{len(self.classes)} classes, root={str(self.root)!r})"
        )

    def subset(self, indices: Sequence[int] | np.ndarray) -> ShapeCollection:
        """The shapes at ``indices`` (same classes, root and split)."""
        index = np.asarray(indices)
        if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer):
            raise TypeError(
                f"indices must be a 1-D sequence of ints, got {index.dtype} with shape {index.shape}"
            )
        if len(index) and (index.min() < -self.n_shapes or index.max() >= self.n_shapes):
            raise ValueError(f"indices must lie in [0, {self.n_shapes}), got {index.min()}..{index.max()}")
        return ShapeCollection(
            self.root,
            tuple(self.files[i] for i in index),
            self.labels[index],
            self.classes,
            tuple(self.ids[i] for i in index),
            self.split,
            self.source,
        )

    @classmethod
    def from_shrec17(
        cls, root: str | os.PathLike, split: str = "train", perturbed: bool = False
    ) -> ShapeCollection:
        """The SHREC'17 ``split`` (``train``, ``val`` or ``test``) of the data set in ``root``.

        Reads ``<split>.csv`` (or the rows of ``all.csv`` whose ``split`` is ``split``) and the meshes
        ``<split>_normal/<id>.obj`` (``<split>_perturbed/`` with ``perturbed=True``). Ids missing their
        zero padding (``3`` for ``000003``) are matched too, as the official evaluator does.
        """
        root = _existing_folder(root)
        if split not in SHREC17_SPLITS:
            raise ValueError(f"split must be one of {SHREC17_SPLITS}, got {split!r}")
        tables = _shrec17_tables(root)
        if split not in tables:
            raise ValueError(f"{root}: no {split}.csv (nor {split} rows in all.csv)")
        classes = tuple(sorted({row[1] for rows in tables.values() for row in rows}))
        folder = root / f"{split}_{'perturbed' if perturbed else 'normal'}"
        if not folder.is_dir():
            raise ValueError(f"{root}: missing mesh folder {folder.name}/")
        files, missing = [], []
        for row in tables[split]:
            file = _shrec17_file(folder, row[0])
            (files if file is not None else missing).append(file or row[0])
        if missing:
            shown = ", ".join(f"{m}.obj" for m in missing[:5])
            raise ValueError(
                f"{folder}: {len(missing)} shapes listed in the CSV have no mesh file ({shown}, ...)"
            )
        index = {name: i for i, name in enumerate(classes)}
        labels = np.array([index[row[1]] for row in tables[split]], dtype=np.int64)
        ids = tuple(row[0] for row in tables[split])
        source = "shrec17_perturbed" if perturbed else "shrec17"
        return cls(root, tuple(files), labels, classes, ids, split, source)

    @classmethod
    def from_modelnet(cls, root: str | os.PathLike, split: str = "train") -> ShapeCollection:
        """The ModelNet ``split`` (``train`` or ``test``): every ``<root>/<class>/<split>/*.off`` file.

        Classes are the sorted names of the folders of ``root`` that hold a ``train/`` or ``test/`` folder.
        """
        root = _existing_folder(root)
        if split not in MODELNET_SPLITS:
            raise ValueError(f"split must be one of {MODELNET_SPLITS}, got {split!r}")
        folders = sorted(
            p
            for p in root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and any((p / s).is_dir() for s in MODELNET_SPLITS)
        )
        if not folders:
            raise ValueError(f"{root} has no class folders holding train/ or test/ (ModelNet layout)")
        files, labels = [], []
        for label, folder in enumerate(folders):
            found = sorted(
                p for p in (folder / split).glob("*") if p.suffix.lower() == ".off" and p.is_file()
            )
            files += found
            labels += [label] * len(found)
        ids = tuple(f.stem for f in files)
        classes = tuple(f.name for f in folders)
        return cls(root, tuple(files), np.array(labels, dtype=np.int64), classes, ids, split, "modelnet")


def _existing_folder(root: str | os.PathLike) -> Path:
    path = Path(root).expanduser().resolve()
    if not path.is_dir():
        raise ValueError(f"data folder {path} does not exist")
    return path


def _shrec17_tables(root: Path) -> dict[str, list[list[str]]]:
    """split -> rows (id, synsetId, subSynsetId, modelId, split) from <split>.csv, else from all.csv."""
    tables = {
        split: _read_csv(root / f"{split}.csv")
        for split in SHREC17_SPLITS
        if (root / f"{split}.csv").is_file()
    }
    if not tables and (root / "all.csv").is_file():
        for row in _read_csv(root / "all.csv"):
            tables.setdefault(row[4], []).append(row)
    if not tables:
        raise ValueError(f"{root} has no SHREC'17 tables (train.csv, val.csv, test.csv or all.csv)")
    return tables


def _read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as file:
        rows = [[cell.strip() for cell in row] for row in csv.reader(file) if row]
    if not rows or tuple(rows[0]) != SHREC17_HEADER:
        got = ",".join(rows[0]) if rows else "an empty file"
        raise ValueError(f"{path}: the header must be {','.join(SHREC17_HEADER)}, got {got}")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(SHREC17_HEADER) or not row[0] or not row[1]:
            raise ValueError(f"{path}, line {number}: need 5 fields with an id and a synsetId, got {row}")
    return rows[1:]


def _shrec17_file(folder: Path, shape_id: str) -> Path | None:
    candidates = [shape_id]
    if shape_id.isdigit():
        candidates += [shape_id.zfill(6), str(int(shape_id))]
    for name in candidates:
        if (folder / f"{name}.obj").is_file():
            return folder / f"{name}.obj"
    return None


# -- the synthetic data set ------------------------------------------------------------------------------


def random_primitive(name: str, seed: int | np.random.Generator | None = None) -> trimesh.Trimesh:
    """A trimesh primitive of class ``name`` with a random anisotropic scale and vertex noise.

    The primitive (about unit size, axis-aligned) is scaled by factors drawn from ``U(0.7, 1.3)`` along
    x, y and z, and each vertex moves by Gaussian noise of standard deviation 0.01.

    Parameters
    ----------
    name : str
        One of :data:`SYNTHETIC_CLASSES`.
    seed : int, numpy.random.Generator or None

    Returns
    -------
    trimesh.Trimesh
    """
    trimesh = import_trimesh()
    if name not in SYNTHETIC_CLASSES:
        raise ValueError(f"name must be one of {SYNTHETIC_CLASSES}, got {name!r}")
    rng = _generator(seed)
    create = trimesh.creation
    mesh = {
        "box": lambda: create.box(extents=(1.0, 1.0, 1.0)),
        "sphere": lambda: create.icosphere(subdivisions=2, radius=0.6),
        "cylinder": lambda: create.cylinder(radius=0.45, height=1.2, sections=24),
        "cone": lambda: create.cone(radius=0.55, height=1.2, sections=24),
        "capsule": lambda: create.capsule(height=0.8, radius=0.35, count=(12, 12)),
        "torus": lambda: create.torus(
            major_radius=0.5, minor_radius=0.18, major_sections=24, minor_sections=12
        ),
    }[name]()
    vertices = np.asarray(mesh.vertices) * rng.uniform(0.7, 1.3, size=3)
    vertices = vertices + rng.normal(scale=0.01, size=vertices.shape)
    return trimesh.Trimesh(vertices, np.asarray(mesh.faces), process=False)


def make_shapes(
    folder: str | os.PathLike,
    classes: Sequence[str] | None = None,
    per_class: int = 20,
    seed: int = 0,
    format: str = "shrec17",
    overwrite: bool = False,
) -> Path:
    """Write the built-in synthetic 3D-shape data set in the SHREC'17 or ModelNet layout.

    Each class gets ``per_class`` shapes from :func:`random_primitive`, split 70/10/20 into
    train/val/test (SHREC'17; at least one shape per split) or 80/20 into train/test (ModelNet).

    - ``format="shrec17"``: ``<split>_normal/<id>.obj`` (axis-aligned), ``<split>_perturbed/<id>.obj``
      (the same shape under a random rotation) and ``<split>.csv``; ids are 6-digit numbers in a
      random order, the synsetId and subSynsetId are the class name, the modelId a random hex string.
    - ``format="modelnet"``: ``<class>/<split>/<class>_<nnnn>.off``.

    The set is written into a temporary folder beside ``folder`` and renamed into place, so that an
    interrupted run leaves nothing half-written. Deterministic for a given ``seed``.

    Parameters
    ----------
    folder : str or PathLike
        Where the data set goes. An existing non-empty folder is replaced only with ``overwrite=True``
        (its whole content is then deleted).
    classes : sequence of str, optional
        A subset of :data:`SYNTHETIC_CLASSES` (default: all of them).
    per_class : int
        Shapes per class: at least 3 for SHREC'17, 2 for ModelNet.
    seed : int
    format : {"shrec17", "modelnet"}
    overwrite : bool

    Returns
    -------
    Path
        ``folder``, resolved.
    """
    folder = Path(folder).expanduser().resolve()
    classes = tuple(SYNTHETIC_CLASSES if classes is None else classes)
    if isinstance(classes, str) or not classes or any(c not in SYNTHETIC_CLASSES for c in classes):
        raise ValueError(f"classes must be a non-empty subset of {SYNTHETIC_CLASSES}, got {classes!r}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes has repeated names: {classes!r}")
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    smallest = 3 if format == "shrec17" else 2
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < smallest:
        raise ValueError(f"per_class must be an int >= {smallest} for format={format!r}, got {per_class!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())) and not overwrite:
        raise FileExistsError(
            f"{folder} exists and is not empty; pass overwrite=True (--overwrite) to replace it"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        rng = np.random.default_rng(seed)
        write = _write_shrec17 if format == "shrec17" else _write_modelnet
        write(tmp, classes, per_class, rng)
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            folder.rename(old)
            tmp.rename(folder)
            if old.is_dir():
                shutil.rmtree(old)
            else:
                old.unlink()
        else:
            tmp.rename(folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return folder


def _split_sizes(n: int, fractions: Sequence[float]) -> list[int]:
    """Counts for the splits after the first (at least 1 each); the first split takes the rest."""
    rest = [max(1, round(f * n)) for f in fractions[1:]]
    return [n - sum(rest), *rest]


def _write_shrec17(root: Path, classes: Sequence[str], per_class: int, rng: np.random.Generator) -> None:
    sizes = _split_sizes(per_class, (0.7, 0.1, 0.2))
    shapes = [
        (name, split)
        for name in classes
        for split, k in zip(SHREC17_SPLITS, sizes, strict=True)
        for _ in range(k)
    ]
    ids = rng.permutation(len(shapes)) + 1
    rows = {split: [] for split in SHREC17_SPLITS}
    for (name, split), number in zip(shapes, ids.tolist(), strict=True):
        shape_id = f"{number:06d}"
        mesh = random_primitive(name, rng)
        save_mesh(root / f"{split}_normal" / f"{shape_id}.obj", mesh)
        mesh.vertices = np.asarray(mesh.vertices) @ random_rotation_matrix(rng).T
        save_mesh(root / f"{split}_perturbed" / f"{shape_id}.obj", mesh)
        rows[split].append((shape_id, name, name, rng.bytes(16).hex(), split))
    for split, table in rows.items():
        with open(root / f"{split}.csv", "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(SHREC17_HEADER)
            writer.writerows(sorted(table))


def _write_modelnet(root: Path, classes: Sequence[str], per_class: int, rng: np.random.Generator) -> None:
    sizes = _split_sizes(per_class, (0.8, 0.2))
    for name in classes:
        number = 0
        for split, count in zip(MODELNET_SPLITS, sizes, strict=True):
            for _ in range(count):
                number += 1
                save_mesh(root / name / split / f"{name}_{number:04d}.off", random_primitive(name, rng))
