"""Pre-flight pass over record tables: image headers (size, band count) and the last pixel row of each
file, before training reads any tile.

It names the first missing, unreadable, corrupt or too small image by row, or, with ``skip_bad``, drops
and counts such rows. The last row of the last band is decoded because a truncated or damaged file
usually still has a readable header (its pixels are what is missing); it is one block of a tiled or
striped GeoTIFF. Files are opened without their georeferencing (:func:`trainer.data.rasters.pixels_only`:
parsing the CRS costs ~10x the rest of an open); each distinct file is read once (rows that are windows
of one scene share it), by a pool of processes when there are many files (rasterio holds the GIL while
it opens a dataset, so threads do not help).
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import rasterio
import rasterio.windows
from lightning.pytorch.utilities import rank_zero_warn
from tqdm import tqdm

from trainer.data.bands import band_indices
from trainer.data.rasters import pixels_only
from trainer.errors import TrainerError

#: Files per pool task; fewer files than this are read in the calling process (no pool start-up).
CHUNK = 2048

Header = tuple[int, int, int] | str


def _headers(paths: list[str]) -> list[Header]:
    """``(height, width, band count)`` of each image, or why it cannot be read."""
    headers: list[Header] = []
    with pixels_only():
        for path in paths:
            try:
                ds = rasterio.open(path)
            except rasterio.errors.RasterioIOError as exc:
                headers.append(f"missing or unreadable ({str(exc).splitlines()[0]})")
                continue
            with ds:
                try:
                    ds.read(ds.count, window=rasterio.windows.Window(0, ds.height - 1, ds.width, 1))
                except rasterio.errors.RasterioError as exc:
                    reason = str(exc.__cause__ or exc).splitlines()[0]  # GDAL's own message, when rasterio keeps it
                    headers.append(f"is corrupt or truncated: its pixels cannot be read ({reason})")
                    continue
                headers.append((ds.height, ds.width, ds.count))
    return headers


def read_headers(paths: list[str], what: str = "records") -> list[Header]:
    """:func:`_headers` of ``paths`` (distinct files), in chunks over a process pool when there are
    more than :data:`CHUNK`, with a progress bar."""
    chunks = [paths[i:i + CHUNK] for i in range(0, len(paths), CHUNK)]
    if len(chunks) <= 1:
        return _headers(paths)
    workers = min(len(chunks), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    headers: list[Header] = []
    with ProcessPoolExecutor(workers) as pool, tqdm(total=len(paths), desc=f"pre-flight {what}", unit="file",
                                                    leave=False) as bar:
        for part in pool.map(_headers, chunks):
            headers += part
            bar.update(len(part))
    return headers


def preflight(records: pd.DataFrame, bands: list[str], tile_size: int, skip_bad: bool = False,
              what: str = "records", fill_missing: bool = False) -> pd.DataFrame:
    """``records`` plus ``height, width`` columns and ``band_indices`` (positions of ``bands`` in each
    row's ``available`` names; :data:`~trainer.data.bands.MISSING` for absent bands with
    ``fill_missing``); raises :class:`TrainerError` naming the first bad row of ``what`` unless
    ``skip_bad``, which drops bad rows and warns with their count."""
    file_of_row, files = pd.factorize(records["image_path"])
    set_of_row, band_sets = pd.factorize(records["available"])
    indices = [tuple(band_indices(available, bands, fill_missing)) for available in band_sets]
    headers = read_headers(list(files), what)
    problems = np.array([_problem(headers[f], max(indices[s]) + 1, tile_size)
                         for f, s in zip(file_of_row, set_of_row, strict=True)], dtype=object)
    bad = np.flatnonzero(problems != "")
    if len(bad) and not skip_bad:
        row = bad[0]
        raise TrainerError(f"{what}: row {row} ({records['image_path'].iloc[row]}) {problems[row]}; "
                           f"{len(bad)} bad row(s) in all (--data.skip_bad true skips them)")
    if len(bad):
        rank_zero_warn(f"{what}: skipped {len(bad)} of {len(records)} rows with missing, unreadable, corrupt or "
                       f"too small images (first: row {bad[0]}, {problems[bad[0]]})")
    sizes = np.array([h[:2] if not isinstance(h, str) else (0, 0) for h in headers], dtype=np.int64).reshape(-1, 2)
    good = problems == ""
    return records.assign(height=sizes[file_of_row, 0], width=sizes[file_of_row, 1],
                          band_indices=[indices[s] for s in set_of_row])[good].reset_index(drop=True)


def _problem(header: Header, n_bands: int, tile_size: int) -> str:
    if isinstance(header, str):
        return header
    height, width, count = header
    if count < n_bands:
        return f"has {count} band(s), the band selection needs {n_bands}"
    if height < tile_size or width < tile_size:
        return f"is {height}x{width} px, smaller than tile_size {tile_size}"
    return ""
