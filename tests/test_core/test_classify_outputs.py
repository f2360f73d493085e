"""The tile attribute table and all-or-nothing output staging."""

import numpy as np
import pytest

from qgis_csp_plugin.core.classify import TileResults
from qgis_csp_plugin.core.staging import StagedOutputs
from qgis_csp_plugin.core.tile_table import NODATA_CLASS, field_specs, probability_field, rows
from qgis_csp_plugin.core.tiling import Extent, TileGrid


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
