"""A kill loses at most one epoch of training (issue 20, defect 12): configs that validate every
10 epochs still save ``last.ckpt`` at the end of each training epoch."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from fault_helpers import REPO


@pytest.mark.slow
def test_csp_fit_saves_last_checkpoint_every_epoch(tmp_path):
    result = subprocess.run([sys.executable, "-m", "trainer", "csp", "fit", "--config",
                             str(REPO / "trainer" / "configs" / "csp_eurosat.yaml"), "--trainer.max_epochs", "2",
                             "--trainer.logger", "false", "--trainer.enable_progress_bar", "false"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-3000:]
    last = tmp_path / "runs" / "csp_eurosat" / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 1  # before validation at epoch 10
