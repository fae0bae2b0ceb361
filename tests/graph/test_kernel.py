"""The Gaussian kernel convention and the default kernel width."""

import numpy as np
import pytest
from graph_reference import LN2, assert_weights_follow_kernel, uniform_points

from deepsphere.graph import default_kernel_width, healpix_graph, knn_graph, radius_graph
from deepsphere.graph.kernel import check_kernel_width, gaussian_weights
from deepsphere.sampling import Equiangular, HEALPix, Icosahedral

# The DeepSphere ICLR paper's optimal widths for HEALPix nside 32 (written out independently).
PAPER = {8: 0.025, 20: 0.03185, 40: 0.042432}
NSIDE32_AREA = 4 * np.pi / (12 * 32**2)


def test_gaussian_convention():
    """w = exp(−ln 2 · d² / σ²): 1 at d = 0, 1/2 at d = σ, 1/16 at d = 2σ."""
    sigma = 0.037
    d = np.array([0.0, sigma, 2 * sigma, 3 * sigma])
    np.testing.assert_allclose(gaussian_weights(d**2, sigma), [1, 0.5, 1 / 16, 2.0**-9], rtol=1e-14)
    rng = np.random.default_rng(81)
    sq = rng.uniform(0, 0.02, size=(7, 5))
    np.testing.assert_allclose(gaussian_weights(sq, 0.05), np.exp(-LN2 * sq / 0.05**2), rtol=1e-14)
    assert gaussian_weights(sq, 0.05).shape == (7, 5)


@pytest.mark.parametrize("k", [8, 20, 40])
def test_default_width_healpix(k):
    g32 = knn_graph(HEALPix(32), k=k)
    assert g32.kernel_width == pytest.approx(PAPER[k], rel=1e-9)
    # the width is the one the weights were made with
    assert_weights_follow_kernel(g32.weights, HEALPix(32).coords, PAPER[k], rtol=1e-8)
    g64 = knn_graph(HEALPix(64, nest=False), k=k)
    assert g64.kernel_width == pytest.approx(PAPER[k] / 2, rel=1e-9)
    g16 = knn_graph(HEALPix(16), k=k)
    assert g16.kernel_width == pytest.approx(PAPER[k] * 2, rel=1e-9)


@pytest.mark.parametrize(
    "k, expected",
    [
        (1, 0.025),  # held constant below k = 8
        (4, 0.025),
        (14, 0.025 + 0.5 * (0.03185 - 0.025)),  # linear between the tabulated k
        (11, 0.025 + 0.25 * (0.03185 - 0.025)),
        (30, 0.5 * (0.03185 + 0.042432)),
        (35, 0.75 * 0.042432 + 0.25 * 0.03185),
        (60, 0.042432),  # held constant above k = 40
    ],
)
def test_default_width_interpolates_in_k(k, expected):
    assert default_kernel_width(k, NSIDE32_AREA) == pytest.approx(expected, rel=1e-9)
    assert knn_graph(HEALPix(32), k=k).kernel_width == pytest.approx(expected, rel=1e-9)


def test_default_width_scales_with_pixel_spacing():
    """σ = c(k) · sqrt(mean pixel area), for any sampling and for raw coordinates."""
    rng = np.random.default_rng(82)
    for area in rng.uniform(1e-5, 1e-2, size=5):
        assert default_kernel_width(20, area) == pytest.approx(
            0.03185 * np.sqrt(area / NSIDE32_AREA), rel=1e-9
        )
    ico = Icosahedral(4)
    assert knn_graph(ico, k=8).kernel_width == pytest.approx(
        0.025 * np.sqrt(4 * np.pi / 2562 / NSIDE32_AREA), rel=1e-9
    )
    x = uniform_points(1000, seed=83)
    assert knn_graph(x, k=40).kernel_width == pytest.approx(
        0.042432 * np.sqrt(4 * np.pi / 1000 / NSIDE32_AREA), rel=1e-9
    )
    # a partial sky: the mean area of the kept pixels (polar rings are smaller)
    eq = Equiangular(16, 32, kind="soft", indices=np.arange(0, 64))
    mean_area = eq.area.mean()
    assert mean_area < 4 * np.pi / (16 * 32)
    assert knn_graph(eq, k=8).kernel_width == pytest.approx(
        0.025 * np.sqrt(mean_area / NSIDE32_AREA), rel=1e-9
    )


def test_explicit_width_is_used_as_given():
    s = HEALPix(8)
    for width in (0.01, 0.2, 3.0, np.float32(0.1)):
        g = knn_graph(s, k=8, kernel_width=width)
        assert g.kernel_width == float(width)
        assert_weights_follow_kernel(g.weights, s.coords, float(width))
    g = knn_graph(s, k=8, kernel_width=2)  # an int is fine
    assert g.kernel_width == 2.0


BAD_WIDTHS = [0, 0.0, -0.1, -np.inf, np.nan, np.inf, "abc", [0.1, 0.2], object()]


def test_check_kernel_width_refuses_none():
    # None means "the default" in the builders, but is not itself a width
    with pytest.raises(ValueError, match="kernel_width"):
        check_kernel_width(None)


@pytest.mark.parametrize("width", BAD_WIDTHS, ids=repr)
def test_bad_kernel_width(width):
    x = uniform_points(40, seed=84)
    with pytest.raises(ValueError, match="kernel_width"):
        check_kernel_width(width)
    with pytest.raises(ValueError, match="kernel_width"):
        knn_graph(x, k=4, kernel_width=width)
    with pytest.raises(ValueError, match="kernel_width"):
        healpix_graph(HEALPix(2), kernel_width=width)
    with pytest.raises(ValueError, match="kernel_width"):
        radius_graph(x, radius=1.0, kernel_width=width)


@pytest.mark.parametrize("width", ["0.05", True], ids=repr)
def test_kernel_width_refuses_strings_and_bools(width):
    with pytest.raises(ValueError, match="kernel_width"):
        check_kernel_width(width)
