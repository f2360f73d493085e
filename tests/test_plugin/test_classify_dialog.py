"""The Classify layer dialog: defaults from the model, a background task that adds layers, clear errors."""

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from model_factory import export_image_classifier
from osgeo import osr
from qgis.core import Qgis, QgsApplication, QgsProject, QgsRasterLayer, QgsSettings

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.ui.classify_dialog import SETTINGS, ClassifyDialog

pytestmark = pytest.mark.qgis
LANDSAT = Path(__file__).resolve().parents[2] / "data" / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"


@pytest.fixture(autouse=True)
def forget_dialog_settings():
    """Each test starts without the choices a previous run remembered."""
    QgsSettings().remove(SETTINGS.rstrip("/"))
    yield
    QgsSettings().remove(SETTINGS.rstrip("/"))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return export_image_classifier(tmp_path_factory.mktemp("m") / "landsat_rgb.onnx", tile_size=32, gsd_m=60.0,
                                   bands=("red", "green", "blue"))


def open_dialog(qgis_iface, model):
    layer = QgsRasterLayer(str(LANDSAT), "landsat")
    QgsProject.instance().addMapLayer(layer)
    dialog = ClassifyDialog(qgis_iface, None)
    dialog.layer_box.setLayer(layer)
    dialog.model_file.setFilePath(str(model))
    return dialog


def test_dialog_defaults_and_background_run(qgis_app, qgis_iface, model, tmp_path):
    dialog = open_dialog(qgis_iface, model)
    try:
        assert dialog.model_box.currentText() == "landsat_rgb"
        tooltip = dialog.model_box.itemData(dialog.model_box.currentIndex(), 3)  # == `trainer inspect` text
        assert "tile 32 px at 60 m/px" in tooltip and "input image: float32" in tooltip
        # the layer's own 30 m: within 2x of the model's 60 m, so not resampled
        assert (dialog.resolution.value(), dialog.tile_size.value(), dialog.bands.bands()) == (30.0, 32, [1, 2, 3])
        assert [box.layer().name() for box in dialog.bands.boxes] == ["landsat"] * 3
        assert dialog.bands.names == ["red", "green", "blue"]
        dialog.output_dir.setFilePath(str(tmp_path))
        dialog.batch_size.setValue(8)
        dialog.start()
        task = dialog.task
        assert task is not None and not dialog.isVisible()
        deadline = time.monotonic() + 60
        while (task.status() != task.Complete or not task.layers) and time.monotonic() < deadline:
            qgis_app.processEvents()
        assert task.error is None and len(task.layers) == 3
        names = sorted(layer.name() for layer in QgsProject.instance().mapLayers().values())
        assert names == ["landsat", "landsat — landsat_rgb classes", "landsat — landsat_rgb probability",
                         "landsat — landsat_rgb tiles"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["landsat_classes.tif", "landsat_probability.tif",
                                                              "landsat_tiles.gpkg"]
        again = ClassifyDialog(qgis_iface, None)  # the next dialog remembers this run's choices
        assert (again.model_box.currentText(), again.output_dir.filePath(), again.batch_size.value()) == (
            "landsat_rgb", str(tmp_path), 8)
    finally:
        QgsProject.instance().clear()


def test_dialog_prior_exponent_and_force_reach_the_request(qgis_app, qgis_iface, model):
    """α reads "stored in the prior" (None) by default; a value set and the force box are passed on."""
    dialog = open_dialog(qgis_iface, model)
    try:
        assert dialog.prior_exponent.text() == "stored in the prior"
        request = dialog.request()
        assert request.prior_exponent is None and request.force_prior is False
        dialog.prior_exponent.setValue(0.3)
        dialog.force_prior.setChecked(True)
        request = dialog.request()
        assert request.prior_exponent == pytest.approx(0.3) and request.force_prior is True
    finally:
        QgsProject.instance().clear()


def test_dialog_reports_bad_band_mapping_without_running(qgis_app, qgis_iface, model, tmp_path):
    messages = []
    QgsApplication.messageLog().messageReceived.connect(lambda text, tag, level: messages.append((tag, text)))
    dialog = open_dialog(qgis_iface, model)
    dialog.show()
    try:
        dialog.bands.boxes[2].setBand(-1)  # "not set"
        dialog.output_dir.setFilePath(str(tmp_path))
        dialog.start()
        assert dialog.task is None
        assert ("CSP", "choose a layer band for every model band: blue not set") in messages
        assert list(tmp_path.iterdir()) == [] and QgsProject.instance().count() == 1
        # shown in the dialog that caused it, not in the main window's bar behind it
        texts = [item.text() for item in dialog.bar.items()]
        assert texts == ["choose a layer band for every model band: blue not set"]
        assert qgis_iface.messageBar().items() == []
    finally:
        dialog.close()
        QgsProject.instance().clear()


def test_canvas_and_polygon_extents_are_taken_in_the_layer_crs(qgis_app, qgis_iface, qgis_canvas, model):
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsFeature,
        QgsGeometry,
        QgsRectangle,
        QgsVectorLayer,
    )

    dialog = open_dialog(qgis_iface, model)
    try:
        layer = dialog.layer_box.currentLayer()
        e = layer.extent()
        qgis_canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:4326"))
        qgis_canvas.setExtent(QgsRectangle(-54.6, -25.4, -54.5, -25.3))
        dialog.extent_box.setCurrentIndex(1)
        extent, polygons = dialog._extent(layer)
        centre = qgis_canvas.extent().center()
        utm = osr.CoordinateTransformation(_srs(4326), _srs(32621)).TransformPoint(centre.y(), centre.x())
        assert polygons is None and extent.intersects(e)
        assert (extent.center().x(), extent.center().y()) == pytest.approx(utm[:2], abs=50)
        polygon_layer = QgsVectorLayer("Polygon?crs=EPSG:4326", "area", "memory")
        feature = QgsFeature()
        feature.setGeometry(QgsGeometry.fromRect(QgsRectangle(-54.6, -25.4, -54.5, -25.3)))
        polygon_layer.dataProvider().addFeatures([feature])
        QgsProject.instance().addMapLayer(polygon_layer)
        dialog.polygon_box.setLayer(polygon_layer)
        dialog.extent_box.setCurrentIndex(3)
        with pytest.raises(GeoSslError, match="has no selected polygons"):
            dialog._extent(layer)
        dialog.extent_box.setCurrentIndex(2)
        _, polygons = dialog._extent(layer)
        assert polygons.boundingBox().intersects(e) and layer.crs().authid() == "EPSG:32621"
    finally:
        QgsProject.instance().clear()


