"""Tests of deepsphere.analysis.baselines: patch grids, power-spectrum and histogram features, linear SVMs."""

import sys
import warnings

import healpy as hp
import numpy as np
import pytest

from deepsphere.analysis import (
    SVMResult,
    histogram_edges,
    histogram_features,
    linear_svm,
    patch_grid,
    power_spectrum_ells,
    power_spectrum_features,
)

pytestmark = pytest.mark.usefixtures("healpy_on_one_thread")


def _full_plane_k(s):
    """|k| (cycles per patch side) of every mode of the full s × s FFT plane."""
    k = np.fft.fftfreq(s, d=1.0 / s)
    return np.hypot(k[:, None], k[None, :])


def _to_patches(images, nside, n_patches):
    """Images (n, s, s) on the grid → patches (n, P) in NESTED order."""
    grid = patch_grid(nside, n_patches)
    patches = np.empty((len(images), grid.size))
    patches[:, grid.ravel()] = images.reshape(len(images), -1)
    return patches


# --- patch_grid -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("nside, n_patches", [(1, 12), (2, 48), (8, 12), (8, 192), (32, 48), (16, 3072)])
def test_patch_grid_is_a_permutation(nside, n_patches):
    grid = patch_grid(nside, n_patches)
    n_pix = 12 * nside**2 // n_patches
    s = int(round(np.sqrt(n_pix)))
    assert grid.shape == (s, s) and grid.dtype == np.int64
    np.testing.assert_array_equal(np.sort(grid.ravel()), np.arange(n_pix))


@pytest.mark.parametrize("patch", [0, 5, 17, 22, 30, 47])
def test_patch_grid_neighbours_on_the_grid_are_neighbours_on_the_sphere(patch):
    nside, n_patches = 32, 48
    grid = patch_grid(nside, n_patches)
    pixels = patch * grid.size + grid  # global NESTED pixels of this patch, on its grid
    vec = np.stack(hp.pix2vec(nside, pixels.ravel(), nest=True), axis=-1).reshape(grid.shape + (3,))
    size = hp.nside2resol(nside)
    for a, b in ((vec[1:, :], vec[:-1, :]), (vec[:, 1:], vec[:, :-1])):
        distance = np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)) / size
        assert 0.75 < distance.min() and distance.max() < 1.5
    # Every grid-adjacent pair is a pair of HEALPix neighbours (exact, from healpy's neighbour table).
    neighbours = hp.get_all_neighbours(nside, pixels.ravel(), nest=True).T.reshape(grid.shape + (8,))
    assert np.all(np.any(neighbours[:-1, :] == pixels[1:, :, None], axis=-1))
    assert np.all(np.any(neighbours[:, :-1] == pixels[:, 1:, None], axis=-1))


