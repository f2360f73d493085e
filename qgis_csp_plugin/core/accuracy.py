"""Accuracy assessment of a class map against reference samples, and area estimates.

Confusion matrix convention (Olofsson et al. 2014): **rows = map class i, columns = reference
class j**, ``n[i, j]`` samples. Sample-count measures: overall accuracy, Cohen's kappa, user's
accuracy ``n_ii / n_i.``, producer's accuracy ``n_jj / n_.j`` and F1 per class.

Area-adjusted estimates follow P. Olofsson, G. M. Foody, M. Herold, S. V. Stehman, C. E. Woodcock,
M. A. Wulder, "Good practices for estimating area and assessing accuracy of land change", Remote
Sensing of Environment 148 (2014) 42–57, with the map classes as strata: ``W_i`` = mapped area
share of class i, ``p_ij = W_i n_ij / n_i.`` (eq. 4), overall/user's/producer's accuracy (eqs. 1-3)
with their variances (eqs. 5-7), class-area proportions ``p_.j`` with standard errors (eqs. 9-10)
and 95 % confidence intervals ``± 1.96 SE``. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..contract.errors import GeoSslError

Z_95 = 1.96


@dataclass
class SampleAccuracy:
    """Measures computed from the sample counts alone."""

    matrix: np.ndarray      # (K, K) rows map, columns reference
    overall: float
    kappa: float
    users: np.ndarray       # (K,) NaN where a class was never mapped at a sample
    producers: np.ndarray   # (K,) NaN where a class has no reference sample
    f1: np.ndarray          # (K,)


@dataclass
class AreaEstimate:
    """Olofsson et al. (2014) stratified estimates; every ``*_ci`` is the 95 % half-width."""

    proportions: np.ndarray  # (K, K) estimated area proportions p_ij
    overall: float
    overall_ci: float
    users: np.ndarray
    users_ci: np.ndarray
    producers: np.ndarray
    producers_ci: np.ndarray
    area: np.ndarray         # (K,) estimated area of each reference class, in the units of map_area
    area_ci: np.ndarray
    map_area: np.ndarray     # (K,) mapped area of each class


def confusion_matrix(map_ids: np.ndarray, reference_ids: np.ndarray, n_classes: int) -> np.ndarray:
    """``(K, K)`` counts, rows = map class, columns = reference class (ids in ``[0, K)``)."""
    map_ids, reference_ids = np.asarray(map_ids, np.int64), np.asarray(reference_ids, np.int64)
    if map_ids.shape != reference_ids.shape:
        raise GeoSslError("map and reference labels differ in length")
    for name, ids in (("map", map_ids), ("reference", reference_ids)):
        if ids.size and (ids.min() < 0 or ids.max() >= n_classes):
            raise GeoSslError(f"{name} class ids must lie in [0, {n_classes})")
    return np.bincount(map_ids * n_classes + reference_ids, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes)


def sample_accuracy(matrix: np.ndarray) -> SampleAccuracy:
    """Overall accuracy, Cohen's kappa, user's/producer's accuracy and F1 from sample counts."""
    n = np.asarray(matrix, np.float64)
    total = n.sum()
    if total == 0:
        raise GeoSslError("no reference sample falls on a classified cell: nothing to assess")
    diagonal, rows, cols = np.diag(n), n.sum(axis=1), n.sum(axis=0)
    overall = float(diagonal.sum() / total)
    chance = float((rows * cols).sum() / total ** 2)
    kappa = (overall - chance) / (1 - chance) if chance < 1 else float("nan")
    with np.errstate(invalid="ignore", divide="ignore"):
        users, producers = diagonal / rows, diagonal / cols
        f1 = 2 * diagonal / (rows + cols)
    return SampleAccuracy(n.astype(np.int64), overall, kappa, users, producers, f1)


def olofsson_estimate(matrix: np.ndarray, map_area: np.ndarray) -> AreaEstimate:
    """Stratified (by map class) estimates of accuracy and class areas with 95 % confidence intervals.

    ``map_area``: mapped area (pixels, hectares…) of each class; estimated areas come in the same unit.
    Strata without a sample contribute nothing (their variance terms need ``n_i. ≥ 2``).
    """
    n = np.asarray(matrix, np.float64)
    mapped = np.asarray(map_area, np.float64)
    if n.ndim != 2 or n.shape[0] != n.shape[1] or mapped.shape != (n.shape[0],):
        raise GeoSslError(f"need a square matrix and one mapped area per class, got {n.shape} and {mapped.shape}")
    total_area = mapped.sum()
    if total_area <= 0:
        raise GeoSslError("the classification maps no area")
    rows = n.sum(axis=1)
    sampled = rows > 0
    if mapped[~sampled].sum() > 0:
        missing = np.flatnonzero(~sampled & (mapped > 0))
        raise GeoSslError(f"map classes {missing.tolist()} cover area but have no reference sample: their area "
                          "cannot be estimated (add samples in every mapped class)")
    weights = mapped / total_area
    share = np.divide(n, rows[:, None], out=np.zeros_like(n), where=sampled[:, None])  # n_ij / n_i.
    p = weights[:, None] * share
    # variance factor of stratum i: W_i² / (n_i. - 1); strata with one sample have no variance estimate
    factor = np.divide(weights ** 2, rows - 1, out=np.zeros_like(weights), where=rows > 1)
    users = np.diag(share).copy()
    users[~sampled] = np.nan
    area_share = p.sum(axis=0)
    overall = float(np.trace(p))
    overall_var = float((factor * np.nan_to_num(users) * (1 - np.nan_to_num(users))).sum())
    users_var = np.divide(users * (1 - users), rows - 1, out=np.full_like(users, np.nan), where=rows > 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        producers = np.diag(p) / area_share
    producers_var = _producers_variance(n, mapped, share, users, producers)
    area_var = (factor[:, None] * share * (1 - share)).sum(axis=0)
    return AreaEstimate(
        proportions=p, overall=overall, overall_ci=Z_95 * overall_var ** 0.5,
        users=users, users_ci=Z_95 * np.sqrt(users_var), producers=producers,
        producers_ci=Z_95 * np.sqrt(producers_var), area=total_area * area_share,
        area_ci=Z_95 * total_area * np.sqrt(area_var), map_area=mapped)


def _producers_variance(n: np.ndarray, mapped: np.ndarray, share: np.ndarray, users: np.ndarray,
                        producers: np.ndarray) -> np.ndarray:
    """Eq. 7 of Olofsson et al. (2014), with ``N_i.`` the mapped area of class i."""
    rows = n.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        estimated = (mapped[:, None] * share).sum(axis=0)  # N̂_.j
        within = np.where(rows[:, None] > 1, share * (1 - share) / (rows[:, None] - 1), 0.0)
        own = np.where(rows > 1, users * (1 - users) / (rows - 1), 0.0)
        others = (mapped[:, None] ** 2 * within).sum(axis=0) - mapped ** 2 * np.diag(within)
        variance = (mapped ** 2 * (1 - producers) ** 2 * own + producers ** 2 * others) / estimated ** 2
    return variance
