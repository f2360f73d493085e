"""Geography-aware MoCo-v2: queue, momentum, temporal pairs, bad inputs, training on real patches."""

from __future__ import annotations

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from moco_fixtures import StopAt, eurosat_csv, two_date_csv

from trainer.data.image_datamodule import ImageDataModule
from trainer.data.temporal import TemporalPairs
from trainer.errors import TrainerError
from trainer.losses.moco import KeyQueue, moco_logits, momentum_update
from trainer.tasks.moco import MocoTask

BANDS = ["B02", "B03", "B04", "B08"]


def test_queue_is_fifo_and_wraps_around():
    queue = KeyQueue(size=5, dim=2)
    first = torch.arange(6.0).view(3, 2)
    queue.enqueue(first)
    assert torch.equal(queue.keys[:3], first) and int(queue.ptr) == 3
    second = 10 + torch.arange(6.0).view(3, 2)
    queue.enqueue(second)  # two rows fill the end, the third overwrites the oldest (row 0)
    assert torch.equal(queue.keys[3:], second[:2])
    assert torch.equal(queue.keys[0], second[2]) and torch.equal(queue.keys[1:3], first[1:])
    assert int(queue.ptr) == 1


def test_queue_keeps_the_newest_of_an_oversized_batch():
    queue = KeyQueue(size=3, dim=1)
    queue.enqueue(torch.arange(7.0).view(7, 1))
    assert sorted(queue.keys.view(-1).tolist()) == [4.0, 5.0, 6.0]


def test_momentum_update_moves_key_towards_query_and_copies_buffers():
    query, key = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        query.weight.fill_(1.0)
        key.weight.fill_(0.0)
        query.running_mean.fill_(5.0)
    momentum_update(key, query, momentum=0.9)
    assert torch.allclose(key.weight, torch.full((3,), 0.1))
    assert torch.equal(key.running_mean, query.running_mean)
    momentum_update(key, query, momentum=0.0)
    assert torch.equal(key.weight, query.weight)


def test_logits_put_the_positive_first():
    q = F.normalize(torch.randn(4, 8), dim=1)
    queue = F.normalize(torch.randn(10, 8), dim=1)
    logits = moco_logits(q, q, queue, temperature=0.2)
    assert logits.shape == (4, 11)
    assert torch.allclose(logits[:, 0], torch.full((4,), 5.0))
    assert torch.allclose(logits[:, 1:], q @ queue.t() / 0.2)


def test_temporal_pairs_never_cross_locations(tmp_path):
    records = pd.read_csv(two_date_csv(tmp_path, n_locations=6))
    extra = records.iloc[:1].assign(location_id="alone", timestamp="2022-01-01")
    records = pd.concat([records, extra], ignore_index=True)
    pairs = TemporalPairs(records)
    generator = torch.Generator().manual_seed(0)
    for i in range(len(records)):
        for _ in range(20):
            j = pairs.sample(i, generator)
            assert records["location_id"][j] == records["location_id"][i]
            if records["location_id"][i] != "alone":
                assert records["timestamp"][j] != records["timestamp"][i]
    assert pairs.sample(len(records) - 1, generator) == len(records) - 1  # single date: itself
    assert pairs.n_multi_date == len(records) - 1


