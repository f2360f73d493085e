"""The ``fused`` export: an image classifier and a location prior in one ONNX graph, on real EuroSAT."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.probabilities import fuse
from trainer.cli import main
from trainer.data.catalog import EUROSAT_CLASSES
from trainer.data.image_datamodule import ImageDataModule
from trainer.errors import TrainerError
from trainer.export.fused import fused_export_spec
from trainer.export.onnx_writer import export_onnx
from trainer.tasks.image_classifier import ImageClassifierTask
from trainer.tasks.location_classifier import LocationClassifierTask

RGB = ["red", "green", "blue"]
SMALL = {"hidden_dim": 32, "out_dim": 16, "frequency_num": 8}


@pytest.fixture(scope="module")
def image_task() -> ImageClassifierTask:
    torch.set_num_threads(1)
    task = ImageClassifierTask(bands=RGB, augment="none")
    trainer = L.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(task, datamodule=ImageDataModule(sources=["eurosat"], bands=RGB, batch_size=16))
    return task


def test_fused_model_matches_the_product_of_its_parts(image_task, tmp_path):
    prior = LocationClassifierTask(list(EUROSAT_CLASSES), encoder_params=SMALL)
    image_spec, location_spec = image_task.export_spec("image_classifier"), prior.export_spec("location_prior")
    export_onnx(fused_export_spec(image_spec, location_spec), tmp_path / "fused.onnx")
    model = OnnxModel.load(tmp_path / "fused.onnx")
    assert model.metadata.kind == "fused" and model.metadata.bands == RGB
    assert model.metadata.location_encoder["name"] == "sphereC+"
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 3000, (3, 3, 64, 64)).astype(np.float32)
    latlon = np.array([[48.1, 11.6], [52.5, 13.4], [41.9, 12.5]], np.float32)
    with torch.no_grad():
        expected = fuse(image_spec.module(torch.from_numpy(image)).numpy(),
                        location_spec.module(torch.from_numpy(latlon)).numpy())
    assert np.allclose(model.run(image=image, latlon=latlon), expected, atol=1e-4)


def test_fusion_needs_the_same_classes(image_task):
    prior = LocationClassifierTask(["a", "b"], encoder_params=SMALL)
    with pytest.raises(TrainerError, match="class names differ"):
        fused_export_spec(image_task.export_spec("image_classifier"), prior.export_spec("location_prior"))


def _checkpoint(task: L.LightningModule, path) -> str:
    """A real Lightning checkpoint of ``task`` (as ``trainer.save_checkpoint`` writes after training)."""
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(task)
    trainer.save_checkpoint(path)
    return str(path)


def test_export_kind_fused_from_two_checkpoints(image_task, tmp_path, capsys):
    prior = LocationClassifierTask(list(EUROSAT_CLASSES), encoder_params=SMALL)
    image_ckpt = _checkpoint(image_task, tmp_path / "image.ckpt")
    prior_ckpt = _checkpoint(prior, tmp_path / "prior.ckpt")
    out = tmp_path / "fused.onnx"
    assert main(["export", "--kind", "fused", "--checkpoint", image_ckpt, "--location_checkpoint", prior_ckpt,
                 "--out", str(out), "--name", "rgb + prior"]) == 0
    meta = OnnxModel.load(out).metadata
    assert (meta.kind, meta.name, meta.class_names) == ("fused", "rgb + prior", list(EUROSAT_CLASSES))
    assert main(["export", "--kind", "image_classifier", "--checkpoint", image_ckpt,
                 "--location_checkpoint", prior_ckpt, "--out", str(tmp_path / "x.onnx")]) == 2
    assert "--location_checkpoint is only used with --kind fused" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()
