import healpy as hp
import numpy as np
import pytest

from deepsphere.sampling import HEALPix


@pytest.mark.parametrize("nside", [1, 2, 16, 64])
@pytest.mark.parametrize("nest", [True, False])
def test_coords_and_angles_equal_healpy(nside, nest):
    s = HEALPix(nside, nest=nest)
    pix = np.arange(12 * nside**2)
    assert s.npix == 12 * nside**2
    np.testing.assert_allclose(s.coords, np.stack(hp.pix2vec(nside, pix, nest=nest), -1), atol=1e-15)
    theta, phi = hp.pix2ang(nside, pix, nest=nest)
    np.testing.assert_allclose(s.lat, np.pi / 2 - theta, atol=1e-12)
    np.testing.assert_allclose(s.lon, phi, atol=1e-12)
    assert np.all((s.lon >= 0) & (s.lon < 2 * np.pi))


@pytest.mark.parametrize("nside", [1, 8, 2048])
def test_areas_sum_to_4pi_and_equal_healpy(nside):
    s = HEALPix(nside)
    assert s.area.sum() == pytest.approx(4 * np.pi, rel=1e-12)
    assert s.area[0] == pytest.approx(hp.nside2pixarea(nside), rel=1e-14)


def test_large_nside_partial_sky_is_cheap():
    # nside 2048 has 50 M pixels: a patch must not build the full sphere
    pix = hp.query_disc(2048, hp.ang2vec(0.3, 1.0), 0.01, nest=True)
    s = HEALPix(2048, indices=np.sort(pix))
    np.testing.assert_allclose(s.coords, np.stack(hp.pix2vec(2048, np.sort(pix), nest=True), -1))


@pytest.mark.parametrize("nest", [True, False])
def test_parents_equal_healpy_nested_arithmetic(nest):
    rng = np.random.default_rng(0)
    nside = 32
    coarse, parent = HEALPix(nside, nest=nest).coarsen()
    assert coarse == HEALPix(16, nest=nest)
    # independent check: the parent pixel contains the child's centre at the coarse resolution
    theta, phi = hp.pix2ang(nside, np.arange(12 * nside**2), nest=nest)
    np.testing.assert_array_equal(parent, hp.ang2pix(16, theta, phi, nest=nest))
    # several levels at once equal successive levels
    coarse3, parent3 = HEALPix(nside, nest=nest).coarsen(3)
    sample = rng.integers(0, 12 * nside**2, 100)
    np.testing.assert_array_equal(parent3[sample], hp.ang2pix(4, theta[sample], phi[sample], nest=nest))
    assert coarse3.nside == 4


def test_nested_children_are_consecutive():
    _, parent = HEALPix(8).coarsen()
    np.testing.assert_array_equal(parent, np.repeat(np.arange(192), 4))


def test_partial_sky_coarsening_keeps_coarse_pixels_with_any_kept_child():
    rng = np.random.default_rng(1)
    kept = np.sort(rng.choice(12 * 16**2, 500, replace=False))
    s = HEALPix(16, indices=kept)
    coarse, parent = s.coarsen()
    np.testing.assert_array_equal(coarse.indices, np.unique(kept // 4))
    np.testing.assert_array_equal(coarse.indices[parent], kept // 4)
    np.testing.assert_allclose(s.coords, HEALPix(16).coords[kept])
    assert s.area.sum() == pytest.approx(500 * 4 * np.pi / (12 * 16**2))


def test_partial_sky_of_all_children_gives_a_full_coarse_sphere():
    coarse, _ = HEALPix(4, indices=np.arange(192)).coarsen()
    assert coarse.is_full


def test_ring_indices_are_ring_pixels():
    rng = np.random.default_rng(2)
    kept = np.sort(rng.choice(768, 50, replace=False))
    s = HEALPix(8, nest=False, indices=kept)
    np.testing.assert_allclose(s.coords, np.stack(hp.pix2vec(8, kept), -1))
    np.testing.assert_array_equal(s.nested_indices(), hp.ring2nest(8, kept))


def test_cannot_coarsen_below_nside_1():
    assert not HEALPix(1).can_coarsen
    with pytest.raises(ValueError, match="nside=1 is the coarsest"):
        HEALPix(1).coarsen()
    with pytest.raises(ValueError, match="nside=1 is the coarsest"):
        HEALPix(4).coarsen(3)


def test_coords_are_read_only():
    s = HEALPix(2)
    with pytest.raises(ValueError):
        s.coords[0, 0] = 1.0


@pytest.mark.parametrize("nside", [0, 3, 12, -4, 2**30, 2.0, "8", True])
def test_bad_nside(nside):
    with pytest.raises(ValueError, match="nside"):
        HEALPix(nside)


def test_bad_nest():
    with pytest.raises(ValueError, match="nest"):
        HEALPix(4, nest="ring")


@pytest.mark.parametrize(
    ("indices", "message"),
    [
        ([0, 192], "out of range"),
        ([-1, 3], "out of range"),
        ([3, 3, 4], "pixel 3 appears more than once"),
        ([5, 2], "sorted"),
        ([0.5, 1.0], "integers"),
        ([], "non-empty"),
        ([[0, 1]], "1-D"),
    ],
)
def test_bad_indices(indices, message):
    with pytest.raises(ValueError, match=message):
        HEALPix(4, indices=indices)


@pytest.mark.parametrize("levels", [0, -1, 1.5, True])
def test_bad_levels(levels):
    with pytest.raises(ValueError, match="levels"):
        HEALPix(4).coarsen(levels)
