"""Every csp algorithm logs, when a run starts, the qgis_process command that repeats it; run through the real
qgis_process, the logged command writes the same heatmap."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
from heatmap_models import write_classified_tiles
from model_factory import export_location_model
from osgeo import gdal
from qgis.core import (
    QgsFeature,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsVectorFileWriter,
    QgsVectorLayer,
)
from qgis_process_env import QGIS_PROCESS, plugin_environment
from rasterio.transform import from_origin

pytestmark = pytest.mark.qgis
REPO = Path(__file__).resolve().parents[2]
LANDSAT = REPO / "data" / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"
PREFIX = "qgis_process command: "


class Commands(QgsProcessingFeedback):
    """Keeps the command lines an algorithm pushes."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def pushCommandInfo(self, info: str) -> None:  # noqa: N802 (QGIS API name)
        self.lines.append(info)


def logged(algorithm: str, parameters: dict, fails: str | None = None) -> str:
    """The command line ``algorithm`` logs when run with ``parameters`` (also when the run then fails)."""
    import processing

    feedback = Commands()
    if fails:
        with pytest.raises(QgsProcessingException, match=fails):
            processing.run(algorithm, parameters, feedback=feedback)
    else:
        processing.run(algorithm, parameters, feedback=feedback)
    assert len(feedback.lines) == 1 and feedback.lines[0].startswith(f"{PREFIX}qgis_process run {algorithm} ")
    return feedback.lines[0][len(PREFIX):]


@pytest.fixture(scope="module")
def location_models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {"encoder": export_location_model(folder / "encoder.onnx", "location_encoder"),
            "prior": export_location_model(folder / "prior.onnx", "location_prior")}


def class_raster(path: Path) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8", crs="EPSG:32633",
                       transform=from_origin(400_000, 5_000_000, 30, 30), nodata=255) as dst:
        dst.write(np.repeat([0, 0, 1, 1], 4).reshape(4, 4).astype(np.uint8), 1)
    dataset = gdal.Open(str(path), gdal.GA_Update)
    dataset.GetRasterBand(1).SetCategoryNames(["crop", "forest"])
    dataset = None
    return path


def reference_points(path: Path) -> Path:
    layer = QgsVectorLayer("Point?crs=EPSG:32633&field=ref:string", "reference", "memory")
    for row, label in ((0, "crop"), (3, "forest")):
        feature = QgsFeature(layer.fields())
        feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(400_015, 4_999_985 - 30 * row)))
        feature.setAttributes([label])
        layer.dataProvider().addFeature(feature)
    QgsVectorFileWriter.writeAsVectorFormat(layer, str(path), "utf-8", layer.crs(), "GPKG")
    return path


def test_every_algorithm_logs_its_qgis_process_command(provider, rgb_model, location_models, tmp_path):
    tiles = tmp_path / "tiles.gpkg"
    write_classified_tiles(tiles)
    classes, reference = class_raster(tmp_path / "classes.tif"), reference_points(tmp_path / "reference.gpkg")
    command = logged("csp:classify", {"INPUT": str(LANDSAT), "MODEL": str(rgb_model), "RESOLUTION": 300.0,
                                      "OUTPUT_VECTOR": str(tmp_path / "c.gpkg")})
    assert f"--INPUT={LANDSAT}" in command and "--RESOLUTION=300" in command
    assert f"--OUTPUT_VECTOR={tmp_path / 'c.gpkg'}" in command
    command = logged("csp:train_classifier", {"INPUT": str(LANDSAT), "ENCODER": str(rgb_model),
                                              "LABELS": str(reference), "CLASS_FIELD": "ref",
                                              "OUTPUT": str(tmp_path / "m.onnx")},
                     fails="training needs an image_encoder")  # logged before the run checks its inputs
    assert f"--ENCODER={rgb_model}" in command and "--CLASS_FIELD=ref" in command
    command = logged("csp:accuracy_assessment", {"CLASSIFICATION": str(classes), "REFERENCE": str(reference),
                                                 "REFERENCE_FIELD": "ref", "OUTPUT_CSV": str(tmp_path / "a.csv")})
    assert f"--REFERENCE={reference}" in command and (tmp_path / "a.csv").is_file()
    command = logged("csp:class_area_report", {"INPUT": str(classes), "OUTPUT_CSV": str(tmp_path / "areas.csv")})
    assert f"--INPUT={classes}" in command
    command = logged("csp:location_embedding_heatmap", {"MODEL": str(location_models["encoder"]), "WIDTH": 16,
                                                        "OUTPUT": str(tmp_path / "e.tif")})
    assert "--WIDTH=16" in command
    command = logged("csp:class_prior_heatmap", {"MODEL": str(location_models["prior"]), "CLASS": "entropy",
                                                 "WIDTH": 16, "OUTPUT": str(tmp_path / "p.tif")})
    assert "--CLASS=entropy" in command
    command = logged("csp:prediction_heatmap", {"INPUT": str(tiles), "CLASS": "Forest",
                                                "OUTPUT": str(tmp_path / "f.tif")})
    assert f"--INPUT={tiles}" in command and "--CLASS=Forest" in command


@pytest.mark.skipif(not Path(QGIS_PROCESS).exists(), reason="qgis_process is not installed")
def test_the_logged_command_repeats_the_run(provider, location_models, tmp_path):
    first = tmp_path / "first.tif"
    command = logged("csp:class_prior_heatmap", {"MODEL": str(location_models["prior"]), "CLASS": "Forest",
                                                 "WIDTH": 24, "OUTPUT": str(first)})
    expected = gdal.Open(str(first)).ReadAsArray()
    first.unlink()
    program, *arguments = shlex.split(command)
    assert program == "qgis_process"
    done = subprocess.run([QGIS_PROCESS, *arguments], env=plugin_environment(tmp_path / "qgis"), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{PREFIX}{command}" in done.stdout  # the command line logs itself again
    np.testing.assert_array_equal(gdal.Open(str(first)).ReadAsArray(), expected)
