"""Accuracy measures and Olofsson et al. (2014) area estimates against the paper's worked example.

The example (Olofsson et al. 2014, Remote Sensing of Environment 148: 42-57, section 5, "example"):
a change map of 10,000,000 Landsat pixels (30 m, 0.09 ha) with map strata deforestation 200,000,
forest gain 150,000, stable forest 3,200,000, stable non-forest 6,450,000 px, and a stratified
random sample of 75 + 75 + 165 + 325 units. The paper reports (rounded as printed): areas
21,158 ± 6,158 ha, 11,686 ± 3,756 ha, 285,770 ± 15,510 ha, 581,386 ± 16,282 ha (95 % CI); user's
accuracy 0.88 ± 0.07, 0.73 ± 0.10, 0.93 ± 0.04, 0.96 ± 0.02; producer's accuracy 0.75 (± 0.21),
0.85, 0.93, 0.96; overall accuracy 0.95 ± 0.02.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.core.accuracy import confusion_matrix, olofsson_estimate, sample_accuracy

PAPER_COUNTS = np.array([[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]])
PAPER_MAP_PIXELS = np.array([200_000, 150_000, 3_200_000, 6_450_000])
HECTARES_PER_PIXEL = 0.09


def test_olofsson_worked_example_areas():
    estimate = olofsson_estimate(PAPER_COUNTS, PAPER_MAP_PIXELS * HECTARES_PER_PIXEL)
    assert np.round(estimate.area).tolist() == [21_158, 11_686, 285_770, 581_386]
    assert np.round(estimate.area_ci).tolist() == [6_158, 3_756, 15_510, 16_282]


def test_olofsson_worked_example_accuracies():
    estimate = olofsson_estimate(PAPER_COUNTS, PAPER_MAP_PIXELS)
    assert np.round(estimate.users, 2).tolist() == [0.88, 0.73, 0.93, 0.96]
    assert np.round(estimate.users_ci, 2).tolist() == [0.07, 0.10, 0.04, 0.02]
    assert np.round(estimate.producers, 2).tolist() == [0.75, 0.85, 0.93, 0.96]
    assert round(float(estimate.producers_ci[0]), 2) == 0.21
    assert (round(estimate.overall, 2), round(estimate.overall_ci, 2)) == (0.95, 0.02)
    assert estimate.proportions.sum() == pytest.approx(1.0)


def test_map_areas_in_any_unit_scale_the_area_estimates_only():
    in_pixels = olofsson_estimate(PAPER_COUNTS, PAPER_MAP_PIXELS)
    in_hectares = olofsson_estimate(PAPER_COUNTS, PAPER_MAP_PIXELS * HECTARES_PER_PIXEL)
    assert np.allclose(in_pixels.area * HECTARES_PER_PIXEL, in_hectares.area)
    assert np.allclose(in_pixels.producers_ci, in_hectares.producers_ci)


def test_sample_measures_match_scikit_learn():
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 4, 300)
    mapped = np.where(rng.random(300) < 0.7, reference, rng.integers(0, 4, 300))
    matrix = confusion_matrix(mapped, reference, 4)
    assert matrix.sum() == 300 and matrix[1, 2] == np.sum((mapped == 1) & (reference == 2))
    measures = sample_accuracy(matrix)
    assert measures.overall == pytest.approx(np.mean(mapped == reference))
    assert measures.kappa == pytest.approx(cohen_kappa_score(reference, mapped))
    assert np.allclose(measures.f1, f1_score(reference, mapped, average=None))


def test_class_without_reference_or_map_samples_gives_nan_not_a_crash():
    measures = sample_accuracy(np.array([[5, 1, 0], [0, 4, 0], [0, 0, 0]]))
    assert np.isnan(measures.users[2]) and np.isnan(measures.producers[2])
    assert measures.overall == pytest.approx(0.9)


def test_mapped_class_without_samples_is_refused_with_a_message():
    with pytest.raises(GeoSslError, match="no reference sample"):
        olofsson_estimate(np.array([[5, 1], [0, 0]]), np.array([10.0, 5.0]))


def test_out_of_range_ids_are_refused():
    with pytest.raises(GeoSslError, match="class ids"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
