"""Band names and by-name band selection (band orders differ between products)."""

from __future__ import annotations

from trainer.errors import TrainerError

#: EuroSAT MS GeoTIFF order (B8A last).
EUROSAT_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A")
#: SSL4EO-S12 L2A order (no B10).
SSL4EO_L2A_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
#: Canonical Sentinel-2 order used by our 13-band models.
S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
#: RGB models use these names; for Sentinel-2 they are B04, B03, B02.
RGB_BANDS = ("red", "green", "blue")
ALIASES = {"red": "B04", "green": "B03", "blue": "B02", "nir": "B08"}


def band_indices(available: tuple[str, ...] | list[str], wanted: tuple[str, ...] | list[str]) -> list[int]:
    """Positions of ``wanted`` bands in ``available`` (aliases such as ``red`` resolved)."""
    lookup = {name: i for i, name in enumerate(available)}
    indices = []
    for name in wanted:
        key = name if name in lookup else ALIASES.get(name, name)
        if key not in lookup:
            raise TrainerError(f"band {name!r} is not in this product's bands {list(available)}")
        indices.append(lookup[key])
    return indices

