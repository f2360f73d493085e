"""README screenshots of the few-label workflow, taken from a real QGIS desktop window (run by QGIS).

    bash scripts/few_label_screenshots.sh runs/few_label docs/img

QGIS runs this file at start-up (``qgis --code``) with the plugin installed in a fresh profile: it
loads the experiment's scene and training points, opens *Train classifier from labelled points/
polygons* pre-filled (screenshot 1), trains and classifies densely (16 px stride) and shows the class
map over the scene (screenshot 2), assesses it against the held-out points and opens the accuracy
table (screenshot 3), then quits. Needs ``scripts/few_label_experiment.py`` to have written
``scene.tif`` and ``labels.gpkg`` in the run folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import processing
from qgis.core import (
    QgsApplication,
    QgsProject,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QDockWidget
from qgis.utils import iface

from qgis_csp_plugin.contract.onnx_model import read_metadata
from qgis_csp_plugin.qgis_io.layers import load_class_raster
from qgis_csp_plugin.qgis_io.styling import apply_rgb_stretch, class_colors

RUN = Path(os.environ["FEW_LABEL_RUN"])
SHOTS = Path(os.environ["SHOT_DIR"])
WORK = Path(os.environ["SHOT_WORK"])
TRAIN_SUBSET = "fid % 6 = 0"  # about 5 points per class
ENCODER = Path(os.environ["FEW_LABEL_ENCODER"])
state: dict[str, object] = {}


def layers() -> None:
    window = iface.mainWindow()
    window.move(0, 0)
    window.resize(1600, 1000)
    for dock in window.findChildren(QDockWidget):
        if dock.objectName() not in ("Layers",):
            dock.hide()
    scene = iface.addRasterLayer(str(RUN / "scene.tif"), "EuroSAT patches unseen by the encoder")
    apply_rgb_stretch(scene, (4, 3, 2), 700, 2200)
    training = QgsVectorLayer(f"{RUN / 'labels.gpkg'}|layername=centres", "training points", "ogr")
    training.setSubsetString(TRAIN_SUBSET)
    held_out = QgsVectorLayer(f"{RUN / 'labels.gpkg'}|layername=centres", "held-out points", "ogr")
    held_out.setSubsetString(f"NOT ({TRAIN_SUBSET})")
    QgsProject.instance().addMapLayers([training])
    state.update(scene=scene, training=training, held_out=held_out)
    iface.mapCanvas().setExtent(scene.extent())
    QTimer.singleShot(4000, train_dialog)


def train_dialog() -> None:
    dialog = processing.createAlgorithmDialog("csp:train_classifier", {
        "INPUT": state["scene"], "ENCODER": str(ENCODER), "LABELS": state["training"], "CLASS_FIELD": "class",
        "OUTPUT": str(WORK / "my_classes.onnx")})
    dialog.resize(900, 700)
    dialog.show()
    state["dialog"] = dialog
    QTimer.singleShot(3000, classify)


def classify() -> None:
    state["dialog"].grab().save(str(SHOTS / "few_label_train_dialog.png"))
    state["dialog"].close()
    model = processing.run("csp:train_classifier", {
        "INPUT": state["scene"], "ENCODER": str(ENCODER), "LABELS": state["training"], "CLASS_FIELD": "class",
        "OUTPUT": str(WORK / "my_classes.onnx")})["OUTPUT"]
    classes = processing.run("csp:classify", {
        "INPUT": state["scene"], "MODEL": model, "STRIDE": 16, "OUTPUT_VECTOR": str(WORK / "tiles.gpkg"),
        "OUTPUT_CLASSES": str(WORK / "classes.tif")})["OUTPUT_CLASSES"]
    meta = read_metadata(model)
    layer = load_class_raster(Path(classes), "dense class map (16 px stride)", meta.class_names,
                              class_colors(meta.class_names, meta.class_colors))
    layer.setOpacity(0.75)
    QgsProject.instance().addMapLayer(layer)
    state["classes"] = classes
    extent = state["scene"].extent()
    extent.setXMaximum(extent.xMinimum() + extent.width() * 0.4)
    extent.setYMinimum(extent.yMaximum() - extent.height() * 0.3)
    iface.mapCanvas().setExtent(extent)
    iface.mapCanvas().refreshAllLayers()
    QTimer.singleShot(6000, assess)


def assess() -> None:
    iface.messageBar().clearWidgets()  # e.g. a font-download notice of a fresh profile without internet
    iface.mainWindow().grab().save(str(SHOTS / "few_label_dense_map.png"))
    result = processing.run("csp:accuracy_assessment", {
        "CLASSIFICATION": state["classes"], "REFERENCE": state["held_out"], "REFERENCE_FIELD": "class",
        "OUTPUT_CSV": str(WORK / "accuracy.csv"), "OUTPUT_HTML": str(WORK / "accuracy.html"),
        "OUTPUT_TABLE": "memory:accuracy per class"})
    table = result["OUTPUT_TABLE"]
    if isinstance(table, str):
        table = QgsProject.instance().mapLayer(table) or QgsVectorLayer(table, "accuracy per class", "ogr")
    table.setName(f"accuracy per class (overall {result['OVERALL_ACCURACY']:.2f})")
    QgsProject.instance().addMapLayer(table)
    state["attributes"] = iface.showAttributeTable(table)
    QTimer.singleShot(3000, finish)


def finish() -> None:
    window = state["attributes"]
    window.resize(1500, 420)
    window.grab().save(str(SHOTS / "few_label_accuracy_table.png"))
    QgsApplication.exit(0)


QTimer.singleShot(8000, layers)
