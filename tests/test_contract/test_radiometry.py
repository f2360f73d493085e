"""layer_statistics radiometry on real pixels: the layer's band statistics become the training ones."""

import numpy as np
import pytest
from osgeo import gdal

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.contract.radiometry import band_percentiles, match_percentiles, match_statistics


def test_matched_bands_get_training_mean_and_std(data_dir):
    pixels = gdal.Open(str(data_dir / "scenes" / "RGB.byte.tif")).ReadAsArray().astype(np.float32)
    valid = pixels.reshape(3, -1)[:, (pixels.reshape(3, -1) > 0).all(axis=0)]
    train_mean, train_std = [1300.0, 1100.0, 1000.0], [500.0, 400.0, 300.0]
    transform = match_statistics(valid.mean(1), valid.std(1), train_mean, train_std)
    out = transform.apply(valid.reshape(3, -1, 1).copy()).reshape(3, -1)
    assert out.mean(1) == pytest.approx(train_mean, rel=1e-4)
    assert out.std(1) == pytest.approx(train_std, rel=1e-3)


def test_constant_band_and_wrong_lengths_are_rejected():
    with pytest.raises(GeoSslError, match="band\\(s\\) 2 are constant"):
        match_statistics([1, 2], [1, 0], [0, 0], [1, 1])
    with pytest.raises(GeoSslError, match="one value per model band"):
        match_statistics([1, 2, 3], [1, 1, 1], [0, 0], [1, 1])


