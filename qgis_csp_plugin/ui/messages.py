"""User-facing messages: a message bar + QGIS log panel, never a traceback dialog.

``where`` is anything with a ``messageBar()``: QGIS's interface (the main window's bar) or a plugin
dialog (its own bar while it is open, since a modeless dialog hides the main window's; see
:class:`~.dialog.GeoSslDialog`); ``None`` logs only.
"""

from __future__ import annotations

from qgis.core import Qgis, QgsMessageLog

LOG_TAG = "CSP"


def log(message: str, level=Qgis.MessageLevel.Info) -> None:
    QgsMessageLog.logMessage(message, LOG_TAG, level)


def show_error(where, message: str) -> None:
    log(message, Qgis.MessageLevel.Critical)
    _push(where, message, Qgis.MessageLevel.Critical, 0)


def show_info(where, message: str, level=Qgis.MessageLevel.Success) -> None:
    log(message, level)
    _push(where, message, level, 8)


def log_notes(notes: list[str]) -> None:
    """One log line per note (which execution provider runs each model of a run)."""
    for note in notes:
        log(note)


def _push(where, message: str, level, duration: int) -> None:
    bar = where.messageBar() if where is not None else None
    if bar is not None:
        bar.pushMessage("CSP", message, level=level, duration=duration)
