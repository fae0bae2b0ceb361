"""Graphs of sphere pixels: who talks to whom and how strongly.

- :func:`knn_graph` — k nearest neighbours, Gaussian weights, for any sampling or point set.
- :func:`healpix_graph` — the exact HEALPix 8-neighbour adjacency.
- :func:`radius_graph` — all pairs within a geodesic radius, for irregular point sets.
- :class:`SphereGraph` — weights, Laplacians, λmax, the graph Fourier basis;
  :func:`to_torch_sparse` hands a matrix to PyTorch; :func:`estimate_lmax` bounds a spectrum.
"""

from .graph import SphereGraph, estimate_lmax, to_torch_sparse
from .healpix import healpix_graph
from .kernel import default_kernel_width
from .knn import knn_graph
from .radius import radius_graph

__all__ = [
    "SphereGraph",
    "default_kernel_width",
    "estimate_lmax",
    "healpix_graph",
    "knn_graph",
    "radius_graph",
    "to_torch_sparse",
]
