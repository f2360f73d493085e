"""A 4,000 x 4,000 heatmap streams in row blocks: peak memory stays far below the full-grid arrays."""

import subprocess
import sys
import textwrap

import pytest
from model_factory import export_location_model
from osgeo import gdal

SCRIPT = textwrap.dedent("""
    import sys
    from qgis_csp_plugin.core.cell_latlon import LatLonTransform
    from qgis_csp_plugin.core.grid import CellGrid
    from qgis_csp_plugin.core.heatmap import LocationHeatmap
    from qgis_csp_plugin.contract.onnx_model import OnnxModel
    from qgis_csp_plugin.core.tiling import Extent
    side = int(sys.argv[3])
    grid = CellGrid.from_shape(Extent(-180, -90, 180, 90), side, side)
    LocationHeatmap(OnnxModel.load(sys.argv[1]), LatLonTransform()).embedding(grid, sys.argv[2], "EPSG:4326")
    # VmHWM: peak RSS of this process image (ru_maxrss would include the forking parent's).
    status = open("/proc/self/status").read()
    print(int(status.split("VmHWM:")[1].split()[0]) // 1024)
""")


def peak_mb(model, out, side: int) -> int:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(model), str(out), str(side)], check=True,
                          capture_output=True, text=True)
    return int(done.stdout.split()[-1])


@pytest.mark.slow
def test_4000_by_4000_embedding_peak_memory_is_bounded(tmp_path):
    model = export_location_model(tmp_path / "encoder.onnx", "location_encoder")
    small = peak_mb(model, tmp_path / "small.tif", 256)
    big = peak_mb(model, tmp_path / "big.tif", 4000)
    # Unstreamed, 16 M cells would need > 1 GB for the 16-d embeddings alone (plus 256 MB of centres).
    print(f"peak RSS: {small} MB for 256 x 256, {big} MB for 4000 x 4000")
    assert big - small < 200, (small, big)
    assert gdal.Open(str(tmp_path / "big.tif")).RasterXSize == 4000
