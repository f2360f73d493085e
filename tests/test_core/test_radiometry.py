"""layer_statistics radiometry on real pixels: the layer's band statistics become the training ones."""

import numpy as np
import pytest
from osgeo import gdal

from qgis_csp_plugin.contract.errors import CspError
from qgis_csp_plugin.core.radiometry import match_statistics


def test_matched_bands_get_training_mean_and_std(data_dir):
    pixels = gdal.Open(str(data_dir / "scenes" / "RGB.byte.tif")).ReadAsArray().astype(np.float32)
    valid = pixels.reshape(3, -1)[:, (pixels.reshape(3, -1) > 0).all(axis=0)]
    train_mean, train_std = [1300.0, 1100.0, 1000.0], [500.0, 400.0, 300.0]
    transform = match_statistics(valid.mean(1), valid.std(1), train_mean, train_std)
    out = transform.apply(valid.reshape(3, -1, 1).copy()).reshape(3, -1)
    assert out.mean(1) == pytest.approx(train_mean, rel=1e-4)
    assert out.std(1) == pytest.approx(train_std, rel=1e-3)


def test_constant_band_and_wrong_lengths_are_rejected():
    with pytest.raises(CspError, match="band\\(s\\) 2 are constant"):
        match_statistics([1, 2], [1, 0], [0, 0], [1, 1])
    with pytest.raises(CspError, match="one value per model band"):
        match_statistics([1, 2, 3], [1, 1, 1], [0, 0], [1, 1])
