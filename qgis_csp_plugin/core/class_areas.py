"""Area of each class of a class-id raster: pixel counts per class and pixel areas in hectares.

Projected rasters: every pixel has the same area. Geographic rasters: a pixel row between latitudes
φ1 < φ2 spanning Δλ covers R² · Δλ · (sin φ2 − sin φ1) on a sphere of the authalic radius R (the
sphere with the WGS84 ellipsoid's surface area), so areas stay right at any latitude.
"""

from __future__ import annotations

import math

import numpy as np

AUTHALIC_RADIUS_M = 6_371_007.2
SQUARE_METRES_PER_HECTARE = 10_000.0
#: Decimals of the report tables (CSV, HTML, table layers): areas to 0.01 ha, percentages to 0.01 %,
#: proportions (accuracies, F1, kappa) to 0.0001, so no float noise such as 1610.2400000000725 shows.
HECTARE_DIGITS = 2
PERCENT_DIGITS = 2
FRACTION_DIGITS = 4


def add_counts(totals: np.ndarray, ids: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Add the pixels of ``ids`` (class ids ``0 .. len(totals)-1``; any other value ignored) to ``totals``."""
    n = len(totals)
    ids = np.asarray(ids).ravel()
    keep = (ids >= 0) & (ids < n)
    totals += np.bincount(ids[keep].astype(np.int64), weights=None if weights is None else weights.ravel()[keep],
                          minlength=n)[:n]
    return totals


def geographic_row_hectares(top_lat: float, res_lat: float, res_lon: float, rows: int) -> np.ndarray:
    """Hectares of one pixel in each of ``rows`` rows starting at ``top_lat`` (degrees, north to south)."""
    edges = np.clip(top_lat - res_lat * np.arange(rows + 1), -90.0, 90.0)
    band = np.sin(np.radians(edges[:-1])) - np.sin(np.radians(edges[1:]))
    return AUTHALIC_RADIUS_M ** 2 * math.radians(res_lon) * band / SQUARE_METRES_PER_HECTARE


def table_number(value: float, digits: int = FRACTION_DIGITS) -> float | None:
    """``value`` rounded for a report table; ``None`` (an empty cell) for undefined values."""
    value = float(value)
    return None if math.isnan(value) else round(value, digits)


def area_table(class_names: list[str], pixels: np.ndarray, hectares: np.ndarray) -> list[dict[str, object]]:
    """Rows ``class, class_id, pixels, hectares, percent`` (percent of the classified area), rounded
    (:data:`HECTARE_DIGITS`, :data:`PERCENT_DIGITS`)."""
    total = float(hectares.sum())
    return [{"class": name, "class_id": i, "pixels": int(pixels[i]),
             "hectares": table_number(hectares[i], HECTARE_DIGITS),
             "percent": table_number(100.0 * float(hectares[i]) / total if total > 0 else 0.0, PERCENT_DIGITS)}
            for i, name in enumerate(class_names)]
