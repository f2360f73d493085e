"""Accuracy with 95 % intervals of image classifiers: degradation to coarser pixels, Wilson intervals,
the held-out table of a shipped model (real ONNX, real patches) and a k-fold run of a tiny recipe."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from model_factory import export_image_classifier

from qgis_csp_plugin.contract.onnx_model import OnnxModel, read_metadata
from trainer.cli import main
from trainer.data.bands import EUROSAT_BANDS
from trainer.data.catalog import SHARED_DATA_ROOT
from trainer.data.registry import image_records
from trainer.evaluation.as_classify import nearest_sample, read_patches, run_as_classify
from trainer.evaluation.crossval import degrade, wilson

REPO = Path(__file__).resolve().parents[2]
EXTRA = SHARED_DATA_ROOT / "eurosat_ms_extra" / "index.csv"


def test_degrade_averages_coarse_pixels_and_reads_them_back_by_nearest_neighbour():
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 100, (2, 3, 63, 63)).astype(np.float32)
    out = degrade(pixels, 3.0)
    assert out.shape == pixels.shape
    expected = pixels.reshape(2, 3, 21, 3, 21, 3).mean(axis=(3, 5))
    np.testing.assert_allclose(out[:, :, ::3, ::3], expected, rtol=1e-5)
    np.testing.assert_array_equal(out[:, :, 1::3, 2::3], out[:, :, ::3, ::3])  # 3x3 blocks
    np.testing.assert_array_equal(degrade(pixels, 1.0), pixels)


def test_the_statistics_sample_is_read_as_gdal_reads_it(data_dir):
    """The block Classify samples for its radiometry, by nearest neighbour: the same pixels as GDAL's read."""
    from osgeo import gdal

    dataset = gdal.Open(str(data_dir / "eurosat_ms" / "Forest" / "Forest_1.tif"))
    pixels = dataset.ReadAsArray()
    np.testing.assert_array_equal(nearest_sample(pixels), dataset.ReadAsArray(
        buf_xsize=500, buf_ysize=500, resample_alg=gdal.GRIORA_NearestNeighbour))
    memory = gdal.GetDriverByName("MEM").Create("", 64, 40, 2, gdal.GDT_UInt16)
    memory.WriteArray(pixels[:2, :40])
    np.testing.assert_array_equal(nearest_sample(pixels[:2, :40]), memory.ReadAsArray(
        buf_xsize=500, buf_ysize=312, resample_alg=gdal.GRIORA_NearestNeighbour))


@pytest.mark.qgis
@pytest.mark.parametrize("model", ["shipped RGB head", "layer_statistics"])
def test_evaluations_give_the_probabilities_classify_gives_on_the_same_patches(model, qgis_app, tmp_path):
    """crossval, prior-exponent and the linear probe run a model as Classify runs it (its radiometry through
    the contract's code; a head's masked bands, band mask and month): on one real EuroSAT patch per class, the
    probabilities of Classify on the patch as a layer, to 1e-5; for a ``layer_statistics`` model raw pixels (the
    old pipeline) would give others. (EuroSAT pixels are 10.006 x 9.994 m, which Classify would resample to
    square ones: the layer is the patch's pixels on an exact 10 m grid.)"""
    from osgeo import gdal
    from qgis.core import QgsRasterLayer

    from qgis_csp_plugin.jobs.classify import ClassifyRequest, prepare

    path = REPO / "models" / "eurosat_rgb.onnx" if model == "shipped RGB head" else export_image_classifier(
        tmp_path / "stats.onnx", tile_size=64, gsd_m=10.0, mean=[900.0, 800.0, 600.0], std=[300.0, 250.0, 200.0],
        radiometry="layer_statistics")
    onnx = OnnxModel.load(path)
    records = image_records("eurosat").groupby("label").head(1)
    patches = read_patches(onnx, records)
    ours = run_as_classify(onnx, patches.pixels, patches.layers)
    layer_band = {band: EUROSAT_BANDS.index(band) + 1 for band in ("B04", "B03", "B02")}  # the patches name no band
    layer_band.update(red=layer_band["B04"], green=layer_band["B03"], blue=layer_band["B02"])
    bands = {band: layer_band[band] for band in onnx.metadata.bands if band in layer_band}
    for image_path, expected in zip(records["image_path"], ours, strict=True):
        x0, _, _, y0, _, _ = gdal.Open(image_path).GetGeoTransform()
        square = str(tmp_path / Path(image_path).name)
        gdal.Translate(square, image_path, outputBounds=[x0, y0, x0 + 640, y0 - 640])
        job = prepare(ClassifyRequest(QgsRasterLayer(square, "patch"), path, {}, bands=bands))
        assert job.grid.n_tiles == 1
        np.testing.assert_allclose(job.classifier.run(job.grid, job.reader).probabilities[0], expected, atol=1e-5)
    if model == "layer_statistics":
        assert np.abs(onnx.run(image=patches.pixels) - ours).max() > 0.01  # the raw pipeline measured another model


