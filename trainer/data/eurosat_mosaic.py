"""A labelled test scene from real EuroSAT patches: patches side by side in one GeoTIFF + labels.

EuroSAT patches lie all over Europe, each in its own UTM zone, so they are not mosaicked in place:
they are laid out on a grid (``columns`` patches per row, row-major in the given order) of a new
raster with the patches' own 10 m pixels, georeferenced in UTM 32N from an arbitrary origin. Pixels
are copied unchanged (13 bands, uint16; band descriptions B01…B12, B8A in EuroSAT file order).
Labels: one polygon per patch (its footprint shrunk by
``inset`` px, so that sampling stays inside the patch) and one point per patch centre, both with
fields ``class`` (text), ``class_id`` (int) and ``patch`` (file name), in a GeoPackage.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from osgeo import ogr, osr
from rasterio.transform import from_origin

from trainer.data.bands import EUROSAT_BANDS

EPSG = 32632
ORIGIN = (500_000.0, 5_000_000.0)
GSD = 10.0


def build_mosaic(patches: list[Path], classes: list[str], out_tif: Path, out_gpkg: Path, columns: int = 20,
                 inset: int = 8) -> None:
    """Write ``out_tif`` and ``out_gpkg`` (layers ``patches`` = polygons, ``centres`` = points)."""
    class_ids = {name: i for i, name in enumerate(sorted(set(classes)))}
    with rasterio.open(patches[0]) as first:
        size, bands, dtype = first.width, first.count, first.dtypes[0]
        descriptions = first.descriptions
    rows = -(-len(patches) // columns)
    mosaic = np.zeros((bands, rows * size, columns * size), dtype=dtype)
    for i, path in enumerate(patches):
        r, c = divmod(i, columns)
        with rasterio.open(path) as src:
            mosaic[:, r * size:(r + 1) * size, c * size:(c + 1) * size] = src.read()
    transform = from_origin(ORIGIN[0], ORIGIN[1], GSD, GSD)
    with rasterio.open(out_tif, "w", driver="GTiff", width=mosaic.shape[2], height=mosaic.shape[1], count=bands,
                       dtype=dtype, crs=f"EPSG:{EPSG}", transform=transform, nodata=0, compress="deflate",
                       tiled=True) as dst:
        dst.write(mosaic)
        names = descriptions if all(descriptions) else EUROSAT_BANDS
        for b, name in enumerate(names, start=1):
            dst.set_band_description(b, name)
    _write_labels(patches, classes, class_ids, size, columns, inset, out_gpkg)


def _write_labels(patches: list[Path], classes: list[str], class_ids: dict[str, int], size: int, columns: int,
                  inset: int, out_gpkg: Path) -> None:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    out_gpkg.unlink(missing_ok=True)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(out_gpkg))
    layers = {name: source.CreateLayer(name, srs, kind) for name, kind in
              (("patches", ogr.wkbPolygon), ("centres", ogr.wkbPoint))}
    for layer in layers.values():
        layer.CreateField(ogr.FieldDefn("class", ogr.OFTString))
        layer.CreateField(ogr.FieldDefn("class_id", ogr.OFTInteger))
        layer.CreateField(ogr.FieldDefn("patch", ogr.OFTString))
    for i, (path, label) in enumerate(zip(patches, classes, strict=True)):
        r, c = divmod(i, columns)
        x0, y1 = ORIGIN[0] + c * size * GSD, ORIGIN[1] - r * size * GSD
        lo, hi = inset * GSD, (size - inset) * GSD
        corners = [(x0 + lo, y1 - lo), (x0 + hi, y1 - lo), (x0 + hi, y1 - hi), (x0 + lo, y1 - hi), (x0 + lo, y1 - lo)]
        ring = "(" + ", ".join(f"{x} {y}" for x, y in corners) + ")"
        centre = f"POINT ({x0 + size * GSD / 2} {y1 - size * GSD / 2})"
        for name, wkt in (("patches", f"POLYGON ({ring})"), ("centres", centre)):
            feature = ogr.Feature(layers[name].GetLayerDefn())
            feature.SetField("class", label)
            feature.SetField("class_id", class_ids[label])
            feature.SetField("patch", path.name)
            feature.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
            layers[name].CreateFeature(feature)
    source = None  # closes and flushes the GeoPackage
