"""Multinomial logistic regression in numpy (L2, class-balanced, standardised features) + k-fold CV.

Minimises ``C · Σ_i w_i · CE(softmax(x_i W + b), y_i) + ½‖W‖²`` — scikit-learn's
``LogisticRegression(C=C, class_weight="balanced")`` objective (intercept not penalised) — with
L-BFGS, on features standardised with the training mean/std. ``w_i`` is an optional per-sample
weight (e.g. ``1 / samples of its polygon``) times the class-balancing weight ``Σw / (K · Σw of the
class)``, so that every class carries the same total weight (scikit-learn ≥ 1.6's definition).
No scipy or scikit-learn: QGIS's Python only has numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..contract.errors import GeoSslError

CV_TOL = 1e-4  # gradient tolerance of the cross-validation fits: the same predictions as 1e-6, 2-3x fewer steps


@dataclass
class LogisticModel:
    """A fitted head: standardisation + linear map + softmax."""

    mean: np.ndarray       # (D,)
    scale: np.ndarray      # (D,) the training std (divided by the feature weight, if any)
    coef: np.ndarray       # (K, D), on standardised features
    intercept: np.ndarray  # (K,)
    iterations: int = 0

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, np.float64) - self.mean) / self.scale) @ self.coef.T + self.intercept

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.logits(x))

    def folded(self) -> tuple[np.ndarray, np.ndarray]:
        """``(weight (D, K), bias (K,))`` acting on raw features: the standardisation folded in."""
        weight = (self.coef / self.scale).T
        return weight, self.intercept - (self.mean / self.scale) @ self.coef.T


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def balanced_weights(y: np.ndarray, n_classes: int, sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Per-sample weights × scikit-learn's ``class_weight="balanced"``: ``Σw / (K · Σw of class y_i)``."""
    weight = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    totals = np.bincount(y, weights=weight, minlength=n_classes)
    if (totals <= 0).any():
        raise GeoSslError("every class needs at least one training sample")
    return weight * weight.sum() / (n_classes * totals[y])


