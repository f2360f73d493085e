"""litdata shard sets: build (atomic, ordered), stream into MoCo/CSP, temporal keys, kill and resume."""

from __future__ import annotations

import json

import lightning as L
import numpy as np
import pytest
import torch
from moco_fixtures import StopAt, two_date_csv

from trainer.cli import main as trainer_main
from trainer.data.bands import EUROSAT_BANDS
from trainer.data.image_datamodule import ImageDataModule
from trainer.data.shard_build import build_shards
from trainer.data.shards import ShardDataset, shard_meta
from trainer.errors import TrainerError
from trainer.tasks.csp_data import CspDataModule
from trainer.tasks.moco import MocoTask

BANDS = ["B02", "B03", "B04", "B08"]


@pytest.fixture(scope="module")
def shard_set(tmp_path_factory):
    """Shards of 16 real EuroSAT patches (8 locations x 2 dates) cut into 32 px tiles: 64 items."""
    folder = tmp_path_factory.mktemp("shards")
    table = two_date_csv(folder)
    assert trainer_main(["shards", "build", "--source", str(table), "--out", str(folder / "set"), "--tile-size",
                         "32", "--bands", *BANDS, "--workers", "2"]) == 0
    return folder / "set", table


def test_shards_hold_the_disk_tiles_in_order_with_their_fields(shard_set):
    location, table = shard_set
    meta, items = shard_meta(str(location))
    assert meta["items"] == len(items) == 64 and meta["bands"] == BANDS and meta["tile_size"] == 32
    assert [p.name for p in location.parent.iterdir() if p.name.startswith(".")] == []  # no temporary left
    disk = ImageDataModule(sources=[str(table)], bands=BANDS, tile_size=32, val_fraction=0, test_fraction=0)
    disk.setup("fit")
    tiles = disk.datasets["train"]
    streamed = ShardDataset(str(location), "train", shuffle=False)
    for i in (0, 5, 63):
        item = streamed[i]
        assert item["index"] == i
        assert torch.equal(item["image"], tiles[i]["image"])
        np.testing.assert_allclose(item["latlon"].numpy(), tiles.latlon[i].numpy())
    assert set(items["location_id"]) == {f"loc{i}" for i in range(8)} and items["timestamp"].nunique() == 2
    torch.testing.assert_close(torch.tensor(meta["band_mean"]), torch.tensor(disk.band_mean))


def test_build_refuses_an_existing_folder_and_training_refuses_other_bands(shard_set, tmp_path):
    location, table = shard_set
    with pytest.raises(TrainerError, match="already exists"):
        build_shards(str(table), location, BANDS, 32, BANDS)
    with pytest.raises(TrainerError, match="holds bands"):
        ImageDataModule(sources=[f"shards:{location}"], bands=BANDS[:3], tile_size=32).setup("fit")
    (tmp_path / "half").mkdir()
    with pytest.raises(TrainerError, match="not a complete shard set"):
        ImageDataModule(sources=[f"shards:{tmp_path / 'half'}"], bands=BANDS, tile_size=32).setup("fit")
    (tmp_path / "old").mkdir()  # the layout before splits: one litdata folder, no "splits" in shards.json
    (tmp_path / "old" / "shards.json").write_text(json.dumps({"bands": BANDS, "tile_size": 32, "items": 64}))
    with pytest.raises(TrainerError, match="without train/val/test folders .*rebuild it"):
        ImageDataModule(sources=[f"shards:{tmp_path / 'old'}"], bands=BANDS, tile_size=32).setup("fit")


def test_temporal_keys_stream_from_the_other_date(shard_set):
    location, _ = shard_set
    data = ImageDataModule(sources=[f"shards:{location}"], bands=BANDS, tile_size=32, key_view="temporal",
                           batch_size=8)
    data.setup("fit")
    dataset = data.datasets["train"]
    for i in (0, 7, 20):  # 4 tiles per patch; patches 2k and 2k+1 are one location at two dates
        image, tile = divmod(i, 4)
        partner = image + 1 if image % 2 == 0 else image - 1
        assert torch.equal(dataset[i]["key"], dataset[partner * 4 + tile]["image"])
    assert len(data.train_latlon) == 64 and len(data.band_mean) == 4


