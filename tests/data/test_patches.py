"""Tests of deepsphere.data.patches: equal-area patches, whole-map splits and the noisy patch dataset."""

import warnings

import healpy as hp
import numpy as np
import pytest

from deepsphere.data.collection import MapCollection
from deepsphere.data.patches import PatchDataset, check_patches, patch_sampling, split_maps
from deepsphere.data.store import MapStore

NSIDE = 8
NPIX = 12 * NSIDE**2
N_MAPS = 6


# --- check_patches --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nside", "n_patches"), [(1, 12), (2, 12), (2, 48), (8, 12), (8, 48), (8, 192), (16, 768), (4, 192)]
)
def test_check_patches_gives_the_pixels_per_patch(nside, n_patches):
    size = check_patches(nside, n_patches)
    assert size * n_patches == hp.nside2npix(nside)
    assert isinstance(size, int)


@pytest.mark.parametrize("n_patches", [10, 24, 0, -12, 36, 47, 96, 3072 + 1, True, False])
def test_check_patches_rejects_counts_that_are_not_12_4m(n_patches):
    with pytest.raises(ValueError, match="12·4\\^m") as err:
        check_patches(8, n_patches)
    assert repr(n_patches) in str(err.value)


@pytest.mark.parametrize(
    ("nside", "n_patches", "needed"), [(1, 48, 2), (2, 192, 4), (4, 768, 8), (8, 3072, 16)]
)
def test_check_patches_rejects_patches_finer_than_the_pixels(nside, n_patches, needed):
    with pytest.raises(ValueError, match=f"patches={n_patches} needs nside ≥ {needed}") as err:
        check_patches(nside, n_patches)
    assert f"nside={nside}" in str(err.value)


