"""``NeRF`` encoding (Mildenhall et al. 2020) of the 3-D unit vector, as in the Sphere2Vec code."""

from __future__ import annotations

from typing import Any

import torch

from trainer.encoders.base import PositionEncoding, unit_vector
from trainer.encoders.registry import register
from trainer.encoders.scales import nerf_frequencies, scaled_sincos


@register("NeRF")
class NeRF(PositionEncoding):
    """``[sin(π 2^l u), cos(π 2^l u)]`` for u = (x, y, z), l < frequency_num (6·L features).

    Order: all sines (x, y, z, each over l) then all cosines. Continuous everywhere and one
    point per pole. Keep ``frequency_num`` ≲ 12: higher frequencies exceed float32 precision.
    """

    def __init__(self, frequency_num: int = 10) -> None:
        super().__init__()
        self.frequency_num = frequency_num
        self.register_buffer("freq", nerf_frequencies(frequency_num).float(), persistent=False)
        self.dim = 6 * frequency_num

    def params(self) -> dict[str, Any]:
        return {"frequency_num": self.frequency_num}

    def forward(self, latlon: torch.Tensor) -> torch.Tensor:
        sin, cos = scaled_sincos(unit_vector(latlon), self.freq)
        return torch.stack([sin, cos], dim=1).flatten(1)