@pytest.mark.parametrize("nside, n_patches", [(16, 48), (32, 192), (8, 12)])
def test_patch_grid_layout_is_the_same_for_every_patch(nside, n_patches):
    grid = patch_grid(nside, n_patches)
    n_pix = grid.size
    for patch in [0, 1, n_patches // 2 - 1, n_patches // 2 + 3, n_patches - 1]:
        x, y, face = hp.pix2xyf(nside, patch * n_pix + np.arange(n_pix), nest=True)
        assert np.all(face == patch // (n_patches // 12))
        local = np.empty_like(grid)
        local[x - x.min(), y - y.min()] = np.arange(n_pix)
        np.testing.assert_array_equal(local, grid)


@pytest.mark.parametrize(
    "nside, n_patches, match",
    [
        (12, 12, "power of 2"),
        (0, 12, "power of 2"),
        (8, 24, "12·4"),
        (8, 36, "12·4"),
        (8, 6, "12·4"),
        (2, 192, "at most 48"),
        (8.0, 12, "integer"),
        (8, True, "integer"),
    ],
)
def test_patch_grid_rejects_bad_geometry(nside, n_patches, match):
    with pytest.raises(ValueError, match=match):
        patch_grid(nside, n_patches)


# --- power spectrum -------------------------------------------------------------------------------------


def test_white_noise_has_the_white_noise_level_and_a_flat_spectrum():
    nside, n_patches, sigma = 64, 12, 0.3
    rng = np.random.default_rng(0)
    x = sigma * rng.standard_normal((200, 64 * 64)).astype(np.float32)
    features = power_spectrum_features(x, nside, n_patches, n_bins=12)
    assert features.shape == (200, 12) and features.dtype == np.float64
    ells = power_spectrum_ells(nside, n_patches, 12)
    power = np.log10(np.mean(10.0**features, axis=0))  # linear average: unbiased estimate per bin
    expected = np.log10(sigma**2 * 4 * np.pi / hp.nside2npix(nside))  # C_ℓ of white noise
    np.testing.assert_allclose(power, expected, atol=0.05)
    slope = np.polyfit(np.log10(ells), power, 1)[0]
    assert abs(slope) < 0.03


@pytest.mark.parametrize("alpha", [-2.0, -1.0, 1.0])
def test_power_law_made_on_the_grid_recovers_its_slope(alpha):
    nside, n_patches, s = 128, 48, 64
    rng = np.random.default_rng(1)
    k = _full_plane_k(s)
    amplitude = np.where(k > 0, k, 1.0) ** (alpha / 2)
    amplitude[0, 0] = 0.0
    noise = np.fft.fft2(rng.standard_normal((100, s, s)))
    images = np.fft.ifft2(noise * amplitude).real
    features = power_spectrum_features(_to_patches(images, nside, n_patches), nside, n_patches, n_bins=10)
    ells = power_spectrum_ells(nside, n_patches, 10)
    slope = np.polyfit(np.log10(ells), np.log10(np.mean(10.0**features, axis=0)), 1)[0]
    assert slope == pytest.approx(alpha, abs=0.06)


def test_features_of_a_full_sky_power_law_match_its_c_ell():
    """Independent of the grid: a full-sky Gaussian field with C_ℓ ∝ ℓ^-2 (healpy), cut into patches."""
    nside, n_patches, n_bins = 64, 12, 8
    lmax = 3 * nside - 1
    ell, m = hp.Alm.getlm(lmax)
    cl = np.zeros(lmax + 1)
    cl[1:] = 1e-3 * (np.arange(1, lmax + 1) / 10.0) ** -2.0
    rng = np.random.default_rng(2)
    patches = []
    for _ in range(4):
        alm = (rng.standard_normal(len(ell)) + 1j * rng.standard_normal(len(ell))) * np.sqrt(cl[ell] / 2)
        alm[m == 0] = alm[m == 0].real * np.sqrt(2)
        sky = hp.reorder(hp.alm2map(alm, nside, lmax=lmax), r2n=True)
        patches.append(sky.reshape(n_patches, -1))
    features = power_spectrum_features(np.concatenate(patches), nside, n_patches, n_bins)
    ells = power_spectrum_ells(nside, n_patches, n_bins)
    measured = features.mean(axis=0)
    truth = np.log10(1e-3 * (ells / 10.0) ** -2.0)
    np.testing.assert_allclose(measured, truth, atol=0.2)  # flat sky, finite patch: ≈ 0.1 dex here
    assert np.polyfit(np.log10(ells), measured, 1)[0] == pytest.approx(-2.0, abs=0.15)
    # A scrambled layout destroys the correlations: the spectrum becomes white.
    scrambled = np.concatenate(patches)[:, rng.permutation(64 * 64)]
    white = power_spectrum_features(scrambled, nside, n_patches, n_bins).mean(axis=0)
    assert abs(np.polyfit(np.log10(ells), white, 1)[0]) < 0.2


def test_scaling_and_offset():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20, 256))
    features = power_spectrum_features(x, 16, 12, n_bins=5)
    np.testing.assert_allclose(power_spectrum_features(3.5 * x, 16, 12, 5), features + 2 * np.log10(3.5))
    np.testing.assert_allclose(power_spectrum_features(x + 7.0, 16, 12, 5), features, atol=1e-10)
    # float32 input gives the same features to float32 precision.
    np.testing.assert_allclose(power_spectrum_features(x.astype(np.float32), 16, 12, 5), features, atol=1e-5)


