"""Band mapping, the tile attribute table and all-or-nothing output staging."""

import numpy as np
import pytest

from qgis_csp_plugin.core.band_mapping import (
    BandMappingError,
    default_bands,
    parse_bands,
    positional_warning,
    validate_bands,
)
from qgis_csp_plugin.core.classify import TileResults
from qgis_csp_plugin.core.staging import StagedOutputs
from qgis_csp_plugin.core.tile_table import NODATA_CLASS, field_specs, probability_field, rows
from qgis_csp_plugin.core.tiling import Extent, TileGrid

S2 = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A"]


def test_default_bands_by_name_then_by_position():
    labels = ["Band 1 (Blue)", "Band 2 (Green)", "Band 3 (Red)"]
    assert default_bands(["red", "green", "blue"], labels) == [3, 2, 1]
    assert default_bands(S2, [f"Band {i:02d} (Gray)" for i in range(1, 14)]) == list(range(1, 14))
    with pytest.raises(BandMappingError, match="needs 13 bands .* the layer has 3"):
        default_bands(S2, labels)


def test_unpadded_sentinel2_names_in_esa_order_map_by_name():
    esa = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]
    mapping = default_bands(S2, esa)
    assert [esa[i - 1] for i in mapping] == [b.replace("B0", "B") for b in S2]  # B8A found at position 9
    assert positional_warning(S2, esa) is None
    gray = [f"Band {i} (Gray)" for i in range(1, 14)]
    assert "layer order" in positional_warning(S2, gray)


def test_band_aliases_map_colour_names_to_sentinel2_names_and_back():
    s2_rgb = ["B02 (blue)", "B03", "B04"]
    assert default_bands(["red", "green", "blue"], s2_rgb) == [3, 2, 1]
    assert positional_warning(["red", "green", "blue"], s2_rgb) is None
    colour_labels = ["Band 1 (Blue)", "Band 2 (Green)", "Band 3 (Red)"]
    assert default_bands(["B04", "B03", "B02"], colour_labels) == [3, 2, 1]


def test_parse_and_validate_bands():
    assert parse_bands(" 4, 3 ,2") == [4, 3, 2] and parse_bands("") == []
    with pytest.raises(BandMappingError, match="comma-separated"):
        parse_bands("red,green")
    with pytest.raises(BandMappingError, match="band\\(s\\) 4 do not exist: the layer has 3"):
        validate_bands([4, 3, 2], ["red", "green", "blue"], 3)
    with pytest.raises(BandMappingError, match="needs 3 bands"):
        validate_bands([1, 2], ["red", "green", "blue"], 3)


def test_rows_follow_the_field_specs():
    grid = TileGrid.cover(Extent(0, 0, 20, 10), 1.0, 1.0, 10, 0.0)
    probs = np.array([[0.7, 0.2, 0.1], [np.nan] * 3], dtype=np.float32)
    results = TileResults(grid, ["Sea Lake", "Forest", "River"], np.arange(2), probs, np.array([1.0, 0.0]))
    specs = field_specs(results.class_names, k=3)
    names = [name for name, _ in specs]
    assert names[:7] == ["class", "class_id", "prob", "top2_class", "top2_prob", "top3_class", "top3_prob"]
    assert names[-3:] == ["p_Sea_Lake", "p_Forest", "p_River"] == [probability_field(c) for c in results.class_names]
    first, skipped = rows(results, k=3)
    assert len(first) == len(skipped) == len(specs)
    assert first[:5] == ["Sea Lake", 0, pytest.approx(0.7), "Forest", pytest.approx(0.2)]
    assert skipped[:3] == [NODATA_CLASS, -1, None] and skipped[names.index("valid_frac")] == 0.0


def test_staged_outputs_appear_together_or_not_at_all(tmp_path):
    finals = [tmp_path / "out" / "a.gpkg", tmp_path / "out" / "b.tif"]
    with StagedOutputs() as staging:
        for final in finals:
            staging.path(final).write_text("x")
        assert not any(f.exists() for f in finals)
        staging.commit()
    assert all(f.read_text() == "x" for f in finals)
    assert sorted(p.name for p in finals[0].parent.iterdir()) == ["a.gpkg", "b.tif"]  # no staging folder left
    with pytest.raises(RuntimeError), StagedOutputs() as staging:
        staging.path(tmp_path / "out" / "c.tif").write_text("half")
        raise RuntimeError("writer failed")
    assert sorted(p.name for p in finals[0].parent.iterdir()) == ["a.gpkg", "b.tif"]
