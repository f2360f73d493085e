"""Any sensor through real QGIS Processing: csp:train_classifier with the default encoder (Galileo nano) on a
3-band Landsat 8 RGB GeoTIFF (data/scenes) and on a 4-band NAIP GeoTIFF (../shared), then csp:classify
with the written model. Labels are real points placed by a simple rule on each image (water / land by
the red band, vegetation / bare by NDVI). The logs list the band pairs and the masked bands; the models
store the bands masked at training and the layer's band labels, and Classify re-uses both (#28, #27).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import (
    QgsFeature,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingFeedback,
    QgsProject,
    QgsVectorFileWriter,
    QgsVectorLayer,
)

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.core.default_models import DEFAULT_ENCODERS

pytestmark = pytest.mark.qgis
REPO = Path(__file__).resolve().parents[2]
LANDSAT_RGB = REPO / "data" / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"
NAIP = REPO.parent / "shared" / "data" / "multitemporal" / "naip_nd_2009_2020" / "m_4709963_se_14_1_20200831.tif"
NOT_RGB = ["B05", "B06", "B07", "B08", "B8A", "B11", "B12"]


class Log(QgsProcessingFeedback):
    """Keeps what an algorithm reports."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def pushInfo(self, info: str) -> None:  # noqa: N802 (QGIS API)
        self.lines.append(info)

    def pushWarning(self, warning: str) -> None:  # noqa: N802
        self.lines.append(warning)

    def text(self) -> str:
        return "\n".join(self.lines)


def rule_points(raster: Path, window: int, step: int, rule, per_class: int, out: Path) -> str:
    """A GeoPackage of points at the centres of ``window``-px windows (every ``step`` px) that ``rule``
    (bands ``(C, w, w)`` → class name or None) labels, at most ``per_class`` per class, in the raster's CRS."""
    dataset = gdal.Open(str(raster))
    data = dataset.ReadAsArray().astype(np.float64)
    x0, dx, _, y0, _, dy = dataset.GetGeoTransform()
    chosen: dict[str, list[QgsPointXY]] = {}
    for row in range(0, data.shape[1] - window, step):
        for col in range(0, data.shape[2] - window, step):
            block = data[:, row:row + window, col:col + window]
            label = None if (block == 0).any() else rule(block)
            if label is not None and len(chosen.setdefault(label, [])) < per_class:
                chosen[label].append(QgsPointXY(x0 + (col + window / 2) * dx, y0 + (row + window / 2) * dy))
    layer = QgsVectorLayer(f"Point?crs={dataset.GetSpatialRef().GetAuthorityName(None)}:"
                           f"{dataset.GetSpatialRef().GetAuthorityCode(None)}&field=class:string", "labels", "memory")
    for label, points in chosen.items():
        for point in points:
            feature = QgsFeature(layer.fields())
            feature.setGeometry(QgsGeometry.fromPointXY(point))
            feature.setAttributes([label])
            layer.dataProvider().addFeature(feature)
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    error = QgsVectorFileWriter.writeAsVectorFormatV3(layer, str(out), QgsProject.instance().transformContext(),
                                                      options)
    assert error[0] == QgsVectorFileWriter.NoError, error
    assert all(len(points) == per_class for points in chosen.values()) and len(chosen) == 2, chosen.keys()
    return str(out)


def water_or_land(block: np.ndarray) -> str | None:
    red = block[0]
    if red.mean() < 6300 and red.std() < 25:
        return "water"
    return "land" if red.mean() > 6700 else None


def vegetation_or_bare(block: np.ndarray) -> str | None:
    red, nir = block[0], block[3]
    ndvi = float(((nir - red) / np.maximum(nir + red, 1)).mean())
    return "vegetation" if ndvi > 0.45 else "bare" if ndvi < 0.0 else None


def run(algorithm: str, parameters: dict) -> tuple[dict, str]:
    import processing

    log = Log()
    return processing.run(algorithm, parameters, feedback=log), log.text()


