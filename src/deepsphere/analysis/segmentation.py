"""Scores of per-vertex predictions: segmentation (climate events) and regression (GHCN weather).

Segmentation, for ``C`` classes and labels ``y`` against predictions ``ŷ`` over all vertices of all samples
(pooled, not averaged per batch):

- confusion matrix ``M[i, j] = #{y = i, ŷ = j}`` (rows: truth, columns: prediction);
- per-class accuracy (recall) ``M[i, i] / Σ_j M[i, j]``, the metric of Jiang et al. (UGSCNN, ICLR 2019)
  and of the DeepSphere climate experiment;
- intersection over union ``M[i, i] / (Σ_j M[i, j] + Σ_j M[j, i] − M[i, i])``;
- average precision of each class from its scores, one class against the rest (scikit-learn's definition,
  no interpolation): ``AP = Σ_n (R_n − R_{n−1}) P_n`` over the distinct score thresholds, from the highest.

A class absent from both the labels and the predictions has no accuracy, IoU or AP: ``nan``, and the means
skip it. The DeepSphere paper's "mean AP" averages the two event classes (TC and AR), UGSCNN's averages all
three; :meth:`SegmentationScores.mean` takes the classes to average.

Regression: :func:`r2_scores` (coefficient of determination per target and overall, with a mask of valid
values) and :func:`circular_error_days` (the error of a day-of-year prediction given as a point on the
circle, ``(cos, sin)`` of ``2π·day/period``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "SegmentationScores",
    "average_precision",
    "circular_error_days",
    "confusion_matrix",
    "iou_scores",
    "per_class_accuracy",
    "r2_scores",
    "segmentation_scores",
]


def _labels(values, name: str, n_classes: int | None = None) -> np.ndarray:
    """``values`` flattened to int64 class indices in [0, n_classes), or a ValueError naming ``name``."""
    arr = np.asarray(values)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be integer class indices, got dtype {arr.dtype}")
    arr = arr.reshape(-1).astype(np.int64)
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if arr.min() < 0 or (n_classes is not None and arr.max() >= n_classes):
        bad = int(arr[(arr < 0) | (arr >= (n_classes or np.iinfo(np.int64).max))][0])
        raise ValueError(f"{name} must hold classes in [0, {n_classes}), found {bad}")
    return arr


def _check_n_classes(n_classes) -> int:
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer ≥ 2, got {n_classes!r}")
    return int(n_classes)


def confusion_matrix(labels, predictions, n_classes: int) -> np.ndarray:
    """Counts ``M[i, j]`` of vertices of true class ``i`` predicted as ``j``.

    Parameters
    ----------
    labels, predictions : array_like of int, same shape (any, e.g. (batch, vertex))
        True and predicted classes in ``[0, n_classes)``.
    n_classes : int
        Number of classes ``C`` (≥ 2).

    Returns
    -------
    ndarray, shape (C, C), int64
        Rows: true class; columns: predicted class.

    Examples
    --------
    >>> confusion_matrix([0, 0, 1, 2], [0, 1, 1, 2], n_classes=3).tolist()
    [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    """
    n_classes = _check_n_classes(n_classes)
    if np.shape(labels) != np.shape(predictions):
        raise ValueError(
            f"labels and predictions must have the same shape, got {np.shape(labels)} and "
            f"{np.shape(predictions)}"
        )
    y = _labels(labels, "labels", n_classes)
    p = _labels(predictions, "predictions", n_classes)
    return np.bincount(y * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _check_confusion(confusion) -> np.ndarray:
    m = np.asarray(confusion)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2:
        raise ValueError(f"confusion must be a square (C, C) matrix with C ≥ 2, got shape {m.shape}")
    if not np.issubdtype(m.dtype, np.integer) or m.min() < 0:
        raise ValueError("confusion must hold non-negative integer counts")
    return m.astype(np.float64)


def per_class_accuracy(confusion) -> np.ndarray:
    """Recall of each class, ``M[i, i] / Σ_j M[i, j]``, shape (C,); ``nan`` for a class with no vertex.

    >>> per_class_accuracy([[3, 1], [2, 2]]).tolist()
    [0.75, 0.5]
    """
    m = _check_confusion(confusion)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(m) / m.sum(axis=1)


def iou_scores(confusion) -> np.ndarray:
    """Intersection over union of each class, ``M[i,i] / (row_i + col_i − M[i,i])``, shape (C,); ``nan``
    for a class neither present nor predicted.

    >>> iou_scores([[3, 1], [2, 2]]).round(3).tolist()
    [0.5, 0.4]
    """
    m = _check_confusion(confusion)
    inter = np.diag(m)
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / (m.sum(axis=0) + m.sum(axis=1) - inter)


def _binary_average_precision(truth: np.ndarray, score: np.ndarray) -> float:
    """AP of one class: ``Σ (R_n − R_{n−1}) P_n`` over distinct thresholds, highest first; nan if none."""
    n_pos = int(truth.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-score, kind="stable")
    score, truth = score[order], truth[order]
    last = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]  # last index of each run of equal scores
    tp = np.cumsum(truth, dtype=np.int64)[last]
    precision = tp / (last + 1)
    recall = tp / n_pos
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def average_precision(labels, scores) -> np.ndarray:
    """Average precision of each class from per-vertex scores, one class against the rest.

    Parameters
    ----------
    labels : array_like of int, shape (...,)
        True classes in ``[0, C)``.
    scores : array_like of float, shape (..., C)
        Any score increasing with the confidence in each class (logits, probabilities).

    Returns
    -------
    ndarray, shape (C,), float64
        ``AP_c = Σ_n (R_n − R_{n−1}) P_n``, precision ``P_n`` and recall ``R_n`` of class ``c`` at the
        ``n``-th distinct threshold of its scores (scikit-learn's ``average_precision_score``); ``nan``
        for a class without positive vertex.

    Examples
    --------
    >>> average_precision([1, 0, 1, 0], [[0.2, 0.8], [0.6, 0.4], [0.9, 0.3], [0.7, 0.1]]).round(4).tolist()
    [0.5833, 0.8333]
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim < 2 or s.shape[-1] < 2:
        raise ValueError(f"scores must have shape (..., C) with C ≥ 2 classes, got {s.shape}")
    if s.shape[:-1] != np.shape(labels):
        raise ValueError(
            f"scores {s.shape} must be labels' shape {np.shape(labels)} plus a class axis (..., C)"
        )
    if not np.isfinite(s).all():
        raise ValueError(f"scores must be finite, found {int(np.count_nonzero(~np.isfinite(s)))} NaN/inf")
    n_classes = s.shape[-1]
    y = _labels(labels, "labels", n_classes)
    s = s.reshape(-1, n_classes)
    return np.array([_binary_average_precision(y == c, s[:, c]) for c in range(n_classes)])


@dataclass(frozen=True)
class SegmentationScores:
    """Per-class scores of a segmentation (see the module docstring); arrays of shape (C,)."""

    confusion: np.ndarray
    accuracy: np.ndarray
    iou: np.ndarray
    average_precision: np.ndarray | None = None

    def mean(self, metric: str, classes: Sequence[int] | None = None) -> float:
        """Mean of ``metric`` (``"accuracy"``, ``"iou"`` or ``"average_precision"``) over ``classes``
        (default all), skipping ``nan``; ``nan`` if none is defined."""
        if metric not in ("accuracy", "iou", "average_precision"):
            raise ValueError(f"metric must be 'accuracy', 'iou' or 'average_precision', got {metric!r}")
        values = getattr(self, metric)
        if values is None:
            raise ValueError("average_precision needs scores: call segmentation_scores(labels, scores)")
        if classes is not None:
            idx = np.asarray(classes, dtype=np.int64)
            if idx.size == 0 or idx.min() < 0 or idx.max() >= len(values):
                raise ValueError(f"classes must be indices in [0, {len(values)}), got {list(classes)}")
            values = values[idx]
        values = values[np.isfinite(values)]
        return float(values.mean()) if values.size else float("nan")

    def as_dict(self, names: Sequence[str]) -> dict[str, float]:
        """Flat ``{"accuracy/<name>": …, "iou/<name>": …, "ap/<name>": …, "mean_*": …}`` for logs."""
        if len(names) != len(self.accuracy):
            raise ValueError(f"names must give {len(self.accuracy)} class names, got {list(names)}")
        out: dict[str, float] = {}
        metrics = [("accuracy", self.accuracy), ("iou", self.iou)]
        if self.average_precision is not None:
            metrics.append(("ap", self.average_precision))
        for key, values in metrics:
            for name, value in zip(names, values.tolist(), strict=True):
                out[f"{key}/{name}"] = value
        out["mean_accuracy"] = self.mean("accuracy")
        out["mean_iou"] = self.mean("iou")
        if self.average_precision is not None:
            out["mean_ap"] = self.mean("average_precision")
        return out


def segmentation_scores(
    labels, scores=None, predictions=None, n_classes: int | None = None
) -> SegmentationScores:
    """Confusion matrix, per-class accuracy, IoU and (from scores) average precision.

    Parameters
    ----------
    labels : array_like of int, shape (...,)
        True classes.
    scores : array_like of float, shape (..., C), optional
        Class scores; the prediction is their argmax unless ``predictions`` is given.
    predictions : array_like of int, shape (...,), optional
        Predicted classes, when no scores are available (then no average precision).
    n_classes : int, optional
        ``C``; taken from ``scores`` when given.

    Examples
    --------
    >>> s = segmentation_scores([0, 0, 1, 1], scores=[[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]])
    >>> s.accuracy.tolist(), s.iou.round(3).tolist(), s.average_precision.tolist()
    ([0.5, 1.0], [0.5, 0.667], [1.0, 1.0])
    """
    if scores is None and predictions is None:
        raise ValueError("give scores (..., C) or predictions (...,)")
    ap = None
    if scores is not None:
        s = np.asarray(scores, dtype=np.float64)
        ap = average_precision(labels, s)
        if n_classes is not None and n_classes != s.shape[-1]:
            raise ValueError(f"n_classes={n_classes} but scores have {s.shape[-1]} classes")
        n_classes = s.shape[-1]
        if predictions is None:
            predictions = np.argmax(s, axis=-1)
    if n_classes is None:
        raise ValueError("n_classes is needed when only predictions are given")
    confusion = confusion_matrix(labels, predictions, n_classes)
    return SegmentationScores(confusion, per_class_accuracy(confusion), iou_scores(confusion), ap)


def r2_scores(targets, predictions, mask=None) -> tuple[np.ndarray, float]:
    """Coefficient of determination per target and overall, over the valid entries only.

    Parameters
    ----------
    targets, predictions : array_like of float, shape (..., T)
        True and predicted values; the last axis holds the ``T`` targets (e.g. TMIN, TMAX).
    mask : array_like of bool, shape (..., T), optional
        True where the target is valid (missing stations are False); default all valid.

    Returns
    -------
    per_target : ndarray, shape (T,)
        ``R²_t = 1 − Σ (y − ŷ)² / Σ (y − ȳ_t)²`` over the valid entries of target ``t`` (``nan`` with
        fewer than 2 valid entries or a constant target).
    overall : float
        ``1 − Σ_t Σ (y − ŷ)² / Σ_t Σ (y − ȳ_t)²`` (scikit-learn's ``variance_weighted``).

    Examples
    --------
    >>> per, overall = r2_scores([[1.0, 2.0], [2.0, 4.0], [3.0, 9.0]], [[1.0, 3.0], [2.0, 4.0], [4.0, 8.0]])
    >>> per.round(4).tolist(), round(overall, 4)
    ([0.5, 0.9231], 0.8929)
    """
    y = np.asarray(targets, dtype=np.float64)
    p = np.asarray(predictions, dtype=np.float64)
    if y.ndim < 1 or y.shape != p.shape:
        raise ValueError(
            f"targets and predictions must have the same shape (..., T), got {y.shape} and {p.shape}"
        )
    m = np.ones(y.shape, dtype=bool) if mask is None else np.asarray(mask)
    if m.dtype != bool or m.shape != y.shape:
        raise ValueError(f"mask must be a boolean array of shape {y.shape}, got {m.dtype} {m.shape}")
    for name, arr in (("targets", y), ("predictions", p)):
        bad = m & ~np.isfinite(arr)
        if bad.any():
            raise ValueError(f"{name} has {int(bad.sum())} NaN/inf values where mask is True")
    n_targets = y.shape[-1]
    y, p, m = y.reshape(-1, n_targets), p.reshape(-1, n_targets), m.reshape(-1, n_targets)
    count = m.sum(axis=0)
    mean = np.where(count > 0, np.where(m, y, 0.0).sum(axis=0) / np.maximum(count, 1), 0.0)
    ss_res = np.where(m, (y - p) ** 2, 0.0).sum(axis=0)
    ss_tot = np.where(m, (y - mean) ** 2, 0.0).sum(axis=0)
    ok = (count >= 2) & (ss_tot > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_target = np.where(ok, 1.0 - ss_res / ss_tot, np.nan)
    total = ss_tot[ok].sum()
    overall = float(1.0 - ss_res[ok].sum() / total) if total > 0 else float("nan")
    return per_target, overall


def circular_error_days(predictions, targets, period: float = 365.25) -> np.ndarray:
    """Absolute error in days of a day-of-year prediction given as a point on the circle.

    Parameters
    ----------
    predictions, targets : array_like of float, shape (n, 2)
        ``(cos θ, sin θ)`` with ``θ = 2π·day/period``; predictions need not be unit vectors (only their
        angle counts) but must not be zero.
    period : float
        Days in a full turn (365.25).

    Returns
    -------
    ndarray, shape (n,)
        ``period/(2π) · |wrap(θ̂ − θ)|`` in days, in ``[0, period/2]``.

    Examples
    --------
    >>> t = 2 * np.pi * np.array([1.0, 360.0]) / 365.25
    >>> p = 2 * np.pi * np.array([364.0, 2.0]) / 365.25
    >>> circular_error_days(np.c_[np.cos(p), np.sin(p)], np.c_[np.cos(t), np.sin(t)]).round(6).tolist()
    [2.25, 7.25]
    """
    p = np.asarray(predictions, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape != t.shape:
        raise ValueError(f"predictions and targets must both have shape (n, 2), got {p.shape} and {t.shape}")
    if not (period > 0 and np.isfinite(period)):
        raise ValueError(f"period must be a positive number of days, got {period!r}")
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise ValueError("predictions and targets must be finite")
    if np.any(np.hypot(p[:, 0], p[:, 1]) == 0) or np.any(np.hypot(t[:, 0], t[:, 1]) == 0):
        raise ValueError("a zero vector (cos, sin) = (0, 0) has no angle")
    diff = np.arctan2(p[:, 1], p[:, 0]) - np.arctan2(t[:, 1], t[:, 0])
    diff = np.abs(np.angle(np.exp(1j * diff)))
    return diff * period / (2 * np.pi)
