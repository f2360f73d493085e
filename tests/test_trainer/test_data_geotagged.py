"""Record tables: generic geotagged CSV/Parquet, iNat2018 and fMoW-rgb layouts, labelled points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainer.data.fmow import fmow_records, polygon_centre
from trainer.data.geotagged import geotagged_records
from trainer.data.inat import inat_records
from trainer.data.points import PointsDataModule, point_records
from trainer.data.rasters import centre_latlon
from trainer.data.registry import image_records
from trainer.data.tiles import crop_pixels
from trainer.errors import TrainerError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_inat_layout_drops_unlocated_images():
    records = inat_records(FIXTURES / "inat2018", "train")
    assert len(records) == 2  # the third image has lat/lon null
    first = records.iloc[0]
    assert (first.lat, first.lon) == (37.77, -122.42)
    assert list(records["class_name"]) == ["Plantae 0 Aa", "Aves 5 Bb"]
    assert list(records["label"]) == [0, 1] and list(records["category_id"]) == [0, 5]
    assert Path(first.image_path).is_file()
    assert len(inat_records(FIXTURES / "inat2018", "val")) == 1
    with pytest.raises(TrainerError, match="split 'test'"):
        inat_records(FIXTURES / "inat2018", "test")


def test_fmow_layout_reads_polygon_centres_and_dates():
    records = fmow_records(FIXTURES / "fmow_rgb", "train")
    assert len(records) == 3
    airport = records[records["class_name"] == "airport"]
    assert np.allclose(airport[["lat", "lon"]].to_numpy(), [[48.85, 2.35]] * 2)
    assert set(airport["location_id"]) == {"airport_0"} and airport["timestamp"].nunique() == 2
    assert list(records["gsd"]) == [0.5, 0.6, 1.2]
    assert all(Path(p).is_file() for p in records["image_path"])
    with pytest.raises(TrainerError, match="not a WKT polygon"):
        polygon_centre("POINT (2")


@pytest.mark.parametrize("source", ["inat", "fmow"])
def test_published_layouts_feed_csp_pairs(source):
    root = FIXTURES / ("inat2018" if source == "inat" else "fmow_rgb")
    records = image_records(f"{source}:{root}")
    pixels = crop_pixels(records, ["red", "green", "blue"], 16)
    assert pixels.shape == (len(records), 3, 16, 16) and pixels.max() > 0


def test_geotagged_csv_places_geotiffs_and_reads_jpeg(tmp_path, data_dir):
    tif = sorted((data_dir / "eurosat_ms" / "Forest").glob("*.tif"))[0]
    jpg = FIXTURES / "fmow_rgb/train/park/park_3/park_3_0_rgb.jpg"
    pd.DataFrame({"image_path": [str(tif), str(jpg)], "lat": [None, 40.71], "lon": [None, -74.01],
                  "label": ["forest", "park"]}).to_csv(tmp_path / "t.csv", index=False)
    records = geotagged_records(tmp_path / "t.csv")
    assert np.allclose(records.loc[0, ["lat", "lon"]].to_numpy(float), centre_latlon(tif))
    assert list(records["label"]) == [0, 1] and list(records["class_name"]) == ["forest", "park"]
    pixels = crop_pixels(records.iloc[[1]].assign(available=[("red", "green", "blue")]), ["red"], 16)
    assert pixels.shape == (1, 1, 16, 16)


def test_geotagged_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    pd.DataFrame({"image_path": ["a.jpg"], "lat": [1.0], "lon": [2.0]}).to_parquet(tmp_path / "t.parquet")
    assert geotagged_records(tmp_path / "t.parquet").loc[0, "label"] == -1


@pytest.mark.parametrize("lat, lon, message", [(95.0, 10.0, "95"), (10.0, 200.0, "200")])
def test_geotagged_bad_coordinates_name_the_value(tmp_path, lat, lon, message):
    pd.DataFrame({"image_path": ["x.tif"], "lat": [lat], "lon": [lon]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(TrainerError, match=message):
        geotagged_records(tmp_path / "t.csv")


def test_geotagged_row_without_coordinates_must_be_geotiff(tmp_path):
    pd.DataFrame({"image_path": ["a.jpg"], "lat": [None], "lon": [None]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(TrainerError, match="no lat/lon and is not a GeoTIFF"):
        geotagged_records(tmp_path / "t.csv")


def test_cities_continents_keep_north_america():
    records = point_records("cities", "continent")
    assert "NA" in set(records["class_name"]) and not records["class_name"].isna().any()
    module = PointsDataModule("cities", "continent", label_ratio=0.05, split_seed=0)
    assert module.class_names == sorted(set(records["class_name"]))
    sizes = {k: len(v) for k, v in module.splits.items()}
    assert sizes["test"] == pytest.approx(0.2 * len(records), abs=2)
    assert sizes["train"] == pytest.approx(0.05 * 0.6 * len(records), rel=0.05)
    latlon, label = next(iter(module.train_dataloader()))
    assert latlon.shape[1] == 2 and latlon[:, 0].abs().max() <= 90 and label.max() < len(module.class_names)


def test_integer_labels_keep_numeric_order_and_given_class_names():
    import pandas as pd

    from trainer.data.geotagged import encode_labels

    frame = pd.DataFrame({"label": [10, 2, 2, 10, 3], "class_name": ["ten", "two", "two", "ten", "three"]})
    encoded = encode_labels(frame)
    assert encoded["label"].tolist() == [2, 0, 0, 2, 1]  # 2 < 3 < 10, not "10" < "2" < "3"
    assert encoded["class_name"].tolist() == ["ten", "two", "two", "ten", "three"]
    assert encode_labels(frame.drop(columns="class_name"))["class_name"].tolist() == ["10", "2", "2", "10", "3"]
