"""Corrupt and truncated rasters: a read error naming the layer and the block, never a crash or a
misleading statistic (issue 20, defects 1 and 8)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_helpers import DATA, MODELS, run_algorithm, truncate

S2_PATCH = DATA / "eurosat_ms" / "Forest" / "Forest_1.tif"
LANDSAT = DATA / "scenes" / "LC08_L1TP_224078_20200518_RGB.tif"


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.95])
def test_truncated_s2_patch_gives_a_read_error(tmp_path, keep):
    """10 of the 13 bands (EuroSAT's files have no band names): the S2 model reads band after band until one
    fails."""
    raster = truncate(S2_PATCH, tmp_path / "cut.tif", keep)
    out = tmp_path / "out" / "tiles.gpkg"
    result = run_algorithm("csp:classify", {"INPUT": str(raster), "MODEL": str(MODELS / "eurosat_s2.onnx"),
                                            "BANDS": "2,3,4,5,6,7,8,13,11,12", "OUTPUT_VECTOR": str(out)})
    assert not result.crashed, result
    assert result.message.startswith("ERROR: could not read band ")
    assert "of 'cut' in the block x " in result.message and "corrupt, truncated or unreadable" in result.message
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_truncated_rgb_scene_is_a_read_error_not_constant_bands(tmp_path):
    """layer_statistics radiometry: the statistics read reports the damage (was: 'bands are constant')."""
    raster = truncate(LANDSAT, tmp_path / "scene.tif", 0.4)
    result = run_algorithm("csp:classify", {"INPUT": str(raster), "MODEL": str(MODELS / "eurosat_rgb.onnx"),
                                            "OUTPUT_VECTOR": str(tmp_path / "tiles.gpkg")})
    assert not result.crashed, result
    assert "could not read band" in result.message and "of 'scene'" in result.message
    assert "constant" not in result.message
    assert not (tmp_path / "tiles.gpkg").exists()


def test_truncated_tile_layer_for_a_prediction_heatmap(tmp_path):
    """The prediction heatmap reads a Classify result: a cut GeoPackage is refused with a message."""
    tiles = tmp_path / "tiles.gpkg"
    first = run_algorithm("csp:classify", {"INPUT": str(LANDSAT), "MODEL": str(MODELS / "eurosat_rgb.onnx"),
                                           "OUTPUT_VECTOR": str(tiles)})
    assert first.message == "RESULT OK", first
    cut = truncate(tiles, tmp_path / "cut.gpkg", 0.5)
    result = run_algorithm("csp:prediction_heatmap", {"INPUT": str(cut), "OUTPUT": str(tmp_path / "p.tif")})
    assert not result.crashed, result
    assert result.message.startswith("ERROR: ")
    assert not Path(tmp_path / "p.tif").exists()
