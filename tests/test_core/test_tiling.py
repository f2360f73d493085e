"""Tile grid geometry: counts, strides, strips, centres, pixel windows, resolutions, limits."""

import math

import numpy as np
import pytest

from qgis_csp_plugin.core.tiling import (
    Extent,
    ExtentError,
    TileGrid,
    TooManyTilesError,
    default_resolution,
    layer_resolution_m,
    pixel_window,
    resolution_in_layer_units,
    resolution_warning,
    window_extent,
)

LC08 = Extent(732345.0, -2819715.0, 763065.0, -2788995.0)  # the real 1024 px, 30 m Landsat scene


def test_grid_covers_extent_exactly_when_it_divides():
    grid = TileGrid.cover(LC08, 30.0, 30.0, 32, 0.0)
    assert (grid.n_cols, grid.n_rows, grid.n_tiles, grid.stride) == (32, 32, 1024, 32)
    last = grid.tile_extent(grid.n_tiles - 1)
    assert math.isclose(last.xmax, LC08.xmax) and math.isclose(last.ymin, LC08.ymin)


def test_grid_overhangs_when_it_does_not_divide_and_overlap_shrinks_the_stride():
    grid = TileGrid.cover(LC08, 30.0, 30.0, 100, 0.0)
    assert grid.n_cols == 11  # 1024 px need 11 tiles of 100 px
    overlapping = TileGrid.cover(LC08, 30.0, 30.0, 64, 0.5)
    assert overlapping.stride == 32 and overlapping.n_cols == 31  # (1024 - 64) / 32 + 1
    first, second = overlapping.tile_extent(0), overlapping.tile_extent(1)
    assert math.isclose(second.xmin - first.xmin, 32 * 30.0)


def test_strip_and_centres_agree_with_tile_extents():
    grid = TileGrid.cover(LC08, 60.0, 60.0, 16, 0.25)
    strip = grid.strip(3)
    assert strip.height == 16 and strip.width == (grid.n_cols - 1) * grid.stride + 16
    index = 3 * grid.n_cols + 5
    tile = grid.tile_extent(index)
    assert math.isclose(strip.extent.ymax, tile.ymax)
    xs, ys = grid.centres(np.array([index]))
    assert math.isclose(xs[0], (tile.xmin + tile.xmax) / 2) and math.isclose(ys[0], (tile.ymin + tile.ymax) / 2)


def test_cell_geotransform_centres_cells_on_tiles():
    grid = TileGrid.cover(LC08, 30.0, 30.0, 64, 0.5)
    x0, dx, _, y0, _, dy = grid.cell_geotransform()
    xs, ys = grid.centres(np.array([grid.n_cols + 2]))
    assert math.isclose(x0 + 2.5 * dx, xs[0]) and math.isclose(y0 + 1.5 * dy, ys[0])


def test_pixel_window_clips_to_the_layer():
    layer = Extent(0.0, 0.0, 100.0, 100.0)
    grid = TileGrid.cover(Extent(-50.0, 50.0, 150.0, 250.0), 10.0, 10.0, 10, 0.0)
    assert pixel_window(grid.strip(0), layer) is None  # y 150..250 lies above the layer
    strip = grid.strip(1)  # y 50..150, x -50..150: the layer covers x 0..100, y 50..100
    window = pixel_window(strip, layer)
    assert window == (5, 15, 5, 10)
    assert window_extent(strip, window) == Extent(0.0, 50.0, 100.0, 100.0)


def test_geographic_resolution_keeps_pixels_square_on_the_ground():
    res_x, res_y = resolution_in_layer_units(10.0, True, latitude=60.0)
    assert math.isclose(res_y * 111_320, 10.0) and math.isclose(res_x, 2 * res_y, rel_tol=1e-9)
    assert resolution_in_layer_units(10.0, False, units_per_metre=3.28084) == pytest.approx((32.8084, 32.8084))
    assert layer_resolution_m(res_x, res_y, True, 60.0) == pytest.approx(10.0)


def test_default_resolution_is_the_layers_within_2x_of_the_models():
    assert default_resolution(30.0, 10.0) == 10.0  # Landsat under a 10 m model: the model's scale
    assert default_resolution(15.0, 10.0) == 15.0 and default_resolution(5.0, 10.0) == 5.0  # no needless resampling
    assert default_resolution(None, 10.0) == 10.0  # a web service has no own pixel size


def test_resolution_warning_only_for_large_differences_the_user_chose():
    assert resolution_warning(12.0, 10.0, 10.0) is None
    assert "upsampled by 3.0x" in resolution_warning(30.0, 10.0, 10.0)
    assert "downsampled by 4.0x" in resolution_warning(30.0, 120.0, 60.0)
    scale = resolution_warning(30.0, 40.0, 10.0)  # hardly resampled, but 4x the model's scale
    assert "trained at 10 m per pixel: at 40 m it sees objects 4.0x smaller" in scale


def test_bad_grids_raise_clear_errors():
    with pytest.raises(ExtentError, match="empty"):
        TileGrid.cover(Extent(5.0, 5.0, 5.0, 9.0), 1.0, 1.0, 8, 0.0)
    grid = TileGrid.cover(LC08, 1.0, 1.0, 8, 0.0)
    with pytest.raises(TooManyTilesError, match="exceed the limit of 1,000") as info:
        grid.check_tile_count(1000)
    assert info.value.n_tiles == grid.n_tiles == 3840 * 3840
