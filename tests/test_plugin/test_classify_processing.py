"""csp:classify through processing.run and through the qgis_process command line."""

import subprocess
from pathlib import Path

import numpy as np
import pytest
from model_factory import CLASSES
from osgeo import gdal
from qgis.core import QgsProcessingException, QgsRasterLayer, QgsRectangle, QgsVectorLayer
from qgis_process_env import QGIS_PROCESS, plugin_environment

from qgis_csp_plugin.core.dense import box_mean
from qgis_csp_plugin.jobs.classify import ClassifyRequest, prepare

pytestmark = pytest.mark.qgis
REPO = Path(__file__).resolve().parents[2]
LANDSAT = REPO / "data" / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"


def test_processing_run(provider, rgb_model, tmp_path):
    import processing

    result = processing.run("csp:classify", {
        "INPUT": str(LANDSAT), "MODEL": str(rgb_model), "BANDS": "1,2,3", "OVERLAP": 0.5,
        "OUTPUT_VECTOR": str(tmp_path / "tiles.gpkg"), "OUTPUT_CLASSES": str(tmp_path / "classes.tif")})
    vector = QgsVectorLayer(result["OUTPUT_VECTOR"], "tiles", "ogr")
    assert vector.featureCount() == 63 * 63 and vector.crs().authid() == "EPSG:32621"
    assert {f["class"] for f in vector.getFeatures()} <= set(CLASSES)
    assert Path(result["OUTPUT_CLASSES"]).is_file() and "OUTPUT_PROBABILITY" not in result


def test_processing_prior_exponent_and_force(provider, tmp_path):
    """Default models on the South American scene: the EuroSAT prior is not used there (α = 0: the fused
    tiles equal the image-only tiles) unless FORCE_PRIOR; PRIOR_EXPONENT 0 with FORCE_PRIOR is image-only too."""
    import processing

    models = REPO / "models"
    extent = "746705,748705,-2805355,-2803355 [EPSG:32621]"  # 2 km around the scene centre

    def probabilities(name: str, **params) -> list[float]:
        out = processing.run("csp:classify", {"INPUT": str(LANDSAT), "MODEL": str(models / "eurosat_rgb.onnx"),
                                              "EXTENT": extent, "OUTPUT_VECTOR": str(tmp_path / f"{name}.gpkg"),
                                              **params})["OUTPUT_VECTOR"]
        return [f["prob"] for f in QgsVectorLayer(out, name, "ogr").getFeatures()]

    prior = {"USE_LOCATION_PRIOR": True, "PRIOR_MODEL": str(models / "eurosat_prior.onnx")}
    image_only = probabilities("image")
    assert len(image_only) > 1
    assert probabilities("outside", **prior) == image_only
    assert probabilities("zero", **prior, FORCE_PRIOR=True, PRIOR_EXPONENT=0.0) == image_only
    assert probabilities("forced", **prior, FORCE_PRIOR=True) != image_only


def test_run_and_load_results_styles_the_outputs(provider, rgb_model, tmp_path):
    import processing
    from qgis.core import QgsCategorizedSymbolRenderer, QgsPalettedRasterRenderer, QgsProject

    processing.runAndLoadResults("csp:classify", {
        "INPUT": str(LANDSAT), "MODEL": str(rgb_model), "OUTPUT_VECTOR": str(tmp_path / "tiles.gpkg"),
        "OUTPUT_CLASSES": str(tmp_path / "classes.tif")})
    try:
        layers = QgsProject.instance().mapLayers().values()
        renderers = {type(layer.renderer()) for layer in layers}
        assert renderers == {QgsCategorizedSymbolRenderer, QgsPalettedRasterRenderer}
        # named for what they show, from which layer and model (not "Classified tiles", "Class ids")
        names = sorted(layer.name() for layer in layers)
        assert names == [f"{LANDSAT.stem} — rgb classes", f"{LANDSAT.stem} — rgb tiles"]
    finally:
        QgsProject.instance().clear()


