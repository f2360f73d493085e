"""A crafted shard set must not run code: its items' formats are checked before litdata reads one
(issue 26, point 1). The set is a real litdata ``optimize`` output whose ``timestamp`` field holds an
object with a ``__reduce__`` payload (``RunsCode``: litdata stores it as ``pickle``; loading it creates a
marker file)."""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
from litdata import StreamingDataset, optimize
from moco_fixtures import eurosat_csv
from test_bad_tables import last_error_line, trainer_cli
from test_crafted_checkpoints import RunsCode

from trainer.cli import main as trainer_main
from trainer.data.bands import EUROSAT_BANDS, band_indices
from trainer.data.shard_item import tile_item

BANDS = ["B02", "B03", "B04", "B08"]


def crafted_item(row: tuple, size: int, marker: Path) -> dict:
    """The builder's item with its timestamp replaced by the payload."""
    return {**tile_item(row, size), "timestamp": RunsCode(marker)}


@pytest.fixture(scope="module")
def crafted(tmp_path_factory) -> tuple[Path, Path]:
    """(a shard set whose train split holds the payload, the marker file the payload would create)."""
    folder = tmp_path_factory.mktemp("crafted")
    table = eurosat_csv(folder, n=2)
    real = folder / "real"
    assert trainer_main(["shards", "build", "--source", str(table), "--out", str(real), "--tile-size", "32",
                         "--bands", *BANDS]) == 0
    marker = folder / "payload_ran"
    items = pd.read_parquet(real / "train" / "items.parquet")
    bands = tuple(band_indices(EUROSAT_BANDS, BANDS))
    rows = [(i, item.image_path, bands, item.tile_y, item.tile_x, item.lat, item.lon, item.label, "", "")
            for i, item in enumerate(items.itertuples())]
    evil = folder / "evil"
    shutil.copytree(real, evil, ignore=shutil.ignore_patterns("chunk-*", "index.json"))
    optimize(fn=partial(crafted_item, size=32, marker=marker), inputs=rows, output_dir=str(evil / "train"),
             chunk_bytes="64MB", num_workers=1, mode="overwrite", reorder_files=False)
    assert '"pickle"' in (evil / "train" / "index.json").read_text()
    return evil, marker


def test_the_crafted_set_runs_its_payload_when_litdata_reads_it(crafted):
    """Control: the set is a real threat (litdata unpickles the field, and the payload runs)."""
    evil, marker = crafted
    StreamingDataset(str(evil / "train"))[0]
    assert marker.exists()
    marker.unlink()


@pytest.mark.parametrize("command", ["moco", "csp"])
def test_moco_and_csp_fit_refuse_the_crafted_set_without_running_it(crafted, tmp_path, command):
    evil, marker = crafted
    options = {"moco": ["--model.backbone", "resnet10t_w32", "--model.queue_size", "8"],
               "csp": ["--config", "trainer/configs/csp_eurosat.yaml"]}[command]
    result = trainer_cli(command, "fit", *options, "--data.sources", f"[shards:{evil}]", "--data.bands",
                         f"[{','.join(BANDS)}]", "--data.tile_size", "32", "--data.batch_size", "4",
                         "--trainer.max_steps", "1", "--trainer.default_root_dir", str(tmp_path / "runs"))
    line = last_error_line(result)
    assert f"{evil}/train/index.json: field 'timestamp' is stored as 'pickle', not 'str'" in line, line
    assert "refusing to read it" in line and not marker.exists()
