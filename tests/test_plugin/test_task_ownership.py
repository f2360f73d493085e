"""The plugin owns what it starts: a toolbar run adds its layers even when Python collects garbage meanwhile.

QGIS keeps only C++ pointers to a dialog parented to its main window and to a task handed to the task
manager; without a Python reference the task's Python half (its finished() override, which adds the
layers) is collected while it runs, and the user sees nothing.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest
from model_factory import export_image_classifier
from qgis.core import QgsApplication, QgsProject, QgsRasterLayer, QgsSettings
from qgis.PyQt import sip
from qgis.PyQt.QtWidgets import QApplication, QDialogButtonBox, QMainWindow

import qgis_csp_plugin
from qgis_csp_plugin.ui.classify_dialog import SETTINGS, ClassifyDialog
from qgis_csp_plugin.ui.heatmap_dialog import HeatmapDialog

pytestmark = pytest.mark.qgis
LANDSAT = Path(__file__).resolve().parents[2] / "data" / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"


@pytest.fixture()
def model(tmp_path):
    QgsSettings().remove(SETTINGS.rstrip("/"))
    yield export_image_classifier(tmp_path / "landsat_rgb.onnx", tile_size=32, gsd_m=60.0,
                                  bands=("red", "green", "blue"))
    QgsSettings().remove(SETTINGS.rstrip("/"))


@pytest.fixture()
def desktop_iface(qgis_iface, monkeypatch):
    """``qgis_iface`` whose main window, like QGIS's, is owned by C++: every ``mainWindow()`` call returns a
    new, temporary Python wrapper, so nothing parented to it is kept alive by Python."""
    window = QMainWindow()
    sip.transferto(window, None)
    address = sip.unwrapinstance(window)
    del window
    monkeypatch.setattr(qgis_iface, "mainWindow", lambda: sip.wrapinstance(address, QMainWindow))
    yield qgis_iface
    sip.delete(sip.wrapinstance(address, QMainWindow))  # and the dialogs parented to it


def press_ok_and_forget(folder: Path) -> None:
    """Fill the dialog the toolbar opened and press OK, keeping no Python reference to anything."""
    dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, ClassifyDialog) and w.isVisible())
    dialog.output_dir.setFilePath(str(folder))
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()


def wait_collecting_garbage(app, done, timeout: float = 60.0) -> None:
    """Process events, collecting garbage all the time (as a busy QGIS session may), until ``done()`` or
    no task has been left for 2 s (nothing can add a layer any more)."""
    deadline, idle_since = time.monotonic() + timeout, None
    while not done() and time.monotonic() < deadline:
        gc.collect()
        app.processEvents()
        time.sleep(0.05)
        idle = QgsApplication.taskManager().count() == 0
        idle_since = (idle_since or time.monotonic()) if idle else None
        if idle_since is not None and time.monotonic() - idle_since > 2:
            break


def test_toolbar_classify_adds_its_layers_while_garbage_is_collected(qgis_app, desktop_iface, model, tmp_path):
    QgsSettings().setValue(SETTINGS + "model", str(model))
    layer = QgsRasterLayer(str(LANDSAT), "landsat")
    QgsProject.instance().addMapLayer(layer)
    desktop_iface.setActiveLayer(layer)
    plugin = qgis_csp_plugin.classFactory(desktop_iface)
    plugin.initGui()
    try:
        next(a for a in plugin.actions if a.objectName() == "csp_classify_layer").trigger()
        out = tmp_path / "out"
        press_ok_and_forget(out)
        wait_collecting_garbage(qgis_app, lambda: QgsProject.instance().count() == 4)
        names = sorted(layer.name() for layer in QgsProject.instance().mapLayers().values())
        assert len(names) == 4, f"the run wrote {sorted(p.name for p in out.glob('*'))} but added {names}"
        assert plugin.running.tasks == [] and plugin.running.dialogs == []  # released once done: no leak
    finally:
        plugin.unload()
        QgsProject.instance().clear()


def test_a_closed_heatmap_dialog_lives_until_its_run_is_done(qgis_app, desktop_iface, tmp_path):
    """Close the dialog right after Run: the run still adds its layer, then dialog and task are released."""
    plugin = qgis_csp_plugin.classFactory(desktop_iface)
    plugin.initGui()
    try:
        next(a for a in plugin.actions if a.objectName() == "csp_embedding_heatmap").trigger()
        dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, HeatmapDialog) and w.isVisible())
        dialog.cell_size.setValue(2.0)  # 180 x 90 cells of the world
        dialog.output.setFilePath(str(tmp_path / "embedding.tif"))
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
        dialog.close()
        assert plugin.running.dialogs == [dialog] and len(plugin.running.tasks) == 1
        del dialog
        wait_collecting_garbage(qgis_app, lambda: QgsProject.instance().count() == 1)
        assert [layer.name() for layer in QgsProject.instance().mapLayers().values()] == [
            "CSP location encoder (EuroSAT + SSL4EO) embedding (PCA RGB)"]
        assert plugin.running.tasks == [] and plugin.running.dialogs == []
    finally:
        plugin.unload()
        QgsProject.instance().clear()
