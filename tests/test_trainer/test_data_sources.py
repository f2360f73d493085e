"""The image-source registry, the header pre-flight (bad rows, skip_bad) and disk-backed tiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
from moco_fixtures import eurosat_csv

from trainer.data import preflight as preflight_module
from trainer.data.bands import EUROSAT_BANDS
from trainer.data.catalog import SHARED_DATA_ROOT
from trainer.data.image_datamodule import ImageDataModule
from trainer.data.preflight import preflight
from trainer.data.rasters import centre_latlon, read_image
from trainer.data.registry import image_records, source_names
from trainer.data.tiles import TileDataset
from trainer.errors import TrainerError

BANDS = ["B02", "B03", "B04", "B08"]
SHARED = pytest.mark.skipif(not SHARED_DATA_ROOT.is_dir(), reason="needs ../shared/data (not in a user's clone)")


def test_registry_names_every_source_and_refuses_unknown_ones():
    assert {"eurosat", "eurosat_extra", "ssl4eo", "multitemporal", "inat", "fmow"} <= set(source_names())
    with pytest.raises(TrainerError, match="unknown image source 'nope'.*shards:<dir-or-URL>"):
        image_records("nope")
    with pytest.raises(TrainerError, match="inat:<root>"):
        image_records("inat")


def test_points_sources_come_through_the_registry(tmp_path):
    from osgeo import ogr, osr
    from pyproj import Transformer

    from trainer.data.points import point_records

    eurosat = image_records("eurosat")
    points = point_records("eurosat")  # an image source: its records' places and classes, no pixel read
    np.testing.assert_allclose(points[["lat", "lon"]].to_numpy(), eurosat[["lat", "lon"]].to_numpy())
    assert points["class_name"].tolist() == eurosat["class_name"].tolist()
    assert set(point_records("cities", "continent")["class_name"]) == {"AF", "AN", "AS", "EU", "NA", "OC", "SA"}
    path = tmp_path / "sites.gpkg"  # a point layer in Web Mercator: placed in WGS84 degrees
    mercator = osr.SpatialReference()
    mercator.ImportFromEPSG(3857)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = source.CreateLayer("sites", mercator, ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("habitat", ogr.OFTString))
    xy = [(261_600.0, 6_250_000.0), (-13_580_000.0, 4_500_000.0)]
    for habitat, (x, y) in zip(("dune", "marsh"), xy, strict=True):
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("habitat", habitat)
        feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({x} {y})"))
        layer.CreateFeature(feature)
    layer = source = None
    sites = point_records(str(path), "habitat")
    assert sites["class_name"].tolist() == ["dune", "marsh"]
    lon, lat = Transformer.from_crs(3857, 4326, always_xy=True).transform(*np.array(xy).T)
    np.testing.assert_allclose(sites[["lat", "lon"]].to_numpy(), np.stack([lat, lon], axis=1), atol=1e-9)
    with pytest.raises(TrainerError, match="has no labels"):
        point_records("ssl4eo")
    with pytest.raises(TrainerError, match="unknown points source 'nope'.*ariolimax.*shards:<dir-or-URL>"):
        point_records("nope")


@SHARED
def test_ariolimax_presence_points_are_a_points_source():
    from trainer.data.points import PointsDataModule

    points = PointsDataModule("ariolimax")
    assert points.class_names == ["background", "presence"]
    records = points.records
    assert len(records) == 6585 and (records["label"] == 1).sum() == 1595
    assert records["lat"].between(32, 42.5).all() and records["lon"].between(-125, -114).all()  # California


def test_table_band_order_is_one_option_for_every_command(tmp_path):
    records = image_records(str(eurosat_csv(tmp_path, n=2)), table_bands=list(EUROSAT_BANDS[::-1]))
    assert records["available"].iloc[0] == EUROSAT_BANDS[::-1]
    data = ImageDataModule(sources=[str(eurosat_csv(tmp_path, n=4))], bands=["B02"],
                           table_bands=list(EUROSAT_BANDS[::-1]), tile_size=64, batch_size=2)
    data.setup("fit")
    item = data.datasets["train"][0]
    path = data.datasets["train"].paths[0]
    assert torch.equal(item["image"], torch.from_numpy(read_image(path, [EUROSAT_BANDS[::-1].index("B02")])))


@SHARED
def test_shared_sources_come_through_the_registry():
    extra = image_records("eurosat_extra")
    assert len(extra) == 269 and extra["label"].between(0, 9).all() and extra["available"].iloc[0] == EUROSAT_BANDS
    assert len(image_records("eurosat_all")) == 200 + 269
    scenes = image_records("multitemporal")
    assert len(scenes) == 18 and scenes["location_id"].nunique() == 2 and (scenes["label"] == -1).all()
    assert set(scenes["available"]) == {("B04", "B03", "B02", "B08"), ("B11", "B08", "B04", "B03")}  # S2 equivalents


def test_tiles_are_read_from_disk_one_window_each(tmp_path):
    data = ImageDataModule(sources=["ssl4eo"], bands=BANDS, tile_size=64, batch_size=8)
    data.setup("fit")
    train = data.datasets["train"]
    assert len(train) == 20 * 16  # 20 patches of 256 px = 16 tiles each
    y, x = train.offsets[5]
    whole = read_image(train.paths[5], train.band_sets[train.band_set[5]])
    assert torch.equal(train[5]["image"], torch.from_numpy(whole[:, y:y + 64, x:x + 64]))


def test_float_tiles_with_nan_or_inf_name_the_file_and_tile(tmp_path):
    pixels = np.ones((2, 64, 64), dtype=np.float32)
    pixels[1, 40, 5] = np.inf
    path = tmp_path / "float.tif"
    profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 2, "dtype": "float32", "crs": "EPSG:32633",
               "transform": rasterio.transform.from_origin(500000, 5000000, 10, 10)}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(pixels)
    tiles = pd.DataFrame({"image_path": [str(path)] * 2, "band_indices": [(0,), (0, 1)], "tile_y": [32, 32],
                          "tile_x": [0, 0], "lat": [45.0] * 2, "lon": [10.0] * 2, "label": [-1] * 2})
    dataset = TileDataset(tiles, 32)
    assert torch.equal(dataset[0]["image"], torch.ones(1, 32, 32))
    with pytest.raises(TrainerError, match=r"float.tif holds NaN/inf pixel values in the tile at \(32, 0\)"):
        dataset[1]


def test_workers_see_every_tile_once_per_epoch(tmp_path):
    data = ImageDataModule(sources=[str(eurosat_csv(tmp_path))], bands=BANDS, tile_size=32, batch_size=8,
                           num_workers=2, persistent_workers=True)
    data.setup("fit")
    batches = data.train_dataloader()
    assert batches.num_workers == 2 and batches.worker_init_fn is not None
    seen = torch.cat([b["index"] for b in batches])
    assert sorted(seen.tolist()) == list(range(len(data.datasets["train"])))


def _table_with_bad_rows(tmp_path, data_dir):
    good = sorted((data_dir / "eurosat_ms" / "Forest").glob("*.tif"))[:3]
    small = tmp_path / "small.tif"
    profile = {"driver": "GTiff", "width": 16, "height": 16, "count": 13, "dtype": "uint16", "crs": "EPSG:32633",
               "transform": rasterio.transform.from_origin(500000, 5000000, 10, 10)}
    with rasterio.open(small, "w", **profile) as ds:
        ds.write(np.ones((13, 16, 16), dtype=np.uint16))
    (tmp_path / "broken.tif").write_bytes(b"not a tiff")
    paths = [good[0], tmp_path / "missing.tif", good[1], small, tmp_path / "broken.tif", good[2]]
    places = [centre_latlon(p) if p.is_file() and p.name != "broken.tif" else (45.0, 10.0) for p in paths]
    frame = pd.DataFrame({"image_path": [str(p) for p in paths], "lat": [p[0] for p in places],
                          "lon": [p[1] for p in places]})
    frame.to_csv(tmp_path / "bad.csv", index=False)
    return tmp_path / "bad.csv"


def test_preflight_names_the_first_bad_row_or_skips_and_counts(tmp_path, data_dir):
    table = str(_table_with_bad_rows(tmp_path, data_dir))
    records = image_records(table)
    with pytest.raises(TrainerError, match=r"row 1 \(.*missing.tif\) missing or unreadable.*3 bad row"):
        preflight(records, BANDS, 64, what=table)
    with pytest.warns(UserWarning, match="skipped 3 of 6 rows"):
        kept = preflight(records, BANDS, 64, skip_bad=True, what=table)
    assert len(kept) == 3 and (kept["height"] == 64).all()
    with pytest.raises(TrainerError, match=r"row 1 .*small.tif\) is 16x16 px, smaller than tile_size 64"):
        preflight(records.iloc[[0, 3]].reset_index(drop=True), BANDS, 64)
    with pytest.raises(TrainerError, match=r"has 13 band\(s\), the band selection needs 14"):
        preflight(records.iloc[[0]].assign(available=[EUROSAT_BANDS + ("X",)]), ["X"], 64)
    data = ImageDataModule(sources=[table], bands=BANDS, batch_size=2, skip_bad=True)
    with pytest.warns(UserWarning, match="skipped 3"):
        data.setup("fit")
    assert sum(len(d) for d in data.datasets.values()) == 3


def test_preflight_reads_each_file_once_and_counts_rows_in_chunks_over_a_process_pool(tmp_path, data_dir,
                                                                                       monkeypatch):
    records = image_records(str(_table_with_bad_rows(tmp_path, data_dir)))
    repeated = records.iloc[[0, 2, 1, 0, 3, 1, 5]].reset_index(drop=True)  # windows of shared files
    monkeypatch.setattr(preflight_module, "CHUNK", 2)  # 5 distinct files: 3 chunks over the pool
    with pytest.raises(TrainerError, match=r"row 2 \(.*missing.tif\) missing or unreadable.*3 bad row"):
        preflight(repeated, BANDS, 64)
    with pytest.warns(UserWarning, match=r"skipped 3 of 7 rows .*first: row 2"):
        kept = preflight(repeated, BANDS, 64, skip_bad=True)
    assert kept["image_path"].tolist() == repeated["image_path"].iloc[[0, 1, 3, 6]].tolist()
    assert (kept[["height", "width"]] == 64).all().all()
    assert kept["band_indices"].tolist() == [tuple(EUROSAT_BANDS.index(b) for b in BANDS)] * 4



@pytest.mark.slow
def test_ddp_ranks_partition_the_disk_dataset_every_epoch(tmp_path):
    from scale_fixtures import ddp_indices

    seen = ddp_indices(str(eurosat_csv(tmp_path)), tmp_path)  # 16 patches x 4 tiles
    for epoch in (0, 1):
        ranks = [seen[(0, epoch)], seen[(1, epoch)]]
        assert not set(ranks[0]) & set(ranks[1])
        assert sorted(ranks[0] + ranks[1]) == list(range(64))
    assert seen[(0, 0)] != seen[(0, 1)]  # reshuffled per epoch
