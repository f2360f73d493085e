"""QgsTask running a prepared classification in the background (progress, cancel, messages)."""

from __future__ import annotations

from collections.abc import Callable

from qgis.core import QgsMapLayer, QgsProject

from ..jobs.classify import ClassifyJob, load_outputs
from .background_task import BackgroundTask
from .messages import log_notes


class ClassifyTask(BackgroundTask):
    """Runs :meth:`ClassifyJob.execute` in a worker thread; adds the styled layers to the project when done."""

    def __init__(self, job: ClassifyJob, where=None,
                 on_done: Callable[[list[QgsMapLayer]], None] | None = None) -> None:
        super().__init__(job.description, "classification", where)
        log_notes(job.notes)
        self.job = job
        self.on_done = on_done
        self.results = None
        self.written = {}
        self.layers: list[QgsMapLayer] = []

    def compute(self) -> None:
        self.results, self.written = self.job.execute(self.setProgress, self.isCanceled)

    def publish(self) -> str:
        self.layers = load_outputs(self.job, self.written)
        QgsProject.instance().addMapLayers(self.layers)
        paths = list(self.written.values())
        files = ", ".join(path.name for path in paths)
        return (f"Classified {self.job.request.layer.name()}: {self.results.what}; wrote {files} in "
                f"{paths[0].parent}")

    def done(self) -> None:
        if self.on_done is not None:
            self.on_done(self.layers)
