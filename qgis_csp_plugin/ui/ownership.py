"""Python references to the dialogs and tasks the plugin started, held until they are done.

QGIS keeps only C++ pointers to a dialog parented to its main window (whose Python wrapper is
temporary) and to a task handed to its task manager. Without a Python reference, the garbage
collector frees their Python halves while they still run: a task then ends without its
``finished()`` override, which adds the result layers, and the user sees nothing. :class:`Running`,
held by the plugin object, keeps them: a task until its ``finished()`` has run, a dialog until it
is closed and no task it started is running; a released plugin dialog is deleted (no leak).
"""

from __future__ import annotations

from qgis.core import QgsApplication
from qgis.PyQt.QtWidgets import QDialog

from .background_task import BackgroundTask


class Running:
    """The open dialogs and running tasks of one plugin object."""

    def __init__(self) -> None:
        self.dialogs: list[QDialog] = []
        self.tasks: list[BackgroundTask] = []
        self.owners: dict[int, QDialog | None] = {}  # id(task) -> the dialog that started it

    def show(self, dialog: QDialog) -> None:
        """Show ``dialog`` and hold it until it is closed and its tasks are done; then delete it."""
        self.dialogs.append(dialog)
        dialog.finished.connect(lambda _result: self._release_dialog(dialog))
        dialog.show()

    def start(self, task: BackgroundTask, dialog: QDialog | None = None) -> None:
        """Queue ``task`` in QGIS's task manager; hold it (and ``dialog``) until its ``finished()`` has run."""
        self.tasks.append(task)
        self.owners[id(task)] = dialog
        task.after_finished.append(lambda: self._release_task(task))
        QgsApplication.taskManager().addTask(task)

    def cancel_all(self) -> None:
        """Cancel every running task and close every dialog (the plugin is unloaded)."""
        for task in list(self.tasks):
            task.cancel()
        for dialog in list(self.dialogs):
            dialog.close()

    def _release_task(self, task: BackgroundTask) -> None:
        if task in self.tasks:
            self.tasks.remove(task)
        dialog = self.owners.pop(id(task), None)
        if dialog is not None and not dialog.isVisible():
            self._release_dialog(dialog)

    def _release_dialog(self, dialog: QDialog) -> None:
        if dialog not in self.dialogs or any(owner is dialog for owner in self.owners.values()):
            return  # not ours, or a task it started still runs (its finished() updates the dialog)
        self.dialogs.remove(dialog)
        dialog.deleteLater()
