"""Shape-recognition scores: classification accuracy and the SHREC'17 retrieval metrics.

The SHREC'17 track "Large-scale 3D shape retrieval from ShapeNet Core55" (Savva et al. 2017) scores a
ranked retrieval list per query shape; a retrieved shape is relevant when its class (synsetId) is the
query's. As the track's evaluator (``evaluate.js``) does, each list is cut after ``cutoff`` = 1000
entries and repeated entries are dropped, then for a list of ``N`` entries, ``rel_k`` ∈ {0, 1} the
relevance of entry ``k`` and ``R_q`` the number of shapes of the query's class in the whole set:

- precision ``P@N = Σ_k rel_k / N``;
- recall ``R@N = Σ_k rel_k / R_q``;
- ``F1@N = 2 P R / (P + R)`` (0 when P = R = 0);
- average precision ``AP = (1 / Σ_k rel_k) Σ_{k: rel_k = 1} P@k`` (the mean of the precisions at the
  ranks of the relevant entries; 0 without any), and mAP its mean.

*Micro* averages are means over all queries; *macro* averages are means over the classes (of the
queries) of the per-class means. An empty list scores 0 everywhere. The track's graded NDCG, which needs
ShapeNet's sub-synsets, is not computed.

Cohen et al. (2018) and DeepSphere build the lists from a classifier: every shape predicted in the
query's predicted class, in decreasing order of that class's probability
(:func:`retrieval_lists_from_predictions`); the query set is the retrieval set, each query included.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METRICS = ("precision", "recall", "f1", "map")


def classification_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows of ``probabilities`` (n, n_classes) whose largest entry is at ``labels`` (n,).

    Examples
    --------
    >>> classification_accuracy(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), np.array([0, 1, 1]))
    0.6666666666666666
    """
    scores = _probabilities(probabilities)
    truth = _labels(labels, "labels")
    if len(truth) != len(scores):
        raise ValueError(f"labels has {len(truth)} entries but probabilities has {len(scores)} rows")
    return float(np.mean(scores.argmax(axis=1) == truth))


def retrieval_lists_from_predictions(probabilities: np.ndarray) -> list[np.ndarray]:
    """The papers' retrieval list of each shape: the shapes predicted in its class, most confident first.

    Shape ``q`` is predicted in class ``c = argmax_k p[q, k]``; its list holds every shape ``j`` with the
    same predicted class, sorted by decreasing ``p[j, c]`` (ties by index), ``q`` itself included.

    Parameters
    ----------
    probabilities : ndarray, shape (n_shapes, n_classes)
        Class scores (probabilities or logits: only their order matters).

    Returns
    -------
    list of ndarray of int64
        ``n_shapes`` lists of indices into the shapes (shapes of one predicted class share one array).

    Examples
    --------
    >>> p = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8]])
    >>> [lst.tolist() for lst in retrieval_lists_from_predictions(p)]
    [[0, 2], [3, 1], [0, 2], [3, 1]]
    """
    scores = _probabilities(probabilities)
    predicted = scores.argmax(axis=1)
    ranked = {}
    for c in np.unique(predicted):
        members = np.flatnonzero(predicted == c)
        ranked[c] = members[np.argsort(-scores[members, c], kind="stable")]
    return [ranked[c] for c in predicted]


