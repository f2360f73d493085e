"""What the toolbar's Processing dialogs open with: the active or first fitting layers and a real class field."""

from __future__ import annotations

from pathlib import Path

import pytest
from heatmap_models import write_classified_tiles
from model_factory import CLASSES
from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer

from qgis_csp_plugin.qgis_io.layer_defaults import assessment_inputs, class_field, train_classifier_inputs
from qgis_csp_plugin.qgis_io.layers import load_class_raster

pytestmark = pytest.mark.qgis
SCENES = Path(__file__).resolve().parents[2] / "data" / "scenes"


@pytest.fixture()
def project(tmp_path):
    """Tiles and a class raster of a Classify run, the scene, and labelled points with fid/id/class fields."""
    write_classified_tiles(tmp_path / "tiles.gpkg")
    tiles = QgsVectorLayer(f"{tmp_path / 'tiles.gpkg'}|layername=tiles", "tiles", "ogr")
    from osgeo import gdal

    gdal.Rasterize(str(tmp_path / "classes.tif"), str(tmp_path / "tiles.gpkg"), attribute="class_id", xRes=320,
                   yRes=320, outputType=gdal.GDT_Byte, noData=255)
    classes = load_class_raster(tmp_path / "classes.tif", "classes", list(CLASSES), None)
    scene = QgsRasterLayer(str(SCENES / "RGB.byte.tif"), "scene")
    points = QgsVectorLayer("Point?crs=EPSG:32633&field=fid:integer&field=area:double&field=id:integer"
                            "&field=cover:string", "points", "memory")
    lines = QgsVectorLayer("LineString?crs=EPSG:32633&field=name:string", "roads", "memory")
    layers = {"tiles": tiles, "classes": classes, "scene": scene, "points": points, "roads": lines}
    QgsProject.instance().addMapLayers(list(layers.values()))
    yield layers
    QgsProject.instance().clear()


def test_class_field_is_the_first_text_or_integer_field_that_is_not_fid(project):
    assert class_field(project["points"]) == "id"
    assert class_field(project["roads"]) == "name" and class_field(project["scene"]) is None


def test_train_classifier_opens_on_the_image_and_the_labels(project):
    assert train_classifier_inputs(None) == {"INPUT": project["scene"].id(), "LABELS": project["points"].id(),
                                             "CLASS_FIELD": "id"}
    assert train_classifier_inputs(project["classes"])["INPUT"] == project["scene"].id()  # not a class map


def test_assessment_reference_is_never_the_classification(project):
    inputs = assessment_inputs(project["tiles"])  # the active layer: classified tiles, a polygon layer
    assert inputs["CLASSIFICATION"] == project["classes"].id()  # a class raster comes first
    assert inputs["REFERENCE"] == project["points"].id() and inputs["REFERENCE_FIELD"] == "id"
    QgsProject.instance().removeMapLayer(project["classes"].id())
    inputs = assessment_inputs(project["tiles"])
    assert inputs["CLASSIFICATION"] == project["tiles"].id() and inputs["REFERENCE"] == project["points"].id()
    QgsProject.instance().removeMapLayer(project["points"].id())
    assert "REFERENCE" not in assessment_inputs(project["tiles"])  # rather empty than the map itself
