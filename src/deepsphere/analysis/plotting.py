"""Everyday plots of maps, graphs and graph Fourier modes, for any sampling (full sphere or partial sky).

Views are drawn with healpy's projectors (:mod:`healpy.projector`: Mollweide, orthographic, Cartesian,
gnomonic), which give an image grid and its directions without pyplot's global state; the image is
filled from the map and drawn on a :class:`matplotlib.figure.Figure` (or on the axes you pass). Each
image cell takes the value of

- for HEALPix, the pixel that contains the cell's direction (``healpy.vec2pix``, as in ``healpy.mollview``);
- for any other sampling, the nearest pixel centre (a k-d tree on unit vectors, :func:`interpolate_to_grid`).

On a partial sky a cell whose direction has no kept pixel (HEALPix: its pixel is not in ``indices``;
others: no pixel centre within ``max_distance``) is left blank, drawn light grey: nothing is invented.
matplotlib is an optional extra (``deepsphere[plot]``), imported inside the functions.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import healpy as hp
import numpy as np
import scipy.sparse as sp
from healpy import projector
from scipy.spatial import cKDTree

from ..data import atomic_write
from ..graph import SphereGraph
from ..sampling import HEALPix, PointCloud, Sampling
from .spectrum import check_int, graph_spectrum

MAP_VIEWS = ("mollweide", "orthographic", "cartesian")
GRAPH_VIEWS = ("orthographic", "3d")
# On a partial sky (not HEALPix), directions farther than this many mean pixel spacings
# sqrt(4π / npix_full) from every kept pixel centre are blank.
BLANK_SPACINGS = 1.5
# A zoomed patch of angular radius up to this is drawn in a gnomonic view, larger ones in a Cartesian one.
MAX_GNOMONIC_RADIUS = np.radians(60.0)
BLANK_COLOUR = "0.85"


def plot_map(
    values: Any,
    sampling: Sampling,
    view: str = "mollweide",
    ax: Any = None,
    title: str | None = None,
    cmap: str = "viridis",
    rot_deg: tuple[float, float] | None = None,
    zoom: bool = False,
    resolution: int = 800,
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    flip: str = "astro",
) -> Any:
    """Draw a map on the sphere: Mollweide, orthographic (one hemisphere) or Cartesian (lon/lat) view.

    Parameters
    ----------
    values : ndarray (npix,)
        One finite value per pixel of ``sampling`` (HEALPix in the sampling's ordering, NESTED by default).
    sampling : Sampling
        Any sampling, full or partial sky.
    view : str
        ``"mollweide"``, ``"orthographic"`` (the hemisphere centred on ``rot_deg``) or ``"cartesian"``.
    ax : matplotlib Axes, optional
        Draw there; by default on a new Figure.
    title, cmap, vmin, vmax :
        As in matplotlib (the colour range defaults to the values' range).
    rot_deg : (lon_deg, lat_deg), optional
        Centre of the view, degrees (healpy's ``rot``); default (0, 0).
    zoom : bool
        For a partial sky: show only the patch, in a gnomonic view centred on it, or when its angular
        radius exceeds 60° a Cartesian view of its longitude and latitude range (centred on its mean
        longitude); ``view`` and ``rot_deg`` are then unused.
    resolution : int
        Width of the image in cells, ≥ 16.
    colorbar : bool
        Add a horizontal colour bar (a second axes).
    flip : str
        ``"astro"`` (east to the left, healpy's default) or ``"geo"`` (east to the right).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on; the map is its ``images[-1]`` on the axes.
    """
    values = _check_values(values, sampling)
    view = _check_choice(view, "view", MAP_VIEWS)
    resolution = _check_resolution(resolution)
    flip = _check_choice(flip, "flip", ("astro", "geo"))
    if zoom and sampling.is_full:
        raise ValueError("zoom=True needs a partial sky (a sampling with indices); this sampling is full")
    if zoom and rot_deg is not None:
        raise ValueError("rot_deg must be None with zoom=True: the view is centred on the patch")
    rot = None if rot_deg is None else _check_rot(rot_deg)
    proj = _zoom_projector(sampling, resolution, flip) if zoom else _projector(view, rot, resolution, flip)
    image = proj.projmap(np.append(values, np.nan), _pixel_lookup(sampling))
    ax = _axes(ax, (8.0, 4.6) if view == "mollweide" and not zoom else (6.0, 5.6))
    _draw_image(ax, image, proj.get_extent(), cmap, vmin, vmax, colorbar)
    if not zoom:
        _draw_outline(ax, view)
    if title is not None:
        ax.set_title(title)
    return ax.figure


def interpolate_to_grid(
    values: Any, sampling: Sampling, nlat: int, nlon: int, max_distance: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ma.MaskedArray]:
    """Nearest-pixel interpolation of a map onto a regular longitude–latitude grid.

    Grid cell (i, j) is centred at ``lat_i = −π/2 + π (i + ½) / nlat`` and ``lon_j = 2π (j + ½) / nlon``
    (radians) and takes the value of the pixel whose centre is nearest (largest ``x · p``, a k-d tree on
    unit vectors): the Voronoi cells of the pixels, for every sampling (HEALPix included).

    Parameters
    ----------
    values : ndarray (npix,)
        Finite values, one per pixel of ``sampling``.
    sampling : Sampling
    nlat, nlon : int
        Grid size, ≥ 1.
    max_distance : float, optional
        Radians: cells farther than this from every pixel centre are masked. Default: none on a full
        sampling, ``1.5 · sqrt(4π / npix_full)`` (1.5 mean pixel spacings of the full sampling) on a
        partial sky, so that cells outside the patch are masked, never invented.

    Returns
    -------
    lon : ndarray (nlon,)
    lat : ndarray (nlat,), south to north
    grid : numpy.ma.MaskedArray (nlat, nlon), float64

    Examples
    --------
    >>> from deepsphere.sampling import HEALPix
    >>> s = HEALPix(nside=1)
    >>> lon, lat, grid = interpolate_to_grid(np.arange(12.0), s, nlat=3, nlon=8)
    >>> grid[1].tolist()  # on the equator, the base pixels 4-7 centred at longitudes 0, π/2, π, 3π/2
    [4.0, 5.0, 5.0, 6.0, 6.0, 7.0, 7.0, 4.0]
    """
    values = _check_values(values, sampling)
    nlat, nlon = check_int(nlat, "nlat", 1), check_int(nlon, "nlon", 1)
    lon = 2 * np.pi * (np.arange(nlon) + 0.5) / nlon
    lat = -np.pi / 2 + np.pi * (np.arange(nlat) + 0.5) / nlat
    grid_lon, grid_lat = np.meshgrid(lon, lat)
    xyz = np.stack(
        [np.cos(grid_lat) * np.cos(grid_lon), np.cos(grid_lat) * np.sin(grid_lon), np.sin(grid_lat)], axis=-1
    )
    rows = _nearest_rows(sampling, xyz.reshape(-1, 3), _max_chord(sampling, max_distance)).reshape(nlat, nlon)
    missing = rows == sampling.npix
    grid = np.ma.masked_array(np.append(values, np.nan)[rows], mask=missing)
    return lon, lat, grid


def plot_graph(
    graph: SphereGraph,
    sampling: Sampling | None = None,
    ax: Any = None,
    view: str = "orthographic",
    max_edges: int = 4000,
    rot_deg: tuple[float, float] | None = None,
) -> Any:
    """Draw a graph's vertices and edges on the sphere.

    Parameters
    ----------
    graph : SphereGraph
    sampling : Sampling, optional
        Where the vertices are, if the graph has no ``coords``.
    ax : matplotlib Axes, optional
        Draw there (a 3-D axes for ``view="3d"``); by default on a new Figure.
    view : str
        ``"orthographic"``: the hemisphere centred on ``rot_deg`` only (vertices and edges with both ends
        on it), edges as straight segments; ``"3d"``: the whole graph on a 3-D axes.
    max_edges : int
        Draw at most this many edges (≥ 1), evenly spread over the edge list when there are more.
    rot_deg : (lon_deg, lat_deg), optional
        Centre of the orthographic view, degrees; default (0, 0).

    Returns
    -------
    matplotlib.figure.Figure
        Edges are the axes' first collection, vertices the second.
    """
    if not isinstance(graph, SphereGraph):
        raise ValueError(f"graph must be a SphereGraph, got {type(graph).__name__}")
    coords = _graph_coords(graph, sampling)
    view = _check_choice(view, "view", GRAPH_VIEWS)
    max_edges = check_int(max_edges, "max_edges", 1)
    rot = None if rot_deg is None else _check_rot(rot_deg)
    upper = sp.triu(graph.weights, k=1).tocoo()
    edges = np.stack([upper.row, upper.col], axis=1)
    if len(edges) > max_edges:
        edges = edges[np.linspace(0, len(edges) - 1, max_edges).round().astype(np.int64)]
    if view == "3d":
        ax = _axes(ax, (6.0, 6.0), projection="3d")
        if getattr(ax, "name", "") != "3d":
            raise ValueError("view='3d' needs a 3-D axes (add_subplot(projection='3d')) as ax")
        _draw_graph_3d(ax, coords, edges)
    else:
        ax = _axes(ax, (6.0, 6.0))
        _draw_graph_orthographic(ax, coords, edges, rot)
    return ax.figure


def plot_fourier_modes(
    graph: SphereGraph,
    n_modes: int = 16,
    sampling: Sampling | None = None,
    view: str = "mollweide",
    normalized: bool = False,
    resolution: int = 240,
) -> Any:
    """The first graph Fourier modes (Laplacian eigenvectors, :func:`graph_spectrum`) as small maps.

    Mode i is titled with its nominal degree ℓ = ⌊√i⌋ (a sphere-like graph has 2ℓ+1 modes per degree)
    and its eigenvalue λ. Each map has its own symmetric colour range.

    Parameters
    ----------
    graph : SphereGraph
    n_modes : int
        Number of modes, 1 ≤ n_modes ≤ number of vertices.
    sampling : Sampling, optional
        The vertices' sampling (a HEALPix one is drawn pixel by pixel); default a PointCloud of the
        graph's ``coords``.
    view : str
        As in :func:`plot_map`.
    normalized : bool
        Combinatorial (False) or normalized Laplacian.
    resolution : int
        Width of each small map in cells.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per mode.
    """
    if not isinstance(graph, SphereGraph):
        raise ValueError(f"graph must be a SphereGraph, got {type(graph).__name__}")
    view = _check_choice(view, "view", MAP_VIEWS)
    n_modes = check_int(n_modes, "n_modes", 1)
    if n_modes > graph.n_vertices:
        raise ValueError(
            f"n_modes must be at most the number of vertices ({graph.n_vertices}), got {n_modes}"
        )
    coords = _graph_coords(graph, sampling)
    if sampling is None:
        sampling = PointCloud.from_coords(coords)
    values, vectors = graph_spectrum(graph, n_modes, normalized=normalized)
    ncols = int(np.ceil(np.sqrt(n_modes)))
    nrows = int(np.ceil(n_modes / ncols))
    height = 0.55 if view == "mollweide" else 1.0
    fig = new_figure((2.6 * ncols, 2.6 * height * nrows + 0.4))
    for i in range(n_modes):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        scale = float(np.abs(vectors[:, i]).max())
        plot_map(
            vectors[:, i],
            sampling,
            view=view,
            ax=ax,
            cmap="RdBu_r",
            vmin=-scale,
            vmax=scale,
            colorbar=False,
            resolution=resolution,
        )
        ax.set_title(f"ℓ={int(np.sqrt(i))}, λ={values[i]:.3g}", fontsize=8)
    return fig


def save_figure(fig: Any, path: str | os.PathLike, overwrite: bool = False, dpi: int = 110) -> Path:
    """Save a figure atomically (temp file + rename); refuse to replace a file unless ``overwrite``.

    The format comes from the suffix of ``path`` (png, pdf, svg, …).
    """
    if not hasattr(fig, "savefig") or not hasattr(fig, "canvas"):
        raise ValueError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ValueError(
            f"path must end in one of {', '.join('.' + f for f in supported)}, got {path.name!r}"
        )
    return atomic_write(
        path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight"), overwrite=overwrite
    )


def new_figure(figsize: tuple[float, float]) -> Any:
    """A :class:`matplotlib.figure.Figure` outside pyplot's state, or a clear error without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "plotting needs matplotlib: pip install 'deepsphere[plot]'", name="matplotlib"
        ) from err
    return Figure(figsize=figsize)


# -- projections ------------------------------------------------------------------------------------------


def _projector(view: str, rot: tuple[float, float] | None, resolution: int, flip: str) -> Any:
    if view == "mollweide":
        return projector.MollweideProj(rot=rot, xsize=resolution, flipconv=flip)
    if view == "orthographic":
        return projector.OrthographicProj(rot=rot, xsize=resolution, half_sky=True, flipconv=flip)
    return projector.CartesianProj(rot=rot, xsize=resolution, flipconv=flip)


def _zoom_projector(sampling: Sampling, resolution: int, flip: str) -> Any:
    """A gnomonic (or, for a large patch, Cartesian) view just covering the partial sky."""
    coords = sampling.coords
    mean = coords.mean(axis=0)
    centre = mean / np.linalg.norm(mean) if np.linalg.norm(mean) > 1e-6 else coords[0]
    margin = np.sqrt(4 * np.pi / sampling.npix_full)  # about one pixel
    radius = float(np.arccos(np.clip(coords @ centre, -1, 1)).max()) + margin
    rot = (float(np.degrees(np.arctan2(centre[1], centre[0]))), float(np.degrees(np.arcsin(centre[2]))))
    if radius <= MAX_GNOMONIC_RADIUS:
        reso_arcmin = np.degrees(2 * np.tan(radius) / resolution) * 60
        return projector.GnomonicProj(rot=rot, xsize=resolution, reso=reso_arcmin, flipconv=flip)
    rot = (rot[0], 0.0)  # a large patch: parallels stay horizontal, the patch's longitude is centred
    lon_deg, lat_deg = _rotated_lonlat(coords, rot)
    pad = np.degrees(margin)
    lonra = [max(lon_deg.min() - pad, -180.0), min(lon_deg.max() + pad, 180.0)]
    latra = [max(lat_deg.min() - pad, -90.0), min(lat_deg.max() + pad, 90.0)]
    return projector.CartesianProj(rot=rot, xsize=resolution, lonra=lonra, latra=latra, flipconv=flip)


def _rotated_lonlat(coords: np.ndarray, rot: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes (degrees) of unit vectors in the frame where ``rot`` is (0, 0)."""
    rotated = hp.Rotator(rot=rot, eulertype="ZYX", deg=True)(coords.T.copy())  # as healpy's projectors
    theta, phi = hp.vec2dir(np.asarray(rotated))
    return (np.degrees(phi) + 180.0) % 360.0 - 180.0, 90.0 - np.degrees(theta)


def _pixel_lookup(sampling: Sampling) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """A ``vec2pix``-like function: rows of the map for directions, ``npix`` where there is no pixel."""
    if isinstance(sampling, HEALPix):
        kept = sampling.indices

        def healpix_rows(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
            pix = hp.vec2pix(sampling.nside, x, y, z, nest=sampling.nest)
            if kept is None:
                return pix
            pos = np.minimum(np.searchsorted(kept, pix), len(kept) - 1)
            return np.where(kept[pos] == pix, pos, sampling.npix)

        return healpix_rows
    max_chord = _max_chord(sampling, None)

    def nearest_rows(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        return _nearest_rows(sampling, np.stack([x, y, z], axis=-1), max_chord)

    return nearest_rows


def _nearest_rows(sampling: Sampling, xyz: np.ndarray, max_chord: float) -> np.ndarray:
    """Row of the nearest pixel centre for each direction (n, 3); ``npix`` if none within ``max_chord``."""
    tree = cKDTree(sampling.coords)
    _, rows = tree.query(xyz, k=1, distance_upper_bound=max_chord)
    return np.asarray(rows, dtype=np.int64)  # the tree answers npix when no point is within the bound


def _max_chord(sampling: Sampling, max_distance: float | None) -> float:
    """Chord length of the blanking distance (see :func:`interpolate_to_grid`); inf for none."""
    if max_distance is None:
        if sampling.is_full:
            return np.inf
        max_distance = BLANK_SPACINGS * np.sqrt(4 * np.pi / sampling.npix_full)
    elif not isinstance(max_distance, (int, float, np.floating, np.integer)) or not max_distance > 0:
        raise ValueError(f"max_distance must be a positive angle in radians, got {max_distance!r}")
    if max_distance >= np.pi:
        return np.inf
    return float(2 * np.sin(max_distance / 2)) * (1 + 1e-12)


# -- drawing ----------------------------------------------------------------------------------------------


def _axes(ax: Any, figsize: tuple[float, float], projection: str | None = None) -> Any:
    if ax is None:
        return new_figure(figsize).add_subplot(projection=projection)
    if not hasattr(ax, "imshow") or not hasattr(ax, "figure"):
        raise ValueError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    return ax


def _draw_image(
    ax: Any,
    image: np.ndarray,
    extent: Any,
    cmap: str,
    vmin: float | None,
    vmax: float | None,
    colorbar: bool,
) -> None:
    from matplotlib.colors import ListedColormap

    blank = np.isnan(image)  # in the view but no pixel there; outside the view is -inf
    extent = tuple(float(e) for e in extent)
    if blank.any():
        ax.imshow(
            np.ma.masked_array(np.zeros(image.shape), mask=~blank),
            cmap=ListedColormap([BLANK_COLOUR]),
            extent=extent,
            origin="lower",
            interpolation="nearest",
        )
    shown = np.ma.masked_invalid(image)
    mapped = ax.imshow(
        shown, cmap=cmap, vmin=vmin, vmax=vmax, extent=extent, origin="lower", interpolation="nearest"
    )
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if colorbar:
        ax.figure.colorbar(mapped, ax=ax, orientation="horizontal", fraction=0.05, pad=0.04, shrink=0.6)


def _draw_graph_3d(ax: Any, coords: np.ndarray, edges: np.ndarray) -> None:
    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    ax.add_collection3d(Line3DCollection(coords[edges], colors="C0", linewidths=0.5, alpha=0.6))
    ax.scatter(*coords.T, s=4, color="k", depthshade=False)
    ax.set_box_aspect((1, 1, 1))
    for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
        setter(-1, 1)
    ax.set_axis_off()


def _draw_graph_orthographic(
    ax: Any, coords: np.ndarray, edges: np.ndarray, rot: tuple[float, float] | None
) -> None:
    """Vertices on the hemisphere centred on ``rot``, and the edges with both ends there."""
    from matplotlib.collections import LineCollection

    x, y = projector.OrthographicProj(rot=rot, xsize=16, half_sky=True).vec2xy(*coords.T.copy())
    front = np.isfinite(x)  # healpy gives NaN on the far hemisphere
    edges = edges[front[edges[:, 0]] & front[edges[:, 1]]]
    ax.add_collection(LineCollection(np.stack([x, y], axis=1)[edges], colors="C0", linewidths=0.5, alpha=0.6))
    ax.scatter(x[front], y[front], s=4, color="k")
    _draw_outline(ax, "orthographic")
    ax.set_xlim(-1.02, 1.02)
    ax.set_ylim(-1.02, 1.02)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_outline(ax: Any, view: str) -> None:
    """The edge of the projected sphere: an ellipse (Mollweide) or the unit circle; no frame."""
    if view == "cartesian":
        return
    from matplotlib.patches import Ellipse

    width, height = (4.0, 2.0) if view == "mollweide" else (2.0, 2.0)
    ax.add_patch(Ellipse((0.0, 0.0), width, height, fill=False, lw=0.6, color="0.3"))
    ax.set_frame_on(False)


# -- input checks -----------------------------------------------------------------------------------------


def _check_values(values: Any, sampling: Sampling) -> np.ndarray:
    if not isinstance(sampling, Sampling):
        raise ValueError(f"sampling must be a deepsphere Sampling, got {type(sampling).__name__}")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"values must be an array of numbers, got {type(values).__name__}") from err
    if arr.shape != (sampling.npix,):
        raise ValueError(
            f"values has shape {arr.shape}, the sampling needs ({sampling.npix},): one per pixel"
        )
    bad = ~np.isfinite(arr) | (arr == hp.UNSEEN)
    if bad.any():
        raise ValueError(
            f"values has {int(bad.sum())} NaN, infinite or UNSEEN pixels (first: pixel "
            f"{int(np.flatnonzero(bad)[0])}); describe a partial sky with the sampling's indices instead"
        )
    return arr


def _graph_coords(graph: SphereGraph, sampling: Sampling | None) -> np.ndarray:
    if sampling is not None:
        if not isinstance(sampling, Sampling):
            raise ValueError(f"sampling must be a deepsphere Sampling or None, got {type(sampling).__name__}")
        if sampling.npix != graph.n_vertices:
            raise ValueError(
                f"sampling has {sampling.npix} pixels, the graph has {graph.n_vertices} vertices: "
                "they must match"
            )
        return sampling.coords
    if graph.coords is None:
        raise ValueError("the graph has no coords: pass the sampling its vertices come from")
    return graph.coords


def _check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value


def _check_rot(rot_deg: Any) -> tuple[float, float]:
    try:
        lon, lat = (float(v) for v in rot_deg)
    except (TypeError, ValueError):
        raise ValueError(f"rot_deg must be (lon_deg, lat_deg), got {rot_deg!r}") from None
    if not (np.isfinite(lon) and -90.0 <= lat <= 90.0):
        raise ValueError(f"rot_deg must be (lon_deg, lat_deg) with lat_deg in [-90, 90], got {rot_deg!r}")
    return lon, lat


def _check_resolution(resolution: Any) -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 16:
        raise ValueError(f"resolution must be an integer ≥ 16 (image width in cells), got {resolution!r}")
    return int(resolution)
