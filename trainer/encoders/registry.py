"""Name → class registries: position encodings (followed by one shared MLP) and whole encoders.

Each family module registers its classes; a name lives in one registry only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trainer.errors import TrainerError

if TYPE_CHECKING:
    from torch import nn

    from trainer.encoders.base import PositionEncoding

_ENCODINGS: dict[str, type[PositionEncoding]] = {}
#: Encoders with their own trainable layout (e.g. one MLP per branch), built with their params as is.
_WHOLE_ENCODERS: dict[str, type[nn.Module]] = {}


def _claim(name: str) -> None:
    if name in _ENCODINGS or name in _WHOLE_ENCODERS:
        raise RuntimeError(f"location encoding {name!r} registered twice")


def register(name: str):
    """Class decorator: make a :class:`PositionEncoding` buildable as ``name``."""

    def decorate(cls: type[PositionEncoding]) -> type[PositionEncoding]:
        _claim(name)
        cls.name = name
        _ENCODINGS[name] = cls
        return cls

    return decorate


def register_whole(name: str):
    """Class decorator: a complete location encoder (``forward(latlon)``, ``out_dim``, ``config()``)."""

    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        _claim(name)
        cls.name = name
        _WHOLE_ENCODERS[name] = cls
        return cls

    return decorate


def whole_encoder_class(name: str) -> type[nn.Module] | None:
    """The complete-encoder class registered as ``name``, or ``None``."""
    return _WHOLE_ENCODERS.get(name)


def encoding_class(name: str) -> type[PositionEncoding]:
    """The registered class for ``name``; :class:`TrainerError` listing the known names otherwise."""
    try:
        return _ENCODINGS[name]
    except KeyError:
        raise TrainerError(
            f"unknown location encoder {name!r}; available: {', '.join(registered_names())}"
        ) from None


def registered_names() -> list[str]:
    return [*_ENCODINGS, *_WHOLE_ENCODERS]
