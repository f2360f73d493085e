"""Base QgsTask of the plugin: work in a worker thread, results or a clear message on the main thread."""

from __future__ import annotations

from collections.abc import Callable

from qgis.core import Qgis, QgsTask

from ..contract.errors import GeoSslError
from ..core.progress import Canceled
from .messages import show_error, show_info


class BackgroundTask(QgsTask):
    """Cancellable task: :meth:`compute` runs in the worker thread, :meth:`publish` on the main thread.

    Cancel or error leave nothing behind (the jobs write under temporary names) and end as one
    message in the log and the message bar of ``where`` (see :mod:`.messages`), never a traceback dialog.
    ``after_finished``: callables run last on the main thread (the plugin releases the task there).
    """

    def __init__(self, description: str, label: str, where=None) -> None:
        super().__init__(description, QgsTask.Flag.CanCancel)
        self.label, self.where = label, where
        self.error: str | None = None
        self.after_finished: list[Callable[[], None]] = []

    def compute(self) -> None:
        """The long work (worker thread); raises :class:`Canceled` when the user cancels."""
        raise NotImplementedError

    def publish(self) -> str:
        """Add the results to the project (main thread); returns the success message."""
        raise NotImplementedError

    def done(self) -> None:
        """Called last on the main thread, whatever the outcome."""

    def run(self) -> bool:
        try:
            self.compute()
        except Canceled:
            return False
        except GeoSslError as exc:
            self.error = str(exc)
            return False
        except Exception as exc:  # noqa: BLE001 - shown as a message, never as a traceback dialog
            self.error = f"{self.label} failed: {type(exc).__name__}: {exc}"
            return False
        return True

    def finished(self, result: bool) -> None:
        try:
            if not result:
                if self.error:
                    show_error(self.where, self.error)
                else:
                    show_info(self.where, f"{self.label.capitalize()} canceled; nothing was written.",
                              Qgis.MessageLevel.Warning)
            else:
                try:
                    show_info(self.where, self.publish())
                except GeoSslError as exc:
                    show_error(self.where, str(exc))
            self.done()
        finally:
            for callback in self.after_finished:
                callback()