def test_parseval_total_power_of_a_band_limited_field():
    """With one bin (all modes 1 ≤ |k| ≤ s/2), bin mean × number of modes = L² · variance."""
    nside, n_patches, s = 32, 48, 16
    rng = np.random.default_rng(4)
    k = _full_plane_k(s)
    kx = np.abs(np.fft.fftfreq(s, d=1.0 / s))
    keep = (k >= 1) & (k <= s / 2) & (kx[:, None] < s / 2) & (kx[None, :] < s / 2)
    images = np.fft.ifft2(np.fft.fft2(rng.standard_normal((30, s, s))) * keep).real
    n_modes = np.count_nonzero((k >= 1) & (k <= s / 2))
    power = 10.0 ** power_spectrum_features(_to_patches(images, nside, n_patches), nside, n_patches, 1)[:, 0]
    side2 = 4 * np.pi / n_patches
    np.testing.assert_allclose(power * n_modes, side2 * images.var(axis=(1, 2)), rtol=1e-10)


@pytest.mark.parametrize("s, n_bins", [(4, 1), (8, 3), (16, 7), (64, 16), (64, 31), (256, 16), (256, 40)])
def test_every_bin_holds_modes_and_ells_span_fundamental_to_nyquist(s, n_bins):
    nside, n_patches = s, 12
    side = np.sqrt(4 * np.pi / n_patches)
    ells = power_spectrum_ells(nside, n_patches, n_bins)
    assert ells.shape == (n_bins,) and np.all(np.diff(ells) > 0)
    assert ells[0] >= 2 * np.pi / side - 1e-9 and ells[-1] <= np.pi * s / side + 1e-9
    x = np.random.default_rng(5).standard_normal((3, s * s))
    assert np.all(np.isfinite(power_spectrum_features(x, nside, n_patches, n_bins)))


def test_default_bins_are_logarithmic_at_high_ell():
    ells = power_spectrum_ells(1024, 12, 16)  # s = 1024: ratios settle to (512/j)^(1/(n−j+1))
    ratios = ells[1:] / ells[:-1]
    np.testing.assert_allclose(ratios[-6:], ratios[-1], rtol=0.02)
    assert ratios[-1] > 1.3


def test_flat_patch_gives_the_floor_not_minus_infinity():
    features = power_spectrum_features(np.ones((2, 64)), 8, 12, 2)
    assert np.all(np.isfinite(features)) and np.all(features < -300)


def test_power_spectrum_rejects_bad_input():
    x = np.zeros((2, 256))
    with pytest.raises(ValueError, match="256 pixels each.*needs P = 1024"):
        power_spectrum_features(x, 32, 12, 4)
    bad = x.copy()
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*sample\(s\) \[1\]"):
        power_spectrum_features(bad, 16, 12, 4)
    bad[1, 3] = hp.UNSEEN
    with pytest.raises(ValueError, match="UNSEEN"):
        power_spectrum_features(bad, 16, 12, 4)
    with pytest.raises(ValueError, match="n_bins=8 is too many.*at most 7"):
        power_spectrum_features(x, 16, 12, 8)
    with pytest.raises(ValueError, match="n_bins must be a positive integer"):
        power_spectrum_features(x, 16, 12, 0)
    with pytest.raises(ValueError, match="at least 4×4"):
        power_spectrum_features(np.zeros((2, 4)), 2, 12, 1)
    with pytest.raises(ValueError, match="shape"):
        power_spectrum_features(np.zeros(256), 16, 12, 4)


