"""Pre-flight pass over record tables: image headers only (size, band count), before any pixel is read.

It names the first missing, unreadable or too small image by row, or, with ``skip_bad``, drops and
counts such rows. Headers are read by a thread pool (GDAL releases the GIL while it opens files).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import rasterio
from lightning.pytorch.utilities import rank_zero_warn
from tqdm import tqdm

from trainer.data.bands import band_indices
from trainer.errors import TrainerError

THREADS = 8


def _header(path: str) -> tuple[int, int, int] | str:
    """``(height, width, band count)`` of an image, or why it cannot be read."""
    try:
        with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), rasterio.open(path) as ds:
            return ds.height, ds.width, ds.count
    except rasterio.errors.RasterioIOError as exc:
        return f"missing or unreadable ({str(exc).splitlines()[0]})"


def preflight(records: pd.DataFrame, bands: list[str], tile_size: int, skip_bad: bool = False,
              what: str = "records", fill_missing: bool = False) -> pd.DataFrame:
    """``records`` plus ``height, width`` columns and ``band_indices`` (positions of ``bands`` in each
    row's ``available`` names; :data:`~trainer.data.bands.MISSING` for absent bands with
    ``fill_missing``); raises :class:`TrainerError` naming the first bad row of ``what`` unless
    ``skip_bad``, which drops bad rows and warns with their count."""
    indices = [band_indices(available, bands, fill_missing) for available in records["available"]]
    with ThreadPoolExecutor(THREADS) as pool:
        headers = list(tqdm(pool.map(_header, records["image_path"], chunksize=64), total=len(records),
                            desc=f"pre-flight {what}", unit="img", leave=False, disable=len(records) < 1000))
    problems = [_problem(h, max(i) + 1, tile_size) for h, i in zip(headers, indices, strict=True)]
    bad = [row for row, problem in enumerate(problems) if problem]
    if bad and not skip_bad:
        row = bad[0]
        raise TrainerError(f"{what}: row {row} ({records['image_path'].iloc[row]}) {problems[row]}; "
                           f"{len(bad)} bad row(s) in all (--data.skip_bad true skips them)")
    if bad:
        rank_zero_warn(f"{what}: skipped {len(bad)} of {len(records)} rows with missing, unreadable or too "
                       f"small images (first: row {bad[0]}, {problems[bad[0]]})")
    good = np.array([not p for p in problems], dtype=bool)
    sizes = np.array([h[:2] if not p else (0, 0) for h, p in zip(headers, problems, strict=True)], dtype=np.int64)
    return records.assign(height=sizes[:, 0], width=sizes[:, 1],
                          band_indices=[tuple(i) for i in indices])[good].reset_index(drop=True)


def _problem(header: tuple[int, int, int] | str, n_bands: int, tile_size: int) -> str:
    if isinstance(header, str):
        return header
    height, width, count = header
    if count < n_bands:
        return f"has {count} band(s), the band selection needs {n_bands}"
    if height < tile_size or width < tile_size:
        return f"is {height}x{width} px, smaller than tile_size {tile_size}"
    return ""
