"""Classical baselines of the DeepSphere cosmology task: power-spectrum and histogram features + linear SVM.

Perraudin et al. 2019 ("DeepSphere: efficient spherical CNN with HEALPix sampling for cosmological
applications", §4) compare the CNN with linear SVMs on two classical summaries of each partial-sky patch:
its power spectrum and the histogram of its pixel values. This module computes both from patches and
fits the SVMs with the same train/validation/test splits as the CNN.

Patches: the sphere is split into ``n_patches = 12·4^m`` equal-area patches (m = 0, 1, 2, … → 12, 48,
192, …). In NESTED order, patch ``j`` of a map at resolution ``nside`` is the contiguous block of pixels
``[j·P, (j+1)·P)`` with ``P = 12·nside² / n_patches``: the nested children of one pixel at resolution
``2^m``. Inside a HEALPix base pixel, the NESTED index interleaves the bits of the face coordinates
``(x, y)`` (x on the even bits, y on the odd bits), so a patch is an ``s × s`` square of the face grid,
``s = nside / 2^m``, and every patch of a given ``(nside, n_patches)`` orders its pixels the same way:
:func:`patch_grid` gives that common layout.

scikit-learn is needed only by :func:`linear_svm` (extra ``deepsphere[cosmo]``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import healpy as hp
import numpy as np
import scipy.fft

__all__ = [
    "SVMResult",
    "histogram_edges",
    "histogram_features",
    "linear_svm",
    "patch_grid",
    "power_spectrum_ells",
    "power_spectrum_features",
]

# Pixel values per vectorised block: temporaries of a few MB stay in cache (2–3× faster than one block).
_CHUNK_VALUES = 1 << 19


def _chunk_rows(n_pix: int) -> int:
    return max(1, _CHUNK_VALUES // n_pix)


# --- patch geometry --------------------------------------------------------------------------------------


def _check_geometry(nside, n_patches) -> tuple[int, int]:
    """Validate ``(nside, n_patches)``; return ``(s, P)``: the patch side in pixels and its pixel count."""
    for name, value in (("nside", nside), ("n_patches", n_patches)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    nside, n_patches = int(nside), int(n_patches)
    if nside < 1 or nside & (nside - 1):
        raise ValueError(f"nside must be a power of 2 (NESTED ordering), got {nside}")
    sub = n_patches // 12  # 4^m
    if n_patches < 12 or n_patches % 12 or sub & (sub - 1) or sub.bit_length() % 2 == 0:
        raise ValueError(f"n_patches must be 12·4^m (12, 48, 192, …), got {n_patches}")
    side_patches = 1 << ((sub.bit_length() - 1) // 2)  # 2^m patches along a base pixel's side
    if side_patches > nside:
        raise ValueError(
            f"n_patches={n_patches} needs patches of at least one pixel: nside={nside} allows at most "
            f"{12 * nside**2} patches (2^m ≤ nside)"
        )
    s = nside // side_patches
    return s, s * s


@lru_cache(maxsize=32)
def _patch_grid(nside: int, n_patches: int) -> np.ndarray:
    s, n_pix = _check_geometry(nside, n_patches)
    x, y, _ = hp.pix2xyf(nside, np.arange(n_pix, dtype=np.int64), nest=True)  # patch 0: corner (0, 0)
    grid = np.empty((s, s), dtype=np.int64)
    grid[x, y] = np.arange(n_pix, dtype=np.int64)
    grid.flags.writeable = False
    return grid


def patch_grid(nside: int, n_patches: int) -> np.ndarray:
    """The square grid of a patch: ``grid[ix, iy]`` is the local pixel index (0 … P−1) at that cell.

    ``ix, iy`` are the HEALPix face coordinates ``(x, y)`` relative to the patch corner, so
    ``patch[..., grid]`` turns patches of shape ``(…, P)`` into images of shape ``(…, s, s)`` in which
    horizontally and vertically adjacent cells are neighbouring pixels on the sphere. The layout is the
    same for every patch (module docstring); it is read from patch 0 with ``healpy.pix2xyf``.

    Parameters
    ----------
    nside : int
        Power of 2.
    n_patches : int
        ``12·4^m`` with ``2^m ≤ nside``.

    Returns
    -------
    ndarray, int64, shape (s, s), s = nside / 2^m
        A permutation of ``0 … s²−1`` (a fresh copy).
    """
    _check_geometry(nside, n_patches)
    return _patch_grid(int(nside), int(n_patches)).copy()


def _check_patches(patches, n_pix: int | None, what: str) -> np.ndarray:
    """A 2-D float array ``(n_samples, P)`` without NaN, ±inf or ``healpy.UNSEEN``; P checked if given."""
    x = np.asarray(patches)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"patches must have shape (n_samples ≥ 1, P), got shape {x.shape}")
    if n_pix is not None and x.shape[1] != n_pix:
        raise ValueError(f"patches have {x.shape[1]} pixels each, {what} needs P = {n_pix}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"patches must be real numbers, got dtype {x.dtype}")
    if x.size == 0:
        return x
    lo, hi = float(x.min()), float(x.max())  # fast: NaN propagates, UNSEEN (−1.6375e30) would be the min
    tolerance = 1e-5 * abs(hp.UNSEEN)  # healpy.mask_bad's
    if np.isfinite(lo) and np.isfinite(hi) and lo > hp.UNSEEN + tolerance:
        return x
    bad = ~np.isfinite(x) | (np.abs(x - hp.UNSEEN) <= tolerance)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise ValueError(
            f"patches contain {int(bad.sum())} NaN, infinite or UNSEEN pixel(s), in sample(s) "
            f"{rows[:10].tolist()}{' …' if len(rows) > 10 else ''}; mask or fill them first"
        )
    return x


# --- power spectrum --------------------------------------------------------------------------------------


def _spectrum_edges(s: int, n_bins: int) -> np.ndarray:
    """Bin edges in |k| (cycles per patch side): logarithmic from 1 to s/2, no bin narrower than 1.

    Pure ``geomspace(1, s/2, n_bins + 1)`` leaves low bins empty as soon as their width falls below the
    gaps between the grid's few low |k| (1, √2, 2, √5, …; e.g. 16 bins on a 64×64 grid). So the first
    ``j − 1`` bins are the unit shells ``[1, 2), …, [j−1, j)`` and the rest ``geomspace(j, s/2)``, with the
    smallest j ≥ 1 whose first logarithmic bin is at least 1 wide (j = 1: purely logarithmic). A bin
    ≥ 1 wide always holds a mode (an integer |k| on an axis), so no bin is empty.
    """
    n_max = s // 2 - 1
    if n_bins > n_max:
        raise ValueError(f"n_bins={n_bins} is too many for a {s}×{s} patch grid: it allows at most {n_max}")
    for j in range(1, n_bins + 1):
        log_edges = np.geomspace(j, s / 2.0, n_bins - j + 2)
        if log_edges[1] - log_edges[0] >= 1.0 - 1e-12:
            return np.concatenate([np.arange(1.0, j), log_edges])
    return np.arange(1.0, n_bins + 2)  # n_bins == s/2 − 1: unit shells up to the Nyquist


@lru_cache(maxsize=32)
def _spectrum_binning(s: int, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Averaging matrix ``(s·(s//2+1), n_bins)`` over the ``rfft2`` modes, and the mean |k| per bin.

    Bin b holds the modes with ``e_b ≤ |k| < e_{b+1}`` (the last bin closed), ``e`` from
    :func:`_spectrum_edges`, |k| in cycles per patch side. An ``rfft2`` column ``0 < k_y < s/2`` stands
    for the modes ±k (equal power for a real field), so it counts twice: the average equals the one
    over the full FFT plane.
    """
    if s < 4:
        raise ValueError(f"the power spectrum needs patches of at least 4×4 pixels, got {s}×{s}")
    edges = _spectrum_edges(s, n_bins)
    kx = np.fft.fftfreq(s, d=1.0 / s)
    ky = np.fft.rfftfreq(s, d=1.0 / s)
    k = np.hypot(kx[:, None], ky[None, :]).ravel()
    weight = np.full((s, len(ky)), 2.0)
    weight[:, 0] = 1.0
    if s % 2 == 0:
        weight[:, -1] = 1.0
    weight = weight.ravel()
    index = np.searchsorted(edges, k, side="right") - 1
    index[k == edges[-1]] = n_bins - 1
    inside = (index >= 0) & (index < n_bins)
    counts = np.bincount(index[inside], weights=weight[inside], minlength=n_bins)
    assert counts.all(), "every bin holds a mode by construction"
    matrix = np.zeros((len(k), n_bins))
    matrix[np.flatnonzero(inside), index[inside]] = weight[inside] / counts[index[inside]]
    mean_k = np.bincount(index[inside], weights=(weight * k)[inside], minlength=n_bins) / counts
    matrix.flags.writeable = False
    mean_k.flags.writeable = False
    return matrix, mean_k


