"""Cross-sensor robustness of image classifiers: GSD-rescale augmentation, and the percentile
radiometry stored in metadata and applied by Classify layer (real EuroSAT training, real Landsat scene)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from osgeo import gdal
from qgis.core import QgsRasterLayer, QgsRectangle

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.jobs.classify import ClassifyRequest, prepare
from trainer.data.augment import GsdRescale, classifier_augment
from trainer.data.band_statistics import PERCENTILES
from trainer.data.image_datamodule import ImageDataModule
from trainer.errors import TrainerError
from trainer.export.onnx_writer import export_onnx
from trainer.tasks.image_classifier import ImageClassifierTask

RGB = ["red", "green", "blue"]
SCENE = Path(__file__).resolve().parents[2] / "data" / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"


def test_gsd_rescale_keeps_the_size_and_removes_detail_finer_than_the_coarse_pixels():
    torch.manual_seed(0)
    checkerboard = (torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2
    images = checkerboard.float().expand(8, 3, 64, 64).clone()
    out = GsdRescale(3.0, p=1.0)(images)
    assert out.shape == images.shape
    assert (out.std(dim=(2, 3)) < 0.5 * images.std(dim=(2, 3))).all()  # 1-px detail averaged away
    np.testing.assert_allclose(out.mean(dim=(2, 3)), 0.5, atol=0.05)  # area averaging keeps the mean
    assert torch.equal(GsdRescale(3.0, p=0.0)(images), images)
    assert torch.equal(GsdRescale(1.0, p=1.0)(images), images)  # factor 1: the sensor's own grid
    assert any(isinstance(op, GsdRescale) and op.max_factor == 3.0 for op in classifier_augment(64, True, 3.0))
    assert not any(isinstance(op, GsdRescale) for op in classifier_augment(64, True))
    with pytest.raises(TrainerError, match="gsd_augment_m 5.0 needs augmentation and must be >= gsd_m 10.0"):
        ImageClassifierTask(bands=RGB, gsd_augment_m=5.0)


@pytest.fixture(scope="module")
def percentile_model(tmp_path_factory):
    """An RGB classifier trained two steps on EuroSAT with GSD augmentation, exported with percentiles."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("percentiles")
    data = ImageDataModule(sources=["eurosat"], bands=RGB, batch_size=16)
    model = ImageClassifierTask(bands=RGB, radiometry="layer_percentiles", augment="radiometric", gsd_augment_m=30.0)
    L.Trainer(accelerator="cpu", max_steps=2, logger=False, enable_progress_bar=False, enable_model_summary=False,
              enable_checkpointing=False, default_root_dir=folder).fit(model, datamodule=data)
    export_onnx(model.export_spec("image_classifier"), folder / "rgb.onnx")
    return folder / "rgb.onnx", data


def test_percentiles_of_the_training_split_are_stored_in_the_metadata(percentile_model):
    path, data = percentile_model
    meta = OnnxModel.load(path).metadata
    norm = meta.normalization
    assert norm.radiometry == "layer_percentiles" and norm.percentiles["q"] == list(PERCENTILES)
    assert norm.percentiles["low"] == pytest.approx(data.band_low, rel=1e-6)
    assert norm.percentiles["high"] == pytest.approx(data.band_high, rel=1e-6)
    train = data.datasets["train"]  # fewer tiles than the statistics sample: all of them
    pixels = torch.stack([train.read(i) for i in range(len(train))]).transpose(0, 1).reshape(3, -1).numpy()
    assert norm.percentiles["low"] == pytest.approx(np.percentile(pixels, 2, axis=1).tolist(), rel=1e-6)
    assert meta.training["gsd_augment_m"] == 30.0


@pytest.mark.qgis
def test_classify_with_percentile_radiometry_ignores_the_sensor_gain_and_offset(qgis_app, percentile_model, tmp_path):
    """The same Landsat extent in other units (x 0.25 + 300, as another sensor's DN) classifies identically."""
    path, _ = percentile_model
    scene = gdal.Open(str(SCENE))
    pixels = scene.ReadAsArray().astype(np.float32)
    other = gdal.GetDriverByName("GTiff").Create(str(tmp_path / "other.tif"), scene.RasterXSize, scene.RasterYSize,
                                                 3, gdal.GDT_Float32)
    other.SetGeoTransform(scene.GetGeoTransform())
    other.SetProjection(scene.GetProjection())
    other.WriteArray(pixels * 0.25 + 300.0)
    other = None
    extent = QgsRectangle(746705, -2805355, 748705, -2803355)  # 2 km around the scene centre
    results = []
    for name, raster in (("landsat", SCENE), ("other", tmp_path / "other.tif")):
        job = prepare(ClassifyRequest(layer=QgsRasterLayer(str(raster), name, "gdal"), model_path=path, extent=extent,
                                      outputs={"vector": tmp_path / f"{name}.gpkg"}))
        results.append(job.execute()[0].probabilities)
    assert len(results[0]) > 1
    np.testing.assert_allclose(results[0], results[1], atol=2e-3)
