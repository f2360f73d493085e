"""Labelled points ``(lat, lon) -> class`` for location-only classifiers (location priors).

Sources: any of :func:`trainer.data.registry.location_records` — ``cities`` (GeoNames cities, any
column, e.g. ``continent``), ``ariolimax`` (presence/background), a CSV/Parquet table or point file
(.gpkg/.geojson/.shp) with the label column, or any image source (``eurosat`` patch centres with their
land-cover class, ``inat:<root>``, ``fmow:<root>``, an image table, ``shards:<dir>``…). Splits follow the trainer's
one policy (:func:`trainer.data.splits.split_by_place`: seeded, stratified, by place: the points of one
``location_id`` or of identical coordinates share a split), except for records that carry their own
``split`` column (shard sets: the split written at build time); ``label_ratio`` keeps a stratified
subset of the training split (5/10/20/100 % few-label runs).
"""

from __future__ import annotations

from functools import cached_property

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from trainer.data.geotagged import checked_latlon, encode_labels
from trainer.data.registry import location_records
from trainer.data.splits import label_subset, split_by_place, stored_split
from trainer.errors import TrainerError


def point_records(source: str, label_column: str = "label") -> pd.DataFrame:
    """``lat, lon, label, class_name`` (and ``location_id``, ``split`` when the source has them) of any points
    source."""
    frame = location_records(source)
    for column in ("lat", "lon"):
        if column not in frame:
            raise TrainerError(f"points source {source!r} has no {column!r} column")
    frame = encode_labels(frame, label_column)
    checked_latlon(frame, f"coordinates of {source}")
    columns = ["lat", "lon", "label", "class_name"] + [c for c in ("location_id", "split") if c in frame]
    return frame[columns].reset_index(drop=True)


def point_tensors(frame: pd.DataFrame) -> TensorDataset:
    """``(latlon float32 (N, 2), label int64 (N,))`` dataset of a record table."""
    return TensorDataset(torch.tensor(frame[["lat", "lon"]].to_numpy(np.float32)).reshape(-1, 2),
                         torch.tensor(frame["label"].to_numpy(np.int64)))


class PointsDataModule(L.LightningDataModule):
    """Train/val/test splits of labelled points; batches are ``(latlon, label)``."""

    def __init__(self, source: str = "eurosat", label_column: str = "label", val_fraction: float = 0.2,
                 test_fraction: float = 0.2, label_ratio: float = 1.0, split_seed: int = 0,
                 batch_size: int = 64, folds: int = 0, fold: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters()

    @cached_property
    def records(self) -> pd.DataFrame:
        return point_records(self.hparams.source, self.hparams.label_column)

    @property
    def class_names(self) -> list[str]:
        """Class names in label order (linked to the model at instantiation)."""
        return [str(n) for n in self.records.drop_duplicates("label").sort_values("label")["class_name"]]

    @cached_property
    def splits(self) -> dict[str, pd.DataFrame]:
        hp = self.hparams
        if "split" in self.records:
            parts = stored_split(self.records, hp.folds)
        else:
            parts = split_by_place(self.records, hp.val_fraction, hp.test_fraction, hp.split_seed, hp.folds,
                                   hp.fold)
        parts["train"] = label_subset(parts["train"], hp.label_ratio, hp.split_seed)
        return parts

    def _loader(self, split: str) -> DataLoader:
        train = split == "train"
        return DataLoader(point_tensors(self.splits[split]), batch_size=self.hparams.batch_size, shuffle=train)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
