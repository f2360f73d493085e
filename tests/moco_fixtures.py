"""Tiny record CSVs over the real EuroSAT patches, shared by the MoCo and classifier tests, and the
multi-process (gloo) checks of shuffle-BN (workers live here so that spawned processes import them)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch
import torch.distributed as dist

from trainer.data.catalog import eurosat_records
from trainer.models.shuffle_bn import batch_shuffle, batch_unshuffle, gather_batches
from trainer.tasks.moco import MocoTask


def eurosat_csv(folder: Path, n: int = 16, **columns) -> Path:
    """A CSV of the first ``n`` EuroSAT patches (one per class in turn), no labels: all training data."""
    records = eurosat_records()
    records = records.groupby("label").head(2).sort_values(["label"]).head(n).reset_index(drop=True)
    frame = records[["image_path", "lat", "lon"]].copy()
    for name, values in columns.items():
        frame[name] = values
    path = folder / "records.csv"
    frame.to_csv(path, index=False)
    return path


def two_date_csv(folder: Path, n_locations: int = 8) -> Path:
    """Two dates per ``location_id``: each location pairs two real EuroSAT files of one class."""
    records = eurosat_records().groupby("label").head(2).head(2 * n_locations).reset_index(drop=True)
    frame = records[["image_path", "lat", "lon"]].copy()
    frame["location_id"] = [f"loc{i // 2}" for i in range(len(frame))]
    frame["timestamp"] = ["2020-05-01" if i % 2 == 0 else "2021-07-15" for i in range(len(frame))]
    path = folder / "two_dates.csv"
    frame.to_csv(path, index=False)
    return path


class KillAt(L.Callback):
    """SIGKILL the training process once ``step`` optimizer steps are done (no clean-up of any kind)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def spawn_gloo(folder: Path, *workers: Callable[[int], None], processes: int = 2) -> None:
    """Run each ``worker(rank)`` in ``processes`` CPU processes of one gloo group (re-raises failures)."""
    torch.multiprocessing.spawn(_gloo_process, args=(workers, str(folder / "rendezvous"), processes),
                                nprocs=processes)


def _gloo_process(rank: int, workers: tuple[Callable[[int], None], ...], rendezvous: str, processes: int) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=processes)
    try:
        for worker in workers:
            worker(rank)
    finally:
        dist.destroy_process_group()


def check_shuffle_is_inverted(rank: int) -> None:
    """Shards come from one permutation of the global batch; unshuffling puts every row back."""
    torch.manual_seed(rank)  # different random states: the permutation must still be rank 0's
    x = torch.arange(16.0).view(8, 2) + 100 * rank
    shard, permutation = batch_shuffle(x)
    everything = gather_batches(x)
    assert torch.equal(shard, everything[permutation.view(2, -1)[rank]])
    permutations = gather_batches(permutation[None])
    assert torch.equal(permutations[0], permutations[1])
    assert (shard < 100).any() and (shard >= 100).any()  # the shard mixes both processes' rows
    assert torch.equal(batch_unshuffle(shard, permutation), x)
    assert torch.equal(batch_unshuffle(shard * 3 - 1, permutation), x * 3 - 1)


def check_shuffle_bn_keys_come_back(rank: int) -> None:
    """Eval mode: shuffle-BN keys equal plain key-encoder outputs row for row; train mode they differ."""
    torch.manual_seed(0)  # the same encoder in every process, as under DDP
    model = MocoTask(backbone="resnet10t_w32", bands=["B02", "B03", "B04"], queue_size=8, key_bn="shuffle")
    views = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(rank))
    model.eval()
    torch.testing.assert_close(model.encode_keys(views), model.encoder_k(views), rtol=0, atol=1e-5)
    model.train()
    assert not torch.allclose(model.encode_keys(views), model.encoder_k(views), atol=1e-3)


class StopAt(L.Callback):
    """Simulates a kill: raises once training reaches global step ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError("simulated kill")
