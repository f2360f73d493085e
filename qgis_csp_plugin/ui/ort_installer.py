"""'Install onnxruntime': a cancellable QgsTask running pip, offered from the message bar and the options page."""

from __future__ import annotations

import sys
from pathlib import Path

from qgis.core import Qgis, QgsApplication, QgsMessageLog, QgsTask
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QPushButton

from ..contract.errors import GeoSslError
from ..contract.onnx_model import MIN_VERSION, needs_install, onnxruntime_version
from ..core.ort_install import activate, find_qgis_python, install
from ..qgis_io.settings import dependencies_folder
from .messages import log, show_error, show_info

LOG_TAG = "CSP onnxruntime"
# pip output -> progress: pip gives no percentage, its stages are the honest measure
STAGES = (("Collecting", 10), ("Downloading", 30), ("Installing collected", 70), ("Successfully installed", 85))
_running: list[OnnxruntimeInstallTask] = []


class OnnxruntimeInstallTask(QgsTask):
    """pip for QGIS's own Python into the plugin's dependency folder, verified in a subprocess.

    ``log_line`` carries each line of pip's output (also in the log panel, tab "CSP onnxruntime");
    ``done(ok, message)`` fires on the main thread at the end.
    """

    log_line = pyqtSignal(str)
    done = pyqtSignal(bool, str)

    def __init__(self, target: Path | None = None, python: Path | None = None, iface=None) -> None:
        super().__init__("CSP: install onnxruntime", QgsTask.Flag.CanCancel)
        self.target = target or dependencies_folder()
        self.python, self.iface = python, iface
        self.message = ""

    def _log(self, line: str) -> None:
        QgsMessageLog.logMessage(line, LOG_TAG, Qgis.MessageLevel.Info)
        self.log_line.emit(line)
        for prefix, progress in STAGES:
            if line.startswith(prefix) and progress > self.progress():
                self.setProgress(progress)

    def run(self) -> bool:
        try:
            python = self.python or find_qgis_python()
            self.message = install(python, self.target, self._log, self.isCanceled)
        except GeoSslError as exc:
            self.message = str(exc)
            return False
        return True

    def finished(self, result: bool) -> None:
        if result:
            before = sys.modules.get("onnxruntime")
            activate(self.target)
            restart = " Restart QGIS to use it: an older onnxruntime is already loaded." if before else ""
            self.message = f"{self.message} installed in {self.target}.{restart}"
            show_info(self.iface, self.message)
        else:
            show_error(self.iface, self.message or "installation of onnxruntime cancelled; nothing was changed")
        level = Qgis.MessageLevel.Info if result else Qgis.MessageLevel.Critical
        QgsMessageLog.logMessage(self.message, LOG_TAG, level)
        if self in _running:
            _running.remove(self)
        self.done.emit(result, self.message)


def start_install(iface=None, target: Path | None = None, python: Path | None = None) -> OnnxruntimeInstallTask:
    """Start the install task (or return the one already running); the UI never waits on it."""
    if _running:
        return _running[0]
    task = OnnxruntimeInstallTask(target, python, iface)
    _running.append(task)
    QgsApplication.taskManager().addTask(task)
    return task


def offer_install(iface, message: str) -> None:
    """A message-bar warning with an 'Install onnxruntime' button (``message`` says what is wrong)."""
    log(message, Qgis.MessageLevel.Warning)
    bar = iface.messageBar()
    item = bar.createMessage("CSP", message)
    button = QPushButton("Install onnxruntime", item)
    button.setObjectName("csp_install_onnxruntime")
    button.clicked.connect(lambda _checked=False: (start_install(iface), bar.popWidget(item)))
    item.layout().addWidget(button)
    bar.pushWidget(item, Qgis.MessageLevel.Warning, 0)


def status_text() -> str:
    """One line for the options page: the onnxruntime QGIS imports now."""
    version = onnxruntime_version()
    if version is None:
        return "onnxruntime is not installed in QGIS's Python: the plugin cannot run models."
    if needs_install(version):
        return f"onnxruntime {version} is older than the plugin needs ({'.'.join(map(str, MIN_VERSION))})."
    return f"onnxruntime {version} is installed."
