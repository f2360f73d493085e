"""Cell centres in any CRS → (lat, lon) degrees, with an on-Earth mask instead of errors.

A :class:`LatLonTransform` maps x, y arrays to float32 ``(N, 2)`` (lat, lon) and a bool mask of
the cells that have a place on Earth: exactly for any points (``transform(xs, ys)``) and fast for
the cells of a grid's rows (:meth:`~LatLonTransform.grid_rows`). :func:`latlon_transform` builds
one with GDAL (part of every QGIS install; pyproj is not). In a projected CRS a cell is on Earth
when PROJ inverts it to finite coordinates with |lat| ≤ 90 *and* projecting that (lat, lon) back
lands on the cell centre (within ``tolerance`` CRS units): the round trip rejects the corners of
world and polar projections, where PROJ may return plausible-looking but wrong coordinates. Grid
rows are transformed exactly at a few cells and interpolated in between within 1/8 of a cell
(:mod:`.row_interpolation`); in WGS84 itself no projection is needed at all. Longitudes are wrapped
to [-180, 180).
"""

from __future__ import annotations

import numpy as np
from osgeo import gdal, gdal_array, osr

from ..contract.errors import GeoSslError
from .grid import CellGrid
from .row_interpolation import interpolated_rows


def latlon_from_lonlat(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stack to float32 (lat, lon) with wrapped longitudes; mask of finite points with |lat| ≤ 90."""
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90.0)
        lon = np.where(valid, np.mod(lon + 180.0, 360.0) - 180.0, 0.0)
    lat = np.where(valid, lat, 0.0)
    return np.stack([lat, lon], axis=-1).astype(np.float32).reshape(-1, 2), valid.ravel()


class LatLonTransform:
    """(lat, lon) of cell centres in one CRS; this base class is WGS84 with (x, y) = (lon, lat)."""

    def __call__(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Float32 ``(N, 2)`` (lat, lon) of the points and their on-Earth mask."""
        return latlon_from_lonlat(np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64))

    def grid_rows(self, grid: CellGrid, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`__call__` for the cells of rows ``r0:r1`` of ``grid``, row-major."""
        xs, ys = grid.axes(r0, r1)
        latlon = np.empty((r1 - r0, grid.n_cols, 2), dtype=np.float32)
        on_earth = np.abs(ys) <= 90.0
        latlon[:, :, 0] = np.where(on_earth, ys, 0.0)[:, None]
        latlon[:, :, 1] = (np.mod(xs + 180.0, 360.0) - 180.0)[None, :]
        latlon[~on_earth, :, 1] = 0.0
        return latlon.reshape(-1, 2), np.repeat(on_earth, grid.n_cols)


class ProjTransform(LatLonTransform):
    """Any other CRS, through GDAL's PROJ transformers (see the module doc for validity)."""

    def __init__(self, wkt: str, tolerance: float) -> None:
        self.tolerance = tolerance
        self._inverse = _transformer(wkt, "EPSG:4326")
        self._forward = _transformer("EPSG:4326", wkt)

    def exact(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact float64 ``(lat, lon, on_earth)`` of flat arrays of points."""
        lon, lat = _geolocate(self._inverse, xs, ys)
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90.0)
            back_x, back_y = _geolocate(self._forward, lon[valid], lat[valid])
            error = np.sqrt((back_x - xs[valid]) ** 2 + (back_y - ys[valid]) ** 2)
            valid[valid] = np.isfinite(error) & (error <= self.tolerance)
        return lat, lon, valid

    def __call__(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = np.asarray(xs, dtype=np.float64).ravel(), np.asarray(ys, dtype=np.float64).ravel()
        lat, lon, valid = self.exact(xs, ys)
        latlon, finite = latlon_from_lonlat(lon, lat)
        return latlon, valid & finite

    def grid_rows(self, grid: CellGrid, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = grid.axes(r0, r1)
        lat, lon, valid = interpolated_rows(self.exact, xs[0], grid.cell_w, grid.n_cols, ys)
        latlon = np.empty((*lat.shape, 2), dtype=np.float32)
        with np.errstate(over="ignore", invalid="ignore"):  # off-Earth cells may hold inf/NaN: zeroed below
            latlon[..., 0], latlon[..., 1] = lat, lon
            latlon, valid = latlon.reshape(-1, 2), valid.ravel()
            lon32 = latlon[:, 1]  # interpolated longitudes lie within one turn of [-180, 180)
            lon32[lon32 >= 180.0] -= 360.0
            lon32[lon32 < -180.0] += 360.0
        latlon[~valid] = 0.0
        return latlon, valid


def latlon_transform(wkt: str, tolerance: float) -> LatLonTransform:
    """The :class:`LatLonTransform` of the CRS ``wkt`` (round-trip ``tolerance`` in CRS units)."""
    source = _srs(wkt)
    if source.IsSame(_srs("EPSG:4326")):
        return LatLonTransform()
    return ProjTransform(wkt, tolerance)


def _srs(definition: str) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    try:
        failed = srs.SetFromUserInput(definition) != 0
    except RuntimeError:  # osr with exceptions on (QGIS's Processing turns them on)
        failed = True
    if failed:
        raise GeoSslError(f"not a coordinate reference system: {definition[:80]!r}")
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def _transformer(source: str, target: str) -> gdal.Transformer:
    """A GDAL reprojection transformer (x = easting/longitude whatever the CRS's axis order)."""
    try:
        transformer = gdal.Transformer(None, None, [f"SRC_SRS={source}", f"DST_SRS={target}"])
    except RuntimeError:  # GDAL with exceptions on
        transformer = None
    if transformer is None:
        raise GeoSslError(f"cannot transform coordinates from {source[:60]!r} to {target[:60]!r}: "
                          f"{gdal.GetLastErrorMsg()}")
    return transformer


def _geolocate(transformer: gdal.Transformer, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Transformed copies of flat float64 ``xs``, ``ys``; points PROJ cannot transform become inf.

    The arrays are wrapped as in-memory GDAL bands (no copy) and transformed in C, row by row.
    """
    x = np.array(xs, dtype=np.float64).reshape(1, -1)
    y = np.array(ys, dtype=np.float64).reshape(1, -1)
    if x.size == 0:
        return x[0], y[0]
    datasets = [gdal_array.OpenArray(a) for a in (x, y, np.zeros_like(x))]
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        transformer.TransformGeolocations(*(d.GetRasterBand(1) for d in datasets))
    finally:
        gdal.PopErrorHandler()
    return x[0], y[0]
