"""The desktop GUI test's driver, run by a real QGIS at start-up (``qgis --code``; see scripts/gui_test.sh).

It works QGIS as an analyst does, through the CSP toolbar's own QActions and the dialogs they open
(never the Processing API for what the toolbar does): Classify layer on a Landsat scene, the three
heatmaps, Train classifier on labelled points of a Sentinel-2 scene, Classify with the trained model
(dense), Accuracy assessment on held-out points. Dialogs are filled through their widgets and OK/Run
is clicked. Every check (layers added with their names and styles, preselected inputs, dialogs that
fit the screen, messages) goes to ``$GUI_RESULT`` (JSON) as it is made; screenshots of the whole
screen go to ``$GUI_SHOTS``. Python references to the plugin's dialogs are dropped after OK and the
garbage collector runs while tasks work, as in a long QGIS session.
"""

from __future__ import annotations

import gc
import json
import os
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

from qgis.core import QgsApplication, QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtGui import QGuiApplication
from qgis.PyQt.QtTest import QTest
from qgis.PyQt.QtWidgets import (
    QAction,
    QApplication,
    QComboBox,
    QDialogButtonBox,
    QDockWidget,
    QLineEdit,
    QTextEdit,
)
from qgis.utils import iface

WORK = Path(os.environ["GUI_WORK"])  # this run's outputs; the prepared scene and labels in WORK / "data"
SHOTS = Path(os.environ["GUI_SHOTS"])
RESULT = Path(os.environ["GUI_RESULT"])
LANDSAT = Path(os.environ["GUI_LANDSAT"])
POLL_MS = 200
report: dict[str, object] = {"checks": {}, "messages": [], "started": time.time()}
ACTIONS = ("csp_classify_layer", "csp_train_classifier", "csp_accuracy_assessment", "csp_embedding_heatmap",
           "csp_prior_heatmap", "csp_prediction_heatmap")
RENDERERS = {"tiles": "QgsCategorizedSymbolRenderer", "classes": "QgsPalettedRasterRenderer",
             "probability": "QgsSingleBandPseudoColorRenderer"}


# ---------------------------------------------------------------- bookkeeping


def save() -> None:
    report["seconds"] = round(time.time() - report["started"], 1)
    RESULT.write_text(json.dumps(report, indent=1, default=str))


def check(name: str, ok: bool, detail: object = "") -> bool:
    report["checks"][name] = {"ok": bool(ok), "detail": detail}
    save()
    return ok


def on_log(text: str, tag: str, level) -> None:
    if tag == "CSP":
        report["messages"].append([int(level), text])


def shot(name: str) -> None:
    """The whole screen as the user sees it (main window and open dialogs)."""
    iface.messageBar().clearWidgets()  # e.g. a fresh profile's font-download notice, which fails offline
    for _ in range(3):
        QApplication.processEvents()
    QGuiApplication.primaryScreen().grabWindow(0).save(str(SHOTS / f"{name}.png"))


def show_legends(*layers) -> None:
    """Expand the legends of ``layers`` in the Layers panel and collapse the others (for the screenshots)."""
    root = QgsProject.instance().layerTreeRoot()
    for node in root.findLayers():
        node.setExpanded(node.layer() in layers)


def action(name: str) -> QAction:
    return iface.mainWindow().findChild(QAction, name)


def visible(class_name: str) -> list:
    return [w for w in QApplication.topLevelWidgets() if type(w).__name__ == class_name and w.isVisible()]


def fits_screen(widget) -> dict[str, object]:
    screen = QGuiApplication.primaryScreen().availableGeometry()
    frame = widget.frameGeometry()
    return {"dialog": [frame.width(), frame.height()], "screen": [screen.width(), screen.height()],
            "fits": frame.width() <= screen.width() and frame.height() <= screen.height()}


