"""Heatmap dialogs in a real headless QGIS: defaults, class lists, a task run to a styled layer, cancel."""

import time

import numpy as np
import pytest
from heatmap_models import write_classified_tiles
from model_factory import CLASSES, export_location_model
from osgeo import gdal
from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsMultiBandColorRenderer,
    QgsPalettedRasterRenderer,
    QgsProject,
    QgsRectangle,
    QgsSingleBandPseudoColorRenderer,
    QgsVectorLayer,
)
from qgis.PyQt.QtWidgets import QApplication

import qgis_csp_plugin
from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.ui.heatmap_dialog import HeatmapDialog

pytestmark = pytest.mark.qgis


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {"encoder": export_location_model(folder / "encoder.onnx", "location_encoder"),
            "prior": export_location_model(folder / "prior_world.onnx", "location_prior")}


def wait(dialog: HeatmapDialog, app, timeout: float = 60.0):
    """Process events until the dialog's task has finished (its finished() ran); returns the layer."""
    start = time.monotonic()
    while dialog.task is not None:
        app.processEvents()
        assert time.monotonic() - start < timeout, "heatmap task did not finish"
        time.sleep(0.01)
    return dialog.last_layer


def test_unknown_kind_is_a_user_error(qgis_iface):
    with pytest.raises(GeoSslError):
        HeatmapDialog(qgis_iface, "nonsense")


def test_class_prior_dialog_lists_classes_and_runs_to_a_styled_layer(qgis_app, qgis_iface, models, tmp_path):
    dialog = HeatmapDialog(qgis_iface, "class_prior", None)
    dialog.model.setFilePath(str(models["prior"]))
    items = [dialog.classes.itemText(i) for i in range(dialog.classes.count())]
    assert items == ["most likely class", "entropy", *CLASSES]
    tooltip = dialog.model.toolTip()  # the same text as `python -m trainer inspect`
    assert "(location_prior, schema v3)" in tooltip and "input latlon: float32" in tooltip
    dialog.crs.setCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
    assert dialog.extent.outputExtent().xMaximum() == pytest.approx(20_037_508.34, rel=1e-6)  # world by default
    dialog.cell_size.setValue(1_000_000.0)
    assert dialog.size_label.text() == "41 x 41 cells"
    dialog.classes.setCurrentText("Pasture")
    dialog.output.setFilePath(str(tmp_path / "pasture.tif"))
    assert dialog.start() is not None
    layer = wait(dialog, qgis_app)
    try:
        assert layer is not None and "Pasture" in layer.name()
        assert isinstance(layer.renderer(), QgsSingleBandPseudoColorRenderer)
        assert layer.crs().authid() == "EPSG:3857" and layer.width() == 41
        array = gdal.Open(str(tmp_path / "pasture.tif")).ReadAsArray()
        valid = array != -1  # the 41st column/row runs past the edge of the Mercator world: nodata
        assert valid[:-1, :-1].all() and not valid[:, -1].any()
        assert array[valid].min() >= 0 and array[valid].max() <= 1
        assert dialog.buttons.button(dialog.buttons.Ok).isEnabled()
    finally:
        QgsProject.instance().removeMapLayer(layer.id())


def test_embedding_dialog_on_a_drawn_extent_then_cancel_leaves_nothing(qgis_app, qgis_iface, models, tmp_path):
    dialog = HeatmapDialog(qgis_iface, "location_embedding")
    dialog.model.setFilePath(str(models["encoder"]))
    dialog.crs.setCrs(QgsCoordinateReferenceSystem("EPSG:4326"))
    dialog.extent.setOutputExtentFromUser(QgsRectangle(-10, 35, 30, 60), QgsCoordinateReferenceSystem("EPSG:4326"))
    dialog.cell_size.setValue(0.5)
    dialog.output.setFilePath(str(tmp_path / "europe.tif"))
    dialog.start()
    layer = wait(dialog, qgis_app)
    try:
        assert isinstance(layer.renderer(), QgsMultiBandColorRenderer)
        dataset = gdal.Open(str(tmp_path / "europe.tif"))
        assert dataset.GetGeoTransform() == (-10.0, 0.5, 0.0, 60.0, 0.0, -0.5)
        assert (dataset.RasterXSize, dataset.RasterYSize, dataset.RasterCount) == (80, 50, 3)
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    dialog.extent.setOutputExtentFromOriginal()
    dialog.cell_size.setValue(0.05)  # 7200 x 3600 cells: far too long to finish before the cancel
    dialog.output.setFilePath(str(tmp_path / "world.tif"))
    layers_before = len(QgsProject.instance().mapLayers())
    dialog.start()
    deadline = time.monotonic() + 10
    while dialog.progress.value() == 0 and time.monotonic() < deadline:  # wait until rows are written
        qgis_app.processEvents()
        time.sleep(0.01)
    progress = dialog.progress.value()
    dialog.cancel()
    assert 0 < progress < 100
    assert wait(dialog, qgis_app) is None and len(QgsProject.instance().mapLayers()) == layers_before
    assert not [p.name for p in tmp_path.iterdir() if "world" in p.name]  # no partial file left
    assert np.isclose(dialog.progress.value(), 0)


