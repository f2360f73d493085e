"""Every bad input of Classify gives one clear GeoSslError from ``prepare``, before anything runs."""

import sys
from pathlib import Path

import pytest
import torch
from osgeo import gdal
from qgis.core import QgsGeometry, QgsRasterLayer, QgsRectangle

from qgis_csp_plugin.contract.errors import GeoSslError, MissingDependencyError
from qgis_csp_plugin.core.tiling import TooManyTilesError
from qgis_csp_plugin.jobs.classify import ClassifyRequest, prepare

pytestmark = pytest.mark.qgis
DATA = Path(__file__).resolve().parents[2] / "data"


def landsat_layer() -> QgsRasterLayer:
    """Created inside each test: a QGIS layer held by a pytest fixture outlives QGIS and crashes at exit."""
    return QgsRasterLayer(str(DATA / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"), "landsat")


def assert_refused(layer, model, tmp_path, match, **options):
    out = tmp_path / "out"
    with pytest.raises(GeoSslError, match=match):
        prepare(ClassifyRequest(layer, model, {"vector": out / "t.gpkg", "classes": out / "c.tif"}, **options))


def test_band_mapping_errors(qgis_app, rgb_model, tmp_path):
    landsat = landsat_layer()
    assert_refused(landsat, rgb_model, tmp_path, "band\\(s\\) 4 do not exist", bands=[4, 3, 2])
    assert_refused(landsat, rgb_model, tmp_path, "needs 3 bands", bands=[1])


def test_extent_errors(qgis_app, rgb_model, tmp_path):
    landsat = landsat_layer()
    e = landsat.extent()
    assert_refused(landsat, rgb_model, tmp_path, "extent is empty",
                   extent=QgsRectangle(e.xMinimum(), e.yMinimum(), e.xMinimum(), e.yMaximum()))
    assert_refused(landsat, rgb_model, tmp_path, "does not overlap the layer",
                   extent=QgsRectangle(0, 0, 1000, 1000))
    assert_refused(landsat, rgb_model, tmp_path, "no \\(selected\\) polygons", polygons=QgsGeometry())


def test_too_many_tiles(qgis_app, rgb_model, tmp_path):
    landsat = landsat_layer()
    with pytest.raises(TooManyTilesError, match="102,400 tiles .* exceed the limit of 10,000"):
        prepare(ClassifyRequest(landsat, rgb_model, {}, resolution_m=3.0, max_tiles=10_000))


def test_layer_without_crs(qgis_app, data_dir, rgb_model, tmp_path):
    bare = tmp_path / "no_crs.tif"
    source = gdal.Open(str(data_dir / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"))
    copy = gdal.GetDriverByName("GTiff").CreateCopy(str(bare), source)
    copy.SetProjection("")
    copy = None
    layer = QgsRasterLayer(str(bare), "no crs")
    assert_refused(layer, rgb_model, tmp_path, "has no coordinate reference system")


def test_corrupt_and_foreign_models(qgis_app, tmp_path):
    landsat = landsat_layer()
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07not an onnx model" * 50)
    assert_refused(landsat, corrupt, tmp_path, "corrupt.onnx is not a readable ONNX model")
    foreign = tmp_path / "foreign.onnx"
    torch.onnx.export(torch.nn.Conv2d(3, 2, 3), (torch.zeros(1, 3, 32, 32),), str(foreign),
                      input_names=["image"], output_names=["probabilities"], dynamo=False)
    assert_refused(landsat, foreign, tmp_path, "not exported by `python -m trainer export`")
    assert_refused(landsat, tmp_path / "missing.onnx", tmp_path, "model file not found")


def test_fixed_tile_size_and_wrong_prior(qgis_app, rgb_model, tmp_path):
    landsat = landsat_layer()
    assert_refused(landsat, rgb_model, tmp_path, "only accepts 32 px tiles, not 64", tile_size=64)
    assert_refused(landsat, rgb_model, tmp_path, "is a model of kind image_classifier, not a location_prior",
                   use_prior=True, prior_path=rgb_model)


def test_missing_onnxruntime_is_explained(qgis_app, rgb_model, monkeypatch):
    landsat = landsat_layer()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what QGIS's Python without the package sees
    with pytest.raises(MissingDependencyError, match="needs onnxruntime.*pip install"):
        prepare(ClassifyRequest(landsat, rgb_model, {}))
