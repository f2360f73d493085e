"""Crafted pickles: no checkpoint loader runs code from a file (issue 20, defect 5)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fault_helpers import REPO

from trainer.errors import TrainerError
from trainer.models.backbones import load_backbone_weights
from trainer.tasks.location_classifier import csp_encoder_state
from trainer.tasks.moco import load_moco_backbone


class RunsCode:
    """Unpickling calls ``open(marker, "w")``: a harmless stand-in for any code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture
def crafted(tmp_path) -> tuple[Path, Path]:
    """A Lightning-looking checkpoint whose hyper-parameters run code when unpickled."""
    marker = tmp_path / "code_ran"
    path = tmp_path / "crafted.ckpt"
    torch.save({"state_dict": {"encoder_q.backbone.w": torch.zeros(1), "location_encoder.w": torch.zeros(1)},
                "hyper_parameters": {"location_encoder": "xyz", "x": RunsCode(marker)},
                "geossl_task": "trainer.tasks.csp:CSPTask"}, path)
    return path, marker


@pytest.mark.parametrize("loader", [csp_encoder_state, load_moco_backbone,
                                    lambda path: load_backbone_weights(torch.nn.Linear(1, 1), path)],
                         ids=["csp_encoder_state", "load_moco_backbone", "load_backbone_weights"])
def test_loaders_refuse_a_crafted_checkpoint(crafted, loader):
    path, marker = crafted
    with pytest.raises(TrainerError, match=r"refused to load .*crafted.ckpt: it needs io.open, and loading "
                                           r"it could run code"):
        loader(path)
    assert not marker.exists()


def test_export_refuses_a_crafted_checkpoint_in_one_line(crafted, tmp_path):
    path, marker = crafted
    result = subprocess.run([sys.executable, "-m", "trainer", "export", "--checkpoint", str(path), "--kind",
                             "location_encoder", "--out", str(tmp_path / "m.onnx")], cwd=REPO, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: refused to load {path}: it needs io.open")
    assert not marker.exists() and not (tmp_path / "m.onnx").exists()
