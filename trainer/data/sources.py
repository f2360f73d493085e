"""The real data shipped in ``data/`` (EuroSAT MS, SSL4EO-S12, GeoNames cities) as record tables.

A record table is a pandas DataFrame with at least ``image_path, lat, lon`` (degrees) and, when
labelled, ``label`` (int) and ``class_name``; the same columns as the generic geotagged CSV.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trainer.data.rasters import centre_latlon
from trainer.errors import TrainerError

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_ROOT = REPO_ROOT / "data"

EUROSAT_CLASSES = (
    "AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial",
    "Pasture", "PermanentCrop", "Residential", "River", "SeaLake",
)

#: Map colours of the EuroSAT classes (stored as ``class_colors`` in exported models).
EUROSAT_COLORS = ("#e6c84f", "#1b7837", "#a6d96a", "#7f7f7f", "#d62728",
                  "#c7e9a0", "#b15928", "#f781bf", "#41b6c4", "#08519c")
#: Map colours of the continents.
CONTINENT_COLORS = {"Africa": "#e6ab02", "Antarctica": "#d9d9d9", "Asia": "#e7298a", "Europe": "#1f78b4",
                    "North America": "#33a02c", "Oceania": "#a6761d", "South America": "#ff7f00"}


def known_class_colors(class_names: list[str]) -> list[str]:
    """Colours for the EuroSAT classes or the continents; empty (plugin palette) for other classes."""
    if tuple(class_names) == EUROSAT_CLASSES:
        return list(EUROSAT_COLORS)
    if set(class_names) <= set(CONTINENT_COLORS):
        return [CONTINENT_COLORS[name] for name in class_names]
    return []


#: GeoNames continent codes ("NA" is North America, never a missing value).
CONTINENT_NAMES = {"AF": "Africa", "AN": "Antarctica", "AS": "Asia", "EU": "Europe",
                   "NA": "North America", "OC": "Oceania", "SA": "South America"}


def _folder(root: str | Path | None, name: str) -> Path:
    folder = Path(root) if root is not None else DATA_ROOT / name
    if not folder.is_dir():
        raise TrainerError(f"data folder not found: {folder}")
    return folder


def eurosat_records(root: str | Path | None = None) -> pd.DataFrame:
    """One row per EuroSAT patch: image_path, lat, lon, label, class_name (sorted, deterministic)."""
    folder = _folder(root, "eurosat_ms")
    rows = []
    for label, name in enumerate(EUROSAT_CLASSES):
        for path in sorted((folder / name).glob("*.tif")):
            lat, lon = centre_latlon(path)
            rows.append({"image_path": str(path), "lat": lat, "lon": lon, "label": label, "class_name": name})
    if not rows:
        raise TrainerError(f"no EuroSAT GeoTIFFs under {folder}/<Class>/*.tif")
    return pd.DataFrame(rows)


def ssl4eo_records(root: str | Path | None = None) -> pd.DataFrame:
    """One row per SSL4EO-S12 patch from ``index.csv`` (lat, lon, fn)."""
    folder = _folder(root, "ssl4eo_s2")
    index = pd.read_csv(folder / "index.csv")
    index["image_path"] = [str(folder / fn) for fn in index["fn"]]
    return index[["image_path", "lat", "lon"]]


def cities_records(path: str | Path | None = None) -> pd.DataFrame:
    """GeoNames cities (population >= 15,000): lat, lon, name, country_code, continent (code),
    continent_name (e.g. "North America"), population, timezone."""
    path = Path(path) if path is not None else DATA_ROOT / "points" / "cities15000.csv.gz"
    if not path.is_file():
        raise TrainerError(f"cities table not found: {path}")
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    frame["continent_name"] = frame["continent"].map(CONTINENT_NAMES)
    return frame
