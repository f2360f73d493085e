"""Validation of (lat, lon) degree arrays: the coordinate convention at every API edge."""

from __future__ import annotations

import numpy as np


def validate_latlon(latlon, name: str = "latlon") -> np.ndarray:
    """Return ``latlon`` as float32 ``(N, 2)`` = (lat, lon) degrees, or raise ``ValueError``.

    Rejects wrong shapes, NaN/inf, |lat| > 90 and |lon| > 180; a |lat| > 90 column with
    valid longitudes in the other column is reported as a probable (lon, lat) swap.
    """
    array = np.asarray(latlon, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2) with columns (lat, lon) in degrees, got {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise ValueError(f"{name} row {row} is not finite: {array[row].tolist()}")
    lat, lon = array[:, 0], array[:, 1]
    if np.abs(lat).max(initial=0) > 90:
        row = int(np.argmax(np.abs(lat)))
        hint = (" (columns look swapped: expected (lat, lon), got (lon, lat)?)"
                if np.abs(lon).max() <= 90 else "")
        raise ValueError(f"{name} row {row}: latitude {lat[row]:g} is outside [-90, 90]{hint}")
    if np.abs(lon).max(initial=0) > 180:
        row = int(np.argmax(np.abs(lon)))
        raise ValueError(f"{name} row {row}: longitude {lon[row]:g} is outside [-180, 180]")
    return array.astype(np.float32)


def fraction_outside(latlon: np.ndarray, bounds: dict, margin_deg: float = 5.0) -> float:
    """Share of (lat, lon) rows outside ``bounds`` = {"lat": [min, max], "lon": [min, max]} ± margin."""
    points = np.asarray(latlon, dtype=np.float64).reshape(-1, 2)
    if len(points) == 0:
        return 0.0
    (lat_lo, lat_hi), (lon_lo, lon_hi) = bounds["lat"], bounds["lon"]
    inside = ((points[:, 0] >= lat_lo - margin_deg) & (points[:, 0] <= lat_hi + margin_deg)
              & (points[:, 1] >= lon_lo - margin_deg) & (points[:, 1] <= lon_hi + margin_deg))
    return float(1.0 - inside.mean())
