"""``spherical_harmonics``: real spherical harmonics Y_l^m up to degree L (Rußwurm et al. ICLR 2024).

Orthonormal associated Legendre functions P̄_l^m(sin φ) come from the standard stable
recurrences (no factorials, fine for large L), then

* Y_l^0 = P̄_l^0,  Y_l^m = √2 P̄_l^m cos(mλ),  Y_l^-m = √2 P̄_l^m sin(mλ)  (m > 0),

without the Condon–Shortley phase, ordered by l then m = -l..l: ``(L+1)²`` features.
Integer m makes them continuous across the dateline; at the poles every m ≠ 0 term is 0,
so the features do not depend on longitude there. ``siren=True`` gives the MLP the
SIREN activation (``sin``), as in the paper's SH + SIREN model.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from trainer.encoders.base import PositionEncoding, lat_lon_radians
from trainer.encoders.registry import register
from trainer.errors import TrainerError


def legendre_table(sin_lat: torch.Tensor, cos_lat: torch.Tensor,
                   max_degree: int) -> dict[tuple[int, int], torch.Tensor]:
    """``{(l, m): P̄_l^m}`` for 0 ≤ m ≤ l ≤ max_degree, orthonormal on the sphere (with the 1/√(2π) of λ)."""
    table = {(0, 0): torch.full_like(sin_lat, math.sqrt(1.0 / (4.0 * math.pi)))}
    for m in range(max_degree + 1):
        if m > 0:
            table[m, m] = math.sqrt((2 * m + 1) / (2 * m)) * cos_lat * table[m - 1, m - 1]
        if m + 1 <= max_degree:
            table[m + 1, m] = math.sqrt(2 * m + 3) * sin_lat * table[m, m]
        for degree in range(m + 2, max_degree + 1):
            a = math.sqrt((4 * degree**2 - 1) / (degree**2 - m**2))
            b = math.sqrt(((degree - 1) ** 2 - m**2) / (4 * (degree - 1) ** 2 - 1))
            table[degree, m] = a * (sin_lat * table[degree - 1, m] - b * table[degree - 2, m])
    return table


@register("spherical_harmonics")
class SphericalHarmonics(PositionEncoding):
    """Real spherical harmonics of degree ≤ ``max_degree`` at (lat, lon) degrees."""

    def __init__(self, max_degree: int = 10, siren: bool = False) -> None:
        super().__init__()
        if int(max_degree) != max_degree or max_degree < 0:
            raise TrainerError(f"max_degree must be an integer >= 0, got {max_degree!r}")
        self.max_degree, self.siren = int(max_degree), bool(siren)
        self.preferred_activation = "sin" if self.siren else None
        self.register_buffer("orders", torch.arange(1, self.max_degree + 1, dtype=torch.float32), persistent=False)
        self.dim = (self.max_degree + 1) ** 2

    def params(self) -> dict[str, Any]:
        return {"max_degree": self.max_degree, "siren": self.siren}

    def forward(self, latlon: torch.Tensor) -> torch.Tensor:
        lat, lon = lat_lon_radians(latlon)
        legendre = legendre_table(torch.sin(lat), torch.cos(lat), self.max_degree)
        angles = lon * self.orders  # (N, L): m·λ for m = 1..L
        cos_m, sin_m = math.sqrt(2.0) * torch.cos(angles), math.sqrt(2.0) * torch.sin(angles)
        features = []
        for degree in range(self.max_degree + 1):
            features += [legendre[degree, m] * sin_m[:, m - 1:m] for m in range(degree, 0, -1)]
            features.append(legendre[degree, 0])
            features += [legendre[degree, m] * cos_m[:, m - 1:m] for m in range(1, degree + 1)]
        return torch.cat(features, dim=1)
