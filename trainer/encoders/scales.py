"""Multi-scale frequencies shared by the sinusoidal encodings (Space2Vec / Sphere2Vec / CSP).

Radii are in **degrees**: scale ``s`` turns a coordinate ``c`` (degrees) into the angle
``c / r_s`` (radians), with ``r_s`` geometric from ``min_radius`` (λ_min) to ``max_radius``
(λ_max) as in the CSP code's ``geometric`` initialisation. For Space2Vec grid/theory this is
exactly CSP's convention (defaults 32 scales, 0.1°..360°). Sphere2Vec writes the same angle as
``radians(c) / r'`` with a unitless ``r'``; ``r = r' · 180/π`` converts.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from trainer.encoders.base import PositionEncoding
from trainer.errors import TrainerError


def geometric_frequencies(frequency_num: int, min_radius: float, max_radius: float) -> torch.Tensor:
    """``1 / r_s`` (rad per degree) for ``frequency_num`` radii geometric in [min_radius, max_radius]."""
    if int(frequency_num) != frequency_num or frequency_num < 1:
        raise TrainerError(f"frequency_num must be a positive integer, got {frequency_num!r}")
    if not 0 < min_radius <= max_radius:
        raise TrainerError(f"need 0 < min_radius <= max_radius (degrees), got {min_radius!r}, {max_radius!r}")
    if frequency_num == 1:
        return torch.tensor([1.0 / min_radius], dtype=torch.float64)
    step = math.log(max_radius / min_radius) / (frequency_num - 1)
    radii = min_radius * torch.exp(torch.arange(frequency_num, dtype=torch.float64) * step)
    return 1.0 / radii


def periodic_frequencies(per_degree: torch.Tensor) -> torch.Tensor:
    """Snap frequencies (rad/degree) to whole cycles per 360°, at least one.

    A sinusoid of longitude is continuous across the dateline (−180° ≡ +180°) only if it
    makes a whole number of cycles around the globe; sphere encodings use this on longitude.
    """
    cycles = torch.clamp(torch.round(per_degree * (180.0 / math.pi)), min=1.0)
    return cycles * (math.pi / 180.0)


def scaled_sincos(values: torch.Tensor, freq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``sin`` and ``cos`` of ``values (N, K) × freq (F,)``, each ``(N, K, F)``."""
    angles = values.unsqueeze(2) * freq.view(1, 1, -1)
    return torch.sin(angles), torch.cos(angles)


def nerf_frequencies(frequency_num: int) -> torch.Tensor:
    """NeRF's ``π · 2^l`` for ``l = 0 .. frequency_num-1`` (applied to unit-vector coordinates)."""
    if int(frequency_num) != frequency_num or frequency_num < 1:
        raise TrainerError(f"frequency_num must be a positive integer, got {frequency_num!r}")
    return math.pi * torch.pow(2.0, torch.arange(frequency_num, dtype=torch.float64))


class MultiScaleEncoding(PositionEncoding):
    """Base of the geometric multi-scale encodings: buffer ``freq`` (rad/degree), ``terms_per_scale · S`` features."""

    terms_per_scale: int

    def __init__(self, frequency_num: int = 32, min_radius: float = 0.1, max_radius: float = 360.0) -> None:
        super().__init__()
        freq = geometric_frequencies(frequency_num, min_radius, max_radius)  # validates the three
        self.frequency_num, self.min_radius, self.max_radius = int(frequency_num), float(min_radius), float(max_radius)
        self.register_buffer("freq", freq.float(), persistent=False)
        self.dim = self.terms_per_scale * self.frequency_num

    def params(self) -> dict[str, Any]:
        return {"frequency_num": self.frequency_num, "min_radius": self.min_radius,
                "max_radius": self.max_radius}