def test_prediction_dialog_reads_classes_from_the_classified_layer(qgis_app, qgis_iface, models, tmp_path):
    results = write_classified_tiles(tmp_path / "tiles.gpkg")
    tiles = QgsVectorLayer(f"{tmp_path / 'tiles.gpkg'}|layername=tiles", "classified", "ogr")
    QgsProject.instance().addMapLayer(tiles)
    try:
        dialog = HeatmapDialog(qgis_iface, "prediction")
        dialog.layer.setLayer(tiles)
        items = [dialog.classes.itemText(i) for i in range(dialog.classes.count())]
        assert items == ["max probability", "entropy", "most likely class", *CLASSES]
        dialog.classes.setCurrentText("most likely class")
        dialog.fuse.setChecked(True)
        dialog.model.setFilePath(str(models["prior"]))
        dialog.output.setFilePath(str(tmp_path / "classes.tif"))
        assert dialog.prior_exponent.text() == "stored in the prior" and dialog.request().prior_exponent is None
        dialog.prior_exponent.setValue(0.5)
        assert dialog.request().prior_exponent == 0.5
        dialog.start()
        layer = wait(dialog, qgis_app)
        assert isinstance(layer.renderer(), QgsPalettedRasterRenderer) and "fused" in layer.name()
        ids = gdal.Open(str(tmp_path / "classes.tif")).ReadAsArray()
        assert (ids.ravel()[results.skipped] == 255).all() and (ids.ravel()[~results.skipped] < len(CLASSES)).all()
        QgsProject.instance().removeMapLayer(layer.id())
    finally:
        QgsProject.instance().removeMapLayer(tiles.id())


def test_toolbar_actions_open_the_three_dialogs(qgis_iface):
    plugin = qgis_csp_plugin.classFactory(qgis_iface)
    plugin.initGui()
    shown = []
    try:
        for action in plugin.actions:
            if action.objectName().endswith("_heatmap"):  # the others open Classify or modal Processing dialogs
                action.trigger()
        shown = [w for w in QApplication.topLevelWidgets() if isinstance(w, HeatmapDialog) and w.isVisible()]
        assert sorted(d.kind for d in shown) == ["class_prior", "location_embedding", "prediction"]
    finally:
        for dialog in shown:
            dialog.close()
        plugin.unload()


def test_world_heatmaps_default_to_epsg4326_whatever_the_project_crs(qgis_app, qgis_iface, models, tmp_path):
    """The project's CRS may be a conic or local one: world heatmaps start in EPSG:4326 (as documented);
    an error shows in the dialog's own bar (the main window's bar is hidden behind a modeless dialog)."""
    QgsProject.instance().setCrs(QgsCoordinateReferenceSystem("EPSG:3035"))
    try:
        dialog = HeatmapDialog(qgis_iface, "class_prior")
        assert dialog.crs.crs().authid() == "EPSG:4326"
        assert dialog.extent.outputExtent().toString(0) == "-180,-90 : 180,90"
        dialog.show()
        dialog.model.setFilePath(str(tmp_path / "missing.onnx"))
        dialog.output.setFilePath(str(tmp_path / "prior.tif"))
        assert dialog.start() is None  # refused at once
        dialog.model.setFilePath(str(models["encoder"]))  # not a prior: the task fails
        dialog.cell_size.setValue(10.0)
        assert dialog.start() is not None and wait(dialog, qgis_app) is None
        texts = sorted(item.text() for item in dialog.bar.items())
        assert len(texts) == 2 and "location_prior" in texts[0] and "missing.onnx" in texts[1]
        assert dialog.width() >= 560  # extent, CRS and file fields are not squeezed
        dialog.close()
    finally:
        QgsProject.instance().clear()


def test_prediction_heatmap_names_its_tiles_and_counts_cells_with_data(qgis_app, qgis_iface, tmp_path):
    write_classified_tiles(tmp_path / "tiles.gpkg")
    tiles = QgsVectorLayer(f"{tmp_path / 'tiles.gpkg'}|layername=tiles", "scene — model tiles", "ogr")
    QgsProject.instance().addMapLayer(tiles)
    messages = []
    QgsApplication.messageLog().messageReceived.connect(lambda text, tag, level: messages.append(text))
    try:
        dialog = HeatmapDialog(qgis_iface, "prediction")
        dialog.layer.setLayer(tiles)
        dialog.output.setFilePath(str(tmp_path / "max.tif"))
        dialog.start()
        layer = wait(dialog, qgis_app)
        assert layer.name() == "max probability of scene — model tiles"
        assert [m for m in messages if "cells with a classified tile" in m and "on Earth" not in m]
    finally:
        QgsProject.instance().clear()
