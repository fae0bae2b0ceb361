"""Triangle meshes: reading and writing .obj and .off files, normalising, and casting rays from a sphere.

The 3D-shape task of Cohen et al. (2018) and DeepSphere turns a mesh into a spherical signal: from each
pixel ``u`` of a sampling, a ray starts at ``r·u`` on a sphere enclosing the shape and travels toward the
centre (direction ``-u``). Its first hit gives three features — the ray length from the sphere to the
hit (depth), and the cosine and sine of the angle between the ray and the hit face's normal — and the
same three on the mesh's convex hull make six channels (:func:`project_mesh`).

Meshes are read by this module's own parsers (:func:`load_mesh`): they keep the files' vertices and
faces as they are (no merging, no UV splitting), triangulate polygons as fans, accept ModelNet's .off
files whose header is merged with the counts line (``OFF490 518 0``), and report unreadable, empty and
degenerate meshes with the file's name (:class:`MeshError`). trimesh (extra ``deepsphere[shapes]``)
holds the meshes and casts the rays, with Embree when ``embreex`` is installed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .healpix_io import atomic_write

if TYPE_CHECKING:
    import trimesh

MESH_SUFFIXES = (".obj", ".off")
ENGINES = ("auto", "embree", "triangle")
FEATURES = ("depth", "cos", "sin", "hull_depth", "hull_cos", "hull_sin")


class MeshError(ValueError):
    """A mesh file that cannot be used: unreadable, empty or degenerate. The message starts with its path."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def import_trimesh():
    """The trimesh module, or an ImportError that says how to install it."""
    try:
        import trimesh
    except ImportError:
        raise ImportError(
            "3D meshes need trimesh (and embreex for fast ray casting): pip install 'deepsphere[shapes]'"
        ) from None
    return trimesh


# -- reading and writing ---------------------------------------------------------------------------------


def load_mesh(path: str | os.PathLike) -> trimesh.Trimesh:
    """Read a triangle mesh from a Wavefront .obj or an .off file.

    Polygons are split into triangle fans; faces of zero area and vertices that no face uses are dropped
    (nothing else is changed: no vertex merging, the files' face winding is kept).

    Parameters
    ----------
    path : str or PathLike
        A ``.obj`` or ``.off`` file (case-insensitive suffix).

    Returns
    -------
    trimesh.Trimesh
        ``vertices`` (n_vertices, 3) float64, ``faces`` (n_faces, 3) int64.

    Raises
    ------
    MeshError
        (a ValueError) naming the file when it cannot be read or parsed, has no faces, has NaN or
        infinite vertices, or has zero total area.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise ValueError(f"path must end with one of {MESH_SUFFIXES}, got {str(path)!r}")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise MeshError(path, f"cannot read the file ({err.strerror or err})") from None
    vertices, faces = (_parse_obj if suffix == ".obj" else _parse_off)(text, path)
    return _checked_mesh(vertices, faces, path)


def save_mesh(path: str | os.PathLike, mesh: trimesh.Trimesh, overwrite: bool = False) -> Path:
    """Write ``mesh`` as a .obj (``v``/``f`` lines) or .off file, chosen by the suffix of ``path``.

    Coordinates are written with 17 significant digits (exact round trip). Atomic: the file appears
    complete or not at all; an existing file is replaced only with ``overwrite=True``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise ValueError(f"path must end with one of {MESH_SUFFIXES}, got {str(path)!r}")
    vertices, faces = _check_mesh_arrays(mesh)
    points = [f"{x:.17g} {y:.17g} {z:.17g}" for x, y, z in vertices.tolist()]
    if suffix == ".obj":
        lines = [f"v {p}" for p in points] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces.tolist()]
    else:
        lines = ["OFF", f"{len(vertices)} {len(faces)} 0", *points]
        lines += [f"3 {a} {b} {c}" for a, b, c in faces.tolist()]
    text = "\n".join(lines) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), overwrite)


