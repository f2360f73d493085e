"""The ``python -m trainer moco`` commands end to end (subprocesses, real data), and DDP on 2 CPU processes.

SyncBatchNorm needs GPUs (torch refuses it on CPU), so the CPU DDP test runs per-process BatchNorm.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from moco_fixtures import eurosat_csv

REPO = Path(__file__).resolve().parents[2]
SMALL = ["--trainer.logger", "false", "--trainer.enable_progress_bar", "false", "--trainer.callbacks", "null"]


def _run(args: list[str], tmp_path: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "trainer", "moco", *args], cwd=REPO, env=env, text=True,
                          capture_output=True, timeout=timeout)


def test_bad_config_value_is_one_line(tmp_path):
    result = _run(["fit", "--config", "trainer/configs/moco_eurosat_small.yaml", "--model.variant", "simclr",
                   "--trainer.default_root_dir", str(tmp_path)], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == \
        "error: variant 'simclr' is not one of moco, moco_geo, moco_tp, moco_geo_tp"
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_fit_then_linear_probe_from_the_cli(tmp_path):
    csv = eurosat_csv(tmp_path)
    fit = _run(["fit", "--config", "trainer/configs/moco_eurosat_small.yaml", *SMALL,
                "--trainer.max_steps", "2", "--trainer.default_root_dir", str(tmp_path / "moco"),
                "--trainer.enable_checkpointing", "true", "--data.sources", f"[{csv}]", "--data.batch_size", "8",
                "--model.variant", "moco_geo", "--model.geo_clusters", "3", "--model.queue_size", "8"], tmp_path)
    assert fit.returncode == 0, fit.stderr[-2000:]
    checkpoint = next((tmp_path / "moco").rglob("*.ckpt"))
    probe = _run(["linear-probe", "--config", "trainer/configs/classifier_eurosat_rgb.yaml", *SMALL,
                  "--trainer.max_epochs", "1", "--trainer.default_root_dir", str(tmp_path / "probe"),
                  "--model.moco_checkpoint", str(checkpoint)], tmp_path)
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert "linear probe: held-out top-1" in probe.stdout
    final = torch.load(tmp_path / "probe" / "final.ckpt", weights_only=False)
    assert final["hyper_parameters"]["freeze_backbone"] is True
    assert 0 <= float(final["state_dict"]["heldout_top1"]) <= 1


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tmp_path):
    csv = eurosat_csv(tmp_path)
    result = _run(["fit", "--config", "trainer/configs/moco_eurosat_small.yaml", *SMALL,
                   "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp",
                   "--trainer.max_steps", "3",
                   "--trainer.enable_checkpointing", "true", "--trainer.default_root_dir", str(tmp_path / "ddp"),
                   "--data.sources", f"[{csv}]", "--data.batch_size", "4", "--model.queue_size", "16",
                   "--model.geo_clusters", "3"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = torch.load(next((tmp_path / "ddp").rglob("*.ckpt")), weights_only=False)
    assert checkpoint["global_step"] == 3
    # each step enqueues the keys of both processes: 3 steps x 2 processes x 4 = 24 -> ptr 24 mod 16
    assert int(checkpoint["state_dict"]["queue.ptr"]) == 8


def test_full_gpu_config_parses(tmp_path):
    result = _run(["fit", "--config", "trainer/configs/moco_resnet50.yaml", "--print_config"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "queue_size: 65536" in result.stdout and "sync_batchnorm: true" in result.stdout
