"""A location prior used outside the area it was trained on is flagged (default models, real scene)."""

from pathlib import Path

import pytest
from qgis.core import QgsRasterLayer

from qgis_csp_plugin.jobs.classify import ClassifyRequest, prepare

REPO = Path(__file__).resolve().parents[2]
SOUTH_AMERICA = REPO / "data" / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"
EUROPE = REPO / "data" / "eurosat_ms" / "Forest" / "Forest_1.tif"  # 13 bands: B04, B03, B02 are bands 4, 3, 2
MODELS = REPO / "models"

pytestmark = pytest.mark.qgis


@pytest.mark.parametrize("raster, bands, flagged", [(SOUTH_AMERICA, None, True), (EUROPE, [4, 3, 2], False)])
def test_eurosat_prior_is_flagged_outside_europe(qgis_app, tmp_path, raster, bands, flagged):
    layer = QgsRasterLayer(str(raster), "scene", "gdal")
    request = ClassifyRequest(layer=layer, model_path=MODELS / "eurosat_rgb.onnx", bands=bands,
                              outputs={"vector": tmp_path / "tiles.gpkg"}, use_prior=True,
                              prior_path=MODELS / "eurosat_prior.onnx")
    warnings = prepare(request).warnings
    assert any("trained on places within" in w and "extrapolated" in w for w in warnings) == flagged


def test_prediction_heatmap_fuses_with_the_prior_over_the_tile_classes(qgis_processing, tmp_path):
    """With FUSE_PRIOR and no MODEL, the installed prior over the tiles' classes is used (not the world prior)."""
    import processing
    from osgeo import gdal
    from qgis.core import QgsApplication

    from qgis_csp_plugin.processing.provider import CspProvider

    provider = CspProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    try:
        tiles = processing.run("csp:classify", {"INPUT": str(EUROPE),  # default: the 13-band model
                                                "OUTPUT_VECTOR": str(tmp_path / "t.gpkg")})["OUTPUT_VECTOR"]
        out = processing.run("csp:prediction_heatmap", {"INPUT": tiles, "CLASS": "Forest", "FUSE_PRIOR": True,
                                                       "OUTPUT": str(tmp_path / "forest.tif")})["OUTPUT"]
    finally:
        QgsApplication.processingRegistry().removeProvider(provider)
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
    job = prepare(ClassifyRequest(layer=layer, model_path=MODELS / "eurosat_s2.onnx",
                                  outputs={"vector": tmp_path / "tiles.gpkg"}))
    _, written = job.execute()
    tiles = load_outputs(job, written)[0]
    result = prepare_heatmap(HeatmapRequest(kind="prediction", output=tmp_path / "m.tif", tiles_layer=tiles,
                                            choice="most likely class")).execute()
    assert result.class_colors == OnnxModel.load(MODELS / "eurosat_s2.onnx").metadata.class_colors
