"""All-or-nothing outputs: a failed rename leaves no output under a final name."""

import pytest

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.core.staging import StagedOutputs, check_output_paths


def test_commit_renames_all_and_cleans_up(tmp_path):
    with StagedOutputs() as staged:
        for name in ("a.tif", "b.gpkg"):
            staged.path(tmp_path / name).write_text(name)
        staged.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "b.gpkg"]


def test_failed_commit_puts_the_previous_files_back(tmp_path):
    (tmp_path / "a.tif").write_text("old a")
    staged = StagedOutputs()
    staged.path(tmp_path / "a.tif").write_text("new a")
    staged.path(tmp_path / "b.gpkg").unlink(missing_ok=True)  # vanished before the commit: its rename fails
    with pytest.raises(GeoSslError, match="nothing was written, earlier files are unchanged"):
        staged.commit()
    assert [p.name for p in tmp_path.iterdir()] == ["a.tif"] and (tmp_path / "a.tif").read_text() == "old a"


def test_an_output_that_is_a_folder_is_refused_before_anything_is_touched(tmp_path):
    """Issue 26 point 6: a folder in the way used to make the rollback delete the other, earlier outputs."""
    (tmp_path / "a.tif").write_text("old a")
    (tmp_path / "b.gpkg").mkdir()
    (tmp_path / "b.gpkg" / "keep").write_text("x")
    with pytest.raises(GeoSslError, match="the output .*b.gpkg is an existing folder: give a file name"):
        check_output_paths([tmp_path / "a.tif", tmp_path / "b.gpkg"])
    staged = StagedOutputs()
    staged.path(tmp_path / "a.tif").write_text("new a")
    with pytest.raises(GeoSslError, match="is an existing folder"):
        staged.path(tmp_path / "b.gpkg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "b.gpkg"]
    assert (tmp_path / "a.tif").read_text() == "old a" and (tmp_path / "b.gpkg" / "keep").read_text() == "x"
    with pytest.raises(GeoSslError, match="given for two outputs"):
        check_output_paths([tmp_path / "c.tif", tmp_path / "." / "c.tif"])


def test_gdal_sidecars_move_with_their_file_and_stale_companions_go(tmp_path):
    for stale in ("b.tif.aux.xml", "b.tif.ovr", "b.tif.msk", "a.tif.ovr"):
        (tmp_path / stale).write_text("stale")
    with StagedOutputs() as staged:
        a = staged.path(tmp_path / "a.tif")
        a.write_text("a")
        a.with_name("a.tif.aux.xml").write_text("categories")
        staged.path(tmp_path / "b.tif").write_text("b")
        staged.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "a.tif.aux.xml", "b.tif"]
    assert (tmp_path / "a.tif.aux.xml").read_text() == "categories"
