"""The features a few-label head may use: an encoder's embedding and per-band tile statistics.

Statistics are computed from the tile the encoder sees (raw values after the plugin's radiometric
transform): per band the mean and the (population) standard deviation over the tile, and for point
labels the spectrum of the centre pixel ``[H // 2, W // 2]`` (the pixel the point falls in). The
ONNX head computes the same numbers inside the graph (:mod:`.onnx_head`), so Classify needs nothing
beside the model file.

A *feature set* names a list of *blocks* whose columns are concatenated in this order. In a set
that combines the embedding with statistics, the two groups are weighted after standardisation so
that each carries the same total variance (:func:`feature_weights`); otherwise the 256 columns of an
embedding drown 39 statistics under one L2 penalty. (Measured before use on development patches,
each outside one evaluation scene of docs/results/few_label_mapping.md, held-out accuracy at the best
C: the 120 training patches of the shipped 200 (outside scene A), 20 draws of 5 labels per class,
0.61 weighted vs 0.57 unweighted with the previous MoCo encoder, 0.60 vs 0.56 with the shipped one;
the 281 training patches of eurosat_all (outside scene B), 5 draws, shipped encoder: 0.59 vs 0.55 at
5 labels per class, 0.75 vs 0.65 at 20.)
"""

from __future__ import annotations

import numpy as np

from ..contract.errors import GeoSslError

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
        raise GeoSslError(f"unknown feature set {feature_set!r}: choose one of {', '.join(FEATURE_SETS)}")
    return tuple(b for part in feature_set.split("+") for b in (statistics if part == STATISTICS else (part,)))


def tile_statistics(tiles: np.ndarray) -> dict[str, np.ndarray]:
    """``{"mean", "std", "centre"}``, each ``(N, C)`` float64, of ``(N, C, H, W)`` tiles."""
    tiles = np.asarray(tiles)
    if tiles.ndim != 4:
        raise GeoSslError(f"tile statistics need (N, C, H, W) tiles, got shape {tiles.shape}")
    height, width = tiles.shape[2:]
    values = tiles.astype(np.float64)
    return {"mean": values.mean(axis=(2, 3)), "std": values.std(axis=(2, 3)),
            "centre": values[:, :, height // 2, width // 2]}


def feature_weights(blocks: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    """Per column of :func:`feature_matrix`: ``sqrt(D / (G · D_g))`` for the G groups (embedding,
    statistics) present, ``D_g`` columns in group g of D in all: every group then has total variance D / G."""
    widths = np.array([np.asarray(blocks[n]).shape[1] for n in names])
    groups = np.array([n == EMBEDDING for n in names])
    group_width = {g: widths[groups == g].sum() for g in set(groups.tolist())}
    per_block = [np.sqrt(widths.sum() / (len(group_width) * group_width[g])) for g in groups.tolist()]
    return np.repeat(per_block, widths)


def feature_matrix(blocks: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    """The columns of the blocks ``names`` side by side: ``(N, Σ widths)``."""
    missing = [n for n in names if n not in blocks]
    if missing:
        raise GeoSslError(f"feature block(s) {', '.join(missing)} were not computed")
    return np.concatenate([np.asarray(blocks[n], np.float64) for n in names], axis=1)
