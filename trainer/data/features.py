"""Image pixels of geotagged records (one ``tile_size`` crop each) and their frozen-backbone features.

CSP keeps the image encoder frozen (as in the paper), so its features are computed once, before
training, instead of at every step.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from trainer.data.preflight import preflight
from trainer.data.tiles import STATISTICS_SAMPLE, TileDataset, loader, random_crops
from trainer.errors import TrainerError
from trainer.models.backbones import build_backbone


def checked_crops(frame: pd.DataFrame, bands: list[str], tile_size: int, seed: int = 0, skip_bad: bool = False,
                  what: str = "records") -> pd.DataFrame:
    """``frame`` after a pre-flight pass over the image headers, with one seeded random ``tile_size``
    crop offset per record (bands by name)."""
    checked = preflight(frame, list(bands), tile_size, skip_bad, what)
    if not len(checked):
        raise TrainerError("no images to read")
    return random_crops(checked, tile_size, seed)


def crop_dataset(frame: pd.DataFrame, bands: list[str], tile_size: int, seed: int = 0,
                 skip_bad: bool = False, what: str = "records") -> TileDataset:
    """Disk-backed dataset of :func:`checked_crops`."""
    return TileDataset(checked_crops(frame, bands, tile_size, seed, skip_bad, what), tile_size)


def crop_pixels(frame: pd.DataFrame, bands: list[str], tile_size: int, seed: int = 0) -> torch.Tensor:
    """``(N, C, tile, tile)`` raw float32 pixels of :func:`crop_dataset` in memory (small data only)."""
    dataset = crop_dataset(frame, bands, tile_size, seed)
    return torch.stack([dataset.read(i) for i in range(len(dataset))])


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


def frozen_backbone(backbone: str, in_channels: int, checkpoint: str | None = None,
                    init_seed: int = 0) -> torch.nn.Module:
    """An eval-mode backbone (checkpoint, or a random init drawn with ``init_seed`` so that
    pre-training and evaluation share the same frozen encoder)."""
    with torch.random.fork_rng():
        torch.manual_seed(init_seed)
        return build_backbone(backbone, in_channels=in_channels, checkpoint=checkpoint).eval()


@torch.no_grad()
def frozen_features(pixels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, backbone: str,
                    checkpoint: str | None = None, batch_size: int = 64, init_seed: int = 0) -> torch.Tensor:
    """``(N, F)`` features of normalised in-memory ``pixels`` from :func:`frozen_backbone`."""
    model = frozen_backbone(backbone, pixels.shape[1], checkpoint, init_seed)
    normalised = (pixels - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
    return torch.cat([model(chunk) for chunk in normalised.split(batch_size)])


@torch.no_grad()
def stream_features(dataset: Dataset, model: torch.nn.Module, mean: torch.Tensor, std: torch.Tensor,
                    out: np.ndarray, batch_size: int = 64, num_workers: int = 0) -> None:
    """Write the features of every item ``image`` of ``dataset`` into row ``index`` of ``out`` (N, F)
    in one streaming pass: batched, read by ``num_workers`` DataLoader workers, with a progress bar."""
    batches = loader(dataset, batch_size, num_workers=num_workers)
    for batch in tqdm(batches, desc="frozen image features", unit="batch", disable=len(batches) < 20):
        image = (batch["image"] - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
        out[batch["index"].numpy()] = model(image).float().numpy()
