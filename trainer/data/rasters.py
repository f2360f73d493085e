"""GeoTIFF reading with rasterio: pixels as float32 and the patch centre as (lat, lon)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
import rasterio
import rasterio.windows
from pyproj import Transformer

from trainer.errors import TrainerError

#: GDAL settings for opening a file to read pixels only: no directory listing (no sidecar files looked for)
#: and no georeferencing read (parsing the CRS costs several times the decoding of a 64 px window).
PIXELS_ONLY = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GDAL_GEOREF_SOURCES": "NONE"}


@contextmanager
def pixels_only() -> Iterator[None]:
    """Files opened inside read :data:`PIXELS_ONLY` (without the warning that they are not georeferenced)."""
    with rasterio.Env(**PIXELS_ONLY), warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        yield


@lru_cache(maxsize=64)
def _to_wgs84(crs_wkt: str) -> Transformer:
    return Transformer.from_crs(crs_wkt, "EPSG:4326", always_xy=True)


def centre_latlon(path: str | Path) -> tuple[float, float]:
    """Centre of a GeoTIFF in WGS84 degrees, as (lat, lon)."""
    with rasterio.open(path) as ds:
        if ds.crs is None:
            raise TrainerError(f"{path} has no CRS: cannot place it on the globe")
        x, y = ds.xy(ds.height / 2, ds.width / 2, offset="ul")
        lon, lat = _to_wgs84(ds.crs.to_wkt()).transform(x, y)
    return float(lat), float(lon)


def read_image(path: str | Path, indices: list[int] | None = None) -> np.ndarray:
    """Pixels of ``path`` as float32 (C, H, W); ``indices`` are 0-based band positions."""
    try:
        with rasterio.open(path) as ds:
            data = ds.read([i + 1 for i in indices] if indices is not None else None)
    except rasterio.errors.RasterioIOError as exc:
        raise TrainerError(f"cannot read image {path}: {exc}") from exc
    return data.astype(np.float32)


def read_window(path: str | Path, indices: list[int], y: int, x: int, size: int,
                dtype: type | None = np.float32) -> np.ndarray:
    """The ``size`` x ``size`` crop at pixel offset ``(y, x)`` of ``path`` as ``dtype`` (the file's own
    type when ``None``), (C, size, size), read with a rasterio window (only the blocks that hold it
    are decoded; the georeferencing is not read: :data:`PIXELS_ONLY`)."""
    window = rasterio.windows.Window(x, y, size, size)
    try:
        with pixels_only(), rasterio.open(path) as ds:
            data = ds.read([i + 1 for i in indices], window=window)
    except rasterio.errors.RasterioIOError as exc:
        raise TrainerError(f"cannot read image {path}: {exc}") from exc
    return data if dtype is None else data.astype(dtype, copy=False)