def _check_n_bins(n_bins) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    return int(n_bins)


def power_spectrum_ells(nside: int, n_patches: int, n_bins: int = 16) -> np.ndarray:
    """Multipoles of the bins of :func:`power_spectrum_features` (for plots and fits).

    The bins are logarithmically spaced in ``ℓ = 2π|k|/L`` between the fundamental ``2π/L`` and the
    Nyquist ``π·s/L`` of the ``s × s`` patch grid, ``L = sqrt(4π/n_patches)`` radians being the patch
    side and ``k`` the integer wave vector (cycles per patch side), except that no bin is narrower than
    the fundamental: where log bins would be, the lowest bins are unit shells ``|k| ∈ [1, 2), [2, 3), …``
    (with 16 bins on a 64×64 grid: 6 unit shells, then 10 log bins up to ``|k| = 32``), so no bin is empty.
    The value returned for a bin is the mean ℓ of the Fourier modes it averages (inside the bin; close to
    its geometric centre once the bin holds many modes).

    Returns
    -------
    ndarray, float64, shape (n_bins,)
    """
    s, _ = _check_geometry(nside, n_patches)
    _, mean_k = _spectrum_binning(s, _check_n_bins(n_bins))
    return 2.0 * np.pi * mean_k / np.sqrt(4.0 * np.pi / n_patches)