def truncated_fields(dialog) -> list[str]:
    """Texts of line edits and combo boxes that do not fit their field (file paths, which QGIS shows by
    their end, excepted), and fields narrower than their minimum size."""
    cut = []
    for row in range(dialog.form.rowCount()):
        field = dialog.form.itemAt(row, dialog.form.ItemRole.FieldRole)
        widget = field.widget() if field is not None else None
        if widget is None or not widget.isVisible() or type(widget).__name__ == "QgsFileWidget":
            continue
        if widget.width() < widget.minimumSizeHint().width():
            cut.append(type(widget).__name__)
        for edit in [widget, *widget.findChildren(QLineEdit), *widget.findChildren(QComboBox)]:
            if isinstance(edit, QComboBox) and not edit.isEditable():
                text, room = edit.currentText(), edit.width() - 40  # the arrow and icon
            elif isinstance(edit, QLineEdit):
                text, room = edit.text(), edit.width() - 8
            else:
                continue
            if edit.isVisible() and edit.fontMetrics().horizontalAdvance(text) > room:
                cut.append(text)
    return cut


def new_layers(before: set[str]) -> list:
    return [layer for layer_id, layer in QgsProject.instance().mapLayers().items() if layer_id not in before]


def layer_ids() -> set[str]:
    return set(QgsProject.instance().mapLayers())


def layer_name(value) -> str:
    """A Processing parameter value as the user reads it: a layer (object or id) by its name."""
    layer = value if hasattr(value, "name") else QgsProject.instance().mapLayer(str(value))
    return layer.name() if layer is not None else str(value)


def renderer_name(layer) -> str:
    return type(layer.renderer()).__name__ if layer.renderer() is not None else ""


def bar_texts(dialog) -> list[str]:
    return [item.text() for item in dialog.bar.items()]


# ---------------------------------------------------------------- a tiny scheduler of generator steps


class Until:
    """What a scenario step waits for: ``done()`` true within ``timeout`` seconds."""

    def __init__(self, done: Callable[[], bool], timeout: float, what: str, collect: bool = False) -> None:
        self.done, self.deadline, self.what, self.collect = done, time.monotonic() + timeout, what, collect


def pause(seconds: float) -> Until:
    end = time.monotonic() + seconds
    return Until(lambda: time.monotonic() >= end, seconds + 5, f"a {seconds} s pause")


def rendered() -> Iterator[Until]:
    """Redraw the map and wait until the canvas has finished rendering."""
    iface.mapCanvas().refreshAllLayers()
    yield pause(1)
    yield Until(lambda: not iface.mapCanvas().isDrawing(), 60, "the map canvas")
    yield pause(0.5)


class Runner:
    """Advances generator scenarios, each on its own timer (Qt never re-enters a timer's slot): one may
    block in a modal dialog's event loop while another, the one that fills that dialog, goes on."""

    def __init__(self) -> None:
        self.timers: list[QTimer] = []
        self.done = False

    def start(self, scenario: Iterator[Until]) -> None:
        timer = QTimer()
        waiting = [Until(lambda: True, 1, "start")]
        timer.timeout.connect(lambda: self.tick(timer, scenario, waiting))
        self.timers.append(timer)
        timer.start(POLL_MS)

    def tick(self, timer: QTimer, scenario: Iterator[Until], waiting: list[Until]) -> None:
        until = waiting[0]
        if until.collect:
            gc.collect()  # a long QGIS session collects garbage at any time
        if self.done or not until.done():
            if not self.done and time.monotonic() > until.deadline:
                check(f"timeout: {until.what}", False, "gave up waiting")
                self.finish()
            return
        timer.stop()
        try:
            waiting[0] = next(scenario)
        except StopIteration:
            self.timers.remove(timer)
            if not self.timers:
                self.finish()
            return
        except Exception:  # noqa: BLE001 - recorded, then QGIS quits
            check("driver error", False, traceback.format_exc())
            self.finish()
            return
        timer.start(POLL_MS)

    def finish(self) -> None:
        if self.done:
            return
        self.done = True
        for timer in self.timers:
            timer.stop()
        for box in visible("QMessageBox"):
            check(f"unexpected message box: {box.text()[:200]}", False)
            box.close()
        for dialog in visible("AlgorithmDialog"):
            dialog.close()  # a modal dialog would keep QGIS from quitting
        report["finished"] = True
        save()
        QgsApplication.exit(0)


runner = Runner()


# ---------------------------------------------------------------- the analyst's session


