"""Write classified tiles to GeoPackage/GeoTIFF and load them as styled QGIS layers."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
from osgeo import gdal
from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransformContext,
    QgsFeature,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProviderRegistry,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorFileWriter,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QMetaType

from ..contract.errors import GeoSslError
from ..core.classify import TileResults
from ..core.gdal_calls import closing_errors, gdal_call
from ..core.geotiff import CLASS_NAMES_KEY, GeoTiffWriter
from ..core.kinds import OutputKind
from ..core.tile_table import field_aliases, field_specs, rows
from ..core.tiling import TileGrid
from .styling import apply_categorized, apply_paletted, apply_pseudocolor, class_colors

CLASS_NODATA = 255
PROBABILITY_NODATA = -1.0
TOP_K = 3
QT_TYPES = {str: QMetaType.Type.QString, int: QMetaType.Type.Int, float: QMetaType.Type.Double}


def write_tile_vector(path: Path, results: TileResults, crs: QgsCoordinateReferenceSystem) -> None:
    """GeoPackage of tile polygons with the :mod:`core.tile_table` attributes, read back to check it is
    complete (:func:`check_geopackage`: the writer reports neither a failed COMMIT nor a spatial index it
    could not build, e.g. on a full disk); the class names of the probability fields are kept in the
    layer's metadata (:func:`stored_class_names`)."""
    fields = QgsFields()
    for name, kind in field_specs(results.class_names, TOP_K):
        fields.append(QgsField(name, QT_TYPES[kind]))
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = "tiles"
    writer = QgsVectorFileWriter.create(str(path), fields, Qgis.WkbType.Polygon, crs,
                                        QgsCoordinateTransformContext(), options)
    if writer.hasError() != QgsVectorFileWriter.WriterError.NoError:
        raise GeoSslError(f"cannot write {path.name}: {writer.errorMessage()}")
    try:
        for index, attributes in zip(results.indices, rows(results, TOP_K)):
            e = results.grid.tile_extent(int(index))
            feature = QgsFeature(fields)
            feature.setGeometry(QgsGeometry.fromRect(QgsRectangle(e.xmin, e.ymin, e.xmax, e.ymax)))
            feature.setAttributes(attributes)
            if not writer.addFeature(feature):
                raise GeoSslError(f"cannot write {path.name}: {writer.errorMessage()}")
    finally:
        del writer
    check_geopackage(path, "tiles", len(results.indices))
    _store_class_names(path, results.class_names)


def _store_class_names(path: Path, class_names: list[str]) -> None:
    """The class names (in class order: :func:`~..core.tile_table.probability_fields` maps them to the
    fields) as the ``tiles`` layer's metadata item :data:`CLASS_NAMES_KEY`, as in the class rasters (GDAL
    keeps it in ``gpkg_metadata``; GeoPackage has no field aliases before GDAL 3.7)."""
    dataset, failure = gdal_call(gdal.OpenEx, str(path), gdal.OF_VECTOR | gdal.OF_UPDATE)
    if dataset is not None and not failure:
        table = dataset.GetLayerByName("tiles")
        failure = gdal_call(table.SetMetadataItem, CLASS_NAMES_KEY, json.dumps(class_names))[1]
        del table
        failure = failure or gdal_call(dataset.FlushCache)[1]
    with closing_errors() as closing:
        del dataset
    if failure or closing:
        raise GeoSslError(f"could not write {path.name} ({failure or closing[0]}): is the disk full?")


def stored_class_names(layer: QgsVectorLayer) -> list[str] | None:
    """The class names a Classify tile layer stores (:func:`_store_class_names`); ``None`` for other layers."""
    if layer.providerType() != "ogr":
        return None
    parts = QgsProviderRegistry.instance().decodeUri("ogr", layer.source())
    dataset = gdal_call(gdal.OpenEx, parts.get("path", ""), gdal.OF_VECTOR | gdal.OF_READONLY)[0]
    table = dataset.GetLayerByName(parts.get("layerName") or "tiles") if dataset is not None else None
    stored = table.GetMetadataItem(CLASS_NAMES_KEY) if table is not None else None
    try:
        names = json.loads(stored) if stored else None
    except ValueError:
        return None
    return names if isinstance(names, list) and all(isinstance(n, str) for n in names) else None


def set_probability_aliases(layer: QgsVectorLayer, class_names: list[str]) -> None:
    """Each ``p_`` field's alias: its class name (shown in the attribute table and forms)."""
    for field, name in field_aliases(class_names).items():
        index = layer.fields().indexOf(field)
        if index >= 0:
            layer.setFieldAlias(index, name)


