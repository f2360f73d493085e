"""Stream a GeoTIFF to disk in row blocks; the file appears under its name only when complete.

Rows are written to a hidden temporary file beside the target (unique per run, see
:mod:`..contract.temp_files`), which is renamed over the target only when GDAL reports no error on writing,
flushing and closing (a full disk fails the run and keeps the old file); it is deleted on any error
or cancel, so no partial heatmap is ever left behind, whether GDAL's Python exceptions are on (as in
``qgis_process``) or off (:mod:`.gdal_calls`). The ``.aux.xml`` sidecar GDAL writes for CRSs without
GeoTIFF keys (e.g. Equal Earth) moves with it; stale companions of an older file (statistics, overviews,
masks) are removed (:func:`~.staging.replace_companions`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType

import numpy as np
from osgeo import gdal

from ..contract import temp_files
from ..contract.errors import GeoSslError
from .gdal_calls import UNKNOWN, closing_errors, gdal_call
from .staging import check_output_paths, replace_companions

# DEFLATE level 1 (fast; higher levels gain little here), bands stored apart (an RGB heatmap
# compresses 2x better than pixel-interleaved), and the floating-point predictor for Float32
# (smooth maps shrink by a third).
CREATE_OPTIONS = ["COMPRESS=DEFLATE", "ZLEVEL=1", "INTERLEAVE=BAND", "TILED=NO", "BIGTIFF=IF_SAFER"]
FLOAT_OPTIONS = ["PREDICTOR=3"]
CLASS_NAMES_KEY = "GEOSSL_CLASS_NAMES"
OUTPUT_KEY = "GEOSSL_OUTPUT"  # dataset metadata of every file written here: not an image to classify


class GeoTiffWriter:
    """``with GeoTiffWriter(...) as out: out.write(row0, block)`` with block ``(bands, rows, cols)``.

    ``categories`` names the values of a class-id raster (class i = entry i) in the band metadata
    item :data:`CLASS_NAMES_KEY` (a JSON list, stored inside the TIFF: no sidecar file), so that
    the file says which class each id is. Every file carries :data:`OUTPUT_KEY`, so that dialogs do not
    offer the plugin's own outputs (heatmaps, class rasters) as images to classify.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, bands: int, data_type: int,
                 geotransform: tuple[float, ...], wkt: str, nodata: float,
                 band_names: list[str] | None = None, categories: list[str] | None = None) -> None:
        self.path = Path(path)
        self.temp: Path | None = None  # a unique temporary name, made on entering
        self.shape = (bands, height, width)
        self._settings = (data_type, geotransform, wkt, nodata, band_names or [], categories or [])
        self._dataset = None

    def __enter__(self) -> GeoTiffWriter:
        data_type, geotransform, wkt, nodata, band_names, categories = self._settings
        bands, height, width = self.shape
        check_output_paths([self.path])
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.temp = temp_files.temp_file(self.path)
        except OSError as exc:
            raise GeoSslError(f"cannot write in {self.path.parent}: {exc.strerror or exc}") from exc
        options = CREATE_OPTIONS + (FLOAT_OPTIONS if data_type == gdal.GDT_Float32 else [])
        driver = gdal.GetDriverByName("GTiff")
        self._dataset, failure = gdal_call(driver.Create, str(self.temp), width, height, bands, data_type, options)
        if self._dataset is None or failure:
            self._close()
            temp_files.remove(self.temp)
            raise GeoSslError(f"could not write {self.path.name} ({failure or 'GDAL created no dataset'})")
        calls = [(self._dataset.SetGeoTransform, geotransform), (self._dataset.SetProjection, wkt),
                 (self._dataset.SetMetadataItem, OUTPUT_KEY, "geo-SSL for QGIS")]
        for index in range(bands):
            band = self._dataset.GetRasterBand(index + 1)
            calls.append((band.SetNoDataValue, nodata))
            if index < len(band_names):
                calls.append((band.SetDescription, band_names[index]))
        if categories:  # class names of a class-id raster: value i is categories[i]
            calls.append((self._dataset.GetRasterBand(1).SetMetadataItem, CLASS_NAMES_KEY, json.dumps(categories)))
        for function, *args in calls:
            failure = gdal_call(function, *args)[1]
            if failure:
                self._close()
                temp_files.remove(self.temp)
                raise GeoSslError(f"could not write {self.path.name} ({failure})")
        return self

    def write(self, row0: int, block: np.ndarray) -> None:
        """Write ``block`` (``(bands, rows, cols)`` or ``(rows, cols)`` for one band) at ``row0``."""
        block = block.reshape((self.shape[0], -1, self.shape[2]))
        for index, rows in enumerate(block):
            status, failure = gdal_call(self._dataset.GetRasterBand(index + 1).WriteArray, rows, 0, row0)
            if failure or status != 0:
                raise GeoSslError(f"could not write {self.path.name} (rows {row0}+: {failure or UNKNOWN})")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        failure = self._close()
        if kind is not None:
            temp_files.remove(self.temp)
            return
        if failure:
            temp_files.remove(self.temp)
            raise GeoSslError(f"could not write {self.path.name} ({failure}); the previous file, if any, is unchanged")
        try:
            os.replace(self.temp, self.path)
        except OSError as exc:
            temp_files.remove(self.temp)
            raise GeoSslError(f"cannot replace {self.path} (open in another program?): {exc}") from exc
        temp_files.release(self.temp)
        replace_companions(self.temp, self.path)

    def _close(self) -> str | None:
        """Flush and close the dataset; GDAL's error messages if that failed (e.g. disk full)."""
        dataset, self._dataset = self._dataset, None
        if dataset is None:
            return None
        failure = gdal_call(dataset.FlushCache)[1]
        with closing_errors() as closing:
            del dataset  # closing writes the last strips and the directory
        return "; ".join(dict.fromkeys(m for m in (failure, *closing) if m)) or None
