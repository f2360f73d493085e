"""The trainable part of a location encoder: a fully connected net (optionally a SIREN)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from trainer.errors import TrainerError

# CSP's iNat2018 settings (see docs): 1 hidden layer of 512, embedding 256, dropout 0.5, LeakyReLU.
MLP_DEFAULTS = {"hidden_dim": 512, "num_hidden_layers": 1, "out_dim": 256, "dropout": 0.5,
                "activation": "leaky_relu"}
ACTIVATIONS = ("relu", "leaky_relu", "gelu", "tanh", "sin")
SIREN_FIRST_W0 = 30.0  # Sitzmann et al. 2020: sin(30·(Wx+b)) in the first layer, sin(Wx+b) after


class Sine(nn.Module):
    """SIREN activation ``sin(w0 · x)``."""

    def __init__(self, w0: float = 1.0) -> None:
        super().__init__()
        self.w0 = w0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.w0 * x)


def _activation(name: str, first: bool) -> nn.Module:
    if name == "sin":
        return Sine(SIREN_FIRST_W0 if first else 1.0)
    return {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU, "tanh": nn.Tanh}[name]()


def _siren_init(layer: nn.Linear, first: bool) -> None:
    """SIREN initialisation: U(±1/n) in the first layer, U(±sqrt(6/n)) after (w0 = 1 there)."""
    fan_in = layer.in_features
    bound = 1.0 / fan_in if first else math.sqrt(6.0 / fan_in)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound)
        layer.bias.uniform_(-bound, bound)


def checked_mlp_params(hidden_dim: int, num_hidden_layers: int, out_dim: int, dropout: float,
                       activation: str) -> dict[str, Any]:
    """The MLP params validated (:class:`TrainerError` naming the bad one) as plain JSON values."""
    if activation not in ACTIVATIONS:
        raise TrainerError(f"activation {activation!r} is not one of {', '.join(ACTIVATIONS)}")
    for key, value in (("hidden_dim", hidden_dim), ("out_dim", out_dim)):
        if int(value) != value or value < 1:
            raise TrainerError(f"{key} must be a positive integer, got {value!r}")
    if int(num_hidden_layers) != num_hidden_layers or num_hidden_layers < 0:
        raise TrainerError(f"num_hidden_layers must be an integer >= 0, got {num_hidden_layers!r}")
    if not 0.0 <= dropout < 1.0:
        raise TrainerError(f"dropout must be in [0, 1), got {dropout!r}")
    return {"hidden_dim": int(hidden_dim), "num_hidden_layers": int(num_hidden_layers), "out_dim": int(out_dim),
            "dropout": float(dropout), "activation": str(activation)}


def build_mlp(in_dim: int, hidden_dim: int, num_hidden_layers: int, out_dim: int, dropout: float,
              activation: str) -> nn.Sequential:
    """``num_hidden_layers`` × (Linear → activation → Dropout), then a linear output layer."""
    layers: list[nn.Module] = []
    width = in_dim
    for index in range(num_hidden_layers):
        linear = nn.Linear(width, hidden_dim)
        if activation == "sin":
            _siren_init(linear, first=index == 0)
        layers += [linear, _activation(activation, first=index == 0), nn.Dropout(dropout)]
        width = hidden_dim
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)
