"""Analyses of spherical operators and models (numpy, scipy and healpy only: no torch needed).

- :func:`equivariance_error` — the DeepSphere ICLR 2020 normalized equivariance error
  ``E = (‖R L f − L R f‖ / ‖L f‖)²`` of any operator on HEALPix maps, per spherical-harmonic degree.
- :func:`rotate_map`, :func:`random_rotation`, :func:`rotation_matrix` — rotations of HEALPix maps
  in harmonic space (ZYZ Euler angles, radians).
- :func:`harmonic_signals` — random real maps of a single degree ℓ, with their ``a_ℓm``.
"""

from .equivariance import (
    EquivarianceResult,
    equivariance_error,
    harmonic_signals,
    random_rotation,
    rotate_map,
    rotation_matrix,
)

__all__ = [
    "EquivarianceResult",
    "equivariance_error",
    "harmonic_signals",
    "random_rotation",
    "rotate_map",
    "rotation_matrix",
]
