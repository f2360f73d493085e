"""Disk-backed datasets: each item is one ``tile_size`` crop read from its file with a rasterio window.

Nothing but paths (each distinct file once, as bytes), pixel offsets, coordinates and labels is held
in memory, in numpy arrays that DataLoader workers share without copying them (no Python object per
item, so no copy-on-write): a table of a million images costs tens of MB.
"""

from __future__ import annotations

import os
import random

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from trainer.data.preflight import preflight
from trainer.data.rasters import read_window_filled
from trainer.data.temporal import TemporalPairs
from trainer.errors import TrainerError


def grid_tiles(records: pd.DataFrame, size: int) -> pd.DataFrame:
    """One row per non-overlapping ``size`` tile of each record (needs ``height, width``), with its
    pixel offset ``tile_y, tile_x``, in record order then row-major tile order."""
    across = np.maximum(records["width"].to_numpy(np.int64) // size, 0)
    counts = np.maximum(records["height"].to_numpy(np.int64) // size, 0) * across
    rows = np.repeat(np.arange(len(records)), counts)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)  # tile number in its record
    tiles = records.iloc[rows].reset_index(drop=True)
    tiles["tile_y"] = within // across[rows] * size
    tiles["tile_x"] = within % across[rows] * size
    return tiles


def random_crops(records: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """``records`` with one seeded random ``size`` crop offset ``tile_y, tile_x`` each."""
    rng = np.random.default_rng(seed)
    offsets = [(rng.integers(0, h - size + 1), rng.integers(0, w - size + 1))
               for h, w in zip(records["height"], records["width"], strict=True)]
    return records.assign(tile_y=[o[0] for o in offsets], tile_x=[o[1] for o in offsets])


def checked_crops(frame: pd.DataFrame, bands: list[str], tile_size: int, seed: int = 0, skip_bad: bool = False,
                  what: str = "records") -> pd.DataFrame:
    """``frame`` after a pre-flight pass over the image headers, with one seeded random ``tile_size``
    crop offset per record (bands by name)."""
    checked = preflight(frame, list(bands), tile_size, skip_bad, what)
    if not len(checked):
        raise TrainerError("no images to read")
    return random_crops(checked, tile_size, seed)


class TileDataset(Dataset):
    """Items ``image`` (raw float32 (C, size, size)), ``latlon``, ``label``, ``index`` and, with
    ``key_view`` ``augment``/``temporal``, ``key`` (the same tile, or the tile of another date).
    ``fill`` (raw value per band) is read for the bands a product lacks (``band_indices`` -1)."""

    def __init__(self, tiles: pd.DataFrame, size: int, pairs: TemporalPairs | None = None,
                 key_view: str = "none") -> None:
        self.size, self.pairs, self.key_view = size, pairs, key_view
        self.fill: np.ndarray | None = None
        codes, files = pd.factorize(tiles["image_path"])  # tiles of one file share its path
        self.file = codes.astype(np.int32)
        self.files = np.array([os.fsencode(f) for f in files], dtype=bytes)  # 1 byte per character, not 4
        band_sets = sorted(set(tiles["band_indices"]))
        self.band_sets = [list(b) for b in band_sets]
        lookup = {b: i for i, b in enumerate(band_sets)}
        self.band_set = np.array([lookup[b] for b in tiles["band_indices"]], dtype=np.int32)
        self.offsets = tiles[["tile_y", "tile_x"]].to_numpy(np.int64).reshape(-1, 2)
        self.latlon = torch.tensor(tiles[["lat", "lon"]].to_numpy(np.float32)).reshape(-1, 2)
        self.labels = torch.tensor(tiles["label"].to_numpy(np.int64))

    def __len__(self) -> int:
        return len(self.file)

    def path(self, index: int) -> str:
        """File of tile ``index``."""
        return os.fsdecode(self.files[self.file[index]])

    @property
    def paths(self) -> np.ndarray:
        """Every tile's file, in item order (a new array: :meth:`path` reads one)."""
        return np.array([os.fsdecode(f) for f in self.files], dtype=str)[self.file]

    def read(self, index: int) -> torch.Tensor:
        """Raw pixels of tile ``index``; NaN/inf values raise :class:`TrainerError` naming the file."""
        y, x = self.offsets[index]
        path = self.path(index)
        pixels = read_window_filled(path, self.band_sets[self.band_set[index]], int(y), int(x), self.size, self.fill,
                                    dtype=None)
        if pixels.dtype.kind in "fc" and not np.isfinite(pixels).all():  # integer pixels are always finite
            raise TrainerError(f"{path} holds NaN/inf pixel values in the tile at ({y}, {x})")
        return torch.from_numpy(pixels.astype(np.float32, copy=False))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image = self.read(index)
        item = {"image": image, "latlon": self.latlon[index], "label": self.labels[index], "index": index}
        if self.key_view == "augment":
            item["key"] = image
        elif self.key_view == "temporal":
            item["key"] = self.read(self.pairs.sample(index))
        return item


def crop_dataset(frame: pd.DataFrame, bands: list[str], tile_size: int, seed: int = 0,
                 skip_bad: bool = False, what: str = "records") -> TileDataset:
    """Disk-backed dataset of :func:`checked_crops`."""
    return TileDataset(checked_crops(frame, bands, tile_size, seed, skip_bad, what), tile_size)


def crop_pixels(frame: pd.DataFrame, bands: list[str], tile_size: int, seed: int = 0) -> torch.Tensor:
    """``(N, C, tile, tile)`` raw float32 pixels of :func:`crop_dataset` in memory (small data only)."""
    dataset = crop_dataset(frame, bands, tile_size, seed)
    return torch.stack([dataset.read(i) for i in range(len(dataset))])


def seed_worker(worker_id: int) -> None:
    """Seed numpy and ``random`` in a DataLoader worker from its torch seed (which differs per worker,
    per epoch and per rank), so augmentations drawn in workers never repeat across them."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def loader(dataset: Dataset, batch_size: int, shuffle: bool = False, drop_last: bool = False,
           num_workers: int = 0, pin_memory: bool = False, persistent_workers: bool = False) -> DataLoader:
    """A DataLoader over a disk-backed dataset with seeded workers (Lightning adds the
    DistributedSampler under DDP, so every sample is seen once per epoch across ranks)."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                      num_workers=num_workers, pin_memory=pin_memory,
                      persistent_workers=persistent_workers and num_workers > 0,
                      worker_init_fn=seed_worker if num_workers > 0 else None)
