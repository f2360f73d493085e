"""Choose a few-label head's features and L2 strength by grouped k-fold cross-validation on the user's labels.

Candidates: each feature set of :mod:`.tile_features` (statistics, embedding, embedding + statistics)
× each inverse L2 strength ``C``. All are scored on the same grouped, stratified folds (whole points or
polygons held out): the highest out-of-fold accuracy wins, ties broken by the lower out-of-fold
log-loss, then by the order of the candidates (statistics first, stronger regularisation first).
Since statistics alone are among the candidates, the choice can only lose to them by the noise of
the cross-validation.

The winner's own CV accuracy is optimistic (the best of many noisy scores). The honest estimate
repeats the whole selection inside each outer fold, on its training part only (nested CV), and
scores the model it picks on the held-out fold: :attr:`Selection.predicted`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..contract.errors import GeoSslError
from .logistic_regression import LogisticModel, cross_validate_path, fit_logistic, group_folds
from .progress import Canceled, IsCanceled, Progress
from .tile_features import FEATURE_SETS, feature_blocks, feature_matrix, feature_weights

C_GRID = (0.01, 0.1, 1.0, 10.0)
EPSILON = 1e-12  # probability floor of the log-loss (a class missing from a training fold has probability 0)


@dataclass(frozen=True)
class Candidate:
    """One feature set and C with its out-of-fold accuracy and log-loss."""

    features: str
    c: float
    accuracy: float
    log_loss: float

    def to_dict(self) -> dict[str, object]:
        return {"features": self.features, "c": self.c, "cv_accuracy": round(self.accuracy, 4),
                "cv_log_loss": round(self.log_loss, 4)}


@dataclass
class Selection:
    """The chosen candidate, every candidate's scores, and honest out-of-fold class ids."""

    chosen: Candidate
    candidates: list[Candidate]
    predicted: np.ndarray  # nested CV when there was a choice, else the plain CV of the one candidate
    nested: bool


def select_head(blocks: dict[str, np.ndarray], statistics: tuple[str, ...], y: np.ndarray, n_classes: int,
                groups: np.ndarray, k: int, sample_weight: np.ndarray | None = None, seed: int = 0,
                feature_sets: tuple[str, ...] = FEATURE_SETS, c_grid: tuple[float, ...] = C_GRID,
                progress: Progress | None = None, canceled: IsCanceled | None = None) -> Selection:
    """Score every candidate by ``k``-fold CV, choose one, and estimate the whole procedure by nested CV.

    ``blocks`` holds the feature blocks (``embedding``, ``mean``, ``std``, ``centre``: ``(N, ·)``),
    ``statistics`` the statistic blocks that "statistics" stands for; ``y`` class ids; ``groups``
    the point or polygon of each sample (held out together).
    """
    if not feature_sets or not c_grid:
        raise GeoSslError("the head selection needs at least one feature set and one C")
    y = np.asarray(y, np.int64)
    groups = np.asarray(groups)
    weights = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    matrices = {name: _features(blocks, feature_blocks(name, statistics)) for name in feature_sets}
    nested = len(feature_sets) * len(c_grid) > 1
    fits = len(matrices) * len(c_grid) * k * ((1 + k) if nested else 1) + (k if nested else 0)
    tick = _ticker(fits, progress, canceled)
    folds = group_folds(y, groups, k, seed)
    candidates, probabilities = _score(matrices, y, n_classes, folds, weights, c_grid, tick)
    chosen = choose(candidates)
    if not nested:
        return Selection(chosen, candidates, probabilities[0].argmax(axis=1), False)
    predicted = np.empty(len(y), np.int64)
    for fold in np.unique(folds):
        test, train = folds == fold, folds != fold
        present = np.unique(y[train])
        remap = np.full(n_classes, -1)
        remap[present] = np.arange(len(present))
        y_train = remap[y[train]]
        inner = group_folds(y_train, groups[train], _inner_k(y_train, groups[train], k), seed)
        inner_candidates, _ = _score({n: (x[train], w) for n, (x, w) in matrices.items()}, y_train, len(present),
                                     inner, weights[train], c_grid, tick)
        best = choose(inner_candidates)
        x, w = matrices[best.features]
        model = fit_logistic(x[train], y_train, len(present), best.c, weights[train], feature_weight=w)
        tick()
        predicted[test] = present[model.predict_proba(x[test]).argmax(axis=1)]
    return Selection(chosen, candidates, predicted, True)


def fit_head(blocks: dict[str, np.ndarray], names: tuple[str, ...], y: np.ndarray, n_classes: int, c: float,
             sample_weight: np.ndarray | None = None) -> LogisticModel:
    """The head on the feature blocks ``names`` (group-weighted as in the selection) fitted on all samples."""
    x, weight = _features(blocks, names)
    return fit_logistic(x, y, n_classes, c, sample_weight, feature_weight=weight)


def choose(candidates: list[Candidate]) -> Candidate:
    """The highest accuracy; ties: the lower log-loss, then the earlier candidate."""
    return min(enumerate(candidates), key=lambda ic: (-ic[1].accuracy, ic[1].log_loss, ic[0]))[1]


def _features(blocks: dict[str, np.ndarray], names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    return feature_matrix(blocks, names), feature_weights(blocks, names)


def _score(matrices: dict[str, tuple[np.ndarray, np.ndarray]], y: np.ndarray, n_classes: int, folds: np.ndarray,
           weights: np.ndarray, c_grid: tuple[float, ...],
           tick: Callable[[], None]) -> tuple[list[Candidate], list[np.ndarray]]:
    """Every (feature set, C) candidate's out-of-fold accuracy and log-loss, and its probabilities."""
    candidates, all_probabilities = [], []
    for name, (x, weight) in matrices.items():
        for c, probabilities in zip(c_grid, cross_validate_path(x, y, n_classes, folds, c_grid, weights,
                                                                 after_fit=tick, feature_weight=weight)):
            truth = probabilities[np.arange(len(y)), y]
            candidates.append(Candidate(name, float(c), float(np.mean(probabilities.argmax(axis=1) == y)),
                                        float(-np.mean(np.log(np.maximum(truth, EPSILON))))))
            all_probabilities.append(probabilities)
    return candidates, all_probabilities


def _inner_k(y: np.ndarray, groups: np.ndarray, k: int) -> int:
    """Folds of the inner CV: at most ``k``, at most the groups of the rarest class, at least 2."""
    return max(2, min(k, min(len(np.unique(groups[y == label])) for label in np.unique(y))))


def _ticker(total: int, progress: Progress | None, canceled: IsCanceled | None) -> Callable[[], None]:
    """A callback for each fit: checks for cancel and reports the fraction done (0-100)."""
    done = [0]

    def tick() -> None:
        if canceled is not None and canceled():
            raise Canceled("training canceled")
        done[0] += 1
        if progress is not None:
            progress(100.0 * min(done[0], total) / total)

    return tick
