"""Nearest-neighbour baselines of every location prior: 1-NN and distance-weighted k-NN on haversine distance.

The strongest simple baseline of P(y | x) from labelled points: the class of the nearest labelled point
(1-NN), or a vote of the ``k`` nearest weighted by 1 / distance (k-NN; ``k`` chosen by top-1 accuracy on
validation points, never on the test split). scikit-learn's ball tree on the haversine metric
(great-circle distance, no seam at the dateline).
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from trainer.errors import TrainerError

#: Candidate k of the distance-weighted k-NN.
KS = (1, 3, 5, 10, 20, 50)


def _radians(latlon: np.ndarray) -> np.ndarray:
    return np.radians(np.asarray(latlon, dtype=np.float64).reshape(-1, 2))


def knn_probabilities(train_latlon: np.ndarray, train_labels: np.ndarray, query_latlon: np.ndarray,
                      n_classes: int, k: int) -> np.ndarray:
    """``(N, K)`` vote shares of the ``k`` nearest training points (haversine), weighted by 1 / distance
    (a point at distance 0 takes the vote alone, as in scikit-learn); ``k = 1`` is the 1-NN."""
    k = min(k, len(train_labels))
    if k < 1:
        raise TrainerError("nearest-neighbour baselines need at least one labelled point")
    model = KNeighborsClassifier(n_neighbors=k, weights="uniform" if k == 1 else "distance", metric="haversine",
                                 algorithm="ball_tree").fit(_radians(train_latlon), train_labels)
    out = np.zeros((len(query_latlon), n_classes))
    out[:, model.classes_] = model.predict_proba(_radians(query_latlon))
    return out


def choose_k(train_latlon: np.ndarray, train_labels: np.ndarray, val_latlon: np.ndarray, val_labels: np.ndarray,
             n_classes: int, ks: tuple[int, ...] = KS) -> tuple[int, dict[int, float]]:
    """The ``k`` of ``ks`` with the highest validation top-1 (ties: the smaller k), and every candidate's top-1."""
    if not len(val_labels):
        raise TrainerError("choosing k needs validation points")
    scores = {k: float((knn_probabilities(train_latlon, train_labels, val_latlon, n_classes, k).argmax(axis=1)
                        == val_labels).mean()) for k in ks if k <= len(train_labels)}
    return max(scores, key=lambda k: (scores[k], -k)), scores
