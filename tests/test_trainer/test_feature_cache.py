"""Frozen CSP image features: one streaming pass, cached on disk, reused only under the same key."""

from __future__ import annotations

import json
import shutil

import numpy as np
import rasterio
import torch
from moco_fixtures import eurosat_csv

from trainer.data.registry import image_records
from trainer.data.tiles import crop_pixels
from trainer.models.frozen import frozen_features
from trainer.tasks.csp_data import CspDataModule

BANDS = ["B02", "B03", "B04", "B08"]


def _data(tmp_path, **overrides) -> CspDataModule:
    options = dict(sources=[str(eurosat_csv(tmp_path, n=12))], bands=BANDS, tile_size=32,
                   feature_cache_dir=str(tmp_path / "cache"), batch_size=4, num_workers=0)
    return CspDataModule(**{**options, **overrides})


def test_streamed_features_equal_in_memory_features(tmp_path):
    data = _data(tmp_path, feature_cache_dir=None, num_workers=2)
    features, latlon = data.features, data.items.records[["lat", "lon"]].to_numpy(np.float32)
    records = image_records(str(tmp_path / "records.csv"))
    pixels = crop_pixels(records, BANDS, 32)
    mean = pixels.transpose(0, 1).reshape(4, -1).mean(dim=1)
    std = pixels.transpose(0, 1).reshape(4, -1).std(dim=1)
    expected = frozen_features(pixels, mean, std, "resnet10t_w32")
    np.testing.assert_allclose(features, expected.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(latlon, records[["lat", "lon"]].to_numpy(np.float32))


def test_second_run_reuses_the_cache_and_a_new_key_never_does(tmp_path):
    first = _data(tmp_path)
    features = np.array(first.features)
    assert first.cache_hit is False
    (folder,) = [p for p in (tmp_path / "cache").iterdir()]
    key = json.loads((folder / "key.json").read_text())
    assert key["backbone"] == "resnet10t_w32" and key["bands"] == BANDS and key["tile_size"] == 32
    written = (folder / "features.npy").stat().st_mtime_ns

    second = _data(tmp_path)
    assert isinstance(second.features, np.memmap) and second.cache_hit is True
    np.testing.assert_array_equal(second.features, features)
    assert (folder / "features.npy").stat().st_mtime_ns == written  # nothing computed or rewritten

    for change in ({"bands": BANDS[:3]}, {"tile_size": 16}, {"split_seed": 1}):
        other = _data(tmp_path, **change)
        assert other.cache_hit is None and other.features.shape[0] == 12 and other.cache_hit is False
    assert len(list((tmp_path / "cache").iterdir())) == 4
    assert not list((tmp_path / "cache").glob(".*.part"))


def test_a_rewritten_image_file_misses_the_cache(tmp_path):
    records = image_records(str(eurosat_csv(tmp_path, n=12)))
    copies = tmp_path / "copies"
    copies.mkdir()
    for i, path in enumerate(records["image_path"]):
        shutil.copy(path, copies / f"{i}.tif")
    records.assign(image_path=[f"{i}.tif" for i in range(12)])[["image_path", "lat", "lon"]].to_csv(
        copies / "t.csv", index=False)
    _data(tmp_path, sources=[str(copies / "t.csv")]).features  # noqa: B018 (fills the cache)
    with rasterio.open(copies / "5.tif", "r+") as ds:  # new pixels in one file, same place
        ds.write(ds.read() + 1)
    again = _data(tmp_path, sources=[str(copies / "t.csv")])
    again.features  # noqa: B018
    assert again.cache_hit is False


def test_csp_trains_from_cached_features(tmp_path):
    import lightning as L

    from trainer.tasks.csp import CspTask

    data = _data(tmp_path)
    model = CspTask(feature_dim=data.feature_dim, num_random_locations=8)
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=data)
    assert trainer.global_step == len(data.datasets["train"]) // 4
    assert torch.isfinite(trainer.callback_metrics["train/loss"]).all()
    latlon, features = data.datasets["train"][0]  # pairs are read per item from the memory map
    assert latlon.shape == (2,) and features.shape == (data.feature_dim,)


def test_processes_computing_one_key_at_once_leave_one_complete_folder(tmp_path, monkeypatch):
    import os

    from trainer.data.feature_cache import cached_features, key_hash

    key = {"data": "same"}

    def first_rank(out: np.ndarray) -> None:
        out[:] = 1.0

    def second_rank(out: np.ndarray) -> None:  # meanwhile another process (DDP rank) finishes the same key
        with monkeypatch.context() as patch:
            patch.setattr(os, "getpid", lambda: 999_999)
            cached_features(tmp_path, key, (3, 2), first_rank)
        out[:] = 1.0

    features, hit = cached_features(tmp_path, key, (3, 2), second_rank)
    assert hit is False and (features == 1.0).all()
    assert [p.name for p in tmp_path.iterdir()] == [key_hash(key)]  # no partial folder left behind