@pytest.mark.parametrize("tile_size", [64, 32])
def test_temporal_key_views_come_from_the_same_tile_of_the_other_date(tmp_path, tile_size):
    data = ImageDataModule(sources=[str(two_date_csv(tmp_path))], bands=BANDS, key_view="temporal", batch_size=4,
                           tile_size=tile_size)
    data.setup("fit")
    train = data.datasets["train"]
    tiles = (64 // tile_size) ** 2  # per 64 px EuroSAT patch, in the same order for every patch
    for i in range(len(train)):
        image, tile = divmod(i, tiles)
        partner = image + 1 if image % 2 == 0 else image - 1
        assert torch.equal(train[i]["key"], train[partner * tiles + tile]["image"])


def test_single_date_data_falls_back_or_fails_when_strict(tmp_path):
    path = eurosat_csv(tmp_path, n=8)
    with pytest.warns(UserWarning, match="second augmentation"):
        data = ImageDataModule(sources=[str(path)], bands=BANDS, key_view="temporal", batch_size=4)
        data.setup("fit")
    item = data.datasets["train"][3]
    assert torch.equal(item["key"], item["image"])
    strict = ImageDataModule(sources=[str(path)], bands=BANDS, key_view="temporal", temporal_fallback=False)
    with pytest.raises(TrainerError, match="no location_id has images from two dates"):
        strict.setup("fit")


@pytest.mark.parametrize("columns, message", [
    ({"location_id": ["a", "b"] * 4}, "no 'timestamp' column"),
    ({"location_id": ["a", "b"] * 4, "timestamp": ["2020-01-01", None] * 4}, "missing or unreadable"),
    ({"location_id": ["a", "b"] * 4, "timestamp": ["2020-01-01", "last summer"] * 4}, "missing or unreadable"),
])
def test_bad_timestamps_give_clear_errors(tmp_path, columns, message):
    data = ImageDataModule(sources=[str(eurosat_csv(tmp_path, n=8, **columns))], bands=BANDS, key_view="temporal")
    with pytest.raises(TrainerError, match=message):
        data.setup("fit")


def test_out_of_range_coordinates_are_rejected(tmp_path):
    path = eurosat_csv(tmp_path, n=8)
    frame = pd.read_csv(path)
    frame.loc[2, "lat"] = 95.0  # (empty lat/lon of a GeoTIFF is filled from its centre instead)
    frame.to_csv(path, index=False)
    with pytest.raises(TrainerError, match="row 2: latitude 95 is outside"):
        ImageDataModule(sources=[str(path)], bands=BANDS, key_view="augment").setup("fit")


def _trainer(tmp_path, **kwargs) -> L.Trainer:
    options = dict(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                   enable_model_summary=False, default_root_dir=tmp_path, enable_checkpointing=False)
    return L.Trainer(**{**options, **kwargs})


def _view_loss(model: MocoTask, images: torch.Tensor) -> float:
    """InfoNCE between two seeded augmentations of each image, the other images as negatives."""
    model.eval()
    losses = []
    with torch.no_grad():
        for seed in range(5):
            torch.manual_seed(seed)
            x = model.normalise(images)
            q = F.normalize(model.encoder_q(model.augment(x)), dim=1)
            k = F.normalize(model.encoder_q(model.augment(x)), dim=1)
            losses.append(float(F.cross_entropy(q @ k.t() / 0.2, torch.arange(len(q)))))
    return float(np.mean(losses))


def test_loss_decreases_on_a_tiny_real_batch(tmp_path):
    torch.set_num_threads(1)
    data = ImageDataModule(sources=[str(eurosat_csv(tmp_path))], bands=BANDS, key_view="augment",
                           batch_size=8, tile_size=32)  # 16 images; the queue holds the other batch

    def task() -> MocoTask:
        L.seed_everything(0)
        return MocoTask(backbone="resnet10t_w32", bands=BANDS, tile_size=32, queue_size=8, momentum=0.9, lr=0.05)

    model = task()
    _trainer(tmp_path, max_steps=60).fit(model, datamodule=data)
    untrained = task()
    untrained.band_mean.copy_(model.band_mean)
    untrained.band_std.copy_(model.band_std)
    images = torch.stack([item["image"] for item in data.datasets["train"]])
    assert _view_loss(model, images) < _view_loss(untrained, images) - 0.3
    assert torch.allclose(model.band_mean, torch.tensor(data.band_mean))


def test_checkpoint_rebuilds_the_task_with_centres_and_statistics(tmp_path):
    torch.set_num_threads(1)
    data = ImageDataModule(sources=[str(two_date_csv(tmp_path))], bands=BANDS, key_view="temporal",
                           batch_size=8, tile_size=32)
    model = MocoTask(variant="moco_geo_tp", backbone="resnet10t_w32", bands=BANDS, tile_size=32, queue_size=32,
                     geo_clusters=3)
    trainer = _trainer(tmp_path, max_steps=2)
    trainer.fit(model, datamodule=data)
    trainer.save_checkpoint(tmp_path / "moco.ckpt")
    restored = MocoTask.load_from_checkpoint(tmp_path / "moco.ckpt")
    for name in ("cluster_centres", "band_mean", "band_std", "queue.keys"):
        assert torch.equal(restored.state_dict()[name], model.state_dict()[name]), name
    assert torch.allclose(restored.cluster_centres.norm(dim=1), torch.ones(3), atol=1e-5)
    state = torch.load(tmp_path / "moco.ckpt", weights_only=False)["state_dict"]
    assert any(k.startswith("encoder_q.backbone.") for k in state)  # prefix CSP/classifiers load


@pytest.mark.parametrize("options, message", [
    ({"variant": "simclr"}, "variant 'simclr'"),
    ({"momentum": 1.0}, "0 <= momentum < 1"),
    ({"backbone": "no_such_net"}, "unknown backbone 'no_such_net'"),
    ({"key_bn": "group"}, "key_bn 'group' is not one of shuffle, sync, local"),
])
def test_bad_options_give_clear_errors(options, message):
    with pytest.raises(TrainerError, match=message):
        MocoTask(**{"backbone": "resnet10t_w32", "bands": BANDS, **options})


def test_resume_mid_epoch_gives_the_same_step_count_and_keeps_checkpoints(tmp_path):
    torch.set_num_threads(1)
    checkpoints = tmp_path / "checkpoints"

    def run(stop: int | None, ckpt_path=None) -> L.Trainer:
        L.seed_everything(0)
        data = ImageDataModule(sources=[str(eurosat_csv(tmp_path))], bands=BANDS, key_view="augment",
                               batch_size=8, tile_size=32)  # 16 images = 64 tiles: 8 steps per epoch
        model = MocoTask(backbone="resnet10t_w32", bands=BANDS, tile_size=32, queue_size=16)
        saver = L.pytorch.callbacks.ModelCheckpoint(dirpath=checkpoints, every_n_train_steps=3, save_top_k=-1,
                                                    save_last=True, filename="{step}")
        callbacks = [saver] + ([StopAt(stop)] if stop else [])
        trainer = _trainer(tmp_path, max_epochs=3, callbacks=callbacks, enable_checkpointing=True)
        trainer.fit(model, datamodule=data, ckpt_path=ckpt_path)
        return trainer

    with pytest.raises(RuntimeError, match="simulated kill"):
        run(stop=7)
    before = {p.name for p in checkpoints.iterdir()}
    assert {"step=3.ckpt", "step=6.ckpt", "last.ckpt"} <= before
    assert torch.load(checkpoints / "last.ckpt", weights_only=False)["global_step"] == 6  # mid epoch 1
    resumed = run(stop=None, ckpt_path=checkpoints / "last.ckpt")
    assert resumed.global_step == 3 * 8  # what an uninterrupted run does
    after = {p.name for p in checkpoints.iterdir()}
    assert before <= after and {"step=9.ckpt", "step=24.ckpt"} <= after


def test_resnet50_default_has_the_paper_head_and_queue():
    model = MocoTask(bands=["red", "green", "blue"], geo_clusters=100, variant="moco_geo")
    first, _, last = model.encoder_q.head
    assert (first.in_features, first.out_features, last.out_features) == (2048, 2048, 128)
    assert model.queue.keys.shape == (65536, 128)
    assert (model.hparams.momentum, model.hparams.temperature) == (0.999, 0.2)
    assert model.geo_head[1].out_features == 100
    assert not any(p.requires_grad for p in model.encoder_k.parameters())


class StopAtStart(L.Callback):
    def on_train_start(self, trainer, pl_module) -> None:
        trainer.should_stop = True


@pytest.mark.parametrize("bounds, steps", [({"max_epochs": 5}, 40), ({"max_steps": 5}, 5),
                                           ({"max_epochs": 5, "max_steps": 12}, 12)])
def test_cosine_schedule_spans_the_whole_run(tmp_path, bounds, steps):
    data = ImageDataModule(sources=[str(eurosat_csv(tmp_path))], bands=BANDS, key_view="augment", batch_size=8,
                           tile_size=32)  # 64 tiles: 8 steps per epoch
    model = MocoTask(backbone="resnet10t_w32", bands=BANDS, tile_size=32, queue_size=8)
    trainer = _trainer(tmp_path, callbacks=[StopAtStart()], **bounds)
    trainer.fit(model, datamodule=data)
    config = trainer.lr_scheduler_configs[0]
    assert (config.interval, config.scheduler.T_max) == ("step", steps)