class Record(L.Callback):
    """Item indices of every training batch, with the epoch and the step count before it."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, int, list[int]]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.batches.append((trainer.current_epoch, trainer.global_step, batch["index"].tolist()))


def kill_and_resume(tmp_path, make_data, make_model, *, save_every: int, stop: int, items: int, batch: int,
                    **trainer_options) -> Record:
    """Train 2 epochs killed after ``stop`` steps (checkpoints every ``save_every``), resume from last.ckpt and
    check that epoch 0 then saw each of the ``items`` once; the resumed run's batches."""
    checkpoints = tmp_path / "checkpoints"

    def run(record: Record, stop: int | None, ckpt_path=None) -> L.Trainer:
        L.seed_everything(0)
        data = make_data()
        saver = L.pytorch.callbacks.ModelCheckpoint(dirpath=checkpoints, every_n_train_steps=save_every, save_last=True)
        trainer = L.Trainer(accelerator="cpu", max_epochs=2, logger=False, enable_progress_bar=False,
                            enable_model_summary=False, default_root_dir=tmp_path,
                            callbacks=[saver, record] + ([StopAt(stop)] if stop else []), **trainer_options)
        trainer.fit(make_model(data), datamodule=data, ckpt_path=ckpt_path)
        return trainer

    killed, resumed = Record(), Record()
    with pytest.raises(RuntimeError, match="simulated kill"):
        run(killed, stop=stop)
    assert torch.load(checkpoints / "last.ckpt", weights_only=False)["global_step"] == save_every
    steps_per_epoch = items // batch
    assert run(resumed, stop=None, ckpt_path=checkpoints / "last.ckpt").global_step == 2 * steps_per_epoch
    saved = [i for _, step, indices in killed.batches if step < save_every for i in indices]
    after = [i for epoch, _, indices in resumed.batches if epoch == 0 for i in indices]
    assert len(after) == (steps_per_epoch - save_every) * batch and sorted(saved + after) == list(range(items))
    return resumed


def test_moco_resumes_mid_epoch_on_shards_without_repeating_items(shard_set, tmp_path):
    torch.set_num_threads(1)
    location, _ = shard_set
    resumed = kill_and_resume(
        tmp_path,
        lambda: ImageDataModule(sources=[f"shards:{location}"], bands=BANDS, tile_size=32, key_view="temporal",
                                batch_size=8, num_workers=1),
        lambda data: MocoTask(backbone="resnet10t_w32", bands=BANDS, tile_size=32, queue_size=16),
        save_every=3, stop=5, items=64, batch=8)  # 8 steps per epoch
    epoch1 = [i for epoch, _, items in resumed.batches if epoch == 1 for i in items]
    assert sorted(epoch1) == list(range(64)) and epoch1 != sorted(epoch1)  # reshuffled, complete


def test_csp_features_stream_from_shards_and_are_cached(shard_set, tmp_path):
    location, _ = shard_set
    options = dict(sources=[f"shards:{location}"], bands=BANDS, tile_size=32, batch_size=8,
                   feature_cache_dir=str(tmp_path / "cache"), num_workers=2)
    first = CspDataModule(**options)
    features = first.features
    assert features.shape[0] == 64 and first.cache_hit is False and np.isfinite(features).all()
    again = CspDataModule(**options)
    np.testing.assert_array_equal(again.features, features)
    assert again.cache_hit is True
    key = json.loads(next((tmp_path / "cache").glob("*/key.json")).read_text())
    assert key["bands"] == BANDS and len(key["data"]) == 64


@pytest.mark.slow
def test_ddp_ranks_stream_disjoint_halves_of_the_shards(shard_set, tmp_path):
    from scale_fixtures import ddp_indices

    location, _ = shard_set
    seen = ddp_indices(f"shards:{location}", tmp_path)
    for epoch in (0, 1):
        ranks = [seen[(0, epoch)], seen[(1, epoch)]]
        assert not set(ranks[0]) & set(ranks[1])
        assert sorted(ranks[0] + ranks[1]) == list(range(64))


