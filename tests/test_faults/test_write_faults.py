"""Write faults: a full disk and a read-only target fail the run with a message and keep the old
file; no temporary is left behind (issue 20, defects 2 and 9), with GDAL's Python exceptions off and on
(on as in qgis_process: issue 26, point 2; tests/test_faults/test_qgis_process_faults.py runs the same cases
through qgis_process itself). Overwritten outputs lose their stale companions, outputs respect the umask,
a folder in an output's place touches nothing, long legal names work (issue 26, points 6 and 7)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import pytest
from fault_helpers import DATA, MODELS, fill, mount_tmpfs, unmount
from model_factory import CLASSES
from osgeo import gdal
from qgis.core import QgsRasterLayer

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.core.staging import StagedOutputs
from qgis_csp_plugin.jobs.classify import ClassifyRequest, prepare
from qgis_csp_plugin.jobs.heatmap import HeatmapRequest
from qgis_csp_plugin.jobs.heatmap import prepare as prepare_heatmap
from qgis_csp_plugin.qgis_io.class_map import RasterClassMap
from qgis_csp_plugin.qgis_io.layers import check_geopackage, write_tile_vector

pytestmark = pytest.mark.qgis
LANDSAT = DATA / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"
OLD = b"the previous complete output"


def classify(model: Path, outputs: dict[str, Path]):
    layer = QgsRasterLayer(str(LANDSAT), "landsat")
    return prepare(ClassifyRequest(layer, model, outputs)).execute()


def embedding_heatmap(model: Path, output: Path, width: int = 720):
    return prepare_heatmap(HeatmapRequest("location_embedding", output, model_path=model, width=width)).execute()


def assert_old_files_only(folder: Path, names: list[str]) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    for name in names:
        assert (folder / name).read_bytes() == OLD


def test_classify_on_a_full_disk_fails_and_keeps_the_old_files(qgis_app, models, small_disk, gdal_exceptions):
    """3,969 tile polygons need ~1 MB: the GeoPackage COMMIT fails on the 256 KiB disk."""
    outputs = {"vector": small_disk / "tiles.gpkg", "classes": small_disk / "classes.tif"}
    for path in outputs.values():
        path.write_bytes(OLD)
    with pytest.raises(GeoSslError, match="could not write tiles.gpkg"):
        classify(models["rgb"], outputs)
    assert_old_files_only(small_disk, ["tiles.gpkg", "classes.tif"])


def test_heatmap_on_a_full_disk_fails_and_keeps_the_old_file(qgis_app, models, small_disk, gdal_exceptions):
    output = small_disk / "embedding.tif"
    output.write_bytes(OLD)
    with pytest.raises(GeoSslError, match="could not write .*embedding.tif .*No space left on device"):
        embedding_heatmap(models["encoder"], output, width=2048)
    assert_old_files_only(small_disk, ["embedding.tif"])


def test_small_raster_on_a_completely_full_disk(qgis_app, models, small_disk, gdal_exceptions):
    """Even a tiny GeoTIFF (kept in GDAL's cache until closing) reports the failed write."""
    output = small_disk / "tiny.tif"
    output.write_bytes(OLD)
    fill(small_disk)
    with pytest.raises(GeoSslError, match="could not write .*tiny.tif"):
        embedding_heatmap(models["encoder"], output, width=8)
    (small_disk / "ballast").unlink()
    assert_old_files_only(small_disk, ["tiny.tif"])


def test_read_only_targets_are_refused_with_a_message(qgis_app, models, read_only_folder):
    with pytest.raises(GeoSslError, match="cannot write in the folder .*read_only.*Read-only file system"):
        classify(models["rgb"], {"vector": read_only_folder / "tiles.gpkg"})
    with pytest.raises(GeoSslError, match="cannot write in .*read_only.*Read-only file system"):
        embedding_heatmap(models["encoder"], read_only_folder / "embedding.tif")
    with pytest.raises(GeoSslError, match="cannot write in the folder .*Read-only file system"):
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


def test_class_raster_on_a_full_disk_writes_no_output(qgis_app, models, tmp_path, small_disk, gdal_exceptions):
    """The tiles to a roomy folder, the class raster to a full disk: nothing is written (all or
    nothing), the message names the file, no temporary is left anywhere (issue 26, point 2)."""
    fill(small_disk)
    with pytest.raises(GeoSslError, match="could not write classes.tif"):
        classify(models["rgb"], {"vector": tmp_path / "ok.gpkg", "classes": small_disk / "classes.tif"})
    assert [p.name for p in tmp_path.iterdir()] == ["small_disk"]
    assert [p.name for p in small_disk.iterdir()] == ["ballast"]


def test_a_geopackage_without_its_spatial_index_is_refused(qgis_app, models, tmp_path):
    """What an almost-full disk leaves when OGR cannot build the R-tree at closing (issue 26, point 2)."""
    complete = tmp_path / "tiles.gpkg"
    tiles = len(classify(models["rgb"], {"vector": complete})[0].indices)
    check_geopackage(complete, "tiles", tiles)
    for name, statement in (("no_rtree.gpkg", "DROP TABLE rtree_tiles_geom"),
                            ("unregistered.gpkg", "DELETE FROM gpkg_extensions WHERE extension_name = "
                                                  "'gpkg_rtree_index'"),
                            ("short_rtree.gpkg", "DELETE FROM rtree_tiles_geom WHERE id > 10"),
                            ("short_table.gpkg", "DELETE FROM tiles WHERE fid > 10")):
        damaged = tmp_path / name
        shutil.copy(complete, damaged)
        with closing(sqlite3.connect(damaged)) as db:
            db.execute(statement)
            db.commit()
        with pytest.raises(GeoSslError, match=f"could not write {name} .*(spatial index|of {tiles:,} tiles rows)"):
            check_geopackage(damaged, "tiles", tiles)
    with pytest.raises(GeoSslError, match="could not write nothing.gpkg .*missing or unreadable"):
        check_geopackage(tmp_path / "nothing.gpkg", "tiles", tiles)


def test_geopackages_on_an_almost_full_disk_are_complete_or_refused(qgis_app, models, tmp_path):
    """Sizes around the tiles' GeoPackage (~470 KiB with its R-tree, ~400 KiB without): each run either
    writes a complete file or fails with nothing left (the R-tree used to go missing silently)."""
    job = prepare(ClassifyRequest(QgsRasterLayer(str(LANDSAT), "landsat"), models["rgb"], {}))
    results = job.classifier.run(job.grid, job.reader)
    refused = []
    for size_kib in range(420, 520, 12):
        folder = tmp_path / f"disk{size_kib}"
        mount_tmpfs(folder, f"{size_kib}k")
        try:
            with StagedOutputs() as staging:
                write_tile_vector(staging.path(folder / "tiles.gpkg"), results, job.crs)
                staging.commit()
            check_geopackage(folder / "tiles.gpkg", "tiles", len(results.indices))
        except GeoSslError as exc:
            assert "could not write tiles.gpkg" in str(exc)
            assert list(folder.iterdir()) == []
            refused.append(str(exc))
        finally:
            unmount(folder)
    assert any("its spatial index is missing" in message for message in refused)  # the window is covered


def test_overwritten_outputs_lose_their_stale_companions(qgis_app, models, tmp_path):
    """An old .ovr would become the new raster's overviews (the old map when zoomed out), an old .msk its
    mask (issue 26, point 6)."""
    outputs = {"classes": tmp_path / "classes.tif", "probability": tmp_path / "prob.tif"}
    heatmap = tmp_path / "embedding.tif"
    for path in [*outputs.values(), heatmap]:
        for suffix in (".ovr", ".msk", ".aux.xml"):
            Path(f"{path}{suffix}").write_bytes(OLD)
    classify(models["rgb"], outputs)
    embedding_heatmap(models["encoder"], heatmap, width=16)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classes.tif", "embedding.tif", "prob.tif"]


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_outputs_respect_the_umask(qgis_app, models, tmp_path, umask):
    """GeoTIFFs used to be 0600 (mkstemp) while every other output followed the umask (issue 26, point 6)."""
    previous = os.umask(umask)
    try:
        outputs = {"vector": tmp_path / "tiles.gpkg", "classes": tmp_path / "classes.tif",
                   "probability": tmp_path / "prob.tif"}
        classify(models["rgb"], outputs)
        embedding_heatmap(models["encoder"], tmp_path / "embedding.tif", width=16)
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == dict.fromkeys(["tiles.gpkg", "classes.tif", "prob.tif", "embedding.tif"], 0o666 & ~umask)


def test_an_output_path_that_is_a_folder_touches_nothing(qgis_app, models, tmp_path):
    """A folder where the class raster should go used to make Classify delete the user's earlier tiles
    before failing (issue 26, point 6): every output path is checked before anything runs."""
    (tmp_path / "tiles.gpkg").write_bytes(OLD)
    (tmp_path / "classes.tif").mkdir()
    (tmp_path / "classes.tif" / "keep.txt").write_bytes(OLD)
    with pytest.raises(GeoSslError, match="the output .*classes.tif is an existing folder: give a file name"):
        classify(models["rgb"], {"vector": tmp_path / "tiles.gpkg", "classes": tmp_path / "classes.tif"})
    with pytest.raises(GeoSslError, match="embedding.tif is an existing folder"):
        (tmp_path / "embedding.tif").mkdir()
        embedding_heatmap(models["encoder"], tmp_path / "embedding.tif", width=16)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classes.tif", "embedding.tif", "tiles.gpkg"]
    assert (tmp_path / "tiles.gpkg").read_bytes() == OLD == (tmp_path / "classes.tif" / "keep.txt").read_bytes()


@pytest.mark.parametrize("length", [236, 245, 255])
def test_long_legal_output_names_are_written(qgis_app, models, tmp_path, length):
    """Names of up to 255 bytes are legal; the hidden temporary name is shortened, never the output's
    (issue 26, point 7: names of 236-245 characters used to fail)."""
    outputs = {kind: tmp_path / ("é" * ((length - len(suffix)) // 2) + "x" * ((length - len(suffix)) % 2) + suffix)
               for kind, suffix in (("vector", ".gpkg"), ("classes", ".tif"))}
    assert {len(os.fsencode(p.name)) for p in outputs.values()} == {length}
    classify(models["rgb"], outputs)
    heatmap = tmp_path / ("h" * (length - 4) + ".tif")
    embedding_heatmap(models["encoder"], heatmap, width=16)
    assert sorted(tmp_path.iterdir()) == sorted([*outputs.values(), heatmap])
    check_geopackage(outputs["vector"], "tiles", 1024)


def test_reading_a_class_raster_writes_nothing_next_to_it(qgis_app, models, tmp_path):
    """The plugin's own GDAL read of a class raster (its class names) leaves no <raster>.aux.xml; the layer
    is made with GDAL_PAM_ENABLED=NO so that QGIS's own statistics for its default style do not count
    (issue 26, point 8)."""
    folder = tmp_path / "input"
    classify(models["rgb"], {"classes": folder / "classes.tif"})
    gdal.SetConfigOption("GDAL_PAM_ENABLED", "NO")
    try:
        layer = QgsRasterLayer(str(folder / "classes.tif"), "classes")
    finally:
        gdal.SetConfigOption("GDAL_PAM_ENABLED", None)
    class_map = RasterClassMap(layer)
    assert class_map.class_names and set(class_map.class_names) <= set(CLASSES)  # names read from the file
    del class_map, layer
    assert [p.name for p in folder.iterdir()] == ["classes.tif"]
