"""Model-file fields that react once per path the user settles on, not per keystroke."""

from __future__ import annotations

from collections.abc import Callable

from qgis.gui import QgsFileWidget


def on_path_settled(widget: QgsFileWidget, callback: Callable[[str], None]) -> None:
    """Call ``callback(path)`` for each new path of ``widget``: at once when it is picked with the browse
    button or set by code, when editing finishes when it is typed (QgsFileWidget reports every keystroke)."""
    last: list[str | None] = [None]

    def settle(path: str) -> None:
        if path != last[0]:
            last[0] = path
            callback(path)

    widget.fileChanged.connect(lambda path: None if widget.lineEdit().isModified() else settle(path))
    widget.lineEdit().editingFinished.connect(lambda: settle(widget.filePath()))