@pytest.mark.slow
def test_a_killed_build_leaves_no_shard_set(tmp_path):
    """SIGKILL mid-build (the build and its litdata workers): chunks in a hidden temporary, no shard set; the next
    build sweeps it. SIGTERM: the build removes its temporary before it dies."""
    import os
    import signal
    import subprocess
    import sys
    import time

    table = two_date_csv(tmp_path)
    out = tmp_path / "set"

    def build_until_chunks(signum: int) -> list:
        build = subprocess.Popen([sys.executable, "-m", "trainer", "shards", "build", "--source", str(table), "--out",
                                  str(out), "--tile-size", "16", "--bands", *BANDS, "--chunk-bytes", "64KB"],
                                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        own_chunks = f".set.{build.pid}-*.part/train/*.bin"  # not a dead run's leftovers
        deadline = time.monotonic() + 300
        while not any(tmp_path.glob(own_chunks)) and time.monotonic() < deadline and build.poll() is None:
            time.sleep(0.05)
        assert any(tmp_path.glob(own_chunks))
        os.killpg(build.pid, signum)
        build.wait()
        return list(tmp_path.glob(".set.*.part"))

    (partial,) = build_until_chunks(signal.SIGKILL)
    assert not out.exists()  # killed mid-build: chunks, no shard set
    with pytest.raises(TrainerError, match="not a complete shard set"):
        ImageDataModule(sources=[f"shards:{partial}"], bands=BANDS, tile_size=16).setup("fit")
    assert build_until_chunks(signal.SIGTERM) == [] and not out.exists()  # the dead run's temporary swept too
    build_shards(str(table), out, BANDS, 16, list(EUROSAT_BANDS))
    assert shard_meta(str(out))[0]["items"] == 16 * 16 and not list(tmp_path.glob(".set.*"))


@pytest.fixture(scope="module")
def labelled_set(tmp_path_factory):
    """Shards of 30 real EuroSAT patches (3 per class) in 32 px tiles, split 1/3 each per patch: 120 items."""
    from trainer.data.catalog import eurosat_records

    folder = tmp_path_factory.mktemp("labelled")
    records = eurosat_records().groupby("label").head(3)
    records[["image_path", "lat", "lon", "class_name"]].rename(columns={"class_name": "label"}).to_csv(
        folder / "labelled.csv", index=False)
    location = build_shards(str(folder / "labelled.csv"), folder / "set", BANDS, 32, list(EUROSAT_BANDS), workers=1,
                            val_fraction=1 / 3, test_fraction=1 / 3)
    return location, records


def test_a_labelled_shard_set_is_split_per_image_into_folders(labelled_set):
    location, records = labelled_set
    meta, items = shard_meta(str(location))
    assert meta["splits"] == {"train": 40, "val": 40, "test": 40} and meta["class_names"] == sorted(
        records["class_name"])[::3]
    assert all((location / split / "index.json").is_file() for split in ("train", "val", "test"))
    images = items.groupby("image_path")["split"].nunique()
    assert len(images) == 30 and (images == 1).all()  # the 4 tiles of an image stay in one split
    assert (items.groupby("split")["label"].nunique() == 10).all()  # stratified: every class in every split
    data = ImageDataModule(sources=[f"shards:{location}"], bands=BANDS, tile_size=32, batch_size=8)
    data.setup("fit")
    assert data.class_names == meta["class_names"] and len(data.train_latlon) == 40
    for split in ("val", "test"):
        batches = list(getattr(data, f"{split}_dataloader")())
        expected = items[items["split"] == split]
        assert sorted(torch.cat([b["index"] for b in batches]).tolist()) == list(range(40))
        assert sorted(torch.cat([b["label"] for b in batches]).tolist()) == sorted(expected["label"])
    few = ImageDataModule(sources=[f"shards:{location}"], bands=BANDS, tile_size=32, batch_size=8, label_ratio=0.25)
    few.setup("fit")
    labels = [few.datasets["train"][i]["label"].item() for i in range(len(few.datasets["train"]))]
    assert len(labels) == 10 and sorted(labels) == list(range(10))  # one training tile per class
    with pytest.raises(TrainerError, match="holds the one train/val/test split"):
        ImageDataModule(sources=[f"shards:{location}"], bands=BANDS, tile_size=32, folds=2).setup("fit")


def test_points_and_csp_use_the_split_written_at_build_time(labelled_set):
    from trainer.data.points import PointsDataModule

    location, _ = labelled_set
    _, items = shard_meta(str(location))
    points = PointsDataModule(f"shards:{location}", batch_size=8)
    for split in ("train", "val", "test"):
        np.testing.assert_allclose(points.splits[split][["lat", "lon"]].to_numpy(),
                                   items.loc[items["split"] == split, ["lat", "lon"]].to_numpy())
    csp = CspDataModule(sources=[f"shards:{location}"], bands=BANDS, tile_size=32, batch_size=8)
    held = csp.items.records["heldout"].to_numpy()
    assert csp.features.shape[0] == 120 and held.sum() == 40 and (csp.items.records["split"][held] == "test").all()
    trained = np.concatenate([csp.split_rows["train"], csp.split_rows["val"]])
    assert len(trained) == 80 and not held[trained].any()  # no test item is ever a CSP pair


def test_csp_end_to_end_streams_pixels_from_the_shard_splits(labelled_set, tmp_path):
    from torch.utils.data import IterableDataset

    from trainer.tasks.csp import CspTask

    location, _ = labelled_set
    data = CspDataModule(sources=[f"shards:{location}"], bands=BANDS, tile_size=32, batch_size=8,
                         image_encoder_trainable=True, feature_cache_dir=str(tmp_path / "cache"))
    assert isinstance(data.datasets["train"], IterableDataset) and len(data.datasets["val"]) == 40
    model = CspTask(feature_dim=data.feature_dim, num_random_locations=8, image_encoder=data.image_encoder)
    trainer = L.Trainer(accelerator="cpu", max_steps=2, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                        limit_val_batches=1)
    trainer.fit(model, datamodule=data)
    assert trainer.global_step == 2 and torch.isfinite(trainer.callback_metrics["train/loss"])
    assert not (tmp_path / "cache").exists()
    trainer.save_checkpoint(tmp_path / "last.ckpt")  # the stream's position, for a mid-epoch resume
    saved = torch.load(tmp_path / "last.ckpt", weights_only=False)["CspDataModule"]["shard_loader"]
    assert saved["num_samples_yielded"] == 16, saved  # 2 steps of 8 items
    with pytest.raises(TrainerError, match="no frozen features"):
        data.features  # noqa: B018


def test_a_classifier_trains_on_the_shard_train_split_and_tests_on_its_test_split(labelled_set, tmp_path):
    from trainer.tasks.image_classifier import ImageClassifierTask

    location, _ = labelled_set
    meta, _ = shard_meta(str(location))

    class Count(L.Callback):
        def __init__(self) -> None:
            self.seen: dict[str, list[int]] = {"val": [], "test": []}

        def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
            self.seen["val"] += batch["index"].tolist()

        def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
            self.seen["test"] += batch["index"].tolist()

    data = ImageDataModule(sources=[f"shards:{location}"], bands=BANDS, tile_size=32, batch_size=8)
    model = ImageClassifierTask(bands=BANDS, class_names=meta["class_names"], tile_size=32, augment="none")
    count = Count()
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                        callbacks=[count], num_sanity_val_steps=0)
    trainer.fit(model, datamodule=data)
    results = trainer.test(model, datamodule=data, verbose=False)[0]
    assert trainer.global_step == 5 and 0 <= results["test/top1"] <= 1  # 40 training tiles, batches of 8
    assert sorted(count.seen["val"]) == sorted(count.seen["test"]) == list(range(40))


