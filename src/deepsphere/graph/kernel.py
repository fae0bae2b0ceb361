"""Edge weights from distances: the Gaussian kernel and its default width.

Convention (PyGSP's: the width scales the distances). For an edge of chord length ``d = |x_i − x_j|``
between unit vectors,

    w_ij = exp(−ln 2 · (d / σ)²),

so that ``σ`` (``kernel_width``, in the units of the chord, ≈ radians at short range) is the distance at
which the weight falls to 1/2.

Default width. The DeepSphere ICLR paper (Defferrard et al. 2020) tabulates, for HEALPix nside 32, the
widths that minimise the equivariance error: 0.025 for k = 8, 0.03185 for k = 20 and 0.042432 for
k = 40, halving each time nside doubles, i.e. proportional to the pixel spacing. We generalise this to
any sampling by writing the width as

    σ = c(k) · ℓ,    ℓ = sqrt(mean pixel area)    (= sqrt(4π / npix) on a full sphere),

with ``c(k)`` fixed so that HEALPix nside 32 reproduces the table (ℓ = sqrt(4π / 12288)), linearly
interpolated in k between 8, 20 and 40 and held constant outside that range.
"""

from __future__ import annotations

import numpy as np

# The DeepSphere ICLR paper's optimal widths for HEALPix nside 32, by k.
PAPER_K = np.array([8.0, 20.0, 40.0])
PAPER_WIDTH_NSIDE32 = np.array([0.025, 0.03185, 0.042432])
_SPACING_NSIDE32 = np.sqrt(4 * np.pi / (12 * 32**2))


def default_kernel_width(k: int, mean_area: float) -> float:
    """Default Gaussian width σ for a k-neighbour graph whose pixels have mean area ``mean_area`` (sr)."""
    ratio = np.interp(k, PAPER_K, PAPER_WIDTH_NSIDE32 / _SPACING_NSIDE32)
    return float(ratio * np.sqrt(mean_area))


def gaussian_weights(sq_dist: np.ndarray, kernel_width: float) -> np.ndarray:
    """``exp(−ln 2 · d² / σ²)`` for squared chord distances ``d²`` (any shape)."""
    return np.exp(sq_dist * (-np.log(2.0) / kernel_width**2))


def as_real(value: object) -> float | None:
    """``value`` as a float if it is a real number (not a bool, not a string), else None."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    return float(value)


def check_kernel_width(kernel_width: object) -> float:
    """Return a valid (positive, finite) kernel width or raise a ValueError naming it."""
    value = as_real(kernel_width)
    if value is None or not np.isfinite(value) or value <= 0:
        raise ValueError(f"kernel_width must be a positive number, got {kernel_width!r}")
    return value
