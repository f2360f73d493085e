"""``python -m trainer shards build``: the shard set of every tile of a source (:mod:`trainer.data.shards`).

The split is drawn once, at build time, by the trainer's split policy
(:func:`trainer.data.splits.split_by_place`: all tiles of an image and all images of one place stay
together, stratified by label; unlabelled images all go to ``train``), and each split's tiles are written in
record order. Band statistics and percentiles come from a sample of the training tiles. The set is written
into a temporary folder beside ``out`` (:func:`qgis_csp_plugin.contract.temp_files.atomic_folder`: removed on
error or SIGTERM, swept by the next build after a SIGKILL) and renamed when complete, so a killed build
never leaves anything a later run would read as a shard set.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pandas as pd
from litdata import optimize

from qgis_csp_plugin.contract.temp_files import atomic_folder
from trainer.data.band_statistics import PERCENTILES, band_percentiles, band_statistics, tile_sample
from trainer.data.preflight import preflight
from trainer.data.registry import image_records
from trainer.data.shard_item import tile_item
from trainer.data.shards import ITEM_COLUMNS, ITEMS, META
from trainer.data.splits import split_by_place
from trainer.data.tiles import TileDataset, grid_tiles
from trainer.errors import TrainerError


def build_shards(source: str, out: str | Path, bands: list[str], tile_size: int, table_bands: list[str],
                 workers: int = 1, chunk_bytes: str = "64MB", skip_bad: bool = False, val_fraction: float = 0.2,
                 test_fraction: float = 0.2, split_seed: int = 0) -> Path:
    """Write the shard set of every ``tile_size`` tile of ``source``, split into ``train/ val/ test/``
    folders at build time, to ``out`` (atomically)."""
    out = Path(out).resolve()
    if out.exists():
        raise TrainerError(f"{out} already exists: remove it or choose another --out")
    records = preflight(image_records(source, table_bands), bands, tile_size, skip_bad, source)
    records = records.assign(**{column: records[column].fillna("").astype(str) if column in records else ""
                                for column in ("timestamp", "location_id")})
    try:
        split = split_by_place(records, val_fraction, test_fraction, split_seed)
    except TrainerError as exc:
        raise TrainerError(f"{exc} (places: images of one location_id or one place count once); choose other "
                           "--val-fraction/--test-fraction, or 0 and 0 for no split") from exc
    parts = {name: grid_tiles(part.sort_index(), tile_size) for name, part in split.items()}
    sample = tile_sample(TileDataset(parts["train"], tile_size))
    (mean, std), (low, high) = band_statistics(sample), band_percentiles(sample, PERCENTILES)
    labelled = records[records["label"] >= 0].drop_duplicates("label").sort_values("label")
    with atomic_folder(out) as partial_dir:
        for name, tiles in parts.items():
            if len(tiles):
                _write_split(tiles, partial_dir / name, tile_size, workers, chunk_bytes)
        meta = {"source": source, "bands": list(bands), "tile_size": tile_size,
                "items": sum(len(tiles) for tiles in parts.values()),
                "splits": {name: len(tiles) for name, tiles in parts.items()},
                "split": {"val_fraction": val_fraction, "test_fraction": test_fraction, "seed": split_seed},
                "class_names": labelled["class_name"].astype(str).tolist(),
                "band_mean": mean.tolist(), "band_std": std.tolist(), "band_low": low, "band_high": high}
        (partial_dir / META).write_text(json.dumps(meta, indent=1))
    return out


def _write_split(tiles: pd.DataFrame, folder: Path, tile_size: int, workers: int, chunk_bytes: str) -> None:
    """One split's litdata chunks and ``items.parquet`` (stream index = row)."""
    rows = list(zip(range(len(tiles)), tiles["image_path"], tiles["band_indices"], tiles["tile_y"].tolist(),
                    tiles["tile_x"].tolist(), tiles["lat"].tolist(), tiles["lon"].tolist(),
                    tiles["label"].astype(int).tolist(), tiles["timestamp"], tiles["location_id"], strict=True))
    optimize(fn=partial(tile_item, size=tile_size), inputs=rows, output_dir=str(folder), chunk_bytes=chunk_bytes,
             num_workers=max(1, workers), mode="overwrite", reorder_files=False, keep_data_ordered=True)
    tiles.assign(class_name=tiles["class_name"].astype(str))[ITEM_COLUMNS].to_parquet(folder / ITEMS, index=False)


