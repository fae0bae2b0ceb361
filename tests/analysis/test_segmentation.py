"""Segmentation and regression scores against scikit-learn and hand-computed values."""

import numpy as np
import pytest

from deepsphere.analysis.segmentation import (
    SegmentationScores,
    average_precision,
    circular_error_days,
    confusion_matrix,
    iou_scores,
    per_class_accuracy,
    r2_scores,
    segmentation_scores,
)

sklearn_metrics = pytest.importorskip("sklearn.metrics")


@pytest.fixture
def imbalanced():
    """Labels like the climate task (mostly background) and scores that carry some signal, with ties."""
    rng = np.random.default_rng(0)
    labels = rng.choice(3, size=(4, 500), p=[0.9, 0.03, 0.07])
    scores = rng.normal(size=(4, 500, 3)) + 1.5 * np.eye(3)[labels]
    return labels, np.round(scores, 1)  # rounding creates tied scores


def test_confusion_matrix_matches_sklearn(imbalanced):
    labels, scores = imbalanced
    pred = scores.argmax(-1)
    ours = confusion_matrix(labels, pred, n_classes=3)
    ref = sklearn_metrics.confusion_matrix(labels.ravel(), pred.ravel(), labels=[0, 1, 2])
    np.testing.assert_array_equal(ours, ref)
    assert ours.sum() == labels.size


def test_accuracy_and_iou_match_sklearn(imbalanced):
    labels, scores = imbalanced
    pred = scores.argmax(-1)
    m = confusion_matrix(labels, pred, 3)
    recall = sklearn_metrics.recall_score(labels.ravel(), pred.ravel(), average=None, labels=[0, 1, 2])
    jaccard = sklearn_metrics.jaccard_score(labels.ravel(), pred.ravel(), average=None, labels=[0, 1, 2])
    np.testing.assert_allclose(per_class_accuracy(m), recall, rtol=1e-12)
    np.testing.assert_allclose(iou_scores(m), jaccard, rtol=1e-12)


def test_accuracy_and_iou_by_hand():
    m = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 0]])
    np.testing.assert_allclose(per_class_accuracy(m)[:2], [5 / 6, 3 / 6])
    np.testing.assert_allclose(iou_scores(m)[:2], [5 / (6 + 7 - 5), 3 / (6 + 4 - 3)])
    assert np.isnan(per_class_accuracy(m)[2])  # class 2 never occurs: no recall
    assert iou_scores(m)[2] == 0.0  # but it is predicted once: IoU 0
    assert np.isnan(iou_scores([[2, 0], [0, 0]])[1])  # neither present nor predicted


def test_average_precision_matches_sklearn_with_ties(imbalanced):
    labels, scores = imbalanced
    ours = average_precision(labels, scores)
    onehot = np.eye(3)[labels.ravel()]
    flat = scores.reshape(-1, 3)
    for c in range(3):
        ref = sklearn_metrics.average_precision_score(onehot[:, c], flat[:, c])
        assert ours[c] == pytest.approx(ref, rel=1e-12)
    macro = sklearn_metrics.average_precision_score(onehot, flat, average="macro")
    assert ours.mean() == pytest.approx(macro, rel=1e-12)


def test_average_precision_by_hand():
    # class 1 ranked: 0.9 (pos), 0.8 (neg), 0.7 (pos), 0.1 (neg): AP = ½·1 + ½·⅔
    labels = np.array([1, 0, 1, 0])
    scores = np.array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.9, 0.1]])
    assert average_precision(labels, scores)[1] == pytest.approx(0.5 + 1 / 3)
    # all scores tied: one threshold, precision = prevalence
    tied = np.full((4, 2), 0.5)
    np.testing.assert_allclose(average_precision(labels, tied), [0.5, 0.5])
    # perfect ranking
    assert average_precision(labels, np.eye(2)[labels])[1] == 1.0


