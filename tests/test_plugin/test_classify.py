"""Classify layer in a real headless QGIS: real GeoTIFFs, real exported ONNX models, real outputs."""

import shutil
import subprocess
import time

import numpy as np
import pytest
from model_factory import CLASSES, export_image_classifier, export_location_model
from osgeo import gdal
from qgis.core import (
    QgsApplication,
    QgsCategorizedSymbolRenderer,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsGeometry,
    QgsPalettedRasterRenderer,
    QgsProject,
    QgsRasterLayer,
)

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.core.tile_table import probability_field
from qgis_csp_plugin.jobs.classify import ClassifyRequest, load_outputs, prepare
from qgis_csp_plugin.ui.classify_task import ClassifyTask

pytestmark = pytest.mark.qgis
S2 = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A"]


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("classify_models")
    return {
        "landsat": export_image_classifier(folder / "landsat_rgb.onnx", tile_size=32, gsd_m=30.0,
                                           mean=[7000.0] * 3, std=[600.0] * 3),  # Landsat L1 DNs
        "coarse": export_image_classifier(folder / "coarse_rgb.onnx", tile_size=16, gsd_m=300.0,
                                          radiometry="layer_statistics"),
        "s2": export_image_classifier(folder / "s2.onnx", bands=S2, tile_size=32, gsd_m=10.0,
                                      mean=[1200.0] * 13, std=[600.0] * 13),
        "prior": export_location_model(folder / "prior.onnx"),
    }


@pytest.fixture()
def scenes(data_dir):
    return data_dir / "scenes"


def outputs(folder):
    return {"vector": folder / "tiles.gpkg", "classes": folder / "classes.tif", "probability": folder / "prob.tif"}


def classify(layer, model, folder, **options):
    job = prepare(ClassifyRequest(layer, model, outputs(folder), **options))
    results, written = job.execute()
    return job, results, load_outputs(job, written)


def check_vector(vector, layer, n_tiles):
    assert vector.featureCount() == n_tiles
    assert vector.crs() == layer.crs()
    p_fields = [probability_field(c) for c in CLASSES]
    for feature in vector.getFeatures():
        if feature["class_id"] == -1:
            assert feature["class"] == "nodata" and feature["valid_frac"] == 0
            continue
        probs = np.array([feature[f] for f in p_fields])
        assert probs.sum() == pytest.approx(1.0, abs=1e-4)
        assert feature["class"] == CLASSES[feature["class_id"]] == CLASSES[int(probs.argmax())]
        assert feature["prob"] == pytest.approx(probs.max()) and feature["prob"] >= feature["top2_prob"]
        assert 0 <= feature["entropy"] <= np.log(len(CLASSES)) + 1e-6
    renderer = vector.renderer()
    assert isinstance(renderer, QgsCategorizedSymbolRenderer) and renderer.classAttribute() == "class"
    assert [c.label() for c in renderer.categories()] == CLASSES


