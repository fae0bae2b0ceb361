"""Samplings of the sphere: where the pixels are, their areas, and their hierarchy.

Every sampling has ``npix``, ``coords`` (npix, 3), ``lon``/``lat`` (radians), ``area`` (steradians,
summing to 4π on a full sphere) and, if hierarchical, :meth:`~Sampling.coarsen`. A partial sky is a
sampling built with ``indices``.
"""

from .base import Sampling
from .cubed_sphere import CubedSphere
from .equiangular import Equiangular
from .gauss_legendre import GaussLegendre
from .healpix import HEALPix
from .icosahedral import Icosahedral
from .point_cloud import PointCloud

__all__ = [
    "Sampling",
    "CubedSphere",
    "Equiangular",
    "GaussLegendre",
    "HEALPix",
    "Icosahedral",
    "PointCloud",
]
