"""Prediction-probability heatmap: per-tile probabilities of a "Classify layer" result as a raster.

The classify output holds one polygon per tile with a ``p_<class>`` field per class. Tile centres
lie on a regular lattice (the tile stride); the raster has one cell per tile, centred on it and one
stride wide (the classify rasters' own alignment), so it overlays the tiles exactly. Optionally the
tile probabilities are fused with a location prior evaluated at the tile centres, streamed through
the location heatmaps' engine (:meth:`~.heatmap.LocationHeatmap.stream`) over the lattice; tiles
whose centre has no place on Earth are then nodata.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..contract.errors import GeoSslError
from ..contract.onnx_model import OnnxModel
from ..contract.prior_exponent import check_override
from ..contract.probabilities import fuse, row_sums
from ..contract.schema import Kind
from .cell_latlon import LatLonTransform
from .geotiff import GeoTiffWriter
from .grid import CellGrid
from .heatmap import (
    ENTROPY,
    MAX_PROBABILITY,
    MOST_LIKELY,
    NUMPY_TYPES,
    HeatmapResult,
    LocationHeatmap,
    Quantity,
    choose_quantity,
)
from .kinds import HeatmapKind
from .tile_table import probability_fields
from .tiling import Extent

LATTICE_TOLERANCE = 0.01  # fraction of a cell


@dataclass
class TileProbabilities:
    """Tile rectangles (CRS units) and their class probabilities; NaN rows are skipped tiles."""

    class_names: list[str]
    probabilities: np.ndarray
    xmin: np.ndarray
    ymin: np.ndarray
    xmax: np.ndarray
    ymax: np.ndarray
    class_colors: list[str] = field(default_factory=list)  # the Classify layer's legend colours, if known

    @property
    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        return (self.xmin + self.xmax) / 2, (self.ymin + self.ymax) / 2


def tile_cells(tiles: TileProbabilities) -> tuple[CellGrid, np.ndarray, np.ndarray]:
    """The cell grid of the tile lattice and each tile's (row, col); :class:`GeoSslError` if irregular."""
    if len(tiles.xmin) == 0:
        raise GeoSslError("the classified layer has no tiles")
    cx, cy = tiles.centres
    step_x = lattice_step(cx, float(np.median(tiles.xmax - tiles.xmin)))
    step_y = lattice_step(cy, float(np.median(tiles.ymax - tiles.ymin)))
    col_f, row_f = (cx - cx.min()) / step_x, (cy.max() - cy) / step_y
    cols, rows = np.rint(col_f).astype(np.int64), np.rint(row_f).astype(np.int64)
    if max(np.abs(col_f - cols).max(), np.abs(row_f - rows).max()) > LATTICE_TOLERANCE:
        raise GeoSslError("the tiles of this layer do not lie on a regular grid: is it a Classify layer result?")
    extent = Extent(cx.min() - step_x / 2, cy.min() - step_y / 2, cx.max() + step_x / 2, cy.max() + step_y / 2)
    grid = CellGrid.from_shape(extent, int(cols.max()) + 1, int(rows.max()) + 1)
    return grid, rows, cols


def prediction_heatmap(tiles: TileProbabilities, path: str | os.PathLike, wkt: str, choice: str,
                       prior: OnnxModel | None = None, to_latlon: LatLonTransform | None = None,
                       prior_exponent: float = 1.0, source: str = "tiles") -> HeatmapResult:
    """Write the chosen quantity per tile (class probability, max probability, entropy, or class);
    with a ``prior``, of P(y | tile) · P(y | location)^α, α = ``prior_exponent``. ``source`` names the
    tiles in the title (their layer)."""
    quantity = choose_quantity(choice, tiles.class_names, (MAX_PROBABILITY, ENTROPY, MOST_LIKELY))
    grid, rows, cols = tile_cells(tiles)
    lattice = np.full((grid.n_cells, len(tiles.class_names)), np.nan, dtype=np.float32)
    lattice[rows * grid.n_cols + cols] = tiles.probabilities
    done = np.isfinite(row_sums(lattice))  # skipped tiles have NaN probabilities
    class_map = quantity.is_class_map
    data_type, nodata = quantity.raster
    result = HeatmapResult(Path(path), HeatmapKind.PREDICTION, prediction_title(quantity, prior is not None, source),
                           "paletted" if class_map else "pseudocolor", quantity.label, list(tiles.class_names),
                           class_colors=list(tiles.class_colors), total_cells=grid.n_cells)
    if prior is not None:
        heatmap = _prior_heatmap(prior, to_latlon, tiles.class_names)
        check_override(prior_exponent)
        heatmap.stream(grid, wkt,
                       lambda p_location, cells: quantity.values(fuse(lattice[cells], p_location, prior_exponent)),
                       data_type, nodata, [quantity.label], result, wanted=done, reduce_per_batch=False)
        result.notes.append(f"fused with the location prior {prior.metadata.name} (α = {prior_exponent:g}) at "
                            f"{result.valid_cells} tile centres")
        return result
    image = np.full(grid.n_cells, nodata, dtype=NUMPY_TYPES[data_type])
    values = quantity.values(lattice[done])
    image[done] = values
    result.valid_cells = len(values)
    if values.size and not class_map:
        result.value_range = (float(values.min()), float(values.max()))
    with GeoTiffWriter(path, grid.n_cols, grid.n_rows, 1, data_type, grid.geotransform(), wkt, nodata,
                       [quantity.label]) as out:
        out.write(0, image.reshape(grid.n_rows, grid.n_cols))
    return result


def _prior_heatmap(prior: OnnxModel, to_latlon: LatLonTransform | None, class_names: list[str]) -> LocationHeatmap:
    """The location heatmap engine for a prior over exactly the layer's classes."""
    same = probability_fields(prior.metadata.class_names) == probability_fields(class_names)
    if prior.metadata.kind != Kind.LOCATION_PRIOR or not same:
        raise GeoSslError(f"{prior.path.name} is not a location prior over the layer's classes "
                          f"({', '.join(class_names)}): cannot fuse")
    if to_latlon is None:
        raise GeoSslError("fusing with a location prior needs the transformation of tile centres to (lat, lon)")
    return LocationHeatmap(prior, to_latlon)


def prediction_title(quantity: Quantity, fused: bool, source: str = "tiles") -> str:
    """Layer name of a prediction heatmap: what, of which tiles (their layer's name)."""
    what = {MAX_PROBABILITY: "max probability", ENTROPY: "entropy", MOST_LIKELY: "predicted class"}.get(
        quantity.label, f"P({quantity.label})")
    return f"{what} of {source}" + (" fused with location prior" if fused else "")


def lattice_step(centres: np.ndarray, tile_size: float) -> float:
    """Smallest spacing of distinct centre coordinates; the tile size for a single row/column."""
    unique = np.unique(np.round(centres / tile_size, 6)) * tile_size
    gaps = np.diff(unique)
    gaps = gaps[gaps > tile_size * 1e-6]
    return float(gaps.min()) if gaps.size else tile_size
