"""QGIS plugin object: the "CSP" toolbar, its actions and the Processing provider."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsApplication
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

from .contract.errors import CspError
from .ui.messages import show_error

ICONS = Path(__file__).resolve().parent / "icons"

# (object name, menu text, icon file, heatmap kind or None for "Classify layer")
ACTIONS = (
    ("csp_classify_layer", "Classify layer", "classify.svg", None),
    ("csp_embedding_heatmap", "Location-embedding heatmap", "embedding.svg", "location_embedding"),
    ("csp_prior_heatmap", "Class-prior heatmap P(y|location)", "prior.svg", "class_prior"),
    ("csp_prediction_heatmap", "Prediction-probability heatmap", "prediction.svg", "prediction"),
)


class CspPlugin:
    """Adds the toolbar and menu entries; every action opens a dialog that runs a QgsTask."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.toolbar = None
        self.actions: list[QAction] = []
        self.provider = None

    def initProcessing(self) -> None:  # noqa: N802 (QGIS API name)
        from .processing.provider import CspProvider

        self.provider = CspProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802
        self.initProcessing()
        self.toolbar = self.iface.addToolBar("CSP")
        self.toolbar.setObjectName("CspToolbar")
        for object_name, text, icon, heatmap in ACTIONS:
            action = QAction(QIcon(str(ICONS / icon)), text, self.iface.mainWindow())
            action.setObjectName(object_name)
            action.triggered.connect(lambda _checked=False, kind=heatmap: self.open_dialog(kind))
            self.toolbar.addAction(action)
            self.iface.addPluginToRasterMenu("&CSP", action)
            self.actions.append(action)

    def open_dialog(self, heatmap_kind: str | None) -> None:
        """Open the dialog for "Classify layer" (``None``) or a heatmap kind."""
        try:
            if heatmap_kind is None:
                from .ui.classify_dialog import ClassifyDialog

                dialog = ClassifyDialog(self.iface, self.iface.mainWindow())
            else:
                from .ui.heatmap_dialog import HeatmapDialog

                dialog = HeatmapDialog(self.iface, heatmap_kind, self.iface.mainWindow())
        except CspError as exc:
            show_error(self.iface, str(exc))
            return
        dialog.show()

    def unload(self) -> None:
        for action in self.actions:
            self.iface.removePluginRasterMenu("&CSP", action)
            if self.toolbar is not None:
                self.toolbar.removeAction(action)
            action.deleteLater()
        self.actions = []
        if self.toolbar is not None:
            self.toolbar.deleteLater()
            self.toolbar = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
