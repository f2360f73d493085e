"""Class names a user may type: names that collide as field names, names that a spreadsheet runs as
formulas, names that differ only in case; labels that all miss the raster (issue 26, points 4, 5, 7)."""

from __future__ import annotations

import csv
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from fault_helpers import DATA
from model_factory import with_metadata_of
from osgeo import gdal
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsGeometry,
    QgsPointXY,
    QgsRasterLayer,
    QgsVectorLayer,
)

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.core.geotiff import GeoTiffWriter
from qgis_csp_plugin.jobs.assessment import (
    AreaReportRequest,
    AssessmentRequest,
    csv_cell,
    prepare_area_report,
)
from qgis_csp_plugin.jobs.assessment import prepare as prepare_assessment
from qgis_csp_plugin.jobs.classify import ClassifyRequest, load_outputs
from qgis_csp_plugin.jobs.classify import prepare as prepare_classify
from qgis_csp_plugin.jobs.train_classifier import TrainRequest
from qgis_csp_plugin.jobs.train_classifier import prepare as prepare_training
from qgis_csp_plugin.qgis_io.heatmap_layers import read_tile_probabilities
from qgis_csp_plugin.qgis_io.layers import check_geopackage
from trainer.data.eurosat_mosaic import build_mosaic
from trainer.data.points import point_records
from trainer.errors import TrainerError

pytestmark = pytest.mark.qgis
LANDSAT = DATA / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"
#: ten names for the ten outputs of the small RGB model: case-only twins, emoji, formulas
NAMES = ["Water", "water", "🌲", "🌊", "crop", '=HYPERLINK("http://x.example","click")', "@SUM(A1)", "+1", "-1",
         "Forest"]
#: names a spreadsheet would run as formulas (and no case-only twins: the assessment matches names without case)
FORMULAS = ["Water", "scrub", "🌲", "🌊", "crop", '=HYPERLINK("http://x.example","click")', "@SUM(A1)", "+1", "-1",
            "Forest"]


@pytest.fixture(scope="module")
def awkward_model(models, tmp_path_factory) -> Path:
    return with_metadata_of(models["rgb"], onnx.load(str(models["rgb"])), tmp_path_factory.mktemp("awkward") /
                            "awkward.onnx", class_names=json.dumps(NAMES))


@pytest.fixture(scope="module")
def mosaic(tmp_path_factory) -> Path:
    """12 real EuroSAT patches side by side with their centres labelled 'Water'/'water' (6 SeaLake) and
    'Forest' (6), as build_mosaic writes them."""
    folder = tmp_path_factory.mktemp("mosaic")
    patches = [DATA / "eurosat_ms" / c / f"{c}_{i}.tif" for c in ("SeaLake", "Forest") for i in range(1, 7)]
    names = ["Water"] * 3 + ["water"] * 3 + ["Forest"] * 6
    build_mosaic(patches, names, folder / "scene.tif", folder / "labels.gpkg", columns=6)
    return folder


def test_colliding_class_names_get_distinct_fields_and_keep_their_names(qgis_app, awkward_model, tmp_path):
    """'Water'/'water' used to give 'duplicate column name: p_Water'; '🌲'/'🌊' one 'p_' field, a class lost."""
    layer = QgsRasterLayer(str(LANDSAT), "landsat")
    job = prepare_classify(ClassifyRequest(layer, awkward_model, {"vector": tmp_path / "tiles.gpkg"}))
    (loaded,) = load_outputs(job, job.execute()[1])  # the layer the dialog adds
    fields = [f for f in loaded.fields() if f.name().startswith("p_")]
    assert [f.name() for f in fields] == ["p_Water", "p_water_1", "p_class2", "p_class3", "p_crop",
                                          "p_HYPERLINK_http_x_example_click", "p_SUM_A1", "p_1", "p_1_8", "p_Forest"]
    assert [f.alias() for f in fields] == NAMES
    plain = QgsVectorLayer(f"{tmp_path / 'tiles.gpkg'}|layername=tiles", "tiles", "ogr")  # names from the file
    assert not any(f.alias() for f in plain.fields())
    for tiles in (loaded, plain):
        probabilities = read_tile_probabilities(tiles)
        assert probabilities.class_names == NAMES
        np.testing.assert_allclose(probabilities.probabilities.sum(axis=1), 1.0, atol=1e-5)
    check_geopackage(tmp_path / "tiles.gpkg", "tiles", len(probabilities.probabilities))
    with closing(sqlite3.connect(tmp_path / "tiles.gpkg")) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # a plain file, no WAL side files


