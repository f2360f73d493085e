"""Location encoder = fixed position encoding of (lat, lon) degrees followed by a trainable MLP."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from qgis_csp_plugin.contract.latlon import validate_latlon
from trainer.encoders.mlp import build_mlp, checked_mlp_params

DEG2RAD = math.pi / 180.0  # torch.deg2rad does not export with the opset-17 TorchScript exporter


def exporting() -> bool:
    """True while torch traces the module for ONNX (checks on values must be skipped then)."""
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


def check_latlon(latlon: torch.Tensor) -> None:
    """Raise ``ValueError`` naming the bad value unless ``latlon`` is finite ``(N, 2)`` (lat, lon) degrees.

    A cheap tensor test runs on every call; only a failing batch goes through
    :func:`qgis_csp_plugin.contract.latlon.validate_latlon` for its message.
    """
    if latlon.dim() == 2 and latlon.shape[1] == 2:
        lat, lon = latlon[:, 0], latlon[:, 1]
        if bool(((lat.abs() <= 90) & (lon.abs() <= 180)).all()):
            return
    validate_latlon(latlon.detach().cpu().numpy())
    raise ValueError(f"latlon must be finite (N, 2) = (lat, lon) degrees, got shape {tuple(latlon.shape)}")


def canonical_longitude(latlon: torch.Tensor) -> torch.Tensor:
    """Move longitudes >= 180 down by 360° (so +180 becomes -180, the same meridian); others unchanged.

    Makes every encoding give bit-identical outputs on both sides of the dateline.
    """
    lat, lon = latlon[:, :1], latlon[:, 1:]
    return torch.cat([lat, torch.where(lon >= 180.0, lon - 360.0, lon)], dim=1)


def lat_lon_radians(latlon: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``(N, 2)`` (lat, lon) degrees into ``(N, 1)`` latitude and longitude in radians."""
    rad = latlon * DEG2RAD
    return rad[:, :1], rad[:, 1:]


def unit_vector(latlon: torch.Tensor) -> torch.Tensor:
    """``(N, 3)`` point on the unit sphere (x towards lon 0, z towards the north pole)."""
    lat, lon = lat_lon_radians(latlon)
    cos_lat = torch.cos(lat)
    return torch.cat([cos_lat * torch.cos(lon), cos_lat * torch.sin(lon), torch.sin(lat)], dim=1)


class PositionEncoding(nn.Module):
    """A parameter-free map ``(N, 2)`` (lat, lon) degrees → ``(N, dim)`` features.

    Subclasses set ``dim`` in ``__init__``, keep their constants as buffers, and return their
    constructor arguments from :meth:`params` (JSON values) so that the encoding can be rebuilt.
    ``preferred_activation`` lets an encoding pick the MLP's activation (SIREN for harmonics).
    """

    name: ClassVar[str] = ""
    dim: int
    preferred_activation: str | None = None

    def params(self) -> dict[str, Any]:
        return {}


class LocationEncoder(nn.Module):
    """``forward(latlon)``: ``(N, 2)`` float tensor of **(lat, lon) in degrees** → ``(N, out_dim)``.

    Inputs are validated (``ValueError`` naming the bad value) except while exporting to ONNX.
    The position encoding always runs in float32 (autocast off); only the MLP follows autocast.
    Dropout sits after every hidden activation, so two train-mode passes over the same
    locations differ (CSP's SimCSE positives).
    """

    def __init__(self, encoding: PositionEncoding, mlp_params: dict[str, Any]) -> None:
        super().__init__()
        self.encoding = encoding
        self.mlp_params = checked_mlp_params(**mlp_params)
        self.mlp = build_mlp(encoding.dim, **self.mlp_params)
        self.out_dim: int = self.mlp_params["out_dim"]
        self.name: str = encoding.name

    def forward(self, latlon: torch.Tensor) -> torch.Tensor:
        if not exporting():
            check_latlon(latlon)
        with torch.autocast(latlon.device.type, enabled=False):  # angles need float32, not bf16 matmuls
            features = self.encoding(canonical_longitude(latlon.float()))
        return self.mlp(features)

    def config(self) -> dict[str, Any]:
        """``{"name", "params"}``; ``build_location_encoder(c["name"], **c["params"])`` rebuilds it."""
        return {"name": self.name, "params": {**self.encoding.params(), **self.mlp_params}}