def test_missing_onnxruntime_explained_by_the_action(qgis_app, qgis_iface, monkeypatch):
    import qgis_csp_plugin

    messages = []
    QgsApplication.messageLog().messageReceived.connect(lambda text, tag, level: messages.append(text))
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what QGIS's Python without the package sees
    plugin = qgis_csp_plugin.classFactory(qgis_iface)
    plugin.initGui()  # loads without onnxruntime
    try:
        next(a for a in plugin.actions if a.text() == "Classify layer").trigger()
    finally:
        plugin.unload()
    assert [m for m in messages if "needs onnxruntime" in m and "pip install" in m]


def _srs(epsg: int):
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return srs


def test_preselects_the_active_raster_the_model_can_read(qgis_app, qgis_iface, model, tmp_path):
    """A one-band heatmap is active and the plugin's own 3-band embedding heatmap (which an RGB model could
    read by band count) comes first: the dialog picks the first layer the RGB model can read; an active
    readable layer wins over the layer order; with no readable layer, none is preselected."""
    from osgeo import gdal

    from qgis_csp_plugin.core.geotiff import GeoTiffWriter

    heatmap_path = tmp_path / "heatmap.tif"
    heatmap = gdal.GetDriverByName("GTiff").Create(str(heatmap_path), 8, 8, 1, gdal.GDT_Float32)
    heatmap.SetGeoTransform((0, 1, 0, 0, 0, -1))
    heatmap.SetProjection(_srs(4326).ExportToWkt())
    heatmap = None
    with GeoTiffWriter(tmp_path / "embedding.tif", 8, 8, 3, gdal.GDT_Byte, (0, 1, 0, 0, 0, -1),
                       _srs(4326).ExportToWkt(), 0, ["PC1", "PC2", "PC3"]) as out:
        out.write(0, np.ones((3, 8, 8), np.uint8))
    QgsSettings().setValue(SETTINGS + "model", str(model))  # the model of the last run
    layers = [QgsRasterLayer(str(heatmap_path), "heatmap"), QgsRasterLayer(str(tmp_path / "embedding.tif"), "pca"),
              QgsRasterLayer(str(LANDSAT), "landsat"), QgsRasterLayer(str(LANDSAT.with_name("RGB.byte.tif")), "byte")]
    QgsProject.instance().addMapLayers(layers)
    try:
        qgis_iface.setActiveLayer(layers[0])
        dialog = ClassifyDialog(qgis_iface, None)
        assert dialog.model_box.currentText() == "landsat_rgb"
        assert dialog.layer_box.currentLayer().name() == "landsat" and dialog.bands.bands() == [1, 2, 3]
        qgis_iface.setActiveLayer(layers[3])
        assert ClassifyDialog(qgis_iface, None).layer_box.currentLayer().name() == "byte"
        QgsProject.instance().removeMapLayers([layers[2].id(), layers[3].id()])
        qgis_iface.setActiveLayer(layers[1])
        assert ClassifyDialog(qgis_iface, None).layer_box.currentLayer() is None
    finally:
        QgsProject.instance().clear()


