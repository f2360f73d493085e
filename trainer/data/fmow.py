"""fMoW-rgb layout: ``<root>/<split>/<category>/<category>_<n>/<category>_<n>_<k>_rgb.{json,jpg}``.

Each JSON holds ``gsd``, ``timestamp``, ``bounding_boxes`` (``category``, ``box`` = x, y, w, h) and
``raw_location`` = ``"POLYGON ((lon lat, ...))"``; the record's (lat, lon) is the polygon's centroid.
``location_id`` is the ``<category>_<n>`` folder (several dates of one place: temporal positives).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import shapely.wkt
from shapely.errors import ShapelyError

from trainer.data.geotagged import checked_latlon, encode_labels
from trainer.errors import TrainerError


def polygon_centre(raw_location: str) -> tuple[float, float]:
    """(lat, lon) of the centroid of a WKT polygon written in (lon lat) order."""
    try:
        centroid = shapely.wkt.loads(raw_location).centroid
    except (ShapelyError, TypeError, AttributeError) as exc:
        raise TrainerError(f"raw_location {raw_location!r:.60} is not a WKT polygon") from exc
    return float(centroid.y), float(centroid.x)


def _record(meta_path: Path) -> dict:
    meta = json.loads(meta_path.read_text())
    missing = [k for k in ("raw_location", "bounding_boxes") if k not in meta]
    if missing:
        raise TrainerError(f"{meta_path} lacks the key(s) {missing}")
    lat, lon = polygon_centre(meta["raw_location"])
    box = meta["bounding_boxes"][0]
    return {"image_path": str(meta_path.with_suffix(".jpg")), "lat": lat, "lon": lon,
            "category": box.get("category", meta_path.parent.parent.name), "box": box.get("box"),
            "gsd": meta.get("gsd"), "timestamp": meta.get("timestamp"), "location_id": meta_path.parent.name}


def fmow_records(root: str | Path, split: str = "train") -> pd.DataFrame:
    """``image_path, lat, lon, label, class_name, gsd, timestamp, location_id, box`` of one split."""
    folder = Path(root) / split
    if not folder.is_dir():
        raise TrainerError(f"fMoW split folder not found: {folder}")
    rows = [_record(path) for path in sorted(folder.glob("*/*/*_rgb.json"))]
    if not rows:
        raise TrainerError(f"no <category>/<category>_<n>/*_rgb.json files under {folder}")
    frame = encode_labels(pd.DataFrame(rows), "category")
    checked_latlon(frame, f"fMoW {split} locations")
    return frame