def test_evaluate_takes_a_shard_set_with_its_split(labelled_set, tmp_path, capsys):
    import pandas as pd

    location, _ = labelled_set
    assert trainer_main(["evaluate", "--source", f"shards:{location}", "--bands", *BANDS, "--tile_size", "32",
                         "--ratios", "1", "--seeds", "0", "--steps", "2", "--prior_losses", "softmax",
                         "--prior_exponents", "--out", str(tmp_path / "eval")]) == 0
    rows = pd.read_csv(tmp_path / "eval.csv")
    image = rows[rows["model"] == "image only"].set_index("split")
    assert image.loc["test", "n_eval"] == 40 and image.loc["val", "n_eval"] == 40  # the build-time split
    assert "image features of 120" in capsys.readouterr().err


def test_a_split_the_places_cannot_give_is_refused_with_the_way_out(labelled_set, tmp_path):
    table = labelled_set[0].parent / "labelled.csv"
    with pytest.raises(TrainerError, match="cannot split 30 records.*or 0 and 0 for no split"):
        build_shards(str(table), tmp_path / "set", BANDS, 32, list(EUROSAT_BANDS), val_fraction=0.05,
                     test_fraction=0.05)  # 2 test places for 10 classes
    assert not (tmp_path / "set").exists()


@pytest.mark.slow
def test_csp_end_to_end_resumes_mid_epoch_on_shards_without_repeating_items(labelled_set, tmp_path):
    from trainer.tasks.csp import CspTask

    torch.set_num_threads(1)
    location, _ = labelled_set
    kill_and_resume(
        tmp_path,
        lambda: CspDataModule(sources=[f"shards:{location}"], bands=BANDS, tile_size=32, batch_size=8,
                              image_encoder_trainable=True, num_workers=1),
        lambda data: CspTask(feature_dim=data.feature_dim, num_random_locations=8, image_encoder=data.image_encoder),
        save_every=2, stop=3, items=40, batch=8, limit_val_batches=0)  # 40 train items: 5 steps per epoch
