"""QgsTask computing a prepared heatmap in the background (progress, cancel, messages, styled layer)."""

from __future__ import annotations

from collections.abc import Callable

from qgis.core import Qgis, QgsProject, QgsRasterLayer, QgsTask

from ..core.errors import CspError
from ..core.heatmap import HeatmapCanceled, HeatmapResult
from .heatmap_job import HeatmapJob
from .heatmap_layers import load_heatmap
from .messages import show_error, show_info


class HeatmapTask(QgsTask):
    """Runs ``job`` in a worker thread; adds the styled heatmap layer to the project when done.

    Cancel or error leave no file (the GeoTIFF is written under a temporary name) and no layer.
    """

    def __init__(self, job: HeatmapJob, iface=None,
                 on_done: Callable[[QgsRasterLayer | None], None] | None = None) -> None:
        super().__init__(job.description, QgsTask.CanCancel)
        self.job, self.iface, self.on_done = job, iface, on_done
        self.result: HeatmapResult | None = None
        self.error: str | None = None
        self.layer: QgsRasterLayer | None = None

    def run(self) -> bool:
        try:
            self.result = self.job.run(self.setProgress, self.isCanceled)
        except HeatmapCanceled:
            return False
        except CspError as exc:
            self.error = str(exc)
            return False
        except Exception as exc:  # noqa: BLE001 - shown as a message, never as a traceback dialog
            self.error = f"heatmap failed: {type(exc).__name__}: {exc}"
            return False
        return True

    def finished(self, result: bool) -> None:
        if not result:
            if self.error:
                show_error(self.iface, self.error)
            else:
                show_info(self.iface, "Heatmap canceled; nothing was written.", Qgis.Warning)
        else:
            try:
                self.layer = load_heatmap(self.result)
            except CspError as exc:
                show_error(self.iface, str(exc))
            else:
                QgsProject.instance().addMapLayer(self.layer)
                done = self.result
                notes = "".join(f"; {note}" for note in done.notes)
                show_info(self.iface, f"{done.title}: {done.valid_cells:,} of {done.total_cells:,} cells on Earth, "
                                      f"wrote {done.path}{notes}")
        if self.on_done is not None:
            self.on_done(self.layer)