def test_segmentation_scores_and_means():
    labels = np.array([0, 0, 0, 1, 1, 2])
    scores = np.array([[3, 0, 0], [2, 1, 0], [0, 2, 0], [0, 2, 1], [1, 0, 0], [0, 0, 5]], dtype=float)
    s = segmentation_scores(labels, scores)
    np.testing.assert_allclose(s.accuracy, [2 / 3, 1 / 2, 1.0])
    np.testing.assert_allclose(s.iou, [2 / 4, 1 / 3, 1.0])
    assert s.mean("accuracy") == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert s.mean("iou", classes=[1, 2]) == pytest.approx((1 / 3 + 1) / 2)
    logged = s.as_dict(["bg", "tc", "ar"])
    assert logged["accuracy/tc"] == 0.5 and logged["mean_ap"] == pytest.approx(s.average_precision.mean())
    from_pred = segmentation_scores(labels, predictions=scores.argmax(1), n_classes=3)
    np.testing.assert_array_equal(from_pred.confusion, s.confusion)
    assert from_pred.average_precision is None
    with pytest.raises(ValueError, match="needs scores"):
        from_pred.mean("average_precision")


def test_means_skip_undefined_classes():
    s = SegmentationScores(np.eye(3, dtype=np.int64), np.array([1.0, np.nan, 0.5]), np.array([np.nan] * 3))
    assert s.mean("accuracy") == 0.75
    assert np.isnan(s.mean("iou"))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: confusion_matrix([0, 1], [0], 2), "same shape"),
        (lambda: confusion_matrix([0.0, 1.0], [0, 1], 2), "integer class indices"),
        (lambda: confusion_matrix([0, 3], [0, 1], 3), r"classes in \[0, 3\), found 3"),
        (lambda: confusion_matrix([0, 1], [0, 1], 1), "n_classes must be an integer ≥ 2"),
        (lambda: average_precision([0, 1], [[0.1, np.nan], [0.2, 0.3]]), "finite"),
        (lambda: average_precision([0, 1, 1], [[0.1, 0.2], [0.2, 0.3]]), "labels' shape"),
        (lambda: per_class_accuracy([[1, 2, 3]]), "square"),
        (lambda: segmentation_scores([0, 1]), "give scores"),
        (lambda: SegmentationScores(np.eye(2), np.ones(2), np.ones(2)).mean("f1"), "metric must be"),
    ],
)
def test_bad_segmentation_inputs(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_r2_matches_sklearn():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(50, 7, 2)) * [1.0, 3.0]
    p = y + rng.normal(scale=0.5, size=y.shape)
    per, overall = r2_scores(y, p)
    flat_y, flat_p = y.reshape(-1, 2), p.reshape(-1, 2)
    np.testing.assert_allclose(
        per, sklearn_metrics.r2_score(flat_y, flat_p, multioutput="raw_values"), rtol=1e-12
    )
    ref = sklearn_metrics.r2_score(flat_y, flat_p, multioutput="variance_weighted")
    assert overall == pytest.approx(ref, rel=1e-12)


def test_r2_ignores_masked_entries():
    rng = np.random.default_rng(2)
    y = rng.normal(size=(40, 5, 2))
    p = y + rng.normal(scale=0.3, size=y.shape)
    mask = rng.random(y.shape) > 0.3
    garbage_y, garbage_p = np.where(mask, y, np.nan), np.where(mask, p, 1e9)  # masked values never count
    per, _ = r2_scores(garbage_y, garbage_p, mask)
    for t in range(2):
        keep = mask[..., t]
        assert per[t] == pytest.approx(sklearn_metrics.r2_score(y[..., t][keep], p[..., t][keep]), rel=1e-12)
    with pytest.raises(ValueError, match="NaN/inf values where mask is True"):
        r2_scores(garbage_y, p)
    with pytest.raises(ValueError, match="mask must be a boolean array"):
        r2_scores(y, p, mask.astype(int))


def test_circular_error_days():
    days_true = np.array([1.0, 100.0, 360.0, 180.0])
    days_pred = np.array([364.0, 110.0, 2.0, 180.0 + 365.25 / 2])
    to_circle = lambda d: np.c_[np.cos(2 * np.pi * d / 365.25), np.sin(2 * np.pi * d / 365.25)]  # noqa: E731
    err = circular_error_days(3.0 * to_circle(days_pred), to_circle(days_true))  # the norm does not matter
    np.testing.assert_allclose(err, [2.25, 10.0, 7.25, 365.25 / 2], atol=1e-9)
    with pytest.raises(ValueError, match="zero vector"):
        circular_error_days(np.zeros((1, 2)), to_circle(np.array([1.0])))
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        circular_error_days(np.zeros((3,)), np.zeros((3,)))
