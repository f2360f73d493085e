"""Ground metres per CRS unit at a place: the local scale factor of a projected CRS.

Conformal projections such as Web Mercator (EPSG:3857, the CRS of WMS/XYZ basemaps) stretch
distances away from their standard lines: at 60° N one Web Mercator "metre" is half a metre on
the ground. The resolution of a model (metres on the ground) must be converted with this factor.
"""

from __future__ import annotations

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCsException,
    QgsDistanceArea,
    QgsPointXY,
    QgsProject,
    QgsRectangle,
)

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
STEP_FRACTION = 0.01  # measure over 1 % of the extent around its centre


def ground_units_per_metre(crs: QgsCoordinateReferenceSystem, extent: QgsRectangle) -> float | None:
    """CRS units per ground metre at the centre of ``extent`` (mean of the x and y directions);
    ``None`` when the centre cannot be placed on the globe."""
    transform = QgsCoordinateTransform(crs, WGS84, QgsProject.instance())
    distance = QgsDistanceArea()
    distance.setEllipsoid("EPSG:7030")  # WGS 84
    centre = extent.center()
    step = max(extent.width(), extent.height()) * STEP_FRACTION
    try:
        origin = transform.transform(centre)
        east = transform.transform(QgsPointXY(centre.x() + step, centre.y()))
        north = transform.transform(QgsPointXY(centre.x(), centre.y() + step))
    except QgsCsException:
        return None
    metres = (distance.measureLine(origin, east) + distance.measureLine(origin, north)) / 2
    return step / metres if metres > 0 else None
