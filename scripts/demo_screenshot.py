"""The README's desktop screenshot: ``demo_output/demo.qgz`` opened in a real QGIS window (run by QGIS).

    bash scripts/demo.sh && bash scripts/qgis_desktop.sh scripts/demo_screenshot.py

Opens the demo project with the plugin loaded (CSP toolbar), waits for the canvas to render, saves
the main window (Layers panel, canvas, toolbars) to ``docs/img/qgis_desktop_demo.png`` (or ``$SHOT_FILE``) and quits.
"""

from __future__ import annotations

import os
from pathlib import Path

from qgis.core import QgsApplication, QgsProject
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QDockWidget
from qgis.utils import iface

REPO = Path(os.environ.get("DEMO_REPO", Path.cwd()))
SHOT = Path(os.environ.get("SHOT_FILE", REPO / "docs" / "img" / "qgis_desktop_demo.png"))


def open_project() -> None:
    window = iface.mainWindow()
    window.move(0, 0)
    window.resize(1600, 1000)
    for dock in window.findChildren(QDockWidget):
        if dock.objectName() != "Layers":
            dock.hide()
    if not QgsProject.instance().read(str(REPO / "demo_output" / "demo.qgz")):
        QgsApplication.exit(1)
        return
    iface.mapCanvas().waitWhileRendering()
    QTimer.singleShot(8000, save)


def save() -> None:
    iface.messageBar().clearWidgets()  # e.g. QGIS 3.40's font download, which fails offline
    iface.mainWindow().grab().save(str(SHOT))
    QgsApplication.exit(0)


QTimer.singleShot(3000, open_project)
