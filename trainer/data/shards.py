"""Sharded streaming datasets with litdata: ``python -m trainer shards build`` and ``shards:<dir-or-URL>``.

A shard set is litdata's ``optimize`` output (chunks + ``index.json``) with two sidecar files:
``shards.json`` (bands, tile size, item count, per-band mean/std and percentiles of a sample, source) and
``items.parquet`` (one row per item in stream order: ``lat, lon, label, timestamp, location_id,
tile_y, tile_x, image_path`` — the location_id → items index for temporal positives and the training
coordinates, read without loading any pixel). Each item holds one tile's pixels in the file's own
dtype. A build writes into ``<out>.partial`` and renames it when complete, so a killed build never
leaves anything a later run would read as a shard set. Training streams from a local folder or any
URL litdata reads (``s3://bucket/prefix``: credentials from the usual AWS variables; the sidecars
are read with boto3, which litdata installs).
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from litdata import StreamingDataLoader, StreamingDataset, optimize

from trainer.data.features import band_percentiles, band_statistics, tile_sample
from trainer.data.image_datamodule import PERCENTILES
from trainer.data.preflight import preflight
from trainer.data.rasters import read_window
from trainer.data.sources import SHARDS_PREFIX, image_records
from trainer.data.temporal import TemporalPairs
from trainer.data.tiles import TileDataset, grid_tiles
from trainer.errors import TrainerError

META = "shards.json"
ITEMS = "items.parquet"
ITEM_COLUMNS = ["lat", "lon", "label", "timestamp", "location_id", "tile_y", "tile_x", "image_path"]


def _sample(row: tuple, size: int) -> dict[str, Any]:
    """One shard item: the tile's pixels (file dtype) and its record fields (run in optimize workers)."""
    item, path, bands, y, x, lat, lon, label, timestamp, location_id = row
    return {"item": item, "image": read_window(path, list(bands), y, x, size, dtype=None), "lat": lat,
            "lon": lon, "label": label, "timestamp": timestamp, "location_id": location_id}


def build_shards(source: str, out: str | Path, bands: list[str], tile_size: int, table_bands: list[str],
                 workers: int = 1, chunk_bytes: str = "64MB", skip_bad: bool = False) -> Path:
    """Write the shard set of every ``tile_size`` tile of ``source`` to ``out`` (atomically)."""
    out = Path(out).resolve()
    if out.exists():
        raise TrainerError(f"{out} already exists: remove it or choose another --out")
    records = preflight(image_records(source, table_bands), bands, tile_size, skip_bad, source)
    tiles = grid_tiles(records, tile_size)
    for column, default in (("timestamp", ""), ("location_id", "")):
        tiles[column] = tiles[column].fillna(default).astype(str) if column in tiles else default
    sample = tile_sample(TileDataset(tiles, tile_size))
    (mean, std), (low, high) = band_statistics(sample), band_percentiles(sample, PERCENTILES)
    partial_dir = out.with_name(out.name + ".partial")
    shutil.rmtree(partial_dir, ignore_errors=True)
    try:
        rows = list(zip(range(len(tiles)), tiles["image_path"], tiles["band_indices"], tiles["tile_y"].tolist(),
                        tiles["tile_x"].tolist(), tiles["lat"].tolist(), tiles["lon"].tolist(),
                        tiles["label"].astype(int).tolist(), tiles["timestamp"], tiles["location_id"], strict=True))
        optimize(fn=partial(_sample, size=tile_size), inputs=rows, output_dir=str(partial_dir),
                 chunk_bytes=chunk_bytes, num_workers=max(1, workers), mode="overwrite",
                 reorder_files=False, keep_data_ordered=True)  # stream index = items.parquet row
        tiles[ITEM_COLUMNS].to_parquet(partial_dir / ITEMS, index=False)
        meta = {"source": source, "bands": list(bands), "tile_size": tile_size, "items": len(tiles),
                "band_mean": mean.tolist(), "band_std": std.tolist(), "band_low": low, "band_high": high}
        (partial_dir / META).write_text(json.dumps(meta, indent=1))
        partial_dir.rename(out)
    except BaseException:
        shutil.rmtree(partial_dir, ignore_errors=True)
        raise
    return out


def shard_location(source: str) -> str:
    """The folder or URL of a ``shards:<dir-or-URL>`` source."""
    location = source[len(SHARDS_PREFIX):]
    if not location:
        raise TrainerError("the shards source needs its folder or URL: shards:<dir-or-URL>")
    return location


