"""Heatmap core without Qt: CRS → (lat, lon) validity, streamed GeoTIFFs, embedding/prior/prediction maps.

Models are tiny real ONNX exports (tests/model_factory.py, tests/heatmap_models.py).
"""

from dataclasses import replace

import numpy as np
import pytest
from heatmap_models import export_encoder_with_pca
from model_factory import CLASSES, export_location_model
from osgeo import gdal, osr

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.pca import PcaColours
from qgis_csp_plugin.contract.probabilities import entropy, fuse
from qgis_csp_plugin.core.cell_latlon import LatLonTransform, ProjTransform, latlon_transform
from qgis_csp_plugin.core.geotiff import GeoTiffWriter
from qgis_csp_plugin.core.grid import CellGrid
from qgis_csp_plugin.core.heatmap import (
    CLASS_NODATA,
    FLOAT_NODATA,
    LocationHeatmap,
)
from qgis_csp_plugin.core.prediction_heatmap import (
    TileProbabilities,
    prediction_heatmap,
    tile_cells,
)
from qgis_csp_plugin.core.progress import Canceled
from qgis_csp_plugin.core.tiling import Extent


def wkt(code: int) -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(code)
    return srs.ExportToWkt()


@pytest.fixture(scope="session")
def encoder(tmp_path_factory):
    return OnnxModel.load(export_location_model(tmp_path_factory.mktemp("m") / "enc.onnx", "location_encoder"))


@pytest.fixture(scope="session")
def encoder_pca(tmp_path_factory):
    return OnnxModel.load(export_encoder_with_pca(tmp_path_factory.mktemp("m") / "enc_pca.onnx"))


def read(path):
    dataset = gdal.Open(str(path))
    array = dataset.ReadAsArray()
    return dataset, array


WGS84 = LatLonTransform()


def test_geographic_cells_wrap_longitude_and_reject_beyond_the_poles():
    latlon, valid = WGS84(np.array([179.5, 180.5, 0.0, 10.0]), np.array([10.0, 10.0, 91.0, -90.0]))
    assert valid.tolist() == [True, True, False, True]
    np.testing.assert_allclose(latlon[[0, 1, 3]], [[10, 179.5], [10, -179.5], [-90, 10]])
    grid = CellGrid.from_shape(Extent(90, -100, 450, 100), 36, 20)  # 0..360 longitudes, rows beyond the poles
    rows_latlon, rows_valid = WGS84.grid_rows(grid, 0, grid.n_rows)
    points_latlon, points_valid = WGS84(*grid.centres(0, grid.n_rows))
    np.testing.assert_array_equal(rows_valid, points_valid)
    np.testing.assert_allclose(rows_latlon, points_latlon)


def test_projected_cells_round_trip_and_corners_of_equal_earth_are_invalid():
    to_latlon = latlon_transform(wkt(8857), tolerance=1.0)
    latlon, valid = to_latlon(np.array([0.0, 17.2e6, 17.0e6, 1e6]), np.array([0.0, 8.3e6, 0.0, 5e6]))
    assert valid.tolist() == [True, False, True, True]  # the corner of the world's bounding box is not on Earth
    np.testing.assert_allclose(latlon[0], [0, 0], atol=1e-6)
    utm = latlon_transform(wkt(32633), tolerance=1.0)
    latlon, valid = utm(np.array([500_000.0]), np.array([5_000_000.0]))
    assert valid.all() and abs(latlon[0, 1] - 15) < 1e-6 and 45 < latlon[0, 0] < 45.2
    assert type(latlon_transform(wkt(4326), 1.0)) is LatLonTransform and isinstance(utm, ProjTransform)
    with pytest.raises(GeoSslError, match="not a coordinate reference system"):
        latlon_transform("+proj=nonsense", 1.0)


def test_geotiff_writer_streams_blocks_and_leaves_nothing_on_error(tmp_path):
    path = tmp_path / "out.tif"
    with GeoTiffWriter(path, 3, 4, 2, gdal.GDT_Float32, (0, 1, 0, 4, 0, -1), wkt(4326), -1.0) as out:
        assert not path.exists()
        out.write(0, np.zeros((2, 2, 3), np.float32))
        out.write(2, np.ones((2, 2, 3), np.float32))
    dataset, array = read(path)
    assert array.shape == (2, 4, 3) and array[:, 2:].min() == 1 and array[:, :2].max() == 0
    assert dataset.GetRasterBand(2).GetNoDataValue() == -1
    with pytest.raises(RuntimeError), GeoTiffWriter(path, 3, 4, 1, gdal.GDT_Byte, (0, 1, 0, 4, 0, -1),
                                                     wkt(4326), 0) as out:
        out.write(0, np.zeros((2, 3), np.uint8))
        raise RuntimeError("boom")
    assert gdal.Open(str(path)).RasterCount == 2  # the previous complete file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


