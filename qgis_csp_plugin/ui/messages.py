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


def log_notes(notes: list[str]) -> None:
    """One log line per note (which execution provider runs each model of a run)."""
    for note in notes:
        log(note)
