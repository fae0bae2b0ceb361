"""Tests of deepsphere.data.augment against properties of the Haar measure on SO(3).

For R uniform on SO(3): E[R] = 0, tr R = 1 + 2 cos θ has E[tr R] = 0 and E[(tr R)²] = 1, and R e is
uniform on the sphere for any fixed unit vector e (so its z component is uniform on [-1, 1]).
"""

import numpy as np
import pytest
from scipy import stats

from deepsphere.data.augment import random_rotation_matrix, random_translation

N = 20000


def test_rotations_are_proper_and_orthogonal():
    rotations = random_rotation_matrix(0, n=N)
    assert rotations.shape == (N, 3, 3)
    np.testing.assert_allclose(
        rotations @ rotations.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (N, 3, 3)), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(rotations), 1, atol=1e-12)


def test_rotations_are_uniform_on_so3():
    rotations = random_rotation_matrix(np.random.default_rng(1), n=N)
    sigma = np.sqrt(1 / 3 / N)  # each entry has variance 1/3
    assert np.abs(rotations.mean(axis=0)).max() < 5 * sigma
    trace = np.trace(rotations, axis1=1, axis2=2)
    assert abs(trace.mean()) < 5 * np.sqrt(1 / N)
    assert abs(np.mean(trace**2) - 1) < 5 * np.sqrt(trace.var() * 2 / N) + 0.02
    z = rotations[:, 2, :] @ np.array([0.0, 0.6, 0.8])  # z component of R e
    assert stats.kstest(z, stats.uniform(loc=-1, scale=2).cdf).pvalue > 1e-3


def test_rotations_are_deterministic_by_seed():
    np.testing.assert_array_equal(random_rotation_matrix(5), random_rotation_matrix(5))
    assert not np.allclose(random_rotation_matrix(5), random_rotation_matrix(6))
    assert random_rotation_matrix(5).shape == (3, 3)


def test_translations_have_uniform_direction_and_length():
    scale = 0.1
    vectors = random_translation(2, scale=scale, n=N)
    lengths = np.linalg.norm(vectors, axis=1)
    assert vectors.shape == (N, 3) and lengths.max() < scale
    assert stats.kstest(lengths, stats.uniform(loc=0, scale=scale).cdf).pvalue > 1e-3
    directions = vectors / lengths[:, None]
    assert np.abs(directions.mean(axis=0)).max() < 5 * np.sqrt(1 / 3 / N)
    assert stats.kstest(directions[:, 2], stats.uniform(loc=-1, scale=2).cdf).pvalue > 1e-3
    np.testing.assert_array_equal(random_translation(3, 0.1), random_translation(3, 0.1))
    np.testing.assert_array_equal(random_translation(3, 0.0), np.zeros(3))


def test_bad_arguments():
    with pytest.raises(TypeError, match="seed must be an int, a numpy.random.Generator or None, got str"):
        random_rotation_matrix("0")
    with pytest.raises(ValueError, match="n must be None or a non-negative int, got -1"):
        random_rotation_matrix(0, n=-1)
    with pytest.raises(ValueError, match="scale must be a finite number >= 0, got -0.1"):
        random_translation(0, scale=-0.1)
    with pytest.raises(TypeError, match="scale must be a number, got str"):
        random_translation(0, scale="0.1")
    with pytest.raises(ValueError, match="n must be None or a non-negative int, got 2.5"):
        random_translation(0, n=2.5)
