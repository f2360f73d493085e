"""Real multi-date scenes as temporal-positive records: every date co-registered onto one grid.

A scene folder holds one GeoTIFF per date of the same place (``<shared>/multitemporal/<scene>/``; the
date is the ``YYYYMMDD`` or ``YYYY`` in the file name). Dates of a scene have slightly different
grids (sub-pixel shifts, one row more or less), so pairing tiles by pixel offset would pair slightly
different ground. :func:`coregister` resamples every date (bilinear, by geotransform) onto the first
date's pixel grid cut to the area all dates cover, and writes float32 copies to a cache folder (each
atomically through :mod:`qgis_csp_plugin.contract.temp_files`: runs that fill one cache at once never share
a temporary; the folder is swept of dead runs' temporaries first); the
records then share one grid, so the tile at offset ``(y, x)`` is the same ground at every date (the
few nodata pixels, all bands at the nodata value, get the band median), and
:class:`~trainer.data.temporal.TemporalPairs` pairs tiles of one scene (``location_id``) only.

The scenes are 8-bit stretched products of other sensors (NAIP at 5 m, Landsat at ~90 m). The
``multitemporal`` source puts them on the scale of the Sentinel-2 models (``to_s2``): grids finer than
Sentinel-2's 10 m are area-averaged to 10 m, each date's band 2nd/98th percentiles are mapped linearly
onto the Sentinel-2 L1C percentiles of the equivalent band (:data:`S2_EQUIVALENT`,
:data:`~trainer.data.bands.S2_L1C_PERCENTILES`; per date, as the plugin's ``layer_percentiles``
radiometry treats each layer), and the records name their bands by those Sentinel-2 bands, so
they mix with Sentinel-2 sources (``missing_bands: fill`` for the bands they lack).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.warp import Resampling, reproject
from rasterio.windows import Window, from_bounds

from qgis_csp_plugin.contract.temp_files import atomic_file, sweep_folder
from trainer.data.bands import S2_L1C_PERCENTILES
from trainer.data.catalog import REPO_ROOT, SHARED_DATA_ROOT
from trainer.data.rasters import centre_latlon
from trainer.errors import TrainerError

SCENES_ROOT = SHARED_DATA_ROOT / "multitemporal"
CACHE_ROOT = REPO_ROOT / "runs" / "multitemporal"
#: Band names of the known scenes (shared data README), in file order.
SCENE_BANDS = {"naip_nd_2009_2020": ("red", "green", "blue", "nir"),
               "landsat_pucallpa_1985_2020": ("swir1", "nir", "red", "green")}
#: Sentinel-2 band closest to each scene band (NAIP NIR 0.76-0.90 um ~ B08; Landsat SWIR1 ~ B11).
S2_EQUIVALENT = {"red": "B04", "green": "B03", "blue": "B02", "nir": "B08", "swir1": "B11"}
#: Sentinel-2's finest pixel size (m); ``to_s2`` area-averages finer projected grids to it.
S2_PIXEL_M = 10.0
#: Percentiles of each date's band mapped onto :data:`~trainer.data.bands.S2_L1C_PERCENTILES`.
MATCHED_PERCENTILES = (2.0, 98.0)


def acquisition_date(path: Path) -> pd.Timestamp:
    """The date in a file name: ``YYYYMMDD`` (e.g. NAIP tiles) or a bare year ``YYYY``."""
    match = re.search(r"(?<!\d)(\d{8}|\d{4})(?!\d)", path.stem)
    if match is None:
        raise TrainerError(f"{path.name}: no acquisition date (YYYYMMDD or YYYY) in the file name")
    text = match.group(1)
    return pd.Timestamp(f"{text}-01-01" if len(text) == 4 else text, tz="UTC")


def common_window(paths: list[Path]) -> tuple[rasterio.Affine, int, int]:
    """Transform, width and height of the first file's pixel grid cut inward to the area every file covers."""
    with rasterio.open(paths[0]) as ref:
        transform, crs = ref.transform, ref.crs
        bounds = list(ref.bounds)
    for path in paths[1:]:
        with rasterio.open(path) as src:
            if src.crs != crs:
                raise TrainerError(f"{path.name} is in {src.crs}, the scene's first date in {crs}: one CRS per scene")
            b = src.bounds
        bounds = [max(bounds[0], b.left), max(bounds[1], b.bottom), min(bounds[2], b.right), min(bounds[3], b.top)]
    window = from_bounds(*bounds, transform=transform)
    col0, row0 = math.ceil(window.col_off - 1e-6), math.ceil(window.row_off - 1e-6)
    col1 = math.floor(window.col_off + window.width + 1e-6)
    row1 = math.floor(window.row_off + window.height + 1e-6)
    if col1 <= col0 or row1 <= row0:
        raise TrainerError(f"the dates of {paths[0].parent.name} do not overlap")
    return rasterio.windows.transform(Window(col0, row0, col1 - col0, row1 - row0), transform), col1 - col0, row1 - row0


