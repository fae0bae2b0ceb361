"""A labelled collection of full-sky HEALPix FITS maps in a folder: one map per simulation, per class.

A folder is read in one of two layouts:

- ``manifest.json``: ``{"classes": [names], "ordering": "RING"|"NESTED"|null, "maps": [{"file": relative
  path, "class": name}, ...]}`` (``ordering`` null: each file's ORDERING header decides);
- otherwise one sub-folder per class (class names = sorted folder names) holding ``*.fits``,
  ``*.fit`` or ``*.fits.gz`` files, each file's ORDERING header deciding its order.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .healpix_io import ORDERINGS, atomic_write

MANIFEST = "manifest.json"
SUFFIXES = (".fits", ".fit", ".fits.gz")


@dataclass(frozen=True)
class MapCollection:
    """Map files and their classes. ``files``: absolute paths; ``labels``: (n_maps,) int indices into
    ``classes``; ``ordering``: forced RING/NESTED, or None for each file's header."""

    root: Path
    files: tuple[Path, ...]
    labels: np.ndarray
    classes: tuple[str, ...]
    ordering: str | None = None

    def __post_init__(self) -> None:
        if len(self.files) != len(self.labels):
            raise ValueError(f"{len(self.files)} files but {len(self.labels)} labels")
        if self.ordering is not None and self.ordering not in ORDERINGS:
            raise ValueError(f"ordering must be one of {ORDERINGS} or None, got {self.ordering!r}")
        counts = np.bincount(self.labels, minlength=len(self.classes))
        if len(self.classes) < 2 or len(counts) > len(self.classes) or counts.min() == 0:
            per_class = dict(zip(self.classes, counts.tolist(), strict=False))
            raise ValueError(f"{self.root}: need maps of at least 2 classes, found {per_class}")

    @property
    def n_maps(self) -> int:
        return len(self.files)

    @classmethod
    def from_folder(cls, root: str | os.PathLike, ordering: str | None = None) -> MapCollection:
        """Read ``root``'s ``manifest.json``, or else its class sub-folders (see the module docstring)."""
        root = Path(root).expanduser().resolve()
        if not root.is_dir():
            raise ValueError(f"data folder {root} does not exist")
        manifest = root / MANIFEST
        if manifest.is_file():
            return cls._from_manifest(root, manifest, ordering)
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        files, labels = [], []
        for label, folder in enumerate(folders):
            found = sorted(p for p in folder.iterdir() if p.name.lower().endswith(SUFFIXES))
            files += found
            labels += [label] * len(found)
        if not files:
            raise ValueError(
                f"{root} has no {MANIFEST} and no class sub-folders with FITS maps ({', '.join(SUFFIXES)})"
            )
        return cls(root, tuple(files), np.array(labels), tuple(f.name for f in folders), ordering)

    @classmethod
    def _from_manifest(cls, root: Path, manifest: Path, ordering: str | None) -> MapCollection:
        try:
            spec = json.loads(manifest.read_text())
            classes = tuple(spec["classes"])
            entries = spec["maps"]
            files = tuple((root / m["file"]).resolve() for m in entries)
            names = [m["class"] for m in entries]
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(
                f"{manifest}: not a valid manifest ({err!r}); it needs 'classes' and 'maps' with "
                "'file' and 'class' for each map"
            ) from None
        unknown = sorted(set(names) - set(classes))
        if unknown:
            raise ValueError(f"{manifest}: classes {unknown} are not in 'classes' {list(classes)}")
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise ValueError(f"{manifest}: {len(missing)} map files are missing, e.g. {missing[0]}")
        labels = np.array([classes.index(n) for n in names], dtype=np.int64)
        return cls(root, files, labels, classes, ordering or spec.get("ordering"))

    def write_manifest(self, overwrite: bool = False) -> Path:
        """Write ``root/manifest.json`` (atomically; an existing one only with ``overwrite``)."""
        spec = {
            "classes": list(self.classes),
            "ordering": self.ordering,
            "maps": [
                {"file": os.path.relpath(f, self.root), "class": self.classes[label]}
                for f, label in zip(self.files, self.labels.tolist(), strict=True)
            ],
        }
        return atomic_write(
            self.root / MANIFEST, lambda tmp: tmp.write_text(json.dumps(spec, indent=1)), overwrite
        )
