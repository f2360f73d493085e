"""Generic geotagged image tables: CSV or Parquet with ``image_path, lat, lon`` and optional
``label, timestamp, location_id`` columns; images are anything rasterio reads (GeoTIFF, PNG, JPEG).

Relative image paths are relative to the table's folder. A GeoTIFF row with empty lat/lon gets
the image centre reprojected to WGS84 from the file's CRS. String labels become integer ``label``
(sorted class names) plus ``class_name``; a table without labels gets ``label = -1``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from lightning.pytorch.utilities import rank_zero_warn

from qgis_csp_plugin.contract.class_names import case_conflict
from qgis_csp_plugin.contract.latlon import validate_latlon
from trainer.data.coordinate_checks import check_georeference, latlon_warning
from trainer.data.rasters import centre_latlon
from trainer.errors import TrainerError

REQUIRED = ("image_path",)


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV (``.csv``, ``.csv.gz``) or Parquet table; missing files raise :class:`TrainerError`."""
    path = Path(path)
    if not path.is_file():
        raise TrainerError(f"table not found: {path}")
    if path.suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except ImportError as exc:
            raise TrainerError(f"reading {path} needs pyarrow (pip install pyarrow) or use a CSV") from exc
    if not path.name.endswith((".csv", ".csv.gz")):
        raise TrainerError(f"{path} is neither a .csv, .csv.gz nor a .parquet table")
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError as exc:
        raise TrainerError(f"{path} is empty: it needs a header row (image_path, lat, lon, ...) and data rows") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise TrainerError(f"{path} is not a readable CSV table: {str(exc).splitlines()[0][:200]}") from exc
    if frame.empty:
        raise TrainerError(f"{path} has a header but no data rows")
    return frame


def encode_labels(frame: pd.DataFrame, column: str = "label") -> pd.DataFrame:
    """``label`` as int 0..K-1 and ``class_name``. Integer labels keep their numeric order (and an
    existing ``class_name`` column); other labels are ordered by their sorted text. Class names that
    differ only in case are refused (:func:`~qgis_csp_plugin.contract.class_names.case_conflict`)."""
    if column not in frame:
        raise TrainerError(f"label column {column!r} not in the table's columns {list(frame.columns)}")
    values = frame[column]
    if values.isna().any():
        raise TrainerError(f"label column {column!r} has {int(values.isna().sum())} empty value(s)")
    frame = frame.copy()
    if pd.api.types.is_integer_dtype(values):
        order = sorted(set(values.tolist()))
        names = frame["class_name"].astype(str) if "class_name" in frame else values.astype(str)
        frame["class_name"] = list(names)
        frame["label"] = values.map({v: i for i, v in enumerate(order)}).astype(int)
    else:
        lookup = {name: i for i, name in enumerate(sorted({str(v) for v in values}))}
        frame["class_name"] = [str(v) for v in values]
        frame["label"] = [lookup[str(v)] for v in values]
    conflict = case_conflict(frame["class_name"])
    if conflict:
        raise TrainerError(f"label column {column!r}: {conflict}")
    return frame


def checked_latlon(frame: pd.DataFrame, what: str) -> None:
    """Raise :class:`TrainerError` naming the first bad (lat, lon) of ``frame`` (non-numeric, NaN,
    out of range); warn when the points look swapped or lie mostly off inhabited land."""
    for column in ("lat", "lon"):
        numbers = pd.to_numeric(frame[column], errors="coerce")
        bad = numbers.isna() & frame[column].notna()
        if bad.any():
            row = bad.idxmax()
            raise TrainerError(f"{what} row {row}: {column} {frame.at[row, column]!r} is not a number (degrees)")
    try:
        latlon = validate_latlon(frame[["lat", "lon"]].to_numpy(np.float64), what)
    except ValueError as exc:
        raise TrainerError(str(exc)) from exc
    warning = latlon_warning(latlon, what)
    if warning:
        rank_zero_warn(warning)


def geotagged_records(path: str | Path, label_column: str | None = "label") -> pd.DataFrame:
    """Record table (``image_path, lat, lon, label, class_name`` + optional columns) of ``path``."""
    path = Path(path)
    frame = read_table(path)
    missing = [c for c in REQUIRED if c not in frame]
    if missing:
        raise TrainerError(f"{path} lacks the column(s) {missing}; it needs image_path and lat, lon")
    frame = frame.copy()
    frame["image_path"] = [str(p if Path(p).is_absolute() else path.parent / p) for p in frame["image_path"]]
    for column in ("lat", "lon"):
        if column not in frame:
            frame[column] = np.nan
    unplaced = frame["lat"].isna() | frame["lon"].isna()
    checked_latlon(frame[~unplaced], f"coordinates in {path}")
    check_georeference(frame[~unplaced], f"coordinates in {path}")
    for index in frame.index[unplaced]:
        image = frame.at[index, "image_path"]
        if not image.lower().endswith((".tif", ".tiff")):
            raise TrainerError(f"{path}: row {index} ({image}) has no lat/lon and is not a GeoTIFF")
        frame.loc[index, ["lat", "lon"]] = centre_latlon(image)
    frame[["lat", "lon"]] = frame[["lat", "lon"]].astype(np.float64)
    if label_column and label_column in frame:
        return encode_labels(frame, label_column)
    frame["label"], frame["class_name"] = -1, ""
    return frame