# --- histograms -----------------------------------------------------------------------------------------


def test_histogram_edges_span_the_quantiles():
    x = np.random.default_rng(6).standard_normal((50, 400)).astype(np.float32)
    edges = histogram_edges(x, n_bins=20, quantile=0.01)
    assert edges.shape == (21,) and edges.dtype == np.float64
    np.testing.assert_allclose(edges[[0, -1]], np.quantile(x.astype(np.float64), [0.01, 0.99]), rtol=1e-6)
    np.testing.assert_allclose(np.diff(edges), np.diff(edges)[0], rtol=1e-9)
    full = histogram_edges(x, 4, quantile=0.0)
    assert full[0] == x.min() and full[-1] == x.max()


@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_histogram_features_match_numpy_histogram_of_clipped_values(uniform, dtype):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((40, 300)).astype(dtype)
    edges = histogram_edges(x, n_bins=15, quantile=0.02)
    if not uniform:
        edges = np.sort(np.concatenate([edges[[0, -1]], rng.uniform(edges[0], edges[-1], 9)]))
    if dtype == np.float64:  # values exactly on the edges and just below them
        x[0, : len(edges)] = edges
        x[1, : len(edges)] = np.nextafter(edges, -np.inf)
    features = histogram_features(x, edges)
    assert features.shape == (40, len(edges) - 1)
    np.testing.assert_allclose(features.sum(axis=1), 1.0, rtol=1e-12)
    for row, feature in zip(x, features, strict=True):
        clipped = np.clip(row.astype(np.float64), edges[0], edges[-1])
        np.testing.assert_array_equal(feature, np.histogram(clipped, edges)[0] / row.size)


def test_histogram_with_one_bin_and_many_rows():
    x = np.random.default_rng(8).standard_normal((3000, 64))  # several internal blocks
    np.testing.assert_array_equal(histogram_features(x, [-1.0, 1.0]), np.ones((3000, 1)))
    edges = histogram_edges(x, 6)
    features = histogram_features(x, edges)
    np.testing.assert_array_equal(
        features[2999], np.histogram(np.clip(x[2999], edges[0], edges[-1]), edges)[0] / 64
    )


