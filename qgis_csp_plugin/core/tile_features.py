"""The features a few-label head may use: an encoder's embedding and per-band tile statistics.

Statistics are computed from the tile the encoder sees (raw values after the plugin's radiometric
transform): per band the mean and the (population) standard deviation over the tile, and for point
labels the spectrum of the centre pixel ``[H // 2, W // 2]`` (the pixel the point falls in). The
ONNX head computes the same numbers inside the graph (:mod:`.onnx_head`), so Classify needs nothing
beside the model file.

A *feature set* names a list of *blocks* whose columns are concatenated in this order.
"""

from __future__ import annotations

import numpy as np

from ..contract.errors import CspError

EMBEDDING = "embedding"
STATISTIC_BLOCKS = ("mean", "std", "centre")
STATISTICS = "statistics"
FEATURE_SETS = (STATISTICS, EMBEDDING, f"{EMBEDDING}+{STATISTICS}")


def statistic_blocks(geometry: str) -> tuple[str, ...]:
    """The statistics of a tile around a labelled point (with its centre pixel) or inside a polygon."""
    return STATISTIC_BLOCKS if geometry == "point" else STATISTIC_BLOCKS[:2]


def feature_blocks(feature_set: str, statistics: tuple[str, ...]) -> tuple[str, ...]:
    """The blocks of ``feature_set`` (one of :data:`FEATURE_SETS`), ``statistics`` standing for the statistic blocks."""
    if feature_set not in FEATURE_SETS:
        raise CspError(f"unknown feature set {feature_set!r}: choose one of {', '.join(FEATURE_SETS)}")
    return tuple(b for part in feature_set.split("+") for b in (statistics if part == STATISTICS else (part,)))


def tile_statistics(tiles: np.ndarray) -> dict[str, np.ndarray]:
    """``{"mean", "std", "centre"}``, each ``(N, C)`` float64, of ``(N, C, H, W)`` tiles."""
    tiles = np.asarray(tiles)
    if tiles.ndim != 4:
        raise CspError(f"tile statistics need (N, C, H, W) tiles, got shape {tiles.shape}")
    height, width = tiles.shape[2:]
    values = tiles.astype(np.float64)
    return {"mean": values.mean(axis=(2, 3)), "std": values.std(axis=(2, 3)),
            "centre": values[:, :, height // 2, width // 2]}


def feature_matrix(blocks: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    """The columns of the blocks ``names`` side by side: ``(N, Σ widths)``."""
    missing = [n for n in names if n not in blocks]
    if missing:
        raise CspError(f"feature block(s) {', '.join(missing)} were not computed")
    return np.concatenate([np.asarray(blocks[n], np.float64) for n in names], axis=1)
