"""MoCo-v2 projection head: Linear → ReLU → Linear (2048→2048→128 on a ResNet-50)."""

from __future__ import annotations

from torch import nn


def projection_head(in_features: int, out_features: int = 128, hidden: int | None = None) -> nn.Sequential:
    """A 2-layer MLP; the hidden width follows the backbone's feature size unless given."""
    hidden = hidden or in_features
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_features))
