"""``geoclip``: the location encoder of GeoCLIP (Vivanco Cepeda, Nayak, Shah; NeurIPS 2023).

(lat, lon) degrees → Equal Earth projection (Šavrič, Patterson, Jenny 2018), scaled so that the
map spans x ∈ [-1, 1] → for each σ in ``sigmas`` Gaussian random Fourier features
``[cos 2πBv, sin 2πBv]`` with ``B ~ N(0, σ²)`` → one MLP per σ (ReLU) → the branch outputs summed.
Written from the paper; ``python -m trainer import geoclip`` loads the released weights into it.

The projection is planar: unlike the sphere encodings, the output is *not* periodic in longitude
(lon = -180 and +180 are the two edges of the map), exactly as GeoCLIP was trained.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from trainer.encoders.base import DEG2RAD, check_latlon, exporting
from trainer.encoders.mlp import build_mlp, checked_mlp_params
from trainer.encoders.registry import register_whole
from trainer.errors import TrainerError

#: Equal Earth polynomial coefficients A1..A4.
A1, A2, A3, A4 = 1.340264, -0.081106, 0.000893, 0.003796
#: GeoCLIP's scale of the projected coordinates (x = ±1 at the equator's ends).
PROJECTED_SCALE = 66.50336 / 180.0
SQRT3 = math.sqrt(3.0)
#: GeoCLIP's released layout: σ = 2^0, 2^4, 2^8; 256 frequencies; 3 hidden layers of 1024; 512 out.
DEFAULT_SIGMAS = (1.0, 16.0, 256.0)


def equal_earth(latlon: torch.Tensor) -> torch.Tensor:
    """``(N, 2)`` (lat, lon) degrees → ``(N, 2)`` Equal Earth (x, y), scaled by :data:`PROJECTED_SCALE`."""
    lat = latlon[:, 0] * DEG2RAD
    lon = latlon[:, 1] * DEG2RAD
    theta = torch.asin((SQRT3 / 2) * torch.sin(lat))
    t2 = theta * theta
    t6 = t2 * t2 * t2
    x = (2 * SQRT3 * lon * torch.cos(theta)) / (3 * (9 * A4 * t6 * t2 + 7 * A3 * t6 + 3 * A2 * t2 + A1))
    y = theta * (A4 * t6 * t2 + A3 * t6 + A2 * t2 + A1)
    return torch.stack((x, y), dim=1) * PROJECTED_SCALE


class GaussianFourierFeatures(nn.Module):
    """``(N, 2)`` → ``(N, 2·num_features)`` = ``[cos 2π v Bᵀ, sin 2π v Bᵀ]``, ``B`` drawn ``N(0, σ²)`` from ``seed``.

    ``B`` is a persistent buffer (in checkpoints and ONNX graphs), never trained.
    """

    def __init__(self, sigma: float, num_features: int, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("b", torch.randn(num_features, 2, generator=generator) * sigma)

    def forward(self, xy: torch.Tensor) -> torch.Tensor:
        phase = (2 * math.pi * xy) @ self.b.T
        return torch.cat((torch.cos(phase), torch.sin(phase)), dim=1)


class Branch(nn.Module):
    """One scale: Fourier features at ``sigma`` followed by its own MLP."""

    def __init__(self, sigma: float, num_features: int, seed: int, mlp_params: dict[str, Any]) -> None:
        super().__init__()
        self.features = GaussianFourierFeatures(sigma, num_features, seed)
        self.mlp = build_mlp(2 * num_features, **mlp_params)

    def forward(self, xy: torch.Tensor) -> torch.Tensor:
        with torch.autocast(xy.device.type, enabled=False):  # phases up to ~10^4 rad need float32
            features = self.features(xy)
        return self.mlp(features)


@register_whole("geoclip")
class GeoClipEncoder(nn.Module):
    """``forward(latlon)``: ``(N, 2)`` **(lat, lon) degrees** → ``(N, out_dim)``; the sum of the branches.

    Defaults are GeoCLIP's released layout (9.4 M parameters, no dropout). Inputs are validated
    (``ValueError`` naming the bad value) except while exporting to ONNX.
    """

    #: torch ↔ onnxruntime bound for models built on it: the σ = 256 branch's float32 phases reach
    #: ~10^3 rad, where one rounding step is ~10^-4 rad; the embedding itself stays within 1e-4 of
    #: GeoCLIP's, but a trained head (and a standardisation) can amplify that.
    export_atol = 1e-3

    def __init__(self, sigmas: list[float] = DEFAULT_SIGMAS, num_features: int = 256, hidden_dim: int = 1024,
                 num_hidden_layers: int = 3, out_dim: int = 512, dropout: float = 0.0,
                 activation: str = "relu", seed: int = 0) -> None:
        super().__init__()
        sigmas = [float(s) for s in sigmas]
        if not sigmas or not all(s > 0 for s in sigmas):
            raise TrainerError(f"geoclip sigmas must be a non-empty list of positive numbers, got {sigmas!r}")
        if int(num_features) != num_features or num_features < 1:
            raise TrainerError(f"num_features must be a positive integer, got {num_features!r}")
        self.sigmas, self.num_features, self.seed = sigmas, int(num_features), int(seed)
        self.mlp_params = checked_mlp_params(hidden_dim, num_hidden_layers, out_dim, dropout, activation)
        self.branches = nn.ModuleList(Branch(sigma, self.num_features, self.seed + index, self.mlp_params)
                                      for index, sigma in enumerate(sigmas))
        self.out_dim: int = self.mlp_params["out_dim"]

    def forward(self, latlon: torch.Tensor) -> torch.Tensor:
        if not exporting():
            check_latlon(latlon)
        with torch.autocast(latlon.device.type, enabled=False):
            xy = equal_earth(latlon.float())
        branches = iter(self.branches)
        out = next(branches)(xy)
        for branch in branches:
            out = out + branch(xy)
        return out

    def config(self) -> dict[str, Any]:
        """``{"name", "params"}``; ``build_location_encoder(c["name"], **c["params"])`` rebuilds it."""
        return {"name": self.name, "params": {"sigmas": self.sigmas, "num_features": self.num_features,
                                              "seed": self.seed, **self.mlp_params}}