def test_rgb_landsat_trains_with_the_default_encoder_and_classify_masks_the_same_bands(provider, tmp_path):
    labels = rule_points(LANDSAT_RGB, window=21, step=30, rule=water_or_land, per_class=12, out=tmp_path / "l.gpkg")
    result, log = run("csp:train_classifier", {
        "INPUT": str(LANDSAT_RGB), "LABELS": labels, "CLASS_FIELD": "class", "FOLDS": 3,
        "DATE": "2020-05-18", "OUTPUT": str(tmp_path / "rgb.onnx")})
    meta = OnnxModel.load(result["OUTPUT"]).metadata
    assert meta.training["encoder"].startswith("Galileo") and DEFAULT_ENCODERS[0] == "galileo_nano_encoder"
    assert "B02 ← band 3 (Blue), B03 ← band 2 (Green), B04 ← band 1 (Red)" in log
    assert f"masked (not in the layer, or their group is incomplete): {', '.join(NOT_RGB)}" in log
    assert "Landsat 8/9 OLI Level-1" in log and "month 5 (May) of the given date 2020-05-18" in log
    assert meta.spectral.masked_bands == NOT_RGB and meta.extra_inputs == ["band_mask", "month"]
    assert meta.source_band_labels[:4] == ["Band 3 Band 3 (Blue) Blue", "Band 2 Band 2 (Green) Green",
                                           "Band 1 Band 1 (Red) Red", None]
    assert result["CV_ACCURACY"] >= 0.8  # water and land by the red band: an easy rule
    extent = "733345,745345,-2800995,-2790995 [EPSG:32621]"  # 12 x 10 km: ~19 x 16 tiles of 640 m
    classified, log = run("csp:classify", {"INPUT": str(LANDSAT_RGB), "MODEL": result["OUTPUT"], "EXTENT": extent,
                                           "OUTPUT_VECTOR": str(tmp_path / "tiles.gpkg")})
    assert "bands as at training (the layer's band labels): B02 ← band 3 (Blue)" in log
    assert "month 5 (May) from the date 2020-05-18 in the file name" in log
    tiles = QgsVectorLayer(classified["OUTPUT_VECTOR"], "tiles", "ogr")
    assert {f["class"] for f in tiles.getFeatures()} == {"water", "land"}


def test_a_custom_mapping_is_remembered_by_the_trained_model(provider, tmp_path):
    """#27: trained with a custom mapping, the model maps the same layer bands again in Classify."""
    labels = rule_points(LANDSAT_RGB, window=21, step=30, rule=water_or_land, per_class=8, out=tmp_path / "l.gpkg")
    swapped = "B04=3,B03=2,B02=1"  # not what the names say (B04 is band 1, Red)
    result, log = run("csp:train_classifier", {
        "INPUT": str(LANDSAT_RGB), "LABELS": labels, "CLASS_FIELD": "class", "FOLDS": 2, "BANDS": swapped,
        "OUTPUT": str(tmp_path / "swapped.onnx")})
    assert "bands as given: B02 ← band 1 (Red), B03 ← band 2 (Green), B04 ← band 3 (Blue)" in log
    extent = "733345,737345,-2794995,-2790995 [EPSG:32621]"
    _, log = run("csp:classify", {"INPUT": str(LANDSAT_RGB), "MODEL": result["OUTPUT"], "EXTENT": extent,
                                  "OUTPUT_VECTOR": str(tmp_path / "tiles.gpkg")})
    assert "bands as at training (the layer's band labels): B02 ← band 1 (Red), B03 ← band 2 (Green), " \
           "B04 ← band 3 (Blue)" in log


@pytest.mark.skipif(not NAIP.is_file(), reason="the NAIP scene is in ../shared/data (not in a user's clone)")
def test_naip_trains_with_the_default_encoder_and_classify_runs_the_model(provider, tmp_path):
    labels = rule_points(NAIP, window=32, step=32, rule=vegetation_or_bare, per_class=12, out=tmp_path / "n.gpkg")
    result, log = run("csp:train_classifier", {
        "INPUT": str(NAIP), "LABELS": labels, "CLASS_FIELD": "class", "FOLDS": 3, "TILE_SIZE": 32,
        "OUTPUT": str(tmp_path / "naip.onnx")})
    assert "read as NAIP (red, green, blue, NIR) in its usual band order (from the file name)" in log
    assert "B02 ← band 3, B03 ← band 2, B04 ← band 1, B08 ← band 4" in log
    assert "8-bit values have no reflectance scale" in log and "month 8 (August) from the date 2020-08-31" in log
    meta = OnnxModel.load(result["OUTPUT"]).metadata
    assert meta.spectral.masked_bands == ["B05", "B06", "B07", "B8A", "B11", "B12"] and meta.tile_size == 32
    assert result["CV_ACCURACY"] >= 0.8
    classified, log = run("csp:classify", {"INPUT": str(NAIP), "MODEL": result["OUTPUT"],
                                           "OUTPUT_VECTOR": str(tmp_path / "tiles.gpkg"),
                                           "OUTPUT_CLASSES": str(tmp_path / "classes.tif")})
    assert "bands as at training" in log and "band groups used: S2_RGB, S2_NIR_10m" in log
    classes = gdal.Open(classified["OUTPUT_CLASSES"]).ReadAsArray()
    assert set(np.unique(classes)) <= {0, 1} and len(np.unique(classes)) == 2
