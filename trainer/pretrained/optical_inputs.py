"""What the released encoders read from an optical image: Sentinel-2 bands, band groups, NDVI, location.

Shared by our Presto and Galileo graphs: the ``band_mask`` input (1 = band missing) becomes one keep
flag per band group (a group is kept only when all its bands are present, as the released models mask
whole groups), NDVI is computed from B08 and B04 (0 where their sum is not positive, as the authors
compute it) and (lat, lon) degrees become the unit vector both encoders embed.
"""

from __future__ import annotations

import math

import torch

from qgis_csp_plugin.contract.bands import NDVI_BANDS, S2_BAND_GROUPS, S2_OPTICAL_BANDS

BANDS = list(S2_OPTICAL_BANDS)
#: The groups our graphs embed, in order: the optical Sentinel-2 groups, then NDVI (channel 10 of the
#: stacked input). The released models' other groups (Sentinel-1, weather, elevation, land cover) have
#: no source in an optical image: they are always masked, so their tokens are left out.
GROUPS = {**S2_BAND_GROUPS, "NDVI": ["NDVI"]}
NDVI_CHANNEL = len(BANDS)


def group_channels(name: str) -> list[int]:
    """Channels of group ``name`` in the stacked input (the 10 bands, then NDVI)."""
    return [NDVI_CHANNEL if band == "NDVI" else BANDS.index(band) for band in GROUPS[name]]


def group_membership(names: list[str]) -> torch.Tensor:
    """``(G, C)`` 1 where band ``c`` decides whether group ``names[g]`` is kept (NDVI: B08 and B04)."""
    members = torch.zeros(len(names), len(BANDS))
    for g, name in enumerate(names):
        for band in (NDVI_BANDS if name == "NDVI" else GROUPS[name]):
            members[g, BANDS.index(band)] = 1.0
    return members


def group_keep(band_mask: torch.Tensor, membership: torch.Tensor) -> torch.Tensor:
    """``band_mask`` (C,) 1 = missing → (G,) 1 = group kept (all its bands present)."""
    return 1.0 - (membership * band_mask.reshape(1, -1)).amax(dim=1)


def zero_missing(image: torch.Tensor, band_mask: torch.Tensor) -> torch.Tensor:
    """Missing bands read as 0 whatever was fed (NaN included), so masked tokens stay finite."""
    return torch.where(band_mask.reshape(1, -1, 1, 1) > 0.5, torch.zeros_like(image), image)


def ndvi(image: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W)`` bands → ``(N, 1, H, W)`` (B08 - B04) / (B08 + B04), 0 where the sum is <= 0."""
    nir, red = (image[:, BANDS.index(b)] for b in NDVI_BANDS)
    total = nir + red
    positive = total > 0
    value = (nir - red) / torch.where(positive, total, torch.ones_like(total))
    return torch.where(positive, value, torch.zeros_like(value)).unsqueeze(1)


def cartesian(latlon: torch.Tensor) -> torch.Tensor:
    """(lat, lon) degrees ``(..., 2)`` → unit vectors ``(..., 3)`` = (cos φ cos λ, cos φ sin λ, sin φ)."""
    lat, lon = (latlon * (math.pi / 180.0)).unbind(-1)
    return torch.stack([torch.cos(lat) * torch.cos(lon), torch.cos(lat) * torch.sin(lon), torch.sin(lat)], dim=-1)
