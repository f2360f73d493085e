"""The shipped EuroSAT classifiers are few-label heads on Galileo nano written by csp:train_classifier
(scripts/train_default_heads.py): their metadata, the trainer's way of feeding them equals csp:classify's, and
(slow) re-running the script reproduces them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from qgis_csp_plugin.contract.onnx_model import OnnxModel, read_metadata
from trainer.data.catalog import EUROSAT_CLASSES, EUROSAT_COLORS, SHARED_DATA_ROOT
from trainer.data.eurosat_mosaic import build_mosaic
from trainer.data.registry import image_records
from trainer.evaluation.as_classify import read_patches, run_as_classify
from trainer.evaluation.crossval import fold_predictions

pytestmark = pytest.mark.qgis
REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
HEADS = {"eurosat_s2": [], "eurosat_rgb": ["B05", "B06", "B07", "B08", "B8A", "B11", "B12"]}  # masked bands
GALILEO = read_metadata(MODELS / "galileo_nano_encoder.onnx")


@pytest.mark.parametrize("stem", HEADS)
def test_the_shipped_heads_are_galileo_heads_with_the_eurosat_classes_and_colours(stem):
    meta = read_metadata(MODELS / f"{stem}.onnx")
    assert meta.kind == "image_classifier" and meta.training["encoder"] == GALILEO.name
    assert meta.class_names == list(EUROSAT_CLASSES) and meta.class_colors == list(EUROSAT_COLORS)
    assert meta.bands == GALILEO.bands and meta.spectral.masked_bands == HEADS[stem]
    assert meta.input_names == ["image", "band_mask", "month"] and meta.tile_size == 64 and meta.gsd_m == 10.0
    assert sum(meta.training["samples_per_class"].values()) == 469  # every labelled EuroSAT patch
    assert meta.training["selection"]["requested"] == {"features": "auto", "l2_c": None}
    assert 0.7 < meta.metrics["cv_accuracy"] < 1 and meta.metrics["cv_folds"] == 5


def test_the_trainer_feeds_the_heads_as_csp_classify_does(provider, tmp_path):
    """Two shipped patches per class side by side: csp:classify's class at each patch centre equals the
    trainer's (``fold_predictions``: band mask and July as the plugin feeds them) for both heads."""
    import processing

    records = image_records("eurosat")
    records = records.groupby("class_name").head(2).reset_index(drop=True)
    build_mosaic([Path(p) for p in records["image_path"]], list(records["class_name"]), tmp_path / "scene.tif",
                 tmp_path / "labels.gpkg", columns=5)
    centres = [(500_000 + 640 * (i % 5) + 320, 5_000_000 - 640 * (i // 5) - 320) for i in range(len(records))]
    for stem in HEADS:
        model = OnnxModel.load(MODELS / f"{stem}.onnx")
        trainer = fold_predictions(model, records, {})["native"].to_numpy()
        out = processing.run("csp:classify", {"INPUT": str(tmp_path / "scene.tif"), "MODEL": str(model.path),
                                              "OUTPUT_VECTOR": str(tmp_path / f"{stem}.gpkg"),
                                              "OUTPUT_CLASSES": str(tmp_path / f"{stem}.tif")})
        with rasterio.open(out["OUTPUT_CLASSES"]) as src:
            plugin = np.array([v[0] for v in src.sample(centres)])
        assert (plugin == trainer).all(), stem
        assert np.mean(plugin == records["label"].to_numpy()) > 0.8  # patches it was trained on


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA_ROOT / "eurosat_ms_extra" / "index.csv").is_file(),
                    reason="the shipped heads are trained on the team's shared EuroSAT patches")
def test_the_script_reproduces_the_shipped_heads(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "train_default_heads.py"), "--models-dir",
                             str(tmp_path), "--work", str(tmp_path / "work")], cwd=REPO, capture_output=True,
                            text=True, timeout=3000)
    assert result.returncode == 0, result.stderr[-2000:]
    records = image_records("eurosat").groupby("class_name").head(3)
    for stem in HEADS:
        shipped, again = OnnxModel.load(MODELS / f"{stem}.onnx"), OnnxModel.load(tmp_path / f"{stem}.onnx")
        assert again.metadata.training["features"] == shipped.metadata.training["features"]
        assert again.metadata.training["l2_c"] == shipped.metadata.training["l2_c"]
        patches = read_patches(shipped, records)
        np.testing.assert_allclose(run_as_classify(again, patches.pixels, patches.layers),
                                   run_as_classify(shipped, patches.pixels, patches.layers), atol=1e-4)