def coarsened(transform: Affine, width: int, height: int, crs: CRS) -> tuple[Affine, int, int]:
    """The grid with pixels of :data:`S2_PIXEL_M` when ``crs`` is projected and its pixels are finer."""
    factor = S2_PIXEL_M / abs(transform.a)
    if not crs.is_projected or factor <= 1:
        return transform, width, height
    return transform * Affine.scale(factor), int(width // factor), int(height // factor)


def to_s2_scale(pixels: np.ndarray, names: tuple[str, ...]) -> None:
    """Map each band's :data:`MATCHED_PERCENTILES` linearly onto the Sentinel-2 L1C percentiles of its
    equivalent band (:data:`S2_EQUIVALENT`), in place."""
    for band, name in zip(pixels, names, strict=True):
        low, high = np.percentile(band, MATCHED_PERCENTILES)
        if high <= low:
            raise TrainerError(f"band {name} is constant: its percentiles cannot be matched")
        target_low, target_high = S2_L1C_PERCENTILES[S2_EQUIVALENT[name]]
        band[:] = (band - low) * ((target_high - target_low) / (high - low)) + target_low


def fill_gaps(pixels: np.ndarray, gaps: np.ndarray) -> None:
    """Give nodata pixels (a few, e.g. Landsat 7 scan gaps) their band's median, so every tile is usable."""
    if gaps.all():
        raise TrainerError("a date has no valid pixel in the area all dates cover")
    for band in pixels:
        band[gaps] = np.median(band[~gaps])


def coregister(scene: Path, cache: Path, to_s2: bool = False) -> list[Path]:
    """Every date of ``scene`` resampled onto one grid (:func:`common_window`), as float32 GeoTIFFs in
    ``cache/<scene name>/`` (reused while newer than their source); paths in date order. With
    ``to_s2`` (``cache/<scene name>_s2/``): on the Sentinel-2 grid and scale (:func:`coarsened`,
    :func:`to_s2_scale`; the scene's band names in :data:`SCENE_BANDS`)."""
    paths = sorted(scene.glob("*.tif"), key=acquisition_date)
    if len(paths) < 2:
        raise TrainerError(f"{scene} holds fewer than two dates (*.tif)")
    transform, width, height = common_window(paths)
    with rasterio.open(paths[0]) as first:
        crs = first.crs
    if to_s2:
        transform, width, height = coarsened(transform, width, height, crs)
    resampling = Resampling.average if to_s2 else Resampling.bilinear
    out_dir = cache / (f"{scene.name}_s2" if to_s2 else scene.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    sweep_folder(out_dir)
    written = []
    for path in paths:
        target = out_dir / path.name
        written.append(target)
        if target.is_file() and target.stat().st_mtime >= path.stat().st_mtime:
            continue
        with rasterio.open(path) as src:
            source = src.read().astype(np.float32)
            pixels = np.empty((src.count, height, width), dtype=np.float32)
            gaps = np.empty((1, height, width), dtype=np.float32)
            # nodata = every band at the nodata value (single-band zeros are real dark values of these
            # stretched 8-bit products); resampling weights touching a gap mark the output pixel
            missing = (source == src.nodata).all(axis=0, keepdims=True) if src.nodata is not None \
                else np.zeros((1, *source.shape[1:]), bool)
            for values, out in ((source, pixels), (missing.astype(np.float32), gaps)):
                reproject(values, out, src_transform=src.transform, src_crs=src.crs, dst_transform=transform,
                          dst_crs=src.crs, resampling=resampling)
        fill_gaps(pixels, gaps[0] > 0)
        if to_s2:
            to_s2_scale(pixels, SCENE_BANDS[scene.name])
        profile = {"driver": "GTiff", "width": width, "height": height, "count": len(pixels), "dtype": "float32",
                   "crs": crs, "transform": transform, "compress": "deflate"}
        with atomic_file(target) as partial, rasterio.open(partial, "w", **profile) as dst:
            dst.write(pixels)
    return written


def multitemporal_records(root: str | Path | None = None, cache: str | Path | None = None) -> pd.DataFrame:
    """``image_path, lat, lon, location_id, timestamp, available`` (Sentinel-2 band names) of every date
    of every scene folder under ``root``, co-registered per scene on the Sentinel-2 grid and scale
    (:func:`coregister` ``to_s2``); ``location_id`` is the scene folder's name."""
    root = Path(root) if root is not None else SCENES_ROOT
    cache = Path(cache) if cache is not None else CACHE_ROOT
    scenes = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not scenes:
        raise TrainerError(f"no multi-date scene folders under {root}")
    rows = []
    for scene in scenes:
        if scene.name not in SCENE_BANDS:
            raise TrainerError(f"unknown scene {scene.name!r}: its band names are not known ({', '.join(SCENE_BANDS)})")
        available = tuple(S2_EQUIVALENT[name] for name in SCENE_BANDS[scene.name])
        for path in coregister(scene, cache, to_s2=True):
            lat, lon = centre_latlon(path)
            rows.append({"image_path": str(path), "lat": lat, "lon": lon, "location_id": scene.name,
                         "timestamp": acquisition_date(path), "available": available})
    return pd.DataFrame(rows)
