"""iNaturalist 2018 layout: ``{split}2018.json`` (COCO-style images, annotations, categories) and
``{split}2018_locations.json`` (``[{"id": image_id, "lat", "lon", "date", "loc_uncert"}]``).

Images without a location (lat/lon null) are dropped, as in CSP. Labels are the category ids mapped
to 0..K-1 in id order; ``class_name`` is the category name.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from trainer.data.geotagged import checked_latlon
from trainer.errors import TrainerError

SPLITS = ("train", "val")


def _load(path: Path):
    if not path.is_file():
        raise TrainerError(f"iNat2018 file not found: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise TrainerError(f"{path} is not valid JSON: {exc}") from exc


def inat_records(root: str | Path, split: str = "train") -> pd.DataFrame:
    """``image_path, lat, lon, label, class_name, timestamp, category_id`` of one iNat2018 split."""
    if split not in SPLITS:
        raise TrainerError(f"iNat2018 split {split!r} is not one of {', '.join(SPLITS)}")
    root = Path(root)
    meta = _load(root / f"{split}2018.json")
    locations = {item["id"]: item for item in _load(root / f"{split}2018_locations.json")}
    categories = sorted(meta.get("categories", []), key=lambda c: c["id"])
    if not categories:
        categories = [{"id": i} for i in sorted({a["category_id"] for a in meta["annotations"]})]
    label_of = {c["id"]: i for i, c in enumerate(categories)}
    name_of = {c["id"]: str(c.get("name", c["id"])) for c in categories}
    category_of = {a["image_id"]: a["category_id"] for a in meta["annotations"]}
    rows = []
    for image in meta["images"]:
        place = locations.get(image["id"], {})
        if place.get("lat") is None or place.get("lon") is None:
            continue
        category = category_of[image["id"]]
        rows.append({"image_path": str(root / image["file_name"]), "lat": float(place["lat"]),
                     "lon": float(place["lon"]), "label": label_of[category], "class_name": name_of[category],
                     "timestamp": place.get("date"), "category_id": category})
    if not rows:
        raise TrainerError(f"no located images in {root / f'{split}2018.json'}")
    frame = pd.DataFrame(rows)
    checked_latlon(frame, f"iNat2018 {split} locations")
    return frame
