"""Heatmap cell grid: size from cell size or raster shape, geotransform, row blocks, centres."""

import numpy as np
import pytest

from qgis_csp_plugin.contract.errors import GeoSslError
from qgis_csp_plugin.core.grid import MAX_CELLS, CellGrid
from qgis_csp_plugin.core.tiling import Extent


def test_cell_size_covers_extent_and_geotransform_is_north_up():
    grid = CellGrid.from_cell_size(Extent(-180, -90, 180, 90), 1.0)
    assert (grid.n_cols, grid.n_rows) == (360, 180)
    assert grid.geotransform() == (-180, 1.0, 0.0, 90, 0.0, -1.0)
    partial = CellGrid.from_cell_size(Extent(0, 0, 10, 5), 3.0)
    assert (partial.n_cols, partial.n_rows) == (4, 2)  # last column/row run past the extent
    assert partial.extent == Extent(0, -1, 12, 5)


def test_shape_gives_exact_cells():
    grid = CellGrid.from_shape(Extent(0, 0, 100, 50), 4, 2)
    assert (grid.cell_w, grid.cell_h) == (25, 25)
    assert grid.extent == Extent(0, 0, 100, 50)


def test_row_blocks_cover_every_row_once_within_budget():
    grid = CellGrid.from_shape(Extent(0, 0, 10, 10), 7, 23)
    blocks = list(grid.row_blocks(20))
    assert blocks[0] == (0, 2) and blocks[-1][1] == 23
    assert [r for r0, r1 in blocks for r in range(r0, r1)] == list(range(23))
    assert list(CellGrid.from_shape(Extent(0, 0, 1, 1), 100, 2).row_blocks(10)) == [(0, 1), (1, 2)]


def test_centres_are_row_major_from_the_top():
    grid = CellGrid.from_shape(Extent(0, 0, 4, 2), 4, 2)
    xs, ys = grid.centres(0, 2)
    np.testing.assert_allclose(xs, [0.5, 1.5, 2.5, 3.5] * 2)
    np.testing.assert_allclose(ys, [1.5] * 4 + [0.5] * 4)
    xs, ys = grid.centres(1, 2)
    np.testing.assert_allclose(ys, [0.5] * 4)


def test_sample_is_bounded_and_on_cell_centres():
    grid = CellGrid.from_shape(Extent(0, 0, 1000, 1000), 1000, 1000)
    xs, ys = grid.sample_centres(10_000)
    assert 2_500 < len(xs) <= 10_000
    np.testing.assert_allclose(xs % 1, 0.5)
    assert xs.min() < 10 and xs.max() > 990 and ys.min() < 10 and ys.max() > 990


@pytest.mark.parametrize("make", [
    lambda: CellGrid.from_cell_size(Extent(0, 0, 1, 1), 0.0),
    lambda: CellGrid.from_cell_size(Extent(0, 0, 0, 1), 1.0),
    lambda: CellGrid.from_shape(Extent(0, 0, 1, 1), 0, 5),
    lambda: CellGrid.from_shape(Extent(0, 0, 1, 1), MAX_CELLS, 2),
])
def test_unusable_requests_raise_user_errors(make):
    with pytest.raises(GeoSslError):
        make()
