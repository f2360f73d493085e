"""What the toolbar's Processing dialogs open with: the active or first fitting layers and a real class field."""

from __future__ import annotations

from pathlib import Path

import pytest
from heatmap_models import write_classified_tiles
from model_factory import CLASSES
from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsProject, QgsRasterLayer, QgsVectorLayer

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
    points = labelled_points("points", 500_500)
    elsewhere = labelled_points("elsewhere", 900_000)  # labels far from the classification
    lines = QgsVectorLayer("LineString?crs=EPSG:32633&field=name:string", "roads", "memory")
    layers = {"tiles": tiles, "classes": classes, "scene": scene, "elsewhere": elsewhere, "points": points,
              "roads": lines}
    QgsProject.instance().addMapLayers(list(layers.values()))
    yield layers
    QgsProject.instance().clear()


def labelled_points(name: str, x: float, y: float = 4_999_500, crs: str = "EPSG:32633") -> QgsVectorLayer:
    layer = QgsVectorLayer(f"Point?crs={crs}&field=fid:integer&field=area:double&field=id:integer"
                           "&field=cover:string", name, "memory")
    feature = QgsFeature(layer.fields())
    feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(x, y)))
    layer.dataProvider().addFeature(feature)
    layer.updateExtents()
    return layer


def test_class_field_is_the_first_text_or_integer_field_that_is_not_fid(project):
    assert class_field(project["points"]) == "id"
    assert class_field(project["roads"]) == "name" and class_field(project["scene"]) is None


def test_train_classifier_opens_on_the_image_and_the_labels(project):
    scene = project["scene"]  # labels on it, where it is (RGB.byte.tif lies in UTM 18N)
    on_scene = labelled_points("on the scene", 220_650, 2_719_200, "EPSG:32618")
    QgsProject.instance().addMapLayer(on_scene)
    assert train_classifier_inputs(None) == {"INPUT": scene.id(), "LABELS": on_scene.id(), "CLASS_FIELD": "id"}
    assert train_classifier_inputs(project["classes"])["INPUT"] == project["scene"].id()  # not a class map


def test_assessment_reference_is_never_the_classification(project):
    inputs = assessment_inputs(project["tiles"])  # the active layer: classified tiles, a polygon layer
    assert inputs["CLASSIFICATION"] == project["classes"].id()  # a class raster comes first
    assert inputs["REFERENCE"] == project["points"].id() and inputs["REFERENCE_FIELD"] == "id"
    QgsProject.instance().removeMapLayer(project["classes"].id())
    inputs = assessment_inputs(project["tiles"])
    assert inputs["CLASSIFICATION"] == project["tiles"].id() and inputs["REFERENCE"] == project["points"].id()
    QgsProject.instance().removeMapLayer(project["points"].id())
    assert "REFERENCE" not in assessment_inputs(project["tiles"])  # rather empty than the map or labels elsewhere


def test_an_active_labelled_layer_is_the_reference_of_the_map_it_overlaps(project):
    inputs = assessment_inputs(project["points"])  # just loaded, so selected in the Layers panel
    assert inputs == {"CLASSIFICATION": project["classes"].id(), "REFERENCE": project["points"].id(),
                      "REFERENCE_FIELD": "id"}
    assert "CLASSIFICATION" not in assessment_inputs(project["elsewhere"])  # no class map where these labels are