def session() -> Iterator[Until]:
    yield Until(lambda: all(action(name) is not None for name in ACTIONS), 120, "the CSP toolbar")
    check("plugin loaded from the zip with its toolbar", True, [action(name).text() for name in ACTIONS])
    window = iface.mainWindow()
    for dock in window.findChildren(QDockWidget):
        if dock.objectName() != "Layers":
            dock.hide()
    window.setGeometry(QGuiApplication.primaryScreen().availableGeometry())  # no window manager to maximise
    layers_panel = window.findChild(QDockWidget, "Layers")
    window.resizeDocks([layers_panel], [400], Qt.Orientation.Horizontal)
    landsat = iface.addRasterLayer(str(LANDSAT), LANDSAT.stem)
    check("Landsat scene opened", landsat is not None and landsat.isValid())
    yield pause(2)

    # 1. Classify layer from the toolbar: defaults, OK, three styled layers (every run)
    yield from classify_landsat(landsat)
    # 2. the three heatmaps from the toolbar
    yield from heatmap("csp_embedding_heatmap", "location_embedding", "QgsMultiBandColorRenderer")
    yield from heatmap("csp_prior_heatmap", "class_prior", "QgsPalettedRasterRenderer", shot_name="gui_prior_heatmap")
    yield from heatmap("csp_prediction_heatmap", "prediction", "QgsSingleBandPseudoColorRenderer")
    # the active layer is now a one-band heatmap: Classify must still preselect the scene
    action("csp_classify_layer").trigger()
    dialog = visible("ClassifyDialog")[0]
    check("Classify preselects the scene, not the active heatmap", dialog.layer_box.currentLayer() == landsat,
          dialog.layer_box.currentText())
    dialog.reject()
    del dialog
    # 3. few-label mapping in a new project: train, classify densely with the new model, assess on held-out points
    iface.newProject(False)
    yield pause(1)
    yield from train_classifier()
    yield from classify_with_trained_model()
    yield from assess()


def classify_landsat(landsat: QgsRasterLayer) -> Iterator[Until]:
    iface.setActiveLayer(landsat)
    iface.mapCanvas().setExtent(landsat.extent())
    before = layer_ids()
    action("csp_classify_layer").trigger()
    dialog = visible("ClassifyDialog")[0]
    check("Classify dialog defaults", dialog.layer_box.currentLayer() == landsat
          and dialog.model_box.currentText().startswith("EuroSAT RGB classifier") and dialog.resolution.value() == 10.0,
          {"layer": dialog.layer_box.currentText(), "model": dialog.model_box.currentText(),
           "resolution": dialog.resolution.value()})
    check("Classify dialog fits a 1366x768 screen", fits_screen(dialog)["fits"], fits_screen(dialog))
    dialog.output_dir.setFilePath(str(WORK / "classify"))
    yield pause(1)
    shot("gui_classify_dialog")
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    del dialog  # only the plugin may keep it alive now
    yield Until(lambda: len(new_layers(before)) >= 3, 300, "Classify's three layers", collect=True)
    layers = {layer.name(): renderer_name(layer) for layer in new_layers(before)}
    expected = {f"{landsat.name()} — EuroSAT RGB {kind}": renderer for kind, renderer in RENDERERS.items()}
    check("toolbar Classify adds its three named, styled layers", layers == expected, layers)
    warnings = [text for level, text in report["messages"] if level == 1 and "sampled" in text]
    check("no resolution warning for the default resolution", not warnings, warnings)
    show_legends(*[layer for layer in new_layers(before) if layer.name().endswith(" tiles")])
    yield from rendered()
    shot("gui_classified")


