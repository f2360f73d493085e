"""QgsTask running a prepared classification in the background (progress, cancel, messages)."""

from __future__ import annotations

from collections.abc import Callable

from qgis.core import Qgis, QgsMapLayer, QgsProject, QgsTask

from ..core.classify import ClassifyCanceled
from ..core.errors import CspError
from .classify_job import PreparedJob, execute, load_outputs
from .messages import show_error, show_info


class ClassifyTask(QgsTask):
    """Runs :func:`execute` in a worker thread; adds the styled layers to the project when done.

    Canceling or an error leaves no file and no layer; the reason goes to the message bar and log.
    """

    def __init__(self, job: PreparedJob, iface=None,
                 on_done: Callable[[list[QgsMapLayer]], None] | None = None) -> None:
        super().__init__(f"CSP: classify {job.request.layer.name()}", QgsTask.CanCancel)
        self.job = job
        self.iface = iface
        self.on_done = on_done
        self.results = None
        self.written = {}
        self.error: str | None = None
        self.layers: list[QgsMapLayer] = []

    def run(self) -> bool:
        try:
            self.results, self.written = execute(self.job, self.setProgress, self.isCanceled)
        except ClassifyCanceled:
            return False
        except CspError as exc:
            self.error = str(exc)
            return False
        except Exception as exc:  # noqa: BLE001 - shown as a message, never as a traceback dialog
            self.error = f"classification failed: {type(exc).__name__}: {exc}"
            return False
        return True

    def finished(self, result: bool) -> None:
        if not result:
            if self.error:
                show_error(self.iface, self.error)
            else:
                show_info(self.iface, "Classification canceled; nothing was written.", Qgis.Warning)
        else:
            try:
                self.layers = load_outputs(self.job, self.written)
            except CspError as exc:
                show_error(self.iface, str(exc))
            else:
                QgsProject.instance().addMapLayers(self.layers)
                files = ", ".join(map(str, self.written.values()))
                show_info(self.iface, f"Classified {self.job.request.layer.name()}: {len(self.results.indices):,} "
                                      f"tiles of {self.job.grid.tile_size} px; wrote {files}")
        if self.on_done is not None:
            self.on_done(self.layers)