def power_spectrum_features(patches: np.ndarray, nside: int, n_patches: int, n_bins: int = 16) -> np.ndarray:
    """Log flat-sky power spectrum of each patch, in ``n_bins`` logarithmic multipole bins.

    Each patch is laid on its ``s × s`` face grid (:func:`patch_grid`), its mean subtracted, and
    Fourier transformed (``scipy.fft.rfft2``). This is the flat-sky approximation: the patch is treated as
    a flat square of side ``L = sqrt(4π/n_patches)`` radians sampled on a uniform grid. HEALPix face
    grids are close to uniform (equal-area pixels, mildly sheared), and the features are only compared
    with each other, so this is enough. With ``N = s²`` pixels, the power of mode ``k`` is::

        C(ℓ_k) = (L² / N²) · |F_k|²,     ℓ_k = 2π|k| / L,

    normalised like a full-sky ``C_ℓ``: white noise of pixel variance σ² gives ``σ² · 4π/N_pix``, and
    (Parseval) the sum of ``C`` over all modes but k = 0 is ``L² · var(patch)``. ``C`` is averaged over
    the modes of each bin (see :func:`power_spectrum_ells`) and the result is ``log10`` of it, floored
    at the smallest positive float64 for an exactly flat patch.

    Parameters
    ----------
    patches : ndarray, shape (n_samples, P)
        Pixel values of each patch in NESTED order, ``P = 12·nside²/n_patches``.
    nside, n_patches : int
        As in :func:`patch_grid`; the grid must be at least 4×4.
    n_bins : int
        Number of multipole bins (:func:`power_spectrum_ells`), at most ``s/2 − 1``.

    Returns
    -------
    ndarray, float64, shape (n_samples, n_bins)
        ``log10 C`` per bin (C in steradians × squared map units).
    """
    s, n_pix = _check_geometry(nside, n_patches)
    matrix, _ = _spectrum_binning(s, _check_n_bins(n_bins))
    x = _check_patches(patches, n_pix, f"nside={nside}, n_patches={n_patches}")
    grid = _patch_grid(int(nside), int(n_patches))
    norm = (4.0 * np.pi / n_patches) / float(n_pix) ** 2
    out = np.empty((x.shape[0], matrix.shape[1]))
    flat_grid, chunk = grid.ravel(), _chunk_rows(n_pix)
    for start in range(0, x.shape[0], chunk):
        images = np.take(x[start : start + chunk], flat_grid, axis=1).astype(np.float64)
        images = images.reshape(-1, s, s)
        images -= images.mean(axis=(1, 2), keepdims=True)
        f = scipy.fft.rfft2(images)
        power = (f.real**2 + f.imag**2).reshape(len(images), -1)
        out[start : start + chunk] = power @ matrix
    out *= norm
    return np.log10(np.maximum(out, np.finfo(np.float64).tiny))


# --- histograms ------------------------------------------------------------------------------------------


