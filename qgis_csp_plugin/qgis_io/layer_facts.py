"""Facts about a raster layer the band mapping, radiometry and month rules read: its file name, data
kind and the date-like texts of its name and GDAL metadata."""

from __future__ import annotations

from pathlib import Path

from qgis.core import Qgis, QgsRasterLayer

DATE_KEYS = ("ACQUISITION", "SENSING", "DATE_ACQUIRED", "DATATAKE", "START_TIME")  # not TIFFTAG_DATETIME (written)


def file_name(layer: QgsRasterLayer) -> str:
    """The layer's file name without folder (its source up to any ``|`` option), else its name."""
    source = layer.source().split("|")[0]
    name = Path(source).name
    return name if name and Path(source).exists() else layer.name()


def data_kind(layer: QgsRasterLayer) -> str:
    """``byte`` (8-bit), ``float`` or ``int`` from band 1's data type."""
    kind = layer.dataProvider().dataType(1)
    if kind in (Qgis.DataType.Byte, getattr(Qgis.DataType, "Int8", Qgis.DataType.Byte)):
        return "byte"
    if kind in (Qgis.DataType.ARGB32, Qgis.DataType.ARGB32_Premultiplied):
        return "byte"
    return "float" if kind in (Qgis.DataType.Float32, Qgis.DataType.Float64) else "int"


def date_sources(layer: QgsRasterLayer) -> list[tuple[str, str]]:
    """(what, text) pairs that may hold the acquisition date: the file name, the layer name, GDAL metadata."""
    sources = [("the file name", file_name(layer)), ("the layer name", layer.name())]
    path = layer.source().split("|")[0]
    if layer.providerType() == "gdal" and Path(path).is_file():
        from osgeo import gdal

        dataset = gdal.Open(path)
        if dataset is not None:
            items = dataset.GetMetadata() or {}
            sources += [(f"the metadata item {key}", str(value)) for key, value in items.items()
                        if any(word in key.upper() for word in DATE_KEYS)]
    return sources
