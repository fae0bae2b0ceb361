"""Tests of deepsphere.analysis.retrieval on hand-made retrieval lists whose scores are worked out by hand.

Six shapes with classes [0, 0, 0, 1, 1, 2]; each query's list, its relevance pattern and its
precision, recall, F1 and average precision are written out below (class sizes 3, 2, 1). Average
precision is also checked against scikit-learn's ``average_precision_score`` on full rankings.
"""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from deepsphere.analysis.retrieval import (
    classification_accuracy,
    retrieval_lists_from_predictions,
    retrieval_metrics,
)

LABELS = np.array([0, 0, 0, 1, 1, 2])
LISTS = [
    np.array([0, 3, 1]),  # class 0, relevant 1 0 1: P 2/3, R 2/3, F1 2/3, AP (1 + 2/3)/2 = 5/6
    np.array([1, 2, 0]),  # class 0, relevant 1 1 1: P 1, R 1, F1 1, AP 1
    np.array([4, 2]),  # class 0, relevant 0 1: P 1/2, R 1/3, F1 2/5, AP 1/2
    np.array([3, 0, 4, 5]),  # class 1, relevant 1 0 1 0: P 1/2, R 1, F1 2/3, AP (1 + 2/3)/2 = 5/6
    np.array([], dtype=int),  # class 1, nothing retrieved: 0 everywhere
    np.array([5]),  # class 2, relevant 1: P 1, R 1, F1 1, AP 1
]
BY_HAND = np.array(  # precision, recall, f1, map per query
    [
        [2 / 3, 2 / 3, 2 / 3, 5 / 6],
        [1, 1, 1, 1],
        [1 / 2, 1 / 3, 2 / 5, 1 / 2],
        [1 / 2, 1, 2 / 3, 5 / 6],
        [0, 0, 0, 0],
        [1, 1, 1, 1],
    ]
)
NAMES = ("precision", "recall", "f1", "map")


def test_micro_macro_and_per_class_scores_of_hand_made_lists():
    scores = retrieval_metrics(LABELS, LISTS, LABELS)
    micro = BY_HAND.mean(axis=0)
    per_class = {0: BY_HAND[:3].mean(axis=0), 1: BY_HAND[3:5].mean(axis=0), 2: BY_HAND[5]}
    macro = (per_class[0] + per_class[1] + per_class[2]) / 3
    assert scores["n_queries"] == 6
    for name, value in zip(NAMES, micro, strict=True):
        assert scores["micro"][name] == pytest.approx(value, abs=1e-12)
    for name, value in zip(NAMES, macro, strict=True):
        assert scores["macro"][name] == pytest.approx(value, abs=1e-12)
    for label, expected in per_class.items():
        assert [scores["per_class"][label][n] for n in NAMES] == pytest.approx(list(expected), abs=1e-12)
    # the numbers themselves: micro P = (2/3 + 1 + 1/2 + 1/2 + 0 + 1)/6 = 11/18, macro P = (13/18 + 1/4 + 1)/3
    assert scores["micro"]["precision"] == pytest.approx(11 / 18)
    assert scores["macro"]["precision"] == pytest.approx((13 / 18 + 1 / 4 + 1) / 3)


def test_cutoff_and_repeated_entries():
    labels = np.array([0, 0, 0, 1])
    # [0, 0, 3, 1] cut after 3 entries -> [0, 0, 3] -> repeats dropped -> [0, 3]: P 1/2, R 1/3, AP 1
    scores = retrieval_metrics(np.array([0]), [np.array([0, 0, 3, 1])], labels, cutoff=3)
    assert [scores["micro"][n] for n in NAMES] == pytest.approx([1 / 2, 1 / 3, 0.4, 1.0])
    full = retrieval_metrics(np.array([0]), [np.array([0, 0, 3, 1])], labels)  # [0, 3, 1]: P 2/3, R 2/3
    assert [full["micro"][n] for n in NAMES] == pytest.approx([2 / 3, 2 / 3, 2 / 3, (1 + 2 / 3) / 2])


