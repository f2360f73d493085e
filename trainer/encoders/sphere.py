"""Sphere2Vec multi-scale encodings (Mai et al. 2023): ``sphereC``, ``sphereC+``, ``sphereM``, ``sphereM+``.

With φ_s = φ·f_s and λ_s = λ·f_s at each scale s (frequencies from :mod:`trainer.encoders.scales`,
radii in degrees) the per-scale features are, in the order of the authors' code:

* sphereC:  sin φ_s, cos φ_s cos λ_s, cos φ_s sin λ_s
* sphereC+: sin φ_s, cos φ_s, sin λ_s, cos λ_s, cos φ_s cos λ_s, cos φ_s sin λ_s
* sphereM:  sin φ_s, cos φ_s cos λ, cos φ cos λ_s, cos φ_s sin λ, cos φ sin λ_s
* sphereM+: sin φ_s, cos φ_s, sin λ_s, cos λ_s, cos φ_s cos λ, cos φ cos λ_s, cos φ_s sin λ, cos φ sin λ_s

Deviation from the authors' code, for continuity across the dateline: longitude frequencies
are snapped to whole cycles per 360° (:func:`~trainer.encoders.scales.periodic_frequencies`);
with integer cycles the features equal the authors' exactly.
"""

from __future__ import annotations

import torch

from trainer.encoders.base import lat_lon_radians
from trainer.encoders.registry import register
from trainer.encoders.scales import MultiScaleEncoding, periodic_frequencies


class SphereEncoding(MultiScaleEncoding):
    """Shared scales and per-scale sin/cos of latitude and longitude; subclasses pick the terms."""

    def __init__(self, frequency_num: int = 32, min_radius: float = 0.1, max_radius: float = 360.0) -> None:
        super().__init__(frequency_num, min_radius, max_radius)
        lon_freq = periodic_frequencies(self.freq.double())
        self.register_buffer("lon_freq", lon_freq.float().view(1, -1), persistent=False)

    def forward(self, latlon: torch.Tensor) -> torch.Tensor:
        lat_s, lon_s = latlon[:, :1] * self.freq, latlon[:, 1:] * self.lon_freq
        scaled = (torch.sin(lat_s), torch.cos(lat_s), torch.sin(lon_s), torch.cos(lon_s))
        lat, lon = lat_lon_radians(latlon)
        single = (torch.cos(lat), torch.sin(lon), torch.cos(lon))
        features = self.terms(scaled, single)
        return torch.stack(features, dim=2).flatten(1)

    def terms(self, scaled: tuple[torch.Tensor, ...], single: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
        """Per-scale ``(N, S)`` terms from (sin φ_s, cos φ_s, sin λ_s, cos λ_s) and (cos φ, sin λ, cos λ)."""
        raise NotImplementedError


@register("sphereC")
class SphereC(SphereEncoding):
    terms_per_scale = 3

    def terms(self, scaled, single):
        sin_lat, cos_lat, sin_lon, cos_lon = scaled
        return [sin_lat, cos_lat * cos_lon, cos_lat * sin_lon]


@register("sphereC+")
class SphereCPlus(SphereEncoding):
    terms_per_scale = 6

    def terms(self, scaled, single):
        sin_lat, cos_lat, sin_lon, cos_lon = scaled
        return [sin_lat, cos_lat, sin_lon, cos_lon, cos_lat * cos_lon, cos_lat * sin_lon]


@register("sphereM")
class SphereM(SphereEncoding):
    terms_per_scale = 5

    def terms(self, scaled, single):
        sin_lat, cos_lat, sin_lon, cos_lon = scaled
        cos_lat1, sin_lon1, cos_lon1 = single
        return [sin_lat, cos_lat * cos_lon1, cos_lat1 * cos_lon, cos_lat * sin_lon1, cos_lat1 * sin_lon]


@register("sphereM+")
class SphereMPlus(SphereEncoding):
    terms_per_scale = 8

    def terms(self, scaled, single):
        sin_lat, cos_lat, sin_lon, cos_lon = scaled
        cos_lat1, sin_lon1, cos_lon1 = single
        return [sin_lat, cos_lat, sin_lon, cos_lon, cos_lat * cos_lon1, cos_lat1 * cos_lon,
                cos_lat * sin_lon1, cos_lat1 * sin_lon]