def test_wilson_interval_matches_the_textbook_value():
    low, high = wilson(10, 40)  # p = 0.25, n = 40: Wilson 95 % interval 0.1419 .. 0.4019 (closed form)
    assert low == pytest.approx(0.1419, abs=1e-3) and high == pytest.approx(0.4019, abs=1e-3)
    assert wilson(4, 4)[1] == 1.0 and wilson(0, 4)[0] == 0.0


@pytest.mark.skipif(not EXTRA.is_file(), reason=f"the shipped models' held-out split needs the shared data ({EXTRA})")
def test_heldout_table_of_the_shipped_rgb_head(tmp_path):
    """The shipped RGB classifier (a head on Galileo: band mask and month inputs) on the 94 held-out patches,
    fed as the plugin feeds it (test_default_heads.py checks that against csp:classify): the table's pooled
    accuracy is the CSV's. The shipped heads were trained on all 469 patches, so this is no accuracy estimate
    (that is the 5-fold CV of docs/results/eurosat_rgb_galileo_cv.md)."""
    model = REPO / "models" / "eurosat_rgb.onnx"
    out = tmp_path / "rgb"
    assert main(["crossval", "--heldout_model", str(model), "--source", "eurosat_all", "--out", str(out)]) == 0
    rows = pd.read_csv(out.with_suffix(".csv"))
    assert len(rows) == 94 and set(rows.columns) >= {"image_path", "label", "native", "30m"}
    text = out.with_suffix(".md").read_text()
    assert "held-out test split (94 of the 469 labelled patches" in text
    assert f"| **all (accuracy)** | 94 | {(rows['native'] == rows['label']).mean():.3f} [" in text


@pytest.mark.slow
def test_cross_validation_tests_every_patch_once_with_fold_models_sharing_one_moco_per_fold(tmp_path, capsys):
    rgb = str(REPO / "trainer/configs/classifier_eurosat_rgb.yaml")
    out, sensor = tmp_path / "cv", tmp_path / "cv_sensor"
    command = ["crossval", "--moco_config", str(REPO / "trainer/configs/moco_eurosat_small.yaml"),
               "--moco_args", "--trainer.max_steps 1 --data.batch_size 8 --data.sources [eurosat,ssl4eo]",
               "--classifier_config", rgb, "--out", str(out),
               "--classifier_config", rgb, str(REPO / "trainer/configs/classifier_rgb_sensor.yaml"),
               "--out", str(sensor), "--source", "eurosat", "--folds", "2", "--classifier_args",
               "--trainer.max_steps 1 --data.batch_size 8", "--runs_dir", str(tmp_path / "runs")]
    assert main(command) == 0
    for path in (out, sensor):
        rows = pd.read_csv(path.with_suffix(".csv"))
        assert len(rows) == 200 and rows["image_path"].is_unique and sorted(rows["fold"].unique()) == [0, 1]
        assert "2-fold stratified cross-validation over the 200 labelled patches" in path.with_suffix(".md").read_text()
    fold1 = tmp_path / "runs" / "fold1"
    assert (fold1 / "cv.onnx").is_file() and (fold1 / "cv_sensor.onnx").is_file()
    assert [p.name for p in (fold1 / "moco").glob("*.ckpt")] == ["last.ckpt"]  # one MoCo for both recipes
    assert read_metadata(fold1 / "cv_sensor.onnx").normalization.radiometry == "layer_percentiles"  # its 2nd config
    capsys.readouterr()
    assert main(command) == 0  # the same command again: the finished folds are reused, nothing re-trained
    assert capsys.readouterr().err.count("reusing the finished fold") == 2


def test_cross_validation_needs_one_out_per_recipe(tmp_path, capsys):
    config = str(REPO / "trainer/configs/classifier_eurosat_rgb.yaml")
    assert main(["crossval", "--classifier_config", config, "--classifier_config", config,
                 "--out", str(tmp_path / "a")]) == 2
    assert "give one --out per --classifier_config" in capsys.readouterr().err