def heatmap(action_name: str, kind: str, renderer: str, shot_name: str | None = None) -> Iterator[Until]:
    before = layer_ids()
    action(action_name).trigger()
    dialog = next(d for d in visible("HeatmapDialog") if d.kind == kind)
    if kind != "prediction":
        check(f"{kind} heatmap starts in EPSG:4326", dialog.crs.crs().authid() == "EPSG:4326",
              dialog.crs.crs().authid())
        dialog.cell_size.setValue(1.0 if kind == "location_embedding" else 0.5)
    else:
        tiles = next(layer for layer in QgsProject.instance().mapLayers().values() if layer.name().endswith(" tiles"))
        dialog.layer.setLayer(tiles)
    dialog.output.setFilePath(str(WORK / f"{kind}.tif"))
    check(f"{kind} dialog fits the screen and shows its fields whole",
          fits_screen(dialog)["fits"] and not truncated_fields(dialog),
          {**fits_screen(dialog), "truncated": truncated_fields(dialog)})
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    yield Until(lambda: len(new_layers(before)) >= 1 and dialog.task is None, 300, f"{kind} heatmap", collect=True)
    layer = new_layers(before)[0]
    check(f"{kind} heatmap layer styled", renderer_name(layer) == renderer, [layer.name(), renderer_name(layer)])
    texts = bar_texts(dialog)
    check(f"{kind} heatmap's result shown in its dialog", any(layer.name() in text for text in texts), texts)
    if kind == "prediction":
        check("prediction heatmap counts cells with data, not 'on Earth'",
              any("cells with a classified tile" in text for text in texts) and not any("on Earth" in t for t in texts),
              texts)
    if shot_name:
        screen = QGuiApplication.primaryScreen().availableGeometry()
        dialog.move(screen.width() - dialog.width() - 10, screen.height() - dialog.height() - 40)
        QgsProject.instance().setCrs(layer.crs())  # a world map, seen as the user would set it up
        iface.mapCanvas().setExtent(layer.extent())
        show_legends(layer)
        yield from rendered()
        shot(shot_name)
    dialog.close()


def processing_dialog():
    return next(iter(visible("AlgorithmDialog")), None)


def fill_and_run(name: str, expected: dict[str, str], outputs: dict[str, str],
                 shot_name: str | None = None) -> Iterator[Until]:
    """The modal Processing dialog the toolbar opened: check what it was filled with, set the outputs, Run."""
    yield Until(lambda: processing_dialog() is not None, 60, f"the {name} dialog")
    dialog = processing_dialog()
    filled = dialog.mainWidget().createProcessingParameters()
    shown = {key: layer_name(value) for key, value in filled.items() if key in expected}
    check(f"{name} dialog opens filled from the project", shown == expected, {"shown": shown, "expected": expected})
    dialog.mainWidget().setParameters(outputs)
    dialog.resize(900, 640)
    dialog.runButton().click()
    yield Until(lambda: dialog.wasExecuted() or visible("QMessageBox") or not dialog.isVisible(), 600,
                f"the {name} run", collect=True)
    check(f"{name} ran", dialog.wasExecuted() and not visible("QMessageBox"), dialog.results())
    yield pause(1)
    if shot_name:
        shot(shot_name)
    log = dialog.findChild(QTextEdit, "txtLog")
    report[f"{name} log"] = log.toPlainText() if log is not None else ""
    dialog.close()


def train_classifier() -> Iterator[Until]:
    scene = iface.addRasterLayer(str(WORK / "data" / "scene.tif"), "EuroSAT patches (13-band Sentinel-2)")
    iface.setActiveLayer(scene)
    points = iface.addVectorLayer(str(WORK / "data" / "train_points.gpkg"), "training points", "ogr")
    points.setName("training points")
    iface.mapCanvas().setExtent(scene.extent())
    runner.start(fill_and_run("Train classifier", {"INPUT": scene.name(), "LABELS": "training points",
                                                   "CLASS_FIELD": "class"},
                              {"OUTPUT": str(WORK / "my_classes.onnx")}, "gui_train_dialog"))
    action("csp_train_classifier").trigger()  # modal: returns when the dialog is closed
    model = WORK / "my_classes.onnx"
    check("Train classifier wrote the model", model.is_file())
    log = report.get("Train classifier log", "")
    check("Train classifier says why it used fewer folds", "4-fold cross-validation instead of the 5 folds asked"
          in log, log[-600:])
    yield pause(1)