def _parse_obj(text: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    vertices: list[list[str]] = []
    faces: list[tuple[int, int, int]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "v":
            if len(parts) < 4:
                raise MeshError(path, f"line {number}: a vertex needs 3 coordinates, got {line.strip()!r}")
            vertices.append(parts[1:4])
        elif parts[0] == "f":
            try:
                corners = [int(token.split("/")[0]) for token in parts[1:]]
            except ValueError:
                raise MeshError(path, f"line {number}: bad face {line.strip()!r}") from None
            count = len(vertices)
            if any(c == 0 or c > count or c < -count for c in corners):
                raise MeshError(path, f"line {number}: face {line.strip()!r} refers to a missing vertex")
            corners = [c - 1 if c > 0 else count + c for c in corners]
            faces += [(corners[0], corners[k], corners[k + 1]) for k in range(1, len(corners) - 1)]
    try:
        coords = np.array(vertices, dtype=np.float64).reshape(-1, 3)
    except ValueError:
        raise MeshError(path, "a vertex line has coordinates that are not numbers") from None
    return coords, np.array(faces, dtype=np.int64).reshape(-1, 3)


def _parse_off(text: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise MeshError(path, "empty file")
    head = lines[0]
    if not head.startswith("OFF"):
        raise MeshError(path, f"not an OFF file: the first line {head[:40]!r} does not start with 'OFF'")
    counts, body = head[3:].split(), lines[1:]  # ModelNet: "OFF490 518 0" holds the counts on the header line
    if not counts and body:
        counts, body = body[0].split(), body[1:]
    try:
        n_vertices, n_faces = int(counts[0]), int(counts[1])
    except (IndexError, ValueError):
        raise MeshError(
            path, f"bad counts line {' '.join(counts)!r}: need 'n_vertices n_faces n_edges'"
        ) from None
    if n_vertices < 0 or n_faces < 0:
        raise MeshError(path, f"negative counts {n_vertices} vertices, {n_faces} faces")
    if len(body) < n_vertices + n_faces:
        raise MeshError(
            path,
            f"truncated: header announces {n_vertices} vertices and {n_faces} faces, found {len(body)} lines",
        )
    try:
        rows = [line.split()[:3] for line in body[:n_vertices]]
        vertices = np.array(rows, dtype=np.float64).reshape(-1, 3) if rows else np.empty((0, 3))
    except ValueError:
        vertices = np.empty(0)
    if vertices.shape != (n_vertices, 3):
        raise MeshError(path, "a vertex line does not hold 3 numbers")
    faces: list[tuple[int, int, int]] = []
    for line in body[n_vertices : n_vertices + n_faces]:
        tokens = line.split()
        try:
            n_corners = int(tokens[0])
            corners = [int(t) for t in tokens[1 : 1 + n_corners]]
        except ValueError:
            raise MeshError(path, f"bad face line {line!r}") from None
        if len(corners) != n_corners or any(c < 0 or c >= n_vertices for c in corners):
            raise MeshError(path, f"face line {line!r} refers to a missing vertex")
        faces += [(corners[0], corners[k], corners[k + 1]) for k in range(1, n_corners - 1)]
    return vertices, np.array(faces, dtype=np.int64).reshape(-1, 3)


def _checked_mesh(vertices: np.ndarray, faces: np.ndarray, path: Path) -> trimesh.Trimesh:
    trimesh = import_trimesh()
    if len(faces) == 0:
        raise MeshError(path, f"no faces ({len(vertices)} vertices)")
    bad = ~np.isfinite(vertices).all(axis=1)
    if bad.any():
        raise MeshError(path, f"{int(bad.sum())} of {len(vertices)} vertices are NaN or infinite")
    corners = vertices[faces]
    areas = 0.5 * np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    extent = float(np.ptp(vertices[faces.ravel()], axis=0).max())
    keep = areas > 1e-14 * extent**2
    if not keep.any():
        raise MeshError(path, f"degenerate: all {len(faces)} faces have zero area")
    used, faces = np.unique(faces[keep], return_inverse=True)
    return trimesh.Trimesh(vertices[used], faces.reshape(-1, 3), process=False)


def _check_mesh_arrays(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    trimesh = import_trimesh()
    if not isinstance(mesh, trimesh.Trimesh):
        raise TypeError(f"mesh must be a trimesh.Trimesh, got {type(mesh).__name__}")
    vertices, faces = np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)
    if len(faces) == 0:
        raise ValueError(f"mesh has no faces ({len(vertices)} vertices)")
    if not np.isfinite(vertices).all():
        raise ValueError("mesh has NaN or infinite vertices")
    return vertices, faces


# -- normalising ------------------------------------------------------------------------------------------


def normalize_mesh(mesh: trimesh.Trimesh, radius: float = 0.99) -> trimesh.Trimesh:
    """A copy of ``mesh`` centred on its surface centroid, its farthest vertex at distance ``radius``.

    The centroid is the area-weighted mean of the face centroids, ``c = Σ_f a_f g_f / Σ_f a_f``; the new
    vertices are ``(v - c) · radius / max_v ‖v - c‖``. The default 0.99 is the papers' choice: rays cast
    from the unit sphere then always start outside the shape.
    """
    trimesh = import_trimesh()
    vertices, faces = _check_mesh_arrays(mesh)
    radius = _positive(radius, "radius")
    corners = vertices[faces]
    areas = 0.5 * np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    if areas.sum() <= 0:
        raise ValueError("mesh has zero area: it cannot be centred")
    centre = (areas[:, None] * corners.mean(axis=1)).sum(axis=0) / areas.sum()
    centred = vertices - centre
    return trimesh.Trimesh(centred * (radius / np.linalg.norm(centred, axis=1).max()), faces, process=False)


# -- ray casting ------------------------------------------------------------------------------------------


def project_mesh(
    mesh: trimesh.Trimesh,
    directions: np.ndarray,
    radius: float = 1.0,
    translation: np.ndarray | None = None,
    rotation: np.ndarray | None = None,
    engine: str = "auto",
) -> np.ndarray:
    """Cast one ray per direction from a sphere toward its centre; return the six SHREC'17 features.

    The mesh is first moved rigidly, ``v' = R v + t`` (``rotation`` R, ``translation`` t), and must then
    lie strictly inside the sphere of ``radius``. The ray of unit vector ``u`` starts at ``radius·u`` and
    travels along ``-u``; at its first hit, on a face of unit normal ``n``:

    - depth = the ray length from the sphere to the hit, in ``(0, 2·radius)``;
    - cos = ``|n·u|`` and sin = ``‖n × u‖``, the cosine and sine of the angle between ray and normal.

    A ray that hits nothing gets depth = ``radius`` (the distance to the centre) and cos = sin = 0, the
    convention of Cohen et al.'s code. cos takes the absolute value: the first hit of a ray from outside
    enters the shape, so on a closed, outward-oriented mesh ``n·u >= 0`` anyway (the papers' signed
    value), and the absolute value makes the feature independent of the file's face winding, which
    ShapeNet meshes do not keep consistent. Columns 3–5 repeat the three on the mesh's convex hull (the
    mesh itself if Qhull fails).

    Parameters
    ----------
    mesh : trimesh.Trimesh
        The shape, e.g. from :func:`normalize_mesh`.
    directions : ndarray, shape (npix, 3)
        Unit vectors, e.g. a sampling's ``coords``.
    radius : float
        Radius of the sphere the rays start on, in the mesh's units.
    translation : ndarray, shape (3,), optional
    rotation : ndarray, shape (3, 3), optional
        A rotation matrix (orthogonal, determinant +1) acting on column vectors.
    engine : {"auto", "embree", "triangle"}
        trimesh's Embree intersector (``embreex``), its pure-Python triangle intersector (much slower),
        or Embree when available.

    Returns
    -------
    ndarray, shape (npix, 6), float32
        Columns ``depth, cos, sin, hull_depth, hull_cos, hull_sin`` (see :data:`FEATURES`).

    Examples
    --------
    >>> import trimesh
    >>> from deepsphere.sampling import HEALPix
    >>> sphere = trimesh.creation.icosphere(subdivisions=3)            # unit sphere
    >>> features = project_mesh(sphere, HEALPix(nside=2).coords, radius=2.0)
    >>> bool(np.allclose(features[:, 0], 1.0, atol=0.01)), bool(np.allclose(features[:, 1], 1, atol=0.01))
    (True, True)
    """
    trimesh = import_trimesh()
    vertices, faces = _check_mesh_arrays(mesh)
    directions = _unit_vectors(directions)
    radius = _positive(radius, "radius")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if rotation is not None:
        vertices = vertices @ _rotation(rotation).T
    if translation is not None:
        vertices = vertices + _vector(translation, "translation")
    reach = float(np.linalg.norm(vertices, axis=1).max())
    if reach >= radius:
        raise ValueError(
            f"the mesh reaches {reach:.4g} from the centre (after rotation and translation) but rays start "
            f"at radius={radius:.4g}: normalise the mesh (normalize_mesh) or pass a larger radius"
        )
    moved = trimesh.Trimesh(vertices, faces, process=False)
    try:
        hull = moved.convex_hull
    except Exception as err:  # scipy's QhullError, raised for inputs Qhull cannot hull
        if type(err).__name__ != "QhullError":
            raise
        hull = moved
    out = np.empty((len(directions), 6), dtype=np.float32)
    out[:, :3] = _first_hits(moved, directions, radius, engine)
    out[:, 3:] = _first_hits(hull, directions, radius, engine)
    return out


def has_embree() -> bool:
    """Whether trimesh can use Embree (``embreex`` installed) for ray casting."""
    trimesh = import_trimesh()
    return bool(getattr(trimesh.ray, "has_embree", False))


def _first_hits(mesh: trimesh.Trimesh, directions: np.ndarray, radius: float, engine: str) -> np.ndarray:
    """(npix, 3) float64: depth, |cos|, sin of each ray's first hit; (radius, 0, 0) where it misses."""
    if engine == "auto":
        engine = "embree" if has_embree() else "triangle"
    if engine == "embree":
        if not has_embree():
            raise ImportError("engine='embree' needs embreex: pip install embreex (or 'deepsphere[shapes]')")
        from trimesh.ray.ray_pyembree import RayMeshIntersector
    else:
        from trimesh.ray.ray_triangle import RayMeshIntersector
    origins = radius * directions
    face, ray, location = RayMeshIntersector(mesh).intersects_id(
        origins, -directions, multiple_hits=False, return_locations=True
    )
    location = np.asarray(location, dtype=np.float64).reshape(-1, 3)
    depth = np.einsum("ij,ij->i", origins[ray] - location, directions[ray])
    order = np.argsort(-depth)  # if an engine reports a ray twice, the nearest hit is written last
    face, ray, depth = face[order], ray[order], depth[order]
    normals = np.asarray(mesh.face_normals)[face]
    out = np.zeros((len(directions), 3))
    out[:, 0] = radius
    out[ray, 0] = depth
    out[ray, 1] = np.abs(np.einsum("ij,ij->i", normals, directions[ray]))
    out[ray, 2] = np.linalg.norm(np.cross(normals, directions[ray]), axis=1)
    return out


# -- argument checks -------------------------------------------------------------------------------------


def _positive(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _unit_vectors(directions: np.ndarray) -> np.ndarray:
    u = np.asarray(directions, dtype=np.float64)
    if u.ndim != 2 or u.shape[1] != 3 or len(u) == 0:
        raise ValueError(f"directions must have shape (npix, 3) with npix >= 1, got {u.shape}")
    if not np.isfinite(u).all():
        raise ValueError("directions has NaN or infinite values")
    error = float(np.abs(np.linalg.norm(u, axis=1) - 1).max())
    if error > 1e-6:
        raise ValueError(f"directions must be unit vectors; their norms differ from 1 by up to {error:.3g}")
    return np.ascontiguousarray(u)


def _vector(value: np.ndarray, name: str) -> np.ndarray:
    t = np.asarray(value, dtype=np.float64)
    if t.shape != (3,) or not np.isfinite(t).all():
        raise ValueError(f"{name} must be 3 finite numbers, got shape {t.shape}")
    return t


def _rotation(value: np.ndarray) -> np.ndarray:
    r = np.asarray(value, dtype=np.float64)
    if r.shape != (3, 3) or not np.isfinite(r).all():
        raise ValueError(f"rotation must be a finite (3, 3) matrix, got shape {r.shape}")
    error = float(np.abs(r @ r.T - np.eye(3)).max())
    if error > 1e-6 or np.linalg.det(r) < 0:
        raise ValueError(
            f"rotation must be orthogonal with determinant +1; got |R Rᵀ - I| = {error:.3g}, "
            f"det = {np.linalg.det(r):.3g}"
        )
    return r
