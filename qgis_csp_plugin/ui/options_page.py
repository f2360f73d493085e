"""Settings > Options > CSP: onnxruntime (status, 'Install onnxruntime', pip log) and the execution device."""

from __future__ import annotations

from pathlib import Path

from qgis.gui import QgsOptionsPageWidget, QgsOptionsWidgetFactory
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from ..contract.execution import DEVICES, Runtime
from ..contract.onnx_model import onnxruntime_version
from ..qgis_io.settings import dependencies_folder, load_runtime, save_runtime
from .ort_installer import start_install, status_text

ICON = Path(__file__).resolve().parent.parent / "icon.svg"


class GeoSslOptionsFactory(QgsOptionsWidgetFactory):
    """Registers the "CSP" page in QGIS's Options dialog."""

    def __init__(self) -> None:
        super().__init__("CSP", QIcon(str(ICON)))

    def icon(self) -> QIcon:
        return QIcon(str(ICON))

    def createWidget(self, parent=None) -> GeoSslOptionsPage:  # noqa: N802 (QGIS API name)
        return GeoSslOptionsPage(parent)


class GeoSslOptionsPage(QgsOptionsPageWidget):
    """Settings are saved on OK (:meth:`apply`); the install runs at once, as a background task."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("csp_options")
        runtime = load_runtime()
        layout = QVBoxLayout(self)

        ort = QGroupBox("onnxruntime", self)
        ort_form = QVBoxLayout(ort)
        self.status = QLabel(status_text(), ort)
        self.install_button = QPushButton("Install onnxruntime", ort)
        self.install_button.setToolTip(f"pip for QGIS's Python, into {dependencies_folder()}")
        self.install_button.clicked.connect(lambda _checked=False: self.install())
        self.log = QPlainTextEdit(ort)
        self.log.setReadOnly(True)
        self.log.setPlaceholderText("pip's output appears here during an install")
        for widget in (self.status, self.install_button, self.log):
            ort_form.addWidget(widget)

        run = QGroupBox("Execution", self)
        run_form = QFormLayout(run)
        self.device = QComboBox(run)
        for key, (label, _provider) in DEVICES.items():
            self.device.addItem(label, key)
        self.device.setCurrentIndex(max(0, self.device.findData(runtime.device)))
        self.threads = QSpinBox(run)
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("all cores")
        self.threads.setValue(runtime.threads)
        run_form.addRow("Device", self.device)
        run_form.addRow("CPU threads per model", self.threads)
        run_form.addRow(QLabel("A GPU that is missing or fails to start falls back to the CPU with a warning; "
                               "every run logs the provider it used.", run))
        layout.addWidget(ort)
        layout.addWidget(run)
        layout.addStretch(1)

    def install(self):
        """Start (or join) the install task and stream its log into the page."""
        self.install_button.setEnabled(False)
        self.log.clear()
        task = start_install()
        task.log_line.connect(self.log.appendPlainText)
        task.done.connect(self._installed)
        return task

    def _installed(self, ok: bool, message: str) -> None:
        self.log.appendPlainText(message)
        self.status.setText(status_text() if ok or onnxruntime_version() else message)
        self.install_button.setEnabled(True)

    def apply(self) -> None:
        save_runtime(Runtime(self.device.currentData(), self.threads.value()))
