"""Geotagged image patches for MoCo pre-training and image classifiers (Lightning DataModule).

Sources are ``eurosat`` (13 bands, labelled), ``ssl4eo`` (12 bands, no B10, unlabelled; each
256 px patch is cut into ``tile_size`` tiles) or a CSV/Parquet table read by
:func:`trainer.data.geotagged.geotagged_records` (``image_path, lat, lon`` and optionally
``label, location_id, timestamp``; bands in ``csv_bands`` order). Bands are
picked by name. Everything is small, so pixels are read once into memory as raw float32; the
task normalises and augments them on its device. Per-band mean/std and low/high percentiles
(:data:`PERCENTILES`, for the ``layer_percentiles`` radiometry) come from the training split.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import DataLoader, Dataset

from qgis_csp_plugin.contract.bands import S2_BANDS
from qgis_csp_plugin.contract.latlon import validate_latlon
from trainer.data.bands import EUROSAT_BANDS, SSL4EO_L2A_BANDS, band_indices
from trainer.data.geotagged import geotagged_records
from trainer.data.multitemporal import multitemporal_records
from trainer.data.rasters import read_image
from trainer.data.sources import EUROSAT_SOURCES, eurosat_source_records, ssl4eo_records
from trainer.data.splits import evaluation_split, label_subset
from trainer.data.temporal import TemporalPairs
from trainer.errors import TrainerError

KEY_VIEWS = ("none", "augment", "temporal")
#: Band percentiles stored for ``layer_percentiles`` radiometry (robust low/high of the training pixels).
PERCENTILES = (2.0, 98.0)


class PatchDataset(Dataset):
    """Raw pixels in memory; items are dicts ``image, latlon, label`` (+ ``key`` for MoCo)."""

    def __init__(self, images: torch.Tensor, latlon: torch.Tensor, labels: torch.Tensor,
                 pairs: TemporalPairs | None = None, key_view: str = "none") -> None:
        self.images, self.latlon, self.labels = images, latlon, labels
        self.pairs, self.key_view = pairs, key_view

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {"image": self.images[index], "latlon": self.latlon[index], "label": self.labels[index]}
        if self.key_view == "augment":
            item["key"] = self.images[index]
        elif self.key_view == "temporal":
            item["key"] = self.images[self.pairs.sample(index)]
        return item


class ImageDataModule(L.LightningDataModule):
    """Train/val/test splits (seeded, stratified when labelled) of geotagged patches.

    Args:
        sources: ``eurosat`` (200 shipped patches), ``eurosat_all`` (+ the shared extra patches),
            ``ssl4eo``, ``multitemporal`` (the shared multi-date scenes, co-registered per scene:
            :mod:`trainer.data.multitemporal`) and/or CSV paths; unlabelled sources only join the training split (for
            self-supervised pre-training).
        bands: band names to read (``red``/``green``/``blue`` resolve to B04/B03/B02).
        key_view: ``none`` (classifiers), ``augment`` (MoCo: key = second augmentation) or
            ``temporal`` (key = the tile at the same pixel offset of another date of the same
            ``location_id``, so images of one location must share a pixel grid; records without
            one fall back to ``augment``, or raise when ``temporal_fallback`` is false).
        label_ratio: fraction of each class kept in the training split (few-label evaluation).
        folds, fold: with ``folds`` >= 2, fold ``fold`` of a stratified k-fold partition is the test
            split (:func:`trainer.data.splits.fold_split`; cross-validation), else one seeded split.
    """

    def __init__(self, sources: list[str] = ("eurosat",), bands: list[str] = S2_BANDS,
                 csv_bands: list[str] = EUROSAT_BANDS, tile_size: int = 64, key_view: str = "none",
                 temporal_fallback: bool = True, val_fraction: float = 0.2, test_fraction: float = 0.2,
                 label_ratio: float = 1.0, split_seed: int = 0, batch_size: int = 32, num_workers: int = 0,
                 pin_memory: bool = False, persistent_workers: bool = False, folds: int = 0, fold: int = 0) -> None:
        super().__init__()
        if key_view not in KEY_VIEWS:
            raise TrainerError(f"key_view {key_view!r} is not one of {', '.join(KEY_VIEWS)}")
        self.save_hyperparameters()
        self.bands = list(bands)
        self.datasets: dict[str, PatchDataset] = {}
        self.class_names: list[str] = []
        self.band_mean = self.band_std = self.band_low = self.band_high = self.train_latlon = None

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        records = pd.concat([self._records(s) for s in hp.sources], ignore_index=True)
        try:
            validate_latlon(records[["lat", "lon"]].to_numpy(), "image coordinates")
        except ValueError as exc:
            raise TrainerError(f"{exc} (records: {records['image_path'].iloc[0]}, ...)") from exc
        labelled = records[records["label"] >= 0]
        parts = evaluation_split(labelled, hp.val_fraction, hp.test_fraction, hp.split_seed, hp.folds, hp.fold) \
            if len(labelled) \
            else {"train": labelled, "val": labelled, "test": labelled}
        train = label_subset(parts["train"], hp.label_ratio, hp.split_seed) if len(labelled) else parts["train"]
        parts["train"] = pd.concat([train, records[records["label"] < 0]], ignore_index=True)
        if len(labelled):
            names = labelled.drop_duplicates("label").sort_values("label")["class_name"]
            self.class_names = [str(n) for n in names]
        for split, frame in parts.items():
            self.datasets[split] = self._dataset(frame.reset_index(drop=True), split == "train")
        pixels = self.datasets["train"].images.transpose(0, 1).reshape(len(self.bands), -1)
        self.band_mean = pixels.mean(dim=1).tolist()
        self.band_std = pixels.std(dim=1).clamp_min(1e-6).tolist()
        low, high = np.percentile(pixels.numpy(), PERCENTILES, axis=1)
        self.band_low, self.band_high = low.tolist(), high.tolist()
        self.train_latlon = self.datasets["train"].latlon.numpy()

    def _records(self, source: str) -> pd.DataFrame:
        if source in EUROSAT_SOURCES:
            frame, available = eurosat_source_records(source), EUROSAT_BANDS
        elif source == "ssl4eo":
            frame, available = ssl4eo_records(), SSL4EO_L2A_BANDS
        elif source == "multitemporal":
            frame, available = multitemporal_records(), None  # band names per scene
        elif Path(source).name.endswith((".csv", ".csv.gz", ".parquet")):
            frame, available = geotagged_records(source), tuple(self.hparams.csv_bands)
        else:
            raise TrainerError(f"unknown image source {source!r}: use eurosat, eurosat_all, ssl4eo, multitemporal or a "
                               ".csv/.csv.gz/.parquet table")
        frame = frame.copy()
        frame["band_indices"] = ([band_indices(bands, self.bands) for bands in frame["available"]] if available is None
                                 else [band_indices(available, self.bands)] * len(frame))
        if "label" not in frame:
            frame["label"] = -1
            frame["class_name"] = ""
        return frame

    def _dataset(self, frame: pd.DataFrame, train: bool) -> PatchDataset:
        size = self.hparams.tile_size
        images, rows, offsets = [], [], []
        for i, row in enumerate(frame.itertuples()):
            tiles = _tiles(read_image(row.image_path, row.band_indices), size, row.image_path)
            images += tiles.values()
            offsets += tiles.keys()
            rows += [i] * len(tiles)
        frame = frame.iloc[rows].reset_index(drop=True)
        frame[["tile_y", "tile_x"]] = np.array(offsets, dtype=np.int64).reshape(-1, 2)
        key_view = self.hparams.key_view if train else "none"
        pairs = None
        if key_view == "temporal":  # a tile pairs with the tile at the same pixel offset of another date
            pairs = TemporalPairs(frame, strict=not self.hparams.temporal_fallback, same=("tile_y", "tile_x"))
            if pairs.n_multi_date == 0:
                rank_zero_warn("temporal positives: no location has images from two dates; every key "
                               "is a second augmentation of the query image (MoCo fallback)")
        stack = torch.from_numpy(np.stack(images)) if images else torch.empty(0, len(self.bands), size, size)
        return PatchDataset(stack, torch.tensor(frame[["lat", "lon"]].to_numpy(np.float32)).reshape(-1, 2),
                            torch.tensor(frame["label"].to_numpy(np.int64)), pairs, key_view)

    def _loader(self, split: str, shuffle: bool, batch_size: int | None = None) -> DataLoader:
        hp = self.hparams
        workers = hp.num_workers
        return DataLoader(self.datasets[split], batch_size=batch_size or hp.batch_size, shuffle=shuffle,
                          drop_last=shuffle, num_workers=workers, pin_memory=hp.pin_memory,
                          persistent_workers=hp.persistent_workers and workers > 0)

    def train_dataloader(self) -> DataLoader:
        size = len(self.datasets["train"])
        if size == 0:
            raise TrainerError("the training split is empty")
        if size < self.hparams.batch_size:  # few-label subsets: one smaller batch per epoch
            rank_zero_warn(f"batch_size {self.hparams.batch_size} is larger than the training split "
                           f"({size} images): using batches of {size}")
        return self._loader("train", True, min(size, self.hparams.batch_size))

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False)


def _tiles(image: np.ndarray, size: int, path: str) -> dict[tuple[int, int], np.ndarray]:
    """Non-overlapping ``size`` tiles of a (C, H, W) patch by pixel offset ``(y, x)`` (one when it is ``size``)."""
    _, height, width = image.shape
    if height < size or width < size:
        raise TrainerError(f"{path} is {height}x{width} px, smaller than tile_size {size}")
    if not np.isfinite(image).all():
        raise TrainerError(f"{path} holds NaN/inf pixel values")
    return {(y, x): image[:, y:y + size, x:x + size] for y in range(0, height - size + 1, size)
            for x in range(0, width - size + 1, size)}
