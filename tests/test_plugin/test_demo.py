"""The README's demo runs end to end on the default models and writes every promised output."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from osgeo import gdal

REPO = Path(__file__).resolve().parents[2]
PNGS = ("classified_landsat.png", "classified_landsat_fused.png", "landsat_max_probability.png",
        "world_location_embedding.png", "world_prior_most_likely.png", "world_prior_europe.png")


@pytest.mark.qgis
def test_demo_writes_project_layers_and_renders(tmp_path):
    out = tmp_path / "demo_output"
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "demo.py"), "--output", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2,304 tiles of LC08_L1TP_224078_20200518_RGB.tif classified" in result.stdout
    for name in PNGS:
        assert (out / name).stat().st_size > 10_000, name
    with zipfile.ZipFile(out / "demo.qgz") as project:
        qgs = project.read(next(n for n in project.namelist() if n.endswith(".qgs"))).decode()
    for layer_file in ("landsat_tiles.gpkg", "landsat_tiles_fused.gpkg", "world_location_embedding.tif",
                       "world_prior_most_likely.tif", "landsat_max_probability.tif"):
        assert layer_file in qgs
    assert 'type="categorizedSymbol"' in qgs and 'type="paletted"' in qgs and 'type="multibandcolor"' in qgs
    prior = gdal.Open(str(out / "world_prior_europe.tif"))
    assert prior.GetGeoTransform() == pytest.approx((-180, 0.25, 0, 90, 0, -0.25))
    values = prior.ReadAsArray()
    assert values.min() >= 0 and values.max() <= 1
    # Europe is the most likely continent in Europe: P(Europe) at Paris (48.9 N, 2.3 E) is high.
    assert values[int((90 - 48.9) / 0.25), int((180 + 2.3) / 0.25)] > 0.9