def test_default_resolution_resamples_only_far_from_the_model_and_warns_only_for_a_choice(qgis_app, qgis_iface,
                                                                                          tmp_path):
    """A 10 m model on the 30 m scene: the model's 10 m by default, said in the log and not as a warning;
    a resolution the user types that resamples far gets the warning."""
    ten = export_image_classifier(tmp_path / "ten_metre.onnx", tile_size=32, gsd_m=10.0, bands=("red", "green", "blue"))
    dialog = open_dialog(qgis_iface, ten)
    try:
        dialog.extent_box.setCurrentIndex(0)
        assert dialog.resolution.value() == 10.0 and dialog.request().resolution_m is None
        job = dialog.prepared_job()
        assert not [w for w in job.warnings if "sampled" in w or "trained at" in w]
        assert any("30 m pixels are upsampled 3.0x to the model's 10 m" in note for note in job.notes)
        dialog.resolution.setValue(5.0)
        assert dialog.request().resolution_m == 5.0
        assert any("upsampled by 6.0x" in w for w in dialog.prepared_job().warnings)
    finally:
        QgsProject.instance().clear()


def test_typed_model_path_is_checked_once_when_editing_finishes(qgis_app, qgis_iface, model, tmp_path):
    from qgis.PyQt.QtTest import QTest

    errors = []
    QgsApplication.messageLog().messageReceived.connect(
        lambda text, tag, level: errors.append(text) if tag == "CSP" and level == Qgis.MessageLevel.Critical else None)
    dialog = open_dialog(qgis_iface, model)
    try:
        line = dialog.model_file.lineEdit()
        line.clear()
        QTest.keyClicks(line, str(tmp_path / "no_such_model.onnx"))  # one fileChanged per keystroke
        assert errors == []
        line.editingFinished.emit()
        line.editingFinished.emit()  # focus lost again: the same path is not checked twice
        assert len(errors) == 1 and "no_such_model.onnx" in errors[0]
        line.clear()
        QTest.keyClicks(line, str(model))
        line.editingFinished.emit()
        assert len(errors) == 1 and dialog.model_box.currentText() == "landsat_rgb"
    finally:
        QgsProject.instance().clear()


def test_dialog_fits_the_screen_and_shrinks_back(qgis_app, qgis_iface, model, tmp_path, monkeypatch):
    """13 band pickers scroll inside a dialog no taller than the screen allows (1366 x 768 here); 3 bands
    give the room back (on a tall screen, where both fit)."""
    from qgis.PyQt.QtCore import QRect

    class Screen:
        def __init__(self, height: int) -> None:
            self.height = height

        def availableGeometry(self) -> QRect:  # noqa: N802 (Qt API name)
            return QRect(0, 0, 1366, self.height)

    s2 = export_image_classifier(tmp_path / "s2.onnx", bands=[f"B{i:02d}" for i in range(1, 14)])
    dialog = open_dialog(qgis_iface, model)
    try:
        for height in (2000, 768):
            monkeypatch.setattr(dialog, "screen", lambda height=height: Screen(height))
            dialog.model_box.setCurrentIndex(dialog.model_box.findData(str(model)))
            dialog.fit_to_screen()
            three = dialog.height()
            dialog.model_file.setFilePath(str(s2)) if dialog.model_box.findData(str(s2)) < 0 else (
                dialog.model_box.setCurrentIndex(dialog.model_box.findData(str(s2))))
            assert len(dialog.bands.boxes) == 13
            thirteen = dialog.height()
            dialog.model_box.setCurrentIndex(dialog.model_box.findData(str(model)))
            assert len(dialog.bands.boxes) == 3 and dialog.height() == three
            if height == 2000:
                assert three < thirteen  # grows for 13 pickers, shrinks back for 3
            else:
                assert thirteen <= 0.85 * 768  # what does not fit scrolls
        assert dialog.scroll.widgetResizable() and dialog.width() <= 1366
    finally:
        QgsProject.instance().clear()


def test_dialog_shows_model_band_to_layer_band_pairs(qgis_app, qgis_iface, model):
    """#27: the pairs are visible before the run and follow the pickers."""
    dialog = open_dialog(qgis_iface, model)
    try:
        pairs = dialog.bands.summary
        assert pairs.text() == ("bands by band name/wavelength: red ← band 1 (Red), green ← band 2 (Green), "
                                "blue ← band 3 (Blue)")
        dialog.bands.boxes[0].setBand(3)
        assert pairs.text().startswith("bands as given: red ← band 3 (Blue), green ← band 2 (Green)")
        dialog.bands.boxes[2].setBand(-1)
        assert "needs every band (red, green, blue): 0 (missing) is not allowed" in pairs.text()
        assert not dialog.acquired.isEnabled()  # this model takes no month
    finally:
        QgsProject.instance().clear()
