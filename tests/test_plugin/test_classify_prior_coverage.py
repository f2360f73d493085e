"""The location prior's α in Classify: stored α inside its training area, α = 0 outside unless forced
(default models, real scenes); the prediction heatmap fuses with the prior over the tile classes."""

from pathlib import Path

import numpy as np
import pytest
from qgis.core import QgsRasterLayer

from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.probabilities import fuse
from qgis_csp_plugin.jobs.classify import ClassifyRequest, prepare

REPO = Path(__file__).resolve().parents[2]
SOUTH_AMERICA = REPO / "data" / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"
EUROPE = REPO / "data" / "eurosat_ms" / "Forest" / "Forest_1.tif"  # 13 unnamed bands in EuroSAT's order
RGB_BANDS = {"B04": 4, "B03": 3, "B02": 2}
S2_BANDS = [2, 3, 4, 5, 6, 7, 8, 13, 11, 12]  # B02..B08, B8A, B11, B12
MODELS = REPO / "models"

pytestmark = pytest.mark.qgis


def prior_request(raster, tmp_path, bands=None, **options) -> ClassifyRequest:
    layer = QgsRasterLayer(str(raster), "scene", "gdal")
    return ClassifyRequest(layer=layer, model_path=MODELS / "eurosat_rgb.onnx", bands=bands,
                           outputs={"vector": tmp_path / "tiles.gpkg"}, use_prior=True,
                           prior_path=MODELS / "eurosat_prior.onnx", **options)


def test_outside_the_training_area_the_prior_is_not_used_unless_forced(qgis_app, tmp_path):
    """South America: α = 0 (a note says why); forced: the stored α and the extrapolation warning."""
    stored = OnnxModel.load(MODELS / "eurosat_prior.onnx").metadata.prior_exponent
    assert stored is not None
    job = prepare(prior_request(SOUTH_AMERICA, tmp_path, prior_exponent=0.9))
    assert job.prior_exponent == 0.0 and job.classifier.prior_exponent == 0.0
    assert any("outside the training area" in w and "α = 0" in w for w in job.warnings)
    assert not any("extrapolated" in w for w in job.warnings)
    forced = prepare(prior_request(SOUTH_AMERICA, tmp_path, force_prior=True))
    assert forced.prior_exponent == stored
    assert any("trained on places within" in w and "extrapolated" in w for w in forced.warnings)
    assert prepare(prior_request(SOUTH_AMERICA, tmp_path, force_prior=True, prior_exponent=0.9)).prior_exponent == 0.9


def test_inside_the_training_area_the_stored_alpha_fuses(qgis_app, tmp_path):
    """Europe: the stored α, no area warning; the tile's fused probabilities are P(y|I)·P(y|x)^α."""
    job = prepare(prior_request(EUROPE, tmp_path, bands=RGB_BANDS))
    prior = OnnxModel.load(MODELS / "eurosat_prior.onnx")
    assert job.prior_exponent == prior.metadata.prior_exponent
    assert not any("trained on places within" in w for w in job.warnings)
    fused, _ = job.execute()
    plain, _ = prepare(ClassifyRequest(layer=job.request.layer, model_path=MODELS / "eurosat_rgb.onnx",
                                       bands=RGB_BANDS, outputs={"vector": tmp_path / "plain.gpkg"})).execute()
    xs, ys = fused.grid.centres(fused.indices)
    p_location = prior.run(latlon=job.classifier.to_latlon(xs, ys))
    np.testing.assert_allclose(fused.probabilities, fuse(plain.probabilities, p_location, job.prior_exponent),
                               atol=1e-5)


def test_prediction_heatmap_fuses_with_the_prior_over_the_tile_classes(run, tmp_path):
    """With FUSE_PRIOR and no MODEL, the installed prior over the tiles' classes is used (not the world prior)."""
    from osgeo import gdal

    tiles = run("classify", {"INPUT": str(EUROPE), "BANDS": ",".join(map(str, S2_BANDS)),  # default: the S2 model
                             "OUTPUT_VECTOR": str(tmp_path / "t.gpkg")})["OUTPUT_VECTOR"]
    out = run("prediction_heatmap", {"INPUT": tiles, "CLASS": "Forest", "FUSE_PRIOR": True,
                                     "OUTPUT": str(tmp_path / "forest.tif")})["OUTPUT"]
    dataset = gdal.Open(out)  # keep the dataset alive while its band is read
    band = dataset.GetRasterBand(1)
    values = band.ReadAsArray()
    valid = values[values != band.GetNoDataValue()]
    assert valid.size == 1 and 0.0 <= valid[0] <= 1.0  # one 64 px tile, fused P(Forest)


def test_prediction_class_map_keeps_the_classify_legend_colours(qgis_app, tmp_path):
    """The "most likely class" prediction heatmap uses the colours of the Classify layer it reads."""
    from qgis_csp_plugin.contract.onnx_model import OnnxModel
    from qgis_csp_plugin.jobs.classify import load_outputs
    from qgis_csp_plugin.jobs.heatmap import HeatmapRequest
    from qgis_csp_plugin.jobs.heatmap import prepare as prepare_heatmap

    layer = QgsRasterLayer(str(EUROPE), "patch", "gdal")
    job = prepare(ClassifyRequest(layer=layer, model_path=MODELS / "eurosat_s2.onnx", bands=S2_BANDS,
                                  outputs={"vector": tmp_path / "tiles.gpkg"}))
    _, written = job.execute()
    tiles = load_outputs(job, written)[0]
    result = prepare_heatmap(HeatmapRequest(kind="prediction", output=tmp_path / "m.tif", tiles_layer=tiles,
                                            choice="most likely class")).execute()
    assert result.class_colors == OnnxModel.load(MODELS / "eurosat_s2.onnx").metadata.class_colors
