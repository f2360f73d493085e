"""Bad input to the plugin: broken models, scales, sizes and extents give a message or a warning,
never a traceback or a silently wrong map (issue 20, defects 3, 6, 9 and 13)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from fault_helpers import DATA, MODELS
from model_factory import TinyImageNet, export_image_classifier, export_location_model, with_metadata_of
from osgeo import gdal
from qgis.core import QgsRasterLayer
from test_bad_tables import last_error_line, trainer_cli

from qgis_csp_plugin.contract.errors import GeoSslError, ModelLoadError
from qgis_csp_plugin.contract.onnx_model import OnnxModel
from qgis_csp_plugin.core.classify import check_pixel_memory
from qgis_csp_plugin.core.tiling import Extent, TileGrid
from qgis_csp_plugin.jobs.classify import ClassifyRequest, prepare
from qgis_csp_plugin.jobs.heatmap import HeatmapRequest
from qgis_csp_plugin.jobs.heatmap import prepare as prepare_heatmap

pytestmark = pytest.mark.qgis
LANDSAT = DATA / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"
BYTE_SCENE = DATA / "scenes" / "RGB.byte.tif"


@pytest.fixture(scope="module")
def rgb_model(tmp_path_factory):
    return export_image_classifier(tmp_path_factory.mktemp("m") / "rgb.onnx", tile_size=32, gsd_m=30.0)


def landsat() -> QgsRasterLayer:
    return QgsRasterLayer(str(LANDSAT), "landsat")


def test_metadata_contradicting_the_graph_is_refused_on_load(rgb_model, tmp_path, qgis_app):
    """Metadata promising 4 bands for a 3-band graph: onnxruntime's INVALID_ARGUMENT becomes a message."""
    liar = with_metadata_of(rgb_model, onnx.load(str(rgb_model)), tmp_path / "liar.onnx",
                            bands='["red", "green", "blue", "nir"]',
                            normalization='{"mean": [1, 1, 1, 1], "std": [1, 1, 1, 1], "radiometry": "absolute"}')
    with pytest.raises(ModelLoadError, match="liar.onnx: self check failed, the model does not run as its metadata "
                                             "describes .*could not run on image \\(8, 4, 32, 32\\)"):
        OnnxModel.load(liar)
    with pytest.raises(ModelLoadError, match="liar.onnx: self check failed"):
        prepare(ClassifyRequest(landsat(), liar, {}))


