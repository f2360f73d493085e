"""csp:accuracy_assessment and csp:class_area_report on real GeoTIFFs and GeoPackages."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from osgeo import gdal
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingException,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)
from rasterio.transform import from_origin

from qgis_csp_plugin.core.accuracy import confusion_matrix, olofsson_estimate
from qgis_csp_plugin.core.class_areas import AUTHALIC_RADIUS_M, geographic_row_hectares

pytestmark = pytest.mark.qgis
NAMES = ["crop", "forest", "water"]
# a 10 x 10 class raster, 30 m pixels: rows 0-3 crop, 4-7 forest, 8-9 water, one nodata pixel
IDS = np.repeat([0, 0, 0, 0, 1, 1, 1, 1, 2, 2], 10).reshape(10, 10).astype(np.uint8)
IDS[9, 9] = 255


@pytest.fixture()
def class_raster(tmp_path) -> Path:
    path = tmp_path / "classes.tif"
    with rasterio.open(path, "w", driver="GTiff", width=10, height=10, count=1, dtype="uint8", crs="EPSG:32633",
                       transform=from_origin(400_000, 5_000_000, 30, 30), nodata=255) as dst:
        dst.write(IDS, 1)
    dataset = gdal.Open(str(path), gdal.GA_Update)
    dataset.GetRasterBand(1).SetCategoryNames(NAMES)
    dataset = None
    return path


def reference_points(samples: list[tuple[int, int, str | None]], crs: str = "EPSG:32633") -> QgsVectorLayer:
    """Points at pixel (row, col) centres of the class raster, with a reference class."""
    layer = QgsVectorLayer(f"Point?crs={crs}&field=ref:string", "reference", "memory")
    for row, col, label in samples:
        feature = QgsFeature(layer.fields())
        feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(400_015 + 30 * col, 4_999_985 - 30 * row)))
        feature.setAttributes([label])
        layer.dataProvider().addFeature(feature)
    return layer


def read_csv(path: str) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


SAMPLES = ([(0, c, "crop") for c in range(6)] + [(1, 0, "forest"), (2, 0, "Water")]
           + [(5, c, "forest") for c in range(5)] + [(6, 0, "crop")]
           + [(8, c, "water") for c in range(4)] + [(9, 0, "forest")]
           + [(9, 9, "water"), (20, 0, "water")]   # on nodata, outside the raster
           + [(3, 3, "wetland")])                  # a reference class the map does not have


def test_assessment_numbers_match_the_core_estimators(provider, class_raster, tmp_path):
    import processing

    result = processing.run("csp:accuracy_assessment", {
        "CLASSIFICATION": str(class_raster), "REFERENCE": reference_points(SAMPLES), "REFERENCE_FIELD": "ref",
        "OUTPUT_CSV": str(tmp_path / "acc.csv"), "OUTPUT_HTML": str(tmp_path / "acc.html"),
        "OUTPUT_TABLE": "memory:"})
    rows = read_csv(result["OUTPUT_CSV"])
    assert [r["class"] for r in rows] == NAMES + ["wetland"]
    # rows = map, columns = reference (crop, forest, water, wetland)
    expected = np.array([[6, 1, 1, 1], [1, 5, 0, 0], [0, 1, 4, 0], [0, 0, 0, 0]])
    mapped = np.repeat(np.arange(4), expected.sum(axis=1))
    reference = np.concatenate([np.repeat(np.arange(4), r) for r in expected])
    assert (confusion_matrix(mapped, reference, 4) == expected).all()
    estimate = olofsson_estimate(expected, np.array([40, 40, 19, 0]) * 0.09)
    assert [float(r["area_hectares"]) for r in rows] == pytest.approx(estimate.area.tolist(), abs=0.005)
    assert [float(r["users_accuracy"]) for r in rows[:3]] == pytest.approx([6 / 9, 5 / 6, 4 / 5], abs=5e-5)
    assert float(rows[0]["map_hectares"]) == pytest.approx(3.6) and rows[3]["users_accuracy"] == ""
    assert result["OVERALL_ACCURACY"] == pytest.approx(15 / 20)
    assert result["OVERALL_ACCURACY_ADJ"] == pytest.approx(estimate.overall)
    report = Path(result["OUTPUT_HTML"]).read_text()
    assert "wetland" in report and "Olofsson" in report and "2 reference samples fall outside" in report
    assert result["OUTPUT_TABLE"].featureCount() == 4


def test_tile_polygons_and_reprojected_reference(provider, tmp_path):
    import processing

    tiles = QgsVectorLayer("Polygon?crs=EPSG:32633&field=class:string", "tiles", "memory")
    for i, label in enumerate(["crop", "forest"]):
        feature = QgsFeature(tiles.fields())
        feature.setGeometry(QgsGeometry.fromWkt(
            f"POLYGON(({400_000 + 300 * i} 5000000, {400_300 + 300 * i} 5000000, {400_300 + 300 * i} 4999700, "
            f"{400_000 + 300 * i} 4999700, {400_000 + 300 * i} 5000000))"))
        feature.setAttributes([label])
        tiles.dataProvider().addFeature(feature)
    reference = QgsVectorLayer("Point?crs=EPSG:4326&field=ref:string", "reference", "memory")
    to_wgs84 = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:32633"),
                                      QgsCoordinateReferenceSystem("EPSG:4326"), QgsProject.instance())
    for x, label in ((400_100, "crop"), (400_200, "crop"), (400_400, "forest"), (400_500, "crop")):
        feature = QgsFeature(reference.fields())
        feature.setGeometry(QgsGeometry.fromPointXY(to_wgs84.transform(QgsPointXY(x, 4_999_850))))
        feature.setAttributes([label])
        reference.dataProvider().addFeature(feature)
    result = processing.run("csp:accuracy_assessment", {
        "CLASSIFICATION": tiles, "REFERENCE": reference, "REFERENCE_FIELD": "ref",
        "OUTPUT_CSV": str(tmp_path / "acc.csv")})
    assert result["OVERALL_ACCURACY"] == pytest.approx(0.75)
    rows = read_csv(result["OUTPUT_CSV"])
    assert float(rows[0]["map_hectares"]) == pytest.approx(9.0, rel=1e-2)  # ellipsoidal area of 300 m x 300 m


def test_no_overlap_is_a_message_and_nothing_is_written(provider, class_raster, tmp_path):
    import processing

    with pytest.raises(QgsProcessingException, match="no reference sample falls on a classified cell"):
        processing.run("csp:accuracy_assessment", {
            "CLASSIFICATION": str(class_raster), "REFERENCE": reference_points([(50, 50, "crop")]),
            "REFERENCE_FIELD": "ref", "OUTPUT_CSV": str(tmp_path / "out" / "acc.csv")})
    assert not (tmp_path / "out" / "acc.csv").exists()


def test_class_area_report_projected(provider, class_raster, tmp_path):
    import processing

    result = processing.run("csp:class_area_report", {"INPUT": str(class_raster),
                                                      "OUTPUT_CSV": str(tmp_path / "areas.csv")})
    rows = read_csv(result["OUTPUT_CSV"])
    assert [(r["class"], int(r["pixels"])) for r in rows] == [("crop", 40), ("forest", 40), ("water", 19)]
    assert [float(r["hectares"]) for r in rows] == pytest.approx([3.6, 3.6, 1.71])
    assert sum(float(r["percent"]) for r in rows) == pytest.approx(100.0, abs=0.01 * len(rows))  # 0.01 % each


def test_class_area_report_geographic_uses_row_latitudes(provider, tmp_path):
    import processing

    path = tmp_path / "geo.tif"
    ids = np.array([[0, 1], [0, 1], [2, 2]], dtype=np.uint8)
    with rasterio.open(path, "w", driver="GTiff", width=2, height=3, count=1, dtype="uint8", crs="EPSG:4326",
                       transform=from_origin(10.0, 60.0, 1.0, 1.0)) as dst:
        dst.write(ids, 1)
    layer = QgsRasterLayer(str(path), "geo")
    result = processing.run("csp:class_area_report", {"INPUT": layer, "OUTPUT_CSV": str(tmp_path / "a.csv")})
    rows = read_csv(result["OUTPUT_CSV"])
    rows_ha = geographic_row_hectares(60.0, 1.0, 1.0, 3)
    assert [float(r["hectares"]) for r in rows] == pytest.approx(
        [rows_ha[0] + rows_ha[1], rows_ha[0] + rows_ha[1], 2 * rows_ha[2]])
    assert [r["class"] for r in rows] == ["0", "1", "2"]  # no category names: the ids


def test_spherical_rows_sum_to_the_sphere():
    rows = geographic_row_hectares(90.0, 1.0, 360.0, 180)
    assert rows.sum() == pytest.approx(4 * math.pi * AUTHALIC_RADIUS_M ** 2 / 1e4)


def test_dense_tile_polygons_assess_like_the_class_raster(provider, rgb_model, tmp_path):
    """A dense run's tile polygons overlap (32 px tiles, 8 px stride): each counts with its cell, so the
    assessment against them equals the one against the class raster, areas and estimates included."""
    import processing

    landsat = Path(__file__).resolve().parents[2] / "data" / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"
    layer = QgsRasterLayer(str(landsat), "landsat")
    e = layer.extent()
    extent = f"{e.xMinimum()},{e.xMinimum() + 9000},{e.yMaximum() - 9000},{e.yMaximum()} [EPSG:32621]"
    out = processing.run("csp:classify", {"INPUT": layer, "MODEL": str(rgb_model), "EXTENT": extent, "STRIDE": 8,
                                          "OUTPUT_VECTOR": str(tmp_path / "tiles.gpkg"),
                                          "OUTPUT_CLASSES": str(tmp_path / "classes.tif")})
    dataset = gdal.Open(out["OUTPUT_CLASSES"])
    ids, (x0, dx, _, y0, _, dy) = dataset.GetRasterBand(1).ReadAsArray(), dataset.GetGeoTransform()
    names = json.loads(dataset.GetRasterBand(1).GetMetadataItem("GEOSSL_CLASS_NAMES"))
    rng = np.random.default_rng(0)
    reference = QgsVectorLayer("Point?crs=EPSG:32621&field=ref:string", "reference", "memory")
    for class_id in np.unique(ids[ids != 255]):  # 3 cells of every mapped class, one labelled wrongly
        rows, cols = np.nonzero(ids == class_id)
        for k, i in enumerate(rng.choice(len(rows), 3)):
            feature = QgsFeature(reference.fields())
            feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(x0 + (cols[i] + 0.5) * dx,
                                                                   y0 + (rows[i] + 0.5) * dy)))
            feature.setAttributes([names[class_id] if k else names[(class_id + 1) % len(names)]])
            reference.dataProvider().addFeature(feature)
    tiles = QgsVectorLayer(f"{out['OUTPUT_VECTOR']}|layername=tiles", "tiles", "ogr")
    assert tiles.featureCount() > 1000
    results = [processing.run("csp:accuracy_assessment", {
        "CLASSIFICATION": classification, "REFERENCE": reference, "REFERENCE_FIELD": "ref",
        "OUTPUT_CSV": str(tmp_path / f"{name}.csv")}) for name, classification in (("raster", out["OUTPUT_CLASSES"]),
                                                                                  ("tiles", tiles))]
    raster_rows, tile_rows = (read_csv(r["OUTPUT_CSV"]) for r in results)
    assert [r["class"] for r in tile_rows] == [r["class"] for r in raster_rows]
    for raster_row, tile_row in zip(raster_rows, tile_rows, strict=True):
        assert float(tile_row["map_hectares"]) == pytest.approx(float(raster_row["map_hectares"]), rel=0.01)
        assert float(tile_row["area_hectares"]) == pytest.approx(float(raster_row["area_hectares"]), rel=0.01)
        assert tile_row["map_samples"] == raster_row["map_samples"]
    assert results[1]["OVERALL_ACCURACY"] == results[0]["OVERALL_ACCURACY"] == pytest.approx(2 / 3)
    assert results[1]["OVERALL_ACCURACY_ADJ"] == pytest.approx(results[0]["OVERALL_ACCURACY_ADJ"], rel=0.01)


def test_a_mapped_class_without_reference_samples_is_named_in_a_warning(provider, class_raster, tmp_path):
    from qgis.core import QgsProcessingFeedback

    class Collect(QgsProcessingFeedback):
        warnings: list[str] = []

        def pushWarning(self, text):  # noqa: N802 (QGIS API name)
            self.warnings.append(text)

    import processing

    feedback = Collect()
    result = processing.run("csp:accuracy_assessment", {
        "CLASSIFICATION": str(class_raster), "REFERENCE": reference_points([(0, 0, "crop"), (5, 0, "forest")]),
        "REFERENCE_FIELD": "ref", "OUTPUT_CSV": str(tmp_path / "acc.csv")}, feedback=feedback)
    assert "OVERALL_ACCURACY_ADJ" not in result and "area_hectares" not in read_csv(result["OUTPUT_CSV"])[0]
    assert any("not estimated: no reference sample falls in the mapped class(es) water" in w
               for w in feedback.warnings)
