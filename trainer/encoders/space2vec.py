"""Space2Vec planar encodings of (x, y) = (lon, lat) degrees (Mai et al. ICLR 2020): ``grid``, ``theory``.

Feature order follows the CSP code: ``grid`` = for x then y, for each scale, (sin, cos);
``theory`` = for each scale, for the three unit vectors at 0°, 120°, 240°, (sin, cos).
Planar: not continuous across the dateline (use a sphere encoding for global data).
"""

from __future__ import annotations

import math

import torch

from trainer.encoders.registry import register
from trainer.encoders.scales import MultiScaleEncoding, scaled_sincos


class PlanarEncoding(MultiScaleEncoding):
    """Encodings of (x, y) = (lon, lat) degrees; radii in degrees (CSP defaults 32 scales, 0.1°..360°)."""

    @staticmethod
    def xy(latlon: torch.Tensor) -> torch.Tensor:
        """``(N, 2)`` (x, y) = (lon, lat) degrees."""
        return latlon.flip(1)


@register("grid")
class Grid(PlanarEncoding):
    """Space2Vec-grid: sin/cos of lon and lat at every scale (4·S features)."""

    terms_per_scale = 4

    def forward(self, latlon: torch.Tensor) -> torch.Tensor:
        sin, cos = scaled_sincos(self.xy(latlon), self.freq)
        return torch.stack([sin, cos], dim=3).flatten(1)


@register("theory")
class Theory(PlanarEncoding):
    """Space2Vec-theory: projections on three unit vectors 120° apart, at every scale (6·S)."""

    terms_per_scale = 6

    def __init__(self, frequency_num: int = 32, min_radius: float = 0.1, max_radius: float = 360.0) -> None:
        super().__init__(frequency_num, min_radius, max_radius)
        angles = torch.tensor([0.0, 2 * math.pi / 3, 4 * math.pi / 3], dtype=torch.float64)
        units = torch.stack([torch.cos(angles), torch.sin(angles)])  # (2, 3)
        self.register_buffer("units", units.float(), persistent=False)

    def forward(self, latlon: torch.Tensor) -> torch.Tensor:
        sin, cos = scaled_sincos(self.xy(latlon) @ self.units, self.freq)
        return torch.stack([sin, cos], dim=3).transpose(1, 2).flatten(1)
