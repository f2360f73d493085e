"""Dense class maps: with a stride below the tile size, each output cell (``stride`` px square, centred
on its tile) gets the mean class probabilities of every tile that wholly contains it.

Cell ``(r, c)`` spans pixels ``[c·s + p, c·s + p + s)`` with ``p = (T − s) / 2``; tile ``c'`` spans
``[c'·s, c'·s + T)``, so the tiles containing the cell are ``|c' − c| ≤ h = ⌊p / s⌋`` in each axis:
a ``(2h + 1)²`` box mean over the tile grid (skipped, all-nodata tiles excluded). With
``T = 64, s = 8`` that is 7 × 7 = 49 tiles per cell; with ``s ≥ T/2`` (h = 0) nothing changes.
Computed with cumulative sums, separably: O(tiles · classes) time and memory.
"""

from __future__ import annotations

import numpy as np

from .classify import TileResults


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