def test_classify_landsat_utm(qgis_app, models, scenes, tmp_path):
    layer = QgsRasterLayer(str(scenes / "LC08_L1TP_224078_20200518_RGB.tif"), "landsat")
    job, results, (vector, classes, probability) = classify(layer, models["landsat"], tmp_path)
    assert job.grid.n_tiles == 1024 and job.warnings == []
    check_vector(vector, layer, 1024)
    assert (classes.width(), classes.height()) == (32, 32) and classes.crs() == layer.crs()
    assert isinstance(classes.renderer(), QgsPalettedRasterRenderer)
    assert [c.label for c in classes.renderer().classes()] == CLASSES
    assert classes.extent() == layer.extent()
    ids = gdal.Open(str(tmp_path / "classes.tif")).ReadAsArray().ravel()
    np.testing.assert_array_equal(ids, results.class_ids)
    prob = gdal.Open(str(tmp_path / "prob.tif")).ReadAsArray().ravel()
    np.testing.assert_allclose(prob, np.nanmax(results.probabilities, axis=1), atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classes.tif", "prob.tif", "tiles.gpkg"]


def test_classify_nodata_scene_with_layer_statistics(qgis_app, models, scenes, tmp_path):
    layer = QgsRasterLayer(str(scenes / "RGB.byte.tif"), "rgb byte")  # uint8, nodata 0, 300 m
    job, results, (vector, classes, _) = classify(layer, models["coarse"], tmp_path, overlap=0.25)
    assert job.grid.stride == 12 and job.classifier.transform is not None
    check_vector(vector, layer, job.grid.n_tiles)
    skipped = [f for f in vector.getFeatures() if f["class_id"] == -1]
    assert 0 < len(skipped) == int(results.skipped.sum()) < job.grid.n_tiles


def test_sentinel2_bands_by_position_and_resolution_warning(qgis_app, models, data_dir, tmp_path):
    layer = QgsRasterLayer(str(next((data_dir / "eurosat_ms" / "Forest").glob("*.tif"))), "eurosat")
    job, results, (vector, *_rest) = classify(layer, models["s2"], tmp_path, resolution_m=5.0)
    assert job.reader.bands == list(range(1, 14)) and job.grid.n_tiles == 16  # 64 px at 10 m → 128 px at 5 m
    assert vector.featureCount() == 16 and not results.skipped.any()
    landsat = QgsRasterLayer(str(data_dir / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"), "landsat")
    with pytest.raises(GeoSslError, match="needs 13 bands"):
        prepare(ClassifyRequest(landsat, models["s2"], outputs(tmp_path / "none")))
    coarse = prepare(ClassifyRequest(landsat, models["landsat"], {}, resolution_m=120.0))
    assert "downsampled by 4.0x" in coarse.warnings[0]


def test_geographic_layer_with_other_project_crs_and_location_prior(qgis_app, models, scenes, tmp_path):
    warped = tmp_path / "lc08_4326.tif"
    gdal.Warp(str(warped), str(scenes / "LC08_L1TP_224078_20200518_RGB.tif"), dstSRS="EPSG:4326")
    layer = QgsRasterLayer(str(warped), "landsat 4326")
    QgsProject.instance().setCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
    try:
        job, results, (vector, *_rest) = classify(layer, models["landsat"], tmp_path / "out", use_prior=True,
                                                  prior_path=models["prior"])
    finally:
        QgsProject.instance().clear()
    assert vector.crs().authid() == "EPSG:4326"
    check_vector(vector, layer, job.grid.n_tiles)
    # ~30 km scene at 30 m → about 32 tiles of 32 px each way, whatever the CRS
    assert 30 <= job.grid.n_cols <= 36 and 30 <= job.grid.n_rows <= 36
    latlon = job.classifier.to_latlon(*job.grid.centres(np.array([0])))
    assert latlon[0] == pytest.approx([layer.extent().yMaximum(), layer.extent().xMinimum()], abs=0.01)


def test_polygon_extent_keeps_only_intersecting_tiles(qgis_app, models, scenes, tmp_path):
    layer = QgsRasterLayer(str(scenes / "LC08_L1TP_224078_20200518_RGB.tif"), "landsat")
    e = layer.extent()
    triangle = QgsGeometry.fromWkt(f"POLYGON(({e.xMinimum()} {e.yMinimum()}, {e.xMaximum()} {e.yMinimum()}, "
                                   f"{e.xMinimum()} {e.yMaximum()}, {e.xMinimum()} {e.yMinimum()}))")
    job, results, (vector, *_rest) = classify(layer, models["landsat"], tmp_path, polygons=triangle)
    assert 1024 // 2 < vector.featureCount() == int(job.keep.sum()) < 1024


def run_task(qgis_app, job, cancel_on_progress=False):
    done = []
    task = ClassifyTask(job, on_done=done.append)
    if cancel_on_progress:
        task.progressChanged.connect(lambda _value: task.cancel())
    QgsApplication.taskManager().addTask(task)
    deadline = time.monotonic() + 60
    while not done and time.monotonic() < deadline:
        qgis_app.processEvents()
    assert done, "the task did not finish within 60 s"
    return task


def test_task_adds_styled_layers_to_the_project(qgis_app, models, scenes, tmp_path):
    layer = QgsRasterLayer(str(scenes / "LC08_L1TP_224078_20200518_RGB.tif"), "landsat")
    task = run_task(qgis_app, prepare(ClassifyRequest(layer, models["landsat"], outputs(tmp_path))))
    try:
        assert task.error is None and len(task.layers) == 3
        assert all(QgsProject.instance().mapLayer(added.id()) is added for added in task.layers)
    finally:
        QgsProject.instance().clear()


def test_cancel_leaves_no_file_and_no_layer(qgis_app, models, scenes, tmp_path):
    layer = QgsRasterLayer(str(scenes / "LC08_L1TP_224078_20200518_RGB.tif"), "landsat")
    job = prepare(ClassifyRequest(layer, models["landsat"], outputs(tmp_path), resolution_m=3.0))
    assert job.grid.n_tiles == 102_400
    task = run_task(qgis_app, job, cancel_on_progress=True)
    assert task.isCanceled() and task.layers == [] and task.error is None
    assert list(tmp_path.iterdir()) == [] and QgsProject.instance().count() == 0


def test_render_classified_scene_to_png(qgis_app, models, scenes, tmp_path):
    from qgis.PyQt.QtGui import QImage

    from scripts.render import render_layers_png

    layer = QgsRasterLayer(str(scenes / "LC08_L1TP_224078_20200518_RGB.tif"), "landsat")
    _, results, (vector, *_rest) = classify(layer, models["landsat"], tmp_path / "out")
    png = render_layers_png([vector, layer], layer.extent(), tmp_path / "map.png", (256, 256))
    image = QImage(str(png))
    assert (image.width(), image.height()) == (256, 256)
    colors = {image.pixel(x, y) for x in range(0, 256, 8) for y in range(0, 256, 8)}
    assert len(colors) >= len(set(results.class_ids.tolist()))  # one fill colour per predicted class at least


@pytest.mark.skipif(shutil.which("gdal2tiles.py") is None, reason="gdal2tiles.py is not installed")
def test_xyz_tile_layer_in_web_mercator(qgis_app, models, scenes, tmp_path):
    """An XYZ layer (ARGB image provider, EPSG:3857) of real tiles cut from the 300 m scene."""
    subprocess.run(["gdal2tiles.py", "-q", "--xyz", "-z", "7-9", "-w", "none", str(scenes / "RGB.byte.tif"),
                    str(tmp_path / "xyz")], check=True, timeout=120)
    layer = QgsRasterLayer(f"type=xyz&url=file://{tmp_path}/xyz/{{z}}/{{x}}/{{y}}.png&zmin=7&zmax=9", "xyz", "wms")
    scene = QgsRasterLayer(str(scenes / "RGB.byte.tif"), "scene")
    to_mercator = QgsCoordinateTransform(scene.crs(), layer.crs(), QgsProject.instance())
    extent = to_mercator.transformBoundingBox(scene.extent())
    job, results, (vector, *_rest) = classify(layer, models["coarse"], tmp_path / "out", extent=extent)
    assert layer.crs().authid() == "EPSG:3857" and job.reader.color and job.classifier.transform is not None
    check_vector(vector, layer, job.grid.n_tiles)
    assert 0 < results.skipped.sum() < job.grid.n_tiles  # transparent tiles outside the scene are skipped


def test_output_layer_names_say_what_from_which_layer_and_model():
    from qgis_csp_plugin.jobs.classify import output_layer_name

    assert output_layer_name("LC08", "EuroSAT RGB classifier", "classes") == "LC08 — EuroSAT RGB classes"
    assert output_layer_name("scene", "my_classes (10 classes)", "vector") == "scene — my_classes tiles"
    assert output_layer_name("scene", "classifier", "probability") == "scene — classifier probability"
    assert output_layer_name("LC08", "EuroSAT RGB classifier (Galileo nano + logistic head)",
                             "classes") == "LC08 — EuroSAT RGB classes"
