"""Image classifier on a real MoCo checkpoint: band slicing, linear probe, held-out metric, ONNX export."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from moco_fixtures import eurosat_csv

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from trainer.data.bands import EUROSAT_BANDS
from trainer.data.catalog import EUROSAT_CLASSES, eurosat_records
from trainer.data.image_datamodule import ImageDataModule
from trainer.data.rasters import read_image
from trainer.errors import TrainerError
from trainer.export.onnx_writer import export_onnx
from trainer.tasks.image_classifier import ImageClassifierTask
from trainer.tasks.moco import MocoTask

RGB = ["red", "green", "blue"]


def _trainer(tmp_path, **kwargs) -> L.Trainer:
    return L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                     enable_model_summary=False, default_root_dir=tmp_path, enable_checkpointing=False, **kwargs)


@pytest.fixture(scope="module")
def moco_checkpoint(tmp_path_factory):
    """A real 13-band MoCo checkpoint (two steps on real EuroSAT patches)."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("moco")
    data = ImageDataModule(sources=[str(eurosat_csv(folder))], bands=list(EUROSAT_BANDS), key_view="augment",
                           batch_size=8)
    model = MocoTask(backbone="resnet10t_w32", bands=list(EUROSAT_BANDS), queue_size=8)
    trainer = _trainer(folder, max_steps=2)
    trainer.fit(model, datamodule=data)
    trainer.save_checkpoint(folder / "moco.ckpt")
    return folder / "moco.ckpt", model


def _data(**kwargs) -> ImageDataModule:
    return ImageDataModule(sources=["eurosat"], batch_size=16, **kwargs)


def test_rgb_classifier_slices_the_moco_first_conv_by_band_name(tmp_path, moco_checkpoint):
    path, moco = moco_checkpoint
    model = ImageClassifierTask(bands=RGB, moco_checkpoint=str(path), freeze_backbone=True)
    data = _data(bands=RGB, label_ratio=0.5)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    _trainer(tmp_path, max_epochs=1).fit(model, datamodule=data)
    moco_state = moco.encoder_q.backbone.state_dict()
    conv = next(k for k, v in moco_state.items() if v.dim() == 4)
    red, green, blue = (EUROSAT_BANDS.index(b) for b in ("B04", "B03", "B02"))
    expected = moco_state[conv][:, [red, green, blue]] * 13 / 3
    assert torch.allclose(model.backbone.state_dict()[conv], expected)
    # linear probe: the backbone (weights and BatchNorm statistics) is exactly the MoCo one
    for key, value in model.backbone.state_dict().items():
        if key != conv and value.is_floating_point():
            assert torch.equal(value, moco_state[key]), key
    assert not torch.equal(before[conv], model.backbone.state_dict()[conv])
    assert len(data.datasets["train"]) == 60  # half of the 120 training patches, 6 per class