# --- patch_sampling -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("nside", "n_patches"), [(8, 12), (8, 48), (16, 192), (4, 192)])
def test_patches_are_the_nested_children_of_one_coarse_pixel(nside, n_patches):
    m = round(np.log2(n_patches // 12) / 2)
    size = 12 * nside**2 // n_patches
    covered = []
    for j in range(n_patches):
        s = patch_sampling(nside, n_patches, j)
        pix = s.indices
        np.testing.assert_array_equal(pix, np.arange(j * size, (j + 1) * size))
        assert s.nside == nside and s.nest and s.npix == size
        # Independently of NESTED arithmetic: every pixel centre lies in base pixel j // 4^m, and in the
        # pixel j of the coarse HEALPix grid with nside 2^m.
        theta, phi = hp.pix2ang(nside, pix, nest=True)
        base = hp.nest2ring(1, hp.ang2pix(1, theta, phi, nest=True))
        assert np.all(hp.ring2nest(1, base) == j // 4**m)
        assert np.all(hp.ang2pix(2**m, theta, phi, nest=True) == j)
        np.testing.assert_allclose(s.coords, np.stack(hp.pix2vec(nside, pix, nest=True), axis=-1))
        # Equal areas: 4π / n_patches each.
        np.testing.assert_allclose(s.area.sum(), 4 * np.pi / n_patches, rtol=1e-12)
        np.testing.assert_allclose(s.area.sum(), size * hp.nside2pixarea(nside), rtol=1e-12)
        covered.append(pix)
    covered = np.concatenate(covered)
    np.testing.assert_array_equal(np.sort(covered), np.arange(12 * nside**2))  # a partition of the sphere


def test_patch_sampling_defaults_to_patch_zero():
    np.testing.assert_array_equal(patch_sampling(NSIDE, 48).indices, np.arange(16))


@pytest.mark.parametrize("patch", [-1, 48, 100])
def test_patch_sampling_rejects_a_patch_out_of_range(patch):
    with pytest.raises(ValueError, match=rf"patch must be in \[0, 48\), got {patch}"):
        patch_sampling(NSIDE, 48, patch)


def test_patch_sampling_checks_the_patch_count():
    with pytest.raises(ValueError, match="12·4\\^m"):
        patch_sampling(NSIDE, 24)
    with pytest.raises(ValueError, match="needs nside"):
        patch_sampling(2, 192)


# --- split_maps -----------------------------------------------------------------------------------------


LABELS = np.array([2] * 10 + [0] * 7 + [5] * 5 + [0] * 3)  # classes 0, 2, 5 (not contiguous), interleaved


def test_split_is_a_stratified_partition():
    fractions = (0.6, 0.2, 0.2)
    train, val, test = split_maps(LABELS, fractions, seed=3)
    everything = np.concatenate([train, val, test])
    np.testing.assert_array_equal(np.sort(everything), np.arange(len(LABELS)))  # disjoint, complete
    for part in (train, val, test):
        assert part.dtype == np.int64
        np.testing.assert_array_equal(part, np.sort(part))
        assert set(LABELS[part]) == {0, 2, 5}  # every class in every split
    for label in (0, 2, 5):
        n = np.count_nonzero(LABELS == label)
        for part, fraction in zip((train, val, test), fractions, strict=True):
            assert abs(np.count_nonzero(LABELS[part] == label) - fraction * n) <= 1


def test_split_is_deterministic_and_depends_on_the_seed():
    first = split_maps(LABELS, (0.5, 0.25, 0.25), seed=11)
    again = split_maps(LABELS.copy(), [0.5, 0.25, 0.25], seed=11)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    others = [split_maps(LABELS, (0.5, 0.25, 0.25), seed=s) for s in range(12, 17)]
    for other in others:
        assert any(not np.array_equal(a, b) for a, b in zip(first, other, strict=True))
        # Sizes depend on the fractions only.
        assert [len(p) for p in other] == [len(p) for p in first]


def test_split_of_three_maps_per_class_puts_one_in_each():
    labels = np.repeat([0, 1], 3)
    train, val, test = split_maps(labels, (0.8, 0.1, 0.1), seed=0)
    for part in (train, val, test):
        np.testing.assert_array_equal(np.sort(labels[part]), [0, 1])


def test_split_with_too_few_maps():
    labels = np.array([0, 0, 0, 0, 1, 1])
    with pytest.raises(ValueError, match="class 1 has 2 maps: too few"):
        split_maps(labels, (0.6, 0.2, 0.2), seed=0)


@pytest.mark.parametrize(
    "fractions",
    [
        (0.5, 0.5),
        (0.5, 0.25, 0.125, 0.125),
        (0.8, 0.2, 0.0),
        (1.2, -0.1, -0.1),
        (0.5, 0.3, 0.3),
        (0.6, 0.2, 0.1),
        (float("nan"), 0.2, 0.2),  # regression: NaN slipped through the checks
        (0.6, 0.2, float("nan")),
        (float("inf"), 0.2, 0.2),
    ],
)
def test_split_rejects_bad_fractions(fractions):
    with pytest.raises(ValueError, match="3 positive fractions summing to 1"):
        split_maps(LABELS, fractions, seed=0)


# --- PatchDataset ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("patch-data")
    rng = np.random.default_rng(2024)
    for i in range(N_MAPS):
        values = rng.normal(loc=i, scale=1.0 + i, size=NPIX)
        path = root / ("even" if i % 2 == 0 else "odd") / f"m{i}.fits"
        path.parent.mkdir(exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hp.write_map(str(path), values, nest=True, dtype=np.float32)
    return MapStore.build(MapCollection.from_folder(root), root / "cache")


MAPS = np.array([4, 1, 2])


def _dataset(store, n_patches=48, noise=0.0, scale=1.0, seed=0, maps=MAPS):
    return PatchDataset(store, maps, n_patches=n_patches, noise=noise, scale=scale, seed=seed)


def _clean(store, dataset, i):
    m, j = dataset.location(i)
    size = dataset.size
    return np.asarray(store.values[m, j * size : (j + 1) * size])


def test_store_fixture_is_as_expected(store):
    # Files sorted by class folder: even maps m0, m2, m4 then odd m1, m3, m5.
    assert store.classes == ("even", "odd")
    np.testing.assert_array_equal(store.labels, [0, 0, 0, 1, 1, 1])


@pytest.mark.parametrize("n_patches", [12, 48, 192])
def test_noiseless_samples_are_slices_of_the_store(store, n_patches):
    dataset = _dataset(store, n_patches=n_patches, scale=2.5)
    size = NPIX // n_patches
    assert len(dataset) == len(MAPS) * n_patches
    assert dataset.size == size
    for i in range(len(dataset)):
        m, j = dataset.location(i)
        assert (m, j) == (MAPS[i // n_patches], i % n_patches)
        x, label = dataset[i]
        assert x.shape == (size, 1) and x.dtype == np.float32
        assert label == store.labels[m] and isinstance(label, int)
        expected = store.values[m][j * size : (j + 1) * size].astype(np.float64) / 2.5
        np.testing.assert_allclose(x[:, 0], expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(dataset.labels, [dataset[i][1] for i in range(len(dataset))])
    # Without noise every epoch is the same.
    np.testing.assert_array_equal(dataset[len(dataset) + 5][0], dataset[5][0])


def test_noiseless_unit_scale_is_exact(store):
    dataset = _dataset(store, n_patches=12)
    for i in (0, 7, 35):
        np.testing.assert_array_equal(dataset[i][0][:, 0], _clean(store, dataset, i))


def test_noise_has_the_requested_std_and_zero_mean(store):
    noise, scale = 0.7, 3.0
    dataset = _dataset(store, n_patches=12, noise=noise, scale=scale, seed=5)
    residuals = np.concatenate(
        [
            dataset[key][0][:, 0].astype(np.float64) * scale - _clean(store, dataset, key % len(dataset))
            for key in range(4 * len(dataset))  # 4 epochs
        ]
    )
    n = residuals.size  # 4 · 36 · 64 = 9216
    # Standard errors: σ/√n for the mean, σ/√(2n) for the std; 5σ bounds.
    assert abs(residuals.mean()) < 5 * noise / np.sqrt(n)
    assert abs(residuals.std() - noise) < 5 * noise / np.sqrt(2 * n)
    # Independent from pixel to pixel: neighbouring residuals are uncorrelated.
    lag1 = np.corrcoef(residuals[:-1], residuals[1:])[0, 1]
    assert abs(lag1) < 5 / np.sqrt(n)


def test_noise_depends_on_seed_epoch_and_sample_only(store):
    dataset = _dataset(store, noise=0.5, seed=(3, 1))
    n = len(dataset)
    x, label = dataset[10]
    # Same key, same sample, whatever was read before and whichever object reads it.
    for key in (40, 0, n + 10, 3):
        dataset[key]
    np.testing.assert_array_equal(dataset[10][0], x)
    np.testing.assert_array_equal(_dataset(store, noise=0.5, seed=(3, 1))[10][0], x)
    # Another epoch: the same map patch and label, new noise.
    later, later_label = dataset[2 * n + 10]
    assert later_label == label
    clean = _clean(store, dataset, 10)
    noise_now, noise_later = x[:, 0] - clean, later[:, 0] - clean
    assert not np.allclose(noise_now, noise_later)
    assert abs(np.corrcoef(noise_now, noise_later)[0, 1]) < 0.7
    # Another sample of the same epoch has different noise too.
    assert not np.allclose(dataset[11][0][:, 0] - _clean(store, dataset, 11), noise_now)
    # Another dataset seed: different noise.
    other = _dataset(store, noise=0.5, seed=(3, 2))[10][0]
    assert not np.allclose(other[:, 0] - clean, noise_now)
    # An integer seed is the 1-tuple seed.
    np.testing.assert_array_equal(
        _dataset(store, noise=0.5, seed=4)[7][0], _dataset(store, noise=0.5, seed=(4,))[7][0]
    )


def test_noise_does_not_depend_on_the_scale(store):
    a = _dataset(store, noise=0.5, scale=1.0, seed=9)
    b = _dataset(store, noise=0.5, scale=4.0, seed=9)
    for i in (0, 17, 100):
        np.testing.assert_allclose(b[i][0], a[i][0] / 4.0, rtol=1e-6, atol=1e-7)


def test_labels_and_locations(store):
    maps = np.array([5, 0, 3, 3])
    dataset = _dataset(store, n_patches=12, maps=maps)
    assert len(dataset) == 48
    expected_labels = np.repeat(store.labels[maps], 12)
    np.testing.assert_array_equal(dataset.labels, expected_labels)
    assert dataset.location(0) == (5, 0)
    assert dataset.location(13) == (0, 1)
    assert dataset.location(47) == (3, 11)
    assert [dataset[i][1] for i in (0, 12, 24, 36)] == [1, 0, 1, 1]


def test_arrays_match_the_items(store):
    dataset = _dataset(store, n_patches=48, noise=0.3, scale=1.5, seed=1)
    x, labels = dataset.arrays()
    assert x.shape == (len(dataset), NPIX // 48) and x.dtype == np.float32
    for i in range(len(dataset)):
        item, label = dataset[i]
        np.testing.assert_array_equal(x[i], item[:, 0])
        assert labels[i] == label


def test_empty_map_list(store):
    dataset = _dataset(store, maps=np.array([], dtype=np.int64))
    assert len(dataset) == 0
    x, labels = dataset.arrays()
    assert x.shape == (0, NPIX // 48) and labels.shape == (0,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"noise": -0.1}, "noise must be ≥ 0, got -0.1"),
        ({"noise": float("nan")}, "noise must be ≥ 0"),
        ({"noise": float("inf")}, "noise must be ≥ 0"),
        ({"scale": 0.0}, "scale must be > 0, got 0.0"),
        ({"scale": -2.0}, "scale must be > 0"),
        ({"scale": float("nan")}, "scale must be > 0"),
        ({"n_patches": 24}, "12·4\\^m"),
        ({"n_patches": 3072}, "needs nside ≥ 16"),
    ],
)
def test_dataset_rejects_bad_parameters(store, kwargs, message):
    with pytest.raises(ValueError, match=message):
        _dataset(store, **kwargs)