def histogram_edges(patches: np.ndarray, n_bins: int = 20, quantile: float = 0.001) -> np.ndarray:
    """Edges of ``n_bins`` equal-width bins spanning the ``[q, 1−q]`` quantiles of the pixel values.

    Compute them on the training patches only and reuse them for every split. Values outside the edges
    are counted in the end bins by :func:`histogram_features` (clipping), so a few extreme pixels do not
    stretch the bins.

    Parameters
    ----------
    patches : ndarray, shape (n_samples, P) (any shape is accepted: all values are pooled)
    n_bins : int
    quantile : float
        ``q``, in [0, 0.5).

    Returns
    -------
    ndarray, float64, shape (n_bins + 1,), strictly increasing
    """
    n_bins = _check_n_bins(n_bins)
    if (
        isinstance(quantile, bool)
        or not isinstance(quantile, float | int | np.number)
        or not 0 <= quantile < 0.5
    ):
        raise ValueError(f"quantile must be a number in [0, 0.5), got {quantile!r}")
    x = np.asarray(patches)
    if x.size == 0:
        raise ValueError(f"patches must not be empty, got shape {x.shape}")
    x = _check_patches(x.reshape(len(x), -1) if x.ndim >= 2 else x.reshape(1, -1), None, "")
    lo, hi = np.quantile(x, [quantile, 1.0 - quantile])
    if not hi > lo:
        raise ValueError(
            f"the [{quantile}, {1 - quantile}] quantiles of the pixel values are both {lo}: the patches "
            f"are (nearly) constant; use a smaller quantile or other patches"
        )
    return np.linspace(lo, hi, n_bins + 1)


