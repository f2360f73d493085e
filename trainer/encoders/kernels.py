"""Kernel encodings on the unit sphere: ``rbf`` (Gaussian bumps at centres) and ``rff`` (random Fourier features).

Both use the Gaussian kernel ``exp(-|u - v|² / (2σ²))`` of the chordal distance between unit
vectors, with the bandwidth ``kernel_size`` σ given in degrees (≈ great-circle distance for
small σ). Deviation from the CSP code, which uses planar (lon, lat) distances: on the sphere
both are continuous across the dateline and at the poles.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from qgis_csp_plugin.contract.latlon import validate_latlon
from trainer.encoders.base import DEG2RAD, PositionEncoding, unit_vector
from trainer.encoders.registry import register
from trainer.errors import TrainerError


def _bandwidth(kernel_size: float) -> float:
    """σ in unit-sphere (radian) units from degrees, validated."""
    if not kernel_size > 0:
        raise TrainerError(f"kernel_size (degrees) must be > 0, got {kernel_size!r}")
    return kernel_size * DEG2RAD


def sample_centres(train_locations: Any, num_centres: int, seed: int) -> list[list[float]]:
    """``num_centres`` (lat, lon) rows drawn without replacement (seeded) from training locations."""
    locations = validate_latlon(train_locations, "train_locations")
    if not 0 < num_centres <= len(locations):
        raise TrainerError(f"num_centres must be in [1, {len(locations)}] (the number of training "
                           f"locations), got {num_centres!r}")
    picked = np.random.default_rng(seed).choice(len(locations), size=num_centres, replace=False)
    return locations[np.sort(picked)].astype(float).tolist()


@register("rbf")
class Rbf(PositionEncoding):
    """One Gaussian per centre: ``exp(-|u(x) - u(c)|² / (2σ²))`` (``len(centres)`` features).

    Give ``centres`` ((lat, lon) degrees) or ``train_locations`` to sample ``num_centres`` of them;
    ``config()`` stores the centres, so a rebuilt or exported encoder is identical.
    """

    def __init__(self, centres: list[list[float]] | None = None, kernel_size: float = 10.0,
                 train_locations: Any = None, num_centres: int = 256, seed: int = 0) -> None:
        super().__init__()
        if centres is None:
            if train_locations is None:
                raise TrainerError("rbf needs `centres` ((lat, lon) degrees) or `train_locations` to sample them from")
            centres = sample_centres(train_locations, num_centres, seed)
        table = torch.from_numpy(validate_latlon(centres, "rbf centres"))
        self.centres = table.tolist()
        sigma = _bandwidth(kernel_size)
        self.kernel_size = float(kernel_size)
        self.register_buffer("centre_vectors", unit_vector(table).T.contiguous())  # (3, K)
        self.scale = 1.0 / (sigma * sigma)  # exp(-(2 - 2 u·c) / (2σ²)) = exp((u·c - 1) / σ²)
        self.dim = len(self.centres)

    def params(self) -> dict[str, Any]:
        return {"centres": self.centres, "kernel_size": self.kernel_size}

    def forward(self, latlon: torch.Tensor) -> torch.Tensor:
        return torch.exp((unit_vector(latlon) @ self.centre_vectors - 1.0) * self.scale)


@register("rff")
class Rff(PositionEncoding):
    """``sqrt(2/D) · cos(u(x) W + b)`` with ``W ~ N(0, σ⁻²)``, ``b ~ U(0, 2π)`` drawn from ``seed``.

    ``D = num_features``. W and b are persistent buffers (in checkpoints and the ONNX graph) and
    are re-drawn identically from ``seed`` when the encoder is rebuilt from its config.
    """

    def __init__(self, num_features: int = 256, kernel_size: float = 10.0, seed: int = 0) -> None:
        super().__init__()
        if int(num_features) != num_features or num_features < 1:
            raise TrainerError(f"num_features must be a positive integer, got {num_features!r}")
        sigma = _bandwidth(kernel_size)
        self.num_features, self.kernel_size, self.seed = int(num_features), float(kernel_size), int(seed)
        generator = torch.Generator().manual_seed(self.seed)
        weight = torch.randn(3, self.num_features, generator=generator, dtype=torch.float64) / sigma
        shift = torch.rand(self.num_features, generator=generator, dtype=torch.float64) * (2 * math.pi)
        self.register_buffer("weight", weight.float())
        self.register_buffer("shift", shift.float())
        self.amplitude = math.sqrt(2.0 / self.num_features)
        self.dim = self.num_features

    def params(self) -> dict[str, Any]:
        return {"num_features": self.num_features, "kernel_size": self.kernel_size, "seed": self.seed}

    def forward(self, latlon: torch.Tensor) -> torch.Tensor:
        return torch.cos(unit_vector(latlon) @ self.weight + self.shift) * self.amplitude
