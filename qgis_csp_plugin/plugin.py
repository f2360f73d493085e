"""QGIS plugin object: the "CSP" toolbar, its actions, the options page and the Processing provider."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtGui import (  # QAction: its Qt 6 home, which QGIS 3.40 also maps on Qt 5
    QAction,
    QIcon,
)

from .contract.errors import GeoSslError, MissingDependencyError
from .contract.onnx_model import needs_install, onnxruntime_install_hint, onnxruntime_version
from .core.kinds import HeatmapKind
from .qgis_io.settings import activate_dependencies, apply_runtime
from .ui.messages import show_error
from .ui.ownership import Running

ICONS = Path(__file__).resolve().parent / "icons"

# (object name, menu text, icon file, what it opens: None for "Classify layer", a heatmap kind, or the id of a
# Processing algorithm)
ACTIONS = (
    ("csp_classify_layer", "Classify layer", "classify.svg", None),
    ("csp_train_classifier", "Train classifier from labelled points/polygons", "train.svg", "csp:train_classifier"),
    ("csp_accuracy_assessment", "Accuracy assessment", "accuracy.svg", "csp:accuracy_assessment"),
    ("csp_embedding_heatmap", "Location-embedding heatmap", "embedding.svg", HeatmapKind.LOCATION_EMBEDDING),
    ("csp_prior_heatmap", "Class-prior heatmap P(y|location)", "prior.svg", HeatmapKind.CLASS_PRIOR),
    ("csp_prediction_heatmap", "Prediction-probability heatmap", "prediction.svg", HeatmapKind.PREDICTION),
)


class GeoSslPlugin:
    """Adds the toolbar, menu entries and options page; every action opens a dialog that runs a QgsTask.

    ``running`` holds the open dialogs and their tasks until they are done (see :mod:`.ui.ownership`).
    """

    def __init__(self, iface) -> None:
        self.iface = iface
        self.toolbar = None
        self.actions: list[QAction] = []
        self.provider = None
        self.options_factory = None
        self.running = Running()
        activate_dependencies()  # an onnxruntime installed by the plugin, also for qgis_process
        apply_runtime()

    def initProcessing(self) -> None:  # noqa: N802 (QGIS API name)
        from .processing.provider import GeoSslProvider

        self.provider = GeoSslProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802
        self.initProcessing()
        self.toolbar = self.iface.addToolBar("CSP")
        self.toolbar.setObjectName("CspToolbar")
        for object_name, text, icon, opens in ACTIONS:
            action = QAction(QIcon(str(ICONS / icon)), text, self.iface.mainWindow())
            action.setObjectName(object_name)
            action.triggered.connect(lambda _checked=False, what=opens: self.open_dialog(what))
            self.toolbar.addAction(action)
            self.iface.addPluginToRasterMenu("&CSP", action)
            self.actions.append(action)
        from .ui.options_page import GeoSslOptionsFactory

        self.options_factory = GeoSslOptionsFactory()
        self.iface.registerOptionsWidgetFactory(self.options_factory)
        # after start-up (importing onnxruntime takes time), unless the plugin was unloaded meanwhile
        QTimer.singleShot(3000, lambda: self.toolbar is not None and self.check_onnxruntime())

    def check_onnxruntime(self) -> bool:
        """Offer 'Install onnxruntime' in the message bar when it is missing or too old; True when usable."""
        version = onnxruntime_version()
        if needs_install(version):
            from .ui.ort_installer import offer_install

            offer_install(self.iface, onnxruntime_install_hint(version))
            return False
        return True

    def open_dialog(self, what: HeatmapKind | str | None) -> None:
        """Open the dialog for "Classify layer" (``None``), a heatmap kind or a Processing algorithm (its id)."""
        if what is not None and not isinstance(what, HeatmapKind):
            import processing

            from .qgis_io.layer_defaults import assessment_inputs, train_classifier_inputs

            inputs = train_classifier_inputs if what == "csp:train_classifier" else assessment_inputs
            # the Processing dialog (modal; runs the algorithm in the background), filled from the project
            processing.execAlgorithmDialog(what, inputs(self.iface.activeLayer()))
            return
        try:
            if what is None:
                from .ui.classify_dialog import ClassifyDialog

                dialog = ClassifyDialog(self.iface, self.iface.mainWindow(), self.running)
            else:
                from .ui.heatmap_dialog import HeatmapDialog

                dialog = HeatmapDialog(self.iface, what, self.iface.mainWindow(), self.running)
        except MissingDependencyError:
            self.check_onnxruntime()
            return
        except GeoSslError as exc:
            show_error(self.iface, str(exc))
            return
        self.running.show(dialog)

    def unload(self) -> None:
        self.running.cancel_all()
        for action in self.actions:
            self.iface.removePluginRasterMenu("&CSP", action)
            if self.toolbar is not None:
                self.toolbar.removeAction(action)
            action.deleteLater()
        self.actions = []
        if self.toolbar is not None:
            self.toolbar.deleteLater()
            self.toolbar = None
        if self.options_factory is not None:
            self.iface.unregisterOptionsWidgetFactory(self.options_factory)
            self.options_factory = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
