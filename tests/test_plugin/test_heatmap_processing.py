"""csp:*_heatmap algorithms in a real headless QGIS: georeferencing, CRSs, value ranges, nodata, styling.

Models: tiny real ONNX exports (tests/model_factory.py); the embedding checks use an encoder exported
with a stored PCA basis (tests/heatmap_models.py), one check the fallback PCA on the grid.
"""

import math

import numpy as np
import pytest
from heatmap_models import export_encoder_with_pca, write_classified_tiles
from model_factory import CLASSES, export_location_model
from osgeo import gdal, osr
from qgis.core import (
    QgsApplication,
    QgsMultiBandColorRenderer,
    QgsPalettedRasterRenderer,
    QgsProcessingException,
    QgsProject,
    QgsRasterLayer,
    QgsSingleBandPseudoColorRenderer,
    QgsVectorLayer,
)

from qgis_csp_plugin.core.heatmap import CLASS_NODATA, FLOAT_NODATA

pytestmark = pytest.mark.qgis

PDC_MERCATOR_LON180_X = math.radians(30) * 6378137.0  # EPSG:3832 has its central meridian at 150 E


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {"encoder": export_location_model(folder / "encoder.onnx", "location_encoder"),
            "encoder_pca": export_encoder_with_pca(folder / "encoder_pca.onnx"),
            "prior": export_location_model(folder / "prior_world.onnx", "location_prior"),
            "prior_alpha": export_location_model(folder / "prior_alpha.onnx", "location_prior", prior_exponent=0.25)}


def opened(path):
    dataset = gdal.Open(str(path))
    return dataset, dataset.ReadAsArray()


def same_crs(dataset, code: str) -> bool:
    written, wanted = osr.SpatialReference(dataset.GetProjection()), osr.SpatialReference()
    wanted.SetFromUserInput(code)
    return bool(written.IsSame(wanted))


def test_embedding_in_geographic_world_with_stored_pca(run, models, tmp_path):
    out = run("location_embedding_heatmap", {"MODEL": str(models["encoder_pca"]), "CRS": "EPSG:4326",
                                             "CELL_SIZE": 5.0, "OUTPUT": str(tmp_path / "emb.tif")})["OUTPUT"]
    dataset, array = opened(out)
    assert dataset.GetGeoTransform() == (-180.0, 5.0, 0.0, 90.0, 0.0, -5.0)
    assert same_crs(dataset, "EPSG:4326") and array.shape == (3, 36, 72)
    assert dataset.GetRasterBand(1).DataType == gdal.GDT_Byte and array.min() >= 1  # all cells on Earth
    assert array.reshape(3, -1).std(axis=1).min() > 10  # the three components vary over the world


def test_embedding_in_equal_earth_has_nodata_corners_and_fitted_pca(run, models, tmp_path):
    out = run("location_embedding_heatmap", {"MODEL": str(models["encoder"]), "CRS": "EPSG:8857", "WIDTH": 80,
                                             "OUTPUT": str(tmp_path / "ee.tif")})["OUTPUT"]
    dataset, array = opened(out)
    x0, dx, _, y1, _, dy = dataset.GetGeoTransform()
    assert same_crs(dataset, "EPSG:8857") and array.shape[1:] == (39, 80)
    assert x0 == pytest.approx(-17_243_959, abs=1) and y1 == pytest.approx(8_392_928, abs=1)
    assert dx == pytest.approx(2 * 17_243_959.06 / 80) and dy == pytest.approx(-dx, rel=0.03)
    assert dataset.GetRasterBand(1).GetNoDataValue() == 0
    for corner in (array[:, 0, 0], array[:, 0, -1], array[:, -1, 0], array[:, -1, -1]):
        assert (corner == 0).all()
    assert (array[:, 19, :] > 0).all()  # the equator is on Earth from edge to edge


def test_embedding_in_utm_zone_matches_the_requested_grid(run, models, tmp_path):
    out = run("location_embedding_heatmap", {
        "MODEL": str(models["encoder_pca"]), "CRS": "EPSG:32633", "CELL_SIZE": 10_000.0,
        "EXTENT": "300000,700000,4800000,5300000 [EPSG:32633]", "OUTPUT": str(tmp_path / "utm.tif")})["OUTPUT"]
    dataset, array = opened(out)
    assert dataset.GetGeoTransform() == (300_000.0, 10_000.0, 0.0, 5_300_000.0, 0.0, -10_000.0)
    assert same_crs(dataset, "EPSG:32633") and array.shape == (3, 50, 40) and array.min() >= 1


