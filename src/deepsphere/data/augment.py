"""Random rigid motions for data augmentation: rotations uniform on SO(3) and small translations.

The 3D-shape papers (Cohen et al. 2018, DeepSphere) augment each shape with random rotations (the
"perturbed" setting) and random translations of up to 0.1 of the shape's radius before casting rays.
"""

from __future__ import annotations

import numpy as np


def _generator(seed: int | np.random.Generator | None, name: str = "seed") -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)):
        return np.random.default_rng(seed)
    raise TypeError(f"{name} must be an int, a numpy.random.Generator or None, got {type(seed).__name__}")


def _check_count(n: int | None) -> None:
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0):
        raise ValueError(f"n must be None or a non-negative int, got {n!r}")


def random_rotation_matrix(seed: int | np.random.Generator | None = None, n: int | None = None) -> np.ndarray:
    """Rotation matrices drawn uniformly (Haar measure) on SO(3).

    A unit quaternion ``q = (w, x, y, z) = g / ‖g‖`` with ``g ~ N(0, I₄)`` is uniform on the 3-sphere,
    and ``q ↦ R(q)`` maps it to the Haar measure on SO(3), with

    ``R = [[1-2(y²+z²), 2(xy-wz), 2(xz+wy)],
    [2(xy+wz), 1-2(x²+z²), 2(yz-wx)], [2(xz-wy), 2(yz+wx), 1-2(x²+y²)]]``.

    Parameters
    ----------
    seed : int, numpy.random.Generator or None
        Source of randomness.
    n : int or None
        Number of matrices; None for a single one.

    Returns
    -------
    ndarray, shape (3, 3) or (n, 3, 3), float64
        Orthogonal matrices with determinant +1, acting on column vectors (``x' = R @ x``).

    Examples
    --------
    >>> R = random_rotation_matrix(0)
    >>> bool(np.allclose(R @ R.T, np.eye(3))), round(float(np.linalg.det(R)), 12)
    (True, 1.0)
    """
    _check_count(n)
    rng = _generator(seed)
    g = rng.standard_normal((1 if n is None else n, 4))
    w, x, y, z = (g / np.linalg.norm(g, axis=1, keepdims=True)).T
    rotations = np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=-1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=-1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1),
        ],
        axis=1,
    )
    return rotations[0] if n is None else rotations


def random_translation(
    seed: int | np.random.Generator | None = None, scale: float = 0.1, n: int | None = None
) -> np.ndarray:
    """Translation vectors in a uniformly random direction with a length uniform in ``[0, scale)``.

    This is the translation of Cohen et al.'s SHREC'17 augmentation (length ``U(0, scale)`` along a
    random direction), in the units of the shape (normalised to about the unit ball).

    Parameters
    ----------
    seed : int, numpy.random.Generator or None
        Source of randomness.
    scale : float
        Largest length, ``>= 0``.
    n : int or None
        Number of vectors; None for a single one.

    Returns
    -------
    ndarray, shape (3,) or (n, 3), float64

    Examples
    --------
    >>> t = random_translation(0, scale=0.1)
    >>> t.shape, bool(np.linalg.norm(t) < 0.1)
    ((3,), True)
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise TypeError(f"scale must be a number, got {type(scale).__name__}")
    if not np.isfinite(scale) or scale < 0:
        raise ValueError(f"scale must be a finite number >= 0, got {scale!r}")
    _check_count(n)
    rng = _generator(seed)
    count = 1 if n is None else n
    direction = rng.standard_normal((count, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    vectors = direction * (scale * rng.random(count))[:, None]
    return vectors[0] if n is None else vectors
