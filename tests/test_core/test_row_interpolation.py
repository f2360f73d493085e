"""Fast (lat, lon) of grid rows: interpolated between exact PROJ transforms, checked against PROJ itself.

Every case compares :meth:`LatLonTransform.grid_rows` with the exact per-point transform: the same
cells must be on Earth, and each interpolated (lat, lon) projected back with ``osgeo.osr`` (not the
code under test) must land within a quarter of a cell of its cell centre (the interpolation is
checked to 1/8 of a cell at segment middles).
"""

import numpy as np
import pytest
from osgeo import osr

from qgis_csp_plugin.core import row_interpolation
from qgis_csp_plugin.core.cell_latlon import ProjTransform, latlon_transform
from qgis_csp_plugin.core.grid import CellGrid
from qgis_csp_plugin.core.tiling import Extent

CASES = {
    "UTM 33N": ("EPSG:32633", Extent(200_000, 4_000_000, 800_000, 6_000_000)),
    "UTM 60N across the dateline": ("EPSG:32660", Extent(-2e6, 0, 3e6, 9e6)),
    "Equal Earth world, corners off Earth": ("EPSG:8857", Extent(-17_243_959, -8_392_928, 17_243_959, 8_392_928)),
    "Web Mercator world": ("EPSG:3857", Extent(-20_037_508, -20_037_508, 20_037_508, 20_037_508)),
    "Arctic polar stereographic": ("EPSG:3413", Extent(-5e6, -5e6, 5e6, 5e6)),
    "Antarctic polar stereographic": ("EPSG:3031", Extent(-4e6, -4e6, 4e6, 4e6)),
    "Pacific-centred Mercator": ("EPSG:3832", Extent(-2e7, -1.5e7, 2e7, 1.5e7)),
    "orthographic disc over the dateline": ("+proj=ortho +lat_0=40 +lon_0=170 +datum=WGS84",
                                            Extent(-6.5e6, -6.5e6, 6.5e6, 6.5e6)),
    "interrupted Goode homolosine": ("ESRI:54052", Extent(-1.8e7, -9e6, 1.8e7, 9e6)),
    "NAD83 geographic": ("EPSG:4269", Extent(-180, -90, 180, 90)),
}


def srs(definition: str) -> osr.SpatialReference:
    result = osr.SpatialReference()
    result.SetFromUserInput(definition)
    result.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return result


def cells_off_centre(definition: str, latlon: np.ndarray, xs: np.ndarray, ys: np.ndarray, cell: float) -> np.ndarray:
    """Distance in cells between the cell centres and their (lat, lon) projected back by osr."""
    forward = osr.CoordinateTransformation(srs("EPSG:4326"), srs(definition))
    back = np.array(forward.TransformPoints(latlon[:, ::-1].astype(np.float64)))[:, :2]
    return np.hypot(back[:, 0] - xs, back[:, 1] - ys) / cell


@pytest.mark.parametrize("name", list(CASES))
def test_grid_rows_match_proj_within_a_quarter_cell(name):
    definition, extent = CASES[name]
    grid = CellGrid.from_shape(extent, 250, 150)
    transform = latlon_transform(srs(definition).ExportToWkt(), 0.01 * grid.cell_w)
    assert isinstance(transform, ProjTransform)
    latlon, on_earth = transform.grid_rows(grid, 0, grid.n_rows)
    xs, ys = grid.centres(0, grid.n_rows)
    exact, exact_on_earth = transform(xs, ys)
    if "interrupted" in name:  # a gap narrower than a cell, between checked cells, is bridged
        assert (on_earth != exact_on_earth).mean() < 1e-3 and not (exact_on_earth & ~on_earth).any()
    else:
        np.testing.assert_array_equal(on_earth, exact_on_earth)
    assert latlon.dtype == np.float32 and (latlon[~on_earth] == 0).all()
    assert (np.abs(latlon[:, 0]) <= 90).all() and (latlon[:, 1] >= -180).all() and (latlon[:, 1] < 180).all()
    off = cells_off_centre(definition, latlon[on_earth], xs[on_earth], ys[on_earth], grid.cell_w)
    assert off.max() < 0.25, f"{name}: an interpolated cell is {off.max():.3f} cells off its centre"


def test_row_blocks_give_the_rows_of_the_whole_grid():
    definition, extent = CASES["Arctic polar stereographic"]
    grid = CellGrid.from_shape(extent, 100, 60)
    transform = latlon_transform(srs(definition).ExportToWkt(), 0.01 * grid.cell_w)
    whole, whole_on_earth = transform.grid_rows(grid, 0, grid.n_rows)
    part, part_on_earth = transform.grid_rows(grid, 17, 40)
    np.testing.assert_array_equal(part, whole[17 * 100:40 * 100])
    np.testing.assert_array_equal(part_on_earth, whole_on_earth[17 * 100:40 * 100])


@pytest.mark.parametrize(("name", "most"), [("UTM 33N", 0.07), ("Arctic polar stereographic", 0.10),
                                            ("Equal Earth world, corners off Earth", 0.12)])
def test_only_a_few_cells_are_transformed_exactly(name, most):
    definition, extent = CASES[name]
    grid = CellGrid.from_shape(extent, 512, 256)
    transform = latlon_transform(srs(definition).ExportToWkt(), 0.01 * grid.cell_w)
    counted = []

    def exact(xs, ys):
        counted.append(len(xs))
        return transform.exact(xs, ys)

    xs, ys = grid.axes(0, grid.n_rows)
    lat, lon, on_earth = row_interpolation.interpolated_rows(exact, xs[0], grid.cell_w, grid.n_cols, ys)
    assert lat.shape == lon.shape == on_earth.shape == (256, 512)
    assert sum(counted) / grid.n_cells <= most  # the rest is interpolated


def test_a_row_crossing_the_pole_and_the_dateline_is_continuous():
    """North polar stereographic row through the pole: the longitudes jump by 180° there."""
    grid = CellGrid.from_shape(Extent(-2e6, -1e4, 2e6, 1e4), 400, 1)  # one row through the pole
    transform = latlon_transform(srs("EPSG:3413").ExportToWkt(), 0.01 * grid.cell_w)
    latlon, on_earth = transform.grid_rows(grid, 0, 1)
    xs, ys = grid.centres(0, 1)
    assert on_earth.all()
    assert cells_off_centre("EPSG:3413", latlon, xs, ys, grid.cell_w).max() < 0.25
    assert latlon[:, 0].max() > 89.9 and np.ptp(latlon[:200, 1]) < 1e-3 and np.ptp(latlon[200:, 1]) < 1e-3