def test_processing_limits_tiles_and_writes_nothing(provider, rgb_model, tmp_path):
    import processing

    with pytest.raises(QgsProcessingException, match="102,400 tiles .* exceed the limit of 50,000"):
        processing.run("csp:classify", {"INPUT": str(LANDSAT), "MODEL": str(rgb_model), "RESOLUTION": 3.0,
                                        "MAX_TILES": 50_000, "OUTPUT_VECTOR": str(tmp_path / "t.gpkg")})
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(QgsProcessingException, match="OUTPUT_VECTOR must be a .gpkg file, got t.shp"):
        processing.run("csp:classify", {"INPUT": str(LANDSAT), "MODEL": str(rgb_model),
                                        "OUTPUT_VECTOR": str(tmp_path / "t.shp")})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path(QGIS_PROCESS).exists(), reason="qgis_process is not installed")
def test_qgis_process_command_line(rgb_model, tmp_path):
    out = tmp_path / "out"
    command = [QGIS_PROCESS, "run", "csp:classify", "--", f"INPUT={LANDSAT}", f"MODEL={rgb_model}",
               f"OUTPUT_VECTOR={out / 'tiles.gpkg'}", f"OUTPUT_PROBABILITY={out / 'prob.tif'}"]
    done = subprocess.run(command, env=plugin_environment(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1,024 tiles (32 x 32)" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == ["prob.tif", "tiles.gpkg"]
    bad = subprocess.run(command[:-2] + [f"OUTPUT_VECTOR={out / 'x.gpkg'}", "BANDS=1,2,7"],
                         env=plugin_environment(tmp_path / "again"), capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "band(s) 7 do not exist: the layer has 3 band(s)" in bad.stdout + bad.stderr
    assert not (out / "x.gpkg").exists()


def test_dense_stride_averages_the_tiles_that_contain_each_cell(provider, rgb_model, tmp_path):
    """32 px tiles at an 8 px stride: class cells of 8 px (240 m), each the mean of 3 x 3 containing tiles."""
    import processing

    layer = QgsRasterLayer(str(LANDSAT), "landsat")
    e = layer.extent()
    extent = QgsRectangle(e.xMinimum(), e.yMaximum() - 200 * 30, e.xMinimum() + 200 * 30, e.yMaximum())
    extent_text = f"{extent.xMinimum()},{extent.xMaximum()},{extent.yMinimum()},{extent.yMaximum()} [EPSG:32621]"
    result = processing.run("csp:classify", {
        "INPUT": str(LANDSAT), "MODEL": str(rgb_model), "BANDS": "1,2,3", "STRIDE": 8, "EXTENT": extent_text,
        "OUTPUT_VECTOR": str(tmp_path / "t.gpkg"), "OUTPUT_PROBABILITY": str(tmp_path / "p.tif")})
    dataset = gdal.Open(result["OUTPUT_PROBABILITY"])
    cell_size, written = dataset.GetGeoTransform()[1], dataset.ReadAsArray()
    dataset = None  # closed before QGIS exits
    assert cell_size == 8 * 30.0
    job = prepare(ClassifyRequest(layer, rgb_model, {}, extent=extent, bands=[1, 2, 3], stride=8))
    raw = job.classifier.run(job.grid, job.reader)
    grid = job.grid
    expected = box_mean(raw.probabilities.reshape(grid.n_rows, grid.n_cols, -1), 1).max(axis=2)
    np.testing.assert_allclose(written, expected, atol=1e-5)


def test_stride_above_the_tile_size_is_refused(provider, rgb_model, tmp_path):
    import processing

    with pytest.raises(QgsProcessingException, match="stride must lie between 1 px and the tile size"):
        processing.run("csp:classify", {"INPUT": str(LANDSAT), "MODEL": str(rgb_model), "STRIDE": 33,
                                        "OUTPUT_VECTOR": str(tmp_path / "x.gpkg")})
    assert list(tmp_path.iterdir()) == []
