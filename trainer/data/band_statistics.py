"""Per-band statistics of training tiles: mean/std (normalisation) and low/high percentiles (the
``layer_percentiles`` radiometry), from a seeded sample of tiles."""

from __future__ import annotations

import numpy as np
import torch

from trainer.data.tiles import TileDataset
from trainer.errors import TrainerError

#: Tiles read to estimate per-band mean/std (all of them when there are fewer).
STATISTICS_SAMPLE = 512
#: Band percentiles stored for ``layer_percentiles`` radiometry (robust low/high of the training pixels).
PERCENTILES = (2.0, 98.0)


def band_statistics(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-band mean and std (clamped > 0) of ``(N, C, H, W)`` pixels."""
    flat = pixels.transpose(0, 1).reshape(pixels.shape[1], -1)
    return flat.mean(dim=1), flat.std(dim=1).clamp_min(1e-6)


def tile_sample(dataset: TileDataset, seed: int = 0, rows: np.ndarray | None = None) -> torch.Tensor:
    """Raw pixels of a seeded sample of ``STATISTICS_SAMPLE`` tiles (all when fewer) of ``rows`` (default:
    every tile), in dataset order."""
    rows = np.arange(len(dataset)) if rows is None else np.asarray(rows)
    if len(rows) == 0:
        raise TrainerError("no images to compute band statistics from")
    order = np.sort(rows[np.random.default_rng(seed).permutation(len(rows))[:STATISTICS_SAMPLE]])
    return torch.stack([dataset.read(int(i)) for i in order])


def band_percentiles(pixels: torch.Tensor, q: tuple[float, float]) -> tuple[list[float], list[float]]:
    """Per-band low and high percentiles ``q`` of ``(N, C, H, W)`` pixels."""
    low, high = np.percentile(pixels.transpose(0, 1).reshape(pixels.shape[1], -1).numpy(), q, axis=1)
    return low.tolist(), high.tolist()


def tile_statistics(dataset: TileDataset, seed: int = 0,
                    rows: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`band_statistics` of :func:`tile_sample`."""
    return band_statistics(tile_sample(dataset, seed, rows))