def histogram_features(patches: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Normalised histogram of each patch's pixel values: the fraction of its pixels in each bin.

    Equal to ``np.histogram(np.clip(patch, edges[0], edges[-1]), edges)[0] / P`` for every patch:
    bins are ``[e_i, e_{i+1})``, the last one closed, and values outside ``[e_0, e_n]`` go to the end
    bins.

    Parameters
    ----------
    patches : ndarray, shape (n_samples, P)
    edges : ndarray, shape (n_bins + 1,), strictly increasing (e.g. from :func:`histogram_edges`)

    Returns
    -------
    ndarray, float64, shape (n_samples, n_bins); rows sum to 1
    """
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise ValueError(
            f"edges must be a finite, strictly increasing 1-D array of ≥ 2 values, got {edges!r:.200}"
        )
    x = _check_patches(patches, None, "")
    n, n_pix = x.shape
    n_bins = len(edges) - 1
    counts = np.empty((n, n_bins), dtype=np.int64)
    chunk = _chunk_rows(n_pix)
    offsets = (np.arange(chunk, dtype=np.int64) * n_bins)[:, None]
    for start in range(0, n, chunk):
        block = x[start : start + chunk].astype(np.float64, copy=False)  # compare in float64, as np.histogram
        index = _bin_index(block, edges) + offsets[: len(block)]
        counts[start : start + chunk] = np.bincount(index.ravel(), minlength=len(block) * n_bins).reshape(
            len(block), n_bins
        )
    return counts / float(n_pix)


def _bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value, ``[e_i, e_{i+1})`` with the end bins extended to ±inf: ``searchsorted`` exactly.

    For equal-width edges (those of :func:`histogram_edges`) the bin is computed arithmetically, then
    corrected by one comparison with each neighbouring edge (rounding can put it off by one): 3× faster
    than ``searchsorted`` and identical to it.
    """
    n_bins = len(edges) - 1
    width = (edges[-1] - edges[0]) / n_bins
    if n_bins == 1:
        return np.zeros(values.shape, dtype=np.intp)
    if not np.allclose(np.diff(edges), width, rtol=1e-6, atol=0.0):
        return np.searchsorted(edges[1:-1], values, side="right")
    guess = np.floor((values - edges[0]) * (1.0 / width))
    np.clip(guess, 0, n_bins - 1, out=guess)
    index = guess.astype(np.intp)
    lower = np.concatenate([[-np.inf], edges[1:-1]])
    upper = np.concatenate([edges[1:-1], [np.inf]])
    index -= values < lower[index]
    index += values >= upper[index]
    return index


# --- linear SVM ------------------------------------------------------------------------------------------


@dataclass
class SVMResult:
    """Outcome of :func:`linear_svm`.

    Attributes
    ----------
    name : str
        The baseline's name (e.g. ``"power spectrum"``).
    C : float
        Regularisation chosen on the validation set.
    val_accuracy, test_accuracy : float
        Accuracies of the chosen model, in [0, 1].
    test_predictions : ndarray, int64, shape (n_test,)
    confusion : ndarray, int64, shape (n_classes, n_classes)
        ``confusion[i, j]``: test samples of class ``classes[i]`` predicted as ``classes[j]``.
    classes : ndarray, int64, shape (n_classes,)
        The sorted training labels that index ``confusion``.
    val_accuracies : dict
        Validation accuracy of every C tried.
    """

    name: str
    C: float
    val_accuracy: float
    test_accuracy: float
    test_predictions: np.ndarray
    confusion: np.ndarray
    classes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    val_accuracies: dict[float, float] = field(default_factory=dict)


def _check_split(split, name: str, n_features: int | None) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(split, tuple | list) or len(split) != 2:
        raise ValueError(f"{name} must be a pair (X, y), got {type(split).__name__}")
    x, y = np.asarray(split[0]), np.asarray(split[1])
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"{name} X must have shape (n_samples ≥ 1, n_features), got shape {x.shape}")
    if n_features is not None and x.shape[1] != n_features:
        raise ValueError(f"{name} X has {x.shape[1]} features, train X has {n_features}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} X contains {int((~np.isfinite(x)).sum())} NaN or infinite value(s)")
    if y.shape != (x.shape[0],):
        raise ValueError(f"{name} y must have shape ({x.shape[0]},) to match X, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if not (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y))):
            raise ValueError(f"{name} y must hold integer class labels, got dtype {y.dtype}")
    return x.astype(np.float64, copy=False), y.astype(np.int64)


def linear_svm(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    Cs: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0),
    seed: int = 0,
) -> SVMResult:
    """Linear SVM baseline: standardise the features, fit ``LinearSVC`` for each C, keep the best on val.

    For every ``C`` in ``Cs``, a ``StandardScaler`` + ``sklearn.svm.LinearSVC`` pipeline (squared hinge
    loss, L2 penalty, one-vs-rest for more than two classes) is fitted on ``train``; the C with the best
    validation accuracy is kept (ties go to the smaller C, the stronger regularisation) and its model
    is scored on ``test``. A ``RuntimeWarning`` says when the chosen model did not converge.

    Parameters
    ----------
    name : str
    train, val, test : (X, y)
        ``X`` of shape (n, n_features), finite; ``y`` of shape (n,), integer labels. Train holds at least
        two classes; val and test hold no class absent from train.
    Cs : sequence of float > 0
    seed : int
        ``random_state`` of ``LinearSVC`` (its coordinate descent shuffles).

    Returns
    -------
    SVMResult
    """
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import LinearSVC
    except ImportError as error:
        raise ImportError("the SVM baselines need scikit-learn: pip install 'deepsphere[cosmo]'") from error

    if not isinstance(name, str):
        raise ValueError(f"name must be a string, got {type(name).__name__}")
    cs = np.asarray(Cs, dtype=np.float64).ravel() if np.ndim(Cs) <= 1 else None
    if cs is None or len(cs) == 0 or not np.all(np.isfinite(cs)) or np.any(cs <= 0):
        raise ValueError(f"Cs must be a non-empty sequence of positive numbers, got {Cs!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    x_train, y_train = _check_split(train, "train", None)
    x_val, y_val = _check_split(val, "val", x_train.shape[1])
    x_test, y_test = _check_split(test, "test", x_train.shape[1])
    classes = np.unique(y_train)
    if len(classes) < 2:
        raise ValueError(f"train y must hold at least 2 classes, got only {classes.tolist()}")
    for split, y in (("val", y_val), ("test", y_test)):
        missing = np.setdiff1d(y, classes)
        if len(missing):
            raise ValueError(
                f"{split} y has class(es) {missing.tolist()} missing from train (classes {classes.tolist()})"
            )

    best = None
    accuracies: dict[float, float] = {}
    for c in sorted(cs.tolist()):
        model = make_pipeline(
            StandardScaler(), LinearSVC(C=c, dual="auto", max_iter=100_000, random_state=int(seed))
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(x_train, y_train)
        converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        accuracies[c] = float(np.mean(model.predict(x_val) == y_val))
        if best is None or accuracies[c] > accuracies[best[0]]:
            best = (c, model, converged)
    c, model, converged = best
    if not converged:
        warnings.warn(
            f"{name}: LinearSVC with the chosen C={c} did not converge; results may be approximate",
            RuntimeWarning,
            stacklevel=2,
        )
    predictions = model.predict(x_test).astype(np.int64)
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(confusion, (np.searchsorted(classes, y_test), np.searchsorted(classes, predictions)), 1)
    return SVMResult(
        name=name,
        C=c,
        val_accuracy=accuracies[c],
        test_accuracy=float(np.mean(predictions == y_test)),
        test_predictions=predictions,
        confusion=confusion,
        classes=classes.astype(np.int64),
        val_accuracies=accuracies,
    )