def test_finetuned_s2_classifier_exports_a_small_onnx_model(tmp_path, moco_checkpoint):
    torch.set_num_threads(1)
    path, _ = moco_checkpoint
    model = ImageClassifierTask(bands=list(EUROSAT_BANDS), moco_checkpoint=str(path), augment="radiometric",
                                name="test S2 classifier")
    trainer = _trainer(tmp_path, max_epochs=2)
    data = _data(bands=list(EUROSAT_BANDS))
    trainer.fit(model, datamodule=data)
    trainer.test(model, datamodule=data, verbose=False)
    top1 = float(model.heldout_top1)
    assert 0.0 <= top1 <= 1.0
    trainer.save_checkpoint(tmp_path / "final.ckpt")
    restored = ImageClassifierTask.load_from_checkpoint(tmp_path / "final.ckpt")
    assert float(restored.heldout_top1) == pytest.approx(top1)
    report = export_onnx(restored.export_spec("image_classifier"), tmp_path / "s2.onnx")
    assert report.max_abs_diff <= 1e-3
    assert (tmp_path / "s2.onnx").stat().st_size < 8e6
    onnx_model = OnnxModel.load(tmp_path / "s2.onnx")
    meta = onnx_model.metadata
    assert meta.class_names == list(EUROSAT_CLASSES) and meta.bands == list(EUROSAT_BANDS)
    assert (meta.tile_size, meta.gsd_m, meta.overlap) == (64, 10.0, 0.0)
    assert meta.normalization.radiometry == "absolute"
    assert meta.normalization.mean == pytest.approx(data.band_mean, rel=1e-5)
    assert meta.metrics["heldout_top1"] == pytest.approx(top1)
    records = eurosat_records().iloc[::40]
    pixels = np.stack([read_image(p) for p in records["image_path"]])
    probabilities = onnx_model.run(image=pixels)
    assert probabilities.shape == (5, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    with torch.no_grad():
        expected = torch.softmax(restored.eval()(torch.from_numpy(pixels)), dim=1).numpy()
    assert np.allclose(probabilities, expected, atol=1e-3)


def test_rgb_export_declares_layer_statistics(tmp_path):
    model = ImageClassifierTask(bands=RGB, radiometry="layer_statistics", augment="none")
    _trainer(tmp_path, max_steps=1).fit(model, datamodule=_data(bands=RGB))
    export_onnx(model.export_spec("image_classifier"), tmp_path / "rgb.onnx")
    meta = OnnxModel.load(tmp_path / "rgb.onnx").metadata
    assert meta.bands == RGB and meta.normalization.radiometry == "layer_statistics"
    assert "heldout_top1" not in meta.metrics  # never tested: no metric claimed


def test_mismatched_inputs_give_clear_errors(tmp_path, moco_checkpoint):
    path, _ = moco_checkpoint
    with pytest.raises(TrainerError, match="holds a 'resnet10t_w32' backbone"):
        _trainer(tmp_path, max_steps=1).fit(ImageClassifierTask(backbone="resnet18", bands=RGB,
                                                                moco_checkpoint=str(path)),
                                            datamodule=_data(bands=RGB))
    with pytest.raises(TrainerError, match="MoCo checkpoint not found"):
        _trainer(tmp_path, max_steps=1).fit(ImageClassifierTask(bands=RGB, moco_checkpoint="nowhere.ckpt"),
                                            datamodule=_data(bands=RGB))
    with pytest.raises(TrainerError, match="band 'nir2'"):
        _data(bands=["red", "nir2"]).setup("fit")
    with pytest.raises(TrainerError, match="cannot be exported as 'location_encoder'"):
        ImageClassifierTask(bands=RGB).export_spec("location_encoder")


def test_few_label_subset_is_stratified_and_fits_one_batch():
    data = _data(bands=RGB, label_ratio=0.1)
    data.setup("fit")
    assert sorted(data.datasets["train"].labels.tolist()) == list(range(10))  # one per class
    with pytest.warns(UserWarning, match="using batches of 10"):
        loader = data.train_dataloader()
    assert len(loader) == 1
    assert len(data.datasets["test"]) == 40  # the held-out split does not depend on the label ratio


def test_csv_with_string_labels_and_empty_latlon_uses_the_geotagged_loader(tmp_path):
    from pathlib import Path

    import pandas as pd

    from trainer.data.rasters import centre_latlon
    root = Path(__file__).resolve().parents[2] / "data" / "eurosat_ms"
    files = sorted((root / "River").glob("*.tif"))[:2] + sorted((root / "Forest").glob("*.tif"))[:2]
    assert len(files) == 4
    frame = pd.DataFrame({"image_path": [str(f) for f in files],
                          "lat": [centre_latlon(f)[0] for f in files], "lon": [centre_latlon(f)[1] for f in files],
                          "label": ["River", "River", "Forest", "Forest"]})
    frame.loc[1, ["lat", "lon"]] = None
    path = tmp_path / "records.csv"
    frame.to_csv(path, index=False)
    assert pd.read_csv(path).loc[1, ["lat", "lon"]].isna().all()  # really empty in the file

    data = ImageDataModule(sources=[str(path)], bands=RGB, val_fraction=0.0, test_fraction=0.5, batch_size=2)
    data.setup("fit")
    assert data.class_names == ["Forest", "River"]
    labels = torch.cat([data.datasets[s].labels for s in ("train", "test")])
    assert sorted(labels.tolist()) == [0, 0, 1, 1]
    latlon = torch.cat([data.datasets[s].latlon for s in ("train", "test")]).numpy()
    assert np.isfinite(latlon).all()
    assert np.isclose(latlon, np.array(centre_latlon(files[1]), np.float32), atol=1e-4).all(axis=1).any()
    records = data._records(str(path))
    assert records["label"].tolist() == [1, 1, 0, 0]
    assert records["class_name"].tolist() == ["River", "River", "Forest", "Forest"]
    assert np.allclose(records.loc[1, ["lat", "lon"]].to_numpy(float), centre_latlon(files[1]))
