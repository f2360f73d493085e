"""All-or-nothing outputs: a failed rename leaves no output under a final name."""

import pytest

from qgis_csp_plugin.contract.errors import CspError
from qgis_csp_plugin.core.staging import StagedOutputs


def test_commit_renames_all_and_cleans_up(tmp_path):
    with StagedOutputs() as staged:
        for name in ("a.tif", "b.gpkg"):
            staged.path(tmp_path / name).write_text(name)
        staged.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "b.gpkg"]


def test_failed_commit_rolls_back_the_renamed_files(tmp_path):
    staged = StagedOutputs()
    staged.path(tmp_path / "a.tif").write_text("a")
    (tmp_path / "b.gpkg").mkdir()  # a directory in the way: renaming a file onto it fails
    (tmp_path / "b.gpkg" / "keep").write_text("x")
    staged.path(tmp_path / "b.gpkg").write_text("b")
    with pytest.raises(CspError, match="nothing was written"):
        staged.commit()
    assert not (tmp_path / "a.tif").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["b.gpkg"]  # only what was there before


def test_gdal_sidecars_move_with_their_file_and_stale_ones_go(tmp_path):
    (tmp_path / "b.tif.aux.xml").write_text("stale")
    with StagedOutputs() as staged:
        a = staged.path(tmp_path / "a.tif")
        a.write_text("a")
        a.with_name("a.tif.aux.xml").write_text("categories")
        staged.path(tmp_path / "b.tif").write_text("b")
        staged.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "a.tif.aux.xml", "b.tif"]
    assert (tmp_path / "a.tif.aux.xml").read_text() == "categories"
