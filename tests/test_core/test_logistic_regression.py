"""The numpy logistic regression against scikit-learn on the same data, and grouped cross-validation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.core.logistic_regression import cross_validate_path, fit_logistic, group_folds


def blobs(n: int = 240, d: int = 64, k: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unbalanced, badly scaled, overlapping classes (so the L2 term matters)."""
    rng = np.random.default_rng(seed)
    y = rng.choice(k, size=n, p=np.linspace(1, 3, k) / np.linspace(1, 3, k).sum())
    x = rng.normal(size=(n, d)) + 1.5 * rng.normal(size=(k, d))[y]
    return x * rng.uniform(0.01, 100, d) + rng.normal(size=d) * 50, y


@pytest.mark.parametrize("c", [0.05, 1.0, 20.0])
def test_fit_matches_scikit_learn(c):
    x, y = blobs()
    ours = fit_logistic(x, y, 5, c=c, tol=1e-7)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    theirs = LogisticRegression(C=c, class_weight="balanced", tol=1e-12, max_iter=20_000).fit(z, y)
    scale = max(1.0, np.abs(theirs.coef_).max())
    assert np.abs(ours.coef - theirs.coef_).max() <= 1e-4 * scale
    assert np.abs(ours.intercept - theirs.intercept_).max() <= 1e-4 * scale
    assert np.abs(ours.predict_proba(x) - theirs.predict_proba(z)).max() <= 1e-5


def test_sample_weights_match_scikit_learn():
    x, y = blobs(seed=1)
    weight = np.random.default_rng(2).uniform(0.2, 3, len(y))
    ours = fit_logistic(x, y, 5, c=1.0, sample_weight=weight, tol=1e-7)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    theirs = LogisticRegression(C=1.0, class_weight="balanced", tol=1e-12, max_iter=20_000).fit(
        z, y, sample_weight=weight)
    assert np.abs(ours.predict_proba(x) - theirs.predict_proba(z)).max() <= 1e-5


def test_folded_head_equals_standardised_model():
    x, y = blobs(seed=3)
    model = fit_logistic(x, y, 5)
    weight, bias = model.folded()
    assert np.allclose(x @ weight + bias, model.logits(x), atol=1e-7)


def test_constant_feature_is_harmless():
    x, y = blobs(seed=4)
    x[:, 3] = 7.0
    model = fit_logistic(x, y, 5)
    assert np.isfinite(model.coef).all() and model.coef[:, 3].tolist() == [0.0] * 5


def test_bad_input_is_refused():
    x, y = blobs()
    with pytest.raises(GeoSslError, match="at least one training sample"):
        fit_logistic(x, y, 6)
    with pytest.raises(GeoSslError, match=">= 2 classes"):
        fit_logistic(x, y, 1)


def test_group_folds_keep_groups_together_and_spread_classes():
    y = np.repeat([0, 1], 12)
    groups = np.repeat(np.arange(8), 3)  # 4 polygons per class, 3 tiles each
    folds = group_folds(y, groups, k=4)
    for group in range(8):
        assert len(set(folds[groups == group])) == 1
    for label in (0, 1):
        assert sorted(set(folds[y == label])) == [0, 1, 2, 3]


def test_cross_validation_is_out_of_fold_and_accurate_on_separable_data():
    x, y = blobs(n=200, d=16, k=3, seed=5)
    predicted = cross_validate_path(x, y, 3, group_folds(y, np.arange(len(y)), 5), [1.0])[0].argmax(axis=1)
    assert predicted.shape == y.shape and (predicted == y).mean() > 0.9
