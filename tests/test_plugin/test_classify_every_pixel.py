"""csp:train_classifier on Presto, then csp:classify at STRIDE 1: every pixel mapped at the layer's resolution
from per-pixel embeddings, equal to the tile path on the tile centred on each pixel; outputs, refusals, cancel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import QgsGeometry, QgsRasterLayer, QgsRectangle

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.contract.schema import ModelMetadata
from qgis_csp_plugin.core.progress import Canceled
from qgis_csp_plugin.core.tiling import TileGrid
from qgis_csp_plugin.jobs.classify import ClassifyRequest, prepare
from trainer.data.eurosat_mosaic import build_mosaic

from .test_train_classifier import Recorder

pytestmark = pytest.mark.qgis
REPO = Path(__file__).resolve().parents[2]
PRESTO = REPO / "models" / "presto_encoder.onnx"
CLASSES = ("Forest", "Industrial", "SeaLake")
TILE = 16


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> Path:
    """Real EuroSAT patches side by side (13 bands, 10 m): 6 per class on 6 columns."""
    folder = tmp_path_factory.mktemp("scene")
    patches = [REPO / "data" / "eurosat_ms" / c / f"{c}_{i}.tif" for c in CLASSES for i in range(1, 7)]
    build_mosaic(patches, [p.parent.name for p in patches], folder / "scene.tif", folder / "labels.gpkg", columns=6)
    return folder


@pytest.fixture(scope="module")
def presto_classifier(scene, tmp_path_factory, run) -> Path:
    """What a user gets from csp:train_classifier with the Presto encoder (16 px tiles, features chosen by CV)."""
    out = tmp_path_factory.mktemp("model") / "presto_head.onnx"
    run("train_classifier", {
        "INPUT": str(scene / "scene.tif"), "ENCODER": str(PRESTO),
        "LABELS": f"{scene / 'labels.gpkg'}|layername=centres", "CLASS_FIELD": "class", "FOLDS": 3,
        "TILE_SIZE": TILE, "FEATURES": 3, "OUTPUT": str(out)})
    return out


def pixel_area(layer: QgsRasterLayer, c0: int, c1: int, r0: int, r1: int) -> QgsRectangle:
    e = layer.extent()
    return QgsRectangle(e.xMinimum() + c0 * 10, e.yMaximum() - r1 * 10, e.xMinimum() + c1 * 10, e.yMaximum() - r0 * 10)


def extent_text(rect: QgsRectangle) -> str:
    return f"{rect.xMinimum()},{rect.xMaximum()},{rect.yMinimum()},{rect.yMaximum()} [EPSG:32632]"


def test_stride_1_maps_every_pixel_as_the_tile_centred_on_it(provider, scene, presto_classifier, tmp_path):
    """The class and probability rasters have the layer's own pixels; each probability is the tile path's on the
    tile centred on that pixel (the tiles reach out of the extent and the layer); no tile polygons."""
    import processing

    model = OnnxModel.load(presto_classifier)
    assert model.metadata.dense_pixels and model.metadata.training["features"] == "embedding+statistics"
    assert "maps every pixel" in model.metadata.describe()
    layer = QgsRasterLayer(str(scene / "scene.tif"), "scene")
    area = pixel_area(layer, 0, 40, 50, 80)  # the left edge of the layer, across the seam of two patch rows
    feedback = Recorder()
    result = processing.run("csp:classify", {
        "INPUT": str(scene / "scene.tif"), "MODEL": str(presto_classifier), "EXTENT": extent_text(area), "STRIDE": 1,
        "OUTPUT_VECTOR": str(tmp_path / "tiles.gpkg"), "OUTPUT_CLASSES": str(tmp_path / "classes.tif"),
        "OUTPUT_PROBABILITY": str(tmp_path / "probability.tif")}, feedback=feedback)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classes.tif", "probability.tif"]
    assert "OUTPUT_VECTOR" not in result
    plan = "every pixel: 1,200 pixels (40 x 30), each from the 16 px tile centred on it"
    assert any(plan in info for info in feedback.infos)
    assert any("the tile polygons (one per pixel) are not" in w for w in feedback.warnings)
    assert any("classified 1,200 pixels (40 x 30)" in i for i in feedback.infos)
    classes, probability = (gdal.Open(result[k]) for k in ("OUTPUT_CLASSES", "OUTPUT_PROBABILITY"))
    assert classes.GetGeoTransform() == (area.xMinimum(), 10.0, 0.0, area.yMaximum(), 0.0, -10.0)
    ids, written = classes.ReadAsArray(), probability.ReadAsArray()
    assert ids.shape == (30, 40) and set(np.unique(ids)) <= {0, 1, 2} and len(np.unique(ids)) >= 2
    classes = probability = None  # closed before QGIS exits

    job = prepare(ClassifyRequest(layer, presto_classifier, {}, extent=area, stride=1))
    assert job.pixel_mapper is not None and job.grid.tile_size == 1
    half = TILE // 2
    grid = job.grid
    tiles = TileGrid(grid.xmin - half * 10, grid.ymax + half * 10, 10.0, 10.0, TILE, 1, grid.n_cols, grid.n_rows)
    pick = np.random.default_rng(0).choice(grid.n_tiles, 40, replace=False)
    pick = np.union1d(pick, [0, 39, 15 * 40 + 3, 1199])  # corners, the left edge
    keep = np.zeros(grid.n_tiles, bool)
    keep[pick] = True
    reference = job.classifier.run(tiles, job.reader, keep)
    np.testing.assert_allclose(written.ravel()[pick], reference.probabilities.max(axis=1), atol=1e-4)
    np.testing.assert_array_equal(ids.ravel()[pick], reference.class_ids)


def test_stride_1_without_raster_outputs_writes_temporary_rasters(provider, scene, presto_classifier, tmp_path):
    import processing

    layer = QgsRasterLayer(str(scene / "scene.tif"), "scene")
    result = processing.run("csp:classify", {
        "INPUT": str(scene / "scene.tif"), "MODEL": str(presto_classifier), "STRIDE": 1,
        "EXTENT": extent_text(pixel_area(layer, 100, 110, 0, 5)), "OUTPUT_VECTOR": str(tmp_path / "t.gpkg")})
    assert set(result) == {"OUTPUT_CLASSES", "OUTPUT_PROBABILITY"} and list(tmp_path.iterdir()) == []
    dataset = gdal.Open(result["OUTPUT_CLASSES"])
    assert (dataset.RasterXSize, dataset.RasterYSize) == (10, 5)
    dataset = None


def test_refusals_polygons_and_cancel(provider, scene, presto_classifier, tmp_path):
    """Only tile polygons asked: refused; a pixel-encoder classifier that does not say dense_pixels: refused at
    stride 1; polygons: only the pixels that touch them; cancel: nothing written."""
    layer = QgsRasterLayer(str(scene / "scene.tif"), "scene")
    area = pixel_area(layer, 0, 20, 0, 20)
    with pytest.raises(GeoSslError, match="written as class and probability rasters, not as tile polygons"):
        prepare(ClassifyRequest(layer, presto_classifier, {"vector": tmp_path / "t.gpkg"}, extent=area, stride=1))
    plain = tmp_path / "plain.onnx"
    plain.write_bytes(with_props(presto_classifier, dense_pixels=False))
    with pytest.raises(GeoSslError, match="does not say it can map every pixel"):
        prepare(ClassifyRequest(layer, plain, {"classes": tmp_path / "c.tif"}, extent=area, stride=1))
    assert prepare(ClassifyRequest(layer, plain, {"classes": tmp_path / "c.tif"}, extent=area, stride=4)) \
        .pixel_mapper is None
    polygon = QgsGeometry.fromRect(pixel_area(layer, 5, 9, 2, 4))
    job = prepare(ClassifyRequest(layer, presto_classifier, {"classes": tmp_path / "c.tif"}, polygons=polygon,
                                  stride=1))
    results, written = job.execute()
    ids = gdal.Open(str(written["classes"])).ReadAsArray()
    assert ids.shape == (2, 4) and (ids != 255).all() and results.classified == 8
    written["classes"].unlink()
    job = prepare(ClassifyRequest(layer, presto_classifier, {"classes": tmp_path / "c.tif",
                                                             "probability": tmp_path / "p.tif"}, extent=area, stride=1))
    with pytest.raises(Canceled):
        job.execute(canceled=lambda: True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.onnx"]


def with_props(path: Path, **changes) -> bytes:
    """The classifier ``path`` with metadata fields changed (the graph unchanged)."""
    from qgis_csp_plugin.contract.onnx_protobuf import MODEL_METADATA, fields, message

    meta = ModelMetadata.from_dict({**OnnxModel.load(path).metadata.to_dict(), **changes})
    out = b"".join(raw for number, _, raw, _ in fields(path.read_bytes()) if number != MODEL_METADATA)
    return out + b"".join(message(MODEL_METADATA, message(1, k.encode()) + message(2, v.encode()))
                          for k, v in meta.to_props().items())
