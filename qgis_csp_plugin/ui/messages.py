"""User-facing messages: message bar + QGIS log panel, never a traceback dialog."""

from __future__ import annotations

from qgis.core import Qgis, QgsMessageLog

LOG_TAG = "CSP"


def log(message: str, level=Qgis.MessageLevel.Info) -> None:
    QgsMessageLog.logMessage(message, LOG_TAG, level)


def show_error(iface, message: str) -> None:
    log(message, Qgis.MessageLevel.Critical)
    if iface is not None:
        iface.messageBar().pushMessage("CSP", message, level=Qgis.MessageLevel.Critical, duration=0)


def show_info(iface, message: str, level=Qgis.MessageLevel.Success) -> None:
    log(message, level)
    if iface is not None:
        iface.messageBar().pushMessage("CSP", message, level=level, duration=8)


def log_runtime(model) -> list[str]:
    """Log which execution provider runs ``model`` (an ``OnnxModel``); returns its GPU-fallback warning, if any."""
    log(model.runtime_note, Qgis.MessageLevel.Warning if model.provider_warning else Qgis.MessageLevel.Info)
    return [model.provider_warning] if model.provider_warning else []
