"""Name → position-encoding class registry (each family module registers its encodings)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trainer.errors import TrainerError

if TYPE_CHECKING:
    from trainer.encoders.base import PositionEncoding

_ENCODINGS: dict[str, type[PositionEncoding]] = {}


def register(name: str):
    """Class decorator: make a :class:`PositionEncoding` buildable as ``name``."""

    def decorate(cls: type[PositionEncoding]) -> type[PositionEncoding]:
        if name in _ENCODINGS:
            raise RuntimeError(f"location encoding {name!r} registered twice")
        cls.name = name
        _ENCODINGS[name] = cls
        return cls

    return decorate


def encoding_class(name: str) -> type[PositionEncoding]:
    """The registered class for ``name``; :class:`TrainerError` listing the known names otherwise."""
    try:
        return _ENCODINGS[name]
    except KeyError:
        raise TrainerError(
            f"unknown location encoder {name!r}; available: {', '.join(registered_names())}"
        ) from None


def registered_names() -> list[str]:
    return list(_ENCODINGS)
