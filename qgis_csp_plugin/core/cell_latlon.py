"""Cell centres in any CRS → (lat, lon) degrees, with a validity mask instead of errors.

A :data:`ToLatLon` maps x, y arrays to float32 ``(N, 2)`` (lat, lon) and a bool mask of the
cells that have a place on Earth. :func:`osr_to_latlon` builds one with ``osgeo.osr`` (part of
every QGIS install; pyproj is not): a cell is valid when PROJ inverts it to finite coordinates with
|lat| ≤ 90 *and* projecting that (lat, lon) back lands on the cell centre (within ``tolerance``
CRS units). The round trip rejects the corners of world and polar projections, where PROJ may
return plausible-looking but wrong coordinates. Longitudes are wrapped to [-180, 180).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain

import numpy as np
from osgeo import gdal, osr

from .errors import CspError

ToLatLon = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def latlon_from_lonlat(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stack to float32 (lat, lon) with wrapped longitudes; mask of finite points with |lat| ≤ 90."""
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90.0)
        lon = np.where(valid, np.mod(lon + 180.0, 360.0) - 180.0, 0.0)
    lat = np.where(valid, lat, 0.0)
    return np.stack([lat, lon], axis=1).astype(np.float32), valid


def geographic_to_latlon(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The :data:`ToLatLon` of EPSG:4326 with (x, y) = (lon, lat): no projection at all."""
    return latlon_from_lonlat(np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64))


def osr_to_latlon(wkt: str, tolerance: float) -> ToLatLon:
    """A :data:`ToLatLon` from the CRS ``wkt`` through PROJ (see the module doc for validity)."""
    source = _srs(wkt)
    wgs84 = _srs("EPSG:4326")
    if source.IsSame(wgs84):
        return geographic_to_latlon
    inverse = osr.CoordinateTransformation(source, wgs84)
    forward = osr.CoordinateTransformation(wgs84, source)

    def to_latlon(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        points = np.stack([xs, ys], axis=1).astype(np.float64)
        lonlat = _transform(inverse, points)
        latlon, valid = latlon_from_lonlat(lonlat[:, 0], lonlat[:, 1])
        back = _transform(forward, lonlat[valid])
        error = np.hypot(back[:, 0] - points[valid, 0], back[:, 1] - points[valid, 1])
        valid[valid] = np.isfinite(error) & (error <= tolerance)
        return latlon, valid

    return to_latlon


def _srs(definition: str) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    if srs.SetFromUserInput(definition) != 0:
        raise CspError(f"not a coordinate reference system: {definition[:80]!r}")
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def _transform(transform: osr.CoordinateTransformation, points: np.ndarray) -> np.ndarray:
    """``(N, 2)`` → ``(N, 2)``; points PROJ cannot transform become inf (never an exception)."""
    if len(points) == 0:
        return np.zeros((0, 2))
    # GDAL 3.6 raises on the first failed point when exceptions are on; off, failures become inf.
    # The flag is process-wide: it is restored right after this call.
    use_exceptions = osr.GetUseExceptions()
    if use_exceptions:
        osr.DontUseExceptions()
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        triples = transform.TransformPoints(points)  # a list of (x, y, z) tuples
        # fromiter over the flattened tuples is ~2x faster than np.asarray on the list.
        out = np.fromiter(chain.from_iterable(triples), np.float64, count=3 * len(triples)).reshape(-1, 3)[:, :2]
    finally:
        gdal.PopErrorHandler()
        if use_exceptions:
            osr.UseExceptions()
    return out
