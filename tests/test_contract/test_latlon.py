"""(lat, lon) validation and training-area checks (pure numpy)."""

import numpy as np
import pytest

from qgis_csp_plugin.contract.latlon import fraction_outside, validate_latlon

EUROPE = {"lat": [35.0, 60.0], "lon": [-10.0, 30.0]}


def test_validate_latlon_names_bad_rows_and_detects_swaps():
    assert validate_latlon([[48.8, 2.3]]).dtype == np.float32
    with pytest.raises(ValueError, match="shape"):
        validate_latlon([1.0, 2.0])
    with pytest.raises(ValueError, match="row 1 is not finite"):
        validate_latlon([[0, 0], [np.nan, 0]])
    with pytest.raises(ValueError, match="swapped"):
        validate_latlon([[2.3, 48.8], [151.2, -33.9]])
    with pytest.raises(ValueError, match="longitude 200"):
        validate_latlon([[10, 200]])


def test_fraction_outside_training_area_with_margin():
    paris, sao_paulo, just_outside = [48.8, 2.3], [-23.5, -46.6], [62.0, 31.0]
    assert fraction_outside(np.array([paris, just_outside]), EUROPE) == 0.0  # within the 5 degree margin
    assert fraction_outside(np.array([paris, sao_paulo]), EUROPE) == 0.5
    assert fraction_outside(np.array([sao_paulo]), EUROPE, margin_deg=0.0) == 1.0
    assert fraction_outside(np.zeros((0, 2)), EUROPE) == 0.0
