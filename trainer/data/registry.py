"""The registry of data sources: every source a command accepts, by name or by form.

Image sources (:func:`image_records`, used by every command): ``eurosat``, ``eurosat_all``,
``eurosat_extra``, ``ssl4eo``, ``multitemporal[:<root>]``, a ``.csv``/``.csv.gz``/``.parquet`` table (band
order ``table_bands``), ``inat:<root>``, ``fmow:<root>`` and ``shards:<dir-or-URL>`` (streamed: no record
table; :mod:`trainer.data.shards`). Location sources (:func:`location_records`, the (lat, lon, label) records
of location priors): ``cities``, ``ariolimax``, tables, vector files, a ``shards:`` set's items with their
``split``, and every labelled image source (no pixel is read).

Each source is registered here with :func:`image_source` or :func:`location_source`: the reader of the module
that knows the data's layout (:mod:`~trainer.data.catalog`, :mod:`~trainer.data.fmow`, :mod:`~trainer.data.inat`,
:mod:`~trainer.data.multitemporal`, :mod:`~trainer.data.shards`) under its name, used as ``name`` or
``name:<argument>``. The readers import nothing of the registry, so nothing here is imported late.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from qgis_csp_plugin.contract.bands import RGB_BANDS
from trainer.data.bands import EUROSAT_BANDS, SSL4EO_L2A_BANDS
from trainer.data.catalog import (
    ariolimax_records,
    cities_records,
    eurosat_extra_records,
    eurosat_records,
    eurosat_source_records,
    ssl4eo_records,
    vector_points,
)
from trainer.data.fmow import fmow_records
from trainer.data.geotagged import geotagged_records, read_table
from trainer.data.inat import inat_records
from trainer.data.multitemporal import multitemporal_records
from trainer.data.shards import SHARDS_PREFIX, is_shards, shard_items
from trainer.errors import TrainerError

TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet")
VECTOR_SUFFIXES = (".gpkg", ".geojson", ".shp")

ImageSource = Callable[[str, tuple[str, ...]], pd.DataFrame]
LocationSource = Callable[[str], pd.DataFrame]
_IMAGE_SOURCES: dict[str, ImageSource] = {}
_LOCATION_SOURCES: dict[str, LocationSource] = {}


def image_source(name: str) -> Callable[[ImageSource], ImageSource]:
    """Register ``function(argument, table_bands) -> records`` as the image source ``name``
    (used as ``name`` or ``name:<argument>``); records carry their file band names in ``available``."""
    def register(function: ImageSource) -> ImageSource:
        _IMAGE_SOURCES[name] = function
        return function
    return register


def location_source(name: str) -> Callable[[LocationSource], LocationSource]:
    """Register ``function(argument) -> lat, lon, ... records`` as the location-only source ``name``
    (used as ``name`` or ``name:<argument>``)."""
    def register(function: LocationSource) -> LocationSource:
        _LOCATION_SOURCES[name] = function
        return function
    return register


def source_names() -> list[str]:
    """Registered image-source names (tables and ``shards:`` are recognised by form)."""
    return sorted(_IMAGE_SOURCES)


def is_table(source: str) -> bool:
    return source.lower().endswith(TABLE_SUFFIXES)


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
                           f"{'/'.join(TABLE_SUFFIXES)} table or {SHARDS_PREFIX}<dir-or-URL>")
    return _IMAGE_SOURCES[name](argument, tuple(table_bands))


def location_records(source: str) -> pd.DataFrame:
    """Records with ``lat, lon`` (degrees) and the source's other columns of any source: a location-only
    one (:func:`location_source`, ``shards:`` among them), a table, a vector file (.gpkg/.geojson/.shp, any
    CRS) or any labelled image source (its records), without reading a pixel."""
    name, _, argument = source.partition(":")
    if name in _LOCATION_SOURCES:
        return _LOCATION_SOURCES[name](argument)
    if is_table(source):
        return read_table(source)
    if source.lower().endswith(VECTOR_SUFFIXES):
        return vector_points(source)
    if name not in _IMAGE_SOURCES:
        locations = sorted(set(_LOCATION_SOURCES) - {SHARDS_PREFIX.rstrip(":")})
        raise TrainerError(f"unknown points source {source!r}: use {', '.join(locations)}, an "
                           f"image source ({', '.join(source_names())}, {SHARDS_PREFIX}<dir-or-URL>), a "
                           f"{'/'.join(TABLE_SUFFIXES)} table or a {'/'.join(VECTOR_SUFFIXES)} point file")
    frame = image_records(source)
    if (frame["label"] < 0).all():
        raise TrainerError(f"image source {source!r} has no labels: a location prior needs labelled points")
    return frame[frame["label"] >= 0]


def _with_bands(frame: pd.DataFrame, available: tuple[str, ...]) -> pd.DataFrame:
    if "label" not in frame:
        frame = frame.assign(label=-1, class_name="")
    return frame.assign(available=[available] * len(frame))


def _argument(value: str, name: str) -> str:
    if not value:
        raise TrainerError(f"the {name} source needs its root folder: {name}:<root>")
    return value


@image_source("eurosat")
def _eurosat(root: str, _: tuple[str, ...]) -> pd.DataFrame:
    return _with_bands(eurosat_records(root or None), EUROSAT_BANDS)


@image_source("eurosat_all")
def _eurosat_all(_: str, __: tuple[str, ...]) -> pd.DataFrame:
    return _with_bands(eurosat_source_records("eurosat_all"), EUROSAT_BANDS)


@image_source("eurosat_extra")
def _eurosat_extra(root: str, _: tuple[str, ...]) -> pd.DataFrame:
    """The extra EuroSAT MS patches of the shared data (same classes and band order as ``eurosat``)."""
    return _with_bands(eurosat_extra_records(root or None), EUROSAT_BANDS)


@image_source("ssl4eo")
def _ssl4eo(root: str, _: tuple[str, ...]) -> pd.DataFrame:
    return _with_bands(ssl4eo_records(root or None), SSL4EO_L2A_BANDS)


@image_source("inat")
def _inat(root: str, _: tuple[str, ...]) -> pd.DataFrame:
    return _with_bands(inat_records(_argument(root, "inat"), "train"), RGB_BANDS)


@image_source("fmow")
def _fmow(root: str, _: tuple[str, ...]) -> pd.DataFrame:
    return _with_bands(fmow_records(_argument(root, "fmow"), "train"), RGB_BANDS)


@image_source("multitemporal")
def _multitemporal(root: str, _: tuple[str, ...]) -> pd.DataFrame:
    """The multi-date scenes (``multitemporal:<root>`` for another folder of scene folders), every date
    co-registered per scene (:mod:`trainer.data.multitemporal`); band names per scene."""
    return multitemporal_records(root or None).assign(label=-1, class_name="")


@location_source("cities")
def _cities(path: str) -> pd.DataFrame:
    """GeoNames cities (:func:`~trainer.data.catalog.cities_records`): label columns continent, country_code,
    timezone…"""
    return cities_records(path or None)


@location_source("ariolimax")
def _ariolimax(path: str) -> pd.DataFrame:
    """Presence/background points of *Ariolimax buttoni* (:func:`~trainer.data.catalog.ariolimax_records`)."""
    return ariolimax_records(path or None)


@location_source(SHARDS_PREFIX.rstrip(":"))
def _shards(location: str) -> pd.DataFrame:
    """The labelled items of a shard set with the ``split`` written at build time (no pixel is read)."""
    return shard_items(f"{SHARDS_PREFIX}{location}")