def fit_logistic(x: np.ndarray, y: np.ndarray, n_classes: int, c: float = 1.0,
                 sample_weight: np.ndarray | None = None, max_iter: int = 1000, tol: float = 1e-6,
                 init: LogisticModel | None = None, feature_weight: np.ndarray | None = None) -> LogisticModel:
    """Fit on features ``x`` ``(N, D)`` and integer labels ``y`` in ``[0, n_classes)``; ``init`` (a fit on the
    same ``x`` and classes, e.g. with a smaller ``C``) is the starting point. ``feature_weight`` ``(D,)``
    multiplies the standardised features (its inverse is folded into :attr:`LogisticModel.scale`)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.int64)
    if x.ndim != 2 or len(x) != len(y) or n_classes < 2 or c <= 0:
        raise GeoSslError(f"logistic regression needs (N, D) features, N labels, >= 2 classes and C > 0; got "
                          f"{x.shape}, {y.shape}, {n_classes}, {c}")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-12] = 1.0
    if feature_weight is not None:
        scale = scale / feature_weight
    z = (x - mean) / scale
    weights = balanced_weights(y, n_classes, sample_weight)
    onehot = np.eye(n_classes)[y]
    d = z.shape[1]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef, intercept = theta[:n_classes * d].reshape(n_classes, d), theta[n_classes * d:]
        logits = z @ coef.T + intercept
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=1))
        loss = c * float(weights @ (log_norm - (shifted * onehot).sum(axis=1))) + 0.5 * float((coef ** 2).sum())
        residual = c * weights[:, None] * (np.exp(shifted - log_norm[:, None]) - onehot)
        grad = np.concatenate([(residual.T @ z + coef).ravel(), residual.sum(axis=0)])
        return loss, grad

    start = np.zeros(n_classes * (d + 1))
    if init is not None and init.coef.shape == (n_classes, d):
        start = np.concatenate([init.coef.ravel(), init.intercept])
    theta, iterations = lbfgs(objective, start, max_iter, tol)
    return LogisticModel(mean, scale, theta[:n_classes * d].reshape(n_classes, d), theta[n_classes * d:], iterations)


def lbfgs(objective: Callable[[np.ndarray], tuple[float, np.ndarray]], theta: np.ndarray, max_iter: int,
          tol: float, memory: int = 10) -> tuple[np.ndarray, int]:
    """Limited-memory BFGS with Armijo backtracking; stops when max |gradient| ≤ ``tol``·max(1, |f|)."""
    f, g = objective(theta)
    steps: list[tuple[np.ndarray, np.ndarray, float]] = []
    for iteration in range(max_iter):
        if np.abs(g).max() <= tol * max(1.0, abs(f)):
            return theta, iteration
        direction = -_two_loop(g, steps)
        slope = float(g @ direction)
        if slope >= 0:  # not a descent direction: restart from steepest descent
            steps.clear()
            direction, slope = -g, -float(g @ g)
        step = 1.0 if steps else 1.0 / max(1.0, float(np.abs(g).max()))
        while True:
            candidate = theta + step * direction
            f_new, g_new = objective(candidate)
            if f_new <= f + 1e-4 * step * slope or step < 1e-12:
                break
            step *= 0.5
        s, r = candidate - theta, g_new - g
        if float(s @ r) > 1e-12:
            steps.append((s, r, 1.0 / float(s @ r)))
            del steps[:-memory]
        theta, f, g = candidate, f_new, g_new
    return theta, max_iter


def _two_loop(g: np.ndarray, steps: list[tuple[np.ndarray, np.ndarray, float]]) -> np.ndarray:
    q = g.copy()
    alphas = []
    for s, r, rho in reversed(steps):
        alpha = rho * float(s @ q)
        q -= alpha * r
        alphas.append(alpha)
    if steps:
        s, r, _ = steps[-1]
        q *= float(s @ r) / float(r @ r)
    for (s, r, rho), alpha in zip(steps, reversed(alphas)):
        q += s * (alpha - rho * float(r @ q))
    return q


def group_folds(y: np.ndarray, groups: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Fold id per sample: whole groups (points or polygons) per fold, each class's groups dealt round-robin."""
    rng = np.random.default_rng(seed)
    folds = np.empty(len(y), dtype=np.int64)
    offset = 0
    for label in np.unique(y):
        label_groups = np.unique(groups[y == label])
        rng.shuffle(label_groups)
        for i, group in enumerate(label_groups):
            folds[(groups == group) & (y == label)] = (i + offset) % k
        offset += len(label_groups)
    return folds


def cross_validate_path(x: np.ndarray, y: np.ndarray, n_classes: int, folds: np.ndarray, c_path: Sequence[float],
                        sample_weight: np.ndarray | None = None, tol: float = CV_TOL,
                        after_fit: Callable[[], None] | None = None,
                        feature_weight: np.ndarray | None = None) -> np.ndarray:
    """Out-of-fold class probabilities ``(len(c_path), N, n_classes)``, one ``(N, n_classes)`` per C, for the
    fold ids ``folds`` (:func:`group_folds`). In each fold the Cs are fitted in increasing order, each
    starting from the previous solution. A class missing from a training split gets probability 0 in
    that fold. ``after_fit`` is called after each fit (progress, cancel); ``feature_weight``: see
    :func:`fit_logistic`."""
    probabilities = np.zeros((len(c_path), len(y), n_classes))
    weights = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight)
    for fold in np.unique(folds):
        test = folds == fold
        train = ~test
        present = np.unique(y[train])
        remap = np.full(n_classes, -1)
        remap[present] = np.arange(len(present))
        model = None
        for i in np.argsort(c_path):
            model = fit_logistic(x[train], remap[y[train]], len(present), c_path[i], weights[train], tol=tol,
                                 init=model, feature_weight=feature_weight)
            probabilities[i][np.ix_(test, present)] = model.predict_proba(x[test])
            if after_fit is not None:
                after_fit()
    return probabilities
