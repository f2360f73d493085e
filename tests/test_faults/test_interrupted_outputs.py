"""Concurrent runs to one output and runs killed while writing (issue 20, defects 4, 10 and 11).

Never a file under the final name that is not complete, never another run's file reported as
this run's, and no hidden temporary left once the next run is done.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fault_helpers import REPO, outcome, run_algorithm, start_algorithm
from model_factory import export_location_model
from osgeo import gdal

from qgis_csp_plugin.contract.temp_files import sweep_stale
from qgis_csp_plugin.core.geotiff import GeoTiffWriter

WKT_4326 = ('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
            'UNIT["degree",0.0174532925199433]]')
SLOW_WIDTH = 6000  # ~18 M cells: several seconds of writing on one core


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return export_location_model(tmp_path_factory.mktemp("models") / "encoder.onnx", "location_encoder")


def heatmap(encoder: Path, output: Path, width: int) -> dict:
    return {"MODEL": str(encoder), "OUTPUT": str(output), "WIDTH": width}


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def wait_for_temporary(folder: Path, process, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not hidden(folder):
        assert process.poll() is None, "the run ended before writing"
        assert time.monotonic() < deadline, "no temporary file appeared"
        time.sleep(0.05)
    time.sleep(0.5)  # well inside the write


def test_two_writers_to_one_path_each_publish_their_own_file(tmp_path):
    """Interleaved writers (two heatmap runs) never share a temporary file."""
    path = tmp_path / "map.tif"
    with GeoTiffWriter(path, 4, 3, 1, gdal.GDT_Byte, (0, 1, 0, 3, 0, -1), WKT_4326, 0) as first:
        with GeoTiffWriter(path, 4, 3, 1, gdal.GDT_Byte, (0, 1, 0, 3, 0, -1), WKT_4326, 0) as second:
            first.write(0, np.full((3, 4), 1, np.uint8))
            second.write(0, np.full((3, 4), 2, np.uint8))
        assert gdal.Open(str(path)).ReadAsArray().tolist() == [[2] * 4] * 3
    assert gdal.Open(str(path)).ReadAsArray().tolist() == [[1] * 4] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif"]


def test_concurrent_heatmap_runs_to_one_output(encoder, tmp_path):
    output = tmp_path / "map.tif"
    runs = [start_algorithm("csp:location_embedding_heatmap", heatmap(encoder, output, width))
            for width in (1200, 1000)]
    results = [outcome(run) for run in runs]
    assert [r.message for r in results] == ["RESULT OK", "RESULT OK"], results
    assert gdal.Open(str(output)).RasterXSize in (1200, 1000)
    assert hidden(tmp_path) == []


def test_sigterm_while_writing_leaves_nothing(encoder, tmp_path):
    output = tmp_path / "map.tif"
    run = start_algorithm("csp:location_embedding_heatmap", heatmap(encoder, output, SLOW_WIDTH))
    wait_for_temporary(tmp_path, run)
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=60)
    assert run.returncode == -signal.SIGTERM
    assert list(tmp_path.iterdir()) == []


def test_sigkill_leftovers_are_swept_by_the_next_run(encoder, tmp_path):
    output = tmp_path / "map.tif"
    run = start_algorithm("csp:location_embedding_heatmap", heatmap(encoder, output, SLOW_WIDTH))
    wait_for_temporary(tmp_path, run)
    run.kill()
    run.wait(timeout=60)
    assert not output.exists() and hidden(tmp_path)  # SIGKILL cannot be caught
    assert run_algorithm("csp:location_embedding_heatmap", heatmap(encoder, output, 64)).message == "RESULT OK"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif"]


def test_temporaries_of_running_processes_are_kept(tmp_path):
    """The sweep removes only temporaries whose process is gone (pid 1 always runs)."""
    alive = tmp_path / ".map.tif.1-abc.part"
    gone = tmp_path / ".map.tif.999999999-abc.part"
    alive.touch()
    gone.touch()
    assert sweep_stale(tmp_path / "map.tif") == [gone]
    assert alive.exists()


def test_sigterm_during_a_trainer_export_leaves_nothing(tmp_path):
    """The handler ``python -m trainer`` installs removes the half-written model's temporary."""
    code = ("import sys, time\n"
            "from qgis_csp_plugin.contract.temp_files import install_sigterm_cleanup\n"
            "from trainer.export.atomic import atomic_output\n"
            "assert install_sigterm_cleanup()\n"
            "with atomic_output(sys.argv[1]) as tmp:\n"
            "    tmp.write_bytes(b'half a model')\n"
            "    print('writing', flush=True)\n"
            "    time.sleep(120)\n")
    run = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "model.onnx")], cwd=REPO,
                           stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.stdout.readline().strip() == "writing" and hidden(tmp_path)
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=60)
    assert run.returncode == -signal.SIGTERM
    assert list(tmp_path.iterdir()) == []
