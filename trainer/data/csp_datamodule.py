"""Image-location pairs for CSP pre-training: ``(latlon, frozen image features)`` or ``(latlon, pixels)``.

Default data: EuroSAT MS patches and SSL4EO-S12 patches (one seeded random 64 px crop each), read
with the 12 Sentinel-2 bands both products have (B10 is missing in SSL4EO L2A); any image source of
:func:`trainer.data.registry.image_records` works, and ``shards:<dir-or-URL>`` (its ``test`` split is
held out). :class:`CspPairs` holds everything but the network: the items, the held-out records, the
train/val split and the loaders. By default the image encoder is frozen and its features are computed
once, in one streaming pass over the files, by :class:`trainer.tasks.csp_data.CspDataModule` (which
builds the encoder: network building lives above ``data/``) and, with ``feature_cache_dir``, cached on
disk and memory-mapped by later runs and by ``python -m trainer evaluate``
(:mod:`trainer.data.feature_cache`). With ``image_encoder_trainable`` the batches hold pixels instead,
streamed from the files or shards at every step, and the task trains the image encoder end to end
(no features are computed or cached).

Labelled records of the evaluation's test split (the trainer's split policy, by place:
:func:`trainer.data.splits.split_by_place` with ``eval_val_fraction``/``eval_test_fraction`` and
``split_seed``, or fold ``eval_fold`` of ``eval_folds`` folds) are held out: never a training pair, so
that the few-label evaluation never trains on test images, not even unlabelled. Their frozen features
are computed and cached with the others (the frozen encoder learns nothing from them), for
``evaluate``. The validation pairs are a seeded random ``val_fraction`` of the places of the other items
(:func:`trainer.data.splits.random_places`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Subset

from trainer.data.band_statistics import tile_statistics
from trainer.data.bands import EUROSAT_BANDS, SSL4EO_L2A_BANDS
from trainer.data.datamodule import GeoDataModule
from trainer.data.feature_cache import data_fingerprint
from trainer.data.geotagged import checked_latlon
from trainer.data.registry import image_records
from trainer.data.shards import ShardDataset, checked_meta, shard_fingerprint
from trainer.data.splits import random_places, split_by_place
from trainer.data.tiles import TileDataset, checked_crops
from trainer.errors import TrainerError

#: Sentinel-2 bands in both EuroSAT (L1C) and SSL4EO-S12 (L2A), in SSL4EO order.
COMMON_S2_BANDS = [b for b in SSL4EO_L2A_BANDS if b in EUROSAT_BANDS]


def source_records(sources: list[str], table_bands: list[str], split_seed: int, eval_val_fraction: float,
                   eval_test_fraction: float, eval_folds: int = 0, eval_fold: int = 0) -> pd.DataFrame:
    """All sources' records with their ``source`` and ``heldout`` (labelled records of the evaluation's
    test split or test fold)."""
    frames = []
    for source in sources:
        frame = image_records(source, table_bands).reset_index(drop=True)
        heldout = np.zeros(len(frame), dtype=bool)
        test = split_by_place(frame, eval_val_fraction, eval_test_fraction, split_seed, eval_folds, eval_fold)["test"]
        heldout[test.index.to_numpy()] = True
        frames.append(frame.assign(source=source, heldout=heldout))
    records = pd.concat(frames, ignore_index=True)
    checked_latlon(records, "image coordinates")
    return records


#: Record columns kept per item, compact (numbers and categories: no Python object per item, so
#: DataLoader workers share them without copy-on-write growth).
ITEM_COLUMNS = ("lat", "lon", "label", "class_name", "location_id", "source", "heldout", "split")


def compact_records(records: pd.DataFrame) -> pd.DataFrame:
    """The :data:`ITEM_COLUMNS` of ``records``, text columns as categories."""
    kept = records[[column for column in ITEM_COLUMNS if column in records]]
    return kept.astype({column: "category" for column in ("class_name", "location_id", "source", "split")
                        if column in kept})


@dataclass
class ImageItems:
    """Every image item of the CSP data: ``records`` (:data:`ITEM_COLUMNS`, one row per item), the
    datasets holding them (``(dataset, first row)``: one, or one per shard split; items in row order),
    band statistics of the training items and a data fingerprint."""

    records: pd.DataFrame
    parts: list[tuple[Dataset, int]]
    mean: torch.Tensor
    std: torch.Tensor
    fingerprint: Callable[[], str]
    shards: str | None = None


class FeaturePairs(Dataset):
    """``(latlon, features)`` items of the rows ``rows`` of (memory-mapped) arrays, read per item."""

    def __init__(self, latlon: np.ndarray, features: np.ndarray, rows: np.ndarray) -> None:
        self.latlon, self.features, self.rows = latlon, features, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        row = self.rows[index]
        return torch.from_numpy(np.array(self.latlon[row])), torch.from_numpy(np.array(self.features[row]))


class CspPairs(GeoDataModule):
    """Seeded random train/val split (``val_fraction`` of the places) of the image-location pairs that are
    not held out; ``eval_folds`` > 0 holds out test fold ``eval_fold`` of the k-fold evaluation (``python -m
    trainer evaluate --folds``). ``image_encoder_trainable``: batches of pixels for end-to-end
    training (shards: the ``train`` split streamed, validation on the ``val`` split). Frozen features
    (:attr:`features`) come from the subclass that builds the encoder,
    :class:`trainer.tasks.csp_data.CspDataModule`."""

    def __init__(self, sources: list[str] = ("eurosat", "ssl4eo"), bands: list[str] = COMMON_S2_BANDS,
                 table_bands: list[str] = EUROSAT_BANDS, tile_size: int = 64,
                 image_backbone: str = "resnet10t_w32", image_encoder_checkpoint: str | None = None,
                 image_encoder_trainable: bool = False, val_fraction: float = 0.1, split_seed: int = 0,
                 eval_val_fraction: float = 0.2, eval_test_fraction: float = 0.2, eval_folds: int = 0,
                 eval_fold: int = 0, batch_size: int = 128, num_workers: int = 0,
                 feature_cache_dir: str | None = None, skip_bad: bool = False) -> None:
        super().__init__()
        if not 0 < val_fraction < 1:
            raise TrainerError(f"val_fraction {val_fraction} must be in (0, 1)")
        self.save_hyperparameters()

    @cached_property
    def items(self) -> ImageItems:
        """The image items (files: one seeded random crop per record, after a header pre-flight)."""
        hp = self.hparams
        location = self.shard_set(hp.sources, hp.eval_folds)
        if location is not None:
            return self._shard_items(location)
        records = source_records(list(hp.sources), list(hp.table_bands), hp.split_seed, hp.eval_val_fraction,
                                 hp.eval_test_fraction, hp.eval_folds, hp.eval_fold)
        crops = checked_crops(records, list(hp.bands), hp.tile_size, hp.split_seed, hp.skip_bad, "CSP records")
        dataset = TileDataset(crops, hp.tile_size)
        mean, std = tile_statistics(dataset, hp.split_seed, np.flatnonzero(~crops["heldout"].to_numpy()))
        return ImageItems(compact_records(crops), [(dataset, 0)], mean, std, partial(data_fingerprint, dataset))

    def _shard_items(self, location: str) -> ImageItems:
        """Every split of a shard set (``test`` held out), in split then stream order."""
        hp = self.hparams
        meta, items = checked_meta(location, list(hp.bands), hp.tile_size)
        splits = tuple(items["split"].unique())
        parts, first = [], 0
        for split in splits:
            parts.append((ShardDataset(location, split, shuffle=False), first))
            first += int((items["split"] == split).sum())
        records = compact_records(items.assign(source=hp.sources[0], heldout=items["split"].eq("test")))
        return ImageItems(records, parts, torch.tensor(meta["band_mean"]), torch.tensor(meta["band_std"]),
                          partial(shard_fingerprint, location, splits), location)

    @property
    def features(self) -> np.ndarray:
        """``(N, F)`` frozen features of every item, held-out ones included."""
        raise TrainerError(f"{type(self).__name__} builds no image encoder: frozen features come from "
                           "trainer.tasks.csp_data.CspDataModule")

    def source_features(self, source: str) -> tuple[pd.DataFrame, np.ndarray]:
        """Records of one of the ``sources`` (index: their rows in :attr:`features`) and their features."""
        records = self.items.records
        rows = records[records["source"] == source]
        if not len(rows):
            raise TrainerError(f"{source!r} is not one of the CSP data's sources {list(self.hparams.sources)}")
        return rows, np.asarray(self.features[rows.index.to_numpy()])

    @property
    def image_encoder(self) -> dict | None:
        """The image encoder the task trains end to end (linked to the model), ``None`` when frozen."""
        hp = self.hparams
        return {"backbone": hp.image_backbone, "in_channels": len(hp.bands)} if hp.image_encoder_trainable else None

    @property
    def band_mean(self) -> list[float]:
        return self.items.mean.tolist()

    @property
    def band_std(self) -> list[float]:
        return self.items.std.tolist()

    @cached_property
    def split_rows(self) -> dict[str, np.ndarray]:
        """Seeded random train/val rows among the items that are not held out, ``val_fraction`` of their
        places in val (:func:`~trainer.data.splits.random_places`)."""
        rows = np.flatnonzero(~self.items.records["heldout"].to_numpy())
        train, val = random_places(self.items.records.iloc[rows], self.hparams.val_fraction, self.hparams.split_seed)
        return {"val": rows[val], "train": rows[train]}

    @cached_property
    def datasets(self) -> dict[str, Dataset]:
        """``train``/``val`` pairs: features, pixels read per item, or (shards, end to end) streamed."""
        items = self.items
        if not self.hparams.image_encoder_trainable:
            latlon = items.records[["lat", "lon"]].to_numpy(np.float32)
            return {name: FeaturePairs(latlon, self.features, rows) for name, rows in self.split_rows.items()}
        if items.shards is None:
            dataset = items.parts[0][0]
            return {name: Subset(dataset, rows) for name, rows in self.split_rows.items()}
        streamed = {"train": ShardDataset(items.shards, "train", seed=self.hparams.split_seed)}
        if (items.records["split"] == "val").any():
            streamed["val"] = ShardDataset(items.shards, "val", shuffle=False)
        return streamed

    def _loader(self, split: str, train: bool) -> DataLoader:
        hp = self.hparams
        dataset = self.datasets[split]
        if train and not isinstance(dataset, IterableDataset) and len(dataset) < hp.batch_size:
            raise TrainerError(f"batch_size {hp.batch_size} is larger than the training split "
                               f"({len(dataset)} pairs)")
        frozen = not hp.image_encoder_trainable and not isinstance(dataset, IterableDataset)
        return self.make_loader(dataset, hp.batch_size, shuffle=train, drop_last=train,
                                num_workers=0 if frozen else hp.num_workers)  # features: read from memory

    def train_dataloader(self) -> DataLoader:
        train = self.datasets["train"]
        if isinstance(train, IterableDataset):  # shards, end to end: resumable mid-epoch
            return self.resumable_loader(train, self.hparams.batch_size, self.hparams.num_workers)
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader("val", False) if "val" in self.datasets else []
