"""One read plan for training and Classify: on an EPSG:3857 layer (Web Mercator metres are 1/cos(lat) ground
metres, 1.4 at the mosaic's 45° N) a classifier trained in QGIS sees tiles of the ground size that Classify
later feeds it, the encoder's 64 px x 10 m."""

from __future__ import annotations

from pathlib import Path

import pytest
from osgeo import gdal
from qgis.core import QgsDistanceArea, QgsPointXY, QgsProject, QgsRasterLayer

from qgis_csp_plugin.jobs.classify import ClassifyRequest
from qgis_csp_plugin.jobs.classify import prepare as prepare_classify
from qgis_csp_plugin.jobs.train_classifier import TrainRequest
from qgis_csp_plugin.jobs.train_classifier import prepare as prepare_training

from .test_train_classifier import labels, scene  # noqa: F401 (scene: the module's fixture)

pytestmark = pytest.mark.qgis


def ground_width_m(layer: QgsRasterLayer, width: float) -> float:
    """Ground metres of ``width`` layer units, east-west across the layer's centre."""
    distance = QgsDistanceArea()
    distance.setSourceCrs(layer.crs(), QgsProject.instance().transformContext())
    distance.setEllipsoid("EPSG:7030")
    centre = layer.extent().center()
    return distance.measureLine(QgsPointXY(centre.x() - width / 2, centre.y()),
                                QgsPointXY(centre.x() + width / 2, centre.y()))


def test_training_and_classify_read_web_mercator_tiles_of_one_ground_size(scene, tmp_path: Path,  # noqa: F811
                                                                         qgis_app, encoder_13):
    mercator = tmp_path / "mercator.tif"
    gdal.Warp(str(mercator), str(scene / "scene.tif"), dstSRS="EPSG:3857")
    layer = QgsRasterLayer(str(mercator), "mercator")
    assert layer.crs().authid() == "EPSG:3857"
    training = prepare_training(TrainRequest(layer, encoder_13, labels(scene), "class", tmp_path / "few.onnx",
                                             features="statistics", c=1.0, folds=3))
    result = training.execute()
    classify = prepare_classify(ClassifyRequest(layer, result.path, {}))
    assert classify.grid.tile_size == training.tile_size == 64
    assert classify.grid.res_x == pytest.approx(training.res[0], rel=1e-9)
    assert classify.grid.res_y == pytest.approx(training.res[1], rel=1e-9)
    tile_m = ground_width_m(layer, training.res[0] * training.tile_size)
    assert tile_m == pytest.approx(64 * 10.0, rel=0.02)  # the layer's own ~10 m pixels, on the ground
