"""Core classification on real rasters with a real exported ONNX model (no Qt)."""

import numpy as np
import pytest
from model_factory import CLASSES, export_image_classifier, export_location_model
from raster_factory import GdalArrayReader

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.probabilities import fuse
from qgis_csp_plugin.core.classify import Classifier
from qgis_csp_plugin.core.progress import Canceled
from qgis_csp_plugin.core.tiling import TileGrid


@pytest.fixture(scope="session")
def rgb_model(tmp_path_factory):
    path = export_image_classifier(tmp_path_factory.mktemp("models") / "rgb.onnx", tile_size=32, gsd_m=30.0)
    return OnnxModel.load(path)


@pytest.fixture(scope="session")
def prior_model(tmp_path_factory):
    return OnnxModel.load(export_location_model(tmp_path_factory.mktemp("prior") / "prior.onnx"))


@pytest.fixture(scope="session")
def landsat(data_dir):
    return GdalArrayReader(data_dir / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif")


def test_tiles_match_the_model_run_on_precut_tiles(rgb_model, landsat):
    grid = TileGrid.cover(landsat.extent, 30.0, 30.0, 32, 0.0)
    results = Classifier(rgb_model, batch_size=7).run(grid, landsat)
    assert len(results.indices) == grid.n_tiles == 1024 and not results.skipped.any()
    tiles = landsat.pixels.reshape(3, 32, 32, 32, 32).transpose(1, 3, 0, 2, 4).reshape(-1, 3, 32, 32)
    np.testing.assert_allclose(results.probabilities, rgb_model.run(image=tiles), atol=1e-5)
    np.testing.assert_allclose(results.probabilities.sum(1), 1.0, atol=1e-5)
    assert len(np.unique(results.class_ids)) >= 1 and results.class_ids.max() < len(CLASSES)


def test_batch_size_and_overlap_do_not_change_a_tile(rgb_model, landsat):
    grid = TileGrid.cover(landsat.extent, 30.0, 30.0, 32, 0.5)
    one = Classifier(rgb_model, batch_size=1).run(grid, landsat)
    many = Classifier(rgb_model, batch_size=64).run(grid, landsat)
    np.testing.assert_allclose(one.probabilities, many.probabilities, atol=1e-5)
    assert grid.n_cols == 63


def test_all_nodata_tiles_are_skipped_and_marked(rgb_model, data_dir):
    reader = GdalArrayReader(data_dir / "scenes" / "RGB.byte.tif")  # nodata 0 around the scene
    grid = TileGrid.cover(reader.extent, 300.0, 300.0, 32, 0.0)
    results = Classifier(rgb_model).run(grid, reader)
    skipped = results.skipped
    assert 0 < skipped.sum() < grid.n_tiles
    assert np.isnan(results.probabilities[skipped]).all() and (results.class_ids[skipped] == -1).all()
    np.testing.assert_allclose(results.probabilities[~skipped].sum(1), 1.0, atol=1e-5)
    partial = (results.valid_fraction > 0) & (results.valid_fraction < 1)
    assert partial.any()  # edge tiles: scene border and the grid's overhang past the layer


def test_location_prior_is_fused_per_tile(rgb_model, prior_model, landsat):
    grid = TileGrid.cover(landsat.extent, 60.0, 60.0, 32, 0.0)
    latlon = lambda xs, ys: np.stack([-25.3 + 0 * ys, -54.5 + xs * 0], axis=1)  # noqa: E731 (scene centre)
    fused = Classifier(rgb_model, prior_model, latlon, batch_size=5).run(grid, landsat)
    plain = Classifier(rgb_model).run(grid, landsat)
    p_loc = prior_model.run(latlon=np.array([[-25.3, -54.5]] * grid.n_tiles, np.float32))
    np.testing.assert_allclose(fused.probabilities, fuse(plain.probabilities, p_loc), atol=1e-5)


def test_cancel_stops_the_run(rgb_model, landsat):
    grid = TileGrid.cover(landsat.extent, 30.0, 30.0, 32, 0.0)
    seen = []
    with pytest.raises(Canceled):
        Classifier(rgb_model).run(grid, landsat, progress=seen.append, canceled=lambda: len(seen) >= 3)
    assert len(seen) == 3


def test_mismatched_models_are_rejected(rgb_model, prior_model, tmp_path):
    with pytest.raises(GeoSslError, match="model of kind location_prior; Classify needs an image_classifier"):
        Classifier(prior_model)
    other = OnnxModel.load(export_location_model(tmp_path / "p.onnx", classes=["a", "b"]))
    with pytest.raises(GeoSslError, match="predicts other classes"):
        Classifier(rgb_model, other, lambda xs, ys: None)
