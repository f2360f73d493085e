"""Dense-stride averaging: each cell = mean of the tiles that wholly contain it (brute force reference)."""

from __future__ import annotations

import numpy as np
import pytest

from qgis_csp_plugin.core.classify import TileResults
from qgis_csp_plugin.core.dense import average_overlaps, box_mean, cell_halfwidth, tile_cell_boxes
from qgis_csp_plugin.core.tiling import Extent, TileGrid


@pytest.mark.parametrize("tile, stride, h", [(64, 64, 0), (64, 32, 0), (64, 16, 1), (64, 8, 3), (64, 1, 31),
                                             (32, 12, 0), (33, 8, 1)])
def test_halfwidth_counts_the_tiles_that_contain_the_cell(tile, stride, h):
    assert cell_halfwidth(tile, stride) == h
    pad = (tile - stride) / 2  # the cell of tile 0 spans [pad, pad + stride); tile c spans [c*stride, c*stride+tile)
    containing = [c for c in range(-tile, tile) if c * stride <= pad and pad + stride <= c * stride + tile]
    assert containing == list(range(-h, h + 1))


def test_box_mean_equals_brute_force_and_ignores_nan():
    rng = np.random.default_rng(0)
    values = rng.random((9, 11, 3)).astype(np.float32)
    values[2, 3] = np.nan
    values[0, :] = np.nan
    got = box_mean(values, 2)
    for r in range(9):
        for c in range(11):
            window = values[max(0, r - 2):r + 3, max(0, c - 2):c + 3].reshape(-1, 3)
            window = window[np.isfinite(window[:, 0])]
            expected = window.mean(axis=0) if len(window) else np.full(3, np.nan)
            np.testing.assert_allclose(got[r, c], expected, rtol=1e-5, equal_nan=True)


def test_average_overlaps_on_a_grid_with_skipped_and_unprocessed_tiles():
    grid = TileGrid.cover(Extent(0, 0, 160, 160), 1.0, 1.0, tile_size=64, overlap=1 - 8 / 64)
    assert grid.stride == 8 and cell_halfwidth(64, 8) == 3
    rng = np.random.default_rng(1)
    keep = np.flatnonzero(rng.random(grid.n_tiles) < 0.9)  # e.g. tiles outside a polygon extent
    probabilities = rng.dirichlet(np.ones(4), len(keep)).astype(np.float32)
    valid = np.ones(len(keep), np.float32)
    valid[5] = 0
    probabilities[5] = np.nan
    results = average_overlaps(TileResults(grid, list("abcd"), keep, probabilities, valid))
    assert np.isnan(results.probabilities[5]).all() and results.class_ids[5] == -1
    assert np.allclose(np.nansum(results.probabilities, axis=1)[valid > 0], 1.0, atol=1e-5)
    row, col = divmod(int(keep[40]), grid.n_cols)
    near = [i for i, k in enumerate(keep) if i != 5 and abs(k // grid.n_cols - row) <= 3
            and abs(k % grid.n_cols - col) <= 3]
    np.testing.assert_allclose(results.probabilities[40], probabilities[near].mean(axis=0), rtol=1e-5)


def test_stride_of_half_a_tile_or_more_leaves_results_unchanged():
    grid = TileGrid.cover(Extent(0, 0, 100, 100), 1.0, 1.0, tile_size=32, overlap=0.5)
    results = TileResults(grid, ["a", "b"], np.arange(grid.n_tiles), np.full((grid.n_tiles, 2), 0.5, np.float32),
                          np.ones(grid.n_tiles, np.float32))
    assert average_overlaps(results) is results


def test_tile_cell_boxes_recover_the_cells_of_overlapping_tiles():
    """64 px tiles at 10 m with a 16 px stride: each tile's cell is the 160 m square at its centre."""
    grid = TileGrid.cover(Extent(0, 0, 1280, 960), 10.0, 10.0, 64, 0.75)
    boxes = tile_boxes(grid)
    xmin, ymin, xmax, ymax = tile_cell_boxes(*boxes.T)
    assert np.allclose(xmax - xmin, 160) and np.allclose(ymax - ymin, 160)
    assert np.allclose((xmin + xmax) / 2, (boxes[:, 0] + boxes[:, 2]) / 2)
    cell = grid.cell_geotransform()  # the class raster's cells: the same squares
    assert (xmin.min(), ymax.max()) == pytest.approx((cell[0], cell[3]))
    adjacent = TileGrid.cover(Extent(0, 0, 1280, 960), 10.0, 10.0, 64, 0.0)
    assert tile_cell_boxes(*tile_boxes(adjacent).T) is None
    mixed = boxes.copy()
    mixed[0, 2] += 5  # polygons of different sizes are not tiles of one run
    assert tile_cell_boxes(*mixed.T) is None


def tile_boxes(grid: TileGrid) -> np.ndarray:
    return np.array([[e.xmin, e.ymin, e.xmax, e.ymax] for e in map(grid.tile_extent, range(grid.n_tiles))])