def test_embedding_is_continuous_across_the_dateline(run, models, tmp_path):
    half = 1_500_000.0
    extent = (f"{PDC_MERCATOR_LON180_X - half},{PDC_MERCATOR_LON180_X + half},{-half},{half} [EPSG:3832]")
    out = run("location_embedding_heatmap", {"MODEL": str(models["encoder_pca"]), "CRS": "EPSG:3832",
                                             "EXTENT": extent, "WIDTH": 60, "HEIGHT": 60,
                                             "OUTPUT": str(tmp_path / "pacific.tif")})["OUTPUT"]
    _, array = opened(out)
    steps = np.abs(np.diff(array.astype(int), axis=2)).max(axis=(0, 1))  # per column boundary
    seam = 29  # cells 29 | 30 meet at lon 180
    assert array.min() >= 1 and steps.max() > 0
    assert steps[seam] <= 2 * np.median(steps) + 2, steps


def test_class_prior_probability_in_web_mercator_loads_styled(run, models, tmp_path, qgis_processing):
    import processing

    path = tmp_path / "forest.tif"
    processing.runAndLoadResults("csp:class_prior_heatmap", {
        "MODEL": str(models["prior"]), "CLASS": "Forest", "CRS": "EPSG:3857", "WIDTH": 64, "HEIGHT": 64,
        "OUTPUT": str(path)})
    layer = next(lyr for lyr in QgsProject.instance().mapLayers().values() if lyr.source() == str(path))
    try:
        assert "Forest" in layer.name()
        assert isinstance(layer.renderer(), QgsSingleBandPseudoColorRenderer)
        dataset, array = opened(path)
        assert same_crs(dataset, "EPSG:3857") and array.shape == (64, 64)
        assert array.min() >= 0 and array.max() <= 1 and array.max() > array.min()
        assert layer.renderer().classificationMin() == pytest.approx(array.min())
        assert layer.renderer().classificationMax() == pytest.approx(array.max())
    finally:
        QgsProject.instance().removeMapLayer(layer.id())


def test_most_likely_class_in_polar_stereographic(run, models, tmp_path):
    out = run("class_prior_heatmap", {"MODEL": str(models["prior"]), "CLASS": "most likely class",
                                      "CRS": "EPSG:3031", "WIDTH": 40, "OUTPUT": str(tmp_path / "ant.tif")})["OUTPUT"]
    dataset, array = opened(out)
    assert same_crs(dataset, "EPSG:3031") and dataset.GetRasterBand(1).GetNoDataValue() == CLASS_NODATA
    assert array.max() < len(CLASSES) and len(np.unique(array)) >= 2


def test_entropy_and_unknown_class(run, models, tmp_path):
    out = run("class_prior_heatmap", {"MODEL": str(models["prior"]), "CLASS": "entropy", "CRS": "EPSG:4326",
                                      "EXTENT": "160,180,-10,10 [EPSG:4326]", "CELL_SIZE": 1.0,
                                      "OUTPUT": str(tmp_path / "ent.tif")})["OUTPUT"]
    dataset, array = opened(out)
    assert dataset.GetGeoTransform() == (160.0, 1.0, 0.0, 10.0, 0.0, -1.0)
    assert array.min() > 0 and array.max() <= math.log(len(CLASSES)) + 1e-5
    with pytest.raises(QgsProcessingException, match="Glacier"):
        run("class_prior_heatmap", {"MODEL": str(models["prior"]), "CLASS": "Glacier", "WIDTH": 8,
                                    "OUTPUT": str(tmp_path / "bad.tif")})
    assert not (tmp_path / "bad.tif").exists()


@pytest.fixture(scope="module")
def classified(tmp_path_factory):
    path = tmp_path_factory.mktemp("classified") / "tiles.gpkg"
    results = write_classified_tiles(path)
    return results.grid, results, path


