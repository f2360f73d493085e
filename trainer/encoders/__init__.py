"""Location encoders: ``build_location_encoder(name, **params)`` → :class:`LocationEncoder`.

Every encoder maps a float tensor ``(N, 2)`` of **(lat, lon) in degrees** to ``(N, out_dim)``:
a fixed position encoding (see :func:`available_encoders`) followed by an MLP with the params
``hidden_dim``, ``num_hidden_layers``, ``out_dim``, ``dropout`` and ``activation``
(relu, leaky_relu, gelu, tanh, sin = SIREN). The other params belong to the encoding
(``frequency_num``, ``min_radius``, ``max_radius`` in degrees for the multi-scale ones).
Whole encoders with their own layout (``geoclip``: one MLP per branch) take all their params as is.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from trainer.encoders import geoclip, harmonics, kernels, nerf, simple, space2vec, sphere  # noqa: F401  (register)
from trainer.encoders.base import LocationEncoder, PositionEncoding
from trainer.encoders.mlp import MLP_DEFAULTS
from trainer.encoders.registry import encoding_class, registered_names, whole_encoder_class
from trainer.errors import TrainerError

__all__ = ["LocationEncoder", "PositionEncoding", "available_encoders", "build_location_encoder"]


def available_encoders() -> list[str]:
    """Names accepted by :func:`build_location_encoder`, in registration order."""
    return registered_names()


def _check_params(name: str, cls: type, params: dict[str, Any], extra: set[str]) -> None:
    """:class:`TrainerError` naming the params that neither ``cls.__init__`` nor ``extra`` accept."""
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise TrainerError(
            f"location encoder {name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"it takes {', '.join(sorted(accepted | extra))}"
        )


def build_location_encoder(name: str, **params: Any) -> nn.Module:
    """Build encoder ``name``; ``params`` mix MLP params and the encoding's own (see module doc).

    The result is a :class:`LocationEncoder`, or a whole encoder with the same interface
    (``forward(latlon)``, ``out_dim``, ``name``, ``config()``).

    Unknown names or params raise :class:`TrainerError` naming them; the result's
    ``config()`` holds every param (defaults filled in) so that it rebuilds the same model.
    """
    whole = whole_encoder_class(name)
    if whole is not None:
        _check_params(name, whole, params, set())
        return whole(**params)
    cls = encoding_class(name)
    explicit_activation = params.get("activation")
    mlp_params = {key: params.pop(key, default) for key, default in MLP_DEFAULTS.items()}
    _check_params(name, cls, params, set(MLP_DEFAULTS))
    encoding = cls(**params)
    preferred = encoding.preferred_activation
    if preferred is not None:
        if explicit_activation not in (None, preferred):
            raise TrainerError(f"location encoder {name!r} with these params uses activation {preferred!r}, "
                               f"not {explicit_activation!r}")
        mlp_params["activation"] = preferred
    return LocationEncoder(encoding, mlp_params)