def check_geopackage(path: Path, table: str, n_features: int) -> None:
    """Raise :class:`GeoSslError` unless ``path`` holds ``table`` with ``n_features`` rows and its complete
    spatial index: the ``rtree_<table>_<geometry>`` table with a row per feature, registered in
    ``gpkg_extensions`` (read with SQLite itself, whatever GDAL's exception state)."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            rows = db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
            indexed = _spatial_index_rows(db, table)
    except sqlite3.Error as exc:
        reason = f"the {table} table is missing or unreadable: {exc}"
    else:
        reason = (f"{rows:,} of {n_features:,} {table} rows" if rows != n_features else
                  "its spatial index is missing or incomplete" if indexed != n_features else None)
    if reason:
        raise GeoSslError(f"could not write {path.name} ({reason}): is the disk full?")


def _spatial_index_rows(db: sqlite3.Connection, table: str) -> int:
    """Rows of ``table``'s R-tree when ``gpkg_extensions`` registers one, else -1."""
    try:
        geometry = db.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?",
                              (table,)).fetchone()
        registered = db.execute("SELECT COUNT(*) FROM gpkg_extensions WHERE table_name = ? AND "
                                "extension_name = 'gpkg_rtree_index'", (table,)).fetchone()[0]
        if geometry is None or not registered:
            return -1
        return db.execute(f'SELECT COUNT(*) FROM "rtree_{table}_{geometry[0]}"').fetchone()[0]
    except sqlite3.OperationalError:  # no such table
        return -1


def write_cell_raster(path: Path, results: TileResults, values: np.ndarray, nodata: float,
                      data_type: int, crs: QgsCoordinateReferenceSystem, categories: list[str] | None = None) -> None:
    """GeoTIFF with one cell per tile (see ``TileGrid.cell_geotransform``); unprocessed cells are nodata."""
    grid = results.grid
    image = np.full(grid.n_tiles, nodata, dtype=values.dtype)
    image[results.indices] = values
    with GeoTiffWriter(path, grid.n_cols, grid.n_rows, 1, data_type, grid.cell_geotransform(),
                       crs.toWkt(Qgis.CrsWktVariant.PreferredGdal), nodata, categories=categories) as out:
        out.write(0, image.reshape(grid.n_rows, grid.n_cols))


def write_class_raster(path: Path, results: TileResults, crs: QgsCoordinateReferenceSystem) -> None:
    write_cell_raster(path, results, class_values(results.class_ids), CLASS_NODATA, gdal.GDT_Byte, crs,
                      categories=results.class_names)


def write_probability_raster(path: Path, results: TileResults, crs: QgsCoordinateReferenceSystem) -> None:
    """Float32 probability of the predicted class per tile."""
    values = probability_values(results.probabilities, results.skipped)
    write_cell_raster(path, results, values, PROBABILITY_NODATA, gdal.GDT_Float32, crs)


def class_values(ids: np.ndarray) -> np.ndarray:
    """Class ids as bytes, :data:`CLASS_NODATA` for -1."""
    return np.where(ids < 0, CLASS_NODATA, ids).astype(np.uint8)


def probability_values(probabilities: np.ndarray, nodata: np.ndarray) -> np.ndarray:
    """Float32 probability of the predicted class (the last axis holds the classes), :data:`PROBABILITY_NODATA`
    where ``nodata``."""
    values = np.nan_to_num(np.nanmax(np.where(nodata[..., None], 0, probabilities), axis=-1),
                           nan=0.0).astype(np.float32)
    values[nodata] = PROBABILITY_NODATA
    return values


def open_pixel_raster(kind: OutputKind, path: Path, grid: TileGrid, class_names: list[str],
                      crs: QgsCoordinateReferenceSystem) -> GeoTiffWriter:
    """The class (``kind`` CLASSES) or probability raster of a map of every pixel (one cell per pixel of
    ``grid``), written strip by strip with :func:`pixel_rows`; open it with ``with``."""
    classes = kind == OutputKind.CLASSES
    return GeoTiffWriter(path, grid.n_cols, grid.n_rows, 1, gdal.GDT_Byte if classes else gdal.GDT_Float32,
                         grid.cell_geotransform(), crs.toWkt(Qgis.CrsWktVariant.PreferredGdal),
                         CLASS_NODATA if classes else PROBABILITY_NODATA, categories=class_names if classes else None)


def pixel_rows(kind: OutputKind, ids: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """The values of :func:`open_pixel_raster`'s raster for a strip's class ids (-1: nodata) and probabilities."""
    return class_values(ids) if kind == OutputKind.CLASSES else probability_values(probabilities, ids < 0)


def load_tile_vector(path: Path, name: str, class_names: list[str], colors: list[str] | None) -> QgsVectorLayer:
    layer = QgsVectorLayer(f"{path}|layername=tiles", name, "ogr")
    _check_valid(layer, path)
    set_probability_aliases(layer, class_names)
    palette = class_colors(class_names, colors)
    apply_categorized(layer, "class", [(c, c, color) for c, color in zip(class_names, palette)])
    return layer


def load_class_raster(path: Path, name: str, class_names: list[str], colors: list[str] | None) -> QgsRasterLayer:
    layer = QgsRasterLayer(str(path), name, "gdal")
    _check_valid(layer, path)
    palette = class_colors(class_names, colors)
    apply_paletted(layer, [(i, c, color) for i, (c, color) in enumerate(zip(class_names, palette))])
    return layer


def load_probability_raster(path: Path, name: str) -> QgsRasterLayer:
    layer = QgsRasterLayer(str(path), name, "gdal")
    _check_valid(layer, path)
    apply_pseudocolor(layer, 0.0, 1.0)
    return layer


def _check_valid(layer, path: Path) -> None:
    if not layer.isValid():
        raise GeoSslError(f"the output {path} could not be opened as a layer")