def retrieval_metrics(
    query_labels: np.ndarray,
    ranked_lists: Sequence[np.ndarray],
    all_labels: np.ndarray,
    cutoff: int = 1000,
) -> dict:
    """SHREC'17 precision, recall, F1 and mAP of ranked retrieval lists, micro- and macro-averaged.

    Parameters
    ----------
    query_labels : ndarray, shape (n_queries,), int
        The class of each query.
    ranked_lists : sequence of n_queries 1-D int arrays
        Query ``q``'s retrieved shapes, best first, as indices into ``all_labels``.
    all_labels : ndarray, shape (n_shapes,), int
        The class of every shape of the retrieval set (relevant = same class as the query).
    cutoff : int
        Entries beyond this rank are ignored (the track's 1000).

    Returns
    -------
    dict
        ``{"micro": {...}, "macro": {...}, "per_class": {label: {...}}, "n_queries": n}``, each inner
        dict holding ``precision``, ``recall``, ``f1`` and ``map`` (see the module docstring).

    Examples
    --------
    >>> lists = [np.array([0, 2, 1]), np.array([1])]
    >>> scores = retrieval_metrics(np.array([0, 1]), lists, np.array([0, 1, 0]))
    >>> {k: round(v, 4) for k, v in scores["micro"].items()}
    {'precision': 0.8333, 'recall': 1.0, 'f1': 0.9, 'map': 1.0}
    """
    queries = _labels(query_labels, "query_labels")
    shapes = _labels(all_labels, "all_labels")
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, np.integer)) or cutoff < 1:
        raise ValueError(f"cutoff must be an int >= 1, got {cutoff!r}")
    if isinstance(ranked_lists, np.ndarray) and ranked_lists.ndim != 2 and ranked_lists.dtype != object:
        raise ValueError(
            f"ranked_lists must be a sequence of 1-D arrays, got an array of shape {ranked_lists.shape}"
        )
    if len(ranked_lists) != len(queries):
        raise ValueError(
            f"ranked_lists has {len(ranked_lists)} lists but query_labels has {len(queries)} queries"
        )
    if len(queries) == 0:
        raise ValueError("query_labels is empty: no query to score")
    class_sizes = np.bincount(shapes, minlength=queries.max() + 1)
    per_query = np.array(
        [
            _query_scores(q, label, lst, shapes, class_sizes, cutoff)
            for q, (label, lst) in enumerate(zip(queries, ranked_lists, strict=True))
        ]
    )
    per_class = {int(c): _named(per_query[queries == c].mean(axis=0)) for c in np.unique(queries)}
    macro = np.mean([list(scores.values()) for scores in per_class.values()], axis=0)
    return {
        "micro": _named(per_query.mean(axis=0)),
        "macro": _named(macro),
        "per_class": per_class,
        "n_queries": len(queries),
    }


def _query_scores(
    query: int, label: int, ranked: np.ndarray, shapes: np.ndarray, class_sizes: np.ndarray, cutoff: int
) -> tuple[float, float, float, float]:
    retrieved = np.asarray(ranked)
    if retrieved.ndim != 1 or (retrieved.size and not np.issubdtype(retrieved.dtype, np.integer)):
        raise ValueError(
            f"ranked_lists[{query}] must be a 1-D array of int indices, got {retrieved.dtype} "
            f"with shape {retrieved.shape}"
        )
    if retrieved.size and (retrieved.min() < 0 or retrieved.max() >= len(shapes)):
        raise ValueError(
            f"ranked_lists[{query}] has indices outside [0, {len(shapes)}), the shapes of all_labels"
        )
    retrieved = retrieved[:cutoff]
    _, first = np.unique(retrieved, return_index=True)
    retrieved = retrieved[np.sort(first)]  # drop repeats, keep the first occurrence
    if retrieved.size == 0 or class_sizes[label] == 0:
        return 0.0, 0.0, 0.0, 0.0
    relevant = shapes[retrieved] == label
    hits = np.cumsum(relevant)
    precision = hits[-1] / retrieved.size
    recall = hits[-1] / class_sizes[label]
    f1 = 2 * precision * recall / (precision + recall) if hits[-1] else 0.0
    ap = float(np.mean(hits[relevant] / (np.flatnonzero(relevant) + 1))) if hits[-1] else 0.0
    return float(precision), float(recall), float(f1), ap


def _named(values: np.ndarray) -> dict[str, float]:
    return {name: float(v) for name, v in zip(METRICS, values, strict=True)}


def _labels(values: np.ndarray, name: str) -> np.ndarray:
    labels = np.asarray(values)
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(
            f"{name} must be a 1-D array of int class labels, got {labels.dtype} with shape {labels.shape}"
        )
    if labels.size and labels.min() < 0:
        raise ValueError(f"{name} must be >= 0, got {labels.min()}")
    return labels.astype(np.int64)


def _probabilities(values: np.ndarray) -> np.ndarray:
    scores = np.asarray(values, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] < 2:
        raise ValueError(f"probabilities must have shape (n_shapes, n_classes >= 2), got {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("probabilities has NaN or infinite values")
    return scores