def test_embedding_with_stored_basis_is_the_model_output_projected(encoder_pca, tmp_path):
    grid = CellGrid.from_cell_size(Extent(-180, -90, 180, 90), 10.0)
    heatmap = LocationHeatmap(encoder_pca, WGS84, batch_size=100, block_cells=300)  # several row blocks
    result = heatmap.embedding(grid, tmp_path / "emb.tif", wkt(4326))
    dataset, array = read(result.path)
    assert array.shape == (3, 18, 36) and array.dtype == np.uint8
    assert dataset.GetGeoTransform() == grid.geotransform()
    assert "stored" in result.notes[0] and result.valid_cells == grid.n_cells
    latlon, _ = WGS84(*grid.centres(0, grid.n_rows))
    expected = PcaColours(encoder_pca.metadata.pca_basis)(encoder_pca.run(latlon=latlon))
    assert np.abs(array.reshape(3, -1).T.astype(int) - expected).max() <= 1
    assert array.min() >= 1  # 0 is nodata only


def test_embedding_without_basis_fits_pca_on_the_grid_and_marks_off_earth_cells(encoder, tmp_path):
    grid = CellGrid.from_shape(Extent(-17_243_959, -8_392_928, 17_243_959, 8_392_928), 40, 20)
    result = LocationHeatmap(encoder, latlon_transform(wkt(8857), grid.cell_w / 100)).embedding(
        grid, tmp_path / "ee.tif", wkt(8857))
    _, array = read(result.path)
    assert "fitted on this grid" in result.notes[0]
    assert (array[:, 0, 0] == 0).all() and (array[:, -1, -1] == 0).all()  # corners: nodata
    assert (array[:, 10, 20] > 0).all()
    assert 0.7 < result.valid_cells / result.total_cells < 0.95
    assert np.ptp(array[0][array[0] > 0]) > 150  # the fitted range spreads the colours


def test_prior_class_probability_entropy_and_most_likely(prior, tmp_path):
    grid = CellGrid.from_cell_size(Extent(-180, -90, 180, 90), 15.0)
    heatmap = LocationHeatmap(prior, WGS84)
    latlon, _ = WGS84(*grid.centres(0, grid.n_rows))
    probabilities = prior.run(latlon=latlon)
    forest = heatmap.prior(grid, tmp_path / "forest.tif", wkt(4326), "forest")
    _, array = read(forest.path)
    np.testing.assert_allclose(array.ravel(), probabilities[:, 1], atol=1e-6)
    assert forest.title.startswith("P(Forest|location)") and forest.style == "pseudocolor"
    assert forest.value_range == (pytest.approx(array.min()), pytest.approx(array.max()))
    assert array.min() >= 0 and array.max() <= 1
    _, ent = read(heatmap.prior(grid, tmp_path / "ent.tif", wkt(4326), "Entropy").path)
    np.testing.assert_allclose(ent.ravel(), entropy(probabilities), atol=1e-5)
    likely = heatmap.prior(grid, tmp_path / "cls.tif", wkt(4326), "most likely class")
    dataset, ids = read(likely.path)
    assert likely.style == "paletted" and dataset.GetRasterBand(1).GetNoDataValue() == CLASS_NODATA
    np.testing.assert_array_equal(ids.ravel(), probabilities.argmax(axis=1))
    with pytest.raises(GeoSslError, match="AnnualCrop"):
        heatmap.prior(grid, tmp_path / "bad.tif", wkt(4326), "Glacier")


