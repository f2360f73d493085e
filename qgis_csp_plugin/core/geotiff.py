"""Stream a GeoTIFF to disk in row blocks; the file appears under its name only when complete.

Rows are written to a hidden temporary file beside the target, which is renamed over the target
on success and deleted on any error or cancel, so no partial heatmap is ever left behind. The
``.aux.xml`` sidecar GDAL writes for CRSs without GeoTIFF keys (e.g. Equal Earth) moves with it.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import numpy as np
from osgeo import gdal

from ..contract.errors import CspError

# DEFLATE level 1 (fast; higher levels gain little here), bands stored apart (an RGB heatmap
# compresses 2x better than pixel-interleaved), and the floating-point predictor for Float32
# (smooth maps shrink by a third).
CREATE_OPTIONS = ["COMPRESS=DEFLATE", "ZLEVEL=1", "INTERLEAVE=BAND", "TILED=NO", "BIGTIFF=IF_SAFER"]
FLOAT_OPTIONS = ["PREDICTOR=3"]


class GeoTiffWriter:
    """``with GeoTiffWriter(...) as out: out.write(row0, block)`` with block ``(bands, rows, cols)``."""

    def __init__(self, path: str | os.PathLike, width: int, height: int, bands: int, data_type: int,
                 geotransform: tuple[float, ...], wkt: str, nodata: float,
                 band_names: list[str] | None = None) -> None:
        self.path = Path(path)
        self.temp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix or '.tif'}")
        self.shape = (bands, height, width)
        self._settings = (data_type, geotransform, wkt, nodata, band_names or [])
        self._dataset = None

    def __enter__(self) -> GeoTiffWriter:
        data_type, geotransform, wkt, nodata, band_names = self._settings
        bands, height, width = self.shape
        self.path.parent.mkdir(parents=True, exist_ok=True)
        options = CREATE_OPTIONS + (FLOAT_OPTIONS if data_type == gdal.GDT_Float32 else [])
        dataset = gdal.GetDriverByName("GTiff").Create(str(self.temp), width, height, bands, data_type, options)
        if dataset is None:
            raise CspError(f"cannot create the GeoTIFF {self.path}: {gdal.GetLastErrorMsg()}")
        dataset.SetGeoTransform(geotransform)
        dataset.SetProjection(wkt)
        for index in range(bands):
            band = dataset.GetRasterBand(index + 1)
            band.SetNoDataValue(nodata)
            if index < len(band_names):
                band.SetDescription(band_names[index])
        self._dataset = dataset
        return self

    def write(self, row0: int, block: np.ndarray) -> None:
        """Write ``block`` (``(bands, rows, cols)`` or ``(rows, cols)`` for one band) at ``row0``."""
        block = block.reshape((self.shape[0], -1, self.shape[2]))
        for index, rows in enumerate(block):
            if self._dataset.GetRasterBand(index + 1).WriteArray(rows, 0, row0) != 0:
                raise CspError(f"cannot write rows {row0}+ of {self.path}: {gdal.GetLastErrorMsg()}")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        dataset, self._dataset = self._dataset, None
        if dataset is not None:
            dataset.FlushCache()
            dataset = None
        sidecar, temp_sidecar = _aux(self.path), _aux(self.temp)
        if kind is not None:
            self.temp.unlink(missing_ok=True)
            temp_sidecar.unlink(missing_ok=True)
            return
        try:
            os.replace(self.temp, self.path)
        except OSError as exc:
            self.temp.unlink(missing_ok=True)
            temp_sidecar.unlink(missing_ok=True)
            raise CspError(f"cannot replace {self.path} (open in another program?): {exc}") from exc
        if temp_sidecar.exists():  # GDAL keeps CRSs that GeoTIFF keys cannot express (Equal Earth) there
            os.replace(temp_sidecar, sidecar)
        else:
            sidecar.unlink(missing_ok=True)  # stale statistics of an older file


def _aux(path: Path) -> Path:
    return path.with_name(path.name + ".aux.xml")
