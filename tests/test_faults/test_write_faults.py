"""Write faults: a full disk and a read-only target fail the run with a message and keep the old
file; no temporary is left behind (issue 20, defects 2 and 9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_helpers import DATA, MODELS, fill
from model_factory import export_image_classifier, export_location_model
from osgeo import gdal
from qgis.core import QgsRasterLayer

from qgis_csp_plugin.contract.errors import CspError
from qgis_csp_plugin.jobs.classify import ClassifyRequest, prepare
from qgis_csp_plugin.jobs.heatmap import HeatmapRequest
from qgis_csp_plugin.jobs.heatmap import prepare as prepare_heatmap

pytestmark = pytest.mark.qgis
LANDSAT = DATA / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"
OLD = b"the previous complete output"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {"rgb": export_image_classifier(folder / "rgb.onnx", tile_size=32, gsd_m=30.0),
            "encoder": export_location_model(folder / "encoder.onnx", "location_encoder")}


def classify(model: Path, outputs: dict[str, Path]):
    layer = QgsRasterLayer(str(LANDSAT), "landsat")
    return prepare(ClassifyRequest(layer, model, outputs)).execute()


def embedding_heatmap(model: Path, output: Path, width: int = 720):
    return prepare_heatmap(HeatmapRequest("location_embedding", output, model_path=model, width=width)).execute()


def assert_old_files_only(folder: Path, names: list[str]) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    for name in names:
        assert (folder / name).read_bytes() == OLD


def test_classify_on_a_full_disk_fails_and_keeps_the_old_files(qgis_app, models, small_disk):
    """3,969 tile polygons need ~1 MB: the GeoPackage COMMIT fails on the 256 KiB disk."""
    outputs = {"vector": small_disk / "tiles.gpkg", "classes": small_disk / "classes.tif"}
    for path in outputs.values():
        path.write_bytes(OLD)
    with pytest.raises(CspError, match="could not write tiles.gpkg"):
        classify(models["rgb"], outputs)
    assert_old_files_only(small_disk, ["tiles.gpkg", "classes.tif"])


def test_heatmap_on_a_full_disk_fails_and_keeps_the_old_file(qgis_app, models, small_disk):
    output = small_disk / "embedding.tif"
    output.write_bytes(OLD)
    with pytest.raises(CspError, match="could not write .*embedding.tif .*No space left on device"):
        embedding_heatmap(models["encoder"], output, width=2048)
    assert_old_files_only(small_disk, ["embedding.tif"])


def test_small_raster_on_a_completely_full_disk(qgis_app, models, small_disk):
    """Even a tiny GeoTIFF (kept in GDAL's cache until closing) reports the failed write."""
    output = small_disk / "tiny.tif"
    output.write_bytes(OLD)
    fill(small_disk)
    with pytest.raises(CspError, match="tiny.tif"):
        embedding_heatmap(models["encoder"], output, width=8)
    (small_disk / "ballast").unlink()
    assert_old_files_only(small_disk, ["tiny.tif"])


def test_read_only_targets_are_refused_with_a_message(qgis_app, models, read_only_folder):
    with pytest.raises(CspError, match="cannot write in the folder .*read_only.*Read-only file system"):
        classify(models["rgb"], {"vector": read_only_folder / "tiles.gpkg"})
    with pytest.raises(CspError, match="cannot write in .*read_only.*Read-only file system"):
        embedding_heatmap(models["encoder"], read_only_folder / "embedding.tif")
    with pytest.raises(CspError, match="cannot write in the folder .*Read-only file system"):
        classify(models["rgb"], {"vector": read_only_folder / "sub" / "tiles.gpkg"})
    assert list(read_only_folder.iterdir()) == []


def test_overwritten_class_raster_drops_the_old_statistics(qgis_app, models, tmp_path):
    """GDAL's .aux.xml (statistics of the old raster) must not survive an overwrite."""
    classes = tmp_path / "classes.tif"
    classify(models["rgb"], {"classes": classes})
    gdal.Info(str(classes), stats=True)  # what QGIS does when it shows the layer: writes classes.tif.aux.xml
    sidecar = tmp_path / "classes.tif.aux.xml"
    assert sidecar.exists()
    classify(models["rgb"], {"classes": classes})
    assert not sidecar.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classes.tif"]


def test_classify_writes_nothing_next_to_the_input(qgis_app, tmp_path):
    """The statistics of a layer_statistics model come from a block read: no <input>.aux.xml."""
    scene = tmp_path / "input" / "scene.tif"
    scene.parent.mkdir()
    scene.write_bytes(LANDSAT.read_bytes())
    layer = QgsRasterLayer(str(scene), "scene")
    prepare(ClassifyRequest(layer, MODELS / "eurosat_rgb.onnx", {"classes": tmp_path / "classes.tif"})).execute()
    assert [p.name for p in scene.parent.iterdir()] == ["scene.tif"]
