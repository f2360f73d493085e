"""Image-location pairs for CSP pre-training: ``(latlon, frozen image features)`` batches.

Default data: EuroSAT MS patches and SSL4EO-S12 patches (one seeded random 64 px crop each), read
with the 12 Sentinel-2 bands both products have (B10 is missing in SSL4EO L2A). The image encoder
is frozen, so its features are computed once here (random init, or ``image_encoder_checkpoint``:
e.g. a ``python -m trainer moco fit`` checkpoint whose band count matches ``bands``).
Labelled records of the evaluation's test split (:func:`trainer.data.splits.evaluation_split` with
``eval_val_fraction``/``eval_test_fraction`` and ``split_seed``, or fold ``eval_fold`` of
``eval_folds`` folds) are left out so that the few-label evaluation never sees test images, not
even unlabelled.
"""

from __future__ import annotations

from functools import cached_property

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from trainer.data.bands import EUROSAT_BANDS, SSL4EO_L2A_BANDS
from trainer.data.features import band_statistics, crop_pixels, frozen_features, image_records
from trainer.data.geotagged import checked_latlon
from trainer.data.splits import evaluation_split
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


class CspDataModule(L.LightningDataModule):
    """Seeded random train/val split (``val_fraction``) of image-location pairs; ``eval_folds`` > 0 leaves
    out test fold ``eval_fold`` of the k-fold evaluation (``python -m trainer evaluate --folds``)."""

    def __init__(self, sources: list[str] = ("eurosat", "ssl4eo"), bands: list[str] = COMMON_S2_BANDS,
                 table_bands: list[str] = EUROSAT_BANDS, tile_size: int = 64,
                 image_backbone: str = "resnet10t_w32", image_encoder_checkpoint: str | None = None,
                 val_fraction: float = 0.1, split_seed: int = 0, eval_val_fraction: float = 0.2,
                 eval_test_fraction: float = 0.2, eval_folds: int = 0, eval_fold: int = 0,
                 batch_size: int = 128) -> None:
        super().__init__()
        if not 0 < val_fraction < 1:
            raise TrainerError(f"val_fraction {val_fraction} must be in (0, 1)")
        self.save_hyperparameters()

    @cached_property
    def pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(latlon (N, 2), features (N, F))`` of every training record (computed once)."""
        hp = self.hparams
        records = training_records(list(hp.sources), list(hp.table_bands), hp.split_seed, hp.eval_val_fraction,
                                   hp.eval_test_fraction, hp.eval_folds, hp.eval_fold)
        pixels = crop_pixels(records, list(hp.bands), hp.tile_size, hp.split_seed)
        mean, std = band_statistics(pixels)
        features = frozen_features(pixels, mean, std, hp.image_backbone, hp.image_encoder_checkpoint)
        return torch.tensor(records[["lat", "lon"]].to_numpy(np.float32)), features

    @property
    def feature_dim(self) -> int:
        """Width of the image features (linked to the model at instantiation)."""
        return int(self.pairs[1].shape[1])

    @cached_property
    def datasets(self) -> dict[str, TensorDataset]:
        latlon, features = self.pairs
        order = torch.randperm(len(latlon), generator=torch.Generator().manual_seed(self.hparams.split_seed))
        n_val = max(1, round(len(order) * self.hparams.val_fraction))
        parts = {"val": order[:n_val], "train": order[n_val:]}
        return {name: TensorDataset(latlon[idx], features[idx]) for name, idx in parts.items()}

    def train_dataloader(self) -> DataLoader:
        train = self.datasets["train"]
        if len(train) < self.hparams.batch_size:
            raise TrainerError(f"batch_size {self.hparams.batch_size} is larger than the training split "
                               f"({len(train)} pairs)")
        return DataLoader(train, batch_size=self.hparams.batch_size, shuffle=True, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.datasets["val"], batch_size=self.hparams.batch_size)
