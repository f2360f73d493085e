"""Sharded streaming datasets with litdata: ``python -m trainer shards build`` and ``shards:<dir-or-URL>``.

A shard set is one folder per split — ``train/``, ``val/``, ``test/`` (a split without items has no
folder), each litdata's ``optimize`` output (chunks + ``index.json``) plus ``items.parquet`` (one row
per item in stream order: ``lat, lon, label, class_name, timestamp, location_id, tile_y, tile_x,
image_path``: the location_id → items index for temporal positives and the coordinates, read without
loading any pixel) — and ``shards.json`` (bands, tile size, item counts per split, class names, the
split's fractions and seed, per-band mean/std and percentiles of a sample of the training split,
source). The split is drawn once, at build time (:mod:`trainer.data.shard_build`), by the trainer's split
policy (:func:`trainer.data.splits.split_by_place`: all tiles of an image and all images of one place stay
together); unlabelled images all go to ``train`` (pre-training data). Each item holds one tile's pixels in
the file's own dtype. A build writes into a temporary folder and renames it when complete, so a killed
build never leaves anything a later run would read as a shard set. Training streams from a local folder or
any URL litdata reads
(``s3://bucket/prefix``: credentials from the usual AWS variables; the sidecars are read with boto3,
which litdata installs). Since such data comes from elsewhere, each split's ``index.json`` is checked
before litdata reads an item: only the fields and formats the builder writes (:data:`ITEM_FORMATS`) are
accepted, so a crafted set whose items need pickle (which runs code while it loads) is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from litdata import StreamingDataLoader, StreamingDataset

from trainer.data.temporal import TemporalPairs
from trainer.errors import TrainerError

SHARDS_PREFIX = "shards:"

META = "shards.json"
ITEMS = "items.parquet"
ITEM_COLUMNS = ["lat", "lon", "label", "class_name", "timestamp", "location_id", "tile_y", "tile_x", "image_path"]
#: litdata's serializer of each item field as :func:`~trainer.data.shard_item.tile_item` writes it: the only
#: formats a shard set may hold (litdata's ``pickle`` and the formats built on it would run code on loading).
ITEM_FORMATS = {"item": "int", "image": "numpy", "lat": "float", "lon": "float", "label": "int", "timestamp": "str",
                "location_id": "str"}
#: The item layout litdata records for a flat dict of leaves (its pytree spec).
LEAF_SPEC = {"type": None, "context": None, "children_spec": []}


def is_shards(source: str) -> bool:
    return source.startswith(SHARDS_PREFIX)


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


def split_location(location: str, split: str) -> str:
    """The folder or URL of one split of a shard set."""
    return f"{location.rstrip('/')}/{split}"


def shard_meta(location: str) -> tuple[dict, pd.DataFrame]:
    """``(shards.json, items table)`` of a shard set (no pixels are read): the items of every split,
    with their ``split`` and their stream index ``item`` within it."""
    meta = json.loads(_sidecar(location, META))
    if "splits" not in meta:
        raise TrainerError(f"{location} is a shard set without train/val/test folders (built before splits "
                           "were written): rebuild it with python -m trainer shards build")
    frames = [pd.read_parquet(io.BytesIO(_sidecar(location, f"{split}/{ITEMS}"))).assign(split=split)
              for split, count in meta["splits"].items() if count]
    items = pd.concat(frames, ignore_index=True)
    items["item"] = items.groupby("split").cumcount()
    return meta, items


def shard_items(source: str) -> pd.DataFrame:
    """The labelled items of a ``shards:`` source (coordinates, labels, split; no pixel is read)."""
    _, items = shard_meta(shard_location(source))
    labelled = items[items["label"] >= 0]
    if not len(labelled):
        raise TrainerError(f"{source} has no labelled items")
    return labelled


def shard_fingerprint(location: str, splits: tuple[str, ...]) -> str:
    """Hash of ``splits`` of a shard set: their litdata indices and sidecars (what the items are,
    without reading them)."""
    digest = hashlib.sha256(_sidecar(location, META))
    for split in splits:
        for name in ("index.json", ITEMS):
            digest.update(_sidecar(location, f"{split}/{name}"))
    return digest.hexdigest()


def check_index(location: str, split: str) -> None:
    """Refuse a split whose litdata ``index.json`` describes items other than the builder's: another item
    loader, encryption or compression, other fields, or a field in another format than :data:`ITEM_FORMATS`
    (e.g. ``pickle``). Reads only the index, before litdata deserialises anything."""
    what = f"{split_location(location, split)}/index.json"
    try:
        config = json.loads(_sidecar(location, f"{split}/index.json"))["config"]
        _, spec = json.loads(config["data_spec"])
        names = json.loads(spec["context"])
        formats = list(config["data_format"])
        leaves = spec["children_spec"]
    except (ValueError, KeyError, TypeError) as exc:
        raise TrainerError(f"{what} is not the index of a shard set written by python -m trainer shards build "
                           f"({type(exc).__name__}: {exc})") from exc
    settings = {"item_loader": config.get("item_loader"), "encryption": config.get("encryption"),
                "compression": config.get("compression")}
    for key, value in settings.items():
        if value != ("PyTreeLoader" if key == "item_loader" else None):
            raise TrainerError(f"{what}: {key} is {value!r}; shards build writes no such shard set: refusing "
                               "to read it")
    if spec.get("type") != "builtins.dict" or any(leaf != LEAF_SPEC for leaf in leaves) \
            or not isinstance(names, list) or sorted(map(str, names)) != sorted(ITEM_FORMATS) \
            or len(formats) != len(names):
        raise TrainerError(f"{what}: its items are not the fields {', '.join(ITEM_FORMATS)} that shards build "
                           f"writes (found {names!r} as {formats!r}): refusing to read it")
    for name, written in zip(names, formats, strict=True):
        if written != ITEM_FORMATS[name]:
            raise TrainerError(f"{what}: field {name!r} is stored as {written!r}, not {ITEM_FORMATS[name]!r} as "
                               "shards build writes it; refusing to read it (formats such as pickle run code "
                               "while they load): rebuild the shard set with python -m trainer shards build")


class ShardDataset(StreamingDataset):
    """Streamed items of one split of a shard set as the trainer's dicts ``image`` (raw float32),
    ``latlon``, ``label``, ``index`` (+ ``key``: the same tile for ``augment``, the same tile of another
    date for ``temporal``, fetched by index). The split's index is checked first (:func:`check_index`)."""

    def __init__(self, location: str, split: str = "train", key_view: str = "none",
                 pairs: TemporalPairs | None = None, shuffle: bool = True, seed: int = 0,
                 cache_dir: str | None = None) -> None:
        check_index(location, split)
        super().__init__(split_location(location, split), cache_dir=cache_dir, shuffle=shuffle, drop_last=shuffle,
                         seed=seed)
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
