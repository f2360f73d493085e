"""A classification as the assessment sees it: class names, the class at a point, mapped areas.

Two sources: a class-id raster (names from the class-name metadata *Classify layer* writes, else its
GDAL category names, else its paletted style, else the ids themselves) or classified tile polygons with a text
``class`` field (areas from the polygons' ellipsoidal areas; the overlapping tiles of a dense run count
with their cells).
"""

from __future__ import annotations

import json

import numpy as np
from osgeo import gdal
from qgis.core import (
    Qgis,
    QgsDistanceArea,
    QgsGeometry,
    QgsPalettedRasterRenderer,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsSpatialIndex,
    QgsUnitTypes,
    QgsVectorLayer,
)

from ..contract.errors import GeoSslError
from ..core.class_areas import SQUARE_METRES_PER_HECTARE, add_counts, geographic_row_hectares
from ..core.class_labels import label_text, ordered_classes
from ..core.dense import tile_cell_boxes
from ..core.gdal_calls import gdal_call
from ..core.geotiff import CLASS_NAMES_KEY
from .provider_reader import DTYPES

STRIP_ROWS = 256
MAX_CLASS_VALUE = 65_535


class RasterClassMap:
    """A single-band integer class raster read through its QGIS data provider."""

    def __init__(self, layer: QgsRasterLayer) -> None:
        if layer is None or not layer.isValid():
            raise GeoSslError("the classification raster is missing or cannot be read")
        self.layer, self.provider, self.crs = layer, layer.dataProvider(), layer.crs()
        self.nodata = self.provider.sourceNoDataValue(1) if self.provider.sourceHasNoDataValue(1) else None
        self.cell_size = layer.rasterUnitsPerPixelX()
        self.pixels, self.hectares = self._count()
        values = np.flatnonzero(self.pixels)
        names = self._names()
        self.values = values
        self.class_names = [names.get(int(v), str(int(v))) for v in values]

    def _names(self) -> dict[int, str]:
        """Class names by value. The file is opened read-only for its metadata and never modified, so GDAL
        writes no ``.aux.xml`` beside the user's raster (whatever GDAL's exception state)."""
        dataset = (gdal_call(gdal.OpenEx, self.layer.source(), gdal.OF_RASTER | gdal.OF_READONLY)[0]
                   if self.provider.name() == "gdal" else None)
        if dataset is not None:
            band = dataset.GetRasterBand(1)
            ours = band.GetMetadataItem(CLASS_NAMES_KEY)
            # gdal.Info, not Band.GetCategoryNames: the latter returns None in GDAL 3.6's Python bindings
            categories = json.loads(ours) if ours else gdal.Info(dataset, format="json")["bands"][0].get("categories")
            if categories:
                return {i: name for i, name in enumerate(categories) if name}
        renderer = self.layer.renderer()
        if isinstance(renderer, QgsPalettedRasterRenderer):
            return {int(c.value): c.label or str(int(c.value)) for c in renderer.classes()}
        return {}

    def _count(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixels and hectares per class value, read in strips of rows."""
        width, height = self.layer.width(), self.layer.height()
        extent = self.layer.extent()
        res_x, res_y = self.layer.rasterUnitsPerPixelX(), self.layer.rasterUnitsPerPixelY()
        pixels = np.zeros(MAX_CLASS_VALUE + 1)
        hectares = np.zeros(MAX_CLASS_VALUE + 1)
        geographic = self.crs.isGeographic()
        metres = QgsUnitTypes.fromUnitToUnitFactor(self.crs.mapUnits(), Qgis.DistanceUnit.Meters)
        for row0 in range(0, height, STRIP_ROWS):
            rows = min(STRIP_ROWS, height - row0)
            top = extent.yMaximum() - row0 * res_y
            block = self.provider.block(1, QgsRectangle(extent.xMinimum(), top - rows * res_y, extent.xMaximum(), top),
                                        width, rows)
            values = _block_array(block, rows, width)
            ids = np.where(self._valid(values), values, -1).astype(np.int64)
            add_counts(pixels, ids)
            if geographic:
                row_ha = geographic_row_hectares(top, res_y, res_x, rows)
                add_counts(hectares, ids, np.repeat(row_ha, width).reshape(rows, width))
            else:
                add_counts(hectares, ids, np.full(ids.shape, res_x * res_y * metres ** 2 / SQUARE_METRES_PER_HECTARE))
        return pixels, hectares

    def _valid(self, values: np.ndarray) -> np.ndarray:
        valid = np.isfinite(values) & (values >= 0) & (values <= MAX_CLASS_VALUE) & (values == np.round(values))
        return valid if self.nodata is None else valid & (values != self.nodata)

    @property
    def class_pixels(self) -> np.ndarray:
        return self.pixels[self.values]

    @property
    def class_hectares(self) -> np.ndarray:
        return self.hectares[self.values]

    def classes_at(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Index into :attr:`class_names` at each point (map CRS); -1 outside the raster or on nodata."""
        position = {int(v): i for i, v in enumerate(self.values)}
        out = np.full(len(xs), -1, dtype=np.int64)
        for k, (x, y) in enumerate(zip(xs, ys)):
            value, ok = self.provider.sample(QgsPointXY(float(x), float(y)), 1)
            if ok and np.isfinite(value) and (self.nodata is None or value != self.nodata):
                out[k] = position.get(int(value), -1)
        return out


class VectorClassMap:
    """Classified polygons (e.g. *Classify layer*'s tiles) with a text class field.

    The tiles of a dense run (stride below the tile size) overlap: each then stands for its cell (the
    stride square at its centre, as in the class raster), so that a place has one class and no area is
    counted twice (:func:`~..core.dense.tile_cell_boxes`).
    """

    def __init__(self, layer: QgsVectorLayer, field: str = "class") -> None:
        if layer is None or not layer.isValid():
            raise GeoSslError("the classification layer is missing or cannot be read")
        if layer.fields().indexOf(field) < 0:
            raise GeoSslError(f"the classification layer {layer.name()!r} has no field {field!r}")
        self.layer, self.crs, self.field = layer, layer.crs(), field
        self.labels: dict[int, str] = {}
        geometries: dict[int, QgsGeometry] = {}
        rectangles = True
        for feature in layer.getFeatures():
            label = label_text(feature[field])
            geometry = feature.geometry()
            if label is None or label == "nodata" or geometry.isEmpty():
                continue
            self.labels[feature.id()] = label
            geometries[feature.id()] = geometry
            box = geometry.boundingBox()
            rectangles &= abs(geometry.area() - box.area()) <= 1e-9 * box.area()
        if not self.labels:
            raise GeoSslError(f"the classification layer {layer.name()!r} has no classified polygon")
        self.cells = _dense_cells(geometries) if rectangles else None
        shapes = ({fid: QgsGeometry.fromRect(cell) for fid, cell in self.cells.items()} if self.cells is not None
                  else geometries)
        area = QgsDistanceArea()
        area.setSourceCrs(self.crs, QgsProject.instance().transformContext())
        area.setEllipsoid(QgsProject.instance().ellipsoid() or "EPSG:7030")
        by_class: dict[str, float] = {}
        for fid, shape in shapes.items():
            hectares = area.convertAreaMeasurement(area.measureArea(shape), Qgis.AreaUnit.Hectares)
            by_class[self.labels[fid]] = by_class.get(self.labels[fid], 0.0) + hectares
        self.class_names = ordered_classes(by_class)
        self.class_hectares = np.array([by_class[n] for n in self.class_names])
        self.cell_size = float(np.median([shape.boundingBox().width() for shape in shapes.values()]))
        self.index = QgsSpatialIndex()
        for fid, shape in shapes.items():
            self.index.addFeature(fid, shape.boundingBox())

    def classes_at(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        position = {name: i for i, name in enumerate(self.class_names)}
        out = np.full(len(xs), -1, dtype=np.int64)
        for k, (x, y) in enumerate(zip(xs, ys)):
            point = QgsPointXY(float(x), float(y))
            for fid in self.index.intersects(QgsRectangle(point, point)):
                inside = (self.cells[fid].contains(point) if self.cells is not None
                          else self.layer.getFeature(fid).geometry().contains(point))
                if inside:
                    out[k] = position[self.labels[fid]]
                    break
        return out


def _dense_cells(geometries: dict[int, QgsGeometry]) -> dict[int, QgsRectangle] | None:
    """The cell of each tile of a dense run, or None when the polygons are not such tiles."""
    fids = list(geometries)
    boxes = np.array([[b.xMinimum(), b.yMinimum(), b.xMaximum(), b.yMaximum()]
                      for b in (geometries[fid].boundingBox() for fid in fids)])
    cells = tile_cell_boxes(*boxes.T)
    if cells is None:
        return None
    return {fid: QgsRectangle(*map(float, corners)) for fid, corners in zip(fids, np.column_stack(cells))}


def _block_array(block, rows: int, width: int) -> np.ndarray:
    """A raster block as float64 ``(rows, width)`` through its typed buffer."""
    if not block.isValid() or block.width() != width or block.height() != rows:
        raise GeoSslError("could not read the classification raster")
    dtype = DTYPES.get(block.dataType())
    if dtype is None:
        raise GeoSslError(f"the classification raster has an unsupported data type ({block.dataType()})")
    return np.frombuffer(bytes(block.data()), dtype=dtype).reshape(rows, width).astype(np.float64)
