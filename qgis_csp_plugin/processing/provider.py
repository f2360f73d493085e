"""The ``csp`` Processing provider."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsApplication, QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..contract.temp_files import install_sigterm_cleanup

ICON = Path(__file__).resolve().parent.parent / "icons" / "classify.svg"


class GeoSslProvider(QgsProcessingProvider):
    """Registers csp:classify, csp:train_classifier, csp:accuracy_assessment, csp:class_area_report and
    the three heatmap algorithms."""

    def loadAlgorithms(self) -> None:  # noqa: N802 (QGIS API name)
        if QgsApplication.platform() != "desktop":  # qgis_process, scripts: a SIGTERM leaves no temporary
            install_sigterm_cleanup()  # (not in the desktop app: a Python handler would delay its SIGTERM)
        from .assessment_algorithms import AccuracyAssessmentAlgorithm, ClassAreaReportAlgorithm
        from .classify_algorithm import ClassifyAlgorithm
        from .heatmap_algorithms import HEATMAP_ALGORITHMS
        from .train_classifier_algorithm import TrainClassifierAlgorithm

        self.addAlgorithm(ClassifyAlgorithm())
        self.addAlgorithm(TrainClassifierAlgorithm())
        self.addAlgorithm(AccuracyAssessmentAlgorithm())
        self.addAlgorithm(ClassAreaReportAlgorithm())
        for algorithm_class in HEATMAP_ALGORITHMS:
            self.addAlgorithm(algorithm_class())

    def id(self) -> str:
        return "csp"

    def name(self) -> str:
        return "CSP (geo-SSL)"

    def icon(self) -> QIcon:
        return QIcon(str(ICON))

    def longName(self) -> str:  # noqa: N802
        return "CSP / geography-aware SSL models (ONNX)"