def classify_with_trained_model() -> Iterator[Until]:
    scene = next(layer for layer in QgsProject.instance().mapLayers().values()
                 if layer.name().startswith("EuroSAT patches"))
    iface.setActiveLayer(scene)
    before = layer_ids()
    action("csp_classify_layer").trigger()
    dialog = visible("ClassifyDialog")[0]
    line = dialog.model_file.lineEdit()
    QApplication.setActiveWindow(dialog)  # what a click into the dialog does (no window manager here)
    line.setFocus()
    QTest.keyClicks(line, str(WORK / "my_classes.onnx"))  # typed, as a user would, then Tab to the next field
    QTest.keyClick(line, Qt.Key.Key_Tab)
    yield Until(lambda: dialog.model_box.currentText().startswith("my_classes"), 10, "the typed model")
    typed_errors = [text for level, text in report["messages"] if level == 2]
    check("a typed model path is checked once, not per keystroke", not typed_errors, typed_errors)
    dialog.layer_box.setLayer(scene)
    dialog.stride.setValue(16)
    dialog.output_dir.setFilePath(str(WORK / "dense"))
    bands = len(dialog.bands.names)  # the trained model's: its default encoder's (Galileo nano: 10 of the 13)
    check(f"{bands}-band Classify dialog fits the screen with a box per band",
          fits_screen(dialog)["fits"] and len(dialog.bands.boxes) == bands >= 10,
          {**fits_screen(dialog), "boxes": len(dialog.bands.boxes), "model bands": bands})
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    dialog = None  # only the plugin may keep it alive now
    yield Until(lambda: len(new_layers(before)) >= 3, 300, "the dense classification", collect=True)
    classes = next(layer for layer in new_layers(before) if layer.name().endswith(" classes"))
    colours = {c.label: c.color.name() for c in classes.renderer().classes()}
    check("the trained classes keep land-cover colours", colours.get("Forest") == "#1b7837"
          and colours.get("SeaLake") == "#08519c" and colours.get("AnnualCrop") == "#e6c84f", colours)
    for layer in new_layers(before):
        if not layer.name().endswith(" classes"):
            QgsProject.instance().layerTreeRoot().findLayer(layer.id()).setItemVisibilityChecked(False)
    iface.mapCanvas().setExtent(scene.extent())
    show_legends(classes)
    yield from rendered()
    shot("gui_dense_map")


def assess() -> Iterator[Until]:
    held_out = iface.addVectorLayer(str(WORK / "data" / "test_points.gpkg"), "held-out points", "ogr")
    held_out.setName("held-out points")
    classes = next(layer for layer in QgsProject.instance().mapLayers().values()
                   if isinstance(layer, QgsRasterLayer) and layer.name().endswith(" classes")
                   and layer.name().startswith("EuroSAT"))
    iface.setActiveLayer(held_out)  # just loaded: selected in the Layers panel
    table = WORK / "accuracy.gpkg"
    runner.start(fill_and_run("Accuracy assessment", {"CLASSIFICATION": classes.name(),
                                                      "REFERENCE": "held-out points", "REFERENCE_FIELD": "class"},
                              {"OUTPUT_CSV": str(WORK / "accuracy.csv"), "OUTPUT_TABLE": str(table)}))
    before = layer_ids()
    action("csp_accuracy_assessment").trigger()
    check("Accuracy assessment wrote its CSV", (WORK / "accuracy.csv").is_file())
    added = [layer for layer in new_layers(before) if isinstance(layer, QgsVectorLayer)]
    if check("the accuracy table was added", bool(added), [layer.name() for layer in added]):
        for dock in iface.mainWindow().findChildren(QDockWidget):
            if dock.objectName() != "Layers":
                dock.hide()  # e.g. the Results Viewer with the HTML report
        attributes = iface.showAttributeTable(added[0])
        yield pause(1)
        attributes.window().setGeometry(20, 300, 1320, 420)
        yield pause(1)
        shot("gui_accuracy_table")
        attributes.close()


def main() -> None:
    try:
        QgsApplication.messageLog().messageReceived.connect(on_log)
        SHOTS.mkdir(parents=True, exist_ok=True)
        runner.start(session())
        QTimer.singleShot(14 * 60 * 1000, lambda: (check("the whole session", False, "over 14 min"), runner.finish()))
    except Exception:  # noqa: BLE001 - never QGIS's modal error dialog: it would hang the test
        check("driver start", False, traceback.format_exc())
        runner.finish()


main()