def test_average_precision_of_full_rankings_matches_scikit_learn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=40)
    queries = rng.integers(0, 4, size=10)
    lists = [rng.permutation(40) for _ in queries]  # every relevant shape retrieved
    scores = retrieval_metrics(queries, lists, labels)
    expected = [
        average_precision_score(labels[lst] == q, -np.arange(40))
        for q, lst in zip(queries, lists, strict=True)
    ]
    assert scores["micro"]["map"] == pytest.approx(np.mean(expected), abs=1e-12)
    assert scores["micro"]["recall"] == pytest.approx(1.0)
    assert scores["micro"]["precision"] == pytest.approx(np.mean([np.mean(labels == q) for q in queries]))


def test_lists_from_predictions_the_papers_way():
    probabilities = np.array(
        [
            [0.7, 0.2, 0.1],  # predicted 0
            [0.1, 0.8, 0.1],  # predicted 1
            [0.5, 0.4, 0.1],  # predicted 0
            [0.9, 0.05, 0.05],  # predicted 0
            [0.2, 0.2, 0.6],  # predicted 2
        ]
    )
    lists = retrieval_lists_from_predictions(probabilities)
    assert [lst.tolist() for lst in lists] == [[3, 0, 2], [1], [3, 0, 2], [3, 0, 2], [4]]
    # with true classes [0, 1, 1, 0, 2]: query 0 retrieves 3, 0, 2 -> relevant 1 1 0: P 2/3, R 1, AP 1
    truth = np.array([0, 1, 1, 0, 2])
    scores = retrieval_metrics(truth, lists, truth)
    assert scores["per_class"][0]["precision"] == pytest.approx(2 / 3)
    assert scores["per_class"][0]["map"] == pytest.approx(1.0)
    # class 1 has 2 shapes. Query 1 retrieves [1] -> relevant 1: P 1, R 1/2, AP 1;
    # query 2 retrieves 3, 0, 2 -> relevant 0 0 1: P 1/3, R 1/2, AP 1/3
    assert scores["per_class"][1]["precision"] == pytest.approx((1 + 1 / 3) / 2)
    assert scores["per_class"][1]["recall"] == pytest.approx(1 / 2)
    assert scores["per_class"][1]["map"] == pytest.approx((1 + 1 / 3) / 2)
    assert classification_accuracy(probabilities, truth) == pytest.approx(4 / 5)


def test_perfect_predictions_score_one():
    truth = np.repeat(np.arange(4), 5)
    probabilities = np.eye(4)[truth] * 0.9 + 0.025
    scores = retrieval_metrics(truth, retrieval_lists_from_predictions(probabilities), truth)
    assert scores["micro"] == pytest.approx(dict.fromkeys(NAMES, 1.0))
    assert scores["macro"] == pytest.approx(dict.fromkeys(NAMES, 1.0))


def test_bad_arguments():
    with pytest.raises(ValueError, match="ranked_lists has 2 lists but query_labels has 6 queries"):
        retrieval_metrics(LABELS, LISTS[:2], LABELS)
    with pytest.raises(ValueError, match="query_labels must be a 1-D array of int class labels, got float64"):
        retrieval_metrics(LABELS.astype(float), LISTS, LABELS)
    with pytest.raises(ValueError, match="all_labels must be >= 0, got -1"):
        retrieval_metrics(LABELS, LISTS, LABELS - 1)
    with pytest.raises(ValueError, match=r"ranked_lists\[1\] has indices outside \[0, 6\)"):
        retrieval_metrics(LABELS, [LISTS[0], np.array([6]), *LISTS[2:]], LABELS)
    with pytest.raises(ValueError, match=r"ranked_lists\[0\] must be a 1-D array of int indices"):
        retrieval_metrics(LABELS, [np.array([0.5]), *LISTS[1:]], LABELS)
    with pytest.raises(ValueError, match="cutoff must be an int >= 1, got 0"):
        retrieval_metrics(LABELS, LISTS, LABELS, cutoff=0)
    with pytest.raises(ValueError, match="query_labels is empty"):
        retrieval_metrics(np.array([], dtype=int), [], LABELS)
    with pytest.raises(
        ValueError, match=r"probabilities must have shape \(n_shapes, n_classes >= 2\), got \(3,\)"
    ):
        retrieval_lists_from_predictions(np.ones(3))
    with pytest.raises(ValueError, match="probabilities has NaN"):
        classification_accuracy(np.array([[np.nan, 1.0]]), np.array([0]))
    with pytest.raises(ValueError, match="labels has 1 entries but probabilities has 2 rows"):
        classification_accuracy(np.eye(2), np.array([0]))
