"""The plugin's settings in QgsSettings (shared by the dialogs, the options page and Processing)."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsApplication, QgsSettings

from ..contract.execution import Runtime, set_runtime
from ..core.ort_install import activate, dependencies_dir

DEVICE_KEY = "csp/runtime/device"
THREADS_KEY = "csp/runtime/threads"


def load_runtime() -> Runtime:
    """The saved device and thread count; unknown or broken values fall back to the defaults."""
    settings = QgsSettings()
    try:
        return Runtime(str(settings.value(DEVICE_KEY, "auto")), int(settings.value(THREADS_KEY, 0)))
    except (TypeError, ValueError):
        return Runtime()


def save_runtime(runtime: Runtime) -> None:
    settings = QgsSettings()
    settings.setValue(DEVICE_KEY, runtime.device)
    settings.setValue(THREADS_KEY, runtime.threads)
    set_runtime(runtime)


def apply_runtime() -> Runtime:
    """Make the saved settings the ones :meth:`OnnxModel.load` uses (each run reads them again)."""
    runtime = load_runtime()
    set_runtime(runtime)
    return runtime


def dependencies_folder() -> Path:
    """Where the plugin installs onnxruntime for this QGIS profile and Python version."""
    return dependencies_dir(QgsApplication.qgisSettingsDirPath())


def activate_dependencies() -> bool:
    """Put an onnxruntime installed by the plugin on ``sys.path`` (at start-up and after an install)."""
    return activate(dependencies_folder())
