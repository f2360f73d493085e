"""Geotagged image patches for MoCo pre-training and image classifiers (Lightning DataModule).

Sources are any image source of :func:`trainer.data.registry.image_records` (``eurosat``,
``eurosat_all``, ``ssl4eo``, ``multitemporal``, a CSV/Parquet table with bands in ``table_bands``
order, ``inat:<root>``, ``fmow:<root>``, ``shards:<dir-or-URL>``); each image is cut into
``tile_size`` tiles. Bands are picked by name. Only image headers are read up front (a pre-flight
pass); each item is read from disk by the DataLoader's workers as raw float32 and the task
normalises and augments it on its device. Per-band mean/std and low/high percentiles
(:data:`~trainer.data.band_statistics.PERCENTILES`, for the ``layer_percentiles`` radiometry) come from a
sample of the training split. Splits follow the trainer's one policy, by place
(:meth:`~trainer.data.datamodule.GeoDataModule.split`: the dates of one ``location_id`` never straddle
train and test).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import DataLoader, IterableDataset, Subset

from qgis_csp_plugin.contract.bands import S2_BANDS
from qgis_csp_plugin.contract.latlon import validate_latlon
from trainer.data.band_statistics import PERCENTILES, band_percentiles, band_statistics, tile_sample
from trainer.data.bands import EUROSAT_BANDS, MISSING
from trainer.data.datamodule import GeoDataModule
from trainer.data.preflight import preflight
from trainer.data.registry import image_records
from trainer.data.shards import ShardDataset, checked_meta
from trainer.data.splits import label_subset
from trainer.data.temporal import TemporalPairs
from trainer.data.tiles import TileDataset, grid_tiles
from trainer.errors import TrainerError

KEY_VIEWS = ("none", "augment", "temporal")
#: What a source lacking some of ``bands`` does: ``error``, or ``fill`` the missing bands with the
#: training mean (0 once standardised).
MISSING_BANDS = ("error", "fill")


class ImageDataModule(GeoDataModule):
    """Train/val/test splits (seeded, by place, stratified when labelled) of geotagged patches.

    Args:
        sources: image sources (:func:`trainer.data.registry.image_records`; ``multitemporal`` = the
            shared multi-date scenes, co-registered per scene: :mod:`trainer.data.multitemporal`);
            unlabelled sources only join the training split (for self-supervised pre-training).
        bands: band names to read (``red``/``green``/``blue`` resolve to B04/B03/B02).
        table_bands: band order of the files of table sources.
        missing_bands: ``error`` (a source must hold every band) or ``fill``: bands a source lacks
            (e.g. the 4-band multi-date scenes for a 13-band model) read as the training mean of
            the band, i.e. 0 once standardised; band statistics come from the training tiles that
            hold every band.
        skip_bad: skip (and count) rows whose image is missing, unreadable, corrupt or too small instead of
            stopping at the first one.
        key_view: ``none`` (classifiers), ``augment`` (MoCo: key = second augmentation) or
            ``temporal`` (key = the tile at the same pixel offset of another date of the same
            ``location_id``, so images of one location must share a pixel grid; records without
            one fall back to ``augment``, or raise when ``temporal_fallback`` is false).
        label_ratio: fraction of each class kept in the training split (few-label evaluation).
        folds, fold: with ``folds`` >= 2, fold ``fold`` of a stratified k-fold partition of the places is the
            test split (:func:`trainer.data.splits.fold_split`; cross-validation), else one seeded split.

    A ``shards:`` source brings its own split, drawn when it was built (:mod:`trainer.data.shards`):
    ``val_fraction``, ``test_fraction`` and ``split_seed`` do not apply to it and ``folds`` is refused.
    """

    def __init__(self, sources: list[str] = ("eurosat",), bands: list[str] = S2_BANDS,
                 table_bands: list[str] = EUROSAT_BANDS, tile_size: int = 64, key_view: str = "none",
                 temporal_fallback: bool = True, val_fraction: float = 0.2, test_fraction: float = 0.2,
                 label_ratio: float = 1.0, split_seed: int = 0, batch_size: int = 32, num_workers: int = 0,
                 pin_memory: bool = False, persistent_workers: bool = False, folds: int = 0, fold: int = 0,
                 skip_bad: bool = False, missing_bands: str = "error") -> None:
        super().__init__()
        if key_view not in KEY_VIEWS:
            raise TrainerError(f"key_view {key_view!r} is not one of {', '.join(KEY_VIEWS)}")
        if missing_bands not in MISSING_BANDS:
            raise TrainerError(f"missing_bands {missing_bands!r} is not one of {', '.join(MISSING_BANDS)}")
        self.save_hyperparameters()
        self.bands = list(bands)
        self.datasets: dict[str, TileDataset] = {}
        self.class_names: list[str] = []
        self.band_mean = self.band_std = self.band_low = self.band_high = self.train_latlon = None

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        location = self.shard_set(hp.sources, hp.folds)
        if location is not None:
            self._setup_shards(location)
            return
        records = pd.concat([self._records(s) for s in hp.sources], ignore_index=True)
        try:
            validate_latlon(records[["lat", "lon"]].to_numpy(), "image coordinates")
        except ValueError as exc:
            raise TrainerError(f"{exc} (records: {records['image_path'].iloc[0]}, ...)") from exc
        labelled = records[records["label"] >= 0]
        parts = self.split(records, hp.val_fraction, hp.test_fraction, hp.split_seed, hp.folds, hp.fold)
        train, unlabelled = parts["train"][parts["train"]["label"] >= 0], parts["train"][parts["train"]["label"] < 0]
        if len(train):
            train = label_subset(train, hp.label_ratio, hp.split_seed)
        parts["train"] = pd.concat([train, unlabelled], ignore_index=True)
        if len(labelled):
            names = labelled.drop_duplicates("label").sort_values("label")["class_name"]
            self.class_names = [str(n) for n in names]
        for split, frame in parts.items():
            self.datasets[split] = self._dataset(frame.reset_index(drop=True), split == "train")
        sample = tile_sample(self._complete_tiles(parts["train"]), hp.split_seed)
        mean, std = band_statistics(sample)
        self.band_mean, self.band_std = mean.tolist(), std.tolist()
        self.band_low, self.band_high = band_percentiles(sample, PERCENTILES)
        for dataset in self.datasets.values():
            dataset.fill = mean.numpy()
        self.train_latlon = self.datasets["train"].latlon.numpy()

    def _setup_shards(self, location: str) -> None:
        """One shard set: its ``train`` split streamed (a seeded ``label_ratio`` subset of it read by
        index), its ``val``/``test`` splits (written at build time) for validation and test."""
        hp = self.hparams
        meta, items = checked_meta(location, self.bands, hp.tile_size)
        train = items[items["split"] == "train"].reset_index(drop=True)
        pairs = None
        if hp.key_view == "temporal":
            pairs = TemporalPairs(train, strict=not hp.temporal_fallback, same=("tile_y", "tile_x"))
        if hp.label_ratio < 1:
            kept = label_subset(train[train["label"] >= 0], hp.label_ratio, hp.split_seed).index.sort_values()
            self.datasets["train"] = Subset(ShardDataset(location, "train", hp.key_view, pairs, shuffle=False),
                                            kept.tolist())
        else:
            self.datasets["train"] = ShardDataset(location, "train", hp.key_view, pairs, seed=hp.split_seed)
        for split in ("val", "test"):
            if meta["splits"].get(split):
                self.datasets[split] = ShardDataset(location, split, shuffle=False)
        self.class_names = list(meta["class_names"])
        self.band_mean, self.band_std = meta["band_mean"], meta["band_std"]
        self.band_low, self.band_high = meta["band_low"], meta["band_high"]
        self.train_latlon = train[["lat", "lon"]].to_numpy(np.float32)

    def _records(self, source: str) -> pd.DataFrame:
        frame = image_records(source, self.hparams.table_bands)
        return preflight(frame, self.bands, self.hparams.tile_size, self.hparams.skip_bad, source,
                         fill_missing=self.hparams.missing_bands == "fill")

    def _complete_tiles(self, train: pd.DataFrame) -> TileDataset:
        """The training dataset, or with filled bands its tiles that hold every band (statistics)."""
        complete = np.array([MISSING not in indices for indices in train["band_indices"]], dtype=bool)
        if complete.all():
            return self.datasets["train"]
        if not complete.any():
            raise TrainerError(f"missing_bands fill: no training source holds all of the bands {self.bands}, "
                               "which the band statistics need")
        return self._dataset(train[complete].reset_index(drop=True), False)

    def _dataset(self, frame: pd.DataFrame, train: bool) -> TileDataset:
        tiles = grid_tiles(frame, self.hparams.tile_size)
        key_view = self.hparams.key_view if train else "none"
        pairs = None
        if key_view == "temporal":  # a tile pairs with the tile at the same pixel offset of another date
            pairs = TemporalPairs(tiles, strict=not self.hparams.temporal_fallback, same=("tile_y", "tile_x"))
            if pairs.n_multi_date == 0:
                rank_zero_warn("temporal positives: no location has images from two dates; every key "
                               "is a second augmentation of the query image (MoCo fallback)")
        return TileDataset(tiles, self.hparams.tile_size, pairs, key_view)

    def _loader(self, split: str, shuffle: bool, batch_size: int | None = None) -> DataLoader:
        hp = self.hparams
        return self.make_loader(self.datasets[split], batch_size or hp.batch_size, shuffle, shuffle, hp.num_workers,
                                hp.pin_memory, hp.persistent_workers)

    def train_dataloader(self) -> DataLoader:
        hp = self.hparams
        if isinstance(self.datasets["train"], IterableDataset):
            return self.resumable_loader(self.datasets["train"], hp.batch_size, hp.num_workers, hp.pin_memory,
                                         hp.persistent_workers)
        size = len(self.datasets["train"])
        if size == 0:
            raise TrainerError("the training split is empty")
        if size < hp.batch_size:  # few-label subsets: one smaller batch per epoch
            rank_zero_warn(f"batch_size {hp.batch_size} is larger than the training split "
                           f"({size} images): using batches of {size}")
        return self._loader("train", True, min(size, hp.batch_size))

    def val_dataloader(self) -> DataLoader | list:
        return self._loader("val", False) if "val" in self.datasets else []

    def test_dataloader(self) -> DataLoader | list:
        return self._loader("test", False) if "test" in self.datasets else []

