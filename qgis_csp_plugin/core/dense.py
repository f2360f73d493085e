"""Dense class maps: with a stride below the tile size, each output cell (``stride`` px square, centred
on its tile) gets the mean class probabilities of every tile that wholly contains it.

Cell ``(r, c)`` spans pixels ``[c·s + p, c·s + p + s)`` with ``p = (T − s) / 2``; tile ``c'`` spans
``[c'·s, c'·s + T)``, so the tiles containing the cell are ``|c' − c| ≤ h = ⌊p / s⌋`` in each axis:
a ``(2h + 1)²`` box mean over the tile grid (skipped, all-nodata tiles excluded). With
``T = 64, s = 8`` that is 7 × 7 = 49 tiles per cell; with ``s ≥ T/2`` (h = 0) nothing changes.
Computed with cumulative sums, separably: O(tiles · classes) time and memory.

The tile polygons of a dense run overlap; :func:`tile_cell_boxes` recovers each tile's cell from them
(for assessments, which need one class per place and areas that are not counted several times).
"""

from __future__ import annotations

import numpy as np

from .classify import TileResults
from .prediction_heatmap import lattice_step

SAME_SIZE = 1e-6  # relative tolerance on tile sizes and spacings


def cell_halfwidth(tile_size: int, stride: int) -> int:
    """``h``: tiles on each side of a cell's own tile that also contain the whole cell."""
    return (tile_size - stride) // (2 * stride)


def box_mean(values: np.ndarray, h: int) -> np.ndarray:
    """NaN-ignoring mean over ``(2h + 1)²`` windows of the first two axes of ``values`` ``(R, C, K)``."""
    weight = np.isfinite(values[..., 0]).astype(np.float64)
    total = np.nan_to_num(values.astype(np.float64)) * weight[..., None]
    for axis in (0, 1):
        total, weight = _box_sum(total, h, axis), _box_sum(weight, h, axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / weight[..., None]).astype(np.float32)


def _box_sum(values: np.ndarray, h: int, axis: int) -> np.ndarray:
    n = values.shape[axis]
    padded = np.concatenate([np.zeros_like(np.take(values, [0], axis=axis)), np.cumsum(values, axis=axis)], axis=axis)
    upper = np.minimum(np.arange(n) + h + 1, n)
    lower = np.maximum(np.arange(n) - h, 0)
    return np.take(padded, upper, axis=axis) - np.take(padded, lower, axis=axis)


def average_overlaps(results: TileResults) -> TileResults:
    """``results`` with each processed tile's probabilities replaced by its cell's box mean."""
    grid = results.grid
    h = cell_halfwidth(grid.tile_size, grid.stride)
    if h == 0:
        return results
    n_classes = results.probabilities.shape[1]
    full = np.full((grid.n_tiles, n_classes), np.nan, dtype=np.float32)
    full[results.indices] = results.probabilities
    averaged = box_mean(full.reshape(grid.n_rows, grid.n_cols, n_classes), h).reshape(-1, n_classes)
    probabilities = averaged[results.indices]
    probabilities[results.skipped] = np.nan
    return TileResults(grid, results.class_names, results.indices, probabilities, results.valid_fraction)


def tile_cell_boxes(xmin: np.ndarray, ymin: np.ndarray, xmax: np.ndarray,
                    ymax: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """For equal rectangles on a regular lattice spaced closer than their size (the tiles of a dense run),
    the cell of each: the lattice step square centred on it, as ``(xmin, ymin, xmax, ymax)``; ``None``
    when the rectangles differ in size or do not overlap (then each rectangle is its own cell)."""
    if len(xmin) < 2:
        return None
    width, height = xmax - xmin, ymax - ymin
    w, h = float(np.median(width)), float(np.median(height))
    if w <= 0 or h <= 0 or not (np.allclose(width, w, rtol=SAME_SIZE) and np.allclose(height, h, rtol=SAME_SIZE)):
        return None
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    step_x, step_y = lattice_step(cx, w), lattice_step(cy, h)
    if step_x >= w * (1 - SAME_SIZE) and step_y >= h * (1 - SAME_SIZE):
        return None
    return cx - step_x / 2, cy - step_y / 2, cx + step_x / 2, cy + step_y / 2
