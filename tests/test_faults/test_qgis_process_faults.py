"""Disk-full and read-only targets through the real ``qgis_process`` command line (issue 26, point 2).

There QGIS's GDAL provider runs with GDAL's Python exceptions on (in-process tests have them off unless
they say so): a failed write must still give one "could not write …" line, exit code 1 and no traceback,
leave no temporary behind once the process has exited, keep the earlier files, and never leave a
GeoPackage without its spatial index. Also what qgis_process itself writes next to an input raster
(point 8: QGIS's histogram for the layer's default style, avoided with GDAL_PAM_ENABLED=NO).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from fault_helpers import DATA, fill, mount_tmpfs, unmount
from qgis_process_env import QGIS_PROCESS, plugin_environment

from qgis_csp_plugin.qgis_io.layers import check_geopackage

pytestmark = [pytest.mark.qgis,
              pytest.mark.skipif(not Path(QGIS_PROCESS).exists(), reason="qgis_process is not installed")]
LANDSAT = DATA / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"
OLD = b"the previous complete output"
TILES = 1024  # the small RGB model's 32 px tiles at 30 m over the scene


@pytest.fixture(scope="module")
def environment(tmp_path_factory) -> dict[str, str]:
    return plugin_environment(tmp_path_factory.mktemp("qgis_process"))


@pytest.fixture
def scene(tmp_path) -> Path:
    """A copy of the Landsat scene in a folder of its own (qgis_process may write beside it)."""
    folder = tmp_path / "input"
    folder.mkdir()
    return Path(shutil.copy(LANDSAT, folder / "scene.tif"))


def qgis_process(environment: dict[str, str], algorithm: str, **parameters) -> subprocess.CompletedProcess:
    done = subprocess.run([QGIS_PROCESS, "run", algorithm, "--", *(f"{k}={v}" for k, v in parameters.items())],
                          env=environment, capture_output=True, text=True, timeout=300)
    done.output = done.stdout + done.stderr
    return done


def assert_refused(done: subprocess.CompletedProcess, message: str) -> None:
    """Exit code 1 with the message, and no Python traceback anywhere in the output."""
    assert done.returncode == 1 and message in done.output and "Traceback" not in done.output, done.output[-3000:]


def test_class_raster_on_a_full_disk(environment, models, scene, tmp_path, small_disk):
    """The issue's command: the tiles to a roomy folder, the class raster to a full disk."""
    (small_disk / "classes.tif").write_bytes(OLD)
    fill(small_disk)
    done = qgis_process(environment, "csp:classify", INPUT=scene, MODEL=models["rgb"], RESOLUTION=30,
                        OUTPUT_VECTOR=tmp_path / "ok.gpkg", OUTPUT_CLASSES=small_disk / "classes.tif")
    assert_refused(done, "could not write classes.tif")
    assert not (tmp_path / "ok.gpkg").exists()
    assert sorted(p.name for p in small_disk.iterdir()) == ["ballast", "classes.tif"]
    assert (small_disk / "classes.tif").read_bytes() == OLD


def test_heatmap_on_a_full_disk_leaves_no_temporary(environment, models, small_disk):
    output = small_disk / "embedding.tif"
    output.write_bytes(OLD)
    done = qgis_process(environment, "csp:location_embedding_heatmap", MODEL=models["encoder"], WIDTH=2048,
                        OUTPUT=output)
    assert_refused(done, "could not write embedding.tif")
    assert "No space left on device" in done.output
    assert [p.name for p in small_disk.iterdir()] == ["embedding.tif"] and output.read_bytes() == OLD


def test_all_outputs_on_an_almost_full_disk_are_complete_or_not_written(environment, models, scene, tmp_path):
    """Disks a little smaller and larger than the tiles' GeoPackage: the GeoPackage used to lose its spatial
    index silently (exit code 0, no rtree_* table, no gpkg_extensions row)."""
    reference = tmp_path / "reference"
    names = {"OUTPUT_VECTOR": "tiles.gpkg", "OUTPUT_CLASSES": "classes.tif", "OUTPUT_PROBABILITY": "prob.tif"}
    done = qgis_process(environment, "csp:classify", INPUT=scene, MODEL=models["rgb"],
                        **{key: reference / name for key, name in names.items()})
    assert done.returncode == 0, done.output[-3000:]
    check_geopackage(reference / "tiles.gpkg", "tiles", TILES)
    size_kib = (reference / "tiles.gpkg").stat().st_size // 1024
    refused = []
    for disk_kib in (size_kib - 20, size_kib - 8, size_kib + 4):
        disk = tmp_path / f"disk{disk_kib}"
        mount_tmpfs(disk, f"{disk_kib}k")
        try:
            done = qgis_process(environment, "csp:classify", INPUT=scene, MODEL=models["rgb"],
                                **{key: disk / name for key, name in names.items()})
            if done.returncode == 0:
                check_geopackage(disk / "tiles.gpkg", "tiles", TILES)  # complete, spatial index included
                assert sorted(p.name for p in disk.iterdir()) == sorted(names.values())
            else:
                assert_refused(done, "could not write")
                assert list(disk.iterdir()) == []
                refused.append(done.output)
        finally:
            unmount(disk)
    assert any("its spatial index is missing or incomplete" in output for output in refused), refused


def test_read_only_targets(environment, models, scene, read_only_folder):
    done = qgis_process(environment, "csp:classify", INPUT=scene, MODEL=models["rgb"],
                        OUTPUT_VECTOR=read_only_folder / "tiles.gpkg")
    assert_refused(done, "cannot write in the folder")
    assert "Read-only file system" in done.output
    done = qgis_process(environment, "csp:location_embedding_heatmap", MODEL=models["encoder"], WIDTH=16,
                        OUTPUT=read_only_folder / "embedding.tif")
    assert_refused(done, "cannot write in")
    assert "Read-only file system" in done.output and list(read_only_folder.iterdir()) == []


def test_the_input_sidecar_is_qgis_own_and_gdal_pam_off_avoids_it(environment, models, scene, tmp_path):
    """QGIS computes a histogram for the layer's default style when qgis_process loads the input and GDAL
    keeps it in <input>.aux.xml (documented in the README); GDAL_PAM_ENABLED=NO keeps the folder clean."""
    done = qgis_process(environment, "csp:classify", INPUT=scene, MODEL=models["rgb"],
                        OUTPUT_VECTOR=tmp_path / "tiles.gpkg")
    assert done.returncode == 0, done.output[-3000:]
    assert sorted(p.name for p in scene.parent.iterdir()) == ["scene.tif", "scene.tif.aux.xml"]
    (scene.parent / "scene.tif.aux.xml").unlink()
    done = qgis_process({**environment, "GDAL_PAM_ENABLED": "NO"}, "csp:classify", INPUT=scene,
                        MODEL=models["rgb"], OUTPUT_VECTOR=tmp_path / "again.gpkg")
    assert done.returncode == 0, done.output[-3000:]
    assert [p.name for p in scene.parent.iterdir()] == ["scene.tif"]