def test_presence_prior_maps_are_titled_as_presences_and_stay_in_range(tmp_path):
    presence = OnnxModel.load(export_location_model(tmp_path / "presence.onnx", presence=True))
    grid = CellGrid.from_cell_size(Extent(-180, -90, 180, 90), 15.0)
    heatmap = LocationHeatmap(presence, WGS84)
    forest = heatmap.prior(grid, tmp_path / "forest.tif", wkt(4326), "Forest")
    _, values = read(forest.path)
    assert forest.title.startswith("presence of Forest at location") and values.min() > 0 and values.max() < 1
    latlon, _ = WGS84(*grid.centres(0, grid.n_rows))
    assert presence.run(latlon=latlon).sum(axis=1).std() > 0.01  # really not normalised
    ent = heatmap.prior(grid, tmp_path / "ent.tif", wkt(4326), "entropy")
    _, values = read(ent.path)
    assert ent.title.startswith("entropy of normalised presences")
    assert values.min() >= 0 and values.max() <= np.log(len(CLASSES)) + 1e-5


def test_cancel_and_wrong_model_leave_no_file(prior, encoder, tmp_path):
    grid = CellGrid.from_shape(Extent(-180, -90, 180, 90), 50, 50)
    calls = []
    with pytest.raises(Canceled):
        LocationHeatmap(prior, WGS84, block_cells=500).prior(
            grid, tmp_path / "c.tif", wkt(4326), "entropy", progress=calls.append, canceled=lambda: len(calls) >= 2)
    with pytest.raises(GeoSslError, match="location_encoder"):
        LocationHeatmap(prior, WGS84).embedding(grid, tmp_path / "e.tif", wkt(4326))
    with pytest.raises(GeoSslError, match="no cell"):
        LocationHeatmap(encoder, WGS84).embedding(
            CellGrid.from_shape(Extent(0, 91, 10, 100), 5, 5), tmp_path / "off.tif", wkt(4326))
    assert calls == [20.0, 40.0] and list(tmp_path.iterdir()) == []


def tiles_on_lattice(n_cols=4, n_rows=3, size=10.0, stride=5.0, x0=500_000.0, y1=5_000_000.0):
    rows, cols = np.divmod(np.arange(n_cols * n_rows), n_cols)
    xmin, ymax = x0 + cols * stride, y1 - rows * stride
    probabilities = np.random.default_rng(0).dirichlet(np.ones(len(CLASSES)), n_cols * n_rows).astype(np.float32)
    probabilities[5] = np.nan  # a skipped (all-nodata) tile
    return TileProbabilities(list(CLASSES), probabilities, xmin, ymax - size, xmin + size, ymax)


def test_tile_lattice_gives_one_cell_per_tile_centred_on_it():
    tiles = tiles_on_lattice()
    grid, rows, cols = tile_cells(tiles)
    assert (grid.n_cols, grid.n_rows) == (4, 3)
    assert grid.geotransform() == (500_002.5, 5.0, 0.0, 4_999_997.5, 0.0, -5.0)
    assert rows.tolist()[:5] == [0, 0, 0, 0, 1] and cols.tolist()[:5] == [0, 1, 2, 3, 0]
    tiles.xmin[1] += 1.3
    tiles.xmax[1] += 1.3
    with pytest.raises(GeoSslError, match="regular grid"):
        tile_cells(tiles)


def test_prediction_heatmap_values_nodata_and_fusion(prior, tmp_path):
    tiles = tiles_on_lattice(stride=10.0)
    result = prediction_heatmap(tiles, tmp_path / "p.tif", wkt(32633), "Forest")
    dataset, array = read(result.path)
    assert dataset.GetGeoTransform() == (500_000.0, 10.0, 0.0, 5_000_000.0, 0.0, -10.0)
    assert array[1, 1] == FLOAT_NODATA and result.valid_cells == 11
    np.testing.assert_allclose(np.delete(array.ravel(), 5), np.delete(tiles.probabilities[:, 1], 5))
    to_latlon = latlon_transform(wkt(32633), 1.0)
    fused = prediction_heatmap(tiles, tmp_path / "f.tif", wkt(32633), "max probability", prior, to_latlon)
    _, fused_array = read(fused.path)
    latlon, _ = to_latlon(*tiles.centres)
    expected = fuse(tiles.probabilities, prior.run(latlon=latlon)).max(axis=1)
    np.testing.assert_allclose(np.delete(fused_array.ravel(), 5), np.delete(expected, 5), rtol=1e-5)
    assert "fused" in fused.title and fused.value_range[1] <= 1
    with pytest.raises(GeoSslError, match="classes"):
        prediction_heatmap(replace(tiles, class_names=CLASSES[:3], probabilities=tiles.probabilities[:, :3]),
                           tmp_path / "x.tif", wkt(32633), "entropy", prior, to_latlon)
