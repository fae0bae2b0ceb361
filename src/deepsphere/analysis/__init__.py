"""Analyses of spherical operators and models (numpy, scipy and healpy only: no torch needed).

- :func:`equivariance_error` — the DeepSphere ICLR 2020 normalized equivariance error
  ``E = (‖R L f − L R f‖ / ‖L f‖)²`` of any operator on HEALPix maps, per spherical-harmonic degree.
- :func:`rotate_map`, :func:`random_rotation`, :func:`rotation_matrix` — rotations of HEALPix maps
  in harmonic space (ZYZ Euler angles, radians).
- :func:`harmonic_signals` — random real maps of a single degree ℓ, with their ``a_ℓm``.
- :func:`patch_grid` — the square face grid of the ``12·4^m`` equal-area NESTED patches of the cosmology task.
- :func:`power_spectrum_features`, :func:`power_spectrum_ells` — flat-sky log power spectrum of each patch in
  logarithmic multipole bins, and the bins' ℓ.
- :func:`histogram_edges`, :func:`histogram_features` — normalised pixel-value histograms of each patch.
- :func:`linear_svm`, :class:`SVMResult` — the classical baseline: standardised features, linear SVM, C chosen
  on validation (needs scikit-learn: extra ``deepsphere[cosmo]``).
"""

from .baselines import (
    SVMResult,
    histogram_edges,
    histogram_features,
    linear_svm,
    patch_grid,
    power_spectrum_ells,
    power_spectrum_features,
)
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
    "SVMResult",
    "equivariance_error",
    "harmonic_signals",
    "histogram_edges",
    "histogram_features",
    "linear_svm",
    "patch_grid",
    "power_spectrum_ells",
    "power_spectrum_features",
    "random_rotation",
    "rotate_map",
    "rotation_matrix",
]
