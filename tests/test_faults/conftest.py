"""Fault-suite fixtures (small and read-only filesystems, damaged rasters) and its summary line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from osgeo import gdal

FAULTS = Path(__file__).resolve().parent
if str(FAULTS) not in sys.path:  # fault_helpers, run_algorithm
    sys.path.append(str(FAULTS))
from fault_helpers import mount_tmpfs, unmount  # noqa: E402
from model_factory import export_image_classifier, export_location_model  # noqa: E402

_outcomes: dict[str, str] = {}


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    """A small RGB image classifier (32 px tiles at 30 m: 1,024 tiles on the Landsat scene) and a
    location encoder."""
    folder = tmp_path_factory.mktemp("models")
    return {"rgb": export_image_classifier(folder / "rgb.onnx", tile_size=32, gsd_m=30.0),
            "encoder": export_location_model(folder / "encoder.onnx", "location_encoder")}


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 256 KiB filesystem (a tmpfs): writes past it fail with ENOSPC."""
    folder = tmp_path / "small_disk"
    mount_tmpfs(folder, "256k")
    yield folder
    unmount(folder)


@pytest.fixture
def read_only_folder(tmp_path) -> Iterator[Path]:
    """A read-only filesystem (root ignores file modes, so a mode-0555 folder would not do)."""
    folder = tmp_path / "read_only"
    mount_tmpfs(folder, "64k", read_only=True)
    yield folder
    unmount(folder)


@pytest.fixture(params=["exceptions off", "exceptions on"])
def gdal_exceptions(request) -> Iterator[bool]:
    """GDAL's Python exceptions off (a plain session) and on (as QGIS's GDAL provider sets them in
    qgis_process); the previous state is restored."""
    before = gdal.GetUseExceptions()
    on = request.param == "exceptions on"
    gdal.UseExceptions() if on else gdal.DontUseExceptions()
    yield on
    gdal.UseExceptions() if before else gdal.DontUseExceptions()


def pytest_runtest_logreport(report) -> None:
    """Record each fault case's outcome (a skip or error in setup counts as the case's outcome)."""
    in_suite = Path(str(report.fspath)).resolve().is_relative_to(FAULTS)
    if in_suite and (report.when == "call" or (report.when == "setup" and report.outcome != "passed")):
        _outcomes[report.nodeid] = report.outcome


def pytest_terminal_summary(terminalreporter) -> None:
    if _outcomes:
        tried = [k for k, v in _outcomes.items() if v != "skipped"]
        handled = [k for k in tried if _outcomes[k] == "passed"]
        skipped = len(_outcomes) - len(tried)
        terminalreporter.write_line(f"fault suite: {len(tried)} cases tried / {len(handled)} handled"
                                    f" ({skipped} skipped)")
