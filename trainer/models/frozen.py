"""Frozen image encoders and their features: CSP keeps the image encoder frozen (as in the paper), so its
features are computed once, before training, in one streaming pass over the data, instead of at every step."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from trainer.data.tiles import loader
from trainer.models.backbones import build_backbone


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
