"""Trainer inputs that used to end in a traceback or be ignored (issue 26, point 7): a corrupt image with
``--skip-bad`` in ``shards build`` and ``moco fit``, a crafted, truncated or text ``--ckpt_path``, and
``moco fit --trainer.logger false`` (and ``--trainer.enable_checkpointing false``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from fault_helpers import DATA, truncate
from test_bad_tables import last_error_line, trainer_cli
from test_crafted_checkpoints import RunsCode

from trainer.cli import main as trainer_main

BANDS = ["B02", "B03", "B04", "B08"]
MOCO = ["moco", "fit", "--config", "trainer/configs/moco_eurosat_small.yaml", "--trainer.max_steps", "1",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_checkpointing", "false",
        "--data.bands", f"[{','.join(BANDS)}]", "--data.missing_bands", "error", "--data.batch_size", "4",
        "--model.queue_size", "8", "--model.geo_clusters", "2"]


@pytest.fixture(scope="module")
def table_with_a_corrupt_image(tmp_path_factory) -> Path:
    """Five real EuroSAT patches, the last one cut after 60 % of its bytes: its header reads, its pixels don't."""
    folder = tmp_path_factory.mktemp("corrupt")
    forest = sorted((DATA / "eurosat_ms" / "Forest").glob("*.tif"))[:5]
    images = [Path(shutil.copy(p, folder / p.name)) for p in forest[:4]]
    images.append(truncate(forest[4], folder / "cut.tif", keep=0.6))
    table = folder / "images.csv"
    pd.DataFrame({"image_path": [str(p) for p in images]}).to_csv(table, index=False)  # placed from the files
    return table


def error_line(capsys, argv: list[str]) -> str:
    """The one line ``python -m trainer`` prints for ``argv`` (run in this process), exit code 2."""
    assert trainer_main(argv) == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_shards_build_names_or_skips_a_corrupt_image(table_with_a_corrupt_image, tmp_path, capsys):
    build = ["shards", "build", "--source", str(table_with_a_corrupt_image), "--tile-size", "32", "--bands", *BANDS,
             "--val-fraction", "0", "--test-fraction", "0"]
    line = error_line(capsys, [*build, "--out", str(tmp_path / "stopped")])
    assert "row 4 (" in line and "cut.tif) is corrupt or truncated: its pixels cannot be read" in line, line
    assert "--data.skip_bad true skips them" in line and not (tmp_path / "stopped").exists()
    with pytest.warns(UserWarning, match="skipped 1 of 5 rows with missing, unreadable, corrupt or too small images"):
        assert trainer_main([*build, "--out", str(tmp_path / "set"), "--skip-bad"]) == 0
    assert "train: 16 items" in capsys.readouterr().out  # 4 good patches x 4 tiles of 32 px


def test_moco_fit_skips_a_corrupt_image_and_runs_without_logger_or_checkpoints(table_with_a_corrupt_image,
                                                                               tmp_path):
    """Without --data.skip_bad the corrupt image is named; with it the run goes on. The config's
    LearningRateMonitor needs a logger and its ModelCheckpoint checkpointing: turned off, they are left
    out with a note instead of failing in Lightning."""
    options = [*MOCO, "--data.sources", f"[{table_with_a_corrupt_image}]", "--trainer.default_root_dir",
               str(tmp_path)]
    line = last_error_line(trainer_cli(*options))
    assert "cut.tif) is corrupt or truncated" in line, line
    done = trainer_cli(*options, "--data.skip_bad", "true", "--trainer.logger", "false",
                       "--trainer.enable_checkpointing", "false")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "skipped 1 of 5 rows" in done.stderr and "`Trainer.fit` stopped: `max_steps=1` reached" in done.stderr
    assert "note: trainer.logger is off: lightning.pytorch.callbacks.LearningRateMonitor left out" in done.stderr
    assert "note: trainer.enable_checkpointing is off: lightning.pytorch.callbacks.ModelCheckpoint left out" \
        in done.stderr


@pytest.mark.parametrize("kind", ["crafted", "truncated", "text", "no_state_dict"])
def test_bad_ckpt_path_is_one_line(tmp_path, capsys, kind):
    path, marker = tmp_path / f"{kind}.ckpt", tmp_path / "code_ran"
    if kind == "crafted":
        torch.save({"state_dict": {}, "hyper_parameters": {"x": RunsCode(marker)}}, path)
    elif kind == "truncated":
        torch.save({"state_dict": {"w": torch.zeros(1000)}}, tmp_path / "whole.ckpt")
        truncate(tmp_path / "whole.ckpt", path, keep=0.5)
    elif kind == "text":
        path.write_text("epoch=3 step=120\n")
    else:
        torch.save({"weights": torch.zeros(3)}, path)
    line = error_line(capsys, [*MOCO, "--data.sources", "[eurosat]", "--ckpt_path", str(path),
                               "--trainer.default_root_dir", str(tmp_path / "runs")])
    expected = {"crafted": f"error: refused to load {path}: it needs io.open, and loading it could run code",
                "truncated": f"error: {path} is not a Lightning checkpoint (torch.load failed:",
                "text": f"error: {path} is not a Lightning checkpoint (torch.load failed:",
                "no_state_dict": f"error: --ckpt_path {path} is not a Lightning checkpoint (no 'state_dict' entry)"}
    assert line.startswith(expected[kind]), line
    assert not marker.exists() and not (tmp_path / "runs").exists()
