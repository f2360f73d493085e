"""Accuracy with 95 % intervals of image classifiers: degradation to coarser pixels, Wilson intervals,
the held-out table of a shipped model (real ONNX, real patches) and a k-fold run of a tiny recipe."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qgis_csp_plugin.contract.onnx_model import read_metadata
from trainer.cli import main
from trainer.data.sources import SHARED_DATA_ROOT
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
