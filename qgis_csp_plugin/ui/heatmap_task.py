"""QgsTask computing a prepared heatmap in the background (progress, cancel, messages, styled layer)."""

from __future__ import annotations

from collections.abc import Callable

from qgis.core import Qgis, QgsProject, QgsRasterLayer

from ..core.heatmap import HeatmapResult
from ..jobs.heatmap import HeatmapJob, load_heatmap
from .background_task import BackgroundTask
from .messages import log_notes, show_info


class HeatmapTask(BackgroundTask):
    """Runs ``job`` in a worker thread; adds the styled heatmap layer to the project when done."""

    def __init__(self, job: HeatmapJob, where=None,
                 on_done: Callable[[QgsRasterLayer | None], None] | None = None) -> None:
        super().__init__(job.description, "heatmap", where)
        log_notes(job.notes)
        for warning in job.warnings:
            show_info(where, warning, level=Qgis.MessageLevel.Warning)
        self.job, self.on_done = job, on_done
        self.result: HeatmapResult | None = None
        self.layer: QgsRasterLayer | None = None

    def compute(self) -> None:
        self.result = self.job.execute(self.setProgress, self.isCanceled)

    def publish(self) -> str:
        self.layer = load_heatmap(self.result)
        QgsProject.instance().addMapLayer(self.layer)
        done = self.result
        notes = "".join(f"; {note}" for note in done.notes)
        return f"{done.title}: {done.coverage()}, wrote {done.path.name}{notes}"  # the layer's source: the path

    def done(self) -> None:
        if self.on_done is not None:
            self.on_done(self.layer)