def test_percentile_matching_ignores_fill_values_that_skew_mean_and_std(data_dir):
    """A 1 % border of unflagged fill values (65535) moves the mean/std mapping a lot and the 2/98
    percentile mapping little; without fill, the percentiles land exactly on the training ones."""
    pixels = gdal.Open(str(data_dir / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif")).ReadAsArray()
    clean = pixels.reshape(3, -1).astype(np.float32)
    filled = clean.copy()
    filled[:, :clean.shape[1] // 100] = 65535.0
    train_low, train_high = [800.0, 700.0, 500.0], [2500.0, 2000.0, 1800.0]
    transforms = {name: match_percentiles(*band_percentiles(values, (2.0, 98.0)), train_low, train_high)
                  for name, values in (("clean", clean), ("filled", filled))}
    mapped = transforms["clean"].apply(clean.reshape(3, -1, 1).copy()).reshape(3, -1)
    low, high = np.percentile(mapped, [2, 98], axis=1)
    assert low == pytest.approx(train_low, rel=1e-4) and high == pytest.approx(train_high, rel=1e-4)
    by_stats = {name: match_statistics(v.mean(1), v.std(1), [1000.0] * 3, [300.0] * 3)
                for name, v in (("clean", clean), ("filled", filled))}
    sample = clean[:, clean.shape[1] // 2:][:, :1000].reshape(3, -1, 1)

    def moved(transforms):
        a, b = (transforms[k].apply(sample.copy()) for k in ("clean", "filled"))
        return float(np.abs(a - b).mean() / a.std())  # in units of the mapped spread

    assert moved(transforms) < 0.3 and moved(by_stats) > 3 * moved(transforms)


def test_percentile_matching_rejects_flat_bands_and_empty_extents():
    with pytest.raises(GeoSslError, match="band\\(s\\) 1 have equal low and high percentiles"):
        match_percentiles([5, 1], [5, 2], [0, 0], [1, 1])
    with pytest.raises(GeoSslError, match="no valid pixel"):
        band_percentiles(np.zeros((3, 0), np.float32), (2.0, 98.0))


def test_reflectance_rules_for_real_landsat_8bit_and_unit_layers(data_dir):
    """The declared rules of ``reflectance`` models, on real pixels: Landsat 8 Level-1 DN, an 8-bit
    layer (matched to the training statistics, with a warning), Sentinel-2 DN (as they are), 0..1 floats."""
    from qgis_csp_plugin.contract.radiometry import reflectance_rule
    from qgis_csp_plugin.contract.schema import Normalization

    norm = Normalization([1395.0, 1338.0, 1343.0, 1544.0], [918.0, 913.0, 1093.0, 1047.0], radiometry="reflectance",
                         reflectance_scale=10000.0)
    used = np.array([True, True, True, False])
    landsat = gdal.Open(str(data_dir / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif")).ReadAsArray()
    values = np.concatenate([landsat[::-1].reshape(3, -1)[:, ::50], np.zeros((1, 20972))]).astype(np.float32)
    rule = reflectance_rule(values, used, norm, "int", "LC08_L1TP_224078_20200518_RGB.tif", [])
    assert "Landsat 8/9 OLI Level-1" in rule.note and rule.warning is None
    reflectance = rule.transform.apply(values.reshape(4, -1, 1).copy())[:, :, 0]
    assert 300 < np.median(reflectance[0]) < 1500 and (reflectance[3] == 0).all()  # blue of a reservoir scene
    assert "Collection 2 Level-2" in reflectance_rule(values, used, norm, "int", "x.tif", ["Band 1: SR_B2"]).note
    byte = gdal.Open(str(data_dir / "scenes" / "RGB.byte.tif")).ReadAsArray().reshape(3, -1)
    byte = np.concatenate([byte[:, (byte > 0).all(axis=0)], np.zeros((1, (byte > 0).all(axis=0).sum()))])
    rule = reflectance_rule(byte.astype(np.float32), used, norm, "byte", "RGB.byte.tif", [])
    assert "8-bit values have no reflectance scale" in rule.warning
    matched = rule.transform.apply(byte.astype(np.float32).reshape(4, -1, 1))[:, :, 0]
    assert matched[:3].mean(axis=1) == pytest.approx(norm.mean[:3], rel=1e-3) and (matched[3] == 0).all()
    eurosat = gdal.Open(str(data_dir / "eurosat_ms" / "Forest" / "Forest_1.tif")).ReadAsArray()[1:5]
    s2 = reflectance_rule(eurosat.reshape(4, -1).astype(np.float32), used, norm, "int", "Forest_1.tif", [])
    assert s2.transform is None and "Sentinel-2 digital numbers" in s2.note and s2.warning is None
    unit = reflectance_rule(eurosat.reshape(4, -1).astype(np.float32) / 10000, used, norm, "float", "f.tif", [])
    assert unit.transform.scale.tolist() == [10000, 10000, 10000, 0] and "0..1" in unit.note


def test_layer_radiometry_dispatches_on_the_model_radiometry(data_dir):
    """One entry point for every radiometry: percentiles and statistics are matched, absolute values are fed
    as they are (with a warning when far from the training scale), reflectance follows the declared rules."""
    from qgis_csp_plugin.contract.radiometry import layer_radiometry
    from qgis_csp_plugin.contract.schema import Normalization

    values = gdal.Open(str(data_dir / "scenes" / "RGB.byte.tif")).ReadAsArray().reshape(3, -1).astype(np.float32)
    values = values[:, (values > 0).all(axis=0)]
    mean, std = [900.0] * 3, [300.0] * 3
    percentiles = Normalization(mean, std, radiometry="layer_percentiles",
                                percentiles={"q": [2, 98], "low": [100.0] * 3, "high": [2000.0] * 3})
    mapped = layer_radiometry(values, percentiles).transform.apply(values.reshape(3, -1, 1).copy())[:, :, 0]
    assert np.percentile(mapped, [2, 98], axis=1) == pytest.approx(np.array([[100.0] * 3, [2000.0] * 3]), rel=1e-4)
    statistics = layer_radiometry(values, Normalization(mean, std, radiometry="layer_statistics"))
    assert statistics.transform.apply(values.reshape(3, -1, 1).copy()).mean() == pytest.approx(900.0, rel=1e-4)
    absolute = layer_radiometry(values, Normalization(mean, std, radiometry="absolute"))
    assert absolute.transform is None and absolute.note is None and "far from the model's training data" in \
        absolute.warning
    reflectance = layer_radiometry(values, Normalization(mean, std, radiometry="reflectance", reflectance_scale=1e4),
                                   data_kind="byte")
    assert "8-bit values have no reflectance scale" in reflectance.warning and reflectance.note


def test_the_statistics_sample_keeps_the_extent_aspect():
    from qgis_csp_plugin.contract.radiometry import STATISTICS_SAMPLE, sample_shape

    assert sample_shape(1000.0, 1000.0) == (500, 500) and STATISTICS_SAMPLE == 500 * 500
    assert sample_shape(2000.0, 500.0) == (500, 125) and sample_shape(1.0, 1e9) == (1, 500)


def test_a_dark_water_layer_is_read_as_reflectance_but_a_tenfold_smaller_scale_is_not(data_dir):
    """An all-water EuroSAT patch is ~10x darker than Galileo's training data (summed mean + std), yet its
    visible bands are on the training scale: read as Sentinel-2 digital numbers. The same values / 10
    (reflectance x 1000) are matched to the training statistics, with a warning."""
    from qgis_csp_plugin.contract.radiometry import reflectance_rule, statistics_warning
    from qgis_csp_plugin.contract.schema import Normalization

    bands = [1, 2, 3, 4, 5, 6, 7, 12, 10, 11]  # B02..B08, B8A, B11, B12 in EuroSAT's file order (0-based)
    norm = Normalization([1395.0, 1338.0, 1343.0, 1544.0, 2186.0, 2525.0, 2410.0, 2750.0, 2235.0, 1475.0],
                         [918.0, 913.0, 1093.0, 1047.0, 1048.0, 1144.0, 1099.0, 1204.0, 1146.0, 980.0],
                         radiometry="reflectance", reflectance_scale=10000.0)
    water = gdal.Open(str(data_dir / "eurosat_ms" / "SeaLake" / "SeaLake_1.tif")).ReadAsArray()[bands]
    values, used = water.reshape(10, -1).astype(np.float32), np.ones(10, bool)
    assert statistics_warning(values.mean(1), values.std(1), norm.mean, norm.std) is not None  # the summed test
    rule = reflectance_rule(values, used, norm, "int", "SeaLake_1.tif", [])
    assert rule.transform is None and "Sentinel-2 digital numbers" in rule.note and rule.warning is None
    scaled = reflectance_rule(np.round(values / 10), used, norm, "int", "SeaLake_1.tif", [])
    assert scaled.transform is not None and "far from reflectance x 10000" in scaled.warning