def test_prediction_heatmap_aligned_to_tiles_with_and_without_fusion(run, models, classified, tmp_path):
    grid, results, path = classified
    layer = QgsVectorLayer(f"{path}|layername=tiles", "tiles", "ogr")
    out = run("prediction_heatmap", {"INPUT": layer, "CLASS": "Forest", "OUTPUT": str(tmp_path / "p.tif")})["OUTPUT"]
    dataset, array = opened(out)
    assert dataset.GetGeoTransform() == pytest.approx(grid.cell_geotransform())
    assert same_crs(dataset, "EPSG:32633") and array.shape == (4, 6)
    skipped = results.skipped.reshape(4, 6)
    assert (array[skipped] == FLOAT_NODATA).all()
    np.testing.assert_allclose(array[~skipped], results.probabilities[~results.skipped, 1], rtol=1e-6)
    fused = run("prediction_heatmap", {"INPUT": layer, "CLASS": "max probability", "FUSE_PRIOR": True,
                                       "MODEL": str(models["prior"]), "OUTPUT": str(tmp_path / "f.tif")})["OUTPUT"]
    _, fused_array = opened(fused)
    assert (fused_array[skipped] == FLOAT_NODATA).all()
    assert (fused_array[~skipped] <= 1).all() and (fused_array[~skipped] >= 1 / len(CLASSES)).all()
    assert not np.allclose(fused_array[~skipped], results.probabilities[~results.skipped].max(axis=1))


def test_prediction_heatmap_fuses_with_the_stored_or_the_given_alpha(run, models, classified, tmp_path):
    """α = 0 is the unfused map; a prior storing α = 0.25 equals the same prior given PRIOR_EXPONENT 0.25."""
    _, results, path = classified
    layer = QgsVectorLayer(f"{path}|layername=tiles", "tiles", "ogr")

    def fused(model: str, name: str, alpha: float = -1.0) -> np.ndarray:
        out = run("prediction_heatmap", {"INPUT": layer, "CLASS": "max probability", "FUSE_PRIOR": True,
                                         "MODEL": str(models[model]), "PRIOR_EXPONENT": alpha,
                                         "OUTPUT": str(tmp_path / f"{name}.tif")})["OUTPUT"]
        return opened(out)[1]

    kept = ~results.skipped.reshape(4, 6)
    np.testing.assert_allclose(fused("prior", "zero", 0.0)[kept], results.probabilities[~results.skipped].max(axis=1),
                               rtol=1e-6)
    stored = fused("prior_alpha", "stored")
    np.testing.assert_allclose(stored, fused("prior", "given", 0.25), rtol=1e-6)
    assert not np.allclose(stored[kept], fused("prior", "plain")[kept])


def test_styles_by_kind(models, tmp_path, run):
    from qgis_csp_plugin.jobs.heatmap import HeatmapRequest, load_heatmap, prepare

    expected = {("location_embedding", ""): QgsMultiBandColorRenderer,
                ("class_prior", "most likely class"): QgsPalettedRasterRenderer,
                ("class_prior", "entropy"): QgsSingleBandPseudoColorRenderer}
    for (kind, choice), renderer in expected.items():
        model = models["encoder_pca" if kind == "location_embedding" else "prior"]
        result = prepare(HeatmapRequest(kind, tmp_path / f"{kind}{choice[:4]}.tif", model, width=16,
                                        choice=choice)).execute()
        layer = load_heatmap(result)
        assert isinstance(layer.renderer(), renderer) and isinstance(layer, QgsRasterLayer)
        if renderer is QgsPalettedRasterRenderer:
            assert [c.label for c in layer.renderer().classes()] == CLASSES


def test_one_table_row_per_heatmap_kind_and_unknown_kinds_are_refused(tmp_path, qgis_app):
    from qgis_csp_plugin.contract.errors import GeoSslError
    from qgis_csp_plugin.contract.schema import Kind
    from qgis_csp_plugin.core.kinds import HeatmapKind
    from qgis_csp_plugin.jobs.heatmap import HEATMAP_TYPES, HeatmapRequest, prepare

    assert list(HEATMAP_TYPES) == list(HeatmapKind)
    assert [t.model_kind for t in HEATMAP_TYPES.values()] == [Kind.LOCATION_ENCODER, Kind.LOCATION_PRIOR,
                                                               Kind.LOCATION_PRIOR]
    with pytest.raises(GeoSslError, match="unknown heatmap kind 'relief': choose one of location_embedding, "
                                       "class_prior, prediction"):
        prepare(HeatmapRequest("relief", tmp_path / "map.tif"))
    assert list(tmp_path.iterdir()) == []


def test_provider_registers_the_three_heatmap_algorithms(run):
    registry = QgsApplication.processingRegistry()
    for name in ("location_embedding_heatmap", "class_prior_heatmap", "prediction_heatmap"):
        algorithm = registry.algorithmById(f"csp:{name}")
        assert algorithm is not None and algorithm.shortHelpString()
        assert algorithm.parameterDefinition("OUTPUT") is not None
    assert registry.algorithmById("csp:class_prior_heatmap").parameterDefinition("CLASS").defaultValue() == \
        "most likely class"
