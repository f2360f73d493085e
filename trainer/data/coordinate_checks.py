"""Plausibility of a table's (lat, lon): swapped columns and places far from any inhabited land.

Hard errors (NaN, |lat| > 90, |lon| > 180) are :func:`~qgis_csp_plugin.contract.latlon.validate_latlon`'s;
this module catches what those ranges cannot: a table whose columns were swapped although both
fit in ±90, and GeoTIFF rows whose coordinates contradict the file's own georeference.

"Inhabited land" = within about 50 km (one 0.5° cell) of one of the 34,000 GeoNames towns of
15,000+ people shipped in ``data/points``: oceans, ice caps and deserts are outside.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from trainer.data.catalog import cities_records
from trainer.data.rasters import centre_latlon
from trainer.errors import TrainerError

CELL_DEG = 0.5
MOSTLY_OUTSIDE = 0.5  # warn when fewer than half the points lie on inhabited land
SWAP_MARGIN = 0.3  # warn of swapped columns when (lon, lat) puts at least 30 % more of the points there
GEOREFERENCE_SAMPLE = 50
GEOREFERENCE_TOLERANCE_DEG = 0.5


@lru_cache(maxsize=1)
def inhabited_cells() -> np.ndarray:
    """Boolean (lat, lon) grid of 0.5° cells within one cell of a town of 15,000+ people."""
    cities = cities_records()
    grid = np.zeros((int(180 / CELL_DEG), int(360 / CELL_DEG)), dtype=bool)
    rows, cols = _cells(cities[["lat", "lon"]].to_numpy(np.float64))
    grid[rows, cols] = True
    padded = np.pad(grid, 1)
    near = np.zeros_like(grid)
    for dr in (0, 1, 2):
        for dc in (0, 1, 2):
            near |= padded[dr:dr + grid.shape[0], dc:dc + grid.shape[1]]
    return near


def inhabited_fraction(latlon: np.ndarray) -> float:
    """Share of (lat, lon) rows on inhabited land (see the module docstring)."""
    if len(latlon) == 0:
        return 1.0
    rows, cols = _cells(np.asarray(latlon, dtype=np.float64))
    return float(inhabited_cells()[rows, cols].mean())


def latlon_warning(latlon: np.ndarray, what: str) -> str | None:
    """A sentence when the swapped reading (lon, lat) is clearly more plausible than the given one (puts
    :data:`SWAP_MARGIN` more of the points on inhabited land, however many the given one puts there), or
    when most points lie off inhabited land; ``None`` otherwise."""
    latlon = np.asarray(latlon, dtype=np.float64)
    given = inhabited_fraction(latlon)
    swapped = inhabited_fraction(latlon[:, ::-1]) if np.abs(latlon[:, 1]).max(initial=0) <= 90 else 0.0
    if given >= MOSTLY_OUTSIDE and swapped < given + SWAP_MARGIN:
        return None
    message = (f"{what}: only {given:.0%} of the points lie on inhabited land (lat {latlon[:, 0].min():.3g}.."
               f"{latlon[:, 0].max():.3g}, lon {latlon[:, 1].min():.3g}..{latlon[:, 1].max():.3g})")
    if swapped >= given + SWAP_MARGIN:
        return (f"{message}; read as (lon, lat) {swapped:.0%} would: are the lat and lon columns swapped? "
                "Columns must be (lat, lon) in degrees")
    return f"{message}: check the coordinates (lat, lon in degrees, WGS84)"


def check_georeference(frame: pd.DataFrame, what: str) -> None:
    """Compare the given (lat, lon) of GeoTIFF rows (a sample) with each file's own centre.

    Raises :class:`TrainerError` when a row's coordinates are the file's centre swapped, or lie
    more than 0.5° away from it (the table then describes another place than its image).
    """
    tiffs = frame.index[[str(p).lower().endswith((".tif", ".tiff")) for p in frame["image_path"]]]
    for index in tiffs[np.linspace(0, len(tiffs) - 1, min(len(tiffs), GEOREFERENCE_SAMPLE)).astype(int)]:
        given = frame.loc[index, ["lat", "lon"]].to_numpy(np.float64)
        try:
            actual = np.array(centre_latlon(frame.at[index, "image_path"]))
        except (TrainerError, OSError, ValueError):
            continue  # no CRS or unreadable here: the image loader reports it
        if _degrees_apart(given, actual) <= GEOREFERENCE_TOLERANCE_DEG:
            continue
        swapped = _degrees_apart(given[::-1], actual) <= GEOREFERENCE_TOLERANCE_DEG
        raise TrainerError(
            f"{what} row {index}: (lat, lon) = ({given[0]:.5g}, {given[1]:.5g}) but its GeoTIFF lies at "
            f"({actual[0]:.5g}, {actual[1]:.5g})" + ("; the lat and lon columns are swapped" if swapped else
                                                     "; fix the coordinates or leave them empty to use the file's"))


def _degrees_apart(a: np.ndarray, b: np.ndarray) -> float:
    dlon = (a[1] - b[1] + 180) % 360 - 180
    return float(np.hypot(a[0] - b[0], dlon * np.cos(np.radians(b[0]))))


def _cells(latlon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.clip(((latlon[:, 0] + 90) / CELL_DEG).astype(int), 0, int(180 / CELL_DEG) - 1)
    cols = np.clip(((latlon[:, 1] + 180) / CELL_DEG).astype(int) % int(360 / CELL_DEG), 0, int(360 / CELL_DEG) - 1)
    return rows, cols
