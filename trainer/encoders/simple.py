"""Single-scale baselines: ``wrap`` (Mac Aodha et al. 2019) and ``xyz`` (3-D unit vector)."""

from __future__ import annotations

import torch

from trainer.encoders.base import PositionEncoding, lat_lon_radians, unit_vector
from trainer.encoders.registry import register


@register("wrap")
class Wrap(PositionEncoding):
    """``[sin λ, sin 2φ, cos λ, cos 2φ]``: CSP's ``wrap`` (sin/cos of π·(lon/180, lat/90)).

    Continuous across the dateline; both poles map to the same features (as in the original).
    """

    dim = 4

    def forward(self, latlon: torch.Tensor) -> torch.Tensor:
        lat, lon = lat_lon_radians(latlon)
        angles = torch.cat([lon, 2 * lat], dim=1)
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


@register("xyz")
class Xyz(PositionEncoding):
    """``(cos φ cos λ, cos φ sin λ, sin φ)``: continuous everywhere, one point per pole."""

    dim = 3

    def forward(self, latlon: torch.Tensor) -> torch.Tensor:
        return unit_vector(latlon)