def _sidecar(location: str, name: str) -> bytes:
    if location.startswith("s3://"):
        import boto3

        bucket, _, prefix = location[len("s3://"):].partition("/")
        key = f"{prefix.rstrip('/')}/{name}" if prefix else name
        return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    if "://" in location:
        raise TrainerError(f"{location}: shard sets are read from local folders or s3:// URLs")
    path = Path(location) / name
    if not path.is_file():
        raise TrainerError(f"{Path(location)} is not a complete shard set (no {name}); build it with "
                           "python -m trainer shards build")
    return path.read_bytes()


def shard_meta(location: str) -> tuple[dict, pd.DataFrame]:
    """``(shards.json, items table)`` of a shard set (no pixels are read)."""
    meta = json.loads(_sidecar(location, META))
    return meta, pd.read_parquet(io.BytesIO(_sidecar(location, ITEMS)))


def shard_fingerprint(location: str) -> str:
    """Hash of a shard set's litdata index and sidecars (what the items are, without reading them)."""
    digest = hashlib.sha256()
    for name in ("index.json", META, ITEMS):
        digest.update(_sidecar(location, name))
    return digest.hexdigest()


class ShardDataset(StreamingDataset):
    """Streamed shard items as the trainer's dicts ``image`` (raw float32), ``latlon``, ``label``,
    ``index`` (+ ``key``: the same tile for ``augment``, the same tile of another date for
    ``temporal``, fetched by index)."""

    def __init__(self, location: str, bands: list[str], tile_size: int, key_view: str = "none",
                 pairs: TemporalPairs | None = None, shuffle: bool = True, seed: int = 0,
                 cache_dir: str | None = None) -> None:
        super().__init__(location, cache_dir=cache_dir, shuffle=shuffle, drop_last=shuffle, seed=seed)
        self.key_view, self.pairs = key_view, pairs

    def __getitem__(self, index: Any) -> dict[str, torch.Tensor]:
        sample = super().__getitem__(index)
        image = torch.from_numpy(sample["image"].astype(np.float32))
        item = {"image": image, "latlon": torch.tensor([sample["lat"], sample["lon"]], dtype=torch.float32),
                "label": torch.tensor(sample["label"]), "index": int(sample["item"])}
        if self.key_view == "augment":
            item["key"] = image
        elif self.key_view == "temporal":
            partner = self.pairs.sample(item["index"])
            other = image if partner == item["index"] else super().__getitem__(partner)["image"]
            item["key"] = torch.from_numpy(np.asarray(other, dtype=np.float32))
        return item


def checked_meta(location: str, bands: list[str], tile_size: int) -> tuple[dict, pd.DataFrame]:
    """:func:`shard_meta`, refusing shards written with other bands or another tile size; items
    without a location_id lose the (empty) ``location_id``/``timestamp`` columns."""
    meta, items = shard_meta(location)
    if (items["location_id"] == "").all():
        items = items.drop(columns=["location_id", "timestamp"])
    if list(meta["bands"]) != list(bands) or int(meta["tile_size"]) != tile_size:
        raise TrainerError(f"{location} holds bands {meta['bands']} at tile_size {meta['tile_size']}, not "
                           f"{list(bands)} at {tile_size}: rebuild the shards or change --data.bands/tile_size")
    return meta, items


class ResumableLoader(StreamingDataLoader):
    """litdata's resumable loader (its state goes into Lightning checkpoints; DDP ranks stream disjoint
    parts of the shard set). A loaded state applies to the next epoch only: litdata clears it when an
    epoch's iterator is exhausted, but Lightning stops at the epoch's batch count without exhausting
    it, which would replay the loaded position in the following epoch."""

    _state_loaded = False

    def load_state_dict(self, obj: dict[str, Any]) -> None:
        super().load_state_dict(obj)
        self._state_loaded = True

    def __iter__(self) -> Any:
        if self.restore and not self._state_loaded:
            self.restore = False
        self._state_loaded = False
        yield from super().__iter__()


def shard_loader(dataset: ShardDataset, batch_size: int, num_workers: int = 0, pin_memory: bool = False,
                 persistent_workers: bool = False) -> ResumableLoader:
    """A :class:`ResumableLoader` over ``dataset``."""
    return ResumableLoader(dataset, batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory,
                           persistent_workers=persistent_workers and num_workers > 0)
