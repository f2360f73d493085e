"""The ``python -m trainer moco`` commands end to end (subprocesses, real data), and DDP on 2 CPU processes.

The CPU DDP test runs the key encoder with shuffle-BN over gloo; torch's SyncBatchNorm refuses CPU
tensors, so ``key_bn: sync`` on CPU must stop with a clear message.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from moco_fixtures import eurosat_csv

REPO = Path(__file__).resolve().parents[2]
SMALL = ["--trainer.logger", "false", "--trainer.enable_progress_bar", "false", "--trainer.callbacks", "null"]


def _run(args: list[str], tmp_path: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")])}
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


def _ddp_fit(tmp_path: Path, key_bn: str) -> subprocess.CompletedProcess:
    return _run(["fit", "--config", "trainer/configs/moco_eurosat_small.yaml", *SMALL,
                 "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp",
                 "--trainer.max_steps", "3",
                 "--trainer.enable_checkpointing", "true", "--trainer.default_root_dir", str(tmp_path / "ddp"),
                 "--data.sources", f"[{eurosat_csv(tmp_path)}]", "--data.batch_size", "4",
                 "--model.queue_size", "16", "--model.geo_clusters", "3", "--model.key_bn", key_bn], tmp_path)


@pytest.mark.slow
def test_ddp_with_shuffle_bn_on_two_cpu_processes(tmp_path):
    result = _ddp_fit(tmp_path, "shuffle")
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = torch.load(next((tmp_path / "ddp").rglob("*.ckpt")), weights_only=False)
    assert checkpoint["global_step"] == 3
    # each step enqueues the keys of both processes: 3 steps x 2 processes x 4 = 24 -> ptr 24 mod 16
    assert int(checkpoint["state_dict"]["queue.ptr"]) == 8


@pytest.mark.slow
def test_sync_bn_on_cpu_ddp_is_refused_with_a_clear_message(tmp_path):
    result = _ddp_fit(tmp_path, "sync")
    assert result.returncode != 0
    assert "key_bn: sync needs GPUs" in result.stderr


def test_full_gpu_config_parses(tmp_path):
    result = _run(["fit", "--config", "trainer/configs/moco_resnet50.yaml", "--print_config"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "queue_size: 65536" in result.stdout and "key_bn: shuffle" in result.stdout


@pytest.mark.slow
def test_bf16_mixed_precision_runs_on_cpu(tmp_path):
    result = _run(["fit", "--config", "trainer/configs/moco_eurosat_small.yaml", *SMALL,
                   "--trainer.accelerator", "cpu", "--trainer.precision", "bf16-mixed", "--trainer.max_steps", "2",
                   "--trainer.enable_checkpointing", "true", "--trainer.default_root_dir", str(tmp_path / "bf16"),
                   "--data.sources", f"[{eurosat_csv(tmp_path)}]", "--data.batch_size", "8",
                   "--model.queue_size", "8", "--model.geo_clusters", "3"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = torch.load(next((tmp_path / "bf16").rglob("*.ckpt")), weights_only=False)
    assert checkpoint["global_step"] == 2
    weights = [v for v in checkpoint["state_dict"].values() if v.is_floating_point()]
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in weights)  # bf16 only in autocast


@pytest.mark.slow
def test_sigkilled_fit_resumes_to_the_same_step_count_without_losing_checkpoints(tmp_path):
    folder = tmp_path / "checkpoints"
    saver = {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
             "init_args": {"dirpath": str(folder), "filename": "{step}", "every_n_train_steps": 3,
                           "save_top_k": -1, "save_last": True, "enable_version_counter": False}}

    def fit(*extra: str) -> subprocess.CompletedProcess:
        return _run(["fit", "--config", "trainer/configs/moco_eurosat_small.yaml", *SMALL[:4],
                     "--trainer.max_epochs", "3", "--trainer.default_root_dir", str(tmp_path / "run"),
                     "--data.sources", f"[{eurosat_csv(tmp_path)}]", "--data.batch_size", "8",
                     "--data.tile_size", "32",  # 16 patches = 64 tiles: 8 steps per epoch
                     "--model.queue_size", "16", "--model.geo_clusters", "3", *extra], tmp_path)

    killed = fit("--trainer.callbacks", json.dumps([saver, {"class_path": "moco_fixtures.KillAt",
                                                            "init_args": {"step": 13}}]))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    before = {p.name for p in folder.iterdir()}
    assert before == {"step=3.ckpt", "step=6.ckpt", "step=9.ckpt", "step=12.ckpt", "last.ckpt"}
    last = torch.load(folder / "last.ckpt", weights_only=False)
    assert (last["global_step"], last["epoch"]) == (12, 1)  # killed in the middle of the second epoch
    resumed = fit("--trainer.callbacks", json.dumps([saver]), "--ckpt_path", "last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert torch.load(folder / "last.ckpt", weights_only=False)["global_step"] == 3 * 8  # as if never killed
    after = {p.name for p in folder.iterdir()}
    assert before < after and {f"step={s}.ckpt" for s in range(3, 25, 3)} <= after
    for name in before:
        torch.load(folder / name, weights_only=False)  # every checkpoint written before the kill still loads


@pytest.mark.gpu
def test_full_config_trains_on_a_gpu(tmp_path):
    """The paper's ResNet-50 config (bf16-mixed, shuffle-BN key encoder) for a few steps on real patches."""
    result = _run(["fit", "--config", "trainer/configs/moco_resnet50.yaml", *SMALL, "--trainer.max_steps", "3",
                   "--trainer.default_root_dir", str(tmp_path), "--data.batch_size", "64",
                   "--data.num_workers", "2"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert torch.load(next(tmp_path.rglob("*.ckpt")), weights_only=False)["global_step"] == 3


def test_a_classifier_run_resumes_from_ckpt_path_and_saves_where_told(tmp_path, capsys):
    """``moco finetune`` goes through the one fit-test-save helper of ``prior``: it resumes from ``--ckpt_path``
    (it did not accept it) and saves the tested model at ``--final_checkpoint``."""
    from trainer.cli import main

    saver = {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
             "init_args": {"dirpath": str(tmp_path / "checkpoints"), "every_n_train_steps": 1, "save_last": True}}

    def finetune(steps: int, *extra: str) -> int:
        return main(["moco", "finetune", "--config", "trainer/configs/classifier_eurosat_rgb.yaml", *SMALL[:4],
                     "--trainer.callbacks", json.dumps([saver]), "--trainer.max_steps", str(steps),
                     "--trainer.default_root_dir", str(tmp_path), "--data.batch_size", "8", *extra])

    assert finetune(2) == 0 and torch.load(tmp_path / "final.ckpt", weights_only=False)["global_step"] == 2
    named = tmp_path / "named.ckpt"
    assert finetune(4, "--ckpt_path", str(tmp_path / "checkpoints" / "last.ckpt"), "--final_checkpoint",
                    str(named)) == 0
    resumed = torch.load(named, weights_only=False)
    assert resumed["global_step"] == 4 and 0 <= float(resumed["state_dict"]["heldout_top1"]) <= 1
    assert f"fine-tune: held-out top-1 {float(resumed['state_dict']['heldout_top1']):.4f}" in capsys.readouterr().out
