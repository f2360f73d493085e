"""Image pixels of geotagged records (one ``tile_size`` crop each) and their frozen-backbone features.

CSP keeps the image encoder frozen (as in the paper), so its features are computed once, before
training, instead of at every step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from qgis_csp_plugin.contract.bands import RGB_BANDS
from trainer.data.bands import EUROSAT_BANDS, SSL4EO_L2A_BANDS, band_indices
from trainer.data.fmow import fmow_records
from trainer.data.geotagged import geotagged_records
from trainer.data.inat import inat_records
from trainer.data.rasters import read_image
from trainer.data.sources import EUROSAT_SOURCES, eurosat_source_records, ssl4eo_records
from trainer.errors import TrainerError
from trainer.models.backbones import build_backbone


def image_records(source: str, table_bands: list[str] | tuple[str, ...] = EUROSAT_BANDS) -> pd.DataFrame:
    """Records with their band names in ``available``; ``source`` is ``eurosat``, ``ssl4eo``, a geotagged
    table, ``inat:<root>`` (iNat2018 train split) or ``fmow:<root>`` (fMoW-rgb train split; both RGB)."""
    kind, _, root = source.partition(":")
    if kind in ("inat", "fmow") and root:
        frame = (inat_records if kind == "inat" else fmow_records)(root, "train")
        return frame.assign(available=[RGB_BANDS] * len(frame))
    if source in EUROSAT_SOURCES:
        frame, available = eurosat_source_records(source), EUROSAT_BANDS
    elif source == "ssl4eo":
        frame, available = ssl4eo_records(), SSL4EO_L2A_BANDS
        frame = frame.assign(label=-1, class_name="")
    elif Path(source).suffix in (".csv", ".parquet", ".gz"):
        frame, available = geotagged_records(source), tuple(table_bands)
    else:
        raise TrainerError(f"unknown image source {source!r}: use eurosat, eurosat_all, ssl4eo, a .csv/.parquet table, "
                           "inat:<root> or fmow:<root>")
    return frame.assign(available=[tuple(available)] * len(frame))


def crop_pixels(frame: pd.DataFrame, bands: list[str], tile_size: int, seed: int = 0) -> torch.Tensor:
    """``(N, C, tile, tile)`` raw float32 pixels: one seeded random crop per record (bands by name)."""
    rng = np.random.default_rng(seed)
    crops = []
    for row in frame.itertuples():
        image = read_image(row.image_path, band_indices(row.available, bands))
        _, height, width = image.shape
        if height < tile_size or width < tile_size:
            raise TrainerError(f"{row.image_path} is {height}x{width} px, smaller than tile_size {tile_size}")
        y, x = rng.integers(0, height - tile_size + 1), rng.integers(0, width - tile_size + 1)
        crops.append(image[:, y:y + tile_size, x:x + tile_size])
    if not crops:
        raise TrainerError("no images to read")
    pixels = torch.from_numpy(np.stack(crops))
    if not torch.isfinite(pixels).all():
        raise TrainerError("image pixels hold NaN/inf values")
    return pixels


def band_statistics(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-band mean and std (clamped > 0) of ``(N, C, H, W)`` pixels."""
    flat = pixels.transpose(0, 1).reshape(pixels.shape[1], -1)
    return flat.mean(dim=1), flat.std(dim=1).clamp_min(1e-6)


@torch.no_grad()
def frozen_features(pixels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, backbone: str,
                    checkpoint: str | None = None, batch_size: int = 64, init_seed: int = 0) -> torch.Tensor:
    """``(N, F)`` features of normalised ``pixels`` from an eval-mode backbone (checkpoint, or a random
    init drawn with ``init_seed`` so that pre-training and evaluation share the same frozen encoder)."""
    with torch.random.fork_rng():
        torch.manual_seed(init_seed)
        model = build_backbone(backbone, in_channels=pixels.shape[1], checkpoint=checkpoint).eval()
    normalised = (pixels - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
    return torch.cat([model(chunk) for chunk in normalised.split(batch_size)])
