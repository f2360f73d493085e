"""Regular heatmap grid over an extent: cell size, GDAL geotransform, row blocks and cell centres.

Rows run north to south (row 0 at ``ymax``). The grid is anchored at the extent's top-left corner;
with a cell size that does not divide the extent, the last column/row runs past it. Pure numpy.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..contract.errors import GeoSslError
from .tiling import Extent, ExtentError

MAX_CELLS = 100_000_000


class GridError(GeoSslError):
    """The requested cell size or raster size is unusable."""


@dataclass(frozen=True)
class CellGrid:
    """``n_cols`` × ``n_rows`` cells of ``cell_w`` × ``cell_h`` CRS units from (``xmin``, ``ymax``)."""

    xmin: float
    ymax: float
    cell_w: float
    cell_h: float
    n_cols: int
    n_rows: int

    @classmethod
    def from_cell_size(cls, extent: Extent, cell_w: float, cell_h: float | None = None) -> CellGrid:
        """Cells of a given size (square unless ``cell_h`` is given) covering ``extent``."""
        cell_h = cell_w if cell_h is None else cell_h
        _check_extent(extent)
        if not (cell_w > 0 and cell_h > 0 and math.isfinite(cell_w) and math.isfinite(cell_h)):
            raise GridError(f"cell size must be positive, got {cell_w:g} x {cell_h:g}")
        n_cols = max(1, math.ceil(extent.width / cell_w - 1e-9))
        n_rows = max(1, math.ceil(extent.height / cell_h - 1e-9))
        return cls._checked(extent, cell_w, cell_h, n_cols, n_rows)

    @classmethod
    def from_shape(cls, extent: Extent, width: int, height: int) -> CellGrid:
        """Exactly ``width`` × ``height`` cells spanning ``extent``."""
        _check_extent(extent)
        if width < 1 or height < 1:
            raise GridError(f"raster size must be at least 1 x 1 cells, got {width} x {height}")
        return cls._checked(extent, extent.width / width, extent.height / height, int(width), int(height))

    @classmethod
    def _checked(cls, extent: Extent, cell_w: float, cell_h: float, n_cols: int, n_rows: int) -> CellGrid:
        if n_cols * n_rows > MAX_CELLS:
            raise GridError(f"{n_cols:,} x {n_rows:,} cells exceed the limit of {MAX_CELLS:,}: "
                            "use a larger cell size or a smaller extent")
        return cls(extent.xmin, extent.ymax, cell_w, cell_h, n_cols, n_rows)

    @property
    def n_cells(self) -> int:
        return self.n_cols * self.n_rows

    @property
    def extent(self) -> Extent:
        """Extent actually covered by the cells (may exceed the requested one by < 1 cell)."""
        return Extent(self.xmin, self.ymax - self.n_rows * self.cell_h,
                      self.xmin + self.n_cols * self.cell_w, self.ymax)

    def geotransform(self) -> tuple[float, float, float, float, float, float]:
        """GDAL geotransform (north-up)."""
        return (self.xmin, self.cell_w, 0.0, self.ymax, 0.0, -self.cell_h)

    def row_blocks(self, max_cells: int) -> Iterator[tuple[int, int]]:
        """Row ranges ``(r0, r1)`` of at most ``max_cells`` cells each (at least one row)."""
        rows = max(1, max_cells // self.n_cols)
        for r0 in range(0, self.n_rows, rows):
            yield r0, min(self.n_rows, r0 + rows)

    def axes(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        """x of every column's centres and y of the centres of rows ``r0:r1`` (float64)."""
        return (self.xmin + (np.arange(self.n_cols) + 0.5) * self.cell_w,
                self.ymax - (np.arange(r0, r1) + 0.5) * self.cell_h)

    def centres(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        """x, y (float64, row-major, flattened) of the cell centres of rows ``r0:r1``."""
        xs, ys = self.axes(r0, r1)
        return np.tile(xs, r1 - r0), np.repeat(ys, self.n_cols)

    def sample_centres(self, max_cells: int) -> tuple[np.ndarray, np.ndarray]:
        """Centres of a regular subset of at most about ``max_cells`` cells spread over the grid."""
        step = max(1, math.ceil(math.sqrt(self.n_cells / max_cells)))
        cols, rows = np.arange(0, self.n_cols, step), np.arange(0, self.n_rows, step)
        xs = self.xmin + (cols + 0.5) * self.cell_w
        ys = self.ymax - (rows + 0.5) * self.cell_h
        return np.tile(xs, len(rows)), np.repeat(ys, len(cols))


def _check_extent(extent: Extent) -> None:
    if extent.is_empty:
        raise ExtentError("the heatmap extent is empty")