def test_formulas_in_class_names_are_text_in_both_csvs(qgis_app, tmp_path):
    """OWASP's CSV-injection defence (a leading ') in the class-area and accuracy CSVs, on a class raster
    whose ten classes (30 m pixels, 100 columns of 10 px each) carry the names; numbers rounded (areas to
    0.01 ha, percentages to 0.01, accuracies to 0.0001: no float noise like 1610.2400000000725)."""
    raster = tmp_path / "classes.tif"
    crs = QgsCoordinateReferenceSystem("EPSG:32632")
    with GeoTiffWriter(raster, 100, 7, 1, gdal.GDT_Byte, (500_000.0, 30.0, 0.0, 5_000_000.0, 0.0, -30.0),
                       crs.toWkt(), 255, categories=FORMULAS) as out:
        out.write(0, np.repeat(np.arange(100, dtype=np.uint8)[None, :] // 10, 7, axis=0))
    layer = QgsRasterLayer(str(raster), "classes")
    areas = prepare_area_report(AreaReportRequest(layer, tmp_path / "areas.csv"))
    assert areas.class_map.class_names == FORMULAS
    areas.execute()
    reference = QgsVectorLayer("Point?crs=EPSG:32632&field=ref:string", "reference", "memory")
    for k, name in enumerate(FORMULAS * 2):
        feature = QgsFeature(reference.fields())
        x = 500_000 + 300 * (k % 10) + (45 if k < 10 else 255)  # two points inside each class's columns
        feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(x, 5_000_000 - 105)))
        feature.setAttributes([name])
        reference.dataProvider().addFeature(feature)
    prepare_assessment(AssessmentRequest(layer, reference, "ref", tmp_path / "accuracy.csv")).execute()
    escaped = ["'" + n if n[0] in "=@+-" else n for n in FORMULAS]
    for name in ("areas.csv", "accuracy.csv"):
        rows = read_csv(tmp_path / name)
        assert [row["class"] for row in rows] == escaped
        numbers = [value for row in rows for key, value in row.items() if key != "class" and value]
        assert all(len(v.partition(".")[2]) <= 4 for v in numbers), numbers
    areas = read_csv(tmp_path / "areas.csv")
    assert {row["hectares"] for row in areas} == {"6.3"} and {row["percent"] for row in areas} == {"10.0"}
    assert {row["users_accuracy"] for row in read_csv(tmp_path / "accuracy.csv")} == {"1.0"}
    assert [csv_cell(v) for v in ("\tx", "\rx", "x-1", -1, 2.5, None)] == ["'\tx", "'\rx", "x-1", -1, 2.5, ""]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_case_only_duplicates_are_refused_at_training(qgis_app, mosaic, encoder_13, tmp_path):
    request = TrainRequest(QgsRasterLayer(str(mosaic / "scene.tif"), "scene"), encoder_13,
                           QgsVectorLayer(f"{mosaic / 'labels.gpkg'}|layername=centres", "centres", "ogr"), "class",
                           tmp_path / "model.onnx")
    with pytest.raises(GeoSslError, match="class field 'class': the classes 'Water' / 'water' differ only in "
                                       "upper/lower case"):
        prepare_training(request)
    table = tmp_path / "points.csv"
    pd.DataFrame({"lat": [45.0, 45.1, 46.0, 46.1], "lon": [9.0, 9.1, 10.0, 10.1],
                  "label": ["Water", "water", "Forest", "Forest"]}).to_csv(table, index=False)
    with pytest.raises(TrainerError, match="label column 'label': the classes 'Water' / 'water' differ only"):
        point_records(str(table))
    assert list(tmp_path.iterdir()) == [table]


def test_labels_that_all_miss_the_raster_say_so(qgis_app, mosaic, encoder_13, tmp_path):
    """Used to say 'the class field has no value at any usable sample'."""
    points = QgsVectorLayer("Point?crs=EPSG:32632&field=class:string", "far", "memory")
    for k, name in enumerate(["Forest", "Forest", "SeaLake", "SeaLake"]):
        feature = QgsFeature(points.fields())
        feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(100_000 + 100 * k, 1_000_000)))
        feature.setAttributes([name])
        points.dataProvider().addFeature(feature)
    request = TrainRequest(QgsRasterLayer(str(mosaic / "scene.tif"), "scene"), encoder_13, points, "class",
                           tmp_path / "model.onnx")
    with pytest.raises(GeoSslError, match="4 of 4 points lie outside the raster 'scene'"):
        prepare_training(request)
    assert list(tmp_path.iterdir()) == []
