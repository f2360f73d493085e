"""Image-location pairs for CSP pre-training: ``(latlon, frozen image features)`` batches.

Default data: EuroSAT MS patches and SSL4EO-S12 patches (one seeded random 64 px crop each), read
with the 12 Sentinel-2 bands both products have (B10 is missing in SSL4EO L2A); any image source of
:func:`trainer.data.sources.image_records` works. The image encoder is frozen, so its features are
computed once here, in one streaming pass over the files (random init, or
``image_encoder_checkpoint``: e.g. a ``python -m trainer moco fit`` checkpoint whose band count
matches ``bands``), and, with ``feature_cache_dir``, cached on disk and memory-mapped by later runs
and by ``evaluate`` (:mod:`trainer.data.feature_cache`).
Labelled records of the evaluation's test split (:func:`trainer.data.splits.evaluation_split` with
``eval_val_fraction``/``eval_test_fraction`` and ``split_seed``, or fold ``eval_fold`` of
``eval_folds`` folds) are left out so that the few-label evaluation never sees test images, not
even unlabelled.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property, partial

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from trainer.data.bands import EUROSAT_BANDS, SSL4EO_L2A_BANDS
from trainer.data.feature_cache import cached_features, data_fingerprint, file_hash
from trainer.data.features import crop_dataset, frozen_backbone, stream_features, tile_statistics
from trainer.data.geotagged import checked_latlon
from trainer.data.sources import image_records, is_shards
from trainer.data.splits import evaluation_split
from trainer.data.tiles import loader
from trainer.errors import TrainerError

#: Sentinel-2 bands in both EuroSAT (L1C) and SSL4EO-S12 (L2A), in SSL4EO order.
COMMON_S2_BANDS = [b for b in SSL4EO_L2A_BANDS if b in EUROSAT_BANDS]


def training_records(sources: list[str], table_bands: list[str], split_seed: int, eval_val_fraction: float,
                     eval_test_fraction: float, eval_folds: int = 0, eval_fold: int = 0) -> pd.DataFrame:
    """All sources' records minus the labelled records of the evaluation's test split (or test fold)."""
    frames = []
    for source in sources:
        frame = image_records(source, table_bands)
        labelled = frame[frame["label"] >= 0]
        if len(labelled):
            test = evaluation_split(labelled, eval_val_fraction, eval_test_fraction, split_seed, eval_folds,
                                    eval_fold)["test"]
            frame = frame.drop(index=test.index)
        frames.append(frame)
    records = pd.concat(frames, ignore_index=True)
    checked_latlon(records, "image coordinates")
    return records


class FeaturePairs(Dataset):
    """``(latlon, features)`` items of the rows ``rows`` of (memory-mapped) arrays, read per item."""

    def __init__(self, latlon: np.ndarray, features: np.ndarray, rows: np.ndarray) -> None:
        self.latlon, self.features, self.rows = latlon, features, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        row = self.rows[index]
        return torch.from_numpy(np.array(self.latlon[row])), torch.from_numpy(np.array(self.features[row]))


class CspDataModule(L.LightningDataModule):
    """Seeded random train/val split (``val_fraction``) of image-location pairs; ``eval_folds`` > 0 leaves
    out test fold ``eval_fold`` of the k-fold evaluation (``python -m trainer evaluate --folds``)."""

    def __init__(self, sources: list[str] = ("eurosat", "ssl4eo"), bands: list[str] = COMMON_S2_BANDS,
                 table_bands: list[str] = EUROSAT_BANDS, tile_size: int = 64,
                 image_backbone: str = "resnet10t_w32", image_encoder_checkpoint: str | None = None,
                 val_fraction: float = 0.1, split_seed: int = 0, eval_val_fraction: float = 0.2,
                 eval_test_fraction: float = 0.2, eval_folds: int = 0, eval_fold: int = 0,
                 batch_size: int = 128, num_workers: int = 0, feature_cache_dir: str | None = None,
                 skip_bad: bool = False) -> None:
        super().__init__()
        if not 0 < val_fraction < 1:
            raise TrainerError(f"val_fraction {val_fraction} must be in (0, 1)")
        self.save_hyperparameters()
        self.cache_hit: bool | None = None  # set when features come from (True) or go to the cache

    @cached_property
    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """``(latlon (N, 2), features (N, F))`` of every training record (features computed once, or
        memory-mapped from the feature cache)."""
        hp = self.hparams
        if any(is_shards(source) for source in hp.sources):
            dataset, latlon, mean, std, fingerprint = self._shard_items()
        else:
            records = training_records(list(hp.sources), list(hp.table_bands), hp.split_seed, hp.eval_val_fraction,
                                       hp.eval_test_fraction, hp.eval_folds, hp.eval_fold)
            dataset = crop_dataset(records, list(hp.bands), hp.tile_size, hp.split_seed, hp.skip_bad,
                                   "CSP records")
            latlon = dataset.latlon.numpy()
            mean, std = tile_statistics(dataset, hp.split_seed)
            fingerprint = partial(data_fingerprint, dataset)
        model = frozen_backbone(hp.image_backbone, len(hp.bands), hp.image_encoder_checkpoint)
        shape = (len(latlon), int(model.num_features))
        compute = partial(stream_features, dataset, model, mean, std, num_workers=hp.num_workers)
        if hp.feature_cache_dir is None:
            features = np.empty(shape, np.float32)
            compute(features)
        else:
            key = {"backbone": hp.image_backbone, "checkpoint_sha256": file_hash(hp.image_encoder_checkpoint),
                   "bands": list(hp.bands), "tile_size": hp.tile_size, "band_mean": mean.tolist(),
                   "band_std": std.tolist(), "data": fingerprint()}
            features, self.cache_hit = cached_features(hp.feature_cache_dir, key, shape, compute)
        return latlon, features

    def _shard_items(self) -> tuple[Dataset, np.ndarray, torch.Tensor, torch.Tensor, Callable[[], str]]:
        """A shard set's items in stream order, coordinates, band statistics and fingerprint (all
        items are training pairs: build the shard set without the evaluation's test images)."""
        from trainer.data.shards import (
            ShardDataset,
            checked_meta,
            shard_fingerprint,
            shard_location,
        )

        hp = self.hparams
        if len(hp.sources) != 1:
            raise TrainerError("a shards: source streams on its own: build one shard set from all sources")
        location = shard_location(hp.sources[0])
        meta, items = checked_meta(location, list(hp.bands), hp.tile_size)
        dataset = ShardDataset(location, list(hp.bands), hp.tile_size, shuffle=False)
        return (dataset, items[["lat", "lon"]].to_numpy(np.float32), torch.tensor(meta["band_mean"]),
                torch.tensor(meta["band_std"]), partial(shard_fingerprint, location))

    @property
    def feature_dim(self) -> int:
        """Width of the image features (linked to the model at instantiation)."""
        return int(self.pairs[1].shape[1])

    @cached_property
    def datasets(self) -> dict[str, FeaturePairs]:
        latlon, features = self.pairs
        order = torch.randperm(len(latlon), generator=torch.Generator().manual_seed(self.hparams.split_seed))
        n_val = max(1, round(len(order) * self.hparams.val_fraction))
        parts = {"val": order[:n_val], "train": order[n_val:]}
        return {name: FeaturePairs(latlon, features, rows.numpy()) for name, rows in parts.items()}

    def train_dataloader(self) -> DataLoader:
        train = self.datasets["train"]
        if len(train) < self.hparams.batch_size:
            raise TrainerError(f"batch_size {self.hparams.batch_size} is larger than the training split "
                               f"({len(train)} pairs)")
        return loader(train, self.hparams.batch_size, shuffle=True, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return loader(self.datasets["val"], self.hparams.batch_size)
