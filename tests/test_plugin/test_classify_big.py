"""A 20,480 x 20,480 px VRT mosaic of the real Landsat scene classifies in bounded memory (slow)."""

import resource
from pathlib import Path

import pytest
from model_factory import export_image_classifier
from qgis.core import QgsRasterLayer
from raster_factory import mosaic_vrt

from qgis_csp_plugin.jobs.classify import ClassifyRequest, prepare

pytestmark = [pytest.mark.qgis, pytest.mark.slow]
LANDSAT = Path(__file__).resolve().parents[2] / "data" / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"


def test_big_mosaic_streams_in_bounded_memory(qgis_app, tmp_path):
    model = export_image_classifier(tmp_path / "rgb.onnx", tile_size=32, gsd_m=30.0)
    layer = QgsRasterLayer(str(mosaic_vrt(LANDSAT, tmp_path / "mosaic.vrt", 20)), "mosaic")
    assert (layer.width(), layer.height()) == (20480, 20480)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    job = prepare(ClassifyRequest(layer, model, {"classes": tmp_path / "classes.tif"}, max_tiles=None))
    results, _ = job.execute()
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert job.grid.n_tiles == len(results.indices) == 640 * 640 and not results.skipped.any()
    assert grown_mib < 500, f"peak RSS grew by {grown_mib:.0f} MiB"
    ids = results.class_ids.reshape(640, 640)  # the mosaic repeats the 32 x 32-tile scene
    assert (ids[:32, :32] == ids[:32, 32:64]).all() and (ids[:32, :32] == ids[-32:, -32:]).all()