def test_histogram_rejects_bad_input():
    x = np.random.default_rng(9).standard_normal((4, 16))
    with pytest.raises(ValueError, match="strictly increasing"):
        histogram_features(x, [0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        histogram_features(x, [0.0])
    with pytest.raises(ValueError, match="quantile must be"):
        histogram_edges(x, 5, quantile=0.5)
    with pytest.raises(ValueError, match="constant"):
        histogram_edges(np.ones((3, 16)), 5)
    x[2, 2] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        histogram_edges(x, 5)
    with pytest.raises(ValueError, match="infinite"):
        histogram_features(x, [0.0, 1.0])


# --- linear SVM -----------------------------------------------------------------------------------------


def _gaussians(rng, n, n_features, shift, n_classes=2):
    y = rng.integers(0, n_classes, n)
    x = rng.standard_normal((n, n_features))
    x[:, 0] += shift * y
    return x, y


def test_svm_separates_separable_classes():
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(10)
    train, val, test = (_gaussians(rng, n, 10, 12.0) for n in (200, 100, 300))
    result = linear_svm("separable", train, val, test)
    assert isinstance(result, SVMResult) and result.name == "separable"
    assert result.test_accuracy == 1.0 and result.val_accuracy == 1.0
    assert result.C == 1e-3  # every C reaches 1.0: ties go to the smallest
    assert result.test_predictions.shape == (300,) and result.test_predictions.dtype == np.int64
    np.testing.assert_array_equal(result.confusion, np.diag(np.bincount(test[1], minlength=2)))


def test_svm_on_identical_distributions_is_at_chance():
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(11)
    train, val, test = (_gaussians(rng, n, 5, 0.0) for n in (400, 200, 2000))
    result = linear_svm("chance", train, val, test)
    assert abs(result.test_accuracy - 0.5) < 4 * np.sqrt(0.25 / 2000)  # 4σ of the binomial
    assert result.confusion.sum() == 2000
    assert np.trace(result.confusion) / 2000 == pytest.approx(result.test_accuracy)
    np.testing.assert_array_equal(result.confusion.sum(axis=1), np.bincount(test[1], minlength=2))


def test_svm_chooses_c_on_validation():
    pytest.importorskip("sklearn")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(12)
    train, val, test = (_gaussians(rng, n, 20, 1.5, n_classes=3) for n in (300, 300, 300))
    cs = (1e-7, 1e-2, 1.0)
    result = linear_svm("three", train, val, test, Cs=cs, seed=3)
    assert set(result.val_accuracies) == set(cs)
    best = max(result.val_accuracies.values())
    assert result.C == min(c for c in cs if result.val_accuracies[c] == best)
    assert result.val_accuracies[1e-7] < best  # a vanishing C underfits
    # The reported numbers are those of the chosen model, refitted here independently.
    model = make_pipeline(StandardScaler(), LinearSVC(C=result.C, random_state=3)).fit(*train)
    np.testing.assert_array_equal(result.test_predictions, model.predict(test[0]))
    assert result.val_accuracy == pytest.approx(np.mean(model.predict(val[0]) == val[1]))
    assert result.confusion.shape == (3, 3) and result.classes.tolist() == [0, 1, 2]
    assert result.test_accuracy > 0.6


def test_svm_rejects_bad_input():
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(13)
    x, y = _gaussians(rng, 30, 4, 3.0)
    ok = (x, y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        linear_svm("a", (x, np.zeros(30, int)), ok, ok)
    with pytest.raises(ValueError, match=r"test y has class\(es\) \[2\] missing from train"):
        linear_svm("a", ok, ok, (x, np.where(y == 1, 2, 0)))
    with pytest.raises(ValueError, match="val X has 3 features, train X has 4"):
        linear_svm("a", ok, (x[:, :3], y), ok)
    with pytest.raises(ValueError, match=r"train y must have shape \(30,\)"):
        linear_svm("a", (x, y[:-1]), ok, ok)
    with pytest.raises(ValueError, match="NaN"):
        linear_svm("a", ok, ok, (np.where(x > 2, np.nan, x), y))
    with pytest.raises(ValueError, match="integer class labels"):
        linear_svm("a", (x, y + 0.5), ok, ok)
    with pytest.raises(ValueError, match="Cs must be"):
        linear_svm("a", ok, ok, ok, Cs=(1.0, -1.0))
    with pytest.raises(ValueError, match="pair"):
        linear_svm("a", x, ok, ok)


def test_svm_without_scikit_learn_says_how_to_install(monkeypatch):
    for module in (
        "sklearn",
        "sklearn.exceptions",
        "sklearn.pipeline",
        "sklearn.preprocessing",
        "sklearn.svm",
    ):
        monkeypatch.setitem(sys.modules, module, None)
    x = np.zeros((4, 2))
    with pytest.raises(ImportError, match=r"pip install 'deepsphere\[cosmo\]'"):
        linear_svm("a", (x, [0, 1, 0, 1]), (x, [0, 1, 0, 1]), (x, [0, 1, 0, 1]))


def test_svm_warns_when_the_chosen_model_did_not_converge(monkeypatch):
    sklearn_svm = pytest.importorskip("sklearn.svm")
    rng = np.random.default_rng(14)
    train = _gaussians(rng, 200, 30, 0.3)
    original = sklearn_svm.LinearSVC

    def few_iterations(**kwargs):
        kwargs["max_iter"] = 1
        return original(**kwargs)

    monkeypatch.setattr(sklearn_svm, "LinearSVC", few_iterations)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(RuntimeWarning, match="did not converge"):
            linear_svm("slow", train, train, train, Cs=(10.0,))
