"""`python -m trainer export` on real checkpoints of the project's own trainer tasks."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from moco_fixtures import eurosat_csv

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from trainer.cli import main

RGB = ["B04", "B03", "B02"]


def fit_and_save(task: L.LightningModule, path, loader=None, datamodule=None):
    trainer = L.Trainer(max_steps=2, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=path.parent)
    trainer.fit(task, loader, datamodule=datamodule)
    trainer.save_checkpoint(path)
    return path


def test_image_classifier_task_checkpoint_exports(tmp_path, capsys):
    from trainer.tasks.image_classifier import ImageClassifierTask

    torch.manual_seed(0)
    task = ImageClassifierTask(backbone="resnet10t_w32", bands=RGB, tile_size=32, augment="none",
                               name="tiny rgb classifier")
    batches = [{"image": torch.rand(3, 32, 32) * 3000, "label": torch.tensor(i % 10)} for i in range(8)]
    checkpoint = fit_and_save(task, tmp_path / "classifier.ckpt", torch.utils.data.DataLoader(batches, batch_size=4))
    out = tmp_path / "models" / "rgb.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--kind", "image_classifier", "--out", str(out),
                 "--fp16", "--int8"]) == 0
    printed = capsys.readouterr().out
    assert "parity ok" in printed and "rgb.int8.onnx" in printed
    model = OnnxModel.load(out)
    assert model.metadata.name == "tiny rgb classifier" and model.metadata.bands == RGB
    assert model.metadata.n_classes == 10 and model.metadata.tile_size == 32
    assert model.export_report["parity_max_abs_diff"] <= 1e-3
    restored = ImageClassifierTask.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    feeds = model.random_batch(4)
    with torch.no_grad():
        expected = torch.softmax(restored(torch.from_numpy(feeds["image"])), 1).numpy()
    np.testing.assert_allclose(model.run(**feeds), expected, atol=1e-4)
    fp16, int8 = (OnnxModel.load(tmp_path / "models" / f"rgb.{p}.onnx") for p in ("fp16", "int8"))
    assert "self check ok" in fp16.self_check() and "self check ok" in int8.self_check()
    assert fp16.export_report["top1_agreement_vs_float32"] == 1.0
    # after two steps the classes are nearly tied, so only the probabilities' change is meaningful
    assert fp16.export_report["max_abs_diff_vs_float32"] < 1e-3 and int8.export_report["max_abs_diff_vs_float32"] < 0.02


def test_moco_checkpoint_is_refused_with_a_clear_message(tmp_path, capsys):
    from trainer.data.image_datamodule import ImageDataModule
    from trainer.tasks.moco import MocoTask

    torch.set_num_threads(1)
    data = ImageDataModule(sources=[str(eurosat_csv(tmp_path))], bands=RGB, key_view="augment",
                           batch_size=8, tile_size=32)
    task = MocoTask(backbone="resnet10t_w32", bands=RGB, tile_size=32, queue_size=8)
    checkpoint = fit_and_save(task, tmp_path / "moco.ckpt", datamodule=data)
    out = tmp_path / "moco.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--kind", "image_classifier", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: a MocoTask checkpoint cannot be exported as 'image_classifier'")
    assert not out.exists()


SMALL_ENCODER = {"frequency_num": 8, "hidden_dim": 32, "out_dim": 16}


def random_latlon(n: int) -> torch.Tensor:
    return torch.stack([torch.rand(n) * 180 - 90, torch.rand(n) * 360 - 180], 1)


def test_csp_task_checkpoint_exports_an_encoder_with_pca_basis(tmp_path, capsys):
    from trainer.tasks.csp import CspTask

    torch.manual_seed(0)
    task = CspTask(feature_dim=12, encoder_params=SMALL_ENCODER, num_random_locations=8, name="tiny CSP")
    pairs = list(zip(random_latlon(16), torch.randn(16, 12), strict=True))
    checkpoint = fit_and_save(task, tmp_path / "csp.ckpt", torch.utils.data.DataLoader(pairs, batch_size=8))
    out = tmp_path / "csp.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--kind", "location_encoder", "--out", str(out)]) == 0
    assert "parity ok" in capsys.readouterr().out
    model = OnnxModel.load(out)
    meta = model.metadata
    assert (meta.name, meta.embedding_dim, meta.location_encoder["name"]) == ("tiny CSP", 16, "sphereC+")
    assert meta.pca_basis is not None and len(meta.pca_basis.components) == 3
    assert model.export_report["parity_max_abs_diff"] <= 1e-4
    assert main(["export", "--checkpoint", str(checkpoint), "--kind", "location_prior", "--out",
                 str(tmp_path / "prior.onnx")]) == 2
    assert "supports: location_encoder" in capsys.readouterr().err


def test_location_classifier_checkpoint_exports_a_prior(tmp_path, capsys):
    from trainer.tasks.location_classifier import LocationClassifierTask

    torch.manual_seed(0)
    task = LocationClassifierTask(["north", "south"], encoder_params=SMALL_ENCODER, name="tiny prior")
    latlon = random_latlon(16)
    points = list(zip(latlon, (latlon[:, 0] < 0).long(), strict=True))
    checkpoint = fit_and_save(task, tmp_path / "prior.ckpt", torch.utils.data.DataLoader(points, batch_size=8))
    out = tmp_path / "prior.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--kind", "location_prior", "--out", str(out),
                 "--int8"]) == 0
    printed = capsys.readouterr().out
    assert "parity ok" in printed and "top-1 agreement" in printed
    model = OnnxModel.load(out)
    assert model.metadata.class_names == ["north", "south"] and model.metadata.name == "tiny prior"
    restored = LocationClassifierTask.load_from_checkpoint(checkpoint, map_location="cpu")
    points = np.array([[45.0, 7.0], [-30.0, 20.0]], dtype=np.float32)
    np.testing.assert_allclose(model.run(latlon=points), restored.predict_proba(torch.from_numpy(points)).numpy(),
                               atol=1e-5)
    assert "self check ok" in OnnxModel.load(tmp_path / "prior.int8.onnx").self_check()
