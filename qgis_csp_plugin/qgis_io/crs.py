"""CRS and extent helpers: QGIS rectangles ↔ extents, a CRS's world extent, cell centres → (lat, lon)."""

from __future__ import annotations

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCsException,
    QgsProject,
    QgsRectangle,
)

from ..contract.errors import GeoSslError
from ..core.cell_latlon import LatLonTransform, latlon_transform
from ..core.tiling import Extent

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
MERCATOR_LIMIT = 85.0
ROUND_TRIP_TOLERANCE = 0.01  # fraction of a cell


def wkt_of(crs: QgsCoordinateReferenceSystem) -> str:
    return crs.toWkt(Qgis.CrsWktVariant.PreferredGdal)


def cell_to_latlon(crs: QgsCoordinateReferenceSystem, cell_size: float) -> LatLonTransform:
    """(lat, lon) of cell centres through PROJ (GDAL), valid within 1 % of a cell on round trip."""
    if not crs.isValid():
        raise GeoSslError("the heatmap CRS is not valid")
    return latlon_transform(wkt_of(crs), ROUND_TRIP_TOLERANCE * cell_size)


def to_extent(rect: QgsRectangle) -> Extent:
    return Extent(rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())


def world_extent(crs: QgsCoordinateReferenceSystem) -> Extent:
    """The CRS's area of use in its own units (the whole world for world projections)."""
    if crs.isGeographic():
        return Extent(-180.0, -90.0, 180.0, 90.0)
    bounds = crs.bounds()
    if bounds.isEmpty():
        bounds = QgsRectangle(-180.0, -MERCATOR_LIMIT, 180.0, MERCATOR_LIMIT)
    try:
        rect = QgsCoordinateTransform(WGS84, crs, QgsProject.instance()).transformBoundingBox(bounds)
    except QgsCsException as exc:
        raise GeoSslError(f"cannot compute the world extent in {crs.authid()}: choose an extent") from exc
    extent = to_extent(rect)
    if extent.is_empty:
        raise GeoSslError(f"cannot compute the world extent in {crs.authid()}: choose an extent")
    return extent
