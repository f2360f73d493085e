"""One shard item, written by litdata's ``optimize`` workers: kept apart from :mod:`trainer.data.shards`
so that each spawned worker imports rasterio only, not Lightning (seconds per worker and per split)."""

from __future__ import annotations

from typing import Any

from trainer.data.rasters import read_window


def tile_item(row: tuple, size: int) -> dict[str, Any]:
    """The tile's pixels (file dtype) and its record fields."""
    item, path, bands, y, x, lat, lon, label, timestamp, location_id = row
    return {"item": item, "image": read_window(path, list(bands), y, x, size, dtype=None), "lat": lat,
            "lon": lon, "label": label, "timestamp": timestamp, "location_id": location_id}
