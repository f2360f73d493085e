"""Which layer band feeds which model band: defaults by name, parsing and validation."""

from __future__ import annotations

import re

from ..contract.bands import aliases
from ..contract.errors import CspError


class BandMappingError(CspError):
    """The band mapping does not fit the layer or the model."""


def parse_bands(text: str) -> list[int]:
    """``"4,3,2"`` → ``[4, 3, 2]`` (1-based layer band numbers)."""
    parts = [p for p in re.split(r"[,\s;]+", text.strip()) if p]
    try:
        return [int(p) for p in parts]
    except ValueError as exc:
        raise BandMappingError(f"band mapping {text!r} must be comma-separated band numbers, e.g. 1,2,3") from exc


def validate_bands(bands: list[int], model_bands: list[str], layer_band_count: int) -> list[int]:
    """Return ``bands`` or raise a message naming what does not fit."""
    if len(bands) != len(model_bands):
        raise BandMappingError(
            f"the model needs {len(model_bands)} bands ({', '.join(model_bands)}) but the mapping "
            f"lists {len(bands)}; give one layer band number per model band")
    bad = [b for b in bands if not 1 <= b <= layer_band_count]
    if bad:
        raise BandMappingError(f"band(s) {', '.join(map(str, bad))} do not exist: the layer has "
                               f"{layer_band_count} band(s)")
    return list(bands)


def _normalise(token: str) -> str:
    """``b1`` → ``b01`` so Sentinel-2 names match whatever the zero padding."""
    return re.sub(r"^b(\d)$", r"b0\1", token)


def _match_by_name(model_bands: list[str], layer_labels: list[str]) -> list[int] | None:
    """1-based layer bands whose labels name each model band (or an alias: ``red`` = ``B04``)
    exactly once, else ``None``."""
    tokens = [{_normalise(t) for t in re.findall(r"[a-z0-9]+", label.lower())} for label in layer_labels]
    by_name = []
    for name in model_bands:
        names = {_normalise(alias.lower()) for alias in aliases(name)}
        hits = [i + 1 for i, t in enumerate(tokens) if names & t]
        if len(hits) != 1:
            return None
        by_name.append(hits[0])
    return by_name if len(set(by_name)) == len(by_name) else None


def default_bands(model_bands: list[str], layer_labels: list[str]) -> list[int]:
    """Match model band names against layer band labels (descriptions, colour interpretation);
    fall back to the layer's band order when the counts agree (see :func:`positional_warning`)."""
    by_name = _match_by_name(model_bands, layer_labels)
    if by_name is not None:
        return by_name
    if len(layer_labels) == len(model_bands):
        return list(range(1, len(model_bands) + 1))
    raise BandMappingError(
        f"the model needs {len(model_bands)} bands ({', '.join(model_bands)}) and the layer has "
        f"{len(layer_labels)} whose names do not match: set the band mapping (e.g. "
        f"{','.join(str(i + 1) for i in range(min(len(model_bands), len(layer_labels))))})")


def positional_warning(model_bands: list[str], layer_labels: list[str]) -> str | None:
    """A warning when the default mapping is by position only (names did not match)."""
    if _match_by_name(model_bands, layer_labels) is not None or len(layer_labels) != len(model_bands):
        return None
    return (f"the layer's band names do not name the model bands, so they are used in layer order as "
            f"{', '.join(model_bands)}: check that order or set the band mapping")
