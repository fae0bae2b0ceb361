"""Radius graphs: every pair of points closer than a given distance, for irregular point sets."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from ._assemble import as_points
from .graph import SphereGraph
from .kernel import as_real, check_kernel_width, gaussian_weights


def radius_graph(sampling_or_coords: Any, radius: float, kernel_width: float | None = None) -> SphereGraph:
    """Join every pair of points whose geodesic distance is at most ``radius`` (radians).

    Weights ``exp(−ln 2 · d² / σ²)`` on chord distances d. Suited to irregular point sets (weather
    stations) where a k-NN graph would join distant isolated points; vertices with no neighbour
    within the radius stay isolated (a warning says how many).

    Parameters
    ----------
    sampling_or_coords : Sampling or ndarray (n, 3)
        Points on the unit sphere.
    radius : float
        Geodesic radius in radians, in (0, π].
    kernel_width : float, optional
        σ (chord units); default ``chord(radius) / 2``, so that the weight at the radius is 1/16.
    """
    x, _ = as_points(sampling_or_coords)
    value = as_real(radius)
    if value is None or not 0 < value <= np.pi:
        raise ValueError(f"radius must be a number of radians in (0, π], got {radius!r}")
    radius = value
    chord = 2 * np.sin(radius / 2)
    width = chord / 2 if kernel_width is None else check_kernel_width(kernel_width)
    pairs = cKDTree(x).query_pairs(chord, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    sq_dist = ((x[i] - x[j]) ** 2).sum(axis=1)
    w = gaussian_weights(sq_dist, width)
    n = len(x)
    weights = sp.csr_matrix(
        (np.concatenate([w, w]), (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(n, n)
    )
    isolated = int(np.count_nonzero(np.diff(weights.indptr) == 0))
    if isolated:
        warnings.warn(
            f"{isolated} of {n} points have no neighbour within radius={radius:.4g} rad",
            stacklevel=2,
        )
    return SphereGraph(weights, coords=x, kernel_width=width, check=False)
