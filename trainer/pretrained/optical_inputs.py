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


#: Mean and std of raw Sentinel-2 L1C digital numbers of :data:`BANDS` over the 10,000-sample subset of
#: Galileo's pre-training data (nasaharvest/galileo ``config/normalization.json``, key "13"): typical values
#: of the global Sentinel-2 data both released encoders were pre-trained on. Presto ships no statistics
#: (it divides by 10000), so its model metadata records these for bringing unscaled imagery to them.
PRETRAINING_MEAN = [1395.3408730676722, 1338.4026921784578, 1343.09883810357, 1543.8607982512297, 2186.2022069512263,
                    2525.0932853316694, 2410.3377187373408, 2750.2854646886753, 2234.911100061487, 1474.5311266077113]
PRETRAINING_STD = [917.7041440370853, 913.2988423581528, 1092.678723527555, 1047.2206083460424, 1048.0101611156767,
                   1143.6903026819996, 1098.979177731649, 1204.472755085893, 1145.9774063078878, 980.2429840007796]
