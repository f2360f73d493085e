"""Bad tables and paths given to the trainer: one clear line, never a traceback; swapped
coordinates refused or warned about (issue 20, defects 7 and 9)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
from fault_helpers import DATA, REPO

from trainer.data.catalog import cities_records
from trainer.data.geotagged import geotagged_records, read_table
from trainer.data.points import point_records
from trainer.errors import TrainerError
from trainer.export.atomic import atomic_output

FOREST = sorted((DATA / "eurosat_ms" / "Forest").glob("*.tif"))[:5]


def trainer_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trainer", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})


def last_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.stderr.strip().splitlines()[-1]


def test_empty_and_headerless_tables(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(TrainerError, match="empty.csv is empty: it needs a header row"):
        read_table(empty)
    header = tmp_path / "header.csv"
    header.write_text("image_path,lat,lon\n")
    with pytest.raises(TrainerError, match="header.csv has a header but no data rows"):
        read_table(header)


def test_non_numeric_latitude_in_csp_fit_is_one_line(tmp_path):
    table = tmp_path / "images.csv"
    pd.DataFrame({"image_path": [str(p) for p in FOREST], "lat": ["48.1", "49.0", "north", "47", "46"],
                  "lon": [11.0, 11.1, 11.2, 11.3, 11.4]}).to_csv(table, index=False)
    line = last_error_line(trainer_cli("csp", "fit", "--config", "trainer/configs/csp_eurosat.yaml",
                                       "--data.sources", f"[{table}]", "--trainer.max_epochs", "1",
                                       "--trainer.default_root_dir", str(tmp_path / "runs")))
    assert line == f"error: coordinates in {table} row 2: lat 'north' is not a number (degrees)"


def test_missing_ckpt_path_is_one_line(tmp_path):
    missing = tmp_path / "nope.ckpt"
    line = last_error_line(trainer_cli("csp", "fit", "--config", "trainer/configs/csp_eurosat.yaml",
                                       "--ckpt_path", str(missing)))
    assert line == f"error: --ckpt_path {missing}: checkpoint not found (give a .ckpt file, or 'last' to resume " \
                   "the latest run)"


def test_unwritable_export_target(read_only_folder):
    with pytest.raises(TrainerError, match="cannot write .*model.onnx: Read-only file system"), \
            atomic_output(read_only_folder / "models" / "model.onnx"):
        pass


def test_geotiff_rows_with_swapped_coordinates_are_refused(tmp_path):
    """Every EuroSAT patch knows where it is: a (lon, lat) table contradicts the files."""
    frame = geotagged_records(_table(tmp_path / "good.csv", FOREST))  # placed from the files
    swapped = pd.DataFrame({"image_path": frame["image_path"], "lat": frame["lon"], "lon": frame["lat"]})
    with pytest.raises(TrainerError, match="row 0: .* but its GeoTIFF lies at .*; the lat and lon columns are swapped"):
        geotagged_records(_table(tmp_path / "swapped.csv", FOREST, swapped))


def test_swapped_point_table_is_warned_about(tmp_path):
    """European towns with lat and lon exchanged fit in ±90 but land in the Indian Ocean and Arabia."""
    europe = cities_records().query("continent == 'EU' and lon > -10 and lon < 40").head(300)
    table = tmp_path / "points.csv"
    swapped = {"lat": europe["lon"], "lon": europe["lat"], "label": europe["country_code"]}
    pd.DataFrame(swapped).to_csv(table, index=False)
    with pytest.warns(UserWarning, match="are the lat and lon columns swapped"):
        point_records(str(table))
    right = tmp_path / "right.csv"
    pd.DataFrame({"lat": europe["lat"], "lon": europe["lon"], "label": europe["country_code"]}).to_csv(right,
                                                                                                       index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        point_records(str(right))
    assert not [w for w in caught if "inhabited land" in str(w.message)]


def test_swapped_african_towns_are_warned_about_although_half_lie_on_land(tmp_path):
    """Issue 26, point 3: swapped, 300 African towns still put about half of the points on inhabited land
    (|lon| <= 90 passes every range check); read as (lon, lat) all of them are: the swap is warned about."""
    africa = cities_records().query("continent == 'AF'").sample(300, random_state=0)
    table = tmp_path / "towns.csv"
    pd.DataFrame({"lat": africa["lon"], "lon": africa["lat"], "label": africa["country_code"]}).to_csv(table,
                                                                                                      index=False)
    with pytest.warns(UserWarning, match=r"only 5\d% of the points lie on inhabited land .*; read as \(lon, lat\) "
                                         "100% would: are the lat and lon columns swapped"):
        point_records(str(table))
    right = tmp_path / "right.csv"
    pd.DataFrame({"lat": africa["lat"], "lon": africa["lon"], "label": africa["country_code"]}).to_csv(right,
                                                                                                      index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        point_records(str(right))
    assert not [w for w in caught if "inhabited land" in str(w.message)]


def _table(path: Path, images: list[Path], frame: pd.DataFrame | None = None) -> Path:
    (frame if frame is not None else pd.DataFrame({"image_path": [str(p) for p in images]})).to_csv(path, index=False)
    return path
