"""The data the trainer knows by name: where it lives (``data/`` and ``../shared/data``), the EuroSAT and
continent class names and colours, and the readers of the named datasets (EuroSAT, SSL4EO-S12, GeoNames
cities, point files, the Ariolimax points). :mod:`trainer.data.registry` names them as sources.

A record table is a pandas DataFrame with at least ``image_path, lat, lon`` (degrees) and, when
labelled, ``label`` (int) and ``class_name``; the same columns as the generic geotagged CSV.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd

from trainer.data.rasters import centre_latlon
from trainer.errors import TrainerError

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_ROOT = REPO_ROOT / "data"
#: The team's shared data folder beside the clone (absent in a user's clone); GEOSSL_SHARED_DATA overrides.
SHARED_DATA_ROOT = Path(os.environ.get("GEOSSL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
#: Labelled EuroSAT sources: ``eurosat`` = the 200 patches shipped in data/; ``eurosat_all`` = those plus
#: the 269 distinct patches of ``<shared>/eurosat_ms_extra`` when that folder exists.
EUROSAT_SOURCES = ("eurosat", "eurosat_all")

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


def eurosat_extra_records(root: str | Path | None = None) -> pd.DataFrame:
    """The extra EuroSAT patches of ``eurosat_ms_extra/index.csv`` (same columns as :func:`eurosat_records`),
    without the one patch that is also among the 200 shipped ones."""
    folder = Path(root) if root is not None else SHARED_DATA_ROOT / "eurosat_ms_extra"
    index_path = folder / "index.csv"
    if not index_path.is_file():
        raise TrainerError(f"EuroSAT extra patches not found: {index_path}")
    index = pd.read_csv(index_path)
    index = index[~index["also_in_geotorchai_200"].astype(str).str.lower().eq("true")]
    unknown = sorted(set(index["label"]) - set(EUROSAT_CLASSES))
    if unknown:
        raise TrainerError(f"{index_path} holds classes that are not EuroSAT classes: {unknown}")
    return pd.DataFrame({"image_path": [str(folder / p) for p in index["path"]], "lat": index["lat"].to_numpy(float),
                         "lon": index["lon"].to_numpy(float),
                         "label": [EUROSAT_CLASSES.index(c) for c in index["label"]],
                         "class_name": index["label"].to_list()})


def eurosat_source_records(source: str) -> pd.DataFrame:
    """Records of a labelled EuroSAT source (:data:`EUROSAT_SOURCES`); ``eurosat_all`` without the shared
    folder is the shipped 200 patches, with a printed note."""
    if source not in EUROSAT_SOURCES:
        raise TrainerError(f"unknown EuroSAT source {source!r}: use one of {', '.join(EUROSAT_SOURCES)}")
    shipped = eurosat_records()
    if source == "eurosat":
        return shipped
    if not (SHARED_DATA_ROOT / "eurosat_ms_extra" / "index.csv").is_file():
        print(f"note: {SHARED_DATA_ROOT / 'eurosat_ms_extra'} is absent: eurosat_all = the {len(shipped)} EuroSAT "
              "patches shipped in data/", file=sys.stderr)
        return shipped
    return pd.concat([shipped, eurosat_extra_records()], ignore_index=True)


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


def vector_points(path: str | Path) -> pd.DataFrame:
    """Attribute table of a point layer (first layer of the file) with ``lat, lon`` of each point in
    WGS84 degrees, whatever the layer's CRS."""
    from osgeo import ogr, osr

    if not Path(path).is_file():
        raise TrainerError(f"point file not found: {path}")
    source = ogr.Open(str(path))
    if source is None:
        raise TrainerError(f"{path}: not a readable vector file")
    layer = source.GetLayer(0)
    wgs84 = osr.SpatialReference()
    wgs84.ImportFromEPSG(4326)
    wgs84.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    crs = layer.GetSpatialRef()
    if crs is None:
        raise TrainerError(f"{path}: the layer has no coordinate reference system")
    crs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    transform = osr.CoordinateTransformation(crs, wgs84)
    rows = []
    for feature in layer:
        geometry = feature.GetGeometryRef()
        if geometry is None or geometry.GetGeometryType() not in (ogr.wkbPoint, ogr.wkbPoint25D):
            raise TrainerError(f"{path}: feature {feature.GetFID()} is not a point")
        lon, lat = transform.TransformPoint(geometry.GetX(), geometry.GetY())[:2]
        rows.append({**feature.items(), "lat": lat, "lon": lon})
    if not rows:
        raise TrainerError(f"{path}: the layer has no points")
    return pd.DataFrame(rows)


def ariolimax_records(path: str | Path | None = None) -> pd.DataFrame:
    """Presence (1) and background (0) points of the slug *Ariolimax buttoni* (California; the team's
    shared data, or a GeoPackage ``path``): ``label`` = presence, class names background/presence."""
    path = Path(path) if path else SHARED_DATA_ROOT / "points" / "ariolimax.gpkg"
    if not path.is_file():
        raise TrainerError(f"Ariolimax points not found: {path}")
    frame = vector_points(path)
    return frame.assign(label=frame["presence"].astype(int),
                        class_name=frame["presence"].map({0: "background", 1: "presence"}))
