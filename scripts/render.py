"""Render layers to a PNG with QgsMapRendererParallelJob (docs images, tests)."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsMapLayer,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsRectangle,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor


def render_layers_png(layers: list[QgsMapLayer], extent: QgsRectangle, path: str | Path,
                      size: tuple[int, int] = (800, 800), crs: QgsCoordinateReferenceSystem | None = None) -> Path:
    """Draw ``layers`` (first on top) over ``extent`` into ``path``; returns the path."""
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(crs or layers[-1].crs())
    settings.setExtent(extent)
    settings.setOutputSize(QSize(*size))
    settings.setBackgroundColor(QColor("white"))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not job.renderedImage().save(str(path), "PNG"):
        raise OSError(f"could not write {path}")
    return path
