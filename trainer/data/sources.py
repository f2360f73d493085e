"""Data sources: the real data in ``data/`` and ``../shared/data`` and the registry of image sources.

A record table is a pandas DataFrame with at least ``image_path, lat, lon`` (degrees) and, when
labelled, ``label`` (int) and ``class_name``; the same columns as the generic geotagged CSV.
Image sources are registered with :func:`image_source` and resolved by :func:`image_records`, which
every command uses: ``eurosat``, ``eurosat_extra``, ``ssl4eo``, ``multitemporal[:<folder>]``, a
``.csv``/``.csv.gz``/``.parquet`` table (band order ``table_bands``), ``inat:<root>``, ``fmow:<root>``
and ``shards:<dir-or-URL>`` (streamed, see :mod:`trainer.data.shards`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from qgis_csp_plugin.contract.bands import RGB_BANDS
from trainer.data.bands import EUROSAT_BANDS, SSL4EO_L2A_BANDS
from trainer.data.fmow import fmow_records
from trainer.data.geotagged import geotagged_records
from trainer.data.inat import inat_records
from trainer.data.rasters import centre_latlon
from trainer.errors import TrainerError

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_ROOT = REPO_ROOT / "data"
#: Read-only real data next to the repository (absent in a user's clone).
SHARED_DATA_ROOT = REPO_ROOT.parent / "shared" / "data"
TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet")
SHARDS_PREFIX = "shards:"

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
    if root is None and not folder.is_dir():
        folder = SHARED_DATA_ROOT / name
    if not folder.is_dir():
        raise TrainerError(f"data folder not found: {folder}")
    return folder


def eurosat_records(root: str | Path | None = None) -> pd.DataFrame:
    """One row per EuroSAT patch: image_path, lat, lon, label, class_name (sorted, deterministic)."""
    return _eurosat_folder(_folder(root, "eurosat_ms"))


def _eurosat_folder(folder: Path) -> pd.DataFrame:
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


ImageSource = Callable[[str, tuple[str, ...]], pd.DataFrame]
_IMAGE_SOURCES: dict[str, ImageSource] = {}


def image_source(name: str) -> Callable[[ImageSource], ImageSource]:
    """Register ``function(argument, table_bands) -> records`` as the image source ``name``
    (used as ``name`` or ``name:<argument>``); records carry their file band names in ``available``."""
    def register(function: ImageSource) -> ImageSource:
        _IMAGE_SOURCES[name] = function
        return function
    return register


def source_names() -> list[str]:
    """Registered image-source names (tables and ``shards:`` are recognised by form)."""
    return sorted(_IMAGE_SOURCES)


def is_table(source: str) -> bool:
    return source.lower().endswith(TABLE_SUFFIXES)


def is_shards(source: str) -> bool:
    return source.startswith(SHARDS_PREFIX)


def image_records(source: str, table_bands: list[str] | tuple[str, ...] = EUROSAT_BANDS) -> pd.DataFrame:
    """Records of one image source with their file band names in ``available``."""
    if is_shards(source):
        raise TrainerError(f"{source}: shards are streamed, they have no record table (use them as a "
                           "training source of csp fit / moco fit)")
    if is_table(source):
        frame, available = geotagged_records(source), tuple(table_bands)
        return frame.assign(available=[available] * len(frame))
    name, _, argument = source.partition(":")
    if name not in _IMAGE_SOURCES:
        raise TrainerError(f"unknown image source {source!r}: use {', '.join(source_names())}, a "
                           f"{'/'.join(TABLE_SUFFIXES)} table or shards:<dir-or-URL>")
    return _IMAGE_SOURCES[name](argument, tuple(table_bands))


def _with_bands(frame: pd.DataFrame, available: tuple[str, ...]) -> pd.DataFrame:
    if "label" not in frame:
        frame = frame.assign(label=-1, class_name="")
    return frame.assign(available=[available] * len(frame))


@image_source("eurosat")
def _eurosat(root: str, _: tuple[str, ...]) -> pd.DataFrame:
    return _with_bands(eurosat_records(root or None), EUROSAT_BANDS)


@image_source("eurosat_extra")
def _eurosat_extra(root: str, _: tuple[str, ...]) -> pd.DataFrame:
    """The 270 extra EuroSAT MS patches (same classes and band order as ``eurosat``)."""
    return _with_bands(_eurosat_folder(_folder(root or None, "eurosat_ms_extra")), EUROSAT_BANDS)


@image_source("ssl4eo")
def _ssl4eo(root: str, _: tuple[str, ...]) -> pd.DataFrame:
    return _with_bands(ssl4eo_records(root or None), SSL4EO_L2A_BANDS)


@image_source("inat")
def _inat(root: str, _: tuple[str, ...]) -> pd.DataFrame:
    return _with_bands(inat_records(_argument(root, "inat"), "train"), RGB_BANDS)


@image_source("fmow")
def _fmow(root: str, _: tuple[str, ...]) -> pd.DataFrame:
    return _with_bands(fmow_records(_argument(root, "fmow"), "train"), RGB_BANDS)


def _argument(value: str, name: str) -> str:
    if not value:
        raise TrainerError(f"the {name} source needs its root folder: {name}:<root>")
    return value


#: Band names of the multi-date scenes in ``../shared/data/multitemporal`` (by folder).
MULTITEMPORAL_BANDS = {"naip_nd_2009_2020": ("red", "green", "blue", "nir"),
                       "landsat_pucallpa_1985_2020": ("swir1", "nir", "red", "green")}


@image_source("multitemporal")
def _multitemporal(folder: str, _: tuple[str, ...]) -> pd.DataFrame:
    """Multi-date scenes: ``location_id`` = scene folder, ``timestamp`` = the date in the file name
    (``YYYYMMDD`` or ``YYYY``); ``multitemporal`` alone takes every known folder."""
    root = _folder(None, "multitemporal")
    names = [folder] if folder else sorted(MULTITEMPORAL_BANDS)
    frames = []
    for name in names:
        if name not in MULTITEMPORAL_BANDS:
            raise TrainerError(f"unknown multitemporal folder {name!r}: use one of {sorted(MULTITEMPORAL_BANDS)}")
        rows = []
        for path in sorted((root / name).glob("*.tif")):
            date = re.findall(r"(\d{8}|\d{4})", path.stem)[-1]
            lat, lon = centre_latlon(path)
            rows.append({"image_path": str(path), "lat": lat, "lon": lon, "location_id": name,
                         "timestamp": pd.Timestamp(f"{date}0101"[:8]).isoformat()})
        frames.append(_with_bands(pd.DataFrame(rows), MULTITEMPORAL_BANDS[name]))
    return pd.concat(frames, ignore_index=True)