def test_a_huge_metadata_tile_size_is_refused_before_allocating(rgb_model, tmp_path, qgis_app):
    """tile_size 30000 used to allocate 161 GiB for the self-check batch and die with a traceback (issue 26,
    point 7): refused against the graph's fixed size, and against memory where the graph is dynamic."""
    fixed = with_metadata_of(rgb_model, onnx.load(str(rgb_model)), tmp_path / "fixed.onnx", tile_size="30000")
    with pytest.raises(ModelLoadError, match="fixed.onnx: its metadata says tile_size 30000 px, but the graph takes "
                                             "32 px tiles"):
        OnnxModel.load(fixed)
    raw = tmp_path / "dynamic_raw.onnx"
    torch.onnx.export(TinyImageNet(3, 10, [100.0] * 3, [50.0] * 3), (torch.zeros(2, 3, 32, 32),), str(raw),
                      input_names=["image"], output_names=["probabilities"], dynamo=False,
                      dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"}})
    dynamic = with_metadata_of(rgb_model, onnx.load(str(raw)), tmp_path / "dynamic.onnx", tile_size="30000")
    with pytest.raises(ModelLoadError, match="dynamic.onnx: its metadata tile_size 30,000 px needs 10.1 GiB per "
                                             "tile of 3 bands, more than the 64 MiB allowed"):
        OnnxModel.load(dynamic)
    assert OnnxModel.load(with_metadata_of(rgb_model, onnx.load(str(raw)), tmp_path / "ok.onnx",
                                           tile_size="48")).metadata.tile_size == 48  # dynamic: any sane size


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_metadata_is_a_metadata_error(rgb_model, tmp_path, depth, qgis_app):
    """A RecursionError traceback before (issue 26, point 7)."""
    nested = with_metadata_of(rgb_model, onnx.load(str(rgb_model)), tmp_path / "nested.onnx",
                              training="[" * depth + "]" * depth)
    with pytest.raises(ModelLoadError, match="nested.onnx: metadata key 'training' (nests lists/dicts more than 32 "
                                             "levels deep|is not valid JSON \\(or nests too deeply\\))"):
        OnnxModel.load(nested)
    line = last_error_line(trainer_cli("inspect", str(nested)))
    assert line.startswith("error: nested.onnx: metadata key 'training'"), line


def test_a_model_producing_nan_is_refused(rgb_model, tmp_path, qgis_app):
    class NanNet(torch.nn.Module):
        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return image.mean(dim=(2, 3)).repeat(1, 4)[:, :10] * float("nan")

    raw = tmp_path / "raw.onnx"
    torch.onnx.export(NanNet(), (torch.zeros(2, 3, 32, 32),), str(raw), input_names=["image"],
                      output_names=["probabilities"], dynamic_axes={"image": {0: "batch"}}, dynamo=False)
    nan = with_metadata_of(rgb_model, onnx.load(str(raw)), tmp_path / "nan.onnx")
    with pytest.raises(ModelLoadError, match="nan.onnx: self check failed.*produced NaN or infinite outputs"):
        prepare(ClassifyRequest(landsat(), nan, {}))


def test_absolute_model_on_8_bit_data_warns(tmp_path, qgis_app):
    """A model trained on 16-bit values (mean 1000) given an 8-bit image: one class everywhere, so warn."""
    model = export_image_classifier(tmp_path / "abs.onnx", tile_size=32, gsd_m=300.0, mean=[1000.0] * 3,
                                    std=[300.0] * 3, radiometry="absolute")
    job = prepare(ClassifyRequest(QgsRasterLayer(str(BYTE_SCENE), "byte"), model, {}, bands=[1, 2, 3]))
    assert any("are far from the model's training data" in w and "band means" in w for w in job.warnings)
    matching = export_image_classifier(tmp_path / "abs8.onnx", tile_size=32, gsd_m=300.0, mean=[60.0] * 3,
                                       std=[40.0] * 3, radiometry="absolute")
    job = prepare(ClassifyRequest(QgsRasterLayer(str(BYTE_SCENE), "byte"), matching, {}, bands=[1, 2, 3]))
    assert not any("far from" in w for w in job.warnings)


def test_no_scale_warning_on_the_shipped_sentinel2_patches(qgis_app):
    """Water, forest, towns: real EuroSAT patches are read as Sentinel-2 digital numbers by the S2 model (its
    10 bands in EuroSAT's file order: the files have no band names), dark water included."""
    for path in sorted((DATA / "eurosat_ms").glob("*/*_1.tif")):
        job = prepare(ClassifyRequest(QgsRasterLayer(str(path), path.stem), MODELS / "eurosat_s2.onnx", {},
                                      bands=[2, 3, 4, 5, 6, 7, 8, 13, 11, 12]))
        assert not any("far from" in w for w in job.warnings), path.name
        assert any("Sentinel-2 digital numbers" in n for n in job.notes), path.name


def test_web_mercator_tiles_cover_ground_metres(tmp_path, qgis_app):
    """EPSG:3857 metres are 1/cos(lat) ground metres (1.11 at this scene's 25° S): tiles follow the ground."""
    mercator = tmp_path / "mercator.vrt"
    gdal.Warp(str(mercator), str(LANDSAT), format="VRT", dstSRS="EPSG:3857")
    utm_job = prepare(ClassifyRequest(landsat(), MODELS / "eurosat_rgb.onnx", {}))
    job = prepare(ClassifyRequest(QgsRasterLayer(str(mercator), "mercator"), MODELS / "eurosat_rgb.onnx", {}))
    assert job.grid.res_x == pytest.approx(10.0 / np.cos(np.radians(25.5)), rel=0.01)
    assert 1.0 <= job.grid.n_tiles / utm_job.grid.n_tiles < 1.1  # the warped footprint is a little larger
    # the default resolution (the model's 10 m: 30 m is not within 2x) is noted, not warned about
    assert any("the layer's 30 m pixels are upsampled 3.0x to the model's 10 m" in n for n in job.notes)


def test_huge_batch_and_tile_sizes_are_refused_before_allocating(rgb_model, qgis_app):
    with pytest.raises(GeoSslError, match="batch size 100000000 needs 1,144.4 GiB for pixels"):
        prepare(ClassifyRequest(landsat(), rgb_model, {}, batch_size=100_000_000))
    grid = TileGrid.cover(Extent(0, 0, 1e6, 1e6), 1.0, 1.0, 100_000, 0.0)
    with pytest.raises(GeoSslError, match="tile size 100000 px with batch size 16 needs"):
        check_pixel_memory(grid, 13, 16)


@pytest.mark.parametrize("extent", [Extent(170, -10, 200, 10), Extent(-200, 0, -170, 10), Extent(0, 80, 10, 95)])
def test_heatmap_extents_off_the_globe_are_refused(tmp_path, extent, qgis_app):
    encoder = export_location_model(tmp_path / "encoder.onnx", "location_encoder")
    with pytest.raises(GeoSslError, match="leaves the globe: in EPSG:4326 longitudes must lie within -180..180"):
        prepare_heatmap(HeatmapRequest("location_embedding", tmp_path / "map.tif", model_path=encoder, extent=extent))
    assert list(tmp_path.iterdir()) == [tmp_path / "encoder.onnx"]
