"""Band names of exported models and their aliases (``red`` is Sentinel-2 ``B04``).

Models name their input bands (``ModelMetadata.bands``); the trainer selects bands of a product by
these names and the plugin matches them against a layer's band labels, both through :func:`aliases`.
"""

from __future__ import annotations

#: Canonical Sentinel-2 order used by the 13-band models.
S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
#: RGB models use these names; for Sentinel-2 they are B04, B03, B02.
RGB_BANDS = ("red", "green", "blue")
#: Colour names → Sentinel-2 band names.
ALIASES = {"red": "B04", "green": "B03", "blue": "B02", "nir": "B08"}


def aliases(name: str) -> tuple[str, ...]:
    """``name`` first, then the other names of the same band (``red`` ↔ ``B04``)."""
    others = [ALIASES[name]] if name in ALIASES else []
    others += [alias for alias, band in ALIASES.items() if band == name]
    return (name, *others)
