"""k-nearest-neighbour graphs on the sphere, with Gaussian weights."""

from __future__ import annotations

from typing import Any

from ._assemble import as_points, check_k, knn_union
from ._knn_grid import knn_sphere
from .graph import SphereGraph
from .kernel import check_kernel_width, default_kernel_width


def knn_graph(sampling_or_coords: Any, k: int = 8, kernel_width: float | None = None) -> SphereGraph:
    """The symmetrised k-nearest-neighbour graph of sphere points, with Gaussian weights.

    Vertex i is joined to its k nearest points by chord distance ``d = |x_i − x_j|`` (the same order
    as the geodesic distance 2 arcsin(d/2)); the graph keeps an edge when either end chose it. Weights
    ``w_ij = exp(−ln 2 · d² / σ²)`` (see :mod:`deepsphere.graph.kernel`). The neighbours are exact
    (see :mod:`deepsphere.graph._knn_grid` for the method).

    Parameters
    ----------
    sampling_or_coords : Sampling or ndarray (n, 3)
        A sampling (full or partial sky: only its pixels are vertices, so no edge reaches a missing
        pixel) or unit vectors, taken to cover the whole sphere.
    k : int
        Neighbours per vertex, 1 ≤ k < n.
    kernel_width : float, optional
        σ; default ``c(k) · sqrt(mean pixel area)``, the DeepSphere ICLR paper's optimal widths for
        HEALPix (0.025 at nside 32 for k = 8) carried over to any sampling by the pixel spacing.

    Returns
    -------
    SphereGraph
        n vertices, between n·k/2 and n·k undirected edges.

    Examples
    --------
    >>> from deepsphere.sampling import HEALPix
    >>> g = knn_graph(HEALPix(nside=32), k=8)
    >>> g.n_vertices, round(g.kernel_width, 4)
    (12288, 0.025)
    """
    x, mean_area = as_points(sampling_or_coords)
    k = check_k(k, len(x))
    width = default_kernel_width(k, mean_area) if kernel_width is None else check_kernel_width(kernel_width)
    neighbours, sq_dist = knn_sphere(x, k, sort=False)
    weights = knn_union(neighbours, sq_dist, width)
    return SphereGraph(weights, coords=x, kernel_width=width, check=False)
